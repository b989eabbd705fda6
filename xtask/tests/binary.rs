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
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
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

/// What the failure digest (`what failed:`, above the table) says of `step`: the rest of its
/// `step: ` heading line.
fn digest_entry(output: &str, step: &str) -> String {
    let digest = output
        .find("what failed:\n")
        .map(|at| &output[at..])
        .unwrap_or_else(|| panic!("no failure digest in\n{output}"));
    digest
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{step}: ")))
        .unwrap_or_else(|| panic!("no digest entry for {step} in\n{output}"))
        .to_string()
}

/// The lines of the digest entry of `step`, up to the next entry or the table.
fn digest_lines(output: &str, step: &str) -> Vec<String> {
    let heading = format!("\n{step}: ");
    let start = output
        .find(&heading)
        .unwrap_or_else(|| panic!("no digest entry for {step} in\n{output}"));
    output[start + 1..]
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(str::to_string)
        .collect()
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
fn a_failing_test_step_names_the_tests_their_assertion_log_and_rerun_command() {
    // nextest's real output of a scratch crate with two failing tests (and one skipped),
    // replayed by a step read as a nextest run.
    let fixture = workspace().join("xtask/src/output/fixtures/nextest-failures.txt");
    let script = format!("cat {}; exit 100", fixture.display());
    let out = run(xtask(&[
        "run-steps",
        &format!("exec+nextest:unit={script}"),
    ]));
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert_eq!(
        table_status(&output, "unit"),
        "failed: 2 of 3 tests failed, 1 skipped"
    );
    let mut entry = digest_lines(&output, "unit");
    // The log lies in the target directory, wherever that is.
    let log = entry.remove(entry.len() - 2);
    assert!(
        log.starts_with("  full log: ") && log.ends_with("xtask/logs/unit.log"),
        "{log}"
    );
    assert_eq!(
        entry,
        [
            "  src/lib.rs:26:9: broken tests::panics_plainly",
            "      boom at runtime",
            "  src/lib.rs:21:9: broken tests::adds_wrongly",
            "      assertion `left == right` failed: two and two",
            "        left: 4",
            "       right: 5",
            "  run next: cargo xtask unit -- tests::panics_plainly tests::adds_wrongly",
        ],
        "{output}"
    );
    // Passing tests stay in the log, out of the report.
    assert!(!output.contains("PASS ["), "{output}");
    let table = &output[output.rfind("\nstep ").expect("a table")..];
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
}

#[test]
fn under_github_actions_each_failing_test_is_an_annotation_at_its_panic() {
    let fixture = workspace().join("xtask/src/output/fixtures/nextest-failures.txt");
    let script = format!("cat {}; exit 100", fixture.display());
    let out = run(
        xtask(&["run-steps", &format!("exec+nextest:unit={script}")])
            .env("GITHUB_ACTIONS", "true")
            .env_remove("GITHUB_STEP_SUMMARY"),
    );
    let output = text(&out);
    let annotations: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("::error"))
        .collect();
    assert_eq!(
        annotations,
        [
            "::error file=src/lib.rs,line=26,col=9,title=unit%3A broken tests%3A%3Apanics_plainly::boom at runtime",
            "::error file=src/lib.rs,line=21,col=9,title=unit%3A broken tests%3A%3Aadds_wrongly::assertion `left == right` failed: two and two%0A  left: 4%0A right: 5",
        ],
        "{output}"
    );
}

#[test]
fn an_unwritable_junit_path_is_refused_before_any_step_runs() {
    let dir = tempfile::tempdir().expect("a scratch dir");
    let marker = dir.path().join("ran");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").expect("a file to put the JUnit path under");
    let junit = blocker.join("junit.xml");
    let out = run(xtask(&[
        "run-steps",
        &format!("exec:mark=touch {}", marker.display()),
        "--junit",
        junit.to_str().expect("utf-8 temp path"),
    ]));
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(
        output.contains(&format!("--junit {}: cannot write there", junit.display())),
        "{output}"
    );
    assert!(!marker.exists(), "a step ran before the check: {output}");
}

#[test]
fn ci_plan_refuses_inconsistent_input_as_a_usage_error() {
    for args in [
        &["ci", "plan", "--event", "push"][..],
        &[
            "ci",
            "plan",
            "--event",
            "pull_request",
            "--level",
            "full-long",
        ],
        &["ci", "plan", "--event", "release", "--ref", "refs/tags/v1"],
    ] {
        let mut command = xtask(args);
        command.env_remove("GITHUB_REF").env_remove("GITHUB_OUTPUT");
        let out = run(command);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
    let mut short = xtask(&["ci", "plan", "--event", "push", "--ref", "main"]);
    short.env_remove("GITHUB_OUTPUT");
    let out = run(short);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("\"level\":\"full-long\""),
        "{}",
        text(&out)
    );
}

