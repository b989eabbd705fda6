//! `cargo xtask bench runner`: the runner's figures side by side in one run, warm:
//! `cargo xtask ci fast --no-cache` against the same commands one after the other from a
//! shell script, and against the usual `cargo fmt --check && cargo clippy && cargo test`;
//! with `--incremental`, the incremental `ci fast` against the usual sequence after no
//! change, and after a change to one file of a leaf crate or of the crate everything
//! depends on ([`SCENARIOS`], see [`run_incremental`]).
//!
//! Wall time only, and for information: the ratios say what the runner costs (its
//! overhead over the same commands, target at most 1.05) and what it saves (against the
//! usual sequence, target at most 0.8). The first runs of each warm its caches, since the
//! three build different feature sets; at least one warm-up of `ci fast` comes first, which
//! also installs the workflow linters the plain script calls.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::plan::{Action, Exec, Plan, StepIo};

/// One way of running the fast tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// How the figures name it.
    pub name: &'static str,
    /// A `sh -c` line.
    pub script: String,
}

/// The three variants, the second made from `ci fast`'s own plan so it stays the same
/// commands (its in-runner tasks, such as installing the linters, are left out: run
/// `cargo xtask lint-ci` once first).
///
/// # Errors
/// `ci fast` cannot be planned.
pub fn variants(fast: &Plan) -> anyhow::Result<Vec<Variant>> {
    let same = fast
        .steps
        .iter()
        .filter_map(|step| match &step.action {
            Action::Exec(exec) => Some(exec.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" && ");
    Ok(vec![
        Variant {
            name: "cargo xtask ci fast",
            // Everything, as the plain script does: what the runner costs, not what it skips.
            script: "cargo xtask ci fast --no-cache".to_string(),
        },
        Variant {
            name: "same commands, plain script",
            script: format!("CARGO_TERM_COLOR=never {same}"),
        },
        Variant {
            name: "usual sequence",
            script: USUAL.to_string(),
        },
    ])
}

/// The usual sequence a developer runs by hand before a push.
pub const USUAL: &str = "cargo fmt --all -- --check && cargo clippy --workspace --all-targets \
                         --all-features -- -D warnings && cargo test --workspace -- --test-threads=1";

/// Median and minimum of one variant's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The median run.
    pub median: Duration,
    /// The fastest run.
    pub min: Duration,
}

/// Times `warmup + runs` runs of each variant, reporting each, then the figures.
///
/// # Errors
/// A variant fails (its output is in the step's log) or the run is interrupted.
pub fn run(
    io: &mut dyn StepIo,
    variants: &[Variant],
    runs: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    let mut timings = Vec::new();
    for (index, variant) in variants.iter().enumerate() {
        let exec = shell(&variant.script);
        let warmup = if index == 0 { warmup.max(1) } else { warmup };
        for _ in 0..warmup {
            io.check_interrupted()?;
            io.run(&exec)
                .with_context(|| format!("warming up: {}", variant.name))?;
        }
        let mut times = Vec::new();
        for i in 1..=runs.max(1) {
            io.check_interrupted()?;
            let start = Instant::now();
            io.run(&exec)
                .with_context(|| format!("timing: {}", variant.name))?;
            times.push(start.elapsed());
            io.line(&format!(
                "{}: run {i}: {:.3} s",
                variant.name,
                times[i - 1].as_secs_f64()
            ));
        }
        times.sort();
        timings.push(Timing {
            median: times[times.len() / 2],
            min: times[0],
        });
    }
    for line in figures(variants, &timings, runs.max(1)).lines() {
        io.line(line);
    }
    Ok(())
}

/// One situation the incremental `ci fast` is timed in: the file changed before each run
/// (none: no change since the last green run), and the ratio to the usual sequence aimed
/// at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    /// How the figures name it.
    pub name: &'static str,
    /// The file (relative to the root) whose contents change before each run.
    pub touch: Option<&'static str>,
    /// The median ratio aimed at.
    pub target: f64,
}

