//! What each kind of change reruns, over fixture workspaces (temporary git checkouts of a
//! small Cargo workspace), planned against the real `ci fast` plan.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::commands::ci::{CiFastArgs, fast_plan, narrowed_step};
use crate::ctx::Ctx;
use crate::record::{Status, StepResult};

/// A fixture checkout (`core` <- `mid` <- (dev) `top`, `tool` a binary alone) and a
/// target directory of its own for the records.
struct Fixture {
    dir: tempfile::TempDir,
    target: tempfile::TempDir,
    /// Stands for the user's home, with a cargo configuration.
    home: tempfile::TempDir,
    env: BuildEnv,
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Fixture {
    fn new() -> Self {
        Self::with_git(true)
    }

    fn with_git(with_git: bool) -> Self {
        let home = tempfile::tempdir().expect("a temporary home");
        let cargo_config = home.path().join("config.toml");
        std::fs::write(&cargo_config, "[build]\n").expect("a cargo configuration");
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("a temporary directory"),
            target: tempfile::tempdir().expect("a temporary target directory"),
            home,
            env: BuildEnv {
                toolchain: "rustc 1.95.0 (59807616e 2026-04-14)\n".to_string(),
                vars: BTreeMap::from([("RUSTFLAGS".to_string(), String::new())]),
                config_files: vec![("~cargo/config.toml".to_string(), cargo_config)],
            },
        };
        fixture.write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n",
        );
        fixture.write("Cargo.lock", "version = 4\n");
        fixture.write("README.md", "# fixture\n");
        fixture.write(".gitignore", "target/\n");
        fixture.write(".github/workflows/ci.yaml", "on: push\n");
        let manifest = |name: &str, deps: &str| {
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{deps}"
            )
        };
        fixture.write("crates/core/Cargo.toml", &manifest("core", ""));
        fixture.write("crates/core/build.rs", "fn main() {}\n");
        fixture.write("crates/core/proto/core.proto", "syntax = \"proto3\";\n");
        fixture.write("crates/core/src/lib.rs", "");
        fixture.write(
            "crates/mid/Cargo.toml",
            &manifest("mid", "[dependencies]\ncore = { path = \"../core\" }\n"),
        );
        fixture.write("crates/mid/src/lib.rs", "");
        fixture.write("crates/mid/tests/fixtures/input.json", "{}\n");
        fixture.write(
            "crates/top/Cargo.toml",
            &manifest("top", "[dev-dependencies]\nmid = { path = \"../mid\" }\n"),
        );
        fixture.write("crates/top/src/lib.rs", "");
        fixture.write("crates/top/deploy/daemonset.yaml", "kind: DaemonSet\n");
        fixture.write("crates/tool/Cargo.toml", &manifest("tool", ""));
        fixture.write("crates/tool/src/main.rs", "fn main() {}\n");
        if with_git {
            git(fixture.root(), &["init", "-q"]);
            git(fixture.root(), &["add", "-A"]);
            git(fixture.root(), &["commit", "-q", "-m", "fixture"]);
        }
        fixture
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.root().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("writing a fixture file");
    }

    fn store(&self) -> Store {
        Store::for_checkout(self.target.path(), self.root())
    }

    fn plan(&self, mode: Mode) -> (Plan, Recorder) {
        let ctx = Ctx::for_tests(true);
        let full = fast_plan(&ctx, &CiFastArgs::default()).expect("ci fast plans");
        let narrow = |name: &str, packages: &[String]| narrowed_step(&ctx, name, packages);
        select_plan(&narrow, self.root(), self.store(), full, mode, &self.env)
    }

    /// Plans with the cache, then records the run as if every step that ran passed, except
    /// `failing`; returns what each step did.
    fn run(&self, failing: &[&str]) -> BTreeMap<String, String> {
        let (plan, recorder) = self.plan(Mode::Cached);
        let results = results(&plan, failing);
        recorder.record(&results).expect("recording");
        outcome(&plan)
    }
}

/// The results of a run of `plan` in which every step passes but `failing`.
fn results(plan: &Plan, failing: &[&str]) -> Vec<StepResult> {
    plan.steps
        .iter()
        .map(|step| {
            let status = match &step.action {
                Action::Skip { reason } => Status::Skipped(reason.clone()),
                _ if failing.contains(&step.name.as_str()) => Status::Failed("broke".into()),
                _ => Status::Ok,
            };
            let mut result = StepResult::new(&step.name, status);
            if let Action::Cached { .. } = step.action {
                result.cached = Some("1 s ago".to_string());
            }
            result
        })
        .collect()
}

