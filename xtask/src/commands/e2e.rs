//! `cargo xtask e2e --level L`: every heavy suite at or below a level, each skipped with its
//! reason (or failed, under `--strict`) when this host lacks what it needs.

use std::path::PathBuf;

use crate::capability::Host;
use crate::ctx::Ctx;
use crate::level::Level;
use crate::plan::{Plan, Step};
use crate::suites::{self, Decision, Suite, SuiteCtx};

/// Arguments of `e2e`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct E2eArgs {
    /// Run every suite whose minimum level is at or below this one.
    #[arg(long, value_enum, default_value_t = Level::CheapShort)]
    pub level: Level,
    /// Only this suite (repeatable); default: all registered suites.
    #[arg(long = "suite", value_name = "SUITE", value_parser = clap::builder::PossibleValuesParser::new(suites::names()))]
    pub suites: Vec<String>,
    #[command(flatten)]
    pub strict: StrictArgs,
    /// Run tests from this archive (`cargo xtask build --archive`) instead of building them.
    #[arg(long, value_name = "FILE")]
    pub archive_file: Option<PathBuf>,
}

/// Arguments of a suite's own command (`cargo xtask resctrl-e2e`, ...).
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct SuiteArgs {
    #[command(flatten)]
    pub strict: StrictArgs,
    /// Run tests from this archive (`cargo xtask build --archive`) instead of building them.
    #[arg(long, value_name = "FILE")]
    pub archive_file: Option<PathBuf>,
}

/// `--strict` / `--no-strict`; the default follows `CI`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct StrictArgs {
    /// Fail, instead of skip, a suite whose host capability is missing, so a misprovisioned
    /// machine cannot pass. On by default when CI=true.
    #[arg(long, overrides_with = "no_strict")]
    pub strict: bool,
    /// Skip suites whose capability is missing even when CI=true.
    #[arg(long, overrides_with = "strict")]
    pub no_strict: bool,
}

impl StrictArgs {
    /// Whether to be strict, given whether we run under CI.
    pub fn resolve(&self, ci: bool) -> bool {
        match (self.strict, self.no_strict) {
            (true, _) => true,
            (_, true) => false,
            _ => ci,
        }
    }
}

/// What an e2e run is made of.
pub struct Selection<'a> {
    /// Suites to consider, in registry order.
    pub suites: Vec<&'a Suite>,
    /// The level of the run.
    pub level: Level,
    /// Whether a missing capability fails the suite.
    pub strict: bool,
    /// Run tests from this archive.
    pub archive: Option<PathBuf>,
    /// The suite's own command line, for a single suite run as `cargo xtask <name>`.
    pub matches: Option<clap::ArgMatches>,
}

impl Selection<'static> {
    /// The suites named on the command line, or all of them.
    pub fn from_args(args: &E2eArgs, ci: bool) -> anyhow::Result<Self> {
        let suites = if args.suites.is_empty() {
            suites::registry().iter().collect()
        } else {
            suites::registry()
                .iter()
                .filter(|s| args.suites.iter().any(|name| name == s.name))
                .collect()
        };
        Ok(Selection {
            suites,
            level: args.level,
            strict: args.strict.resolve(ci),
            archive: args.archive_file.clone(),
            matches: None,
        })
    }
}

