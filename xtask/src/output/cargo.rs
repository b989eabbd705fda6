//! Cargo's own output: compiler diagnostics as JSON messages (clippy, builds) or in their
//! human form (inside other tools' output), cargo's progress lines, and a missing cargo
//! subcommand with the command that installs it.

use std::collections::HashSet;
use std::path::PathBuf;

use cargo_metadata::Message;
use cargo_metadata::diagnostic::{Applicability, Diagnostic, DiagnosticLevel};

use super::{OutputParser, Shown, count, relative};
use crate::ansi;
use crate::record::{Digest, Finding, Location, Severity};

/// The install command shown whenever nextest is needed and missing.
pub const NEXTEST_INSTALL: &str = "cargo install --locked cargo-nextest";

/// The command that installs a cargo subcommand this runner uses.
fn install_command(subcommand: &str) -> Option<&'static str> {
    match subcommand {
        "nextest" => Some(NEXTEST_INSTALL),
        "clippy" => Some("rustup component add clippy"),
        "fmt" => Some("rustup component add rustfmt"),
        _ => None,
    }
}

/// How many lines of a diagnostic the digest keeps (the log has all of it).
pub const DETAIL_LINES: usize = 12;

/// Whether a line is cargo's progress, which says nothing when all is well.
pub fn is_progress(plain: &str) -> bool {
    let word = plain.trim_start().split(' ').next().unwrap_or("");
    matches!(
        word,
        "Compiling" | "Checking" | "Downloaded" | "Downloading" | "Fresh" | "Blocking" | "Locking"
    ) || plain.trim_start().starts_with("Updating crates.io index")
}

/// A cargo subcommand that is not installed: `error: no such command: `nextest``.
#[derive(Debug, Default)]
pub struct MissingSubcommand(Option<String>);

impl MissingSubcommand {
    /// Reads one line (without escape sequences).
    pub fn read(&mut self, plain: &str) {
        if let Some(rest) = plain.strip_prefix("error: no such command: `") {
            self.0 = rest.strip_suffix('`').map(str::to_string);
        }
    }

    /// Fills `digest` when a subcommand was missing: the summary says which, the next
    /// command installs it.
    pub fn apply(&self, digest: &mut Digest) -> bool {
        let Some(subcommand) = &self.0 else {
            return false;
        };
        digest.summary = Some(format!("`cargo {subcommand}` is not installed"));
        digest.next = install_command(subcommand).map(str::to_string);
        true
    }
}

/// rustc diagnostics in their human form: `error[E0308]: mismatched types` followed by
/// ` --> src/lib.rs:16:25` and the snippet, as cargo prints them inside other tools' output.
#[derive(Debug)]
pub struct HumanDiagnostics {
    root: PathBuf,
    /// The header waiting for its ` --> ` line.
    pending: Option<(Severity, String)>,
    /// The finding whose snippet is being read.
    open: Option<Finding>,
    findings: Vec<Finding>,
}

impl HumanDiagnostics {
    /// Reads diagnostics whose paths are relative to `root` (or inside it).
    pub fn new(root: PathBuf) -> Self {
        HumanDiagnostics {
            root,
            pending: None,
            open: None,
            findings: Vec::new(),
        }
    }

    /// Reads one line (without escape sequences).
    pub fn read(&mut self, plain: &str) {
        if let Some(header) = header(plain) {
            self.close();
            self.pending = Some(header);
            return;
        }
        if let Some((severity, title)) = self.pending.take() {
            match arrow_location(plain, &self.root) {
                Some(location) => {
                    self.open = Some(Finding {
                        severity,
                        title,
                        location: Some(location),
                        detail: vec![plain.to_string()],
                    })
                }
                // No location: cargo's own message (`error: could not compile`), not a
                // diagnostic.
                None => self.pending = None,
            }
            return;
        }
        if let Some(open) = &mut self.open {
            if plain.trim().is_empty() {
                self.close();
            } else if open.detail.len() < DETAIL_LINES {
                open.detail.push(plain.to_string());
            }
        }
    }

