//! Plain lines, for pipes and log files: a header per step, its output as it comes, a status
//! line, and the table at the end.

use std::io::Write;

use super::{Reporter, format_duration, table};
use crate::exec::StepResult;
use crate::plan::Step;

/// Writes plain lines to any writer (stdout in use, a buffer in tests).
pub struct PlainReporter {
    out: Box<dyn Write>,
}

impl PlainReporter {
    /// A reporter writing to stdout.
    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write>) -> Self {
        PlainReporter { out }
    }

    /// Writes a line; a closed stdout must not stop the run, so errors are dropped.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }
}

impl Reporter for PlainReporter {
    fn step_started(&mut self, index: usize, total: usize, step: &Step) {
        if step.action.runs() {
            self.line(&format!(
                "==> [{}/{total}] {}: {}",
                index + 1,
                step.name,
                step.action.describe()
            ));
        }
    }

    fn output(&mut self, line: &str) {
        self.line(line);
    }

    fn step_finished(&mut self, step: &Step, result: &StepResult) {
        self.line(&format!(
            "<== {}: {} ({})",
            step.name,
            result.status.describe(),
            format_duration(result.elapsed)
        ));
    }

    fn finish(&mut self, results: &[StepResult]) {
        self.line("");
        let rendered = table::render(results);
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
        reporter.step_started(0, 2, &step);
        reporter.output("test a ... ok");
        let results = crate::report::table::tests::sample();
        reporter.step_finished(&step, &results[0]);
        let skip = Step::skip("resctrl-e2e", "needs level full-short");
        reporter.step_started(1, 2, &skip);
        reporter.step_finished(&skip, &results[2]);
        let text = buf.text();
        assert!(text.starts_with(
            "==> [1/2] unit: task: runs tests\ntest a ... ok\n<== unit: ok (0.4s)\n<== resctrl-e2e: skipped: needs level full-short (0.0s)\n"
        ), "{text}");
    }
}
