//! Plans: what a command will do, as an ordered list of named steps.
//!
//! Every command turns its arguments into a [`Plan`]. The same plan is printed by `--plan`,
//! run natively by the executor, or run inside the builder container, so what you see is
//! what runs.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::output::{OutputParser, ParserFactory};

/// An ordered list of steps.
#[derive(Default)]
pub struct Plan {
    /// Context printed above the steps by `--plan` (e.g. which suites run at which level).
    pub notes: String,
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Appends a step.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// Appends all steps (and notes) of another plan.
    pub fn extend(&mut self, other: Plan) {
        self.notes.push_str(&other.notes);
        self.steps.extend(other.steps);
    }

    /// Lets all its steps run at the same time (see [`Step::concurrent`]).
    pub fn concurrently(mut self, group: &str) -> Self {
        self.steps = self
            .steps
            .into_iter()
            .map(|step| step.concurrently(group))
            .collect();
        self
    }

    /// Renders the plan as the `--plan` listing: one line per step, with its command.
    pub fn render(&self) -> String {
        let width = self.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let mut out = self.notes.clone();
        if !out.is_empty() {
            out.push('\n');
        }
        for (index, step) in self.steps.iter().enumerate() {
            let mut marks = String::new();
            if let Some(group) = &step.concurrent {
                marks.push_str(&format!("[with {group}] "));
            }
            if step.always {
                marks.push_str("[always] ");
            }
            out.push_str(&format!(
                "{:>2}. {:<width$}  {marks}{}\n",
                index + 1,
                step.name,
                step.action.describe()
            ));
        }
        out
    }
}

/// One named unit of work with its own status and wall time in the report.
pub struct Step {
    /// Short name shown in progress and in the final table, e.g. `clippy`.
    pub name: String,
    /// What the step does.
    pub action: Action,
    /// Steps sharing a chain depend on each other: after one fails, the rest of its chain is
    /// skipped. Steps without a chain always run, so `ci fast` reports every failure at once.
    pub chain: Option<String>,
    /// A JUnit file the step writes with per-test results, merged into `--junit` output.
    pub junit: Option<PathBuf>,
    /// Cleanup: runs even after earlier failures in its chain or an interrupt.
    pub always: bool,
    /// Adjacent steps with the same group run at the same time (steps of one chain among
    /// them still one after another). For work that does not contend: different tools,
    /// or cargo commands that only wait for each other's build lock.
    pub concurrent: Option<String>,
    /// In a concurrent batch, a lane of its own although it belongs to a chain: it still
    /// waits for the chain's earlier steps (and is skipped after their failure) but runs
    /// beside its chain's other steps of the batch, e.g. one kernel of the kernel matrix.
    pub own_lane: bool,
    /// Reads the step's output as it runs: what a person sees, and the digest of what
    /// failed (see [`crate::output`]). Without one, every line is shown and a failure's
    /// digest is the end of its log.
    pub output: Option<Box<ParserFactory>>,
    /// For suites: the name of the directory under `target/xtask/logs/` where the step's
    /// programs keep what a person needs to debug a failure (daemon logs, consoles, state),
    /// one subdirectory per run; the executor passes its path in `XTASK_ARTIFACTS_DIR`.
    pub artifacts: Option<String>,
}

impl Step {
    /// The command line of an exec step, as `--plan` shows it.
    ///
    /// # Panics
    /// If the step runs no program.
    #[cfg(test)]
    pub fn command_line(&self) -> String {
        match &self.action {
            Action::Exec(exec) => exec.to_string(),
            _ => panic!("{} is not an exec step", self.name),
        }
    }

    /// A step that runs a command.
    pub fn exec(name: impl Into<String>, exec: Exec) -> Self {
        Self::new(name, Action::Exec(exec))
    }