#[test]
fn plans_need_no_container_engine() {
    // A PATH with no podman or docker on it.
    let empty = tempfile::tempdir().expect("an empty PATH directory");
    for args in [
        &["container", "build", "--plan"][..],
        &["--container", "--plan", "fmt"],
    ] {
        let out = run(xtask(args).env("PATH", empty.path()));
        let output = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {output}");
        assert!(output.starts_with(" 1. "), "{args:?}: {output}");
    }
}

#[test]
fn options_a_printing_command_would_ignore_are_usage_errors() {
    for args in [
        &["doctor", "--plan"][..],
        &["image-tag", "--junit", "x.xml"],
        &["ci", "plan", "--plan"],
    ] {
        let out = run(xtask(args));
        let output = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {output}");
        assert!(output.contains("does nothing for"), "{args:?}: {output}");
    }
}

#[test]
fn quiet_shows_no_step_output_but_the_digest_and_the_table() {
    let out = run(xtask(&[
        "-q",
        "run-steps",
        "exec:noisy=echo chatter; exit 4",
    ]));
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    let before_digest = &output[..output.find("what failed:").expect("a digest")];
    assert!(!before_digest.lines().any(|l| l == "chatter"), "{output}");
    // The digest still quotes the end of the output, since nothing else says what failed.
    assert!(output.contains("      chatter\n"), "{output}");
    assert_eq!(
        table_status(&output, "noisy"),
        "failed: `sh` failed: exit status 4"
    );
}

#[test]
fn colour_is_chosen_by_flag_and_no_color() {
    let step = "exec:colour=echo $CARGO_TERM_COLOR";
    let always = run(xtask(&["--color", "always", "run-steps", step]));
    assert!(text(&always).contains("\nalways\n"), "{}", text(&always));
    let mut forced = xtask(&["run-steps", step]);
    forced
        .env("CLICOLOR_FORCE", "1")
        .env_remove("CARGO_TERM_COLOR");
    let forced = run(forced);
    assert!(text(&forced).contains("\nalways\n"), "{}", text(&forced));
    let mut no_color = xtask(&["run-steps", step]);
    no_color
        .env("GITHUB_ACTIONS", "true")
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CARGO_TERM_COLOR");
    let no_color = run(no_color);
    assert!(text(&no_color).contains("\nnever\n"), "{}", text(&no_color));
}

#[test]
fn a_suite_missing_a_capability_fails_under_strict_and_is_skipped_without() {
    let empty = tempfile::tempdir().expect("an empty host root");
    let root = empty.path().to_str().expect("utf-8 temp path");
    let strict = run(xtask(&["resctrl-e2e", "--strict"]).env("XTASK_HOST_ROOT", root));
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    // The table cuts a long reason to fit 80 columns; the digest above it has it whole.
    let status = digest_entry(&text(&strict), "resctrl-e2e");
    assert!(
        status.starts_with("failed: strict: missing root"),
        "{}",
        text(&strict)
    );
    assert!(status.contains("missing resctrl-monitoring"), "{status}");
    assert!(
        table_status(&text(&strict), "resctrl-e2e").starts_with("failed: strict: missing root"),
        "{}",
        text(&strict)
    );

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
    // The registry, as the plan's suite table lists it: on a host that offers nothing,
    // every suite is one step (skipped or failed with its reason).
    let suites: Vec<String> = text(&out)
        .lines()
        .skip_while(|line| !line.starts_with("suite "))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .map(|line| {
            line.split_whitespace()
                .next()
                .expect("a suite name")
                .to_string()
        })
        .collect();
    assert!(suites.contains(&"nri-e2e".to_string()), "{suites:?}");
    let fast = [
        "fmt",
        "lint-ci: tools",
        "actionlint",
        "zizmor",
        "lint-deploy: tools",
        "kubernetes-validate",
        "clippy",
        "unit",
        "doctests",
    ];
    let steps = step_names(&text(&out));
    assert_eq!(steps[..fast.len()], fast);
    // Then each suite in registry order: one skipped or failed step, or (one that needs
    // nothing, like bench) its steps, all named after it.
    let mut owners: Vec<String> = steps[fast.len()..]
        .iter()
        .map(|step| step.split(':').next().unwrap_or_default().to_string())
        .collect();
    owners.dedup();
    assert_eq!(owners, suites);
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

#[test]
fn ci_tags_come_from_the_ci_context_in_container_plans() {
    let mut build = xtask(&["--plan", "container", "build", "--ci-tags"]);
    build
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REF", "refs/pull/7/merge")
        .env("XTASK_HEAD_SHA", "abcdef0123456789abcdef0123456789abcdef01");
    let out = run(build);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        step_names(&text(&out)).contains(&"container tag pr-7-abcdef0".to_string()),
        "{}",
        text(&out)
    );
    let mut plain = xtask(&["--plan", "container", "build"]);
    plain
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REF", "refs/pull/7/merge");
    let out = run(plain);
    assert!(
        !text(&out).contains("container tag"),
        "no CI tags unless asked: {}",
        text(&out)
    );
    let mut push = xtask(&[
        "--plan",
        "container",
        "push",
        "--registry",
        "ghcr.io/acme/repo",
    ]);
    push.env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REF", "refs/heads/topic");
    let out = run(push);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        step_names(&text(&out)).contains(&"push topic-0123456".to_string()),
        "{}",
        text(&out)
    );
}

