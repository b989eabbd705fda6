//! The executor: runs a plan's steps in order (adjacent steps of a concurrency group at the
//! same time) and records what happened to each.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::child;
use super::interrupt::{Interrupt, Interrupted};
use crate::output::{OutputParser, Shown};
use crate::plan::{Action, Exec, Plan, Step, StepIo};
use crate::record::{Status, StepResult};
use crate::report::Reporter;

/// The reporter, shared by steps that run at the same time.
type SharedReporter<'r> = Mutex<&'r mut (dyn Reporter + Send)>;

/// Where a running step's lines go (the shared reporter, seen without its lifetime).
trait LineSink: Sync {
    fn output(&self, index: usize, line: &str, shown: Shown);
}

impl LineSink for SharedReporter<'_> {
    fn output(&self, index: usize, line: &str, shown: Shown) {
        lock(self).output(index, line, shown);
    }
}

/// The environment variable naming a step's directory for debugging material.
pub const ARTIFACTS_ENV: &str = "XTASK_ARTIFACTS_DIR";

/// A running step's view of the executor: the [`StepIo`] its task is given.
struct RunningStep<'a> {
    reporter: &'a dyn LineSink,
    index: usize,
    log: Option<File>,
    interrupt: &'a Interrupt,
    env: Vec<(String, String)>,
    parser: Option<Box<dyn OutputParser>>,
}

impl RunningStep<'_> {
    fn emit(&mut self, text: &str, shown: Shown) {
        if let Some(log) = &mut self.log {
            // A log that cannot be written must not fail the step it records.
            let _ = writeln!(log, "{text}");
        }
        self.reporter.output(self.index, text, shown);
    }
}

impl StepIo for RunningStep<'_> {
    fn line(&mut self, text: &str) {
        match self.parser.take() {
            Some(mut parser) => {
                parser.read(text, &mut |out, shown| self.emit(out, shown));
                self.parser = Some(parser);
            }
            None => self.emit(text, Shown::Always),
        }
    }

    fn check_interrupted(&self) -> anyhow::Result<()> {
        self.interrupt.check()
    }

    fn run(&mut self, exec: &Exec) -> anyhow::Result<()> {
        let interrupt = self.interrupt;
        let mut exec = exec.clone();
        for (key, value) in &self.env {
            exec.env.push((key.into(), Some(value.into())));
        }
        child::run(&exec, interrupt, &mut |line| self.line(line))
    }
}

/// The reporter, even if a step's thread panicked while holding it (reporting goes on).
fn lock<'m, 'r>(reporter: &'m SharedReporter<'r>) -> MutexGuard<'m, &'r mut (dyn Reporter + Send)> {
    reporter
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs plans, reporting to a [`Reporter`] and writing each step's output to a log file.
pub struct Executor<'a> {
    reporter: SharedReporter<'a>,
    interrupt: Interrupt,
    log_dir: PathBuf,
    env: Vec<(String, String)>,
    /// Names this run's artifact directories apart from earlier runs'.
    run_id: String,
}

