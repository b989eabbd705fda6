//! `nri-init-e2e`: the `nri-init` binary enabling NRI in real containerd 1.7 and 2.1.
//!
//! Steps: provision (containerd 1.7 from Debian trixie and 2.x from sid, cached between
//! runs), build the `nri-resctrl-plugin` binary the tests register, the tests
//! (`crates/nri-init/tests/e2e.rs`, `#[ignore]`d in unit runs), and a cleanup that always
//! runs, even after a failure or Ctrl-C: it stops whatever a crashed run left under the
//! suite's run directory, removes it, and fails if anything remains.

use super::{Suite, SuiteCtx};
use crate::capability::Capability;
use crate::level::{Duration, Level};
use crate::plan::{Action, Exec, Step};
use crate::provision::nri_init_e2e::{self, Layout};
use crate::test_run::TestRun;

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "nri-init-e2e",
    about: "Suite: nri-init enabling NRI in real containerd 1.7 and 2.1, restarting it, and \
            the plugin registering (needs root; provisions both containerd releases itself).",
    min_level: Level::CheapShort,
    needs: &[Capability::Root],
    duration: Duration::Short,
    paths: &[],
    args: None,
    steps,
};

/// The suite's tests: nri-init's e2e binary.
const TESTS: &str = "package(nri-init) & binary(e2e)";

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let layout = Layout::new();
    let provision_layout = layout.clone();
    let provision = Step::task(
        "nri-init-e2e: provision",
        format!(
            "containerd 1.7 (Debian trixie) and 2.x (Debian sid), fetched into {}",
            crate::provision::cache_dir().display()
        ),
        move |io| nri_init_e2e::provision(io, &provision_layout),
    );
    let sh = &ctx.ctx.sh;
    let plugin = Step::exec(
        "nri-init-e2e: build the plugin",
        Exec::from(xshell::cmd!(
            sh,
            "cargo build --locked -p nri-resctrl-plugin --bin nri-resctrl-plugin"
        )),
    );
    let mut tests = TestRun {
        packages: vec!["nri-init".into()],
        filter: Some(TESTS.into()),
        ignored_only: true,
        archive: ctx.archive.clone(),
        ..TestRun::default()
    }
    .step(ctx.ctx, "nri-init-e2e: tests")?;
    if let Action::Exec(exec) = &mut tests.action {
        for (key, value) in layout.env() {
            *exec = exec.clone().env(key, value);
        }
    }
    let cleanup_layout = layout;
    let cleanup = Step::task(
        "nri-init-e2e: cleanup",
        "stop and remove what crashed runs left under the run directory",
        move |io| nri_init_e2e::cleanup(io, &cleanup_layout),
    )
    .always();
    Ok(vec![provision, plugin, tests, cleanup])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Ctx;

    #[test]
    fn the_tests_get_both_containerds_and_the_cleanup_always_runs() {
        let ctx = Ctx::for_tests(true);
        let steps = steps(&SuiteCtx {
            ctx: &ctx,
            archive: None,
            matches: None,
            fast_tier: |_| Ok(crate::plan::Plan::default()),
        })
        .expect("steps");
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nri-init-e2e: provision",
                "nri-init-e2e: build the plugin",
                "nri-init-e2e: tests",
                "nri-init-e2e: cleanup"
            ]
        );
        let Action::Exec(exec) = &steps[2].action else {
            panic!("the tests step runs nextest");
        };
        let env: Vec<String> = exec
            .env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for name in [
            "NRI_INIT_E2E_CONTAINERD_17",
            "NRI_INIT_E2E_CONTAINERD_21",
            "NRI_INIT_E2E_PLUGIN",
            "NRI_INIT_E2E_RUN_DIR",
        ] {
            assert!(env.iter().any(|k| k == name), "{name} missing from {env:?}");
        }
        assert!(steps[3].always, "cleanup runs after failures too");
        assert!(!steps[2].always);
    }
}
