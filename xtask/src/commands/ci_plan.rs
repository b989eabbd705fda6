//! `cargo xtask ci plan`: what CI runs for an event. The policy lives here, not in YAML:
//!
//! - pull request (and merge queue) → `cheap-short`
//! - push to the default branch, and the nightly schedule → `full-long`
//! - manual dispatch → the level chosen
//!
//! Pushes to other branches are not subscribed: their pull requests test them, and a second
//! run of the same commit would only double the bill. [`TRIGGERS`] is the list `ci.yaml`
//! subscribes to (a test reads the workflow and compares).
//!
//! Every suite at or below the level runs, except suites that declare the paths they test
//! (kernel-facing code): on pull requests and merge queues those run only when one of those
//! paths changed since the merge-base with the default branch (computed here from git, not
//! passed in by the workflow); on the default branch, the schedule and manual runs, every
//! suite of the level runs. The level also picks the runner: GitHub-hosted for
//! `cheap-short`, self-hosted machines with the hardware for the others.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::level::Level;
use crate::suites::{self, Suite};
use crate::usage::usage_bail;

/// Arguments of `ci plan`; each defaults to GitHub Actions' environment.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct CiPlanArgs {
    /// The event: pull_request, merge_group, push, schedule or workflow_dispatch.
    /// [default: $GITHUB_EVENT_NAME]
    #[arg(long)]
    pub event: Option<String>,
    /// The git ref: `refs/heads/main`, or a branch name alone (`main`). [default:
    /// $GITHUB_REF]
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// The level chosen for a manual dispatch (workflow_dispatch only). [default:
    /// $XTASK_DISPATCH_LEVEL]
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// Compare with this commit to find the changed files (`git diff --name-only BASE...HEAD`,
    /// i.e. since their merge-base). [default: origin/<default branch>, else <default
    /// branch>; when neither resolves, every path counts as changed]
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Read the changed files from FILE, one path per line, instead of asking git.
    #[arg(long, value_name = "FILE", conflicts_with = "base")]
    pub changed_files: Option<PathBuf>,
    /// The default branch.
    #[arg(long, default_value = DEFAULT_BRANCH)]
    pub default_branch: String,
}

/// An event `ci.yaml` subscribes to, as the policy handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// The GitHub event name.
    pub event: &'static str,
    /// For `push`: the only branches subscribed (the default branch). Empty: no filter.
    pub branches: &'static [&'static str],
}

/// Every event the policy handles, which is exactly what `ci.yaml` subscribes to.
pub const TRIGGERS: &[Trigger] = &[
    Trigger {
        event: "pull_request",
        branches: &[],
    },
    Trigger {
        event: "merge_group",
        branches: &[],
    },
    Trigger {
        event: "push",
        branches: &[DEFAULT_BRANCH],
    },
    Trigger {
        event: "schedule",
        branches: &[],
    },
    Trigger {
        event: "workflow_dispatch",
        branches: &[],
    },
];

/// The repository's default branch.
pub const DEFAULT_BRANCH: &str = "main";

/// Which files changed: known, or unknown (then every path-filtered suite runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changes {
    /// These paths, relative to the repository root.
    Files(Vec<String>),
    /// Unknown (no base to compare with).
    Unknown,
}

/// Suites with a job of their own in `ci.yaml` instead of a place in the e2e matrix:
/// `collector-image` waits for the collector image (job `e2e-image`), which no other suite
/// needs. The workflow tests check that each has its job.
pub const OWN_JOB: &[&str] = &["collector-image"];

/// The decision for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiPlan {
    /// The level for the e2e jobs.
    pub level: Level,
    /// The suites to run, one job each.
    pub suites: Vec<&'static str>,
    /// The suites of the e2e matrix: `suites` without those in [`OWN_JOB`]. Its own output,
    /// so that a plan of only such suites gives an empty matrix the workflow skips, rather
    /// than a matrix whose every entry is excluded (a job GitHub refuses to start).
    pub matrix: Vec<&'static str>,
    /// The runner labels for those jobs (`runs-on`).
    pub runs_on: Vec<&'static str>,
    /// Why, in one line.
    pub reason: String,
}

