//! `ci fast`, incremental: the full fast plan cut down to what the changes since each
//! step's last green run (or since `--since REV`) can affect, and the records of this run's
//! green steps for the next.
//!
//! Per step: no record, another key ([`Key`]: command line, toolchain, build variables,
//! tools) or a changed file outside every package that is not inert runs it whole. Otherwise
//! the changed files decide: clippy reruns on any package change (workspace-wide, cargo's
//! own incremental work keeps that cheap); fmt checks the packages whose Rust files changed;
//! unit tests and doctests run for the affected packages (those changed and their reverse
//! dependencies); the linters rerun when their files changed. A step nothing touches is
//! cached: reported `ok (cached, 3 min ago)` without running. Steps of one chain run or are
//! cached together. Whatever cannot be known (no git, cargo metadata failing) runs
//! everything, and the plan says why.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

mod recorder;
mod scope;

pub use recorder::Recorder;

use crate::affected::Workspace;
use crate::plan::{Action, Plan, Step, quote};
use crate::result_cache::{self, Key, Snapshot, Store};
use recorder::Pending;
use scope::{Scope, Selection, scope, select};

/// How much of the plan may be left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Against each step's last green run in this checkout.
    Cached,
    /// Against the merge-base of `HEAD` with this revision (committed, uncommitted and
    /// untracked changes); records are not read.
    Since(String),
    /// Everything runs, for this reason; green results are recorded when `record`.
    Everything {
        /// Said in the plan.
        why: String,
        /// Whether this run's green steps become records.
        record: bool,
    },
}

/// What becomes of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decision {
    /// Its last green run still holds (recorded at this epoch second).
    Cached(u64),
    /// It runs whole.
    All(String),
    /// It runs for these packages only.
    Packages(Vec<String>, String),
    /// Nothing of it is left to run; reported skipped with this reason.
    Nothing(String),
}

/// The command line a step is known by, colour options left out (they change nothing but
/// the output, and differ between a terminal and a pipe).
fn command_of(step: &Step) -> String {
    match &step.action {
        Action::Exec(exec) => {
            let mut words = vec![quote(&exec.program)];
            let mut args = exec.args.iter();
            while let Some(arg) = args.next() {
                let text = arg.to_string_lossy();
                if text == "--color" {
                    args.next();
                } else if text != "-color" && text != "-no-color" {
                    words.push(quote(arg));
                }
            }
            words.join(" ")
        }
        other => other.describe(),
    }
}

/// The programs an exec step runs, each with its identity (a subcommand `cargo X` also
/// names `cargo-X`, such as cargo-nextest).
fn tools_of(step: &Step) -> BTreeMap<String, String> {
    let mut tools = BTreeMap::new();
    if let Action::Exec(exec) = &step.action {
        let program = exec.program.to_string_lossy().into_owned();
        if program == "cargo"
            && let Some(sub) = exec.args.first().map(|a| a.to_string_lossy())
            && !sub.starts_with('-')
        {
            let plugin = format!("cargo-{sub}");
            tools.insert(plugin.clone(), result_cache::tool_identity(&plugin));
        }
        tools.insert(program.clone(), result_cache::tool_identity(&program));
    }
    tools
}

/// What outside the checkout changes a build: the toolchain and the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildEnv {
    /// `rustc -vV`.
    pub toolchain: String,
    /// The variables [`result_cache::is_relevant_env`] keeps.
    pub vars: BTreeMap<String, String>,
    /// The user's configuration files, hashed with the checkout's (outside every package).
    pub config_files: Vec<(String, std::path::PathBuf)>,
}

impl BuildEnv {
    /// This process's.
    pub fn detect() -> Self {
        BuildEnv {
            toolchain: result_cache::toolchain(),
            vars: result_cache::relevant_env(),
            config_files: result_cache::user_config_files(),
        }
    }
}

/// What every step's key and selection is built from.
struct Inputs {
    ws: Workspace,
    snapshot: Snapshot,
    toolchain: String,
    env: BTreeMap<String, String>,
}

impl Inputs {
    fn gather(root: &Path, store: &Store, build_env: &BuildEnv) -> anyhow::Result<Self> {
        let ws = Workspace::load(root).context("reading the workspace's packages")?;
        let snapshot = Snapshot::take(root, &build_env.config_files, &store.read_snapshot())
            .context("hashing the checkout's files")?;
        Ok(Inputs {
            ws,
            snapshot,
            toolchain: build_env.toolchain.clone(),
            env: build_env.vars.clone(),
        })
    }

