//! `cargo nextest run`: failing tests by name with their panic message and `panicked at`
//! location, nextest's own counts for the table, compile errors of the test build, and the
//! command that reruns just the failing tests.

use std::path::PathBuf;

use super::cargo::{
    DETAIL_LINES, HumanDiagnostics, MissingSubcommand, is_progress, parse_location,
};
use super::{OutputParser, Shown, count};
use crate::ansi;
use crate::record::{Digest, Finding, Severity};

/// The status words nextest gives a test that did not pass.
const FAILURE_WORDS: &[&str] = &[
    "FAIL",
    "TIMEOUT",
    "SIGSEGV",
    "SIGABRT",
    "SIGKILL",
    "SIGTERM",
    "SIGBUS",
    "ABORT",
    "LEAK-FAIL",
];

/// nextest's `Summary` line: `3 tests run: 1 passed, 2 failed, 1 skipped`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    run: usize,
    /// More than `run` when a failure stopped the run early.
    planned: usize,
    passed: usize,
    skipped: usize,
    flaky: usize,
}

/// A failing test being read.
struct Failing {
    binary: String,
    test: String,
    finding: Finding,
    /// The indentation of its `panicked at` line while its message is being read.
    reading_panic: Option<usize>,
}

/// Reads nextest's output.
pub struct Nextest {
    root: PathBuf,
    rerun: Option<String>,
    failing: Vec<Failing>,
    counts: Option<Counts>,
    no_tests: bool,
    compile: HumanDiagnostics,
    missing: MissingSubcommand,
}

/// The parser for nextest runs; `rerun` is the command that takes test-name filters after
/// `--` (e.g. `cargo xtask unit`), if the step has one.
pub fn parser(root: PathBuf, rerun: Option<&str>) -> Box<dyn OutputParser> {
    Box::new(Nextest {
        compile: HumanDiagnostics::new(root.clone()),
        root,
        rerun: rerun.map(str::to_string),
        failing: Vec::new(),
        counts: None,
        no_tests: false,
        missing: MissingSubcommand::default(),
    })
}

/// `FAIL [   0.082s] (2/3) broken tests::panics_plainly` → ("broken", "tests::panics_plainly").
fn failure_line(plain: &str) -> Option<(String, String)> {
    let trimmed = plain.trim_start();
    let word_end = trimmed.find(" [")?;
    let word = trimmed[..word_end]
        .trim_start_matches("TRY ")
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    if !FAILURE_WORDS.contains(&word) {
        return None;
    }
    let after_time = &trimmed[trimmed.find("] ")? + 2..];
    let mut words = after_time.split_whitespace().rev();
    let test = words.next()?.to_string();
    let binary = words.next().filter(|w| !w.starts_with('('))?.to_string();
    Some((binary, test))
}

/// `3 tests run: 1 passed, 2 failed, 1 skipped` (after `Summary [ 0.1s] `).
fn summary_line(plain: &str) -> Option<Counts> {
    let rest = plain.trim_start().strip_prefix("Summary [")?;
    let rest = &rest[rest.find("] ")? + 2..];
    let (run, tally) = rest.split_once(" run: ")?;
    // `8/188 tests run` when a failure stopped the run early.
    let run = run.split_whitespace().next()?;
    let (ran, planned) = run.split_once('/').unwrap_or((run, run));
    let mut counts = Counts {
        run: ran.parse().ok()?,
        planned: planned.parse().ok()?,
        ..Counts::default()
    };
    for part in tally.split(", ") {
        let (n, what) = part.split_once(' ')?;
        let n: usize = n.parse().ok()?;
        match what.split_whitespace().next() {
            Some("passed") => counts.passed = n,
            Some("skipped") => counts.skipped = n,
            Some("flaky") => counts.flaky = n,
            _ => {}
        }
    }
    Some(counts)
}

impl Nextest {
    fn read_panic(&mut self, plain: &str) {
        let Some(failing) = self.failing.last_mut() else {
            return;
        };
        if let Some(indent) = failing.reading_panic {
            let body = plain.get(indent..).unwrap_or("");
            let ends = plain.trim().is_empty()
                || plain.len() - plain.trim_start().len() < indent
                || body.starts_with("stack backtrace:")
                || body.starts_with("note: ");
            if ends {
                failing.reading_panic = None;
            } else if failing.finding.detail.len() < DETAIL_LINES {
                failing.finding.detail.push(body.to_string());
            }
            return;
        }
        // `thread 'tests::x' (12144) panicked at src/lib.rs:21:9:`
        let trimmed = plain.trim_start();
        if trimmed.starts_with("thread '")
            && let Some((_, place)) = trimmed.split_once(" panicked at ")
            && failing.finding.location.is_none()
        {
            failing.finding.location = parse_location(place.trim_end_matches(':'), &self.root);
            failing.reading_panic = Some(plain.len() - trimmed.len());
        }
    }
}

