//! `cargo xtask ci fast` (the pre-push check) and `cargo xtask ci all` (what CI runs).

use std::path::PathBuf;

use super::e2e::{self, Selection};
use super::fmt::FmtArgs;
use super::unit::UnitArgs;
use super::{clippy, fmt, lint_ci, lint_deploy, unit};
use crate::capability::Host;
use crate::ctx::Ctx;
use crate::incremental::{self, Mode, Recorder};
use crate::level::Level;
use crate::plan::Plan;
use crate::project;
use crate::result_cache::Store;
use crate::suites;

/// `ci` subcommands.
#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
pub enum CiCommand {
    /// The fast tier: format check, workflow lint, manifest validation, clippy, unit tests
    /// and doctests. Minutes, any machine. Incremental: only what the changes since each
    /// step's last green run in this checkout can affect runs (uncommitted and untracked
    /// files count); a step nothing changed for reports `ok (cached, 3 min ago)`. Under
    /// CI=true, with --no-cache or --archive-file, everything runs. With --archive-file the
    /// unit tests run from that archive and doctests are left to `build --archive F
    /// --doctests`, so only clippy compiles.
    #[command(
        after_help = "What a change reruns: clippy, on any change to a package; fmt, for the packages whose Rust files changed; unit tests and doctests, for the changed packages and every package depending on them (dev-dependencies too); the workflow and manifest linters, when their files changed. A change to the toolchain, a build variable (RUSTFLAGS, CARGO_*, RUST*, ...), a step's command line, or a file outside every package (Cargo.lock, Cargo.toml, .cargo/, .config/, .github/; README.md is inert) reruns every step whole. `--plan` says per step what runs and why. Records: target/xtask/results/<checkout>/.\n\nExamples:\n  cargo xtask ci fast\n  cargo xtask --plan ci fast      # what would run, and why\n  cargo xtask ci fast --since origin/main\n  cargo xtask ci fast --no-cache  # everything\n  cargo xtask ci fast -q          # results, digest and table only\n  cargo xtask --container ci fast"
    )]
    Fast(CiFastArgs),
    /// The whole test suite, as CI runs it: the fast tier, then every e2e suite at the level
    /// (cheap-short by default) under --strict.
    #[command(
        after_help = "Examples:\n  cargo xtask ci all\n  cargo xtask ci all --level full-short --plan\n  cargo xtask ci all --junit target/xtask/junit.xml"
    )]
    All(CiAllArgs),
    /// For CI workflows: the level, suites and runner for an event (JSON on stdout, and
    /// $GITHUB_OUTPUT entries under GitHub Actions).
    #[command(
        after_help = "Examples:\n  cargo xtask ci plan --event pull_request --ref refs/pull/7/merge\n  cargo xtask ci plan --event push --ref main\n  cargo xtask ci plan --event workflow_dispatch --ref main --level full-short"
    )]
    Plan(super::ci_plan::CiPlanArgs),
    /// For CI workflows: merge every job's JUnit file into one summary
    /// ($GITHUB_STEP_SUMMARY) and fail if a needed job failed or was cancelled.
    #[command(
        after_help = "Examples:\n  cargo xtask ci summary --junit-dir junit --job fast=success --job e2e=failure\n  cargo xtask ci summary --junit-dir target/xtask --job build=success"
    )]
    Summary(super::ci_summary::CiSummaryArgs),
}

/// Arguments of `ci fast`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct CiFastArgs {
    /// Run the unit tests from this archive (`cargo xtask build --archive F`) instead of
    /// compiling them; doctests are not in an archive and do not run here.
    #[arg(long, value_name = "FILE")]
    pub archive_file: Option<PathBuf>,
    /// Run every step, whatever earlier runs recorded (green results are still recorded
    /// for the next run).
    #[arg(long, visible_alias = "all")]
    pub no_cache: bool,
    /// Select by the files changed since the merge-base of HEAD with REV (committed,
    /// uncommitted and untracked), instead of since each step's last green run; steps
    /// nothing of that touches are skipped.
    #[arg(long, value_name = "REV", conflicts_with = "no_cache")]
    pub since: Option<String>,
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
pub fn fast_plan(ctx: &Ctx, args: &CiFastArgs) -> anyhow::Result<Plan> {
    // The static checks do not contend (rustfmt, Python linters, one cargo build), so they
    // run at once; then the tests (their own plan runs unit tests and doctests at once).
    let mut checks = fmt::plan(ctx, &FmtArgs::default());
    checks.extend(lint_ci::plan(ctx));
    checks.extend(lint_deploy::plan(ctx));
    checks.extend(clippy::plan(ctx));
    let mut plan = checks.concurrently("checks");
    let unit = UnitArgs {
        archive_file: args.archive_file.clone(),
        ..UnitArgs::default()
    };
    plan.extend(unit::plan(ctx, &unit)?);
    Ok(plan)
}

