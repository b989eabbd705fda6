//! The hot-path benchmarks as named cases, and the command line `cargo xtask bench` drives
//! them by.
//!
//! Each file in `benches/` is one binary for one area (the plugin, NRI, resctrl) that hands
//! its [`Case`]s to [`main`]. A case sets up its input, then does the work under test
//! inside [`Measure::measure`], once. Only that work is counted: the runner starts the
//! binary under callgrind with collection off and toggled on at [`MEASURED_SYMBOL`], the
//! one function every measured closure runs inside, so setup and checks cost nothing.
//!
//! The command line of a bench binary:
//! - `--list`: one line per case, `NAME<TAB>THRESHOLD` (the percent of instruction growth
//!   the gate accepts);
//! - `--run NAME`: the case once (what callgrind counts);
//! - `--wall NAME --runs N`: the case N times, then `NAME<TAB>MEDIAN_NS<TAB>MIN_NS<TAB>N`;
//! - anything else (`cargo bench` passes `--bench`): every case 5 times, wall time printed
//!   for people.
//!
//! ```
//! use benches::{Case, Measure};
//!
//! fn sum(measure: &mut Measure) -> Result<(), String> {
//!     let input: Vec<u64> = (0..1_000).collect();
//!     let total: u64 = measure.measure(|| input.iter().sum());
//!     if total == 499_500 { Ok(()) } else { Err(format!("sum was {total}")) }
//! }
//!
//! const CASES: &[Case] = &[Case::new("demo/sum", sum).threshold(5.0)];
//! assert_eq!(benches::run(CASES, &["--run", "demo/sum"]), Ok(String::new()));
//! ```

#![warn(missing_docs)]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The function callgrind toggles collection at (`--toggle-collect=benches_measured`): not
/// mangled, so the runner can name it without knowing this crate's hash.
pub const MEASURED_SYMBOL: &str = "benches_measured";

/// The percent of instruction growth a case accepts unless it says otherwise.
pub const DEFAULT_THRESHOLD: f64 = 2.0;

/// Runs of each case when a person runs `cargo bench`.
const DEFAULT_RUNS: usize = 5;

/// One named benchmark.
#[derive(Clone, Copy)]
pub struct Case {
    /// Its name, `area/what`, as in the baseline file.
    pub name: &'static str,
    /// The instruction growth in percent above which the gate fails.
    pub threshold: f64,
    /// Sets up, measures once through the [`Measure`], and checks the result.
    pub run: fn(&mut Measure) -> Result<(), String>,
}

impl Case {
    /// A case with the default threshold.
    pub const fn new(name: &'static str, run: fn(&mut Measure) -> Result<(), String>) -> Self {
        Case {
            name,
            threshold: DEFAULT_THRESHOLD,
            run,
        }
    }

    /// The same case with its own threshold, for work whose count legitimately wobbles.
    pub const fn threshold(mut self, percent: f64) -> Self {
        self.threshold = percent;
        self
    }
}

/// What a case measures its work through, exactly once per run.
#[derive(Default)]
pub struct Measure {
    elapsed: Option<Duration>,
    times: usize,
}

impl Measure {
    /// Runs `work`, counting its instructions (under callgrind) and its wall time.
    pub fn measure<R>(&mut self, work: impl FnOnce() -> R) -> R {
        let mut work = Some(work);
        let mut result = None;
        let start = Instant::now();
        benches_measured(&mut || {
            if let Some(work) = work.take() {
                result = Some(black_box(work()));
            }
        });
        self.elapsed = Some(start.elapsed());
        self.times += 1;
        result.expect("the measured closure runs exactly once")
    }
}

/// The one function measured work runs inside (see [`MEASURED_SYMBOL`]).
#[unsafe(no_mangle)]
#[inline(never)]
pub fn benches_measured(work: &mut dyn FnMut()) {
    work();
}

/// Runs a case once and returns its wall time.
fn run_once(case: &Case) -> Result<Duration, String> {
    let mut measure = Measure::default();
    (case.run)(&mut measure).map_err(|why| format!("{}: {why}", case.name))?;
    match (measure.times, measure.elapsed) {
        (1, Some(elapsed)) => Ok(elapsed),
        (times, _) => Err(format!(
            "{}: measured {times} times; a case measures its work exactly once",
            case.name
        )),
    }
}

fn find<'a>(cases: &'a [Case], name: &str) -> Result<&'a Case, String> {
    cases.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
        format!("no case `{name}`; cases: {}", names.join(", "))
    })
}

