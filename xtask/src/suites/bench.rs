//! Suite `bench`: the hot paths' instruction counts against the baseline in the repository
//! (see [`crate::bench`]). Steps: `valgrind` (installed with apt-get if missing), `build`
//! (the bench binaries), `measure` (this checkout), `reference` (what to compare against:
//! the baseline file, or another revision built in a worktree and measured in this run),
//! `gate` (the table; fails naming each case that grew past its threshold).
//!
//! `cargo xtask bench runner` instead times `ci fast` against the same commands by hand.
//!
//! Level cheap-short: the counts are deterministic (two runs differ by well under 0.1%), so
//! the gate cannot flake on a loaded machine, and the suite takes about a minute warm; the
//! wall times beside the counts are information, not a gate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, FromArgMatches, Subcommand};
use serde::{Deserialize, Serialize};

use super::{Suite, SuiteCtx};
use crate::bench::baseline::{self, Baseline};
use crate::bench::build::{self, Tree};
use crate::bench::gate::{self, Comparison};
use crate::bench::measure::{self, Options};
use crate::bench::{self as bench_mod, Measured, Versions, runner};
use crate::level::{Duration, Level};
use crate::plan::Step;
use crate::provision::apt;

/// The registry entry.
pub const SUITE: Suite = Suite {
    name: "bench",
    about: "Suite: the hot paths' instruction counts under callgrind against \
            crates/benches/baseline.json (fails past a case's threshold, 2% by default), wall \
            time beside them; `bench runner` times `ci fast` against the same commands by hand.",
    min_level: Level::CheapShort,
    needs: &[],
    duration: Duration::Short,
    paths: &[],
    args: Some(BenchArgs::augment_args),
    steps,
};

/// Options of `cargo xtask bench`.
#[derive(Args, Debug, Default, PartialEq, Eq)]
struct BenchArgs {
    #[command(subcommand)]
    what: Option<BenchCommand>,
    /// Rewrite crates/benches/baseline.json with this run's counts (and versions) instead
    /// of failing on a change.
    #[arg(long)]
    save_baseline: bool,
    /// Build REV in a git worktree and compare against it, measured in the same run (the
    /// fair comparison on a noisy machine).
    #[arg(long, value_name = "REV")]
    compare: Option<String>,
    /// Also write the comparison as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Only the cases whose names contain NAME (repeatable).
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// Native runs of each case for its wall time.
    #[arg(long, value_name = "N", default_value_t = 5)]
    wall_runs: usize,
}

#[derive(Subcommand, Debug, PartialEq, Eq)]
enum BenchCommand {
    /// Time `cargo xtask ci fast` (warm) against the same commands from a shell script and
    /// against the usual fmt/clippy/test sequence, and print the ratios.
    Runner(RunnerArgs),
}

#[derive(Args, Debug, PartialEq, Eq)]
struct RunnerArgs {
    /// Timed runs of each variant.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Untimed runs of each variant first, to warm its caches.
    #[arg(long, value_name = "N", default_value_t = 1)]
    warmup: usize,
    /// Time the incremental `ci fast` against the usual sequence instead: after no change,
    /// and after a change to one file of crates/nri, xtask or crates/resctrl, in pairs of
    /// alternating order (min/median/max of each ratio).
    #[arg(long)]
    incremental: bool,
    /// With --incremental, only the scenarios whose names contain NAME (repeatable), e.g.
    /// `--scenario resctrl`.
    #[arg(long = "scenario", value_name = "NAME", requires = "incremental")]
    scenarios: Vec<String>,
}

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let args = match ctx.matches {
        Some(matches) => BenchArgs::from_arg_matches(matches)?,
        None => BenchArgs {
            wall_runs: 5,
            ..BenchArgs::default()
        },
    };
    if let Some(BenchCommand::Runner(runner_args)) = &args.what
        && runner_args.incremental
    {
        let (runs, warmup) = (runner_args.runs, runner_args.warmup);
        let root = crate::project::root().to_path_buf();
        let scenarios = runner::scenarios(&runner_args.scenarios);
        let names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
        return Ok(vec![Step::task(
            "bench: runner",
            format!(
                "{warmup} warm-up and {runs} timed pairs of `cargo xtask ci fast` and the usual sequence for each of: {}",
                names.join(", ")
            ),
            move |io| runner::run_incremental(io, &root, &scenarios, runs, warmup),
        )]);
    }
    if let Some(BenchCommand::Runner(runner_args)) = &args.what {
        let variants = runner::variants(&(ctx.fast_tier)(ctx.ctx)?)?;
        let (runs, warmup) = (runner_args.runs, runner_args.warmup);
        let described: Vec<String> = variants.iter().map(|v| v.script.clone()).collect();
        return Ok(vec![Step::task(
            "bench: runner",
            format!(
                "{warmup} warm-up and {runs} timed runs of each of: {}",
                described.join(" ;; ")
            ),
            move |io| runner::run(io, &variants, runs, warmup),
        )]);
    }
    Ok(gate_steps(args))
}