impl OutputParser for Nextest {
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown)) {
        let plain = ansi::strip(line);
        let trimmed = plain.trim_start();
        let quiet = trimmed.starts_with("PASS [")
            || trimmed.starts_with("SKIP [")
            || trimmed.starts_with("START ")
            || is_progress(&plain);
        emit(line, if quiet { Shown::Verbose } else { Shown::Always });
        self.missing.read(&plain);
        if let Some((binary, test)) = failure_line(&plain) {
            // Failures are listed again after the summary (and their output shown twice
            // under `immediate-final`): one finding per test, its output read once.
            if let Some(at) = self
                .failing
                .iter()
                .position(|f| f.test == test && f.binary == binary)
            {
                let again = self.failing.remove(at);
                self.failing.push(again);
            } else {
                self.failing.push(Failing {
                    finding: Finding {
                        severity: Severity::Error,
                        title: format!("{binary} {test}"),
                        location: None,
                        detail: Vec::new(),
                    },
                    binary,
                    test,
                    reading_panic: None,
                });
            }
            return;
        }
        if let Some(counts) = summary_line(&plain) {
            self.counts = Some(counts);
            return;
        }
        if trimmed.starts_with("error: no tests to run") {
            self.no_tests = true;
        }
        if self.counts.is_none() && self.failing.is_empty() {
            self.compile.read(&plain);
        }
        self.read_panic(&plain);
    }

    fn finish(&mut self, failed: bool) -> Digest {
        let mut digest = Digest::default();
        if self.missing.apply(&mut digest) {
            return digest;
        }
        let compile_errors: Vec<Finding> = self
            .compile
            .findings()
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        match &self.counts {
            Some(counts) if failed && self.no_tests => {
                digest.summary = Some(format!("no tests to run ({} skipped)", counts.skipped));
            }
            Some(counts) if failed && counts.passed < counts.run => {
                let mut summary = format!(
                    "{} of {} failed",
                    counts.run - counts.passed,
                    count(counts.run, "test")
                );
                if counts.planned > counts.run {
                    summary.push_str(&format!(" ({} not run)", counts.planned - counts.run));
                }
                if counts.skipped > 0 {
                    summary.push_str(&format!(", {} skipped", counts.skipped));
                }
                digest.summary = Some(summary);
            }
            Some(counts) if !failed => {
                let mut summary = format!("{} passed", counts.passed);
                if counts.flaky > 0 {
                    summary.push_str(&format!(" ({} flaky)", counts.flaky));
                }
                if counts.skipped > 0 {
                    summary.push_str(&format!(", {} skipped", counts.skipped));
                }
                digest.summary = Some(summary);
            }
            None if failed && !compile_errors.is_empty() => {
                digest.summary = Some(format!(
                    "tests did not compile: {}",
                    count(compile_errors.len(), "error")
                ));
                digest.next = self.rerun.clone();
            }
            _ => {}
        }
        if !self.failing.is_empty()
            && let Some(rerun) = &self.rerun
        {
            let names: Vec<&str> = self.failing.iter().map(|f| f.test.as_str()).collect();
            digest.next = Some(format!("{rerun} -- {}", names.join(" ")));
        }
        digest.findings = if self.failing.is_empty() {
            compile_errors
        } else {
            self.failing.drain(..).map(|f| f.finding).collect()
        };
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::feed;

    const FAILURES: &str = include_str!("fixtures/nextest-failures.txt");
    const COMPILE_ERROR: &str = include_str!("fixtures/nextest-compile-error.txt");

    fn unit() -> Box<dyn OutputParser> {
        parser(
            PathBuf::from("/tmp/scratch16/broken"),
            Some("cargo xtask unit"),
        )
    }

    #[test]
    fn failing_tests_are_named_with_their_assertion_and_panic_location() {
        let mut parser = unit();
        feed(parser.as_mut(), FAILURES);
        let digest = parser.finish(true);
        let found: Vec<(String, String)> = digest
            .findings
            .iter()
            .map(|f| (f.title.clone(), f.location.as_ref().unwrap().to_string()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "broken tests::panics_plainly".into(),
                    "src/lib.rs:26:9".into()
                ),
                (
                    "broken tests::adds_wrongly".into(),
                    "src/lib.rs:21:9".into()
                ),
            ]
        );
        assert_eq!(digest.findings[0].detail, ["boom at runtime"]);
        assert_eq!(
            digest.findings[1].detail,
            [
                "assertion `left == right` failed: two and two",
                "  left: 4",
                " right: 5"
            ]
        );
    }

    #[test]
    fn the_summary_agrees_with_nextest_skipped_tests_included() {
        let mut parser = unit();
        feed(parser.as_mut(), FAILURES);
        let digest = parser.finish(true);
        // nextest: "3 tests run: 1 passed, 2 failed, 1 skipped".
        assert_eq!(
            digest.summary.as_deref(),
            Some("2 of 3 tests failed, 1 skipped")
        );
        assert_eq!(
            digest.next.as_deref(),
            Some("cargo xtask unit -- tests::panics_plainly tests::adds_wrongly")
        );
    }

    #[test]
    fn passing_tests_are_log_only_and_failures_shown() {
        let mut parser = unit();
        let (shown, logged) = feed(parser.as_mut(), FAILURES);
        let plain: Vec<String> = shown.iter().map(|l| ansi::strip(l)).collect();
        assert!(
            !plain.iter().any(|l| l.trim_start().starts_with("PASS [")),
            "{plain:#?}"
        );
        assert!(
            !plain
                .iter()
                .any(|l| l.trim_start().starts_with("Compiling"))
        );
        assert!(plain.iter().any(|l| l.trim_start().starts_with("FAIL [")));
        assert!(
            plain
                .iter()
                .any(|l| l.trim_start().starts_with("Summary ["))
        );
        assert_eq!(logged.len(), FAILURES.lines().count());
    }

    #[test]
    fn a_passing_run_reports_nextest_counts() {
        let mut parser = unit();
        feed(
            parser.as_mut(),
            "        PASS [   0.005s] (1/1) broken tests::adds\n────────────\n     Summary [   0.010s] 1 test run: 1 passed, 3 skipped\n",
        );
        let digest = parser.finish(false);
        assert_eq!(digest.summary.as_deref(), Some("1 passed, 3 skipped"));
        assert!(digest.findings.is_empty());
    }

    #[test]
    fn a_test_build_that_does_not_compile_points_at_the_error() {
        let mut parser = unit();
        feed(parser.as_mut(), COMPILE_ERROR);
        let digest = parser.finish(true);
        assert_eq!(
            digest.summary.as_deref(),
            Some("tests did not compile: 1 error")
        );
        assert_eq!(digest.findings.len(), 1);
        assert_eq!(
            digest.findings[0].location.as_ref().unwrap().to_string(),
            "src/lib.rs:16:25"
        );
        assert_eq!(digest.next.as_deref(), Some("cargo xtask unit"));
    }

    #[test]
    fn missing_nextest_names_its_install() {
        let mut parser = unit();
        feed(parser.as_mut(), "error: no such command: `nextest`\n");
        let digest = parser.finish(true);
        assert_eq!(
            digest.next.as_deref(),
            Some(crate::output::cargo::NEXTEST_INSTALL)
        );
    }

    #[test]
    fn a_run_cut_short_counts_the_tests_that_ran() {
        let counts =
            summary_line("     Summary [   4.321s] 8/188 tests run: 6 passed, 2 failed, 0 skipped");
        assert_eq!(
            counts,
            Some(Counts {
                run: 8,
                planned: 188,
                passed: 6,
                skipped: 0,
                flaky: 0
            })
        );
    }

    #[test]
    fn status_lines_of_other_failures_are_failures_too() {
        assert_eq!(
            failure_line("     TIMEOUT [ 300.002s] (4/9) nri e2e::slow"),
            Some(("nri".into(), "e2e::slow".into()))
        );
        assert_eq!(
            failure_line("  TRY 2 FAIL [   0.1s] xtask::binary a_test"),
            Some(("xtask::binary".into(), "a_test".into()))
        );
        assert_eq!(
            failure_line("        PASS [   0.006s] (1/3) broken tests::adds"),
            None
        );
    }
}
