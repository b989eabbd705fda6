//! Measuring a built tree: every case under callgrind (the counts) and natively (the wall
//! time), plus the runner's own case, `runner/per-step`.
//!
//! The runner's case counts a whole `xtask run-steps` with 1 step and with
//! [`RUNNER_STEPS`] + 1 steps of `sh -c true` and divides the difference by
//! [`RUNNER_STEPS`]: what one more step costs the runner (the child shells are not
//! counted; callgrind does not follow them). The runner is the debug build, as
//! `cargo xtask` runs it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::build::{Built, Tree};
use super::{Measured, Measurement, callgrind};
use crate::plan::{Exec, StepIo};

/// The name of the runner's case.
pub const RUNNER_CASE: &str = "runner/per-step";
/// Its threshold: the runner's threads make its count wobble by about half a percent.
const RUNNER_THRESHOLD: f64 = 5.0;
/// Steps added to measure one step's cost.
const RUNNER_STEPS: usize = 20;

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Only cases whose names contain one of these (all when empty).
    pub cases: Vec<String>,
    /// Native runs per case for the wall time.
    pub wall_runs: usize,
}

impl Options {
    /// Whether `case` is selected.
    pub fn selects(&self, case: &str) -> bool {
        self.cases.is_empty() || self.cases.iter().any(|c| case.contains(c.as_str()))
    }
}

/// The cases of a bench binary and their thresholds (`BIN --list`).
fn list(bin: &Path) -> anyhow::Result<Vec<(String, f64)>> {
    let text = output(&plain(bin, &["--list"]))?;
    parse_list(&text).with_context(|| format!("reading the case list of {}", bin.display()))
}

fn parse_list(text: &str) -> anyhow::Result<Vec<(String, f64)>> {
    text.lines()
        .map(|line| {
            let (name, threshold) = line
                .split_once('\t')
                .with_context(|| format!("`{line}` is not NAME<TAB>THRESHOLD"))?;
            let threshold = threshold
                .parse()
                .with_context(|| format!("threshold `{threshold}` of {name} is not a number"))?;
            Ok((name.to_string(), threshold))
        })
        .collect()
}

/// The median wall time from a `--wall` line: `NAME<TAB>MEDIAN_NS<TAB>MIN_NS<TAB>RUNS`.
fn parse_wall(text: &str) -> anyhow::Result<u64> {
    let median = text
        .split('\t')
        .nth(1)
        .with_context(|| format!("`{}` is not a wall-time line", text.trim()))?;
    median
        .parse()
        .with_context(|| format!("`{median}` is not nanoseconds"))
}

fn plain(program: &Path, args: &[&str]) -> Exec {
    Exec {
        program: program.as_os_str().to_owned(),
        args: args.iter().map(Into::into).collect(),
        env: Vec::new(),
        cwd: None,
        mkdirs: Vec::new(),
    }
}

