//! Live progress on a terminal: a spinner per running step showing its elapsed time and the
//! latest output line; finished steps leave one line each; a failed step's full output is
//! shown right after it, so the tool's own message is on screen without scrolling a log.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, format_duration, table};
use crate::exec::{Status, StepResult, read_log};
use crate::plan::Step;

/// The terminal reporter.
pub struct TerminalReporter {
    bar: Option<ProgressBar>,
    label: String,
}

impl TerminalReporter {
    /// A reporter drawing on stdout.
    pub fn new() -> Self {
        TerminalReporter {
            bar: None,
            label: String::new(),
        }
    }

    fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }
}

impl Reporter for TerminalReporter {
    fn step_started(&mut self, index: usize, total: usize, step: &Step) {
        self.label = format!("[{}/{total}] {}", index + 1, step.name);
        if !step.action.runs() {
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg:.dim}",
            )
            .expect("valid progress template"),
        );
        bar.set_prefix(self.label.clone());
        bar.set_message(step.action.describe());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bar = Some(bar);
    }

    fn output(&mut self, line: &str) {
        if let Some(bar) = &self.bar {
            let plain = strip_ansi(line);
            if !plain.trim().is_empty() {
                bar.set_message(plain.trim().to_string());
            }
        }
    }

    fn step_finished(&mut self, _step: &Step, result: &StepResult) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
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
        self.print(&format!("{mark} {}  {detail}", self.label));
        if let Some(log) = result.log.as_ref().filter(|_| result.status.is_failure()) {
            let output = read_log(log);
            if !output.trim().is_empty() {
                self.print(output.trim_end());
                self.print(&format!("(full output: {})", log.display()));
            }
        }
    }

    fn finish(&mut self, results: &[StepResult]) {
        self.print("");
        self.print(table::render(results).trim_end());
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