    fn key(&self, step: &Step) -> Key {
        Key {
            command: command_of(step),
            toolchain: self.toolchain.clone(),
            env: self.env.clone(),
            tools: tools_of(step),
        }
    }
}

/// The files changed since the merge-base of `HEAD` with `rev`, committed or not, and the
/// untracked ones.
fn changed_since_rev(root: &Path, rev: &str) -> anyhow::Result<Vec<String>> {
    let git = |args: &[&str]| -> anyhow::Result<Vec<u8>> {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .with_context(|| format!("running git {}", args.join(" ")))?;
        anyhow::ensure!(
            out.status.success(),
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(out.stdout)
    };
    let base = git(&["merge-base", rev, "HEAD"])?;
    let base = String::from_utf8_lossy(&base).trim().to_string();
    let mut names = git(&["diff", "--name-only", "--relative", "-z", &base])?;
    names.push(0);
    names.extend(git(&["ls-files", "-z", "--others", "--exclude-standard"])?);
    let mut files: Vec<String> = names
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Makes a step for some packages only: given the full plan's step name and the packages,
/// the step (fmt, unit tests, doctests), or `None` when it cannot be cut down.
pub type Narrow<'a> = &'a dyn Fn(&str, &[String]) -> Option<Step>;

/// `full` (the whole fast plan) cut down as `mode` allows, with a note saying per step what
/// runs and why, and what to record after the run; `narrow` makes the cut-down steps.
pub fn select_plan(
    narrow: Narrow<'_>,
    root: &Path,
    store: Store,
    full: Plan,
    mode: Mode,
    build_env: &BuildEnv,
) -> (Plan, Recorder) {
    let inputs = match &mode {
        Mode::Everything { .. } => None,
        _ => Some(Inputs::gather(root, &store, build_env)),
    };
    let (inputs, mode) = match inputs {
        Some(Err(err)) => (
            None,
            Mode::Everything {
                why: format!("{err:#}"),
                record: false,
            },
        ),
        Some(Ok(inputs)) => (Some(inputs), mode),
        None => (None, mode),
    };
    let Some(inputs) = inputs else {
        let Mode::Everything { why, record } = mode else {
            unreachable!("inputs are gathered for every other mode")
        };
        return everything(root, store, full, &why, record, build_env);
    };
    let since = match &mode {
        Mode::Since(rev) => match changed_since_rev(root, rev) {
            Ok(files) => Some((rev.clone(), files)),
            Err(err) => {
                let why = format!("{err:#}; cannot tell what changed since {rev}");
                return everything(root, store, full, &why, false, build_env);
            }
        },
        _ => None,
    };
    let decisions: Vec<Decision> = full
        .steps
        .iter()
        .map(|step| {
            let scope = scope(step);
            if scope == Scope::Uncached {
                return Decision::All("not cached".to_string());
            }
            let (changed, at) = match &since {
                Some((_, files)) => (files.clone(), None),
                None => {
                    let Some(record) = store.read(&step.name) else {
                        return Decision::All(
                            "no green run recorded for this checkout".to_string(),
                        );
                    };
                    if let Some(difference) = inputs.key(step).difference(&record.key) {
                        return Decision::All(difference);
                    }
                    (
                        inputs.snapshot.changed_since(&record.files),
                        Some(record.at),
                    )
                }
            };
            match (select(scope, &inputs.ws, &changed), at) {
                (Selection::Untouched, Some(at)) => Decision::Cached(at),
                (Selection::Untouched, None) => Decision::Nothing(format!(
                    "nothing changed since {} affects it",
                    since.as_ref().map_or("", |(rev, _)| rev.as_str())
                )),
                (Selection::All(why), _) => Decision::All(why),
                (Selection::Packages(packages, why), _) => Decision::Packages(packages, why),
                (Selection::NoLibrary(why), _) => Decision::Nothing(why),
            }
        })
        .collect();
    let decisions = whole_chains(&full, decisions);
    build(
        narrow,
        store,
        full,
        decisions,
        &inputs,
        since.map(|(rev, _)| rev),
    )
}

/// A chain's steps run together: when one of them runs, the cached ones run too (the
/// linters need the tools step's installation).
fn whole_chains(plan: &Plan, mut decisions: Vec<Decision>) -> Vec<Decision> {
    for (index, step) in plan.steps.iter().enumerate() {
        let Some(chain) = &step.chain else { continue };
        if !matches!(decisions[index], Decision::Cached(_)) {
            continue;
        }
        let running = plan.steps.iter().zip(&decisions).find(|(other, decision)| {
            other.chain.as_ref() == Some(chain)
                && other.action.runs()
                && !matches!(decision, Decision::Cached(_))
        });
        if let Some((other, _)) = running {
            decisions[index] = Decision::All(format!("{} runs, and its chain with it", other.name));
        }
    }
    decisions
}

/// The plan and recorder for `decisions`.
fn build(
    narrow: Narrow<'_>,
    store: Store,
    full: Plan,
    decisions: Vec<Decision>,
    inputs: &Inputs,
    since: Option<String>,
) -> (Plan, Recorder) {
    let mut plan = Plan {
        notes: full.notes.clone(),
        steps: Vec::new(),
    };
    let mut pending = Vec::new();
    let mut lines = Vec::new();
    let width = full.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for (index, (step, decision)) in full.steps.into_iter().zip(decisions).enumerate() {
        let scoped = scope(&step) != Scope::Uncached;
        let key = inputs.key(&step);
        let name = step.name.clone();
        let (step, line, record) = match decision {
            Decision::Cached(at) => {
                let ago = result_cache::ago(at, std::time::SystemTime::now());
                let line = format!("cached: green {ago}, and nothing it depends on changed");
                (cached(step, at), line, false)
            }
            Decision::All(why) if scoped => (step, format!("runs: {why}"), true),
            Decision::All(_) => (step, "runs: not cached".to_string(), false),
            Decision::Packages(packages, why) => {
                let line = format!("{}: {why}", packages.join(", "));
                // A run cut down by --since leaves out packages no record vouches for.
                (narrowed(narrow, step, &packages), line, since.is_none())
            }
            Decision::Nothing(why) => {
                let skipped = like(Step::skip(&name, why.clone()), &step);
                (skipped, format!("skipped: {why}"), since.is_none())
            }
        };
        if scoped {
            lines.push(format!("  {name:<width$}  {line}"));
        }
        if record {
            pending.push(Pending {
                index,
                name,
                skip_is_green: matches!(step.action, Action::Skip { .. }),
                key,
            });
        }
        plan.push(step);
    }
    let against = match &since {
        Some(rev) => format!("the changes since the merge-base with {rev}"),
        None => format!(
            "each step's last green run in this checkout (records in {})",
            store.dir().display()
        ),
    };
    plan.notes.push_str(&format!(
        "ci fast runs what changed since {against}; --no-cache runs everything:\n{}\n",
        lines.join("\n")
    ));
    let recorder = Recorder {
        store: Some(store),
        snapshot: inputs.snapshot.clone(),
        pending,
    };
    (plan, recorder)
}

/// Every step runs; with `record`, the green ones become records.
fn everything(
    root: &Path,
    store: Store,
    mut full: Plan,
    why: &str,
    record: bool,
    build_env: &BuildEnv,
) -> (Plan, Recorder) {
    full.notes
        .push_str(&format!("ci fast runs everything: {why}\n"));
    if !record {
        return (full, Recorder::none());
    }
    let inputs = match Inputs::gather(root, &store, build_env) {
        Ok(inputs) => inputs,
        Err(err) => {
            full.notes
                .push_str(&format!("(nothing will be recorded: {err:#})\n"));
            return (full, Recorder::none());
        }
    };
    let pending = full
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| scope(step) != Scope::Uncached)
        .map(|(index, step)| Pending {
            index,
            name: step.name.clone(),
            key: inputs.key(step),
            skip_is_green: false,
        })
        .collect();
    let recorder = Recorder {
        store: Some(store),
        snapshot: inputs.snapshot,
        pending,
    };
    (full, recorder)
}

/// `step` reported as passed from its record of `at`, without running.
fn cached(mut step: Step, at: u64) -> Step {
    let command = step.action.describe();
    step.action = Action::Cached { at, command };
    step.output = None;
    step.junit = None;
    step
}

/// `step` for `packages` only.
fn narrowed(narrow: Narrow<'_>, step: Step, packages: &[String]) -> Step {
    // A step that cannot be cut down runs whole: never less than asked for.
    match narrow(&step.name, packages) {
        Some(made) => like(made, &step),
        None => step,
    }
}

/// `made` in `original`'s place: the same chain, group and lane.
fn like(mut made: Step, original: &Step) -> Step {
    made.chain = original.chain.clone();
    made.concurrent = original.concurrent.clone();
    made.own_lane = original.own_lane;
    made.always = original.always;
    made
}

#[cfg(test)]
mod tests;
