//! `cargo xtask fmt [--fix]`: rustfmt over the whole workspace.

use xshell::{Shell, cmd};

use crate::plan::{Plan, Step};

/// Arguments of `fmt`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct FmtArgs {
    /// Rewrite files instead of checking them.
    #[arg(long)]
    pub fix: bool,
}

/// `cargo fmt --all -- --check`, or without `--check` when fixing.
pub fn plan(sh: &Shell, args: &FmtArgs) -> Plan {
    let check = (!args.fix)
        .then_some(["--", "--check"])
        .into_iter()
        .flatten();
    let mut plan = Plan::default();
    plan.push(Step::exec(
        "fmt",
        cmd!(sh, "cargo fmt --all {check...}").into(),
    ));
    plan
}
