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
    let mut plan = Plan::default();
    plan.push(step(ctx, args.fix, &[]));
    plan
}

/// The check of `packages` only (`cargo fmt -p A -p B -- --check`), for `ci fast` after a
/// change to them.
pub fn check_packages(ctx: &Ctx, packages: &[String]) -> Step {
    step(ctx, false, packages)
}

/// `cargo fmt` over `packages`, or the whole workspace when there are none.
fn step(ctx: &Ctx, fix: bool, packages: &[String]) -> Step {
    let sh = &ctx.sh;
    let color = if ctx.color { "always" } else { "never" };
    let check = (!fix)
        .then_some(["--", "--check", "--color", color])
        .into_iter()
        .flatten();
    let scope: Vec<String> = if packages.is_empty() {
        vec!["--all".to_string()]
    } else {
        packages
            .iter()
            .flat_map(|p| ["-p".to_string(), p.clone()])
            .collect()
    };
    Step::exec("fmt", cmd!(sh, "cargo fmt {scope...} {check...}").into())
        .parsed_by(|| output::rustfmt::parser(project::root().to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_workspace_or_the_packages_given() {
        let ctx = Ctx::for_tests(true);
        let plan = plan(&ctx, &FmtArgs::default());
        assert_eq!(
            plan.steps[0].command_line(),
            "cargo fmt --all -- --check --color never"
        );
        let packages = ["nri".to_string(), "xtask".to_string()];
        assert_eq!(
            check_packages(&ctx, &packages).command_line(),
            "cargo fmt -p nri -p xtask -- --check --color never"
        );
        assert_eq!(
            super::plan(&ctx, &FmtArgs { fix: true }).steps[0].command_line(),
            "cargo fmt --all"
        );
    }
}
