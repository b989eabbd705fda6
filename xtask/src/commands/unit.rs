//! `cargo xtask unit`: the unit and mock-integration tests of the whole workspace.

use std::path::PathBuf;

use xshell::cmd;

use crate::ctx::Ctx;
use crate::output;
use crate::plan::{Plan, Step};
use crate::project;
use crate::test_run::TestRun;

/// Arguments of `unit`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct UnitArgs {
    /// Run one slice of the tests, e.g. `slice:1/3` or `hash:2/4` (for CI sharding; needs
    /// cargo-nextest).
    #[arg(long, value_name = "KIND:M/N", value_parser = parse_partition)]
    pub partition: Option<String>,
    /// Run the tests from an archive made by `cargo xtask build --archive`, compiling nothing.
    #[arg(long, value_name = "FILE")]
    pub archive_file: Option<PathBuf>,
    /// Arguments for cargo-nextest: its options (`--no-fail-fast`, `--no-capture`, `-E
    /// FILTERSET`, `--retries N`) and test-name filters, e.g. `unit -- --no-fail-fast
    /// resctrl::`; a second `--` starts the test binaries' own arguments. The doctests step
    /// gets only the test-name filters (and what follows the second `--`).
    #[arg(last = true, value_name = "NEXTEST ARGS")]
    pub extra: Vec<String>,
}

/// The command that reruns chosen tests: test names after `--` filter both steps.
const RERUN: &str = "cargo xtask unit";

/// `unit`'s plan: one step running every test of the workspace, and the doctests beside it
/// (when nextest runs the tests).
pub fn plan(ctx: &Ctx, args: &UnitArgs) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    plan.push(unit_step(ctx, args, &[])?);
    if let Some(step) = doctest_step(ctx, args, &[]) {
        plan.push(step);
    }
    // Doctests are compiled every run; that overlaps well with nextest running tests.
    Ok(plan.concurrently("tests"))
}

/// The unit-test step: every test, or with `packages` only theirs. nextest still builds the
/// whole workspace then and selects by filterset, so features unify as in a full run (no
/// false green from a narrower feature set) and cargo reuses the full run's artifacts.
///
/// # Errors
/// Arguments that need cargo-nextest when it is not installed.
pub fn unit_step(ctx: &Ctx, args: &UnitArgs, packages: &[String]) -> anyhow::Result<Step> {
    let mut run = TestRun {
        partition: args.partition.clone(),
        archive: args.archive_file.clone(),
        extra: args.extra.clone(),
        threads: Some(unit_test_threads()),
        rerun: Some(RERUN),
        ..TestRun::default()
    };
    if !packages.is_empty() && ctx.nextest {
        let filter: Vec<String> = packages.iter().map(|p| format!("package(={p})")).collect();
        run.filter = Some(filter.join(" | "));
        // A selected package may have no tests at all; that is no failure.
        run.extra.insert(0, "--no-tests=warn".to_string());
    } else {
        run.packages = packages.to_vec();
    }
    run.step(ctx, "unit")
}

