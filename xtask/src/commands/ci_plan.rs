//! `cargo xtask ci plan`: what CI runs for an event. The policy lives here, not in YAML:
//!
//! - pull request (and merge queue) → `cheap-short`
//! - push to the default branch, and the nightly schedule → `full-long`
//! - manual dispatch → the level chosen
//! - push to any other branch → `cheap-short`
//!
//! Every suite at or below the level runs, except suites that declare the paths they test
//! (kernel-facing code): those run only when one of those paths changed, and always on the
//! default branch. The level also picks the runner: GitHub-hosted for `cheap-short`,
//! self-hosted machines with the hardware for the others.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::level::Level;
use crate::suites::{self, Suite};

/// Arguments of `ci plan`; each defaults to GitHub Actions' environment.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct CiPlanArgs {
    /// The event: pull_request, merge_group, push, schedule or workflow_dispatch.
    /// [default: $GITHUB_EVENT_NAME]
    #[arg(long)]
    pub event: Option<String>,
    /// The git ref. [default: $GITHUB_REF]
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// The level chosen for a manual dispatch. [default: $XTASK_DISPATCH_LEVEL]
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// Compare with this commit to find the changed files (`git diff --name-only BASE...HEAD`).
    /// Without it (or --changed-files), every path counts as changed.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Read the changed files from FILE, one path per line, instead of asking git.
    #[arg(long, value_name = "FILE", conflicts_with = "base")]
    pub changed_files: Option<PathBuf>,
    /// The default branch. [default: main]
    #[arg(long, default_value = "main")]
    pub default_branch: String,
}

/// Which files changed: known, or unknown (then every path-filtered suite runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changes {
    /// These paths, relative to the repository root.
    Files(Vec<String>),
    /// Unknown (no base to compare with).
    Unknown,
}

/// The decision for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiPlan {
    /// The level for the e2e jobs.
    pub level: Level,
    /// The suites to run, one job each.
    pub suites: Vec<&'static str>,
    /// The runner labels for those jobs (`runs-on`).
    pub runs_on: Vec<&'static str>,
    /// Why, in one line.
    pub reason: String,
}

impl CiPlan {
    /// The plan as one JSON object.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"level\":\"{}\",\"suites\":{},\"runs_on\":{},\"reason\":{}}}",
            self.level,
            json_array(&self.suites),
            json_array(&self.runs_on),
            json_string(&self.reason)
        )
    }

    /// `key=value` lines for `$GITHUB_OUTPUT`.
    pub fn github_output(&self) -> String {
        format!(
            "level={}\nsuites={}\nruns_on={}\n",
            self.level,
            json_array(&self.suites),
            json_array(&self.runs_on)
        )
    }
}

/// Decides, prints the JSON, and appends the outputs to `$GITHUB_OUTPUT` when set.
pub fn run(args: &CiPlanArgs) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let event = args
        .event
        .clone()
        .or_else(|| env("GITHUB_EVENT_NAME"))
        .context("no event: pass --event or run under GitHub Actions (GITHUB_EVENT_NAME)")?;
    let git_ref = args
        .git_ref
        .clone()
        .or_else(|| env("GITHUB_REF"))
        .unwrap_or_default();
    let dispatch_level = match (args.level, env("XTASK_DISPATCH_LEVEL")) {
        (Some(level), _) => Some(level),
        (None, Some(name)) => Some(
            <Level as clap::ValueEnum>::from_str(&name, false)
                .map_err(|_| anyhow::anyhow!("XTASK_DISPATCH_LEVEL=`{name}` is not a level; valid: cheap-short, perf-short, full-short, full-long"))?,
        ),
        (None, None) => None,
    };
    let changes = match (&args.changed_files, &args.base) {
        (Some(file), _) => Changes::Files(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading changed files from {}", file.display()))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        ),
        (None, Some(base)) => changed_since(base)?,
        (None, None) => Changes::Unknown,
    };
    let plan = decide(
        &event,
        &git_ref,
        dispatch_level,
        &changes,
        &args.default_branch,
        suites::registry(),
    )?;
    println!("{}", plan.to_json());
    if let Some(path) = env("GITHUB_OUTPUT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening GITHUB_OUTPUT ({path})"))?;
        file.write_all(plan.github_output().as_bytes())
            .with_context(|| format!("writing GITHUB_OUTPUT ({path})"))?;
    }
    Ok(())
}

