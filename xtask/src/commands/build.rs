//! `cargo xtask build --archive F [--doctests]`: compile every test binary once into a
//! nextest archive, so later runs (`unit --archive-file F`, suites) compile nothing; with
//! `--doctests`, also run the doctests, which no archive can hold, here where the libraries
//! they link are already compiled.

use std::path::PathBuf;

use anyhow::bail;
use xshell::cmd;

use crate::ctx::Ctx;

use crate::plan::{Exec, Plan, Step};
use crate::test_run::NEXTEST_INSTALL;

/// Arguments of `build`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct BuildArgs {
    /// Write the test archive here (`.tar.zst`), e.g. `target/xtask/tests.tar.zst`.
    #[arg(long, value_name = "FILE")]
    pub archive: PathBuf,
    /// Then run the doctests (they compile against the libraries just built; an archive
    /// cannot hold them, so `ci fast --archive-file` leaves them to this).
    #[arg(long)]
    pub doctests: bool,
}

/// One step: `cargo nextest archive` of the whole workspace with all features, the same
/// build `unit` would run.
pub fn plan(ctx: &Ctx, args: &BuildArgs) -> anyhow::Result<Plan> {
    let sh = &ctx.sh;
    if !ctx.nextest {
        bail!(
            "building a test archive needs cargo-nextest, which is not installed; install it with `{NEXTEST_INSTALL}`"
        );
    }
    if !args.archive.to_string_lossy().ends_with(".tar.zst") {
        bail!(
            "archive `{}` must end in .tar.zst (the only format nextest writes)",
            args.archive.display()
        );
    }
    let archive = &args.archive;
    let exec = Exec::from(cmd!(
        sh,
        "cargo nextest archive --locked --workspace --all-features --archive-file {archive}"
    ));
    // nextest does not create the archive's directory.
    let exec = match sh.current_dir().join(archive).parent() {
        Some(dir) => exec.creating_dir(dir),
        None => exec,
    };
    let mut plan = Plan::default();
    plan.push(Step::exec("build archive", exec));
    if args.doctests
        && let Some(step) = super::unit::doctest_step(ctx, &super::unit::UnitArgs::default(), &[])
    {
        plan.push(step);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(doctests: bool) -> BuildArgs {
        BuildArgs {
            archive: "target/xtask/tests.tar.zst".into(),
            doctests,
        }
    }

    #[test]
    fn doctests_run_after_the_archive_only_when_asked() {
        let ctx = Ctx::for_tests(true);
        let names =
            |plan: Plan| -> Vec<String> { plan.steps.iter().map(|s| s.name.clone()).collect() };
        assert_eq!(
            names(plan(&ctx, &args(false)).expect("a plan")),
            ["build archive"]
        );
        assert_eq!(
            names(plan(&ctx, &args(true)).expect("a plan")),
            ["build archive", "doctests"]
        );
    }

    #[test]
    fn an_archive_needs_nextest_and_a_tar_zst_name() {
        let err = plan(&Ctx::for_tests(false), &args(false))
            .err()
            .expect("no nextest");
        assert!(err.to_string().contains("needs cargo-nextest"), "{err}");
        let bad = BuildArgs {
            archive: "tests.tar".into(),
            doctests: false,
        };
        let err = plan(&Ctx::for_tests(true), &bad)
            .err()
            .expect("wrong suffix");
        assert!(err.to_string().contains("must end in .tar.zst"), "{err}");
    }
}
