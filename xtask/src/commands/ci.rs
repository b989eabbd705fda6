//! `cargo xtask ci fast` (the pre-push check) and `cargo xtask ci all` (what CI runs).

use super::e2e::{self, Selection};
use super::fmt::FmtArgs;
use super::unit::UnitArgs;
use super::{clippy, fmt, lint_ci, lint_deploy, unit};
use crate::capability::Host;
use crate::ctx::Ctx;
use crate::level::Level;
use crate::plan::Plan;
use crate::suites;

/// `ci` subcommands.
#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
pub enum CiCommand {
    /// The fast tier: format check, workflow lint, manifest validation, clippy, unit tests
    /// and doctests. Minutes, any machine.
    Fast,
    /// The whole test suite, as CI runs it: the fast tier, then every e2e suite at the level
    /// (cheap-short by default) under --strict.
    All(CiAllArgs),
    /// For CI workflows: the level, suites and runner for an event (JSON on stdout, and
    /// $GITHUB_OUTPUT entries under GitHub Actions).
    Plan(super::ci_plan::CiPlanArgs),
}

/// Arguments of `ci all`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct CiAllArgs {
    /// Run e2e suites at or below this level.
    #[arg(long, value_enum, default_value_t = Level::CheapShort)]
    pub level: Level,
}

/// fmt check, workflow lint and clippy at once, then unit tests and doctests at once. The
/// cargo steps share the build directory lock, so their builds still take turns; what
/// overlaps is everything else (measured: see the README's performance section).
pub fn fast_plan(ctx: &Ctx) -> anyhow::Result<Plan> {
    // The static checks do not contend (rustfmt, Python linters, one cargo build), so they
    // run at once; then the tests (their own plan runs unit tests and doctests at once).
    let mut checks = fmt::plan(ctx, &FmtArgs::default());
    checks.extend(lint_ci::plan(ctx));
    checks.extend(lint_deploy::plan(ctx));
    checks.extend(clippy::plan(ctx));
    let mut plan = checks.concurrently("checks");
    plan.extend(unit::plan(ctx, &UnitArgs::default())?);
    Ok(plan)
}

/// The fast tier followed by every e2e suite at `level`, strict.
pub fn all_plan(ctx: &Ctx, host: &Host, args: &CiAllArgs) -> anyhow::Result<Plan> {
    let mut plan = fast_plan(ctx)?;
    let selection = Selection {
        suites: suites::registry().iter().collect(),
        level: args.level,
        strict: true,
        archive: None,
        matches: None,
    };
    plan.extend(e2e::plan(ctx, host, &selection)?);
    Ok(plan)
}
