//! Plain lines, for pipes and log files: a header per step, the output that matters (all
//! of it under `-v`), a status line, and the digest of failures and the table at the end. A step that runs alongside others has its output held back and
//! printed in one piece when it ends, so logs never interleave two tools.

use std::collections::HashMap;
use std::io::Write;

use super::{Reporter, digest, format_duration, table};
use crate::output::{Shown, Verbosity};
use crate::plan::Step;
use crate::record::StepResult;

/// Writes plain lines to any writer (stdout in use, a buffer in tests).
pub struct PlainReporter {
    out: Box<dyn Write + Send>,
    /// Held-back output of concurrent steps, by step index.
    held: HashMap<usize, Vec<String>>,
    total: usize,
    /// Which lines of output to show.
    verbosity: Verbosity,
}

impl PlainReporter {
    /// A reporter writing to stdout.
    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        PlainReporter {
            out,
            held: HashMap::new(),
            total: 0,
            verbosity: Verbosity::Normal,
        }
    }

    /// Shows no output (`-q`), what matters, or all of it (`-v`).
    pub fn verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// Writes a line; a closed stdout must not stop the run, so errors are dropped.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// Whether step `index`'s output is being held back.
    pub fn holds(&self, index: usize) -> bool {
        self.held.contains_key(&index)
    }

    /// The `==>` header of a step.
    pub fn header(&self, index: usize, step: &Step) -> String {
        format!(
            "==> [{}/{}] {}: {}",
            index + 1,
            self.total,
            step.name,
            step.action.describe()
        )
    }
}

impl Reporter for PlainReporter {
    fn step_started(&mut self, index: usize, total: usize, step: &Step, concurrent: bool) {
        self.total = total;
        if !step.action.runs() {
            return;
        }
        if concurrent {
            self.held.insert(index, Vec::new());
            self.line(&format!(
                "{} (alongside other steps; its output follows when it ends)",
                self.header(index, step)
            ));
        } else {
            self.line(&self.header(index, step));
        }
    }

    fn output(&mut self, index: usize, line: &str, shown: Shown) {
        if !self.verbosity.shows(shown) {
            return;
        }
        match self.held.get_mut(&index) {
            Some(held) => held.push(line.to_string()),
            None => self.line(line),
        }
    }

    fn step_finished(&mut self, index: usize, step: &Step, result: &StepResult) {
        if let Some(held) = self.held.remove(&index) {
            if !held.is_empty() {
                self.line(&format!(
                    "==> [{}/{}] {}: output",
                    index + 1,
                    self.total,
                    step.name
                ));
            }
            for line in held {
                self.line(&line);
            }
        }
        self.line(&format!(
            "<== {}: {} ({})",
            step.name,
            table::status_cell(result),
            format_duration(result.elapsed)
        ));
    }

    fn finish(&mut self, results: &[StepResult], wall: std::time::Duration) {
        self.line("");
        let failures = digest::render(results);
        if !failures.is_empty() {
            self.line(&failures);
        }
        let rendered = table::render(results, wall);
        self.line(rendered.trim_end());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose contents the test can read afterwards.
    #[derive(Clone, Default)]
    pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl SharedBuf {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn plain_output_shape() {
        let buf = SharedBuf::default();
        let mut reporter = PlainReporter::new(Box::new(buf.clone()));
        let step = Step::task("unit", "runs tests", |_| Ok(()));
        reporter.step_started(0, 2, &step, false);
        reporter.output(0, "test a ... ok", Shown::Always);
        reporter.output(0, "PASS [0.1s] quiet", Shown::Verbose);
        let results = crate::report::table::tests::sample();
        reporter.step_finished(0, &step, &results[0]);
        let skip = Step::skip("resctrl-e2e", "needs level full-short");
        reporter.step_started(1, 2, &skip, false);
        reporter.step_finished(1, &skip, &results[2]);
        let text = buf.text();
        assert!(
            text.starts_with(
                "==> [1/2] unit: task: runs tests\ntest a ... ok\n<== unit: ok (0.4s)\n<== resctrl-e2e: skipped: needs level full-short (0.0s)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn verbose_shows_the_lines_a_passing_run_keeps_quiet() {
        let buf = SharedBuf::default();
        let mut reporter = PlainReporter::new(Box::new(buf.clone())).verbosity(Verbosity::Verbose);
        let step = Step::task("unit", "runs tests", |_| Ok(()));
        reporter.step_started(0, 1, &step, false);
        reporter.output(0, "PASS [0.1s] shown under -v", Shown::Verbose);
        assert!(
            buf.text().contains("PASS [0.1s] shown under -v\n"),
            "{}",
            buf.text()
        );
    }

    #[test]
    fn the_digest_comes_right_above_the_table() {
        let buf = SharedBuf::default();
        let mut reporter = PlainReporter::new(Box::new(buf.clone()));
        reporter.finish(
            &crate::report::table::tests::sample(),
            std::time::Duration::ZERO,
        );
        let text = buf.text();
        let digest = text
            .find("clippy: failed: `cargo clippy` failed")
            .expect("digest entry");
        let table = text.find("\nstep ").expect("table");
        assert!(digest < table, "{text}");
    }

    #[test]
    fn concurrent_steps_print_their_output_in_one_piece() {
        let buf = SharedBuf::default();
        let mut reporter = PlainReporter::new(Box::new(buf.clone()));
        let fmt = Step::task("fmt", "formats", |_| Ok(()));
        let clippy = Step::task("clippy", "lints", |_| Ok(()));
        let results = crate::report::table::tests::sample();
        reporter.step_started(0, 2, &fmt, true);
        reporter.step_started(1, 2, &clippy, true);
        reporter.output(1, "clippy one", Shown::Always);
        reporter.output(0, "fmt one", Shown::Always);
        reporter.output(1, "clippy two", Shown::Always);
        reporter.step_finished(1, &clippy, &results[1]);
        reporter.step_finished(0, &fmt, &results[0]);
        let text = buf.text();
        let expected = "\
==> [1/2] fmt: task: formats (alongside other steps; its output follows when it ends)
==> [2/2] clippy: task: lints (alongside other steps; its output follows when it ends)
==> [2/2] clippy: output
clippy one
clippy two
<== clippy: failed: `cargo clippy` failed: exit status 101 (12.3s)
==> [1/2] fmt: output
fmt one
<== fmt: ok (0.4s)
";
        assert_eq!(text, expected);
    }
}