fn gate_steps(args: BenchArgs) -> Vec<Step> {
    let options = Options {
        cases: args.cases.clone(),
        wall_runs: args.wall_runs,
    };
    let valgrind = Step::task(
        "bench: valgrind",
        "valgrind (apt-get install valgrind if missing)",
        |io| {
            if which::which("valgrind").is_err() {
                apt::install(io, &["valgrind"])?;
            }
            Ok(())
        },
    )
    .in_chain("bench");
    let build = Step::task(
        "bench: build",
        format!(
            "cargo bench --no-run --locked -p {}; the list of their cases",
            build::PACKAGE
        ),
        |io| {
            let built = Tree::this().build(io)?;
            for bin in &built.benches {
                io.line(&format!("built {}", bin.display()));
            }
            Ok(())
        },
    )
    .in_chain("bench");
    let now_options = options.clone();
    let measure = Step::task(
        "bench: measure",
        format!(
            "each case under valgrind --tool=callgrind, then {} native runs; write {}",
            options.wall_runs,
            bench_mod::now_path().display()
        ),
        move |io| {
            let tree = Tree::this();
            // Built by the step before; this only asks cargo for the paths.
            let built = tree.build(io)?;
            let measured =
                measure::measure(io, &tree, &built, &now_options, &measure::out_dir("now"))?;
            measured.write(&bench_mod::now_path())
        },
    )
    .in_chain("bench");
    let compare = args.compare.clone();
    let save = args.save_baseline;
    let reference_options = options.clone();
    let reference = Step::task(
        "bench: reference",
        match &compare {
            Some(rev) => format!("build {rev} in a worktree and measure it the same way"),
            None => format!(
                "{} if measured with this toolchain and valgrind, else the merge-base built \
                 in a worktree and measured the same way",
                baseline::FILE
            ),
        },
        move |io| {
            let now = Measured::read(&bench_mod::now_path())?;
            let file = Baseline::read(&baseline::path())?;
            let reference = match choose(compare.as_deref(), file.as_ref(), &now.versions, save) {
                Choice::Baseline(note) => Reference {
                    against: match &file {
                        Some(file) => format!("{} ({})", baseline::FILE, file.versions),
                        None => format!("nothing: there is no {} yet", baseline::FILE),
                    },
                    notes: note.into_iter().collect(),
                    cases: file.map(|f| f.cases).unwrap_or_default(),
                },
                Choice::Rev { rev, note } => {
                    let rev = match rev {
                        Some(rev) => rev,
                        None => build::merge_base()?,
                    };
                    let mut notes: Vec<String> = note.into_iter().collect();
                    for note in &notes {
                        io.line(&format!("note: {note}"));
                    }
                    if compare.is_none() && build::is_this_checkout(&rev) {
                        notes.push(
                            "the merge-base is this very commit, so this run is its own \
                             reference; record the counts with --save-baseline"
                                .to_string(),
                        );
                        Reference {
                            against: format!("{} itself", now.rev),
                            notes,
                            cases: now.instructions(),
                        }
                    } else {
                        let tree = build::worktree(io, &rev)?;
                        let measured = tree
                            .build(io)
                            .with_context(|| format!("building the reference, {rev}"))
                            .and_then(|built| {
                                measure::measure(
                                    io,
                                    &tree,
                                    &built,
                                    &reference_options,
                                    &measure::out_dir("reference"),
                                )
                            });
                        build::remove_worktree(io)?;
                        let measured = measured?;
                        Reference {
                            against: format!("{rev} ({}) measured in this run", measured.rev),
                            notes,
                            cases: measured.instructions(),
                        }
                    }
                }
            };
            io.line(&format!("compared against {}", reference.against));
            reference.write(&bench_mod::reference_path())
        },
    )
    .in_chain("bench");
    let json = args.json.clone();
    let only_some = !options.cases.is_empty();
    let gate_options = options.clone();
    let gate = Step::task(
        "bench: gate",
        format!(
            "the table case | baseline | now | change; {}",
            if save {
                format!("rewrite {}", baseline::FILE)
            } else {
                "fail on a case grown past its threshold".to_string()
            }
        ),
        move |io| {
            let now = Measured::read(&bench_mod::now_path())?;
            let mut reference = Reference::read(&bench_mod::reference_path())?;
            // A run of some cases says nothing about the others.
            reference.cases.retain(|case, _| gate_options.selects(case));
            let comparison = Comparison {
                against: reference.against,
                notes: reference.notes,
                rows: gate::compare(&reference.cases, &now.cases),
            };
            for line in comparison.table().lines() {
                io.line(line);
            }
            write(&bench_mod::junit_path(), &comparison.junit())?;
            if let Some(path) = &json {
                write(path, &comparison.json())?;
            }
            if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                append(&PathBuf::from(summary), &comparison.markdown())?;
            }
            if save {
                let path = baseline::path();
                let previous = Baseline::read(&path)?;
                let updated = Baseline::updated(previous.as_ref(), &now, only_some);
                write(&path, &updated.render())?;
                io.line(&format!("wrote {}", path.display()));
                return Ok(());
            }
            // Each failure's full line is in the table above and in the JUnit case.
            let grown = comparison.grown();
            if !grown.is_empty() {
                bail!("instructions grew past the threshold: {}", grown.join(", "));
            }
            Ok(())
        },
    )
    .in_chain("bench")
    .with_junit(bench_mod::junit_path());
    vec![valgrind, build, measure, reference, gate]
}

