//! cargo-mutants (run with `--caught --unviable`, so every tested mutant prints a line):
//! each outcome line gets the running tally `[n/N: c caught, m missed, ...]`, since a run
//! takes long and a plain log says nothing of how far it got; the verdict's unaccepted
//! `missed:` lines become findings at the mutated line.

use std::path::PathBuf;

use super::cargo::parse_location;
use super::{OutputParser, Shown};
use crate::ansi;
use crate::record::{Digest, Finding, Severity};

/// Reads cargo-mutants' output and the `mutants` step's verdict lines.
pub struct Mutants {
    root: PathBuf,
    total: Option<usize>,
    caught: usize,
    missed: usize,
    unviable: usize,
    timeout: usize,
    findings: Vec<Finding>,
}

/// The parser for the `mutants` step, paths made relative to `root`.
pub fn parser(root: PathBuf) -> Box<dyn OutputParser> {
    Box::new(Mutants {
        root,
        total: None,
        caught: 0,
        missed: 0,
        unviable: 0,
        timeout: 0,
        findings: Vec::new(),
    })
}

impl Mutants {
    fn tally(&self) -> String {
        let done = self.caught + self.missed + self.unviable + self.timeout;
        let total = self
            .total
            .map_or_else(|| "?".to_string(), |n| n.to_string());
        format!(
            "[{done}/{total}: {} caught, {} missed, {} unviable, {} timeout]",
            self.caught, self.missed, self.unviable, self.timeout
        )
    }
}

impl OutputParser for Mutants {
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown)) {
        let plain = ansi::strip(line);
        if let Some(n) = plain
            .strip_prefix("Found ")
            .and_then(|rest| {
                rest.strip_suffix(" mutants to test")
                    .or(rest.strip_suffix(" mutant to test"))
            })
            .and_then(|n| n.trim().parse().ok())
        {
            self.total = Some(n);
        }
        let outcome = plain.split_whitespace().next().unwrap_or_default();
        let counter = match outcome {
            "caught" => Some(&mut self.caught),
            "MISSED" => Some(&mut self.missed),
            "unviable" => Some(&mut self.unviable),
            "TIMEOUT" => Some(&mut self.timeout),
            _ => None,
        };
        if let Some(counter) = counter {
            *counter += 1;
            emit(&format!("{line}  {}", self.tally()), Shown::Always);
            return;
        }
        if let Some(survivor) = plain.strip_prefix("missed: ")
            && !survivor.ends_with(" (allowed)")
        {
            let (place, mutation) = survivor.split_once(": ").unwrap_or((survivor, ""));
            self.findings.push(Finding {
                severity: Severity::Error,
                title: format!("mutant not caught: {mutation}"),
                location: parse_location(place, &self.root),
                detail: Vec::new(),
            });
        }
        emit(line, Shown::Always);
    }

    fn finish(&mut self, _failed: bool) -> Digest {
        let mut digest = Digest::default();
        if self.total.is_some() {
            digest.summary = Some(format!(
                "{} caught, {} missed, {} unviable, {} timeout",
                self.caught, self.missed, self.unviable, self.timeout
            ));
        }
        if !self.findings.is_empty() {
            digest.summary = Some(format!(
                "{} of {} missed mutants not in {}",
                self.findings.len(),
                self.missed,
                crate::mutants::ALLOWLIST
            ));
            digest.next =
                Some("cargo xtask mutants --file <FILE> (after adding tests)".to_string());
        }
        digest.findings = std::mem::take(&mut self.findings);
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(lines: &[&str]) -> (Vec<String>, Digest) {
        let mut parser = parser(PathBuf::from("/repo"));
        let mut shown = Vec::new();
        for line in lines {
            parser.read(line, &mut |out, _| shown.push(out.to_string()));
        }
        let digest = parser.finish(true);
        (shown, digest)
    }

    #[test]
    fn each_outcome_line_carries_the_running_tally() {
        let (shown, digest) = read_all(&[
            "Found 3 mutants to test",
            "ok       Unmutated baseline in 18s build + 0s test",
            "caught   src/a.rs:3:5: replace f -> bool with true in 5s build + 1s test",
            "MISSED   src/a.rs:9:1: replace g with () in 5s build + 1s test",
            "unviable src/a.rs:12:1: replace h -> Foo with Default::default() in 2s build",
        ]);
        assert_eq!(
            shown[1],
            "ok       Unmutated baseline in 18s build + 0s test"
        );
        assert!(
            shown[2].ends_with("[1/3: 1 caught, 0 missed, 0 unviable, 0 timeout]"),
            "{shown:?}"
        );
        assert!(
            shown[3].ends_with("[2/3: 1 caught, 1 missed, 0 unviable, 0 timeout]"),
            "{shown:?}"
        );
        assert!(
            shown[4].ends_with("[3/3: 1 caught, 1 missed, 1 unviable, 0 timeout]"),
            "{shown:?}"
        );
        assert_eq!(
            digest.summary.as_deref(),
            Some("1 caught, 1 missed, 1 unviable, 0 timeout")
        );
    }

    #[test]
    fn an_unaccepted_survivor_is_a_finding_at_its_line_and_an_accepted_one_is_not() {
        let (_, digest) = read_all(&[
            "Found 2 mutants to test",
            "MISSED   src/a.rs:9:1: replace g with () in 5s build + 1s test",
            "MISSED   src/a.rs:3:1: replace f with () in 5s build + 1s test",
            "missed: src/a.rs:9:1: replace g with ()",
            "missed: src/a.rs:3:1: replace f with () (allowed)",
        ]);
        assert_eq!(digest.findings.len(), 1, "{digest:?}");
        let finding = &digest.findings[0];
        assert_eq!(finding.title, "mutant not caught: replace g with ()");
        let location = finding.location.as_ref().expect("a location");
        assert_eq!((location.file.as_str(), location.line), ("src/a.rs", 9));
        assert_eq!(
            digest.summary.as_deref(),
            Some("1 of 2 missed mutants not in .config/mutants-allowed.txt")
        );
    }
}