/// The plan of an e2e run: per suite, its steps (chained, so a failed provisioning step
/// skips the tests), or one skipped/failed step saying why it does not run.
pub fn plan(ctx: &Ctx, host: &Host, selection: &Selection<'_>) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    if selection.suites.is_empty() {
        plan.notes = format!(
            "e2e at level {}: no suites are registered\n",
            selection.level
        );
        plan.push(Step::skip("e2e", "no e2e suites are registered yet"));
        return Ok(plan);
    }
    let suite_ctx = SuiteCtx {
        ctx,
        archive: selection.archive.clone(),
        matches: selection.matches.as_ref(),
        fast_tier: |ctx| super::ci::fast_plan(ctx, &super::ci::CiFastArgs::default()),
    };
    let decisions: Vec<(&Suite, Decision)> = selection
        .suites
        .iter()
        .map(|&suite| (suite, suite.decide(selection.level, host)))
        .collect();
    plan.notes = format!(
        "e2e at level {}, strict: {}\n{}",
        selection.level,
        if selection.strict { "on" } else { "off" },
        suites::render_decisions(&decisions, selection.strict)
    );
    for (suite, decision) in &decisions {
        match decision {
            Decision::Run => {
                for step in (suite.steps)(&suite_ctx)? {
                    plan.push(step.in_chain(suite.name).keeping_artifacts(suite.name));
                }
            }
            Decision::NotAtLevel(why) => plan.push(Step::skip(suite.name, why.clone())),
            Decision::Missing(_) => {
                let why = decision.reason().unwrap_or_default();
                if selection.strict {
                    plan.push(Step::fail(suite.name, format!("strict: {why}")));
                } else {
                    plan.push(Step::skip(suite.name, why));
                }
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;
    use crate::project;

    /// A host that is root with cgroups but has no resctrl, QEMU, engine or PMU.
    fn plain_root_host(fx: &FixtureRoot) -> Host {
        fx.file("/proc/self/status", "Uid:\t0\t0\t0\t0\n")
            .file("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
            .file("/proc/cpuinfo", "flags\t: fpu sse\n");
        Host::fixture(fx.root())
    }

    /// A host with everything suites can ask for that fixtures can provide.
    fn full_host(fx: &FixtureRoot) -> Host {
        fx.file("/proc/self/status", "Uid:\t0\t0\t0\t0\n")
            .file("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
            .file(
                "/proc/cpuinfo",
                "flags\t: fpu rdt_a cqm_llc cqm_occup_llc cqm_mbm_total\n",
            )
            .dir("/sys/fs/resctrl")
            .dir("/sys/bus/event_source/devices/cpu")
            .file("/dev/fuse", "");
        Host::fixture(fx.root())
    }

    fn render(host: &Host, level: Level, strict: bool) -> String {
        let ctx = Ctx::for_tests(true);
        let selection = Selection {
            suites: suites::registry().iter().collect(),
            level,
            strict,
            archive: None,
            matches: None,
        };
        // Normalise what depends on the checkout and the environment.
        plan(&ctx, host, &selection)
            .unwrap()
            .render()
            .replace(project::target_dir().to_str().unwrap(), "$TARGET")
            .replace(project::root().to_str().unwrap(), "$ROOT")
            .replace(
                &format!("--profile {}", crate::test_run::TestRun::profile()),
                "--profile $PROFILE",
            )
    }

    /// Whether snapshots are to be rewritten: only on an explicit `UPDATE_SNAPSHOTS=1`, and
    /// never in CI, where a rewrite would turn every plan change into a pass.
    fn update_requested(value: Option<&str>, ci: bool) -> bool {
        value == Some("1") && !ci
    }

    /// Compares with `xtask/src/snapshots/<name>.txt`; `UPDATE_SNAPSHOTS=1` rewrites it.
    fn assert_snapshot(name: &str, actual: &str) {
        let path = project::root()
            .join("xtask/src/snapshots")
            .join(format!("{name}.txt"));
        let value = std::env::var("UPDATE_SNAPSHOTS").ok();
        if update_requested(value.as_deref(), project::in_ci()) {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
                path.display()
            )
        });
        assert_eq!(
            actual,
            expected,
            "plan differs from {}; if intended, rerun with UPDATE_SNAPSHOTS=1",
            path.display()
        );
    }

    #[test]
    fn plan_for_every_level_on_a_plain_host() {
        let fx = FixtureRoot::new();
        let host = plain_root_host(&fx);
        for &level in <Level as clap::ValueEnum>::value_variants() {
            assert_snapshot(
                &format!("e2e-{level}-plain-host"),
                &render(&host, level, false),
            );
        }
    }

    #[test]
    fn plan_for_every_level_on_a_full_host() {
        let fx = FixtureRoot::new();
        let host = full_host(&fx);
        for &level in <Level as clap::ValueEnum>::value_variants() {
            assert_snapshot(
                &format!("e2e-{level}-full-host"),
                &render(&host, level, false),
            );
        }
    }

    #[test]
    fn strict_plan_for_every_level_on_a_plain_host() {
        let fx = FixtureRoot::new();
        let host = plain_root_host(&fx);
        for &level in <Level as clap::ValueEnum>::value_variants() {
            assert_snapshot(
                &format!("e2e-{level}-plain-host-strict"),
                &render(&host, level, true),
            );
        }
    }

    #[test]
    fn only_an_explicit_1_outside_ci_rewrites_snapshots() {
        assert!(update_requested(Some("1"), false));
        for value in [None, Some("0"), Some(""), Some("true"), Some("yes")] {
            assert!(!update_requested(value, false), "{value:?}");
        }
        assert!(!update_requested(Some("1"), true));
    }

    #[test]
    fn strict_turns_missing_capabilities_into_failures_but_not_level_skips() {
        let fx = FixtureRoot::new();
        let host = plain_root_host(&fx);
        // The step line of a suite, e.g. " 4. resctrl-e2e   fail: ...", spacing aside.
        let step_line = |plan: &str, suite: &str| -> String {
            plan.lines()
                .find(|line| line.split_whitespace().nth(1) == Some(suite))
                .map(|line| {
                    line.split_whitespace()
                        .skip(2)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|| panic!("no step for {suite} in\n{plan}"))
        };
        let strict = render(&host, Level::FullLong, true);
        assert!(
            step_line(&strict, "resctrl-e2e")
                .starts_with("fail: strict: missing resctrl-monitoring"),
            "{strict}"
        );
        let cheap = render(&host, Level::CheapShort, true);
        assert!(
            step_line(&cheap, "resctrl-e2e").starts_with("skip: needs level full-short"),
            "{cheap}"
        );
    }

    #[test]
    fn the_suite_table_says_fail_where_strict_fails_the_step_and_skip_where_it_skips() {
        let fx = FixtureRoot::new();
        let host = plain_root_host(&fx);
        // The decision column of a suite's table row (the table precedes the steps).
        let decision = |plan: &str, suite: &str| -> String {
            let header = plan
                .lines()
                .find(|line| line.starts_with("suite "))
                .expect("the suite table");
            let at = header.find("decision").expect("a decision column");
            plan.lines()
                .find(|line| line.split_whitespace().next() == Some(suite))
                .map(|line| line[at..].to_string())
                .unwrap_or_else(|| panic!("no row for {suite} in\n{plan}"))
        };
        let strict = render(&host, Level::FullLong, true);
        assert!(
            decision(&strict, "resctrl-e2e")
                .starts_with("fail (strict): missing resctrl-monitoring"),
            "{strict}"
        );
        let lenient = render(&host, Level::FullLong, false);
        assert!(
            decision(&lenient, "resctrl-e2e").starts_with("skip: missing resctrl-monitoring"),
            "{lenient}"
        );
        let cheap = render(&host, Level::CheapShort, true);
        assert!(
            decision(&cheap, "resctrl-e2e").starts_with("skip: needs level full-short"),
            "{cheap}"
        );
    }

    #[test]
    fn strict_default_follows_ci() {
        let default = StrictArgs::default();
        assert!(default.resolve(true));
        assert!(!default.resolve(false));
        let off = StrictArgs {
            strict: false,
            no_strict: true,
        };
        assert!(!off.resolve(true));
        let on = StrictArgs {
            strict: true,
            no_strict: false,
        };
        assert!(on.resolve(false));
    }
}