/// No change, one file of a leaf crate (`nri`'s dependents are only the plugin and the
/// collector; nothing depends on `xtask`), one file of the crate everything depends on.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "no change",
        touch: None,
        target: 0.1,
    },
    Scenario {
        name: "one file in crates/nri",
        touch: Some("crates/nri/src/lib.rs"),
        target: 0.6,
    },
    Scenario {
        name: "one file in xtask",
        touch: Some("xtask/src/ansi.rs"),
        target: 0.6,
    },
    Scenario {
        name: "one file in crates/resctrl",
        touch: Some("crates/resctrl/src/lib.rs"),
        target: 0.85,
    },
];

/// A file whose contents change on each [`Touched::change`] (a comment line appended,
/// numbered, so every run sees new contents), restored when dropped.
struct Touched {
    path: std::path::PathBuf,
    original: Vec<u8>,
    count: usize,
}

impl Touched {
    fn new(path: std::path::PathBuf) -> anyhow::Result<Self> {
        let original =
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Touched {
            path,
            original,
            count: 0,
        })
    }

    fn change(&mut self) -> anyhow::Result<()> {
        self.count += 1;
        let mut text = self.original.clone();
        text.extend_from_slice(format!("// bench runner: change {}\n", self.count).as_bytes());
        std::fs::write(&self.path, text).with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Drop for Touched {
    fn drop(&mut self) {
        // Restoring is the last thing the scenario does; failing it leaves one comment line.
        let _ = std::fs::write(&self.path, &self.original);
    }
}

/// One scenario's pairs of runs: (ci fast, usual sequence) wall times.
#[derive(Clone, Debug, PartialEq)]
pub struct Pairs {
    /// The scenario.
    pub scenario: Scenario,
    /// Each pair's times, in seconds.
    pub times: Vec<(f64, f64)>,
}

/// For each of `scenarios` (of [`SCENARIOS`]), `runs` pairs of the incremental `ci fast` and the usual
/// sequence, in alternating order (ci fast first in odd pairs, second in even ones), each
/// run after its own change to the scenario's file; then min/median/max of each pair's
/// ratio. `warmup` untimed pairs come first (so both have a green, warm state), and after a
/// scenario that changed a file, one more pair with the file restored.
///
/// # Errors
/// A run fails (its output is in the step's log), a file cannot be changed, or the run is
/// interrupted.
pub fn run_incremental(
    io: &mut dyn StepIo,
    root: &std::path::Path,
    scenarios: &[Scenario],
    runs: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    let fast = shell("cargo xtask ci fast");
    let usual = shell(USUAL);
    let warm = |io: &mut dyn StepIo, why: &str| -> anyhow::Result<()> {
        io.check_interrupted()?;
        io.run(&fast)
            .with_context(|| format!("{why}: cargo xtask ci fast"))?;
        io.run(&usual)
            .with_context(|| format!("{why}: the usual sequence"))
    };
    for _ in 0..warmup.max(1) {
        warm(io, "warming up")?;
    }
    let mut all = Vec::new();
    for &scenario in scenarios {
        let mut touched = scenario
            .touch
            .map(|file| Touched::new(root.join(file)))
            .transpose()?;
        let mut times = Vec::new();
        for pair in 0..runs.max(1) {
            let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut took = [0.0; 2];
            for which in order {
                io.check_interrupted()?;
                if let Some(touched) = &mut touched {
                    touched.change()?;
                }
                let exec = if which == 0 { &fast } else { &usual };
                let start = Instant::now();
                io.run(exec)
                    .with_context(|| format!("timing {}: {exec}", scenario.name))?;
                took[which] = start.elapsed().as_secs_f64();
            }
            io.line(&format!(
                "{}: pair {}: ci fast {:.3} s, usual sequence {:.3} s, ratio {:.3}",
                scenario.name,
                pair + 1,
                took[0],
                took[1],
                took[0] / took[1]
            ));
            times.push((took[0], took[1]));
        }
        let restored = touched.is_some();
        drop(touched);
        if restored {
            warm(io, "restoring a green state")?;
        }
        all.push(Pairs { scenario, times });
    }
    for line in incremental_figures(&all).lines() {
        io.line(line);
    }
    Ok(())
}

/// The scenarios whose names contain one of `names` (all of them for none).
pub fn scenarios(names: &[String]) -> Vec<Scenario> {
    SCENARIOS
        .into_iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| s.name.contains(n.as_str())))
        .collect()
}