/// A small git checkout of a Cargo workspace: `a` (a test and a doctest), `b` depending on
/// it, `c` alone; rustfmt-clean, with its lock file.
fn tiny_workspace(dir: &Path) {
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("writing a fixture file");
    };
    write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"a\", \"b\", \"c\"]\n",
    );
    write(".gitignore", "target/\n");
    let manifest = |name: &str, deps: &str| {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{deps}")
    };
    let lib = |name: &str| {
        format!(
            "//! Crate {name}.\n\n/// Adds one.\n///\n/// ```\n/// assert_eq!({name}::one(1), 2);\n/// ```\npub fn one(x: u32) -> u32 {{\n    x + 1\n}}\n\n#[cfg(test)]\nmod tests {{\n    #[test]\n    fn adds_one() {{\n        assert_eq!(super::one(1), 2);\n    }}\n}}\n"
        )
    };
    write("a/Cargo.toml", &manifest("a", ""));
    write("a/src/lib.rs", &lib("a"));
    write(
        "b/Cargo.toml",
        &manifest("b", "[dependencies]\na = { path = \"../a\" }\n"),
    );
    write("b/src/lib.rs", &lib("b"));
    write("c/Cargo.toml", &manifest("c", ""));
    write("c/src/lib.rs", &lib("c"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for (program, args) in [
        (cargo.as_os_str(), &["generate-lockfile", "--offline"][..]),
        ("git".as_ref(), &["init", "-q"][..]),
        ("git".as_ref(), &["add", "-A"][..]),
    ] {
        let status = Command::new(program)
            .args(args)
            .current_dir(dir)
            .status()
            .expect("setting up the fixture workspace");
        assert!(status.success(), "{args:?} in {}", dir.display());
    }
}

/// `xtask ARGS` run in `dir` as its workspace, building into its own target directory.
fn xtask_in(dir: &Path, args: &[&str]) -> Output {
    let mut command = xtask(args);
    command
        .current_dir(dir)
        .env_remove("CARGO_MANIFEST_DIR")
        .env("CARGO_TARGET_DIR", dir.join("target"));
    run(command)
}

#[test]
fn a_second_ci_fast_with_no_change_runs_nothing_and_a_change_reruns_its_package() {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let ws = scratch.path();
    tiny_workspace(ws);
    let steps = ["fmt", "clippy", "unit", "doctests"];

    let first = xtask_in(ws, &["ci", "fast"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    for step in steps {
        assert_eq!(
            table_status(&text(&first), step).split(':').next(),
            Some("ok"),
            "{step}"
        );
    }

    let second = xtask_in(ws, &["ci", "fast"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    for step in steps {
        let status = table_status(&text(&second), step);
        assert!(
            status.starts_with("ok (cached, "),
            "{step}: {status}\n{}",
            text(&second)
        );
    }

    let source = ws.join("c/src/lib.rs");
    let changed = std::fs::read_to_string(&source)
        .expect("c's lib.rs")
        .replace("x + 1", "1 + x");
    std::fs::write(&source, changed).expect("changing c");
    let plan = xtask_in(ws, &["--plan", "ci", "fast"]);
    let plan = text(&plan);
    assert!(plan.contains("c changed (c/src/lib.rs)"), "{plan}");
    assert!(plan.contains("cargo fmt -p c -- --check"), "{plan}");
    assert!(plan.contains("-E 'package(=c)'"), "{plan}");
    assert!(
        plan.contains("cargo test --locked -p c --all-features --doc"),
        "{plan}"
    );

    let third = xtask_in(ws, &["ci", "fast"]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    for step in steps {
        let status = table_status(&text(&third), step);
        assert!(
            !status.contains("cached"),
            "{step}: {status}\n{}",
            text(&third)
        );
    }
    // Only c's test ran; a's and b's were left out.
    assert_eq!(table_status(&text(&first), "unit"), "ok: 3 passed");
    assert_eq!(table_status(&text(&third), "unit"), "ok: 1 passed");
}
