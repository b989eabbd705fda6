//! `cargo fmt -- --check`: each `Diff in FILE:LINE:` hunk becomes a finding at its first
//! changed line, and the next command is `cargo xtask fmt --fix`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::cargo::{DETAIL_LINES, HumanDiagnostics, MissingSubcommand, parse_location};
use super::{OutputParser, Shown, count};
use crate::ansi;
use crate::record::{Digest, Finding, Location, Severity};

/// Reads rustfmt's check output.
pub struct Rustfmt {
    root: PathBuf,
    /// The hunk being read, and how many context lines preceded its first change.
    hunk: Option<(Finding, Option<u32>)>,
    findings: Vec<Finding>,
    /// Syntax errors rustfmt reports like rustc does.
    errors: HumanDiagnostics,
    missing: MissingSubcommand,
}

/// The parser for `cargo fmt --check` output, paths made relative to `root`.
pub fn parser(root: PathBuf) -> Box<dyn OutputParser> {
    Box::new(Rustfmt {
        errors: HumanDiagnostics::new(root.clone()),
        root,
        hunk: None,
        findings: Vec::new(),
        missing: MissingSubcommand::default(),
    })
}

impl Rustfmt {
    fn close(&mut self) {
        if let Some((mut finding, changed_at)) = self.hunk.take() {
            if let (Some(location), Some(offset)) = (&mut finding.location, changed_at) {
                location.line += offset;
            }
            self.findings.push(finding);
        }
    }

    /// `Diff in /path/src/lib.rs:5:` (rustfmt 1.5 and later) or `Diff in /path/src/lib.rs at
    /// line 5:` (older).
    fn hunk_start(&self, plain: &str) -> Option<Location> {
        let place = plain.strip_prefix("Diff in ")?.strip_suffix(':')?;
        match place.split_once(" at line ") {
            Some((file, line)) => parse_location(&format!("{file}:{line}"), &self.root),
            None => parse_location(place, &self.root),
        }
    }
}

impl OutputParser for Rustfmt {
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown)) {
        emit(line, Shown::Always);
        let plain = ansi::strip(line);
        self.missing.read(&plain);
        if let Some(location) = self.hunk_start(&plain) {
            self.close();
            self.hunk = Some((
                Finding {
                    severity: Severity::Error,
                    title: "not formatted as rustfmt would".to_string(),
                    location: Some(location),
                    detail: Vec::new(),
                },
                None,
            ));
            return;
        }
        match &mut self.hunk {
            Some((finding, changed_at)) => {
                if changed_at.is_none() && (plain.starts_with('-') || plain.starts_with('+')) {
                    *changed_at = u32::try_from(finding.detail.len()).ok();
                }
                if finding.detail.len() < DETAIL_LINES {
                    finding.detail.push(plain);
                }
            }
            None => self.errors.read(&plain),
        }
    }

    fn finish(&mut self, failed: bool) -> Digest {
        self.close();
        let mut digest = Digest::default();
        if self.missing.apply(&mut digest) {
            return digest;
        }
        let files: BTreeSet<&str> = self
            .findings
            .iter()
            .filter_map(|f| f.location.as_ref().map(|l| l.file.as_str()))
            .collect();
        let errors = self.errors.findings();
        if !files.is_empty() {
            let verb = if files.len() == 1 { "needs" } else { "need" };
            digest.summary = Some(format!("{} {verb} rustfmt", count(files.len(), "file")));
            digest.next = Some("cargo xtask fmt --fix".to_string());
        } else if failed && !errors.is_empty() {
            digest.summary = Some(format!(
                "rustfmt could not parse: {}",
                count(errors.len(), "error")
            ));
            digest.next = Some("cargo xtask fmt".to_string());
        }
        digest.findings = std::mem::take(&mut self.findings);
        digest.findings.extend(errors);
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::feed;

    const CHECK: &str = include_str!("fixtures/rustfmt-check.txt");

    #[test]
    fn a_diff_points_at_its_first_changed_line_and_suggests_the_fix() {
        let mut parser = parser(PathBuf::from("/tmp/scratch16/broken"));
        let (shown, _) = feed(parser.as_mut(), CHECK);
        assert_eq!(shown.len(), CHECK.lines().count());
        let digest = parser.finish(true);
        assert_eq!(digest.summary.as_deref(), Some("1 file needs rustfmt"));
        assert_eq!(digest.next.as_deref(), Some("cargo xtask fmt --fix"));
        assert_eq!(digest.findings.len(), 1);
        let finding = &digest.findings[0];
        // The hunk starts at line 5 with three lines of context; the change is on line 8.
        assert_eq!(
            finding.location.as_ref().unwrap().to_string(),
            "src/lib.rs:8"
        );
        assert_eq!(
            finding.detail[3],
            "-pub fn badly_formatted( x:u32 )->u32{ x*2 }"
        );
        assert!(
            finding
                .detail
                .iter()
                .all(|l| !l.contains('\x1b') && !l.contains("(B")),
            "{:#?}",
            finding.detail
        );
    }

    #[test]
    fn the_older_at_line_form_is_read_too() {
        let mut parser = parser(PathBuf::from("/r"));
        feed(parser.as_mut(), "Diff in /r/src/a.rs at line 2:\n-x\n+y\n");
        let digest = parser.finish(true);
        assert_eq!(
            digest.findings[0].location.as_ref().unwrap().to_string(),
            "src/a.rs:2"
        );
    }

    #[test]
    fn a_clean_check_has_nothing_to_say() {
        let mut parser = parser(PathBuf::from("/r"));
        feed(parser.as_mut(), "");
        assert_eq!(parser.finish(false), Digest::default());
    }
}