/// Min, median and max.
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    match values {
        [] => (0.0, 0.0, 0.0),
        _ => (
            values[0],
            values[values.len() / 2],
            values[values.len() - 1],
        ),
    }
}

/// The figures of [`run_incremental`]: one line per scenario with both medians and the
/// ratio's min/median/max against its target.
pub fn incremental_figures(all: &[Pairs]) -> String {
    let mut out = format!(
        "{:<28} {:>13} {:>13}  {:<26} target\n",
        "incremental ci fast", "ci fast", "usual", "ratio min / median / max"
    );
    for pairs in all {
        let (_, fast, _) = spread(&mut pairs.times.iter().map(|t| t.0).collect::<Vec<_>>());
        let (_, usual, _) = spread(&mut pairs.times.iter().map(|t| t.1).collect::<Vec<_>>());
        let (min, median, max) =
            spread(&mut pairs.times.iter().map(|t| t.0 / t.1).collect::<Vec<_>>());
        let verdict = if median <= pairs.scenario.target {
            "met"
        } else {
            "missed"
        };
        out.push_str(&format!(
            "{:<28} {:>11.3} s {:>11.3} s  {:.3} / {:.3} / {:.3}      <= {:.2} ({verdict}, {} pairs)\n",
            pairs.scenario.name,
            fast,
            usual,
            min,
            median,
            max,
            pairs.scenario.target,
            pairs.times.len()
        ));
    }
    out
}

