//! `cargo test` (doctests, and unit tests where nextest is missing): failing tests by name
//! with their panic message, libtest's counts summed over its binaries, compile errors, and
//! the command that reruns the failing tests.

use std::path::PathBuf;

use super::cargo::{
    DETAIL_LINES, HumanDiagnostics, MissingSubcommand, is_progress, parse_location,
};
use super::{OutputParser, Shown, count};
use crate::ansi;
use crate::record::{Digest, Finding, Severity};

/// A failing test being read.
struct Failing {
    name: String,
    /// The crate whose doctests it is (from the `Doc-tests <crate>` line before it).
    doc_crate: Option<String>,
    finding: Finding,
}

/// Reads libtest's output.
pub struct Libtest {
    root: PathBuf,
    rerun: Option<String>,
    doc_crate: Option<String>,
    failing: Vec<Failing>,
    /// The failing test whose `---- NAME stdout ----` section is being read, and whether its
    /// panic message is.
    section: Option<(usize, bool)>,
    passed: usize,
    failed: usize,
    ignored: usize,
    compile: HumanDiagnostics,
    missing: MissingSubcommand,
}

/// The parser for `cargo test` runs; `rerun` takes test-name filters after `--`.
pub fn parser(root: PathBuf, rerun: Option<&str>) -> Box<dyn OutputParser> {
    Box::new(Libtest {
        compile: HumanDiagnostics::new(root.clone()),
        root,
        rerun: rerun.map(str::to_string),
        doc_crate: None,
        failing: Vec::new(),
        section: None,
        passed: 0,
        failed: 0,
        ignored: 0,
        missing: MissingSubcommand::default(),
    })
}

/// `test result: FAILED. 0 passed; 1 failed; 2 ignored; ...` → (passed, failed, ignored).
fn result_line(plain: &str) -> Option<(usize, usize, usize)> {
    let rest = plain.strip_prefix("test result: ")?;
    let (_, tally) = rest.split_once(". ")?;
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for part in tally.split("; ") {
        let Some((n, what)) = part.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse() else { continue };
        match what {
            "passed" => passed = n,
            "failed" => failed = n,
            "ignored" => ignored = n,
            _ => {}
        }
    }
    Some((passed, failed, ignored))
}

impl Libtest {
    /// A doctest's name says where it is: `src/lib.rs - add (line 3)`.
    fn doctest_location(&self, name: &str) -> Option<crate::record::Location> {
        let (file, rest) = name.split_once(" - ")?;
        let line = rest.rsplit_once("(line ")?.1.strip_suffix(')')?;
        parse_location(&format!("{file}:{line}"), &self.root)
    }
}

