//! `cargo xtask mutants [--changed [--base REV] | --file F...] [--timeout S] [--jobs N] [--re REGEX] [--skip-baseline]`,
//! also the `mutants` suite (so it lives beside `commands/`, not in it): mutation testing with cargo-mutants (pinned, installed into `target/xtask/tools`), over
//! the workspace's core files by default, with nextest. Every missed mutant fails the run
//! unless `.config/mutants-allowed.txt` accepts it with a reason.
//!
//! Cost: cargo-mutants builds in a copy of the tree, and only the mutated package's tests
//! run for each mutant. The copy builds into a target directory of its own,
//! `target/xtask/mutants/target`, kept between runs (the first run builds the dependencies
//! once). Not the tree's: cargo names a workspace crate's artifacts by its path relative to
//! the workspace, so a copy and the tree sharing one target directory overwrite each
//! other's: a build in the tree during a run could leave a mutant tested with an unmutated
//! binary (a false survivor), and after a run the tree's tests could be the copy's binaries,
//! still pointing at the deleted copy.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::exec::interrupt::Interrupted;
use crate::exec::leftovers::{self, Marker};
use crate::output;
use crate::plan::{Exec, Plan, Step, StepIo};
use crate::project;

/// The pinned cargo-mutants.
const VERSION: &str = "27.1.0";
/// Survivors accepted on purpose, one per line: `<file>: <mutation>  # <reason>`.
pub const ALLOWLIST: &str = ".config/mutants-allowed.txt";

/// The core files mutated when none are named: the logic whose tests must catch bugs.
pub const CORE: &[&str] = &[
    "crates/resctrl/src/group.rs",
    "crates/resctrl/src/cleanup.rs",
    "crates/resctrl/src/fake/*.rs",
    "crates/nri-resctrl-plugin/src/ops.rs",
    "crates/nri-resctrl-plugin/src/plugin.rs",
    "crates/nri-resctrl-plugin/src/retry.rs",
    "crates/nri-resctrl-plugin/src/reconcile.rs",
    "crates/nri-resctrl-plugin/src/state.rs",
    "crates/nri-resctrl-plugin/src/sync.rs",
    "crates/nri-resctrl-plugin/src/startup.rs",
    "crates/collector/src/series.rs",
    "crates/collector/src/sampler.rs",
    "crates/collector/src/tick.rs",
    "crates/collector/src/spool.rs",
    "crates/nri-init/src/edit.rs",
    "crates/nri-init/src/imports.rs",
    "crates/nri-init/src/version.rs",
    "xtask/src/main.rs",
    "xtask/src/exec/*.rs",
    "xtask/src/commands/ci.rs",
];

/// Files never mutated, whatever the selection (their tests stay in the unit run):
/// - `exec/leftovers.rs`: a mutant of its process filter kills every process its tests can
///   see; one killed the shell and a parallel mutants run on this machine.
pub const NEVER_MUTATED: &[&str] = &["xtask/src/exec/leftovers.rs"];

/// Arguments of `mutants`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct MutantsArgs {
    /// Mutate only code changed since the merge-base with `--base` (what a pull request
    /// runs).
    #[arg(long, conflicts_with = "files")]
    pub changed: bool,
    /// The revision `--changed` compares with.
    #[arg(
        long,
        value_name = "REV",
        default_value = "origin/main",
        requires = "changed"
    )]
    pub base: String,
    /// Mutate these files (globs as cargo-mutants takes them) instead of the core list.
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Seconds a mutant's tests may take before it counts as a timeout.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
    /// Mutants built and tested at once (each needs a copy of the tree and a core).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: u32,
    /// Only the mutants whose name matches this regex (cargo-mutants `--re`), e.g. the
    /// survivors of a run, to show the tests written for them catch them.
    #[arg(long = "re", value_name = "REGEX")]
    pub regex: Option<String>,
    /// Skip testing the unmutated tree first (when a run just did); needs `--timeout`,
    /// which always has a value here.
    #[arg(long)]
    pub skip_baseline: bool,
}