/// Per step: `cached`, `skipped`, `all` or the packages it runs for (`core mid`).
fn outcome(plan: &Plan) -> BTreeMap<String, String> {
    plan.steps
        .iter()
        .map(|step| {
            let what = match &step.action {
                Action::Cached { .. } => "cached".to_string(),
                Action::Skip { .. } => "skipped".to_string(),
                Action::Exec(exec) => {
                    let args: Vec<String> = exec
                        .args
                        .iter()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect();
                    let mut packages: Vec<String> = args
                        .windows(2)
                        .filter(|w| w[0] == "-p")
                        .map(|w| w[1].clone())
                        .collect();
                    if let Some(filter) = args.iter().find(|a| a.contains("package(=")) {
                        packages.extend(
                            filter
                                .split("package(=")
                                .skip(1)
                                .map(|p| p.split(')').next().unwrap_or_default().to_string()),
                        );
                    }
                    if packages.is_empty() {
                        "all".to_string()
                    } else {
                        packages.join(" ")
                    }
                }
                _ => "all".to_string(),
            };
            (step.name.clone(), what)
        })
        .collect()
}

/// The cached steps' names aside, what the run did to `steps`.
fn of<'a>(outcome: &'a BTreeMap<String, String>, steps: &[&str]) -> Vec<&'a str> {
    steps.iter().map(|s| outcome[*s].as_str()).collect()
}

const MAIN: [&str; 4] = ["fmt", "clippy", "unit", "doctests"];
const LINTERS: [&str; 3] = ["lint-ci: tools", "zizmor", "kubernetes-validate"];

#[test]
fn without_a_record_everything_runs_and_the_plan_says_why() {
    let fixture = Fixture::new();
    let (plan, _) = fixture.plan(Mode::Cached);
    let outcome = outcome(&plan);
    assert_eq!(of(&outcome, &MAIN), ["all"; 4]);
    assert_eq!(of(&outcome, &LINTERS), ["all"; 3]);
    assert!(
        plan.notes
            .contains("unit                 runs: no green run recorded for this checkout"),
        "{}",
        plan.notes
    );
}

#[test]
fn a_second_run_with_no_change_runs_nothing() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    let (plan, _) = fixture.plan(Mode::Cached);
    let ran: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.action.runs())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(ran, Vec::<&str>::new(), "{}", plan.render());
    let rendered = plan.render();
    let clippy = rendered
        .lines()
        .find(|l| l.contains(". clippy "))
        .expect("a clippy step");
    assert!(clippy.contains("cached: ok "), "{clippy}");
    assert!(
        clippy.contains(" s ago [run: cargo clippy --locked"),
        "{clippy}"
    );
}

#[test]
fn a_source_change_reruns_its_package_and_everything_depending_on_it() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/core/src/lib.rs", "pub fn changed() {}\n");
    let (plan, _) = fixture.plan(Mode::Cached);
    let outcome = outcome(&plan);
    assert_eq!(
        of(&outcome, &MAIN),
        ["core", "all", "core mid top", "core mid top"]
    );
    assert_eq!(of(&outcome, &LINTERS), ["cached"; 3]);
    assert!(
        plan.notes.contains(
            "core changed (crates/core/src/lib.rs); mid depends on core; top depends on mid"
        ),
        "{}",
        plan.notes
    );
}

#[test]
fn a_leaf_change_reruns_only_the_leaf() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/top/src/lib.rs", "pub fn changed() {}\n");
    let outcome = fixture.run(&[]);
    assert_eq!(of(&outcome, &MAIN), ["top", "all", "top", "top"]);
}

#[test]
fn a_test_fixture_reruns_its_package_and_dependents_but_not_fmt() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/mid/tests/fixtures/input.json", "{\"a\": 1}\n");
    let outcome = fixture.run(&[]);
    assert_eq!(of(&outcome, &MAIN), ["cached", "all", "mid top", "mid top"]);
}

#[test]
fn a_build_script_input_reruns_its_package() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/core/proto/core.proto", "syntax = \"proto2\";\n");
    let outcome = fixture.run(&[]);
    assert_eq!(
        of(&outcome, &MAIN),
        ["cached", "all", "core mid top", "core mid top"]
    );
}

#[test]
fn an_untracked_file_in_a_package_counts_as_a_change() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/tool/src/new.rs", "");
    let outcome = fixture.run(&[]);
    assert_eq!(outcome["unit"], "tool");
}

