//! `cargo xtask ci fast` (the pre-push check) and `cargo xtask ci all` (what CI runs).

use xshell::Shell;

use super::e2e::{self, Selection};
use super::fmt::FmtArgs;
use super::unit::UnitArgs;
use super::{clippy, fmt, unit};
use crate::capability::Host;
use crate::level::Level;
use crate::plan::Plan;
use crate::suites;

/// `ci` subcommands.
#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
pub enum CiCommand {
    /// The fast tier: format check, clippy, unit tests. Minutes, any machine.
    Fast,
    /// The whole test suite, as CI runs it: the fast tier, then every e2e suite at the level
    /// (cheap-short by default) under --strict.
    All(CiAllArgs),
}

/// Arguments of `ci all`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct CiAllArgs {
    /// Run e2e suites at or below this level.
    #[arg(long, value_enum, default_value_t = Level::CheapShort)]
    pub level: Level,
}

/// fmt check, clippy, unit tests, in that order: each compiles with different flags and
/// they share the build directory lock, so running them at once would not finish sooner on
/// a small machine.
pub fn fast_plan(sh: &Shell, nextest: bool) -> anyhow::Result<Plan> {
    let mut plan = fmt::plan(sh, &FmtArgs::default());
    plan.extend(clippy::plan(sh));
    plan.extend(unit::plan(sh, &UnitArgs::default(), nextest)?);
    Ok(plan)
}

/// The fast tier followed by every e2e suite at `level`, strict.
pub fn all_plan(sh: &Shell, host: &Host, args: &CiAllArgs, nextest: bool) -> anyhow::Result<Plan> {
    let mut plan = fast_plan(sh, nextest)?;
    let selection = Selection {
        suites: suites::registry().iter().collect(),
        level: args.level,
        strict: true,
        archive: None,
    };
    plan.extend(e2e::plan(sh, host, &selection, nextest)?);
    Ok(plan)
}
