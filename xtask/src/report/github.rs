//! GitHub Actions: a collapsible group per step, an annotation per diagnostic or failing
//! test at its file, line and column (one per failed step when its output named no place),
//! and the digest and a markdown table appended to the job summary (`$GITHUB_STEP_SUMMARY`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use super::plain::PlainReporter;
use super::{Reporter, digest, format_duration, table};
use crate::ansi;
use crate::output::{Shown, Verbosity};
use crate::plan::Step;
use crate::record::{Finding, Severity, Status, StepResult};

/// GitHub shows at most this many annotations of one kind per step; more only add noise.
const MAX_ANNOTATIONS: usize = 10;

/// Plain lines wrapped in GitHub workflow commands.
pub struct GitHubReporter {
    plain: PlainReporter,
    summary: Option<PathBuf>,
    /// The step whose group is open (only a step running alone opens one at its start).
    open_group: Option<usize>,
}

impl GitHubReporter {
    /// Writes to stdout and to the summary file named by `GITHUB_STEP_SUMMARY`, if set;
    /// `verbosity` says which lines of output to show.
    pub fn from_env(verbosity: Verbosity) -> Self {
        Self::new(
            PlainReporter::stdout().verbosity(verbosity),
            std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        )
    }

    /// A reporter writing through `plain` and appending its summary to `summary`.
    pub fn new(plain: PlainReporter, summary: Option<PathBuf>) -> Self {
        GitHubReporter {
            plain,
            summary,
            open_group: None,
        }
    }

    fn append_summary(&mut self, results: &[StepResult], wall: std::time::Duration) {
        let Some(path) = &self.summary else { return };
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| {
                file.write_all(markdown_table(results, wall).as_bytes())?;
                let failures = digest::render(results);
                if failures.is_empty() {
                    Ok(())
                } else {
                    file.write_all(format!("\n```text\n{failures}```\n").as_bytes())
                }
            });
        if let Err(err) = written {
            self.plain.line(&format!(
                "::warning::could not append to GITHUB_STEP_SUMMARY ({}): {err}",
                path.display()
            ));
        }
    }
}

impl Reporter for GitHubReporter {
    fn step_started(&mut self, index: usize, total: usize, step: &Step, concurrent: bool) {
        // Groups cannot interleave: a concurrent step gets its group when it ends, holding
        // its whole (held-back) output.
        if step.action.runs() && !concurrent {
            self.plain
                .line(&format!("::group::[{}/{total}] {}", index + 1, step.name));
            self.open_group = Some(index);
        }
        self.plain.step_started(index, total, step, concurrent);
    }

    fn output(&mut self, index: usize, line: &str, shown: Shown) {
        self.plain.output(index, line, shown);
    }

    fn step_finished(&mut self, index: usize, step: &Step, result: &StepResult) {
        let held = self.plain.holds(index);
        if held {
            self.plain.line(&format!("::group::{}", step.name));
        }
        self.plain.step_finished(index, step, result);
        if held || self.open_group == Some(index) {
            self.plain.line("::endgroup::");
            if self.open_group == Some(index) {
                self.open_group = None;
            }
        }
        for line in annotations(&step.name, &result.digest.findings) {
            self.plain.line(&line);
        }
        let pointed = result
            .digest
            .findings
            .iter()
            .any(|f| f.severity == Severity::Error);
        match &result.status {
            Status::Failed(_) if pointed => {}
            Status::Failed(reason) => self.plain.line(&format!(
                "::error title={}::{}",
                escape_property(&format!("{} failed", step.name)),
                escape_data(reason)
            )),
            Status::Interrupted => self.plain.line(&format!(
                "::error title={}::the run was interrupted",
                escape_property(&format!("{} interrupted", step.name))
            )),
            Status::Ok | Status::Skipped(_) => {}
        }
    }

    fn finish(&mut self, results: &[StepResult], wall: std::time::Duration) {
        self.plain.finish(results, wall);
        self.append_summary(results, wall);
    }
}

/// One workflow command per finding: `::error file=src/lib.rs,line=4,col=9,title=..::..`,
/// the message being the finding's detail (its assertion, the rendered diagnostic).
pub fn annotations(step: &str, findings: &[Finding]) -> Vec<String> {
    let mut out = Vec::new();
    for severity in [Severity::Error, Severity::Warning] {
        let command = match severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        for finding in findings
            .iter()
            .filter(|f| f.severity == severity)
            .take(MAX_ANNOTATIONS)
        {
            let mut properties = Vec::new();
            if let Some(location) = &finding.location {
                properties.push(format!("file={}", escape_property(&location.file)));
                properties.push(format!("line={}", location.line));
                if let Some(column) = location.column {
                    properties.push(format!("col={column}"));
                }
            }
            properties.push(format!(
                "title={}",
                escape_property(&format!("{step}: {}", finding.title))
            ));
            let message = if finding.detail.is_empty() {
                finding.title.clone()
            } else {
                ansi::strip(&finding.detail.join("\n"))
            };
            out.push(format!(
                "::{command} {}::{}",
                properties.join(","),
                escape_data(&message)
            ));
        }
    }
    out
}