fn shell(script: &str) -> Exec {
    Exec {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        // The nested runs report plainly and to no job summary of ours.
        env: ["GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "CI"]
            .into_iter()
            .map(|key| (key.into(), None))
            .collect(),
        cwd: None,
        mkdirs: Vec::new(),
    }
}

/// The figures: one line per variant, then the two ratios of medians.
pub fn figures(variants: &[Variant], timings: &[Timing], runs: usize) -> String {
    let mut out = String::new();
    for (variant, timing) in variants.iter().zip(timings) {
        out.push_str(&format!(
            "{:<28} median {:>7.3} s  min {:>7.3} s  ({runs} runs)\n",
            variant.name,
            timing.median.as_secs_f64(),
            timing.min.as_secs_f64()
        ));
    }
    if let [xtask, same, usual] = timings {
        let ratio = |a: &Timing, b: &Timing| a.median.as_secs_f64() / b.median.as_secs_f64();
        out.push_str(&format!(
            "runner overhead (xtask / same commands):  {:.3}  (target <= 1.05)\n\
             against usual   (xtask / usual sequence): {:.3}  (target <= 0.8)\n",
            ratio(xtask, same),
            ratio(xtask, usual)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_script_runs_the_commands_of_ci_fast_in_order() {
        let fast =
            crate::commands::ci::fast_plan(&crate::ctx::Ctx::for_tests(true), &Default::default())
                .expect("ci fast plans");
        let variants = variants(&fast).expect("ci fast plans");
        let names: Vec<&str> = variants.iter().map(|v| v.name).collect();
        assert_eq!(
            names,
            [
                "cargo xtask ci fast",
                "same commands, plain script",
                "usual sequence"
            ]
        );
        let same = &variants[1].script;
        let fmt = same.find("cargo fmt --all -- --check").expect("fmt first");
        let clippy = same
            .find("cargo clippy --locked --workspace")
            .expect("clippy");
        let unit = same.find("cargo nextest run").expect("the unit tests");
        assert!(fmt < clippy && clippy < unit, "{same}");
        assert!(
            !same.contains("pip install"),
            "tasks are not commands: {same}"
        );
    }

    #[test]
    fn the_runner_overhead_is_measured_without_the_cache() {
        let fast =
            crate::commands::ci::fast_plan(&crate::ctx::Ctx::for_tests(true), &Default::default())
                .expect("ci fast plans");
        assert_eq!(
            variants(&fast).expect("variants")[0].script,
            "cargo xtask ci fast --no-cache"
        );
    }

    #[test]
    fn each_scenario_changes_an_existing_file_of_its_crate() {
        let root = crate::project::root();
        for scenario in SCENARIOS {
            if let Some(file) = scenario.touch {
                assert!(root.join(file).is_file(), "{file}");
            }
        }
        assert_eq!(SCENARIOS[0].touch, None);
    }

    #[test]
    fn scenarios_are_chosen_by_part_of_their_name() {
        assert_eq!(scenarios(&[]), SCENARIOS);
        let names: Vec<&str> = scenarios(&["resctrl".to_string(), "no change".to_string()])
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["no change", "one file in crates/resctrl"]);
    }

    #[test]
    fn a_touched_file_changes_every_time_and_is_restored() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("lib.rs");
        std::fs::write(&path, "fn a() {}\n").expect("a file");
        let mut touched = Touched::new(path.clone()).expect("readable");
        touched.change().expect("changed");
        let first = std::fs::read_to_string(&path).expect("readable");
        touched.change().expect("changed");
        let second = std::fs::read_to_string(&path).expect("readable");
        assert_ne!(first, second);
        assert!(second.starts_with("fn a() {}\n// bench runner"), "{second}");
        drop(touched);
        assert_eq!(
            std::fs::read_to_string(&path).expect("readable"),
            "fn a() {}\n"
        );
    }

    #[test]
    fn the_incremental_figures_give_each_ratio_with_its_spread() {
        let all = [
            Pairs {
                scenario: SCENARIOS[0],
                times: vec![(1.0, 20.0), (1.2, 20.0), (3.0, 20.0)],
            },
            Pairs {
                scenario: SCENARIOS[3],
                times: vec![(18.0, 20.0)],
            },
        ];
        assert_eq!(
            incremental_figures(&all),
            "incremental ci fast                ci fast         usual  ratio min / median / max   target\n\
             no change                          1.200 s      20.000 s  0.050 / 0.060 / 0.150      <= 0.10 (met, 3 pairs)\n\
             one file in crates/resctrl        18.000 s      20.000 s  0.900 / 0.900 / 0.900      <= 0.85 (missed, 1 pairs)\n"
        );
    }

    #[test]
    fn the_figures_give_each_variant_and_the_two_ratios() {
        let fast =
            crate::commands::ci::fast_plan(&crate::ctx::Ctx::for_tests(true), &Default::default())
                .expect("ci fast plans");
        let variants = variants(&fast).expect("ci fast plans");
        let secs = |s: f64| Timing {
            median: Duration::from_secs_f64(s),
            min: Duration::from_secs_f64(s - 0.5),
        };
        let text = figures(&variants, &[secs(4.5), secs(7.2), secs(6.0)], 5);
        assert_eq!(
            text,
            "cargo xtask ci fast          median   4.500 s  min   4.000 s  (5 runs)\n\
             same commands, plain script  median   7.200 s  min   6.700 s  (5 runs)\n\
             usual sequence               median   6.000 s  min   5.500 s  (5 runs)\n\
             runner overhead (xtask / same commands):  0.625  (target <= 1.05)\n\
             against usual   (xtask / usual sequence): 0.750  (target <= 0.8)\n"
        );
    }
}