/// Unit tests are mostly short and bound by starting a process each, not by CPU: twice the
/// CPUs finishes sooner (measured on 2 cores: 2.4 s with 4 threads, 3.1 s with 2).
fn unit_test_threads() -> usize {
    2 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// nextest does not run doctests, so they get their own step: not for archive runs (an
/// archive holds no doctests, and such runs compile nothing), and only in the first shard of
/// a partitioned run. Without nextest, `cargo test` already runs them. With `packages`, only
/// theirs (each must have a library).
pub fn doctest_step(ctx: &Ctx, args: &UnitArgs, packages: &[String]) -> Option<Step> {
    let first_shard = args.partition.as_deref().is_none_or(|p| {
        p.split_once(':')
            .is_some_and(|(_, shard)| shard.starts_with("1/"))
    });
    if !ctx.nextest || args.archive_file.is_some() || !first_shard {
        return None;
    }
    let sh = &ctx.sh;
    let extra = crate::test_run::libtest_args(&args.extra);
    let separator = (!extra.is_empty()).then_some("--");
    let scope: Vec<String> = if packages.is_empty() {
        vec!["--workspace".to_string()]
    } else {
        packages
            .iter()
            .flat_map(|p| ["-p".to_string(), p.clone()])
            .collect()
    };
    Some(
        Step::exec(
            "doctests",
            cmd!(
                sh,
                "cargo test --locked {scope...} --all-features --doc {separator...} {extra...}"
            )
            .into(),
        )
        .parsed_by(|| output::libtest::parser(project::root().to_path_buf(), Some(RERUN))),
    )
}

/// Accepts nextest's `slice:M/N`, `hash:M/N` and `count:M/N` with 1 <= M <= N.
pub fn parse_partition(value: &str) -> Result<String, String> {
    let invalid = || {
        format!(
            "invalid partition `{value}`: expected KIND:M/N with KIND one of slice, hash, count and 1 <= M <= N, e.g. slice:1/3"
        )
    };
    let (kind, shard) = value.split_once(':').ok_or_else(invalid)?;
    let (m, n) = shard.split_once('/').ok_or_else(invalid)?;
    let (m, n): (u32, u32) = (
        m.parse().map_err(|_| invalid())?,
        n.parse().map_err(|_| invalid())?,
    );
    if !matches!(kind, "slice" | "hash" | "count") || m == 0 || m > n {
        return Err(invalid());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        assert_eq!(parse_partition("slice:1/3").unwrap(), "slice:1/3");
        assert!(parse_partition("hash:4/4").is_ok());
        for bad in [
            "slice:0/3",
            "slice:4/3",
            "slice:1",
            "bogus:1/2",
            "1/2",
            "slice:a/b",
        ] {
            let err = parse_partition(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    fn step_names(plan: &Plan) -> Vec<&str> {
        plan.steps.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn nextest_options_go_to_nextest_and_only_test_names_to_the_doctests() {
        let args = UnitArgs {
            extra: ["--no-fail-fast", "-E", "package(resctrl)", "group::"]
                .map(String::from)
                .to_vec(),
            ..UnitArgs::default()
        };
        let plan = plan(&Ctx::for_tests(true), &args).expect("a plan");
        assert!(
            plan.steps[0]
                .command_line()
                .ends_with("--no-fail-fast -E 'package(resctrl)' group::"),
            "{}",
            plan.steps[0].command_line()
        );
        assert_eq!(
            plan.steps[1].command_line(),
            "cargo test --locked --workspace --all-features --doc -- group::"
        );
    }

    #[test]
    fn doctests_run_once_and_never_from_an_archive() {
        let ctx = Ctx::for_tests(true);
        let plain = plan(&ctx, &UnitArgs::default()).unwrap();
        assert_eq!(step_names(&plain), ["unit", "doctests"]);
        assert_eq!(
            plain.steps[1].command_line(),
            "cargo test --locked --workspace --all-features --doc"
        );
        let shard = |p: &str| UnitArgs {
            partition: Some(p.into()),
            ..UnitArgs::default()
        };
        assert_eq!(
            step_names(&plan(&ctx, &shard("slice:1/3")).unwrap()),
            ["unit", "doctests"]
        );
        assert_eq!(
            step_names(&plan(&ctx, &shard("hash:2/3")).unwrap()),
            ["unit"]
        );
        let archive = UnitArgs {
            archive_file: Some("t.tar.zst".into()),
            ..UnitArgs::default()
        };
        assert_eq!(step_names(&plan(&ctx, &archive).unwrap()), ["unit"]);
        // `cargo test` runs doctests itself.
        assert_eq!(
            step_names(&plan(&Ctx::for_tests(false), &UnitArgs::default()).unwrap()),
            ["unit"]
        );
    }
}