/// The job-summary table.
pub fn markdown_table(results: &[StepResult], wall: std::time::Duration) -> String {
    let mut out = String::from("| Step | Status | Time |\n| --- | --- | ---: |\n");
    for r in results {
        let icon = match r.status {
            Status::Ok => "✅",
            Status::Failed(_) | Status::Interrupted => "❌",
            Status::Skipped(_) => "⏭️",
        };
        let time = match r.status {
            Status::Skipped(_) => "-".to_string(),
            _ => format_duration(r.elapsed),
        };
        out.push_str(&format!(
            "| {} | {icon} {} | {time} |\n",
            escape_markdown(&r.name),
            escape_markdown(&table::status_cell(r))
        ));
    }
    out.push_str(&format!("\n{}\n", table::totals(results, wall)));
    out
}

/// Workflow-command message escaping.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command property escaping (also `:` and `,`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn escape_markdown(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plain::tests::SharedBuf;
    use crate::report::table::tests::sample;

    #[test]
    fn groups_annotations_and_summary() {
        let buf = SharedBuf::default();
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("summary.md");
        std::fs::write(&summary, "previous step's summary\n").unwrap();
        let mut reporter = GitHubReporter::new(
            PlainReporter::new(Box::new(buf.clone())),
            Some(summary.clone()),
        );
        let results = sample();
        let clippy = Step::task("clippy", "lints", |_| Ok(()));
        reporter.step_started(1, 3, &clippy, false);
        reporter.output(1, "warning: unused variable", Shown::Always);
        reporter.step_finished(1, &clippy, &results[1]);
        reporter.finish(&results, std::time::Duration::from_millis(12_700));

        let text = buf.text();
        assert!(
            text.starts_with(
                "::group::[2/3] clippy\n\
                 ==> [2/3] clippy: task: lints\n\
                 warning: unused variable\n\
                 <== clippy: failed: `cargo clippy` failed: exit status 101 (12.3s)\n\
                 ::endgroup::\n\
                 ::error title=clippy failed::`cargo clippy` failed: exit status 101\n"
            ),
            "{text}"
        );

        let markdown = std::fs::read_to_string(summary).unwrap();
        assert_eq!(
            markdown,
            "previous step's summary\n\
             | Step | Status | Time |\n| --- | --- | ---: |\n\
             | fmt | ✅ ok | 0.4s |\n\
             | clippy | ❌ failed: `cargo clippy` failed: exit status 101 | 12.3s |\n\
             | resctrl-e2e | ⏭️ skipped: needs level full-short | - |\n\
             \n1 ok, 1 failed, 1 skipped in 12.7s\n\
             \n```text\nwhat failed:\n\nclippy: failed: `cargo clippy` failed: exit status 101\n```\n"
        );
    }

    #[test]
    fn concurrent_steps_get_their_group_when_they_end() {
        let buf = SharedBuf::default();
        let mut reporter = GitHubReporter::new(PlainReporter::new(Box::new(buf.clone())), None);
        let results = sample();
        let fmt = Step::task("fmt", "formats", |_| Ok(()));
        let clippy = Step::task("clippy", "lints", |_| Ok(()));
        reporter.step_started(0, 2, &fmt, true);
        reporter.step_started(1, 2, &clippy, true);
        reporter.output(0, "fmt says", Shown::Always);
        reporter.output(1, "clippy says", Shown::Always);
        reporter.step_finished(0, &fmt, &results[0]);
        reporter.step_finished(1, &clippy, &results[1]);
        let text = buf.text();
        let fmt_group =
            "::group::fmt\n==> [1/2] fmt: output\nfmt says\n<== fmt: ok (0.4s)\n::endgroup::\n";
        let clippy_group = "::group::clippy\n==> [2/2] clippy: output\nclippy says\n<== clippy: failed: `cargo clippy` failed: exit status 101 (12.3s)\n::endgroup::\n::error title=clippy failed::";
        assert!(text.contains(fmt_group), "{text}");
        assert!(text.contains(clippy_group), "{text}");
        assert_eq!(text.matches("::group::").count(), 2, "{text}");
    }

    #[test]
    fn each_finding_becomes_an_annotation_at_its_place() {
        use crate::record::Location;
        let findings = vec![
            Finding {
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
            },
            Finding {
                severity: Severity::Warning,
                title: "unused import".into(),
                location: Some(Location {
                    file: "src/a.rs".into(),
                    line: 1,
                    column: None,
                }),
                detail: vec![],
            },
        ];
        assert_eq!(
            annotations("unit", &findings),
            [
                "::error file=src/lib.rs,line=21,col=9,title=unit%3A broken tests%3A%3Aadds_wrongly::assertion `left == right` failed%0A  left: 4",
                "::warning file=src/a.rs,line=1,title=unit%3A unused import::unused import",
            ]
        );
    }

    #[test]
    fn a_failed_step_whose_findings_have_places_gets_no_extra_annotation() {
        let buf = SharedBuf::default();
        let mut reporter = GitHubReporter::new(PlainReporter::new(Box::new(buf.clone())), None);
        let mut result = sample().remove(1);
        result.status = Status::Failed("1 clippy error".into());
        result.digest.findings.push(Finding {
            severity: Severity::Error,
            title: "unneeded `return` statement".into(),
            location: Some(crate::record::Location {
                file: "src/lib.rs".into(),
                line: 5,
                column: Some(5),
            }),
            detail: vec![],
        });
        let clippy = Step::task("clippy", "lints", |_| Ok(()));
        reporter.step_started(0, 1, &clippy, false);
        reporter.step_finished(0, &clippy, &result);
        let text = buf.text();
        assert_eq!(text.matches("::error ").count(), 1, "{text}");
        assert!(
            text.contains("::error file=src/lib.rs,line=5,col=5,"),
            "{text}"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