/// `ci fast` as it runs: [`fast_plan`] cut down to what changed (see
/// [`crate::incremental`]), and what to record after the run.
pub fn fast_incremental(ctx: &Ctx, args: &CiFastArgs) -> anyhow::Result<(Plan, Recorder)> {
    let full = fast_plan(ctx, args)?;
    let root = project::root();
    let store = Store::for_checkout(&project::xtask_dir(), root);
    let mode = if ctx.ci {
        Mode::Everything {
            why: "CI=true (CI takes nothing from earlier runs)".to_string(),
            record: false,
        }
    } else if args.archive_file.is_some() {
        Mode::Everything {
            why: "--archive-file (tests from an archive are not cached)".to_string(),
            record: false,
        }
    } else if args.no_cache {
        Mode::Everything {
            why: "--no-cache".to_string(),
            record: true,
        }
    } else if let Some(rev) = &args.since {
        Mode::Since(rev.clone())
    } else {
        Mode::Cached
    };
    let narrow = |name: &str, packages: &[String]| narrowed_step(ctx, name, packages);
    Ok(incremental::select_plan(
        &narrow,
        root,
        store,
        full,
        mode,
        &incremental::BuildEnv::detect(),
    ))
}

/// `ci fast`'s step `name` for `packages` only (fmt, unit tests, doctests); `None` for the
/// steps that always cover the whole workspace.
pub fn narrowed_step(ctx: &Ctx, name: &str, packages: &[String]) -> Option<crate::plan::Step> {
    let args = UnitArgs::default();
    match name {
        "fmt" => Some(fmt::check_packages(ctx, packages)),
        "unit" => unit::unit_step(ctx, &args, packages).ok(),
        "doctests" => unit::doctest_step(ctx, &args, packages),
        _ => None,
    }
}

/// The fast tier followed by every e2e suite at `level`, strict.
pub fn all_plan(ctx: &Ctx, host: &Host, args: &CiAllArgs) -> anyhow::Result<Plan> {
    let mut plan = fast_plan(ctx, &CiFastArgs::default())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan's rendered lines that run a program.
    fn commands(plan: &Plan) -> Vec<String> {
        plan.render()
            .lines()
            .filter(|l| l.contains("cargo ") || l.contains("actionlint") || l.contains("zizmor"))
            .map(|l| l.trim().to_string())
            .collect()
    }

    #[test]
    fn fast_from_an_archive_compiles_only_clippy() {
        let ctx = Ctx::for_tests(true);
        let args = CiFastArgs {
            archive_file: Some("target/xtask/tests.tar.zst".into()),
            ..CiFastArgs::default()
        };
        let lines = commands(&fast_plan(&ctx, &args).expect("a plan"));
        let compiling: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("cargo ") && !l.contains("cargo fmt"))
            .filter(|l| !l.contains("--archive-file"))
            .collect();
        assert_eq!(compiling.len(), 1, "{lines:#?}");
        assert!(compiling[0].contains("cargo clippy"), "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("--archive-file target/xtask/tests.tar.zst")),
            "{lines:#?}"
        );
        assert!(!lines.iter().any(|l| l.contains("--doc")), "{lines:#?}");
    }

    /// Whether no step of `plan` is taken from the cache.
    fn runs_everything(plan: &Plan) -> bool {
        plan.steps
            .iter()
            .all(|s| !matches!(s.action, crate::plan::Action::Cached { .. }))
    }

    #[test]
    fn under_ci_everything_runs_and_the_plan_says_why() {
        let ctx = Ctx {
            ci: true,
            ..Ctx::for_tests(true)
        };
        let (plan, _) = fast_incremental(&ctx, &CiFastArgs::default()).expect("a plan");
        assert!(runs_everything(&plan));
        assert!(
            plan.notes.contains("ci fast runs everything: CI=true"),
            "{}",
            plan.notes
        );
    }

    #[test]
    fn no_cache_and_an_archive_run_everything() {
        let ctx = Ctx::for_tests(true);
        let no_cache = CiFastArgs {
            no_cache: true,
            ..CiFastArgs::default()
        };
        let (plan, _) = fast_incremental(&ctx, &no_cache).expect("a plan");
        assert!(runs_everything(&plan));
        assert!(
            plan.notes.contains("runs everything: --no-cache"),
            "{}",
            plan.notes
        );
        let archive = CiFastArgs {
            archive_file: Some("t.tar.zst".into()),
            ..CiFastArgs::default()
        };
        let (plan, _) = fast_incremental(&ctx, &archive).expect("a plan");
        assert!(runs_everything(&plan));
        assert!(plan.notes.contains("--archive-file"), "{}", plan.notes);
    }

    #[test]
    fn fast_without_an_archive_runs_doctests_too() {
        let ctx = Ctx::for_tests(true);
        let lines = commands(&fast_plan(&ctx, &CiFastArgs::default()).expect("a plan"));
        assert!(lines.iter().any(|l| l.contains("--doc")), "{lines:#?}");
    }
}