    /// A step that runs Rust code inside the runner.
    pub fn task(
        name: impl Into<String>,
        description: impl Into<String>,
        run: impl Fn(&mut dyn StepIo) -> anyhow::Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            name,
            Action::Task(Task {
                description: description.into(),
                run: Box::new(run),
            }),
        )
    }

    /// A step decided at plan time not to run, with the reason.
    pub fn skip(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(
            name,
            Action::Skip {
                reason: reason.into(),
            },
        )
    }

    /// A step decided at plan time to fail, with the reason (a skip under `--strict`).
    pub fn fail(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(
            name,
            Action::Fail {
                reason: reason.into(),
            },
        )
    }

    fn new(name: impl Into<String>, action: Action) -> Self {
        Step {
            name: name.into(),
            action,
            chain: None,
            junit: None,
            always: false,
            concurrent: None,
            own_lane: false,
            output: None,
            artifacts: None,
        }
    }

    /// Lets the step keep debugging material under `target/xtask/logs/<group>/<run>/` (see
    /// [`Step::artifacts`]).
    pub fn keeping_artifacts(mut self, group: impl Into<String>) -> Self {
        self.artifacts = Some(group.into());
        self
    }

    /// Reads the step's output with the parsers `parser` makes (see [`Step::output`]).
    pub fn parsed_by(
        mut self,
        parser: impl Fn() -> Box<dyn OutputParser> + Send + Sync + 'static,
    ) -> Self {
        self.output = Some(Box::new(parser));
        self
    }

    /// Puts the step in a chain (see [`Step::chain`]).
    pub fn in_chain(mut self, chain: impl Into<String>) -> Self {
        self.chain = Some(chain.into());
        self
    }

    /// Lets this step run at the same time as its neighbours of the same group (see
    /// [`Step::concurrent`]).
    pub fn concurrently(mut self, group: impl Into<String>) -> Self {
        self.concurrent = Some(group.into());
        self
    }

    /// Runs this step beside its chain's other steps of a concurrent batch (see
    /// [`Step::own_lane`]).
    pub fn in_own_lane(mut self) -> Self {
        self.own_lane = true;
        self
    }

    /// Makes this a cleanup step (see [`Step::always`]).
    pub fn always(mut self) -> Self {
        self.always = true;
        self
    }

    /// Records the JUnit file this step writes (see [`Step::junit`]).
    pub fn with_junit(mut self, path: PathBuf) -> Self {
        self.junit = Some(path);
        self
    }
}

/// What a step does.
pub enum Action {
    /// Run a program.
    Exec(Exec),
    /// Run Rust code in the runner (provisioning, probes, file generation).
    Task(Task),
    /// Do nothing; reported as skipped with this reason.
    Skip {
        /// Why the step does not run (level too low, capability missing...).
        reason: String,
    },
    /// Do nothing; reported as failed with this reason.
    Fail {
        /// Why the step counts as failed.
        reason: String,
    },
    /// Do nothing; reported as passed from a green run of the same inputs (`ci fast`'s
    /// result cache, see [`crate::incremental`]).
    Cached {
        /// When that run was, in seconds since the epoch.
        at: u64,
        /// What the step would have done (its `describe()`).
        command: String,
    },
}

impl Action {
    /// One line saying what the action does: `run: <command>`, `task: ...`, `skip: ...`.
    pub fn describe(&self) -> String {
        match self {
            Action::Exec(exec) => format!("run: {exec}"),
            Action::Task(task) => format!("task: {}", task.description),
            Action::Skip { reason } => format!("skip: {reason}"),
            Action::Fail { reason } => format!("fail: {reason}"),
            Action::Cached { at, command } => format!(
                "cached: ok {} [{command}]",
                crate::result_cache::ago(*at, std::time::SystemTime::now())
            ),
        }
    }

    /// Whether the action does work (as opposed to a decided skip or failure).
    pub fn runs(&self) -> bool {
        matches!(self, Action::Exec(_) | Action::Task(_))
    }
}

/// What a running task can do; the executor provides it.
pub trait StepIo {
    /// Reports one line of progress or output (and writes it to the step's log).
    fn line(&mut self, text: &str);

    /// `Err(Interrupted)` once a termination request arrived, for tasks to stop between
    /// units of work.
    fn check_interrupted(&self) -> anyhow::Result<()>;

    /// Runs a program with its output reported line by line; fails if it fails.
    fn run(&mut self, exec: &Exec) -> anyhow::Result<()>;
}

/// A [`StepIo`] for tests of task code: it keeps the lines and runs programs directly.
#[cfg(test)]
pub mod testing {
    use super::{Exec, StepIo};

    /// Records every line a task reports.
    #[derive(Debug, Default)]
    pub struct Lines {
        /// What was reported, in order.
        pub lines: Vec<String>,
    }

    impl StepIo for Lines {
        fn line(&mut self, text: &str) {
            self.lines.push(text.to_string());
        }

        fn check_interrupted(&self) -> anyhow::Result<()> {
            Ok(())
        }

        fn run(&mut self, exec: &Exec) -> anyhow::Result<()> {
            let out = exec.to_command().output()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            self.lines.extend(text.lines().map(str::to_string));
            anyhow::ensure!(out.status.success(), "`{exec}` failed: {}", out.status);
            Ok(())
        }
    }
}

/// The code of a [`Task`].
pub type TaskFn = dyn Fn(&mut dyn StepIo) -> anyhow::Result<()> + Send + Sync;

/// Rust code run as a step.
pub struct Task {
    /// What it does, for `--plan`.
    pub description: String,
    /// The code; it reports progress through [`StepIo`] and checks for interruption there.
    pub run: Box<TaskFn>,
}

/// A program to run: program, arguments, environment additions and working directory.
///
/// Built from an xshell command (`Exec::from(cmd!(sh, "cargo fmt --all"))`), so commands are
/// written with xshell's interpolation and run by the executor, which adds what xshell does
/// not offer: a process group per step, streamed output and signal forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// The program, as given (looked up on `PATH` when spawned).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment variables set (`Some`) or removed (`None`) on top of the runner's own.
    pub env: Vec<(OsString, Option<OsString>)>,
    /// Working directory, if not the runner's.
    pub cwd: Option<PathBuf>,
    /// Directories created before the program starts (for tools that will not create
    /// their output directory themselves).
    pub mkdirs: Vec<PathBuf>,
}

