//! The executor: runs a plan's steps in order and records what happened to each.

pub mod child;
pub mod interrupt;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use interrupt::{Interrupt, Interrupted};

use crate::plan::{Action, Exec, Plan, Step};
use crate::report::Reporter;

/// What happened to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It ran and succeeded.
    Ok,
    /// It failed; the reason names the command or check.
    Failed(String),
    /// It did not run; the reason says why.
    Skipped(String),
    /// A termination request stopped it.
    Interrupted,
}

impl Status {
    /// Whether this status makes the whole run fail.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Failed(_) | Status::Interrupted)
    }

    /// "ok", "failed: ...", "skipped: ...", "interrupted".
    pub fn describe(&self) -> String {
        match self {
            Status::Ok => "ok".to_string(),
            Status::Failed(reason) => format!("failed: {reason}"),
            Status::Skipped(reason) => format!("skipped: {reason}"),
            Status::Interrupted => "interrupted".to_string(),
        }
    }
}

/// The record of one step.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// The step's name.
    pub name: String,
    /// What happened.
    pub status: Status,
    /// Wall time; zero for steps that did not run.
    pub elapsed: Duration,
    /// The full output of the step, if it ran.
    pub log: Option<PathBuf>,
    /// Per-test JUnit results the step wrote, if any.
    pub junit: Option<PathBuf>,
}

/// What a running step can do: report output, run programs, and notice interruption.
pub struct StepIo<'a> {
    reporter: &'a mut dyn Reporter,
    log: Option<File>,
    interrupt: &'a Interrupt,
    env: &'a [(String, String)],
}

impl StepIo<'_> {
    /// Reports one line of progress or output.
    pub fn line(&mut self, text: &str) {
        if let Some(log) = &mut self.log {
            // A log that cannot be written must not fail the step it records.
            let _ = writeln!(log, "{text}");
        }
        self.reporter.output(text);
    }

    /// `Err(Interrupted)` once a termination request arrived, for tasks to stop between
    /// units of work.
    pub fn check_interrupted(&self) -> anyhow::Result<()> {
        self.interrupt.check()
    }

    /// Runs a program with its output reported line by line; fails if it fails.
    pub fn run(&mut self, exec: &Exec) -> anyhow::Result<()> {
        let interrupt = self.interrupt;
        let mut exec = exec.clone();
        for (key, value) in self.env {
            exec.env.push((key.into(), Some(value.into())));
        }
        child::run(&exec, interrupt, &mut |line| self.line(line))
    }
}

