//! `cargo xtask clippy`: every lint of every target and feature of the workspace, as errors.
//! Diagnostics come as JSON messages (shown in their human form), so each one can point at
//! its file and line in the digest and in GitHub annotations.

use xshell::cmd;

use crate::ctx::Ctx;
use crate::output;
use crate::plan::{Plan, Step};
use crate::project;

/// `cargo clippy` over the whole workspace with warnings denied.
pub fn plan(ctx: &Ctx) -> Plan {
    let sh = &ctx.sh;
    let mut plan = Plan::default();
    let color = ctx.color;
    plan.push(
        Step::exec(
            "clippy",
            cmd!(
                sh,
                "cargo clippy --locked --workspace --all-targets --all-features --message-format=json-diagnostic-rendered-ansi -- -D warnings"
            )
            .into(),
        )
        .parsed_by(move || {
            output::cargo::messages(
                "clippy",
                "cargo xtask clippy",
                project::root().to_path_buf(),
                color,
            )
        }),
    );
    plan
}
