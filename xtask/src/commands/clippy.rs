//! `cargo xtask clippy`: every lint of every target and feature of the workspace, as errors.

use xshell::cmd;

use crate::ctx::Ctx;

use crate::plan::{Plan, Step};

/// `cargo clippy` over the whole workspace with warnings denied.
pub fn plan(ctx: &Ctx) -> Plan {
    let sh = &ctx.sh;
    let mut plan = Plan::default();
    plan.push(Step::exec(
        "clippy",
        cmd!(
            sh,
            "cargo clippy --locked --workspace --all-targets --all-features -- -D warnings"
        )
        .into(),
    ));
    plan
}