impl Exec {
    /// Creates `dir` (and its parents) before the program runs.
    pub fn creating_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.mkdirs.push(dir.into());
        self
    }

    /// The program and its leading words, e.g. `cargo nextest run`: enough to name the
    /// command in a one-line failure reason (the full line is in the step's header and log).
    pub fn short_name(&self) -> String {
        // A program given by path is named by its file name: `zizmor`, not the venv path.
        let program = Path::new(&self.program)
            .file_name()
            .unwrap_or(&self.program)
            .to_owned();
        let words: Vec<String> = std::iter::once(&program)
            .chain(
                self.args
                    .iter()
                    .take_while(|a| !a.to_string_lossy().starts_with('-'))
                    .take(2),
            )
            .map(|word| quote(word))
            .collect();
        words.join(" ")
    }

    /// Sets an environment variable for the program.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// A `std::process::Command` for this exec (stdio is left to the caller).
    pub fn to_command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        command
    }
}

impl From<xshell::Cmd<'_>> for Exec {
    fn from(cmd: xshell::Cmd<'_>) -> Self {
        let command = Command::from(cmd);
        Exec {
            program: command.get_program().to_owned(),
            args: command.get_args().map(OsStr::to_owned).collect(),
            env: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(OsStr::to_owned)))
                .collect(),
            cwd: command.get_current_dir().map(PathBuf::from),
            mkdirs: Vec::new(),
        }
    }
}

impl fmt::Display for Exec {
    /// Shell-like rendering: `[cd DIR &&] [K=V ...] program args...`, quoted where needed.
    /// The directory is shown only when it is not the workspace root, where steps run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for dir in &self.mkdirs {
            write!(f, "mkdir -p {} && ", quote(dir.as_os_str()))?;
        }
        if let Some(cwd) = self
            .cwd
            .as_deref()
            .filter(|dir| *dir != crate::project::root())
        {
            write!(f, "cd {} && ", quote(cwd.as_os_str()))?;
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => write!(f, "{}={} ", key.to_string_lossy(), quote(value))?,
                None => write!(f, "-u {} ", key.to_string_lossy())?,
            }
        }
        write!(f, "{}", quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        Ok(())
    }
}

/// Quotes an argument for display the way a POSIX shell would need it.
pub fn quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell::cmd;

    #[test]
    fn exec_from_xshell_keeps_program_args_and_env() {
        let sh = crate::project::shell().unwrap();
        let target = "x y";
        let exec = Exec::from(cmd!(sh, "cargo build --target-dir {target}").env("A", "1"));
        assert_eq!(exec.program, "cargo");
        assert_eq!(exec.args, ["build", "--target-dir", "x y"]);
        assert_eq!(exec.to_string(), "A=1 cargo build --target-dir 'x y'");
    }

    #[test]
    fn short_names_and_mkdirs() {
        let sh = crate::project::shell().unwrap();
        let exec = Exec::from(cmd!(sh, "cargo nextest run --workspace -E 'all()'"));
        assert_eq!(exec.short_name(), "cargo nextest run");
        let exec = Exec::from(cmd!(sh, "sh -c 'exit 3'")).creating_dir("/tmp/x y");
        assert_eq!(exec.short_name(), "sh");
        let by_path = Exec::from(cmd!(sh, "/venv/bin/zizmor --offline x"));
        assert_eq!(by_path.short_name(), "zizmor");
        assert_eq!(exec.to_string(), "mkdir -p '/tmp/x y' && sh -c 'exit 3'");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(OsStr::new("plain-arg_1.0")), "plain-arg_1.0");
        assert_eq!(quote(OsStr::new("")), "''");
        assert_eq!(quote(OsStr::new("it's")), r"'it'\''s'");
    }

    #[test]
    fn render_lists_every_step_with_its_action() {
        let sh = crate::project::shell().unwrap();
        let mut plan = Plan::default();
        plan.push(Step::exec("fmt", cmd!(sh, "cargo fmt --all").into()).concurrently("checks"));
        plan.push(Step::skip("resctrl-e2e", "needs full-short"));
        plan.push(Step::fail("nri-e2e", "missing: root"));
        plan.push(Step::task("provision", "fetch containerd", |_| Ok(())));
        plan.push(Step::task("cleanup", "remove leftovers", |_| Ok(())).always());
        let text = plan.render();
        assert_eq!(
            text,
            " 1. fmt          [with checks] run: cargo fmt --all\n \
             2. resctrl-e2e  skip: needs full-short\n \
             3. nri-e2e      fail: missing: root\n \
             4. provision    task: fetch containerd\n \
             5. cleanup      [always] task: remove leftovers\n"
        );
    }
}