/// The tool's home.
fn tool_root() -> PathBuf {
    project::xtask_dir().join("tools").join("cargo-mutants")
}

/// Where the run's results go (`mutants.out/` below it).
fn output_dir() -> PathBuf {
    project::xtask_dir().join("mutants")
}

/// The copies' own target directory (see the module documentation).
fn build_dir() -> PathBuf {
    output_dir().join("target")
}

/// Two steps: the pinned tool, then the run and its verdict against the allowlist.
pub fn plan(ctx: &Ctx, args: &MutantsArgs) -> anyhow::Result<Plan> {
    let sh = &ctx.sh;
    let bin = tool_root().join("bin").join("cargo-mutants");
    let root = tool_root();
    // Named apart, since the whole-core and the diff suite can share a plan (full-long).
    let name = if args.changed {
        "mutants-diff"
    } else {
        "mutants"
    };
    let mut plan = Plan::default();
    plan.push(
        Step::task(
            format!("{name}: tool"),
            format!(
                "cargo install --locked --root {} cargo-mutants@{VERSION} (if missing)",
                root.display()
            ),
            move |io| install(io, &root),
        )
        .in_chain("mutants"),
    );
    let mut selection: Vec<String> = Vec::new();
    let diff = output_dir().join("changes.diff");
    if args.changed {
        selection.extend(["--in-diff".to_string(), diff.display().to_string()]);
    } else {
        let files: Vec<String> = if args.files.is_empty() {
            CORE.iter().map(|f| f.to_string()).collect()
        } else {
            args.files.clone()
        };
        for file in files {
            selection.extend(["--file".to_string(), file]);
        }
    }
    if let Some(regex) = &args.regex {
        selection.extend(["--re".to_string(), regex.clone()]);
    }
    if args.skip_baseline {
        selection.extend(["--baseline".to_string(), "skip".to_string()]);
    }
    for file in NEVER_MUTATED {
        selection.extend(["--exclude".to_string(), file.to_string()]);
    }
    let (timeout, jobs) = (args.timeout.to_string(), args.jobs.to_string());
    let out = output_dir();
    // `--caught --unviable`: a line for every mutant, so the parser can show progress.
    let exec = Exec::from(cmd!(
        sh,
        "{bin} mutants --test-tool nextest --no-shuffle --copy-vcs true --caught --unviable --timeout {timeout} --jobs {jobs} --output {out} {selection...}"
    ))
    .env("CARGO_TARGET_DIR", build_dir());
    let base = args.base.clone();
    let changed = args.changed;
    plan.push(
        Step::task(
            name,
            format!("run: {exec}; then the survivors against {ALLOWLIST}"),
            move |io| {
                if changed {
                    write_diff(&base, &diff)?;
                }
                // A run that tests nothing (an empty diff) may leave no results, and the
                // verdict must not read an earlier run's.
                let results = out.join("mutants.out");
                if results.exists() {
                    std::fs::remove_dir_all(&results)
                        .with_context(|| format!("removing {}", results.display()))?;
                }
                // Tests of a timed-out mutant can leave processes in groups of their own,
                // which cargo-mutants' kill misses; they would spin on after the run.
                let marker = Marker::new();
                let ran = io.run(&marker.mark(&exec));
                if let Some(line) = leftovers::describe(&marker.kill_leftovers()) {
                    io.line(&line);
                }
                // cargo-mutants exits non-zero when mutants survive; the verdict is ours.
                if let Err(err) = ran {
                    if err.is::<Interrupted>() {
                        return Err(err);
                    }
                    if !out.join("mutants.out/outcomes.json").exists() {
                        return Err(err);
                    }
                }
                verdict(
                    io,
                    &out.join("mutants.out"),
                    &project::root().join(ALLOWLIST),
                    changed,
                )
            },
        )
        .parsed_by(|| output::mutants::parser(project::root().to_path_buf()))
        .in_chain("mutants"),
    );
    Ok(plan)
}

