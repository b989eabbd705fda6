//! Reporting a run: live progress while steps run, then a table of every step.
//!
//! Three styles, picked from the environment: a live progress display on a terminal, plain
//! lines otherwise, and GitHub Actions groups, annotations and a job summary under
//! `GITHUB_ACTIONS=true`. JUnit XML is written from the results on request.

pub mod digest;
pub mod github;
pub mod junit;
pub mod plain;
pub mod table;
pub mod terminal;

use std::io::IsTerminal;

use crate::output::{Shown, Verbosity};
use crate::plan::Step;
use crate::record::StepResult;

/// Receives the events of a run as they happen. Steps of a concurrent batch report
/// interleaved; `index` (0-based, in plan order) says whose event it is.
pub trait Reporter {
    /// Step `index` of `total` is about to run (or be skipped); `concurrent` when other
    /// steps run at the same time.
    fn step_started(&mut self, index: usize, total: usize, step: &Step, concurrent: bool);
    /// One line of step `index`'s output, and who should see it (all of it is in the
    /// step's log already).
    fn output(&mut self, index: usize, line: &str, shown: Shown);
    /// Step `index` is done.
    fn step_finished(&mut self, index: usize, step: &Step, result: &StepResult);
    /// The plan is done after `wall` (less than the steps' sum when some ran at once);
    /// show the summary.
    fn finish(&mut self, results: &[StepResult], wall: std::time::Duration);
}

/// Which reporter fits where the runner is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A terminal: live progress.
    Terminal,
    /// A pipe or file: plain lines.
    Plain,
    /// GitHub Actions.
    GitHub,
}

impl Style {
    /// `GITHUB_ACTIONS=true` wins; otherwise a terminal on stdout gets live progress.
    pub fn detect() -> Style {
        Self::from_env(
            std::env::var("GITHUB_ACTIONS").ok().as_deref(),
            std::io::stdout().is_terminal(),
        )
    }

    fn from_env(github_actions: Option<&str>, terminal: bool) -> Style {
        match (github_actions, terminal) {
            (Some("true"), _) => Style::GitHub,
            (_, true) => Style::Terminal,
            _ => Style::Plain,
        }
    }

    /// Whether tools should colour their output: yes where it is shown to a person (a
    /// terminal, GitHub's log viewer), no in plain logs.
    pub fn colors(self) -> bool {
        self != Style::Plain
    }

    /// A reporter of this style, showing the lines of output `verbosity` asks for, in
    /// colour if `color`.
    pub fn reporter(self, verbosity: Verbosity, color: bool) -> Box<dyn Reporter + Send> {
        match self {
            Style::Terminal => Box::new(terminal::TerminalReporter::new(verbosity, color)),
            Style::Plain => Box::new(plain::PlainReporter::stdout().verbosity(verbosity)),
            Style::GitHub => Box::new(github::GitHubReporter::from_env(verbosity)),
        }
    }
}

/// `--color`: whether the steps' tools and the report use colour.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour where a person reads it (a terminal, GitHub's log viewer), unless `NO_COLOR`
    /// is set; `CLICOLOR_FORCE` forces it into pipes too.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour, for a run reported in `style`, reading `NO_COLOR` and
    /// `CLICOLOR_FORCE` from the environment.
    pub fn resolve(self, style: Style) -> bool {
        self.resolve_with(
            style,
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("CLICOLOR_FORCE").as_deref(),
        )
    }

    fn resolve_with(
        self,
        style: Style,
        no_color: Option<&std::ffi::OsStr>,
        force: Option<&std::ffi::OsStr>,
    ) -> bool {
        // Both conventions count a variable only when it is set to something (no-color.org,
        // bixense.com/clicolors).
        let set = |value: Option<&std::ffi::OsStr>| value.is_some_and(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set(no_color) => false,
            ColorChoice::Auto if set(force) && force != Some("0".as_ref()) => true,
            ColorChoice::Auto => style.colors(),
        }
    }
}

/// "12.3s" under a minute, "3m05s" above.
pub fn format_duration(elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = elapsed.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A reporter that records what it was told, for executor tests.

    use super::Reporter;
    use crate::output::Shown;
    use crate::plan::Step;
    use crate::record::StepResult;

    #[derive(Default)]
    pub struct Recorder {
        pub started: Vec<String>,
        pub concurrent: Vec<String>,
        pub lines: Vec<String>,
        pub results: Vec<StepResult>,
        pub finished: usize,
    }

    impl Reporter for Recorder {
        fn step_started(&mut self, _index: usize, _total: usize, step: &Step, concurrent: bool) {
            self.started.push(step.name.clone());
            if concurrent {
                self.concurrent.push(step.name.clone());
            }
        }
        fn output(&mut self, _index: usize, line: &str, _shown: Shown) {
            self.lines.push(line.to_string());
        }
        fn step_finished(&mut self, _index: usize, _step: &Step, result: &StepResult) {
            self.results.push(result.clone());
        }
        fn finish(&mut self, _results: &[StepResult], _wall: std::time::Duration) {
            self.finished += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn style_follows_environment() {
        assert_eq!(Style::from_env(Some("true"), true), Style::GitHub);
        assert_eq!(Style::from_env(Some("false"), true), Style::Terminal);
        assert_eq!(Style::from_env(None, false), Style::Plain);
    }

    #[test]
    fn colour_follows_the_flag_then_no_color_then_clicolor_force_then_the_style() {
        let on = Some(std::ffi::OsStr::new("1"));
        assert!(ColorChoice::Always.resolve_with(Style::Plain, on, None));
        assert!(!ColorChoice::Never.resolve_with(Style::Terminal, None, on));
        assert!(!ColorChoice::Auto.resolve_with(Style::Terminal, on, on));
        assert!(ColorChoice::Auto.resolve_with(Style::Plain, None, on));
        assert!(!ColorChoice::Auto.resolve_with(Style::Plain, None, Some("0".as_ref())));
        assert!(ColorChoice::Auto.resolve_with(Style::GitHub, Some("".as_ref()), None));
        assert!(!ColorChoice::Auto.resolve_with(Style::Plain, None, None));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
    }
}