    fn close(&mut self) {
        if let Some(finding) = self.open.take() {
            self.findings.push(finding);
        }
    }

    /// The diagnostics read so far.
    pub fn findings(&mut self) -> Vec<Finding> {
        self.close();
        std::mem::take(&mut self.findings)
    }
}

/// `error[E0308]: mismatched types` → (Error, "mismatched types (E0308)").
fn header(plain: &str) -> Option<(Severity, String)> {
    let (severity, rest) = if let Some(rest) = plain.strip_prefix("error") {
        (Severity::Error, rest)
    } else if let Some(rest) = plain.strip_prefix("warning") {
        (Severity::Warning, rest)
    } else {
        return None;
    };
    let (code, message) = match rest.strip_prefix('[') {
        Some(coded) => {
            let (code, message) = coded.split_once("]: ")?;
            (Some(code), message)
        }
        None => (None, rest.strip_prefix(": ")?),
    };
    Some((
        severity,
        match code {
            Some(code) => format!("{message} ({code})"),
            None => message.to_string(),
        },
    ))
}

/// ` --> src/lib.rs:16:25` → its location.
fn arrow_location(plain: &str, root: &std::path::Path) -> Option<Location> {
    let place = plain.trim_start().strip_prefix("--> ")?;
    parse_location(place, root)
}

/// `file:line[:column]` → a location with `file` relative to `root`.
pub fn parse_location(place: &str, root: &std::path::Path) -> Option<Location> {
    let mut parts = place.rsplitn(3, ':');
    let last = parts.next()?;
    let middle = parts.next()?;
    match parts.next() {
        Some(file) => Some(Location {
            file: relative(file, root),
            line: middle.parse().ok()?,
            column: Some(last.parse().ok()?),
        }),
        None => Some(Location {
            file: relative(middle, root),
            line: last.parse().ok()?,
            column: None,
        }),
    }
}

/// A cargo command run with `--message-format=json-diagnostic-rendered-ansi` (clippy, a
/// build): each diagnostic is shown in its human form once (cargo reports the same one for
/// a library and its tests) and becomes a finding at its primary span.
pub struct CargoMessages {
    tool: &'static str,
    rerun: String,
    root: PathBuf,
    color: bool,
    seen: HashSet<String>,
    findings: Vec<Finding>,
    fixable: usize,
    missing: MissingSubcommand,
}

/// The parser of a cargo command's JSON messages: `tool` names its errors in the summary
/// (`3 clippy errors`), `rerun` is the command to run after fixing them, `color` keeps the
/// rendered diagnostics' colours.
pub fn messages(
    tool: &'static str,
    rerun: &str,
    root: PathBuf,
    color: bool,
) -> Box<dyn OutputParser> {
    Box::new(CargoMessages {
        tool,
        rerun: rerun.to_string(),
        root,
        color,
        seen: HashSet::new(),
        findings: Vec::new(),
        fixable: 0,
        missing: MissingSubcommand::default(),
    })
}

impl CargoMessages {
    fn diagnostic(&mut self, diagnostic: Diagnostic, emit: &mut dyn FnMut(&str, Shown)) {
        let severity = match diagnostic.level {
            DiagnosticLevel::Error | DiagnosticLevel::Ice => Severity::Error,
            DiagnosticLevel::Warning => Severity::Warning,
            _ => return,
        };
        let Some(rendered) = diagnostic.rendered.clone() else {
            return;
        };
        if !self.seen.insert(rendered.clone()) {
            return;
        }
        let plain = ansi::strip(&rendered);
        let shown = if self.color { &rendered } else { &plain };
        for line in shown.trim_end().lines() {
            emit(line, Shown::Always);
        }
        // The closing tallies (`aborting due to 2 previous errors`) point nowhere.
        let primary = diagnostic.spans.iter().find(|span| span.is_primary);
        if primary.is_none() && diagnostic.message.starts_with("aborting due to") {
            return;
        }
        if diagnostic_fixable(&diagnostic) {
            self.fixable += 1;
        }
        let title = match &diagnostic.code {
            Some(code) => format!("{} ({})", diagnostic.message, code.code),
            None => diagnostic.message.clone(),
        };
        self.findings.push(Finding {
            severity,
            title,
            location: primary.map(|span| Location {
                file: relative(&span.file_name, &self.root),
                line: u32::try_from(span.line_start).unwrap_or(u32::MAX),
                column: u32::try_from(span.column_start).ok(),
            }),
            detail: plain
                .trim_end()
                .lines()
                .skip(1)
                .filter(|line| matters(line))
                .take(DETAIL_LINES)
                .map(str::to_string)
                .collect(),
        });
    }
}

