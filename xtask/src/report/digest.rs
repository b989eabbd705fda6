//! The failure digest printed right above the final table by every style: for each failed
//! step, the findings that matter (failing tests with their assertion, the first
//! diagnostics) or else the end of its output, where its full log is, and what to run next.

use std::fmt::Write;
use std::path::Path;

use crate::ansi;
use crate::record::{StepResult, read_log};

/// How many findings of one step the digest lists (the log has all of them).
const MAX_FINDINGS: usize = 5;
/// How many lines of one finding's detail the digest shows.
const MAX_DETAIL: usize = 8;
/// How many lines from the end of a failed step's output stand in for findings when its
/// output was not understood.
const TAIL_LINES: usize = 10;

/// The digest of `results`; empty when nothing failed.
pub fn render(results: &[StepResult]) -> String {
    let failed: Vec<&StepResult> = results.iter().filter(|r| r.status.is_failure()).collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(out, "what failed:");
    for result in failed {
        let _ = writeln!(out, "\n{}: {}", result.name, result.status.describe());
        let digest = &result.digest;
        for finding in digest.findings.iter().take(MAX_FINDINGS) {
            match &finding.location {
                Some(location) => {
                    let _ = writeln!(out, "  {location}: {}", finding.title);
                }
                None => {
                    let _ = writeln!(out, "  {}", finding.title);
                }
            }
            for line in finding.detail.iter().take(MAX_DETAIL) {
                let _ = writeln!(out, "      {}", ansi::strip(line).trim_end());
            }
        }
        if digest.findings.len() > MAX_FINDINGS {
            let _ = writeln!(
                out,
                "  ... and {} more (in the log)",
                digest.findings.len() - MAX_FINDINGS
            );
        }
        if digest.findings.is_empty()
            && let Some(log) = &result.log
        {
            let tail = tail_lines(&read_log(log));
            if !tail.is_empty() {
                let _ = writeln!(out, "  last lines of its output:");
                for line in tail {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        if let Some(log) = &result.log {
            let _ = writeln!(out, "  full log: {}", shown_path(log));
        }
        if let Some(dir) = &result.artifacts {
            let _ = writeln!(out, "  kept for debugging: {}", shown_path(dir));
        }
        if let Some(next) = &digest.next {
            let _ = writeln!(out, "  run next: {next}");
        }
    }
    out
}

/// The last non-empty lines of `output`, without escape sequences.
fn tail_lines(output: &str) -> Vec<String> {
    let lines: Vec<String> = output
        .lines()
        .map(|line| ansi::strip(line).trim_end().to_string())
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec()
}

/// A log path as short as it can be: relative to the current directory when inside it.
fn shown_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Digest, Finding, Location, Severity, Status};

    #[test]
    fn a_passing_run_has_no_digest() {
        let results = vec![StepResult::new("fmt", Status::Ok)];
        assert_eq!(render(&results), "");
    }

    #[test]
    fn each_failed_step_lists_its_findings_log_and_next_command() {
        let mut unit = StepResult::new("unit", Status::Failed("2 of 3 tests failed".into()));
        unit.log = Some("/nowhere/target/xtask/logs/unit.log".into());
        unit.digest = Digest {
            summary: Some("2 of 3 tests failed".into()),
            findings: vec![Finding {
                severity: Severity::Error,
                title: "broken tests::adds_wrongly".into(),
                location: Some(Location {
                    file: "src/lib.rs".into(),
                    line: 21,
                    column: Some(9),
                }),
                detail: vec![
                    "assertion `left == right` failed".into(),
                    "  left: 4".into(),
                ],
            }],
            next: Some("cargo xtask unit -- tests::adds_wrongly".into()),
        };
        let text = render(&[StepResult::new("fmt", Status::Ok), unit]);
        assert_eq!(
            text,
            "what failed:\n\
             \n\
             unit: failed: 2 of 3 tests failed\n  \
             src/lib.rs:21:9: broken tests::adds_wrongly\n      \
             assertion `left == right` failed\n      \
             \x20 left: 4\n  \
             full log: /nowhere/target/xtask/logs/unit.log\n  \
             run next: cargo xtask unit -- tests::adds_wrongly\n"
        );
    }

    #[test]
    fn a_step_without_findings_shows_the_end_of_its_output() {
        let dir = tempfile::tempdir().expect("a scratch dir");
        let log = dir.path().join("x.log");
        let output: String = (1..=15).map(|n| format!("line {n}\n")).collect();
        std::fs::write(&log, format!("{output}\x1b[31merror: it broke\x1b[0m\n"))
            .expect("writing the log");
        let mut result = StepResult::new("x", Status::Failed("`sh` failed: exit status 3".into()));
        result.log = Some(log);
        let text = render(&[result]);
        assert!(text.contains("\n      line 7\n"), "{text}");
        assert!(!text.contains("line 6\n"), "{text}");
        assert!(
            text.contains("      error: it broke\n  full log: "),
            "{text}"
        );
    }
}