#[test]
fn a_deployment_manifest_reruns_its_validator() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/top/deploy/daemonset.yaml", "kind: Deployment\n");
    let outcome = fixture.run(&[]);
    assert_eq!(outcome["kubernetes-validate"], "all");
    assert_eq!(
        outcome["lint-deploy: tools"], "all",
        "its chain runs with it"
    );
    assert_eq!(outcome["zizmor"], "cached");
    assert_eq!(outcome["unit"], "top");
}

#[test]
fn cargo_lock_reruns_every_step_whole() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("Cargo.lock", "version = 4\n# changed\n");
    let (plan, _) = fixture.plan(Mode::Cached);
    let outcome = outcome(&plan);
    assert_eq!(of(&outcome, &MAIN), ["all"; 4]);
    assert_eq!(of(&outcome, &LINTERS), ["all"; 3]);
    assert!(
        plan.notes
            .contains("clippy               runs: Cargo.lock changed, outside every package"),
        "{}",
        plan.notes
    );
}

#[test]
fn a_file_outside_every_package_reruns_everything_but_the_readme_is_inert() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("README.md", "# fixture, reworded\n");
    let outcome = fixture.run(&[]);
    assert_eq!(of(&outcome, &MAIN), ["cached"; 4]);
    fixture.write(".github/workflows/ci.yaml", "on: pull_request\n");
    let outcome = fixture.run(&[]);
    assert_eq!(of(&outcome, &MAIN), ["all"; 4]);
    assert_eq!(of(&outcome, &LINTERS), ["all"; 3]);
}

#[test]
fn rustflags_rerun_every_step_whole() {
    let mut fixture = Fixture::new();
    fixture.run(&[]);
    fixture
        .env
        .vars
        .insert("RUSTFLAGS".to_string(), "-Cdebuginfo=0".to_string());
    let (plan, _) = fixture.plan(Mode::Cached);
    assert_eq!(of(&outcome(&plan), &MAIN), ["all"; 4]);
    assert!(
        plan.notes
            .contains("unit                 runs: RUSTFLAGS changed"),
        "{}",
        plan.notes
    );
}

#[test]
fn another_toolchain_reruns_every_step_whole() {
    let mut fixture = Fixture::new();
    fixture.run(&[]);
    fixture.env.toolchain = "rustc 1.96.0 (0123456789 2026-05-28)\n".to_string();
    let outcome = fixture.run(&[]);
    assert_eq!(of(&outcome, &MAIN), ["all"; 4]);
    assert_eq!(of(&outcome, &LINTERS), ["all"; 3]);
}

#[test]
fn a_failed_step_reruns_and_the_passed_ones_stay_cached() {
    let fixture = Fixture::new();
    fixture.run(&["unit"]);
    let outcome = fixture.run(&[]);
    assert_eq!(of(&outcome, &MAIN), ["cached", "cached", "all", "cached"]);
}

#[test]
fn a_failure_after_a_change_keeps_the_change_pending() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/mid/src/lib.rs", "pub fn changed() {}\n");
    assert_eq!(fixture.run(&["unit"])["unit"], "mid top");
    // Still measured against the last green run, which did not have the change.
    assert_eq!(fixture.run(&[])["unit"], "mid top");
    assert_eq!(fixture.run(&[])["unit"], "cached");
}

#[test]
fn a_linter_chain_runs_whole_when_one_of_its_steps_must() {
    let fixture = Fixture::new();
    fixture.run(&["zizmor"]);
    let outcome = fixture.run(&[]);
    assert_eq!(outcome["zizmor"], "all");
    assert_eq!(outcome["lint-ci: tools"], "all");
    assert_eq!(outcome["kubernetes-validate"], "cached");
}

#[test]
fn doctests_of_packages_without_a_library_are_skipped_and_count_as_passed() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/tool/src/main.rs", "fn main() { println!(); }\n");
    let (plan, recorder) = fixture.plan(Mode::Cached);
    assert_eq!(
        of(&outcome(&plan), &MAIN),
        ["tool", "all", "tool", "skipped"]
    );
    recorder.record(&results(&plan, &[])).expect("recording");
    assert_eq!(of(&fixture.run(&[]), &MAIN), ["cached"; 4]);
}