/// Runs `exec` to completion and returns its standard output.
fn output(exec: &Exec) -> anyhow::Result<String> {
    let out = exec
        .to_command()
        .output()
        .with_context(|| format!("running {exec}"))?;
    if !out.status.success() {
        bail!(
            "{exec} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A file name for a case's callgrind output.
fn file_name(case: &str) -> String {
    format!("callgrind.{}.out", case.replace('/', "."))
}

/// Measures every selected case of `built` (a build of `tree`), writing callgrind's files
/// under `out_dir`.
///
/// # Errors
/// A binary or callgrind fails, or a case's check fails.
pub fn measure(
    io: &mut dyn StepIo,
    tree: &Tree,
    built: &Built,
    options: &Options,
    out_dir: &Path,
) -> anyhow::Result<Measured> {
    let mut measured = Measured {
        rev: tree.rev(),
        versions: tree.versions()?,
        cases: Vec::new(),
    };
    for bin in &built.benches {
        for (case, threshold) in list(bin)? {
            if !options.selects(&case) {
                continue;
            }
            io.check_interrupted()?;
            let out = out_dir.join(file_name(&case));
            io.run(&callgrind::command(bin, &case, &out))
                .with_context(|| format!("counting {case}"))?;
            let counts = callgrind::read(&out)?;
            let runs = options.wall_runs.to_string();
            let wall = parse_wall(&output(&plain(bin, &["--wall", &case, "--runs", &runs]))?)?;
            io.line(&format!(
                "{case}: {} instructions, {}",
                super::gate::thousands(counts.instructions),
                super::gate::wall(wall)
            ));
            measured.cases.push(Measurement {
                case,
                threshold,
                instructions: counts.instructions,
                estimated_cycles: counts.estimated_cycles,
                wall_ns: Some(wall),
            });
        }
    }
    if options.selects(RUNNER_CASE) {
        io.check_interrupted()?;
        let case = runner_case(io, tree, &built.xtask, options.wall_runs, out_dir)?;
        measured.cases.push(case);
    }
    Ok(measured)
}

/// `xtask run-steps` with `steps` steps of `sh -c true`, isolated from this run: its own
/// target directory (for its logs), its own tree, no CI reporting.
fn run_steps(tree: &Tree, xtask: &Path, steps: usize, scratch: &Path) -> Exec {
    let specs: Vec<String> = (1..=steps).map(|i| format!("exec:step{i}=true")).collect();
    let mut exec = plain(xtask, &[]);
    exec.args.push("run-steps".into());
    exec.args.extend(specs.iter().map(Into::into));
    isolate(exec, tree, scratch)
}

fn isolate(mut exec: Exec, tree: &Tree, scratch: &Path) -> Exec {
    exec.cwd = Some(tree.root.clone());
    exec = exec
        .env("CARGO_MANIFEST_DIR", tree.root.join("xtask"))
        .env("CARGO_TARGET_DIR", scratch);
    for key in ["GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "CI"] {
        exec.env.push((key.into(), None));
    }
    exec
}

fn runner_case(
    io: &mut dyn StepIo,
    tree: &Tree,
    xtask: &Path,
    wall_runs: usize,
    out_dir: &Path,
) -> anyhow::Result<Measurement> {
    let scratch = out_dir.join("runner-target");
    let mut counts = Vec::new();
    for steps in [1, RUNNER_STEPS + 1] {
        let out = out_dir.join(file_name(&format!("{RUNNER_CASE}.{steps}")));
        let inner = run_steps(tree, xtask, steps, &scratch);
        let mut exec = callgrind::whole_program(xtask, &[], &out);
        exec.args.extend(inner.args);
        exec.env = inner.env;
        exec.cwd = inner.cwd;
        io.run(&exec)
            .with_context(|| format!("counting the runner with {steps} steps"))?;
        counts.push(callgrind::read(&out)?);
    }
    let per_step = |a: u64, b: u64| b.saturating_sub(a) / RUNNER_STEPS as u64;
    let instructions = per_step(counts[0].instructions, counts[1].instructions);
    let estimated_cycles = counts[0]
        .estimated_cycles
        .zip(counts[1].estimated_cycles)
        .map(|(a, b)| per_step(a, b));
    let mut walls = Vec::new();
    for steps in [1, RUNNER_STEPS + 1] {
        let exec = run_steps(tree, xtask, steps, &scratch);
        let mut times = Vec::new();
        for _ in 0..wall_runs.max(1) {
            io.check_interrupted()?;
            let start = Instant::now();
            output(&exec).context("timing the runner")?;
            times.push(start.elapsed());
        }
        times.sort();
        walls.push(times[times.len() / 2]);
    }
    let wall = walls[1].saturating_sub(walls[0]) / RUNNER_STEPS as u32;
    io.line(&format!(
        "{RUNNER_CASE}: {} instructions, {} per step",
        super::gate::thousands(instructions),
        super::gate::wall(nanos(wall))
    ));
    Ok(Measurement {
        case: RUNNER_CASE.to_string(),
        threshold: RUNNER_THRESHOLD,
        instructions,
        estimated_cycles,
        wall_ns: Some(nanos(wall)),
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Where one tree's callgrind files go.
pub fn out_dir(label: &str) -> PathBuf {
    super::run_dir().join(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_gives_names_and_thresholds() {
        assert_eq!(
            parse_list("nri/mux-4mib\t2\nplugin/x\t5.5\n").expect("a case list"),
            [
                ("nri/mux-4mib".to_string(), 2.0),
                ("plugin/x".to_string(), 5.5)
            ]
        );
        let err = parse_list("no-tab\n").unwrap_err().to_string();
        assert!(err.contains("is not NAME<TAB>THRESHOLD"), "{err}");
    }

    #[test]
    fn the_wall_line_gives_the_median() {
        assert_eq!(
            parse_wall("a/b\t1500\t1200\t5\n").expect("a wall line"),
            1500
        );
        assert!(parse_wall("garbage").is_err());
    }

    #[test]
    fn cases_are_selected_by_part_of_their_name() {
        let all = Options {
            cases: vec![],
            wall_runs: 1,
        };
        assert!(all.selects("nri/mux-4mib"));
        let some = Options {
            cases: vec!["nri/".into(), "per-step".into()],
            wall_runs: 1,
        };
        assert!(some.selects("nri/mux-4mib") && some.selects(RUNNER_CASE));
        assert!(!some.selects("resctrl/parse-mon-data-30000-files"));
    }

    #[test]
    fn the_runner_is_measured_in_its_own_tree_without_ci_reporting() {
        let tree = Tree {
            root: PathBuf::from("/rev"),
            target_dir: Some(PathBuf::from("/rev-target")),
        };
        let exec = run_steps(
            &tree,
            Path::new("/rev-target/debug/xtask"),
            2,
            Path::new("/s"),
        );
        assert_eq!(
            exec.to_string(),
            "cd /rev && CARGO_MANIFEST_DIR=/rev/xtask CARGO_TARGET_DIR=/s -u GITHUB_ACTIONS \
             -u GITHUB_STEP_SUMMARY -u CI /rev-target/debug/xtask run-steps exec:step1=true \
             exec:step2=true"
        );
    }
}
