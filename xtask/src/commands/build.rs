//! `cargo xtask build --archive F`: compile every test binary once into a nextest archive,
//! so later runs (`unit --archive-file F`, suites) compile nothing.

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
    Ok(plan)
}