impl CiPlan {
    /// The plan as one JSON object.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"level\":\"{}\",\"suites\":{},\"matrix\":{},\"runs_on\":{},\"reason\":{}}}",
            self.level,
            json_array(&self.suites),
            json_array(&self.matrix),
            json_array(&self.runs_on),
            json_string(&self.reason)
        )
    }

    /// `key=value` lines for `$GITHUB_OUTPUT`.
    pub fn github_output(&self) -> String {
        format!(
            "level={}\nsuites={}\nmatrix={}\nruns_on={}\n",
            self.level,
            json_array(&self.suites),
            json_array(&self.matrix),
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
        .ok_or_else(|| {
            anyhow::Error::new(crate::usage::UsageError(
                "no event: pass --event or run under GitHub Actions (GITHUB_EVENT_NAME)".into(),
            ))
        })?;
    if args.level.is_some() && event != "workflow_dispatch" {
        usage_bail!(
            "--level is for a manual dispatch (--event workflow_dispatch); a {event} event's level follows from the policy"
        );
    }
    let git_ref = args
        .git_ref
        .clone()
        .or_else(|| env("GITHUB_REF"))
        .unwrap_or_default();
    // A workflow may export the dispatch level for every event; only a dispatch reads it.
    let dispatch_env = env("XTASK_DISPATCH_LEVEL").filter(|_| event == "workflow_dispatch");
    let dispatch_level = match (args.level, dispatch_env) {
        (Some(level), _) => Some(level),
        (None, Some(name)) => Some(
            <Level as clap::ValueEnum>::from_str(&name, false)
                .map_err(|_| anyhow::anyhow!("XTASK_DISPATCH_LEVEL=`{name}` is not a level; valid: cheap-short, perf-short, full-short, full-long"))?,
        ),
        (None, None) => None,
    };
    let changes = if !filters_by_paths(&event) {
        // Every suite of the level runs; asking git would only risk a spurious failure.
        Changes::Unknown
    } else {
        match (&args.changed_files, &args.base) {
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
            (None, None) => changed_since(&default_base(&args.default_branch)?)?,
        }
    };
    let compared = match (&changes, &args.changed_files, &args.base) {
        (Changes::Unknown, ..) => None,
        (Changes::Files(files), Some(file), _) => Some(format!(
            "{} changed files listed in {}",
            files.len(),
            file.display()
        )),
        (Changes::Files(files), None, base) => Some(format!(
            "{} files changed since the merge-base with {}",
            files.len(),
            base.clone()
                .map_or_else(|| default_base(&args.default_branch), Ok)?
        )),
    };
    let mut plan = decide(
        &event,
        &git_ref,
        dispatch_level,
        &changes,
        &args.default_branch,
        suites::registry(),
    )?;
    if let Some(compared) = compared {
        plan.reason = format!("{}; {compared}", plan.reason);
    }
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

/// Whether the event's suites depend on which files changed (pull requests and merge
/// queues); the others run every suite of their level.
fn filters_by_paths(event: &str) -> bool {
    matches!(event, "pull_request" | "merge_group")
}

/// The default branch as fetched from `origin` (a CI checkout has no local branch of it),
/// else the local branch (a developer's clone).
fn default_base(default_branch: &str) -> anyhow::Result<String> {
    let sh = crate::project::shell()?;
    let candidates = [
        format!("origin/{default_branch}"),
        default_branch.to_string(),
    ];
    for candidate in &candidates {
        let rev = format!("{candidate}^{{commit}}");
        if xshell::cmd!(sh, "git rev-parse --verify --quiet {rev}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
        {
            return Ok(candidate.clone());
        }
    }
    // `changed_since` then warns and counts every path as changed.
    Ok(candidates[0].clone())
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
    if dispatch_level.is_some() && event != "workflow_dispatch" {
        usage_bail!("a level is for a manual dispatch (workflow_dispatch), not for {event}");
    }
    if git_ref.is_empty() && matches!(event, "push" | "workflow_dispatch") {
        usage_bail!(
            "a {event} event needs its ref: pass --ref (e.g. refs/heads/main) or set GITHUB_REF"
        );
    }
    // `main` and `refs/heads/main` name the same branch.
    let full_ref = if git_ref.starts_with("refs/") || git_ref.is_empty() {
        git_ref.to_string()
    } else {
        format!("refs/heads/{git_ref}")
    };
    let git_ref = full_ref.as_str();
    let default_ref = if default_branch.starts_with("refs/") {
        default_branch.to_string()
    } else {
        format!("refs/heads/{default_branch}")
    };
    let on_default_branch = git_ref == default_ref;
    let (level, reason) = match event {
        "pull_request" | "merge_group" => (
            Level::CheapShort,
            format!("{event}: cheap checks on hosted runners"),
        ),
        "push" if on_default_branch => (
            Level::FullLong,
            format!("push to {default_branch}: everything"),
        ),
        "push" => usage_bail!(
            "no CI policy for a push to `{git_ref}`: only pushes to {default_branch} are subscribed (a branch is tested by its pull request)"
        ),
        "schedule" => (Level::FullLong, "nightly: everything".to_string()),
        "workflow_dispatch" => match dispatch_level {
            Some(level) => (level, format!("manual run at {level}")),
            None => {
                usage_bail!("workflow_dispatch needs a level (--level or XTASK_DISPATCH_LEVEL)")
            }
        },
        other => usage_bail!(
            "no CI policy for event `{other}`; known: {}",
            TRIGGERS
                .iter()
                .map(|t| t.event)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let everything = !filters_by_paths(event);
    let suites: Vec<&'static str> = registry
        .iter()
        .filter(|suite| level >= suite.min_level && level.admits(suite.duration))
        .filter(|suite| everything || touched(suite, changes))
        .map(|suite| suite.name)
        .collect();
    let matrix = suites
        .iter()
        .copied()
        .filter(|name| !OWN_JOB.contains(name))
        .collect();
    Ok(CiPlan {
        level,
        suites,
        matrix,
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
mod workflows;

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

    /// A kernel-facing suite that is cheap: path filtering alone decides whether it runs.
    static LONG_CHEAP: &[Suite] = &[Suite {
        name: "kernel",
        about: "a test suite",
        min_level: Level::CheapShort,
        needs: &[],
        duration: Duration::Short,
        paths: &["crates/resctrl/"],
        args: None,
        steps: no_steps,
    }];

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
    fn pushes_to_other_branches_have_no_policy_since_they_are_not_subscribed() {
        let err = decide(
            "push",
            "refs/heads/feature/x",
            None,
            &Changes::Unknown,
            "main",
            REGISTRY,
        )
        .expect_err("not subscribed");
        assert!(err.to_string().contains("only pushes to main"), "{err}");
    }

    #[test]
    fn pull_requests_run_kernel_suites_only_when_kernel_paths_changed() {
        let at = |changes: &[&str]| {
            let changes = Changes::Files(changes.iter().map(|s| s.to_string()).collect());
            decide(
                "merge_group",
                "refs/heads/gh-readonly-queue/main/x",
                None,
                &changes,
                "main",
                LONG_CHEAP,
            )
            .expect("a plan")
            .suites
        };
        assert_eq!(at(&["README.md"]), Vec::<&str>::new());
        assert_eq!(at(&["crates/resctrl/src/group.rs"]), ["kernel"]);
    }

    #[test]
    fn a_manual_run_runs_every_suite_of_its_level_whatever_changed() {
        let long = plan(
            "workflow_dispatch",
            "refs/heads/feature/x",
            Some(Level::FullLong),
            &["xtask/src/main.rs"],
        );
        assert_eq!(long.suites, ["cheap", "perf", "kernel"]);
        assert_eq!(long.level, Level::FullLong);
        let short = plan(
            "workflow_dispatch",
            "refs/heads/x",
            Some(Level::FullShort),
            &[],
        );
        assert_eq!(
            short.suites,
            ["cheap", "perf"],
            "a long suite needs full-long"
        );
        let cheap = plan(
            "workflow_dispatch",
            "refs/heads/x",
            Some(Level::CheapShort),
            &[],
        );
        assert_eq!(cheap.suites, ["cheap"]);
        assert_eq!(cheap.runs_on, ["ubuntu-24.04"]);
    }

    #[test]
    fn every_subscribed_event_has_a_policy_and_nothing_else_does() {
        for trigger in TRIGGERS {
            let git_ref = format!("refs/heads/{}", trigger.branches.first().unwrap_or(&"main"));
            // A level is given only where the policy takes one: a manual dispatch.
            let level = (trigger.event == "workflow_dispatch").then_some(Level::CheapShort);
            decide(
                trigger.event,
                &git_ref,
                level,
                &Changes::Unknown,
                DEFAULT_BRANCH,
                REGISTRY,
            )
            .unwrap_or_else(|e| panic!("{} is subscribed but has no policy: {e}", trigger.event));
        }
        for unsubscribed in [
            "pull_request_target",
            "release",
            "issue_comment",
            "workflow_run",
        ] {
            assert!(
                decide(
                    unsubscribed,
                    "refs/heads/main",
                    Some(Level::CheapShort),
                    &Changes::Unknown,
                    DEFAULT_BRANCH,
                    REGISTRY
                )
                .is_err(),
                "{unsubscribed} has a policy but is not in TRIGGERS"
            );
        }
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
    fn a_short_and_a_full_ref_name_the_same_branch() {
        assert_eq!(plan("push", "main", None, &[]).level, Level::FullLong);
        assert_eq!(
            plan("push", "refs/heads/main", None, &[]).level,
            Level::FullLong
        );
        let other = decide(
            "push",
            "feature/x",
            None,
            &Changes::Unknown,
            "main",
            REGISTRY,
        )
        .unwrap_err()
        .to_string();
        assert!(
            other.contains("push to `refs/heads/feature/x`: only pushes to main are subscribed"),
            "{other}"
        );
    }

    #[test]
    fn inconsistent_inputs_are_usage_errors() {
        let none = Changes::Unknown;
        let push = decide("push", "", None, &none, "main", REGISTRY).unwrap_err();
        assert!(push.is::<crate::usage::UsageError>(), "{push}");
        assert!(push.to_string().contains("needs its ref"), "{push}");
        let level = decide(
            "pull_request",
            "refs/pull/1/merge",
            Some(Level::FullLong),
            &none,
            "main",
            REGISTRY,
        )
        .unwrap_err();
        assert!(level.is::<crate::usage::UsageError>(), "{level}");
    }

    #[test]
    fn outputs() {
        let p = plan("pull_request", "refs/pull/7/merge", None, &[]);
        assert_eq!(
            p.to_json(),
            r#"{"level":"cheap-short","suites":["cheap"],"matrix":["cheap"],"runs_on":["ubuntu-24.04"],"reason":"pull_request: cheap checks on hosted runners"}"#
        );
        assert_eq!(
            p.github_output(),
            "level=cheap-short\nsuites=[\"cheap\"]\nmatrix=[\"cheap\"]\nruns_on=[\"ubuntu-24.04\"]\n"
        );
        assert_eq!(json_string("a\"b\\\n"), r#""a\"b\\\n""#);
    }

    #[test]
    fn a_suite_with_a_job_of_its_own_stays_out_of_the_matrix_which_may_be_left_empty() {
        static OWN: &[Suite] = &[Suite {
            name: "collector-image",
            about: "a test suite",
            min_level: Level::FullShort,
            needs: &[],
            duration: Duration::Short,
            paths: &[],
            args: None,
            steps: no_steps,
        }];
        let manual = |registry| {
            decide(
                "workflow_dispatch",
                "refs/heads/main",
                Some(Level::FullShort),
                &Changes::Unknown,
                "main",
                registry,
            )
            .expect("a plan")
        };
        let alone = manual(OWN);
        assert_eq!(alone.suites, ["collector-image"]);
        assert_eq!(alone.matrix, Vec::<&str>::new());
        assert!(
            alone.github_output().contains("\nmatrix=[]\n"),
            "{}",
            alone.github_output()
        );

        let real = manual(suites::registry());
        assert!(
            real.suites.contains(&"collector-image"),
            "{:?}",
            real.suites
        );
        let others: Vec<&str> = real
            .suites
            .iter()
            .copied()
            .filter(|s| *s != "collector-image")
            .collect();
        assert!(!others.is_empty());
        assert_eq!(real.matrix, others);
    }

    #[test]
    fn the_real_registry_runs_every_cheap_suite_on_a_pull_request_with_unknown_changes() {
        let p = decide(
            "pull_request",
            "refs/pull/1/merge",
            None,
            &Changes::Unknown,
            "main",
            suites::registry(),
        )
        .expect("a plan");
        let cheap: Vec<&str> = suites::registry()
            .iter()
            .filter(|s| s.min_level == Level::CheapShort && Level::CheapShort.admits(s.duration))
            .map(|s| s.name)
            .collect();
        assert!(!cheap.is_empty(), "the registry has no cheap-short suite");
        assert_eq!(p.suites, cheap);
    }
}
