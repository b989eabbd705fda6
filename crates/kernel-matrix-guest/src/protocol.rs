//! What the init prints for the runner: lines `kmatrix: <event> ...` on the console, between
//! the kernel's and the tests' own output. The runner's parser in
//! `xtask/src/kernel_matrix/console.rs` reads exactly these.

use std::io::Write;

/// The prefix of every line meant for the runner.
pub const PREFIX: &str = "kmatrix: ";

/// How a test ended, as the runner records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Pass,
    /// It failed.
    Fail,
    /// libtest ignored it (only with a filter that selects ignored tests by mistake).
    Ignored,
}

impl Outcome {
    /// The word on the result line.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The guest's overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every test binary ran and every test passed.
    Pass,
    /// Something failed, or could not run.
    Fail,
}

impl Verdict {
    /// The word on the verdict line.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// Prints one protocol line (`kmatrix: <text>`) and flushes it, so a guest that dies right
/// after still shows it.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{PREFIX}{text}");
    let _ = out.flush();
}

/// The result line of one test: `result <binary>::<test> <outcome>`.
pub fn result_line(binary: &str, test: &str, outcome: Outcome) -> String {
    format!("result {binary}::{test} {}", outcome.word())
}