impl<'a> Executor<'a> {
    /// An executor logging step output under `log_dir`.
    pub fn new(
        reporter: &'a mut (dyn Reporter + Send),
        interrupt: Interrupt,
        log_dir: PathBuf,
    ) -> Self {
        Executor {
            reporter: Mutex::new(reporter),
            interrupt,
            log_dir,
            env: Vec::new(),
            run_id: format!(
                "run-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            ),
        }
    }

    /// Sets an environment variable for every program the steps run.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs every step and returns their records, in plan order. Adjacent steps of one
    /// concurrency group form a batch; within it each chain (or step without one) is a lane,
    /// and lanes run at the same time.
    pub fn run(&mut self, plan: &Plan) -> Vec<StepResult> {
        let _ = std::fs::create_dir_all(&self.log_dir);
        let started = Instant::now();
        let done: Mutex<Vec<Option<StepResult>>> = Mutex::new(vec![None; plan.steps.len()]);
        let mut start = 0;
        while start < plan.steps.len() {
            let end = batch_end(plan, start);
            let lanes = lanes(plan, start..end);
            if lanes.len() == 1 {
                self.run_lane(plan, &lanes[0], false, &done);
            } else {
                std::thread::scope(|scope| {
                    for lane in &lanes {
                        let (this, done) = (&*self, &done);
                        scope.spawn(move || this.run_lane(plan, lane, true, done));
                    }
                });
            }
            start = end;
        }
        let results: Vec<StepResult> = done
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .into_iter()
            .zip(&plan.steps)
            .map(|(result, step)| {
                // Only a panicking step thread leaves no record; say so rather than lose it.
                result.unwrap_or_else(|| {
                    StepResult::new(
                        &step.name,
                        Status::Failed("the runner's thread for this step panicked".to_string()),
                    )
                })
            })
            .collect();
        lock(&self.reporter).finish(&results, started.elapsed());
        results
    }

    /// Runs the steps of one lane in order.
    fn run_lane(
        &self,
        plan: &Plan,
        lane: &[usize],
        concurrent: bool,
        done: &Mutex<Vec<Option<StepResult>>>,
    ) {
        for &index in lane {
            let step = &plan.steps[index];
            lock(&self.reporter).step_started(index, plan.steps.len(), step, concurrent);
            let blocked = {
                let done = done.lock().unwrap_or_else(|p| p.into_inner());
                self.blocker(plan, &done, step)
            };
            let result = match blocked {
                Some(status) => StepResult::new(&step.name, status),
                None => self.run_step(index, step),
            };
            lock(&self.reporter).step_finished(index, step, &result);
            done.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
        }
    }

    /// Why a step must not run: an interruption, or an earlier failure in its chain.
    /// Cleanup steps always run.
    fn blocker(&self, plan: &Plan, done: &[Option<StepResult>], step: &Step) -> Option<Status> {
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
                earlier.chain.as_ref() == Some(chain)
                    && result.as_ref().is_some_and(|r| r.status.is_failure())
            })
            .map(|(earlier, _)| Status::Skipped(format!("{} failed", earlier.name)))
    }

    fn run_step(&self, index: usize, step: &Step) -> StepResult {
        let started = Instant::now();
        let mut result = StepResult::new(&step.name, Status::Ok);
        match &step.action {
            Action::Skip { reason } => result.status = Status::Skipped(reason.clone()),
            Action::Fail { reason } => result.status = Status::Failed(reason.clone()),
            Action::Cached { at, .. } => {
                result.cached = Some(crate::result_cache::ago(*at, std::time::SystemTime::now()));
            }
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
                let artifacts = step
                    .artifacts
                    .as_ref()
                    .map(|group| self.log_dir.join(file_name(group)).join(&self.run_id));
                let mut env = self.env.clone();
                if let Some(dir) = &artifacts {
                    let _ = std::fs::create_dir_all(dir);
                    env.push((ARTIFACTS_ENV.to_string(), dir.display().to_string()));
                }
                let mut io = RunningStep {
                    reporter: &self.reporter,
                    index,
                    log,
                    interrupt: &interrupt,
                    env,
                    parser: step.output.as_ref().map(|make| make()),
                };
                let outcome = match &step.action {
                    Action::Exec(exec) => io.run(exec),
                    Action::Task(task) => (task.run)(&mut io),
                    Action::Skip { .. } | Action::Fail { .. } | Action::Cached { .. } => {
                        unreachable!("handled above")
                    }
                };
                if let Some(parser) = &mut io.parser {
                    result.digest = parser.finish(outcome.is_err());
                }
                result.status = match outcome {
                    Ok(()) => Status::Ok,
                    Err(err) if err.is::<Interrupted>() => Status::Interrupted,
                    // What the output says failed beats the exit status (the log has both).
                    Err(err) => Status::Failed(
                        result
                            .digest
                            .summary
                            .clone()
                            .unwrap_or_else(|| format!("{err:#}")),
                    ),
                };
                result.log = Some(log_path);
                // An empty directory would only send a person looking for nothing.
                result.artifacts = artifacts.filter(|dir| {
                    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
                });
                result.junit = step.junit.clone().filter(|path| path.exists());
            }
        }
        result.elapsed = started.elapsed();
        result
    }
}