/// Runs plans, reporting to a [`Reporter`] and writing each step's output to a log file.
pub struct Executor<'a> {
    reporter: &'a mut dyn Reporter,
    interrupt: Interrupt,
    log_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl<'a> Executor<'a> {
    /// An executor logging step output under `log_dir`.
    pub fn new(reporter: &'a mut dyn Reporter, interrupt: Interrupt, log_dir: PathBuf) -> Self {
        Executor {
            reporter,
            interrupt,
            log_dir,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every program the steps run.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs every step and returns their records, in plan order.
    pub fn run(&mut self, plan: &Plan) -> Vec<StepResult> {
        let _ = std::fs::create_dir_all(&self.log_dir);
        let mut results: Vec<StepResult> = Vec::with_capacity(plan.steps.len());
        for (index, step) in plan.steps.iter().enumerate() {
            self.reporter.step_started(index, plan.steps.len(), step);
            let result = match self.blocker(plan, &results, step) {
                Some(status) => StepResult {
                    name: step.name.clone(),
                    status,
                    elapsed: Duration::ZERO,
                    log: None,
                    junit: None,
                },
                None => self.run_step(step),
            };
            self.reporter.step_finished(step, &result);
            results.push(result);
        }
        self.reporter.finish(&results);
        results
    }

    /// Why a step must not run: an interruption, or an earlier failure in its chain.
    /// Cleanup steps always run.
    fn blocker(&self, plan: &Plan, done: &[StepResult], step: &Step) -> Option<Status> {
        if step.always {
            return None;
        }
        if self.interrupt.requested() {
            return Some(Status::Skipped("interrupted before it started".to_string()));
        }
        let chain = step.chain.as_ref()?;
        plan.steps
            .iter()
            .zip(done)
            .find(|(earlier, result)| {
                earlier.chain.as_ref() == Some(chain) && result.status.is_failure()
            })
            .map(|(earlier, _)| Status::Skipped(format!("{} failed", earlier.name)))
    }

    fn run_step(&mut self, step: &Step) -> StepResult {
        let started = Instant::now();
        let mut result = StepResult {
            name: step.name.clone(),
            status: Status::Ok,
            elapsed: Duration::ZERO,
            log: None,
            junit: None,
        };
        match &step.action {
            Action::Skip { reason } => result.status = Status::Skipped(reason.clone()),
            Action::Fail { reason } => result.status = Status::Failed(reason.clone()),
            Action::Exec(_) | Action::Task(_) => {
                let log_path = self.log_dir.join(format!("{}.log", file_name(&step.name)));
                if let Some(junit) = &step.junit {
                    // Results of an earlier run must not be mistaken for this run's.
                    let _ = std::fs::remove_file(junit);
                }
                let log = File::create(&log_path).ok();
                let interrupt = if step.always {
                    self.interrupt.fresh()
                } else {
                    self.interrupt.clone()
                };
                let mut io = StepIo {
                    reporter: &mut *self.reporter,
                    log,
                    interrupt: &interrupt,
                    env: &self.env,
                };
                let outcome = match &step.action {
                    Action::Exec(exec) => io.run(exec),
                    Action::Task(task) => (task.run)(&mut io),
                    Action::Skip { .. } | Action::Fail { .. } => unreachable!("handled above"),
                };
                result.status = match outcome {
                    Ok(()) => Status::Ok,
                    Err(err) if err.is::<Interrupted>() => Status::Interrupted,
                    Err(err) => Status::Failed(format!("{err:#}")),
                };
                result.log = Some(log_path);
                result.junit = step.junit.clone().filter(|path| path.exists());
            }
        }
        result.elapsed = started.elapsed();
        result
    }
}

/// A step name as a file name: `nri-e2e: provision` → `nri-e2e-provision`.
fn file_name(step: &str) -> String {
    let mapped: String = step
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Whether any step failed (or was interrupted).
pub fn any_failed(results: &[StepResult]) -> bool {
    results.iter().any(|r| r.status.is_failure())
}

/// Whether the run was interrupted.
pub fn interrupted(results: &[StepResult]) -> bool {
    results.iter().any(|r| r.status == Status::Interrupted)
}

/// The log of a step, for reporters that show a failed step's output.
pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::Recorder;
    use xshell::cmd;

    /// Runs a plan with logs in a temporary directory, kept alive as long as the results.
    fn run_plan(
        plan: &Plan,
        interrupt: Interrupt,
    ) -> (Vec<StepResult>, Recorder, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::default();
        let results = Executor::new(&mut recorder, interrupt, dir.path().to_path_buf()).run(plan);
        (results, recorder, dir)
    }

    #[test]
    fn runs_all_independent_steps_even_after_a_failure() {
        let sh = crate::project::shell().unwrap();
        let mut plan = Plan::default();
        plan.push(Step::exec(
            "first",
            cmd!(sh, "sh -c 'echo hi; exit 1'").into(),
        ));
        plan.push(Step::exec("second", cmd!(sh, "true").into()));
        plan.push(Step::skip("third", "not at this level"));
        let (results, recorder, _logs) = run_plan(&plan, Interrupt::default());
        assert_eq!(
            results[0].status,
            Status::Failed("`sh` failed: exit status 1".into())
        );
        assert_eq!(results[1].status, Status::Ok);
        assert_eq!(
            results[2].status,
            Status::Skipped("not at this level".into())
        );
        assert_eq!(read_log(results[0].log.as_ref().unwrap()), "hi\n");
        assert_eq!(recorder.lines, ["hi"]);
        assert!(any_failed(&results));
    }

    #[test]
    fn a_failure_skips_the_rest_of_its_chain_only() {
        let sh = crate::project::shell().unwrap();
        let mut plan = Plan::default();
        plan.push(Step::exec("provision", cmd!(sh, "false").into()).in_chain("suite"));
        plan.push(Step::exec("tests", cmd!(sh, "true").into()).in_chain("suite"));
        plan.push(Step::exec("other", cmd!(sh, "true").into()).in_chain("other"));
        let (results, _, _logs) = run_plan(&plan, Interrupt::default());
        assert!(results[0].status.is_failure());
        assert_eq!(
            results[1].status,
            Status::Skipped("provision failed".into())
        );
        assert_eq!(results[2].status, Status::Ok);
    }

    #[test]
    fn tasks_report_lines_and_errors() {
        let mut plan = Plan::default();
        plan.push(Step::task("task", "says hello then fails", |io| {
            io.line("hello");
            anyhow::bail!("it broke")
        }));
        let (results, recorder, _logs) = run_plan(&plan, Interrupt::default());
        assert_eq!(results[0].status, Status::Failed("it broke".into()));
        assert_eq!(recorder.lines, ["hello"]);
    }

    #[test]
    fn after_an_interrupt_remaining_steps_are_skipped() {
        let interrupt = Interrupt::default();
        let trigger = interrupt.clone();
        let mut plan = Plan::default();
        plan.push(Step::task("stopper", "interrupts itself", move |_| {
            trigger.trigger(libc::SIGINT);
            Err(Interrupted.into())
        }));
        plan.push(Step::task("next", "never runs", |_| anyhow::bail!("ran")));
        let (results, recorder, _logs) = run_plan(&plan, interrupt);
        assert_eq!(results[0].status, Status::Interrupted);
        assert_eq!(
            results[1].status,
            Status::Skipped("interrupted before it started".into())
        );
        assert!(interrupted(&results));
        assert_eq!(recorder.finished, 1);
    }

    #[test]
    fn executor_environment_reaches_every_program() {
        let sh = crate::project::shell().unwrap();
        let mut plan = Plan::default();
        plan.push(Step::exec(
            "env",
            cmd!(sh, "sh -c 'echo $XTASK_TEST_VAR'").into(),
        ));
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::default();
        let results = Executor::new(
            &mut recorder,
            Interrupt::default(),
            dir.path().to_path_buf(),
        )
        .with_env("XTASK_TEST_VAR", "from-executor")
        .run(&plan);
        assert_eq!(results[0].status, Status::Ok);
        assert_eq!(recorder.lines, ["from-executor"]);
    }

    #[test]
    fn cleanup_steps_run_after_failures_and_interrupts() {
        let interrupt = Interrupt::default();
        let trigger = interrupt.clone();
        let mut plan = Plan::default();
        plan.push(
            Step::task("provision", "fails", |_| anyhow::bail!("no network")).in_chain("suite"),
        );
        plan.push(Step::task("tests", "interrupted", move |_| Ok(())).in_chain("suite"));
        plan.push(
            Step::task("cleanup", "always runs", move |io| {
                trigger.trigger(libc::SIGINT);
                io.line("cleaned");
                Ok(())
            })
            .in_chain("suite")
            .always(),
        );
        plan.push(Step::task("after", "skipped: interrupted", |_| Ok(())));
        plan.push(Step::task("final cleanup", "still runs", |_| Ok(())).always());
        let (results, recorder, _logs) = run_plan(&plan, interrupt);
        let statuses: Vec<&Status> = results.iter().map(|r| &r.status).collect();
        assert_eq!(
            statuses,
            [
                &Status::Failed("no network".into()),
                &Status::Skipped("provision failed".into()),
                &Status::Ok,
                &Status::Skipped("interrupted before it started".into()),
                &Status::Ok,
            ]
        );
        assert_eq!(recorder.lines, ["cleaned"]);
    }

    #[test]
    fn step_names_become_file_names() {
        assert_eq!(
            file_name("nri-e2e: provision containerd"),
            "nri-e2e-provision-containerd"
        );
        assert_eq!(file_name("unit"), "unit");
    }
}