fn install(io: &mut dyn StepIo, root: &Path) -> anyhow::Result<()> {
    let bin = root.join("bin").join("cargo-mutants");
    // Run as cargo runs it: the bare binary refuses `--version` without the subcommand.
    let have = std::process::Command::new(&bin)
        .args(["mutants", "--version"])
        .output();
    if have.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(VERSION)) {
        io.line(&format!(
            "cargo-mutants {VERSION} already installed in {}",
            root.display()
        ));
        return Ok(());
    }
    let sh = project::shell()?;
    let spec = format!("cargo-mutants@{VERSION}");
    io.run(&Exec::from(cmd!(
        sh,
        "cargo install --locked --root {root} {spec}"
    )))
    .context("installing cargo-mutants from crates.io")
}

/// The changes a pull request makes: the diff from the merge-base with `base`.
fn write_diff(base: &str, to: &Path) -> anyhow::Result<()> {
    let sh = project::shell()?;
    let merge_base = cmd!(sh, "git merge-base {base} HEAD")
        .quiet()
        .read()
        .with_context(|| format!("finding the merge-base with {base} (pass --base REV)"))?;
    let diff = cmd!(sh, "git diff {merge_base}")
        .quiet()
        .read()
        .with_context(|| format!("diffing against {merge_base}"))?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(to, diff + "\n").with_context(|| format!("writing {}", to.display()))
}

/// A missed mutant as cargo-mutants lists it: `path:line:col: mutation`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Survivor {
    file: String,
    location: String,
    mutation: String,
}

fn parse_survivor(line: &str) -> Option<Survivor> {
    let (file, rest) = line.split_once(':')?;
    let (line_no, rest) = rest.split_once(':')?;
    let (col, mutation) = rest.split_once(": ")?;
    Some(Survivor {
        file: file.to_string(),
        location: format!("{file}:{line_no}:{col}"),
        mutation: mutation.trim().to_string(),
    })
}

/// The allowlist: `(file, mutation)` pairs, each with its reason.
fn parse_allowlist(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((entry, reason)) = line.split_once("  # ") else {
            bail!(
                "{ALLOWLIST} line {}: `{line}` has no `  # reason`",
                index + 1
            );
        };
        let Some((file, mutation)) = entry.split_once(": ") else {
            bail!(
                "{ALLOWLIST} line {}: `{entry}` is not `<file>: <mutation>`",
                index + 1
            );
        };
        if reason.trim().is_empty() {
            bail!("{ALLOWLIST} line {}: the reason is empty", index + 1);
        }
        entries.push((file.trim().to_string(), mutation.trim().to_string()));
    }
    Ok(entries)
}