#[test]
fn clones_keep_their_own_records_in_a_shared_target_directory() {
    let (a, b) = (Fixture::new(), Fixture::new());
    let shared = a.target.path().to_path_buf();
    let plan_in = |fixture: &Fixture| {
        let ctx = Ctx::for_tests(true);
        let full = fast_plan(&ctx, &CiFastArgs::default()).expect("ci fast plans");
        let store = Store::for_checkout(&shared, fixture.root());
        let narrow = |name: &str, packages: &[String]| narrowed_step(&ctx, name, packages);
        select_plan(
            &narrow,
            fixture.root(),
            store,
            full,
            Mode::Cached,
            &fixture.env,
        )
    };
    let (plan, recorder) = plan_in(&a);
    recorder.record(&results(&plan, &[])).expect("recording");
    assert_eq!(of(&outcome(&plan_in(&a).0), &MAIN), ["cached"; 4]);
    assert_eq!(of(&outcome(&plan_in(&b).0), &MAIN), ["all"; 4]);
}

#[test]
fn since_a_revision_selects_from_git_and_skips_what_nothing_touches() {
    let fixture = Fixture::new();
    fixture.write("crates/mid/src/lib.rs", "pub fn uncommitted() {}\n");
    let (plan, _) = fixture.plan(Mode::Since("HEAD".to_string()));
    let outcome = outcome(&plan);
    assert_eq!(of(&outcome, &MAIN), ["mid", "all", "mid top", "mid top"]);
    assert_eq!(outcome["zizmor"], "skipped");
    assert!(
        plan.render()
            .contains("nothing changed since HEAD affects it"),
        "{}",
        plan.render()
    );
}

#[test]
fn an_unknown_revision_runs_everything_and_says_why() {
    let fixture = Fixture::new();
    let (plan, _) = fixture.plan(Mode::Since("no-such-rev".to_string()));
    assert_eq!(of(&outcome(&plan), &MAIN), ["all"; 4]);
    assert!(
        plan.notes
            .contains("cannot tell what changed since no-such-rev"),
        "{}",
        plan.notes
    );
}

#[test]
fn outside_git_everything_runs_and_nothing_is_recorded() {
    let fixture = Fixture::with_git(false);
    let (plan, recorder) = fixture.plan(Mode::Cached);
    assert_eq!(of(&outcome(&plan), &MAIN), ["all"; 4]);
    assert!(
        plan.notes
            .contains("ci fast runs everything: hashing the checkout's files"),
        "{}",
        plan.notes
    );
    recorder
        .record(&results(&plan, &[]))
        .expect("recording nothing");
    assert!(fixture.store().read("clippy").is_none());
}

#[test]
fn a_broken_manifest_runs_everything_and_says_why() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    fixture.write("crates/mid/Cargo.toml", "[package\n");
    let (plan, _) = fixture.plan(Mode::Cached);
    assert_eq!(of(&outcome(&plan), &MAIN), ["all"; 4]);
    assert!(
        plan.notes.contains("reading the workspace's packages"),
        "{}",
        plan.notes
    );
}

#[test]
fn no_cache_runs_everything_and_records_the_green_steps() {
    let fixture = Fixture::new();
    let mode = Mode::Everything {
        why: "--no-cache".to_string(),
        record: true,
    };
    let (plan, recorder) = fixture.plan(mode);
    assert_eq!(of(&outcome(&plan), &MAIN), ["all"; 4]);
    recorder.record(&results(&plan, &[])).expect("recording");
    assert_eq!(of(&fixture.run(&[]), &MAIN), ["cached"; 4]);
}

#[test]
fn a_change_to_the_users_cargo_configuration_reruns_every_step_whole() {
    let fixture = Fixture::new();
    fixture.run(&[]);
    std::fs::write(
        fixture.home.path().join("config.toml"),
        "[build]\nrustflags = [\"-Cdebuginfo=0\"]\n",
    )
    .expect("changing the cargo configuration");
    let (plan, _) = fixture.plan(Mode::Cached);
    assert_eq!(of(&outcome(&plan), &MAIN), ["all"; 4]);
    assert!(
        plan.notes
            .contains("~cargo/config.toml changed, outside every package"),
        "{}",
        plan.notes
    );
}

#[test]
fn a_user_config_file_counts_as_outside_every_package() {
    let ws = Workspace::default();
    let selection = select(Scope::Tests, &ws, &["~cargo/config.toml".to_string()]);
    assert_eq!(
        selection,
        Selection::All("~cargo/config.toml changed, outside every package".to_string())
    );
}

#[test]
fn colour_options_are_not_part_of_a_steps_command() {
    let sh = crate::project::shell().expect("a shell");
    let step = |color: &str| {
        Step::exec(
            "fmt",
            xshell::cmd!(sh, "cargo fmt --all -- --check --color {color}").into(),
        )
    };
    assert_eq!(command_of(&step("always")), command_of(&step("never")));
    assert_eq!(command_of(&step("never")), "cargo fmt --all -- --check");
}
