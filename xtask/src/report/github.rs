//! GitHub Actions: a collapsible group per step, an error annotation per failure, and a
//! markdown table appended to the job summary (`$GITHUB_STEP_SUMMARY`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use super::plain::PlainReporter;
use super::{Reporter, format_duration, table};
use crate::exec::{Status, StepResult};
use crate::plan::Step;

/// Plain lines wrapped in GitHub workflow commands.
pub struct GitHubReporter {
    plain: PlainReporter,
    summary: Option<PathBuf>,
    open_group: bool,
}

impl GitHubReporter {
    /// Writes to stdout and to the summary file named by `GITHUB_STEP_SUMMARY`, if set.
    pub fn from_env() -> Self {
        Self::new(
            PlainReporter::stdout(),
            std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        )
    }

    /// A reporter writing through `plain` and appending its summary to `summary`.
    pub fn new(plain: PlainReporter, summary: Option<PathBuf>) -> Self {
        GitHubReporter {
            plain,
            summary,
            open_group: false,
        }
    }

    fn append_summary(&mut self, results: &[StepResult]) {
        let Some(path) = &self.summary else { return };
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(markdown_table(results).as_bytes()));
        if let Err(err) = written {
            self.plain.line(&format!(
                "::warning::could not append to GITHUB_STEP_SUMMARY ({}): {err}",
                path.display()
            ));
        }
    }
}

impl Reporter for GitHubReporter {
    fn step_started(&mut self, index: usize, total: usize, step: &Step) {
        if step.action.runs() {
            self.plain
                .line(&format!("::group::[{}/{total}] {}", index + 1, step.name));
            self.open_group = true;
        }
        self.plain.step_started(index, total, step);
    }

    fn output(&mut self, line: &str) {
        self.plain.output(line);
    }

    fn step_finished(&mut self, step: &Step, result: &StepResult) {
        self.plain.step_finished(step, result);
        if self.open_group {
            self.plain.line("::endgroup::");
            self.open_group = false;
        }
        match &result.status {
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

    fn finish(&mut self, results: &[StepResult]) {
        self.plain.finish(results);
        self.append_summary(results);
    }
}

/// The job-summary table.
pub fn markdown_table(results: &[StepResult]) -> String {
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
            escape_markdown(&r.status.describe())
        ));
    }
    out.push_str(&format!("\n{}\n", table::totals(results)));
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
        reporter.step_started(1, 3, &clippy);
        reporter.output("warning: unused variable");
        reporter.step_finished(&clippy, &results[1]);
        reporter.finish(&results);

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
             \n1 ok, 1 failed, 1 skipped in 12.7s\n"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