/// Median and minimum of `runs` wall times of a case.
fn wall(case: &Case, runs: usize) -> Result<(Duration, Duration), String> {
    let mut times = (0..runs.max(1))
        .map(|_| run_once(case))
        .collect::<Result<Vec<_>, _>>()?;
    times.sort();
    Ok((times[times.len() / 2], times[0]))
}

/// Carries out one command line (without the program name) over `cases`, returning what
/// to print.
///
/// # Errors
/// An unknown case, a malformed command line, or a case whose check failed.
pub fn run(cases: &[Case], args: &[&str]) -> Result<String, String> {
    match args {
        ["--list"] => Ok(cases
            .iter()
            .map(|c| format!("{}\t{}\n", c.name, c.threshold))
            .collect()),
        ["--run", name] => run_once(find(cases, name)?).map(|_| String::new()),
        ["--wall", name, "--runs", runs] => {
            let case = find(cases, name)?;
            let runs: usize = runs
                .parse()
                .map_err(|_| format!("--runs `{runs}` is not a number"))?;
            let (median, min) = wall(case, runs)?;
            Ok(format!(
                "{}\t{}\t{}\t{runs}\n",
                case.name,
                median.as_nanos(),
                min.as_nanos()
            ))
        }
        [flag, ..] if matches!(*flag, "--list" | "--run" | "--wall") => Err(format!(
            "usage: --list | --run NAME | --wall NAME --runs N (got {})",
            args.join(" ")
        )),
        _ => {
            let mut out = String::new();
            for case in cases {
                let (median, min) = wall(case, DEFAULT_RUNS)?;
                out.push_str(&format!(
                    "{:<40} median {:>10.3} ms  min {:>10.3} ms  ({DEFAULT_RUNS} runs)\n",
                    case.name,
                    median.as_secs_f64() * 1e3,
                    min.as_secs_f64() * 1e3
                ));
            }
            Ok(out)
        }
    }
}

/// The `main` of a bench binary: [`run`] over the process's arguments.
pub fn main(cases: &[Case]) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(cases, &args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(measure: &mut Measure) -> Result<(), String> {
        let n = measure.measure(|| (0..100u32).count());
        if n == 100 {
            Ok(())
        } else {
            Err(format!("counted {n}"))
        }
    }

    fn measures_twice(measure: &mut Measure) -> Result<(), String> {
        measure.measure(|| ());
        measure.measure(|| ());
        Ok(())
    }

    fn fails(_: &mut Measure) -> Result<(), String> {
        Err("wrong answer".to_string())
    }

    const CASES: &[Case] = &[
        Case::new("a/counts", counts),
        Case::new("a/twice", measures_twice).threshold(5.5),
        Case::new("a/fails", fails),
    ];

    #[test]
    fn the_list_gives_each_case_with_its_threshold() {
        assert_eq!(
            run(CASES, &["--list"]),
            Ok("a/counts\t2\na/twice\t5.5\na/fails\t2\n".to_string())
        );
    }

    #[test]
    fn wall_prints_the_case_median_min_and_runs() {
        let out = run(CASES, &["--wall", "a/counts", "--runs", "3"]).expect("the case passes");
        let fields: Vec<&str> = out.trim_end().split('\t').collect();
        assert_eq!(fields.len(), 4, "{out}");
        assert_eq!((fields[0], fields[3]), ("a/counts", "3"));
        let median: u128 = fields[1].parse().expect("nanoseconds");
        let min: u128 = fields[2].parse().expect("nanoseconds");
        assert!(min <= median, "{out}");
    }

    #[test]
    fn a_case_that_measures_twice_is_refused() {
        let err = run(CASES, &["--run", "a/twice"]).unwrap_err();
        assert!(err.contains("measured 2 times"), "{err}");
    }

    #[test]
    fn a_failed_check_names_its_case() {
        assert_eq!(
            run(CASES, &["--run", "a/fails"]),
            Err("a/fails: wrong answer".to_string())
        );
    }

    #[test]
    fn an_unknown_case_lists_the_cases() {
        let err = run(CASES, &["--run", "b"]).unwrap_err();
        assert_eq!(err, "no case `b`; cases: a/counts, a/twice, a/fails");
    }

    #[test]
    fn a_malformed_command_line_shows_the_usage() {
        let err = run(CASES, &["--wall", "a/counts"]).unwrap_err();
        assert!(err.starts_with("usage: "), "{err}");
    }
}