/// Files changed between `base` and HEAD; a base git cannot resolve (a shallow clone, a new
/// branch) means unknown rather than an error, so CI errs toward running more.
fn changed_since(base: &str) -> anyhow::Result<Changes> {
    let sh = crate::project::shell()?;
    let range = format!("{base}...HEAD");
    match xshell::cmd!(sh, "git diff --name-only {range}")
        .quiet()
        .ignore_stderr()
        .read()
    {
        Ok(out) => Ok(Changes::Files(out.lines().map(String::from).collect())),
        Err(_) => {
            eprintln!("warning: cannot diff against {base}; treating every path as changed");
            Ok(Changes::Unknown)
        }
    }
}

/// The policy.
pub fn decide(
    event: &str,
    git_ref: &str,
    dispatch_level: Option<Level>,
    changes: &Changes,
    default_branch: &str,
    registry: &'static [Suite],
) -> anyhow::Result<CiPlan> {
    let on_default_branch = git_ref == format!("refs/heads/{default_branch}");
    let (level, reason) = match event {
        "pull_request" | "pull_request_target" | "merge_group" => (
            Level::CheapShort,
            format!("{event}: cheap checks on hosted runners"),
        ),
        "push" if on_default_branch => (
            Level::FullLong,
            format!("push to {default_branch}: everything"),
        ),
        "push" => (
            Level::CheapShort,
            format!("push to {git_ref}: cheap checks"),
        ),
        "schedule" => (Level::FullLong, "nightly: everything".to_string()),
        "workflow_dispatch" => match dispatch_level {
            Some(level) => (level, format!("manual run at {level}")),
            None => bail!("workflow_dispatch needs a level (--level or XTASK_DISPATCH_LEVEL)"),
        },
        other => bail!(
            "no CI policy for event `{other}`; known: pull_request, merge_group, push, schedule, workflow_dispatch"
        ),
    };
    let everything = on_default_branch || event == "schedule";
    let suites = registry
        .iter()
        .filter(|suite| level >= suite.min_level && level.admits(suite.duration))
        .filter(|suite| everything || touched(suite, changes))
        .map(|suite| suite.name)
        .collect();
    Ok(CiPlan {
        level,
        suites,
        runs_on: runner_for(level),
        reason,
    })
}

/// Whether a suite that tests particular paths is affected by the changes.
fn touched(suite: &Suite, changes: &Changes) -> bool {
    if suite.paths.is_empty() {
        return true;
    }
    match changes {
        Changes::Unknown => true,
        Changes::Files(files) => files
            .iter()
            .any(|file| suite.paths.iter().any(|prefix| file.starts_with(prefix))),
    }
}

/// Runner labels per level: hosted machines are enough for `cheap-short`; the others need
/// self-hosted machines with performance counters or resctrl hardware.
pub fn runner_for(level: Level) -> Vec<&'static str> {
    match level {
        Level::CheapShort => vec!["ubuntu-24.04"],
        Level::PerfShort => vec!["self-hosted", "linux", "x64", "perf"],
        Level::FullShort | Level::FullLong => vec!["self-hosted", "linux", "x64", "resctrl"],
    }
}