impl OutputParser for Libtest {
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown)) {
        let plain = ansi::strip(line);
        let trimmed = plain.trim();
        // Until something fails, libtest's framing says nothing the summary will not.
        let framing = self.failing.is_empty()
            && (trimmed.is_empty()
                || trimmed.starts_with("Doc-tests ")
                || trimmed.starts_with("Running ")
                || trimmed.starts_with("test result: ok.")
                || trimmed.starts_with("all doctests ran in")
                || (trimmed.starts_with("running ") && trimmed.ends_with(" test"))
                || (trimmed.starts_with("running ") && trimmed.ends_with(" tests")));
        let quiet = (plain.starts_with("test ")
            && (plain.ends_with(" ... ok") || plain.ends_with(" ... ignored")))
            || framing
            || is_progress(&plain);
        emit(line, if quiet { Shown::Verbose } else { Shown::Always });
        self.missing.read(&plain);
        if let Some(name) = plain.trim_start().strip_prefix("Doc-tests ") {
            self.doc_crate = Some(name.trim().to_string());
            return;
        }
        if let Some(name) = plain
            .strip_prefix("test ")
            .and_then(|rest| rest.strip_suffix(" ... FAILED"))
        {
            let location = self
                .doctest_location(name)
                .filter(|_| self.doc_crate.is_some());
            self.failing.push(Failing {
                name: name.to_string(),
                doc_crate: self.doc_crate.clone(),
                finding: Finding {
                    severity: Severity::Error,
                    title: name.to_string(),
                    location,
                    detail: Vec::new(),
                },
            });
            return;
        }
        if let Some(name) = plain
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"))
        {
            self.section = self
                .failing
                .iter()
                .position(|f| f.name == name)
                .map(|at| (at, false));
            return;
        }
        if let Some(counts) = result_line(&plain) {
            self.passed += counts.0;
            self.failed += counts.1;
            self.ignored += counts.2;
            self.section = None;
            return;
        }
        if plain == "failures:" {
            self.section = None;
        }
        if let Some((at, in_panic)) = &mut self.section {
            let finding = &mut self.failing[*at].finding;
            if *in_panic {
                if plain.trim().is_empty()
                    || plain.starts_with("stack backtrace:")
                    || plain.starts_with("note: ")
                {
                    *in_panic = false;
                } else if finding.detail.len() < DETAIL_LINES {
                    finding.detail.push(plain.clone());
                }
            } else if plain.starts_with("thread '")
                && let Some((_, place)) = plain.split_once(" panicked at ")
            {
                *in_panic = true;
                // A doctest panics in a generated file; its name already says where it is.
                if finding.location.is_none() {
                    finding.location = parse_location(place.trim_end_matches(':'), &self.root);
                }
            }
            return;
        }
        if self.failing.is_empty() {
            self.compile.read(&plain);
        }
    }

    fn finish(&mut self, failed: bool) -> Digest {
        let mut digest = Digest::default();
        if self.missing.apply(&mut digest) {
            return digest;
        }
        let total = self.passed + self.failed;
        if failed && self.failed > 0 {
            let mut summary = format!("{} of {} failed", self.failed, count(total, "test"));
            if self.ignored > 0 {
                summary.push_str(&format!(", {} ignored", self.ignored));
            }
            digest.summary = Some(summary);
        } else if !failed && total + self.ignored > 0 {
            let mut summary = format!("{} passed", self.passed);
            if self.ignored > 0 {
                summary.push_str(&format!(", {} ignored", self.ignored));
            }
            digest.summary = Some(summary);
        }
        let compile_errors: Vec<Finding> = self
            .compile
            .findings()
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if failed && self.failing.is_empty() && !compile_errors.is_empty() {
            digest.summary = Some(format!(
                "tests did not compile: {}",
                count(compile_errors.len(), "error")
            ));
            digest.next = self.rerun.clone();
            digest.findings = compile_errors;
            return digest;
        }
        if let Some(first) = self.failing.first() {
            digest.next = match (&first.doc_crate, &self.rerun) {
                // A doctest's name is no filter nextest understands: rerun it with rustdoc.
                (Some(krate), _) => Some(format!(
                    "cargo test --locked --all-features --doc -p {krate} -- '{}'",
                    first.name.replace('\'', r"'\''")
                )),
                (None, Some(rerun)) => {
                    let names: Vec<&str> = self.failing.iter().map(|f| f.name.as_str()).collect();
                    Some(format!("{rerun} -- {}", names.join(" ")))
                }
                (None, None) => None,
            };
        }
        digest.findings = self.failing.drain(..).map(|f| f.finding).collect();
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::feed;

    const DOCTEST: &str = include_str!("fixtures/doctest-failure.txt");

    #[test]
    fn a_failing_doctest_points_at_its_line_with_its_assertion() {
        let mut parser = parser(
            PathBuf::from("/tmp/scratch16/broken"),
            Some("cargo xtask unit"),
        );
        let (shown, _) = feed(parser.as_mut(), DOCTEST);
        let digest = parser.finish(true);
        assert_eq!(digest.summary.as_deref(), Some("1 of 1 test failed"));
        assert_eq!(digest.findings.len(), 1);
        let finding = &digest.findings[0];
        assert_eq!(finding.title, "src/lib.rs - add (line 3)");
        assert_eq!(
            finding.location.as_ref().unwrap().to_string(),
            "src/lib.rs:3"
        );
        assert_eq!(
            finding.detail,
            ["assertion `left == right` failed", "  left: 2", " right: 3"]
        );
        assert_eq!(
            digest.next.as_deref(),
            Some(
                "cargo test --locked --all-features --doc -p broken -- 'src/lib.rs - add (line 3)'"
            )
        );
        assert!(shown.iter().any(|l| l.ends_with("... FAILED")));
    }

    #[test]
    fn a_passing_run_shows_nothing_but_cargo_finishing() {
        let mut parser = parser(PathBuf::from("/r"), None);
        let (shown, _) = feed(
            parser.as_mut(),
            "    Finished `test` profile [unoptimized + debuginfo] target(s) in 7.21s\n   Doc-tests cause_chain\n\n\
             running 1 test\ntest src/lib.rs - (line 3) ... ok\n\n\
             test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n\
             all doctests ran in 0.24s; merged doctests compilation took 0.24s\n",
        );
        assert_eq!(
            shown,
            ["    Finished `test` profile [unoptimized + debuginfo] target(s) in 7.21s"]
        );
        assert_eq!(parser.finish(false).summary.as_deref(), Some("1 passed"));
    }

    #[test]
    fn counts_are_summed_over_binaries() {
        let mut parser = parser(PathBuf::from("/r"), None);
        feed(
            parser.as_mut(),
            "test a ... ok\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n\
             test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
        );
        assert_eq!(
            parser.finish(false).summary.as_deref(),
            Some("5 passed, 1 ignored")
        );
    }
}