/// Counts every outcome, lists every missed mutant, and fails on one the allowlist does
/// not accept (matched by file and mutation, not line, so edits above it do not matter).
/// `changed`: the selection is a diff, which may hold no code to mutate (a docs change).
fn verdict(
    io: &mut dyn StepIo,
    results: &Path,
    allowlist: &Path,
    changed: bool,
) -> anyhow::Result<()> {
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(results.join(name))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    // An empty result is no pass: the unmutated tree's tests must have passed, and some
    // mutant must have been tested.
    let outcomes = std::fs::read_to_string(results.join("outcomes.json")).unwrap_or_default();
    let compact: String = outcomes.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains(r#""scenario":"Baseline""#) && !baseline_passed(&compact) {
        bail!(
            "the tests fail in the unmutated tree, so no mutant was tested: see {}",
            results.join("log/baseline.log").display()
        );
    }
    let (caught, missed, unviable, timeout) = (
        lines("caught.txt"),
        lines("missed.txt"),
        lines("unviable.txt"),
        lines("timeout.txt"),
    );
    io.line(&format!(
        "{} caught, {} missed, {} unviable, {} timeout",
        caught.len(),
        missed.len(),
        unviable.len(),
        timeout.len()
    ));
    let allowed = match std::fs::read_to_string(allowlist) {
        Ok(text) => parse_allowlist(&text)?,
        Err(_) => Vec::new(),
    };
    let mut unexpected = Vec::new();
    for line in &missed {
        let Some(survivor) = parse_survivor(line) else {
            bail!("cannot read cargo-mutants' missed.txt line `{line}`");
        };
        let accepted = allowed
            .iter()
            .any(|(file, mutation)| *file == survivor.file && *mutation == survivor.mutation);
        io.line(&format!(
            "missed: {}: {}{}",
            survivor.location,
            survivor.mutation,
            if accepted { " (allowed)" } else { "" }
        ));
        if !accepted {
            unexpected.push(survivor);
        }
    }
    for line in &timeout {
        io.line(&format!("timeout: {line}"));
    }
    if caught.len() + missed.len() + timeout.len() == 0 {
        if changed && unviable.is_empty() {
            io.line("the diff changes no code cargo-mutants can mutate: nothing to test");
            return Ok(());
        }
        bail!("no mutant was tested (none found, or all unviable): check the --file selection");
    }
    if unexpected.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} mutant(s) survived that {ALLOWLIST} does not accept: add a test that fails on each, or accept it there with a reason",
            unexpected.len()
        )
    }
}

