//! The records of a run: what happened to each step. Produced by the executor, read by the
//! reporters and `main`; they depend on nothing else of the runner.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What happened to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It ran and succeeded.
    Ok,
    /// It failed; the reason names the command or check.
    Failed(String),
    /// It did not run; the reason says why.
    Skipped(String),
    /// A termination request stopped it.
    Interrupted,
}

impl Status {
    /// Whether this status makes the whole run fail.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Failed(_) | Status::Interrupted)
    }

    /// "ok", "failed: ...", "skipped: ...", "interrupted".
    pub fn describe(&self) -> String {
        match self {
            Status::Ok => "ok".to_string(),
            Status::Failed(reason) => format!("failed: {reason}"),
            Status::Skipped(reason) => format!("skipped: {reason}"),
            Status::Interrupted => "interrupted".to_string(),
        }
    }
}

/// The record of one step.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// The step's name.
    pub name: String,
    /// What happened.
    pub status: Status,
    /// Wall time; zero for steps that did not run.
    pub elapsed: Duration,
    /// The full output of the step, if it ran.
    pub log: Option<PathBuf>,
    /// Per-test JUnit results the step wrote, if any.
    pub junit: Option<PathBuf>,
    /// What the step's output parser made of its output (empty for steps without one).
    pub digest: Digest,
    /// The directory where the step's programs kept debugging material, if they kept any.
    pub artifacts: Option<PathBuf>,
    /// For a step passed from the result cache instead of running: how long ago its green
    /// run was (`3 min ago`).
    pub cached: Option<String>,
}

impl StepResult {
    /// A record with `status` and nothing else yet: no time, log or JUnit.
    pub fn new(name: &str, status: Status) -> Self {
        StepResult {
            name: name.to_string(),
            status,
            elapsed: Duration::ZERO,
            log: None,
            junit: None,
            digest: Digest::default(),
            artifacts: None,
            cached: None,
        }
    }
}

/// What a step's output said, as its tool's parser read it: the counts, the diagnostics or
/// failing tests that matter, and what to run next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    /// One line for the table, e.g. `2 of 40 tests failed, 1 skipped` or `3 clippy
    /// errors`: it replaces the exit status of a failed step and follows the `ok` of a
    /// passed one.
    pub summary: Option<String>,
    /// The diagnostics or failing tests, in the order the tool reported them.
    pub findings: Vec<Finding>,
    /// The command to run next, e.g. `cargo xtask fmt --fix`.
    pub next: Option<String>,
}

/// One diagnostic or failing test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// One line naming it: "unneeded `return` statement", "tests::adds failed".
    pub title: String,
    /// Where it points, when the tool said.
    pub location: Option<Location>,
    /// The lines that explain it (the assertion, the rendered diagnostic), without escape
    /// sequences.
    pub detail: Vec<String>,
}

/// How bad a finding is (the annotation it becomes under GitHub Actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// It made the step fail.
    Error,
    /// Worth a look; does not fail the step by itself.
    Warning,
}

/// A place in a source file, relative to the workspace root when it lies inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, when known.
    pub column: Option<u32>,
}

impl std::fmt::Display for Location {
    /// `file:line[:column]`, the form editors and terminals open.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// Whether any step failed (or was interrupted).
pub fn any_failed(results: &[StepResult]) -> bool {
    results.iter().any(|r| r.status.is_failure())
}

/// Whether the run was interrupted.
pub fn interrupted(results: &[StepResult]) -> bool {
    results.iter().any(|r| r.status == Status::Interrupted)
}

/// The log of a step, for reporters that show a failed step's output.
pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
