//! Live progress on a terminal: a spinner per running step (several when steps run at the
//! same time) showing its elapsed time and latest output line; finished steps leave one
//! line each; a failed step's full output is shown right after it, so the tool's own
//! message is on screen without scrolling a log.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, format_duration, table};
use crate::plan::Step;
use crate::record::{Status, StepResult, read_log};

/// The terminal reporter.
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
    total: usize,
}

impl TerminalReporter {
    /// A reporter drawing on stdout.
    pub fn new() -> Self {
        TerminalReporter {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: HashMap::new(),
            total: 0,
        }
    }

    fn label(&self, index: usize, step: &Step) -> String {
        format!("[{}/{}] {}", index + 1, self.total, step.name)
    }

    /// Prints above the spinners.
    fn print(&self, text: &str) {
        self.multi.suspend(|| println!("{text}"));
    }
}

impl Reporter for TerminalReporter {
    fn step_started(&mut self, index: usize, total: usize, step: &Step, _concurrent: bool) {
        self.total = total;
        if !step.action.runs() {
            return;
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg:.dim}",
            )
            .expect("valid progress template"),
        );
        bar.set_prefix(self.label(index, step));
        bar.set_message(step.action.describe());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.insert(index, bar);
    }

    fn output(&mut self, index: usize, line: &str) {
        if let Some(bar) = self.bars.get(&index) {
            let plain = strip_ansi(line);
            if !plain.trim().is_empty() {
                bar.set_message(plain.trim().to_string());
            }
        }
    }

    fn step_finished(&mut self, index: usize, step: &Step, result: &StepResult) {
        if let Some(bar) = self.bars.remove(&index) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let (mark, detail) = match &result.status {
            Status::Ok => ("\x1b[32m✔\x1b[0m", format_duration(result.elapsed)),
            Status::Failed(_) | Status::Interrupted => (
                "\x1b[31m✘\x1b[0m",
                format!(
                    "{} ({})",
                    result.status.describe(),
                    format_duration(result.elapsed)
                ),
            ),
            Status::Skipped(_) => ("\x1b[33m-\x1b[0m", result.status.describe()),
        };
        self.print(&format!("{mark} {}  {detail}", self.label(index, step)));
        if let Some(log) = result.log.as_ref().filter(|_| result.status.is_failure()) {
            let output = read_log(log);
            if !output.trim().is_empty() {
                self.print(output.trim_end());
                self.print(&format!("(full output: {})", log.display()));
            }
        }
    }

    fn finish(&mut self, results: &[StepResult], wall: Duration) {
        self.print("");
        self.print(table::render(results, wall).trim_end());
    }
}

/// Removes ANSI escape sequences (colours) so the spinner line measures its width right.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters and intermediates, ended by a byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\x1b[1m\x1b[32m   Compiling\x1b[0m foo v0.1.0"),
            "   Compiling foo v0.1.0"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