/// Whether cargo-mutants' `outcomes.json` (whitespace removed) records a passing baseline
/// (the unmutated tree).
fn baseline_passed(compact: &str) -> bool {
    compact
        .split(r#""scenario":"Baseline""#)
        .nth(1)
        .and_then(|after| after.split(r#""summary":""#).nth(1))
        .is_some_and(|summary| summary.starts_with("Success"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survivors_are_read_as_cargo_mutants_lists_them() {
        assert_eq!(
            parse_survivor("crates/x/src/a.rs:12:5: replace f -> bool with true"),
            Some(Survivor {
                file: "crates/x/src/a.rs".into(),
                location: "crates/x/src/a.rs:12:5".into(),
                mutation: "replace f -> bool with true".into(),
            })
        );
        assert_eq!(parse_survivor("garbage"), None);
    }

    #[test]
    fn allowlist_entries_need_a_reason() {
        let entries = parse_allowlist(
            "# accepted survivors\ncrates/x/src/a.rs: replace f -> bool with true  # only a log level\n",
        )
        .expect("valid allowlist");
        assert_eq!(
            entries,
            [(
                "crates/x/src/a.rs".to_string(),
                "replace f -> bool with true".to_string()
            )]
        );
        let err = parse_allowlist("crates/x/src/a.rs: replace f\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("no `  # reason`"),
            "{err}"
        );
    }

    #[test]
    fn the_default_run_mutates_the_core_with_nextest() {
        let plan = plan(
            &Ctx::for_tests(true),
            &MutantsArgs {
                timeout: 120,
                jobs: 1,
                ..Default::default()
            },
        )
        .expect("a plan")
        .render();
        assert!(plan.contains("--test-tool nextest"), "{plan}");
        assert!(
            plan.contains("--file crates/nri-resctrl-plugin/src/ops.rs"),
            "{plan}"
        );
        assert!(plan.contains("--file 'xtask/src/exec/*.rs'"), "{plan}");
        let only = plan_for(&["--file", "a.rs", "--re", "f -> bool", "--skip-baseline"]);
        assert!(
            only.contains("--file a.rs --re 'f -> bool' --baseline skip"),
            "{only}"
        );
        let changed = plan_for(&["--changed"]);
        assert!(changed.contains("--in-diff"), "{changed}");
        assert!(!changed.contains("--file"), "{changed}");
    }

    #[test]
    fn the_copies_build_into_a_target_directory_of_their_own() {
        let plan = plan_for(&[]);
        let own = format!("CARGO_TARGET_DIR={}", build_dir().display());
        assert!(plan.contains(&own), "{plan}");
        assert_ne!(build_dir(), project::target_dir(), "{plan}");
    }

    #[test]
    fn the_process_killer_is_excluded_from_every_selection() {
        for args in [&[][..], &["--changed"], &["--file", "xtask/src/exec/*.rs"]] {
            let plan = plan_for(args);
            assert!(
                plan.contains("--exclude xtask/src/exec/leftovers.rs"),
                "{args:?}: {plan}"
            );
        }
    }

    fn plan_for(extra: &[&str]) -> String {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: MutantsArgs,
        }
        let args =
            Wrapper::parse_from(std::iter::once("mutants").chain(extra.iter().copied())).args;
        plan(&Ctx::for_tests(true), &args).expect("a plan").render()
    }

    #[test]
    fn a_failing_baseline_or_an_empty_run_is_no_pass() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let results = dir.path().join("mutants.out");
        std::fs::create_dir_all(&results).unwrap();
        let allow = dir.path().join("none.txt");
        std::fs::write(
            results.join("outcomes.json"),
            r#"{"outcomes":[{"scenario":"Baseline","summary":"Failure"}],"total_mutants":0}"#,
        )
        .unwrap();
        let mut io = crate::plan::testing::Lines::default();
        let err = verdict(&mut io, &results, &allow, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the tests fail in the unmutated tree"),
            "{err}"
        );
        std::fs::write(
            results.join("outcomes.json"),
            r#"{"outcomes": [{"scenario": "Baseline", "summary": "Success"}]}"#,
        )
        .unwrap();
        let err = verdict(&mut io, &results, &allow, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no mutant was tested"), "{err}");
    }

    #[test]
    fn a_diff_with_no_code_to_mutate_passes_the_changed_run() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let results = dir.path().join("mutants.out");
        let allow = dir.path().join("none.txt");
        let mut io = crate::plan::testing::Lines::default();
        verdict(&mut io, &results, &allow, true).expect("nothing to test is no failure");
        assert_eq!(
            io.lines.last().map(String::as_str),
            Some("the diff changes no code cargo-mutants can mutate: nothing to test")
        );
        std::fs::create_dir_all(&results).expect("results dir");
        std::fs::write(
            results.join("unviable.txt"),
            "src/a.rs:1:1: replace f with ()\n",
        )
        .expect("unviable list");
        let err = verdict(&mut io, &results, &allow, true)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no mutant was tested"), "{err}");
    }

    #[test]
    fn a_survivor_outside_the_allowlist_fails_and_an_allowed_one_does_not() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let results = dir.path().join("mutants.out");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::write(results.join("caught.txt"), "a\nb\n").unwrap();
        std::fs::write(
            results.join("missed.txt"),
            "crates/x/src/a.rs:3:1: replace f with ()\ncrates/x/src/a.rs:9:1: replace g -> bool with false\n",
        )
        .unwrap();
        let allow = dir.path().join("allowed.txt");
        std::fs::write(
            &allow,
            "crates/x/src/a.rs: replace f with ()  # logging only\n",
        )
        .unwrap();
        let mut io = crate::plan::testing::Lines::default();
        let err = verdict(&mut io, &results, &allow, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("1 mutant(s) survived"), "{err}");
        assert_eq!(io.lines[0], "2 caught, 2 missed, 0 unviable, 0 timeout");
        assert!(
            io.lines[1].ends_with("replace f with () (allowed)"),
            "{:?}",
            io.lines
        );
        std::fs::write(&allow, "crates/x/src/a.rs: replace f with ()  # logging only\ncrates/x/src/a.rs: replace g -> bool with false  # unreachable\n").unwrap();
        verdict(&mut io, &results, &allow, false).expect("every survivor accepted");
    }
}
