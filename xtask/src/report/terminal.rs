//! Live progress on a terminal: a spinner per running step (several when steps run at the
//! same time) showing its elapsed time and latest output line; finished steps leave one
//! line each; a failed step's output (what matters of it, all of it under `-v`) is shown
//! right after it, so the tool's own message is on screen without scrolling a log; the
//! digest of failures and the table end the run.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, digest, format_duration, table};
use crate::ansi;
use crate::output::{Shown, Verbosity};
use crate::plan::Step;
use crate::record::{Status, StepResult};

/// The terminal reporter.
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
    /// What each running step showed, printed if it fails.
    shown: HashMap<usize, Vec<String>>,
    total: usize,
    verbosity: Verbosity,
    /// Whether the marks are coloured (`--color`, `NO_COLOR`).
    color: bool,
}

impl TerminalReporter {
    /// A reporter drawing on stdout; `verbosity` says which lines of a failed step's output
    /// it shows.
    pub fn new(verbosity: Verbosity, color: bool) -> Self {
        TerminalReporter {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: HashMap::new(),
            shown: HashMap::new(),
            total: 0,
            verbosity,
            color,
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

    fn output(&mut self, index: usize, line: &str, shown: Shown) {
        if self.verbosity.shows(shown) {
            self.shown.entry(index).or_default().push(line.to_string());
        }
        if let Some(bar) = self.bars.get(&index) {
            let plain = ansi::strip(line);
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
        let (colour, symbol, detail) = match &result.status {
            Status::Ok => (
                "32",
                "✔",
                match (&result.cached, &result.digest.summary) {
                    (Some(ago), _) => format!("cached, {ago}"),
                    (None, Some(summary)) => {
                        format!("{summary} ({})", format_duration(result.elapsed))
                    }
                    (None, None) => format_duration(result.elapsed),
                },
            ),
            Status::Failed(_) | Status::Interrupted => (
                "31",
                "✘",
                format!(
                    "{} ({})",
                    result.status.describe(),
                    format_duration(result.elapsed)
                ),
            ),
            Status::Skipped(_) => ("33", "-", result.status.describe()),
        };
        let mark = if self.color {
            format!("\x1b[{colour}m{symbol}\x1b[0m")
        } else {
            symbol.to_string()
        };
        self.print(&format!("{mark} {}  {detail}", self.label(index, step)));
        let shown = self.shown.remove(&index).unwrap_or_default();
        if let Some(log) = result.log.as_ref().filter(|_| result.status.is_failure())
            && !shown.iter().all(|line| line.trim().is_empty())
        {
            self.print(shown.join("\n").trim_end());
            self.print(&format!("(full output: {})", log.display()));
        }
    }

    fn finish(&mut self, results: &[StepResult], wall: Duration) {
        self.print("");
        let failures = digest::render(results);
        if !failures.is_empty() {
            self.print(&failures);
        }
        self.print(table::render(results, wall).trim_end());
    }
}
