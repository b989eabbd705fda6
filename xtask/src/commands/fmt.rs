//! `cargo xtask fmt [--fix]`: rustfmt over the whole workspace.

use xshell::cmd;

use crate::ctx::Ctx;
use crate::output;
use crate::plan::{Plan, Step};
use crate::project;

/// Arguments of `fmt`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct FmtArgs {
    /// Rewrite files instead of checking them.
    #[arg(long)]
    pub fix: bool,
}

/// `cargo fmt --all -- --check`, or without `--check` when fixing. rustfmt colours its diff
/// even into a pipe, so colour is chosen explicitly.
pub fn plan(ctx: &Ctx, args: &FmtArgs) -> Plan {
    let sh = &ctx.sh;
    let color = if ctx.color { "always" } else { "never" };
    let check = (!args.fix)
        .then_some(["--", "--check", "--color", color])
        .into_iter()
        .flatten();
    let mut plan = Plan::default();
    plan.push(
        Step::exec("fmt", cmd!(sh, "cargo fmt --all {check...}").into())
            .parsed_by(|| output::rustfmt::parser(project::root().to_path_buf())),
    );
    plan
}
