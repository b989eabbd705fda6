//! Output parsers: what each tool's output means, kept with the steps that run the tool.
//!
//! A step names its parser ([`crate::plan::Step::parsed_by`]); the executor hands it every
//! line as it arrives. The parser says which lines a person should see (a passing test's
//! `PASS` line goes to the log only, unless `-v`), turns machine-readable messages back into
//! their human form, and, once the step ends, gives a [`Digest`]: the table's summary, the
//! findings with their file and line (the digest above the table, GitHub annotations), and
//! the command to run next. Reporters only present digests; they know no tool.

pub mod cargo;
pub mod image_build;
pub mod libtest;
pub mod mutants;
pub mod nextest;
pub mod rustfmt;

use std::path::Path;

use crate::record::Digest;

/// Who sees a line of a step's output as it runs. Every line goes to the step's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Everyone: diagnostics, failures, the tool's summary.
    Always,
    /// Only under `-v`: progress that says nothing when all is well (`PASS`, `Compiling`).
    Verbose,
}

/// How much of the steps' output a person asked to see (`-q`, default, `-v`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// None of it: step status lines, the digest and the table only.
    Quiet,
    /// What matters ([`Shown::Always`]).
    #[default]
    Normal,
    /// All of it.
    Verbose,
}

impl Verbosity {
    /// Whether a line marked `shown` is printed.
    pub fn shows(self, shown: Shown) -> bool {
        match self {
            Verbosity::Quiet => false,
            Verbosity::Normal => shown == Shown::Always,
            Verbosity::Verbose => true,
        }
    }
}

/// Reads one tool's output while its step runs.
pub trait OutputParser: Send {
    /// Reads one line of output and emits what stands for it, marked with who sees it:
    /// usually the line itself, the human form of a machine-readable message, or nothing.
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown));

    /// What the output said, once the step ended; `failed` when it exited unsuccessfully.
    fn finish(&mut self, failed: bool) -> Digest;
}

/// Makes a fresh parser for each run of a step.
pub type ParserFactory = dyn Fn() -> Box<dyn OutputParser> + Send + Sync;

/// `path` relative to `root` when it lies inside it (annotations need repository paths),
/// as given otherwise.
pub fn relative(path: &str, root: &Path) -> String {
    Path::new(path)
        .strip_prefix(root)
        .map(|rel| rel.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.trim_start_matches("./").to_string())
}

/// `N thing` or `N things`.
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Feeds `text` line by line to `parser`; returns what it showed and logged.
    pub fn feed(parser: &mut dyn OutputParser, text: &str) -> (Vec<String>, Vec<String>) {
        let (mut shown, mut logged) = (Vec::new(), Vec::new());
        for line in text.lines() {
            parser.read(line, &mut |out, who| {
                logged.push(out.to_string());
                if who == Shown::Always {
                    shown.push(out.to_string());
                }
            });
        }
        (shown, logged)
    }

    #[test]
    fn paths_inside_the_workspace_become_relative() {
        let root = Path::new("/work/repo");
        assert_eq!(relative("/work/repo/src/lib.rs", root), "src/lib.rs");
        assert_eq!(relative("./src/lib.rs", root), "src/lib.rs");
        assert_eq!(relative("/elsewhere/x.rs", root), "/elsewhere/x.rs");
    }

    #[test]
    fn counts_are_singular_or_plural() {
        assert_eq!(count(1, "clippy error"), "1 clippy error");
        assert_eq!(count(3, "clippy error"), "3 clippy errors");
    }
}
