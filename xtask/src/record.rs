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
        }
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
