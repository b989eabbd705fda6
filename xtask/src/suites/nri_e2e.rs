//! `nri-e2e`: the resctrl NRI plugin against a real containerd with real containers.
//!
//! Steps: provision (runc, containerd, busybox; cached between runs), build the static
//! multi-threaded workload the scenarios add to their image (busybox cannot start
//! threads), the tests (the harness's smoke test and the plugin's scenarios, `#[ignore]`d
//! in unit runs), and a
//! cleanup that always runs, even after a failure or Ctrl-C: it removes whatever a crashed
//! run left (processes, mounts, cgroups under the suite's run directory) and fails if
//! anything remains.

use xshell::cmd;

use super::{Suite, SuiteCtx};
use crate::capability::Capability;
use crate::level::{Duration, Level};
use crate::plan::{Action, Exec, Step};
use crate::project;
use crate::provision::nri_e2e::{self, Layout};
use crate::test_run::TestRun;

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "nri-e2e",
    about: "Suite: the resctrl NRI plugin against a real containerd with real containers (needs \
            root; provisions runc, containerd and busybox itself).",
    min_level: Level::CheapShort,
    needs: &[Capability::Root, Capability::Cgroups],
    duration: Duration::Short,
    paths: &[],
    args: None,
    steps,
};

/// The packages holding the suite's tests.
const TEST_PACKAGES: [&str; 2] = ["containerd-harness", "nri-resctrl-plugin"];
/// The end-to-end tests: the harness's smoke test, then the plugin's scenarios.
const TESTS: &str = "(package(containerd-harness) & binary(smoke)) | (package(nri-resctrl-plugin) & binary(nri_e2e))";
/// The multi-threaded workload's source, relative to the workspace root.
const THREADS_SOURCE: &str = "crates/containerd-harness/workloads/threads.rs";
/// Where the scenarios find the built workload.
const ENV_THREADS: &str = "NRI_E2E_THREADS";

/// The harness's leftover cleanup, run as the final step.
const CLEANUP: &str = "package(containerd-harness) & binary(cleanup)";

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let layout = Layout::new();
    let provision_layout = layout.clone();
    let provision = Step::task(
        "nri-e2e: provision",
        format!(
            "runc, containerd >= 1.7 and busybox-static (fetched from Debian into {})",
            crate::provision::cache_dir().display()
        ),
        move |io| nri_e2e::provision(io, &provision_layout),
    );
    let sh = &ctx.ctx.sh;
    let (source, binary) = (
        project::root().join(THREADS_SOURCE),
        layout.threads_workload(),
    );
    // Static: the image has no libraries. Plain rustc: one file, no crate to resolve.
    let build = Step::exec(
        "nri-e2e: threads",
        Exec::from(cmd!(
            sh,
            "rustc --edition 2024 -O -C target-feature=+crt-static -C strip=symbols -o {binary} {source}"
        ))
        .creating_dir(binary.parent().unwrap_or(&binary)),
    );
    let mut tests = with_assets(
        TestRun {
            packages: TEST_PACKAGES.iter().map(|p| p.to_string()).collect(),
            filter: Some(TESTS.into()),
            ignored_only: true,
            archive: ctx.archive.clone(),
            ..TestRun::default()
        }
        .step(ctx.ctx, "nri-e2e: tests")?,
        &layout,
    );
    if let Action::Exec(exec) = &mut tests.action {
        *exec = exec.clone().env(ENV_THREADS, &binary);
    }
    let cleanup = with_assets(
        TestRun {
            // The same packages as the tests step: cargo then resolves the same features
            // and reuses that build instead of compiling the harness again.
            packages: TEST_PACKAGES.iter().map(|p| p.to_string()).collect(),
            filter: Some(CLEANUP.into()),
            ignored_only: true,
            archive: ctx.archive.clone(),
            ..TestRun::default()
        }
        .step(ctx.ctx, "nri-e2e: cleanup")?,
        &layout,
    )
    .always();
    Ok(vec![provision, build, tests, cleanup])
}

/// Adds the provisioned assets' environment to a test step.
pub(super) fn with_assets(mut step: Step, layout: &Layout) -> Step {
    if let Action::Exec(exec) = &mut step.action {
        for (key, value) in layout.env() {
            *exec = exec.clone().env(key, value);
        }
    }
    step
}
