//! The built `xtask` binary, run as a user runs it: its exit codes, what it does on a real
//! SIGINT at several points of a plan, the steps of the CI entry points, and which checkout
//! it tests when several share one target directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: nextest tells archive runs where it was extracted; cargo's
/// compile-time path serves the rest.
fn binary() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_xtask")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_xtask")))
}

/// The workspace this test belongs to.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives below the workspace root")
        .to_path_buf()
}

/// `xtask ARGS` at the workspace root, with plain output and no CI or container defaults
/// inherited from whoever runs the tests.
fn xtask(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(workspace())
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("XTASK_CONTAINER")
        .env_remove("XTASK_HOST_ROOT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(mut command: impl std::borrow::BorrowMut<Command>) -> Output {
    command
        .borrow_mut()
        .output()
        .expect("the xtask binary starts")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The status column of `step` in the final table (`step  status  time`).
fn table_status(output: &str, step: &str) -> String {
    let table = output
        .rfind("\nstep ")
        .map(|at| &output[at..])
        .unwrap_or_else(|| panic!("no final table in\n{output}"));
    let line = table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(step))
        .unwrap_or_else(|| panic!("no row for {step} in\n{output}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    // Name first, time last; the status is what lies between.
    words[1..words.len() - 1].join(" ")
}

fn wait_for(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        if let Some(status) = child.try_wait().expect("polling xtask") {
            panic!("xtask exited ({status}) before {} appeared", path.display());
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

#[test]
fn a_plan_whose_steps_all_pass_exits_0() {
    let out = run(xtask(&[
        "run-steps",
        "exec:pass-a=true",
        "exec:pass-b=true",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(table_status(&text(&out), "pass-a"), "ok");
    assert_eq!(table_status(&text(&out), "pass-b"), "ok");
}

#[test]
fn a_failed_step_exits_1_and_the_others_still_run() {
    let out = run(xtask(&[
        "run-steps",
        "exec:fail-a=exit 3",
        "exec:fail-b=true",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        table_status(&text(&out), "fail-a"),
        "failed: `sh` failed: exit status 3"
    );
    assert_eq!(table_status(&text(&out), "fail-b"), "ok");
}

#[test]
fn a_suite_missing_a_capability_fails_under_strict_and_is_skipped_without() {
    let empty = tempfile::tempdir().expect("an empty host root");
    let root = empty.path().to_str().expect("utf-8 temp path");
    let strict = run(xtask(&["resctrl-e2e", "--strict"]).env("XTASK_HOST_ROOT", root));
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    let status = table_status(&text(&strict), "resctrl-e2e");
    assert!(
        status.starts_with("failed: strict: missing root"),
        "{}",
        text(&strict)
    );
    assert!(status.contains("missing resctrl-monitoring"), "{status}");

    let lenient = run(xtask(&["resctrl-e2e", "--no-strict"]).env("XTASK_HOST_ROOT", root));
    assert_eq!(lenient.status.code(), Some(0), "{}", text(&lenient));
    assert!(
        table_status(&text(&lenient), "resctrl-e2e").starts_with("skipped: missing root"),
        "{}",
        text(&lenient)
    );
}

#[test]
fn ci_defaults_to_strict() {
    let empty = tempfile::tempdir().expect("an empty host root");
    let mut command = xtask(&["resctrl-e2e"]);
    command
        .env("XTASK_HOST_ROOT", empty.path())
        .env("CI", "true");
    let out = run(command);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["no-such-command"][..],
        &["e2e", "--level", "huge"],
        &["run-steps"],
    ] {
        let out = run(xtask(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
}

#[test]
fn a_malformed_plan_is_an_error_exit_1_naming_it() {
    let out = run(xtask(&["run-steps", "exec-no-name"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: step `exec-no-name` is not KIND:NAME=BODY"),
        "{}",
        text(&out)
    );
}

#[test]
fn sigint_during_a_step_exits_130_runs_cleanup_and_prints_the_table() {
    let dir = tempfile::tempdir().expect("marker dir");
    let started = dir.path().join("started");
    let after = dir.path().join("after");
    let cleaned = dir.path().join("cleaned");
    let mut child = xtask(&[
        "run-steps",
        &format!("exec:int-work=touch {}; sleep 30", started.display()),
        &format!("exec:int-after=touch {}", after.display()),
        &format!("cleanup:int-clean=touch {}", cleaned.display()),
    ])
    .spawn()
    .expect("xtask starts");
    wait_for(&started, &mut child);
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().expect("xtask finishes");
    let output = text(&out);
    assert_eq!(out.status.code(), Some(130), "{output}");
    assert_eq!(table_status(&output, "int-work"), "interrupted");
    assert_eq!(
        table_status(&output, "int-after"),
        "skipped: interrupted before it started"
    );
    assert_eq!(table_status(&output, "int-clean"), "ok");
    assert!(!after.exists(), "a step ran after the interrupt");
    assert!(cleaned.exists(), "the cleanup step did not run");
}

#[test]
fn sigint_during_a_step_that_ignores_it_still_exits_130() {
    // The task finishes normally, so no step is marked interrupted: only the request
    // itself tells that the run was cut short.
    let dir = tempfile::tempdir().expect("marker dir");
    let started = dir.path().join("started");
    let next = dir.path().join("next");
    let mut child = xtask(&[
        "run-steps",
        "exec:deaf-first=true",
        &format!("task:deaf-task=1.5,{}", started.display()),
        &format!("exec:deaf-next=touch {}", next.display()),
    ])
    .spawn()
    .expect("xtask starts");
    wait_for(&started, &mut child);
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().expect("xtask finishes");
    let output = text(&out);
    assert_eq!(out.status.code(), Some(130), "{output}");
    assert_eq!(table_status(&output, "deaf-first"), "ok");
    assert_eq!(table_status(&output, "deaf-task"), "ok");
    assert_eq!(
        table_status(&output, "deaf-next"),
        "skipped: interrupted before it started"
    );
    assert!(!next.exists(), "a step ran after the interrupt");
}

#[test]
fn sigterm_during_a_cleanup_step_exits_130() {
    let dir = tempfile::tempdir().expect("marker dir");
    let cleaning = dir.path().join("cleaning");
    let mut child = xtask(&[
        "run-steps",
        "exec:term-work=true",
        &format!("cleanup:term-clean=touch {}; sleep 30", cleaning.display()),
    ])
    .spawn()
    .expect("xtask starts");
    wait_for(&cleaning, &mut child);
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().expect("xtask finishes");
    let output = text(&out);
    assert_eq!(out.status.code(), Some(130), "{output}");
    assert_eq!(table_status(&output, "term-work"), "ok");
    assert_eq!(table_status(&output, "term-clean"), "interrupted");
}

/// The step names of a rendered plan, in order (` 3. name  [group] action`).
fn step_names(plan: &str) -> Vec<String> {
    plan.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let number = words.next()?;
            let is_step =
                number.ends_with('.') && number[..number.len() - 1].parse::<u32>().is_ok();
            is_step.then(|| {
                // Names may hold one space after a colon: `lint-ci: tools`.
                let rest = line.trim_start()[number.len()..].trim_start();
                let end = rest.find("  ").unwrap_or(rest.len());
                rest[..end].to_string()
            })
        })
        .collect()
}

#[test]
fn ci_fast_runs_every_fast_check() {
    let out = run(xtask(&["--plan", "ci", "fast"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        step_names(&text(&out)),
        [
            "fmt",
            "lint-ci: tools",
            "actionlint",
            "zizmor",
            "lint-deploy: tools",
            "kubernetes-validate",
            "clippy",
            "unit",
            "doctests"
        ]
    );
}

#[test]
fn ci_all_is_ci_fast_then_every_suite() {
    let empty = tempfile::tempdir().expect("an empty host root");
    let mut command = xtask(&["--plan", "ci", "all"]);
    command.env("XTASK_HOST_ROOT", empty.path());
    let out = run(command);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        step_names(&text(&out)),
        [
            "fmt",
            "lint-ci: tools",
            "actionlint",
            "zizmor",
            "lint-deploy: tools",
            "kubernetes-validate",
            "clippy",
            "unit",
            "doctests",
            "nri-e2e",
            "kernel-matrix",
            "collector-s3: python tools",
            "collector-s3: s3s-fs",
            "collector-s3: tests",
            "resctrl-e2e"
        ]
    );
}

/// A copy of this checkout at `dest`, as a git clone with the working tree's current files
/// (committed or not) laid over it, so the runner under test is the one being changed.
fn clone_checkout(dest: &Path) {
    let ws = workspace();
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(&ws)
        .arg(dest)
        .status()
        .expect("git runs");
    assert!(status.success(), "git clone {} failed", ws.display());
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&ws)
        .output()
        .expect("git ls-files runs");
    assert!(listed.status.success(), "git ls-files failed");
    for file in listed.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).expect("utf-8 file names"));
        let (from, to) = (ws.join(file), dest.join(file));
        if from.is_file() {
            std::fs::create_dir_all(to.parent().expect("a file has a parent")).expect("mkdir");
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
        }
    }
}

/// `cargo xtask ARGS` in `checkout`, building into the shared `target`.
fn cargo_xtask(checkout: &Path, target: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("xtask")
        .args(args)
        .current_dir(checkout)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("XTASK_CONTAINER")
        .stdin(Stdio::null());
    run(command)
}

#[test]
fn clones_sharing_a_target_dir_each_test_themselves_even_after_the_first_is_deleted() {
    // The shared target directory is kept between runs so that only xtask itself is
    // rebuilt; each run lays fresh clones over it, newer than anything built there before.
    let target = workspace().join("target/xtask/cache/shared-target-test");
    let scratch = tempfile::tempdir().expect("scratch dir");
    let (a, b) = (scratch.path().join("a"), scratch.path().join("b"));
    clone_checkout(&a);
    clone_checkout(&b);

    // A builds the shared xtask; B's files are older than it, so B reuses that binary.
    let first = cargo_xtask(&a, &target, &["fmt"]);
    assert_eq!(first.status.code(), Some(0), "fmt in A: {}", text(&first));

    // Only B is badly formatted, in a crate xtask does not depend on.
    let victim = b.join("crates/resctrl/src/lib.rs");
    let mut source = std::fs::read_to_string(&victim).expect("resctrl's lib.rs");
    source.push_str("\nfn   badly_formatted ( ) {   }\n");
    std::fs::write(&victim, source).expect("writing B's lib.rs");
    let second = cargo_xtask(&b, &target, &["fmt"]);
    assert_eq!(
        second.status.code(),
        Some(1),
        "fmt in B must check B: {}",
        text(&second)
    );
    assert!(
        text(&second).contains("badly_formatted"),
        "{}",
        text(&second)
    );

    // With A gone, B's commands still run in B, and nothing is reported as a missing
    // program.
    std::fs::remove_dir_all(&a).expect("deleting A");
    let third = cargo_xtask(&b, &target, &["fmt"]);
    assert_eq!(third.status.code(), Some(1), "{}", text(&third));
    assert!(
        !text(&third).contains("not found on PATH"),
        "{}",
        text(&third)
    );
    let steps = cargo_xtask(
        &b,
        &target,
        &["run-steps", "exec:in-b=test -f crates/resctrl/src/lib.rs"],
    );
    assert_eq!(steps.status.code(), Some(0), "{}", text(&steps));
    let tag = cargo_xtask(&b, &target, &["image-tag", "--ref", "refs/heads/topic"]);
    assert_eq!(tag.status.code(), Some(0), "{}", text(&tag));
    assert!(
        String::from_utf8_lossy(&tag.stdout).starts_with("topic-"),
        "{}",
        text(&tag)
    );
}