/// What the gate compares against, as the reference step leaves it for the gate.
#[derive(Debug, Serialize, Deserialize)]
struct Reference {
    against: String,
    notes: Vec<String>,
    cases: BTreeMap<String, u64>,
}

impl Reference {
    fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising the reference")?;
        write(path, &text)
    }
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn append(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("appending to {}", path.display()))
}

/// Which reference the gate uses.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    /// The baseline file (with a note when it lacks cases).
    Baseline(Option<String>),
    /// A revision measured in this run: the one asked for, or (`None`) the merge-base.
    Rev {
        rev: Option<String>,
        note: Option<String>,
    },
}

/// `--compare REV` wins; otherwise the baseline file when it was measured with the same
/// toolchain and valgrind, since counts of different versions are not comparable; else
/// the merge-base, measured now. A run that saves the baseline shows the change against
/// the file whatever its versions: it is about to replace it, not to judge against it.
fn choose(compare: Option<&str>, file: Option<&Baseline>, now: &Versions, save: bool) -> Choice {
    if let Some(rev) = compare {
        return Choice::Rev {
            rev: Some(rev.to_string()),
            note: None,
        };
    }
    match file {
        _ if save => Choice::Baseline(file.filter(|f| f.versions != *now).map(|f| {
            format!(
                "{} was measured with {}, this run has {}; it is rewritten with this run's",
                baseline::FILE,
                f.versions,
                now
            )
        })),
        None => Choice::Rev {
            rev: None,
            note: Some(format!(
                "there is no {} yet: comparing against the merge-base; write it with \
                 --save-baseline",
                baseline::FILE
            )),
        },
        Some(file) if file.versions != *now => Choice::Rev {
            rev: None,
            note: Some(format!(
                "{} was measured with {}, this run has {}: comparing against the merge-base \
                 measured now instead; update the file with --save-baseline",
                baseline::FILE,
                file.versions,
                now
            )),
        },
        Some(_) => Choice::Baseline(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(toolchain: &str) -> Versions {
        Versions {
            toolchain: toolchain.to_string(),
            valgrind: "valgrind-3.19.0".to_string(),
        }
    }

    fn file(toolchain: &str) -> Baseline {
        Baseline {
            versions: versions(toolchain),
            cases: BTreeMap::from([("a".to_string(), 1)]),
        }
    }

    #[test]
    fn the_baseline_file_is_the_reference_when_the_versions_match() {
        let choice = choose(
            None,
            Some(&file("rustc 1.95.0")),
            &versions("rustc 1.95.0"),
            false,
        );
        assert_eq!(choice, Choice::Baseline(None));
    }

    #[test]
    fn another_toolchain_is_reported_and_compared_against_the_merge_base() {
        let choice = choose(
            None,
            Some(&file("rustc 1.95.0")),
            &versions("rustc 1.96.0"),
            false,
        );
        let Choice::Rev {
            rev: None,
            note: Some(note),
        } = choice
        else {
            panic!("expected the merge-base, got {choice:?}");
        };
        assert!(
            note.contains("was measured with rustc 1.95.0, valgrind-3.19.0"),
            "{note}"
        );
        assert!(note.contains("this run has rustc 1.96.0"), "{note}");
    }

    #[test]
    fn an_explicit_revision_wins_over_the_baseline() {
        let choice = choose(
            Some("HEAD~3"),
            Some(&file("rustc 1.95.0")),
            &versions("rustc 1.95.0"),
            false,
        );
        assert_eq!(
            choice,
            Choice::Rev {
                rev: Some("HEAD~3".to_string()),
                note: None
            }
        );
    }

    #[test]
    fn without_a_baseline_file_the_merge_base_is_the_reference() {
        let choice = choose(None, None, &versions("rustc 1.95.0"), false);
        let Choice::Rev {
            rev: None,
            note: Some(note),
        } = choice
        else {
            panic!("expected the merge-base, got {choice:?}");
        };
        assert!(
            note.contains("there is no crates/benches/baseline.json yet"),
            "{note}"
        );
    }

    #[test]
    fn saving_the_baseline_compares_with_the_file_whatever_its_versions() {
        let old = file("rustc 1.95.0");
        let choice = choose(None, Some(&old), &versions("rustc 1.96.0"), true);
        let Choice::Baseline(Some(note)) = choice else {
            panic!("expected the file with a note, got {choice:?}");
        };
        assert!(note.contains("it is rewritten with this run's"), "{note}");
        assert_eq!(
            choose(None, None, &versions("rustc 1.96.0"), true),
            Choice::Baseline(None)
        );
    }

    fn render(args: &[&str]) -> String {
        let ctx = crate::ctx::Ctx::for_tests(true);
        let matches = crate::cli::Cli::definition()
            .try_get_matches_from(["cargo xtask", "bench"].iter().chain(args))
            .expect("valid arguments");
        let (_, sub) = matches.subcommand().expect("the bench command");
        let suite_ctx = SuiteCtx {
            ctx: &ctx,
            archive: None,
            matches: Some(sub),
            fast_tier: |ctx| crate::commands::ci::fast_plan(ctx, &Default::default()),
        };
        let mut plan = crate::plan::Plan::default();
        for step in steps(&suite_ctx).expect("a plan") {
            plan.push(step);
        }
        plan.render()
    }

    #[test]
    fn the_gate_measures_compares_and_judges_in_one_chain() {
        let plan = render(&[]);
        let names = [
            "bench: valgrind",
            "bench: build",
            "bench: measure",
            "bench: reference",
            "bench: gate",
        ];
        let at: Vec<usize> = names
            .iter()
            .map(|n| plan.find(n).unwrap_or_else(|| panic!("{n} in {plan}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{plan}");
        assert!(
            plan.contains("fail on a case grown past its threshold"),
            "{plan}"
        );
        assert!(
            plan.contains("else the merge-base built in a worktree"),
            "{plan}"
        );
    }

    #[test]
    fn save_baseline_rewrites_the_file_instead_of_failing() {
        let plan = render(&["--save-baseline"]);
        assert!(
            plan.contains("rewrite crates/benches/baseline.json"),
            "{plan}"
        );
    }

    #[test]
    fn compare_builds_the_revision_in_a_worktree() {
        let plan = render(&["--compare", "main~2"]);
        assert!(
            plan.contains("build main~2 in a worktree and measure it the same way"),
            "{plan}"
        );
    }

    #[test]
    fn bench_runner_times_ci_fast_against_the_same_commands() {
        let plan = render(&["runner", "--runs", "3"]);
        assert!(plan.contains("bench: runner"), "{plan}");
        assert!(plan.contains("1 warm-up and 3 timed runs"), "{plan}");
        assert!(
            plan.contains("cargo xtask ci fast --no-cache ;; CARGO_TERM_COLOR=never cargo fmt"),
            "{plan}"
        );
        assert!(!plan.contains("bench: gate"), "{plan}");
    }

    #[test]
    fn bench_runner_incremental_times_ci_fast_in_each_scenario() {
        let plan = render(&["runner", "--incremental", "--runs", "3"]);
        assert!(
            plan.contains(
                "1 warm-up and 3 timed pairs of `cargo xtask ci fast` and the usual sequence"
            ),
            "{plan}"
        );
        assert!(
            plan.contains(
                "no change, one file in crates/nri, one file in xtask, one file in crates/resctrl"
            ),
            "{plan}"
        );
    }
}