fn json_array(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", inner.join(","))
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Duration;
    use crate::plan::Step;
    use crate::suites::SuiteCtx;

    fn no_steps(_: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
        Ok(Vec::new())
    }

    /// A registry shaped like the real one will be: a cheap suite, a hardware suite, a
    /// kernel-facing long suite.
    static REGISTRY: &[Suite] = &[
        Suite {
            name: "cheap",
            about: "a test suite",
            min_level: Level::CheapShort,
            needs: &[],
            duration: Duration::Short,
            paths: &[],
            args: None,
            steps: no_steps,
        },
        Suite {
            name: "perf",
            about: "a test suite",
            min_level: Level::PerfShort,
            needs: &[],
            duration: Duration::Short,
            paths: &[],
            args: None,
            steps: no_steps,
        },
        Suite {
            name: "kernel",
            about: "a test suite",
            min_level: Level::FullShort,
            needs: &[],
            duration: Duration::Long,
            paths: &["crates/resctrl/"],
            args: None,
            steps: no_steps,
        },
    ];

    fn plan(event: &str, git_ref: &str, level: Option<Level>, changes: &[&str]) -> CiPlan {
        let changes = Changes::Files(changes.iter().map(|s| s.to_string()).collect());
        decide(event, git_ref, level, &changes, "main", REGISTRY).unwrap()
    }

    #[test]
    fn pull_requests_are_cheap_and_hosted() {
        let p = plan(
            "pull_request",
            "refs/pull/7/merge",
            None,
            &["crates/resctrl/src/lib.rs"],
        );
        assert_eq!(p.level, Level::CheapShort);
        assert_eq!(p.suites, ["cheap"]);
        assert_eq!(p.runs_on, ["ubuntu-24.04"]);
        assert_eq!(
            plan(
                "merge_group",
                "refs/heads/gh-readonly-queue/main/x",
                None,
                &[]
            )
            .level,
            Level::CheapShort
        );
    }

    #[test]
    fn main_runs_everything_even_without_kernel_changes() {
        let p = plan("push", "refs/heads/main", None, &["README.md"]);
        assert_eq!(p.level, Level::FullLong);
        assert_eq!(p.suites, ["cheap", "perf", "kernel"]);
        assert_eq!(p.runs_on, ["self-hosted", "linux", "x64", "resctrl"]);
        assert_eq!(
            plan("schedule", "refs/heads/main", None, &[]).suites,
            ["cheap", "perf", "kernel"]
        );
    }

    #[test]
    fn other_branches_are_cheap() {
        let p = plan(
            "push",
            "refs/heads/feature/x",
            None,
            &["crates/resctrl/src/lib.rs"],
        );
        assert_eq!(p.level, Level::CheapShort);
        assert_eq!(p.suites, ["cheap"]);
    }

    #[test]
    fn dispatch_uses_the_chosen_level_and_kernel_suites_need_kernel_changes() {
        let without = plan(
            "workflow_dispatch",
            "refs/heads/feature/x",
            Some(Level::FullLong),
            &["xtask/src/main.rs"],
        );
        assert_eq!(without.suites, ["cheap", "perf"]);
        let with = plan(
            "workflow_dispatch",
            "refs/heads/feature/x",
            Some(Level::FullLong),
            &["crates/resctrl/src/group.rs"],
        );
        assert_eq!(with.suites, ["cheap", "perf", "kernel"]);
        let short = plan(
            "workflow_dispatch",
            "refs/heads/x",
            Some(Level::FullShort),
            &["crates/resctrl/src/group.rs"],
        );
        assert_eq!(
            short.suites,
            ["cheap", "perf"],
            "a long suite needs full-long"
        );
        let unknown = decide(
            "workflow_dispatch",
            "refs/heads/x",
            Some(Level::FullLong),
            &Changes::Unknown,
            "main",
            REGISTRY,
        )
        .unwrap();
        assert_eq!(unknown.suites, ["cheap", "perf", "kernel"]);
    }

    #[test]
    fn missing_or_unknown_inputs_are_errors() {
        let none = Changes::Unknown;
        let err = decide(
            "workflow_dispatch",
            "refs/heads/x",
            None,
            &none,
            "main",
            REGISTRY,
        )
        .unwrap_err();
        assert!(err.to_string().contains("needs a level"), "{err}");
        let err = decide("release", "refs/tags/v1", None, &none, "main", REGISTRY).unwrap_err();
        assert!(
            err.to_string().contains("no CI policy for event `release`"),
            "{err}"
        );
    }

    #[test]
    fn outputs() {
        let p = plan("pull_request", "refs/pull/7/merge", None, &[]);
        assert_eq!(
            p.to_json(),
            r#"{"level":"cheap-short","suites":["cheap"],"runs_on":["ubuntu-24.04"],"reason":"pull_request: cheap checks on hosted runners"}"#
        );
        assert_eq!(
            p.github_output(),
            "level=cheap-short\nsuites=[\"cheap\"]\nruns_on=[\"ubuntu-24.04\"]\n"
        );
        assert_eq!(json_string("a\"b\\\n"), r#""a\"b\\\n""#);
    }

    #[test]
    fn the_real_registry_runs_the_cheap_suites_on_pull_requests() {
        let p = decide(
            "pull_request",
            "refs/pull/1/merge",
            None,
            &Changes::Unknown,
            "main",
            suites::registry(),
        )
        .unwrap();
        // Kernel-facing paths may have changed (unknown), so the kernel matrix runs too.
        assert_eq!(p.suites, ["nri-e2e", "kernel-matrix", "collector-s3"]);
    }
}