/// The end (exclusive) of the batch starting at `start`: the run of adjacent steps sharing
/// its concurrency group, or just that step.
fn batch_end(plan: &Plan, start: usize) -> usize {
    match &plan.steps[start].concurrent {
        None => start + 1,
        Some(group) => {
            start
                + plan.steps[start..]
                    .iter()
                    .take_while(|s| s.concurrent.as_ref() == Some(group))
                    .count()
        }
    }
}

/// The lanes of a batch: the steps of each chain together, in plan order; a step without a
/// chain is a lane of its own.
fn lanes(plan: &Plan, batch: std::ops::Range<usize>) -> Vec<Vec<usize>> {
    let mut lanes: Vec<(Option<&String>, Vec<usize>)> = Vec::new();
    for index in batch {
        let step = &plan.steps[index];
        let chain = step.chain.as_ref().filter(|_| !step.own_lane);
        match lanes
            .iter_mut()
            .find(|(c, _)| chain.is_some() && *c == chain)
        {
            Some((_, lane)) => lane.push(index),
            None => lanes.push((chain, vec![index])),
        }
    }
    lanes.into_iter().map(|(_, lane)| lane).collect()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::{any_failed, interrupted, read_log};
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
    fn a_task_checking_between_units_of_work_stops_at_a_request() {
        let interrupt = Interrupt::default();
        let trigger = interrupt.clone();
        let mut plan = Plan::default();
        plan.push(Step::task("units", "checks before each unit", move |io| {
            for unit in 0..3 {
                io.check_interrupted()?;
                io.line(&format!("unit {unit}"));
                trigger.trigger(libc::SIGINT);
            }
            Ok(())
        }));
        let (results, recorder, _logs) = run_plan(&plan, interrupt);
        assert_eq!(results[0].status, Status::Interrupted);
        assert_eq!(recorder.lines, ["unit 0"]);
    }

    #[test]
    fn interleaved_chains_each_keep_their_own_lane() {
        let mut plan = Plan::default();
        for (name, chain) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")] {
            plan.push(Step::task(name, "", |_| Ok(())).in_chain(chain));
        }
        plan.push(Step::task("alone", "", |_| Ok(())));
        assert_eq!(lanes(&plan, 0..5), [vec![0, 2], vec![1, 3], vec![4]]);
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
    fn lanes_of_a_concurrent_batch_run_at_the_same_time() {
        // Each step writes its marker, then waits for the other's: only concurrent lanes
        // can both finish (a sequential run would time out in the first step).
        let dir = tempfile::tempdir().unwrap();
        let handshake = |mine: &str, theirs: &str| {
            let (mine, theirs) = (dir.path().join(mine), dir.path().join(theirs));
            move |_: &mut dyn StepIo| {
                std::fs::write(&mine, "")?;
                let deadline = Instant::now() + Duration::from_secs(10);
                while !theirs.exists() {
                    anyhow::ensure!(Instant::now() < deadline, "the other lane never ran");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            }
        };
        let mut plan = Plan::default();
        plan.push(Step::task("a", "waits for b", handshake("a", "b")).concurrently("batch"));
        plan.push(Step::task("b", "waits for a", handshake("b", "a")).concurrently("batch"));
        plan.push(Step::task("after", "runs alone", |_| Ok(())));
        let (results, recorder, _logs) = run_plan(&plan, Interrupt::default());
        let statuses: Vec<&Status> = results.iter().map(|r| &r.status).collect();
        assert_eq!(statuses, [&Status::Ok, &Status::Ok, &Status::Ok]);
        let mut concurrent = recorder.concurrent.clone();
        concurrent.sort();
        assert_eq!(concurrent, ["a", "b"]);
    }

    #[test]
    fn own_lane_steps_of_a_chain_run_side_by_side_after_the_chain_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let handshake = |mine: &str, theirs: &str| {
            let (mine, theirs) = (dir.path().join(mine), dir.path().join(theirs));
            move |_: &mut dyn StepIo| {
                std::fs::write(&mine, "")?;
                let deadline = Instant::now() + Duration::from_secs(10);
                while !theirs.exists() {
                    anyhow::ensure!(Instant::now() < deadline, "the other lane never ran");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            }
        };
        let mut plan = Plan::default();
        plan.push(Step::task("build", "first", |_| Ok(())).in_chain("suite"));
        for (mine, theirs) in [("k1", "k2"), ("k2", "k1")] {
            plan.push(
                Step::task(mine, "waits for the other", handshake(mine, theirs))
                    .in_chain("suite")
                    .concurrently("guests")
                    .in_own_lane(),
            );
        }
        let (results, _, _logs) = run_plan(&plan, Interrupt::default());
        let statuses: Vec<&Status> = results.iter().map(|r| &r.status).collect();
        assert_eq!(statuses, [&Status::Ok, &Status::Ok, &Status::Ok]);

        let mut failing = Plan::default();
        failing
            .push(Step::task("build", "fails", |_| anyhow::bail!("no compiler")).in_chain("suite"));
        failing.push(
            Step::task("k1", "never runs", |_| Ok(()))
                .in_chain("suite")
                .concurrently("guests")
                .in_own_lane(),
        );
        let (results, _, _logs) = run_plan(&failing, Interrupt::default());
        assert_eq!(results[1].status, Status::Skipped("build failed".into()));
    }

    #[test]
    fn a_chain_inside_a_batch_stays_in_order_and_stops_at_a_failure() {
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let record = |name: &'static str, fail: bool| {
            let order = order.clone();
            move |_: &mut dyn StepIo| {
                order.lock().unwrap().push(name);
                if fail {
                    anyhow::bail!("{name} broke")
                } else {
                    Ok(())
                }
            }
        };
        let mut plan = Plan::default();
        plan.push(
            Step::task("tools", "first", record("tools", false))
                .in_chain("lint")
                .concurrently("checks"),
        );
        plan.push(
            Step::task("lint", "second", record("lint", true))
                .in_chain("lint")
                .concurrently("checks"),
        );
        plan.push(
            Step::task("more", "third", record("more", false))
                .in_chain("lint")
                .concurrently("checks"),
        );
        plan.push(Step::task("clippy", "own lane", record("clippy", false)).concurrently("checks"));
        let (results, _, _logs) = run_plan(&plan, Interrupt::default());
        assert_eq!(results[1].status, Status::Failed("lint broke".into()));
        assert_eq!(results[2].status, Status::Skipped("lint failed".into()));
        assert_eq!(results[3].status, Status::Ok);
        let order = order.lock().unwrap().clone();
        let lane: Vec<&str> = order.iter().copied().filter(|n| *n != "clippy").collect();
        assert_eq!(lane, ["tools", "lint"]);
    }

    #[test]
    fn a_step_keeping_artifacts_gets_a_directory_of_its_own_per_run() {
        let sh = crate::project::shell().unwrap();
        let mut plan = Plan::default();
        plan.push(
            Step::exec(
                "suite: tests",
                cmd!(
                    sh,
                    "sh -c 'echo daemon said > $XTASK_ARTIFACTS_DIR/daemon.log; exit 1'"
                )
                .into(),
            )
            .keeping_artifacts("suite"),
        );
        plan.push(Step::exec("quiet", cmd!(sh, "true").into()).keeping_artifacts("quiet"));
        let (results, _, logs) = run_plan(&plan, Interrupt::default());
        let dir = results[0].artifacts.clone().expect("kept artifacts");
        assert!(
            dir.starts_with(logs.path().join("suite")),
            "{}",
            dir.display()
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("daemon.log")).expect("the kept log"),
            "daemon said\n"
        );
        assert_eq!(results[1].artifacts, None, "nothing kept, nothing named");
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