/// Whether a line of a rendered diagnostic belongs in the digest: not the location (the
/// finding has it), empty gutters, or the boilerplate about `-D warnings` and lint docs.
fn matters(line: &str) -> bool {
    let trimmed = line.trim();
    !(trimmed.starts_with("-->")
        || trimmed == "|"
        || trimmed.contains("implied by `-D warnings`")
        || trimmed.contains("to override `-D warnings`")
        || trimmed.starts_with("= help: for further information visit"))
}

/// Whether rustc offers a fix `cargo clippy --fix` would apply on its own.
fn diagnostic_fixable(diagnostic: &Diagnostic) -> bool {
    diagnostic
        .children
        .iter()
        .chain(std::iter::once(diagnostic))
        .flat_map(|d| &d.spans)
        .any(|span| span.suggestion_applicability == Some(Applicability::MachineApplicable))
}

impl OutputParser for CargoMessages {
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown)) {
        if line.starts_with('{') {
            match Message::parse_stream(line.as_bytes()).next() {
                Some(Ok(Message::CompilerMessage(message))) => {
                    return self.diagnostic(message.message, emit);
                }
                Some(Ok(Message::TextLine(_))) | None | Some(Err(_)) => {}
                // Artifacts, build scripts, the end of the build: not for people.
                Some(Ok(_)) => return,
            }
        }
        let plain = ansi::strip(line);
        self.missing.read(&plain);
        let who = if is_progress(&plain) {
            Shown::Verbose
        } else {
            Shown::Always
        };
        emit(if self.color { line } else { &plain }, who);
    }

    fn finish(&mut self, failed: bool) -> Digest {
        let mut digest = Digest::default();
        if self.missing.apply(&mut digest) {
            return digest;
        }
        let errors = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        let warnings = self.findings.len() - errors;
        if failed && errors > 0 {
            let mut summary = count(errors, &format!("{} error", self.tool));
            if warnings > 0 {
                summary.push_str(&format!(", {}", count(warnings, "warning")));
            }
            digest.summary = Some(summary);
        } else if warnings > 0 {
            digest.summary = Some(count(warnings, &format!("{} warning", self.tool)));
        }
        if !self.findings.is_empty() {
            digest.next = Some(if self.fixable > 0 && self.tool == "clippy" {
                format!(
                    "cargo clippy --fix --allow-dirty --workspace --all-targets --all-features && {}",
                    self.rerun
                )
            } else {
                self.rerun.clone()
            });
        }
        digest.findings = std::mem::take(&mut self.findings);
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::feed;

    const CLIPPY: &str = include_str!("fixtures/clippy.txt");
    const COMPILE_ERROR: &str = include_str!("fixtures/nextest-compile-error.txt");

    fn clippy(color: bool) -> Box<dyn OutputParser> {
        messages(
            "clippy",
            "cargo xtask clippy",
            PathBuf::from("/tmp/scratch16/broken"),
            color,
        )
    }

    #[test]
    fn clippy_json_becomes_one_finding_per_distinct_diagnostic_at_its_span() {
        let mut parser = clippy(false);
        feed(parser.as_mut(), CLIPPY);
        let digest = parser.finish(true);
        assert_eq!(digest.summary.as_deref(), Some("2 clippy errors"));
        let places: Vec<(String, String)> = digest
            .findings
            .iter()
            .map(|f| (f.location.as_ref().unwrap().to_string(), f.title.clone()))
            .collect();
        assert_eq!(
            places,
            [
                (
                    "src/lib.rs:4:9".to_string(),
                    "unused variable: `unused` (unused_variables)".to_string()
                ),
                (
                    "src/lib.rs:5:5".to_string(),
                    "unneeded `return` statement (clippy::needless_return)".to_string()
                ),
            ]
        );
        assert_eq!(
            digest.findings[0].detail,
            [
                "4 |     let unused = 3;",
                "  |         ^^^^^^ help: if this is intentional, prefix it with an underscore: `_unused`",
            ]
        );
        assert!(
            digest
                .next
                .as_deref()
                .unwrap()
                .starts_with("cargo clippy --fix"),
            "{digest:?}"
        );
    }

    #[test]
    fn clippy_json_is_shown_in_its_human_form_without_json_or_progress() {
        let mut parser = clippy(false);
        let (shown, logged) = feed(parser.as_mut(), CLIPPY);
        assert!(shown.iter().all(|l| !l.starts_with('{')), "{shown:#?}");
        assert!(shown.iter().all(|l| !l.contains('\x1b')), "{shown:#?}");
        assert_eq!(
            shown
                .iter()
                .filter(|l| l.starts_with("error: unused variable"))
                .count(),
            1,
            "{shown:#?}"
        );
        assert!(shown.contains(&"  |         ^^^^^^ help: if this is intentional, prefix it with an underscore: `_unused`".to_string()), "{shown:#?}");
        assert!(
            logged
                .iter()
                .any(|l| l.ends_with("Checking broken v0.1.0 (/tmp/scratch16/broken)"))
        );
        assert!(!shown.iter().any(|l| l.contains("Checking broken")));
    }

    #[test]
    fn with_colour_the_rendered_diagnostics_keep_it() {
        let mut parser = clippy(true);
        let (shown, _) = feed(parser.as_mut(), CLIPPY);
        assert!(shown.iter().any(|l| l.contains("\x1b[")), "{shown:#?}");
    }

    #[test]
    fn human_diagnostics_are_read_with_their_location() {
        let mut human = HumanDiagnostics::new(PathBuf::from("/tmp/scratch16/broken"));
        for line in COMPILE_ERROR.lines() {
            human.read(line);
        }
        let findings = human.findings();
        let summary: Vec<(Severity, String, String)> = findings
            .iter()
            .map(|f| {
                (
                    f.severity,
                    f.location.as_ref().unwrap().to_string(),
                    f.title.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Severity::Warning,
                    "src/lib.rs:4:9".into(),
                    "unused variable: `unused`".into()
                ),
                (
                    Severity::Error,
                    "src/lib.rs:16:25".into(),
                    "mismatched types (E0308)".into()
                ),
            ]
        );
        assert!(
            findings[1]
                .detail
                .iter()
                .any(|l| l.contains("expected `String`, found `u32`")),
            "{:#?}",
            findings[1].detail
        );
    }

    #[test]
    fn a_missing_subcommand_names_its_install_command() {
        let mut parser = clippy(false);
        feed(
            parser.as_mut(),
            "error: no such command: `clippy`\n\nhelp: view all installed commands with `cargo --list`",
        );
        let digest = parser.finish(true);
        assert_eq!(
            digest.summary.as_deref(),
            Some("`cargo clippy` is not installed")
        );
        assert_eq!(digest.next.as_deref(), Some("rustup component add clippy"));
    }

    #[test]
    fn locations_with_and_without_column() {
        let root = std::path::Path::new("/r");
        assert_eq!(
            parse_location("/r/src/a.rs:3:9", root).unwrap().to_string(),
            "src/a.rs:3:9"
        );
        assert_eq!(
            parse_location("src/a.rs:3", root).unwrap().to_string(),
            "src/a.rs:3"
        );
        assert!(parse_location("no place", root).is_none());
    }
}
