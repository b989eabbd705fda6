//! [`TestRun`]: the one place that turns "run these tests" into a cargo-nextest (or,
//! without nextest, `cargo test`) command, for `unit` and for every suite.

use std::path::PathBuf;

use anyhow::bail;
use xshell::{Shell, cmd};

use crate::ctx::Ctx;
use crate::output;
use crate::plan::{Exec, Step};
use crate::project;

/// Which tests to run and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRun {
    /// Packages to build tests for; empty means the whole workspace.
    pub packages: Vec<String>,
    /// A nextest filterset (`-E`), e.g. `package(resctrl) & binary(hardware)`.
    pub filter: Option<String>,
    /// Run only `#[ignore]`d tests: how hardware suites select their tests.
    pub ignored_only: bool,
    /// A nextest partition, e.g. `slice:1/3`.
    pub partition: Option<String>,
    /// A nextest archive to run from instead of building.
    pub archive: Option<PathBuf>,
    /// Arguments for nextest, as a user gives them: its options (`--no-fail-fast`, `-E
    /// EXPR`, `--retries N`), test-name filters, and after a `--` the test binaries' own.
    pub extra: Vec<String>,
    /// nextest's `--test-threads`, when not its default (one per CPU).
    pub threads: Option<usize>,
    /// The runner command that reruns chosen tests given their names after `--` (e.g.
    /// `cargo xtask unit`): the digest of a failure suggests it with the failing tests.
    pub rerun: Option<&'static str>,
}

/// nextest's store directory, as configured in `.config/nextest.toml`.
const NEXTEST_STORE: &str = "target/nextest";

pub use crate::output::cargo::NEXTEST_INSTALL;

impl TestRun {
    /// The nextest profile: `ci` under CI (no fail-fast, retries), `default` otherwise.
    pub fn profile() -> &'static str {
        if project::in_ci() { "ci" } else { "default" }
    }

    /// Where nextest writes JUnit: its store (`[store] dir` in `.config/nextest.toml`) is
    /// relative to the workspace root, for builds and archive runs alike.
    pub fn junit_path() -> PathBuf {
        project::root()
            .join(NEXTEST_STORE)
            .join(Self::profile())
            .join("junit.xml")
    }

    /// A step running these tests.
    pub fn step(&self, ctx: &Ctx, name: &str) -> anyhow::Result<Step> {
        let sh = &ctx.sh;
        if !ctx.nextest {
            return self.cargo_test_step(sh, name);
        }
        let profile = Self::profile();
        let extra = &self.extra;
        let mut cmd = match &self.archive {
            Some(archive) => {
                let root = project::root();
                let extract = archive_extract_dir();
                cmd!(
                    sh,
                    "cargo nextest run --archive-file {archive} --workspace-remap {root} --extract-to {extract} --extract-overwrite --profile {profile}"
                )
            }
            None => {
                let scope = self.scope();
                cmd!(
                    sh,
                    "cargo nextest run --locked {scope...} --all-features --profile {profile}"
                )
            }
        };
        if let Some(filter) = &self.filter {
            cmd = cmd.args(["-E", filter]);
        }
        if self.ignored_only {
            cmd = cmd.args(["--run-ignored", "only"]);
        }
        if let Some(partition) = &self.partition {
            cmd = cmd.args(["--partition", partition]);
        }
        if let Some(threads) = self.threads {
            cmd = cmd.args(["--test-threads", &threads.to_string()]);
        }
        cmd = cmd.args(extra);
        let mut exec = Exec::from(cmd);
        if self.archive.is_some() {
            // nextest extracts only into an existing directory.
            exec = exec.creating_dir(archive_extract_dir());
        }
        let rerun = self.rerun;
        Ok(Step::exec(name, exec)
            .with_junit(Self::junit_path())
            .parsed_by(move || output::nextest::parser(project::root().to_path_buf(), rerun)))
    }

    /// `--workspace`, or `-p` for each package.
    fn scope(&self) -> Vec<String> {
        if self.packages.is_empty() {
            return vec!["--workspace".to_string()];
        }
        self.packages
            .iter()
            .flat_map(|p| ["-p".to_string(), p.clone()])
            .collect()
    }

    /// Without nextest: plain `cargo test`, as long as nothing needs nextest.
    fn cargo_test_step(&self, sh: &Shell, name: &str) -> anyhow::Result<Step> {
        let needs_nextest = [
            (self.archive.is_some(), "--archive-file"),
            (self.partition.is_some(), "--partition"),
            (self.filter.is_some(), "a test filterset"),
        ];
        if let Some((_, what)) = needs_nextest.iter().find(|(needed, _)| *needed) {
            bail!(
                "{what} needs cargo-nextest, which is not installed; install it with `{NEXTEST_INSTALL}`"
            );
        }
        if let Some(option) = split_args(&self.extra).options.first() {
            bail!(
                "`{option}` is a cargo-nextest option, and nextest is not installed; install it with `{NEXTEST_INSTALL}`"
            );
        }
        let scope = self.scope();
        let mut trailing: Vec<String> = libtest_args(&self.extra);
        if self.ignored_only {
            trailing.push("--ignored".to_string());
        }
        let separator = (!trailing.is_empty()).then_some("--");
        let rerun = self.rerun;
        Ok(Step::exec(
            name,
            cmd!(
                sh,
                "cargo test --locked {scope...} --all-features {separator...} {trailing...}"
            )
            .into(),
        )
        .parsed_by(move || output::libtest::parser(project::root().to_path_buf(), rerun)))
    }
}

/// nextest options that take a value as the next argument (`-E EXPR`); the value is no
/// test-name filter.
const VALUE_OPTIONS: &[&str] = &[
    "-E",
    "--filterset",
    "--filter-expr",
    "--retries",
    "--test-threads",
    "-j",
    "--jobs",
    "--run-ignored",
    "--partition",
    "--profile",
    "-P",
    "--status-level",
    "--final-status-level",
    "--failure-output",
    "--success-output",
    "--max-fail",
    "--no-tests",
    "--cargo-profile",
    "--features",
    "-F",
    "--package",
    "-p",
    "--exclude",
    "--message-format",
    "--color",
];

/// A user's test-runner arguments, sorted.
#[derive(Debug, Default, PartialEq, Eq)]
struct SplitArgs<'a> {
    /// nextest options with their values.
    options: Vec<&'a str>,
    /// Test-name filters.
    filters: Vec<&'a str>,
    /// What follows `--`: the test binaries' own arguments.
    binary: Vec<&'a str>,
}

fn split_args(extra: &[String]) -> SplitArgs<'_> {
    let mut split = SplitArgs::default();
    let mut args = extra.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        if arg == "--" {
            split.binary.extend(args.by_ref());
        } else if arg.starts_with('-') {
            split.options.push(arg);
            if VALUE_OPTIONS.contains(&arg)
                && let Some(value) = args.next()
            {
                split.options.push(value);
            }
        } else {
            split.filters.push(arg);
        }
    }
    split
}

/// The part of a user's test-runner arguments that libtest understands (for doctests, and
/// `cargo test` without nextest): the test-name filters, then what followed `--`.
pub fn libtest_args(extra: &[String]) -> Vec<String> {
    let split = split_args(extra);
    split
        .filters
        .into_iter()
        .chain(split.binary)
        .map(str::to_string)
        .collect()
}

/// Where archives are unpacked to run, kept so nextest's JUnit output survives the run.
fn archive_extract_dir() -> PathBuf {
    project::xtask_dir().join("archive-run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_run_with_nextest() {
        let run = TestRun {
            partition: Some("slice:2/3".into()),
            extra: vec!["--no-fail-fast".into(), "resctrl::".into()],
            ..TestRun::default()
        };
        let step = run.step(&Ctx::for_tests(true), "unit").unwrap();
        let profile = TestRun::profile();
        assert_eq!(
            step.command_line(),
            format!(
                "cargo nextest run --locked --workspace --all-features --profile {profile} --partition slice:2/3 --no-fail-fast resctrl::"
            )
        );
        assert!(
            step.junit
                .unwrap()
                .ends_with(format!("nextest/{profile}/junit.xml"))
        );
    }

    #[test]
    fn suite_run_selects_ignored_tests_of_a_binary() {
        let run = TestRun {
            packages: vec!["resctrl".into()],
            filter: Some("binary(hardware)".into()),
            ignored_only: true,
            ..TestRun::default()
        };
        let line = run
            .step(&Ctx::for_tests(true), "resctrl-e2e")
            .unwrap()
            .command_line();
        assert!(line.contains("-p resctrl --all-features"), "{line}");
        assert!(
            line.ends_with("-E 'binary(hardware)' --run-ignored only"),
            "{line}"
        );
    }

    #[test]
    fn user_arguments_are_sorted_into_options_filters_and_binary_arguments() {
        let extra: Vec<String> = [
            "--no-fail-fast",
            "-E",
            "package(resctrl)",
            "--retries=2",
            "group::",
            "--",
            "--exact",
            "x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            split_args(&extra),
            SplitArgs {
                options: vec!["--no-fail-fast", "-E", "package(resctrl)", "--retries=2"],
                filters: vec!["group::"],
                binary: vec!["--exact", "x"],
            }
        );
        assert_eq!(libtest_args(&extra), ["group::", "--exact", "x"]);
    }

    #[test]
    fn without_nextest_its_options_are_refused_by_name() {
        let run = TestRun {
            extra: vec!["--no-fail-fast".into()],
            ..TestRun::default()
        };
        let err = run
            .step(&Ctx::for_tests(false), "unit")
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("`--no-fail-fast` is a cargo-nextest option")
                && err.contains(NEXTEST_INSTALL),
            "{err}"
        );
        let filtered = TestRun {
            extra: vec!["resctrl::".into()],
            ..TestRun::default()
        };
        assert_eq!(
            filtered
                .step(&Ctx::for_tests(false), "unit")
                .expect("a cargo test step")
                .command_line(),
            "cargo test --locked --workspace --all-features -- resctrl::"
        );
    }

    #[test]
    fn junit_path_follows_the_nextest_store_setting() {
        let config = std::fs::read_to_string(project::root().join(".config/nextest.toml")).unwrap();
        assert!(
            config.contains(&format!("[store]\ndir = \"{NEXTEST_STORE}\"")),
            "the [store] dir in .config/nextest.toml must be {NEXTEST_STORE}"
        );
    }

    #[test]
    fn archive_run_compiles_nothing() {
        let run = TestRun {
            archive: Some("target/xtask/tests.tar.zst".into()),
            ..TestRun::default()
        };
        let line = run
            .step(&Ctx::for_tests(true), "unit")
            .unwrap()
            .command_line();
        let extract = archive_extract_dir();
        assert!(
            line.starts_with(&format!(
                "mkdir -p {} && cargo nextest run --archive-file target/xtask/tests.tar.zst --workspace-remap ",
                extract.display()
            )),
            "{line}"
        );
        // Nothing that could compile: no cargo build flags, only the archive.
        assert!(
            !line.contains("--locked") && !line.contains("--workspace "),
            "{line}"
        );
    }

    #[test]
    fn without_nextest_falls_back_or_names_the_install() {
        let plain = TestRun::default()
            .step(&Ctx::for_tests(false), "unit")
            .unwrap();
        assert_eq!(
            plain.command_line(),
            "cargo test --locked --workspace --all-features"
        );
        let sharded = TestRun {
            partition: Some("slice:1/2".into()),
            ..TestRun::default()
        };
        let err = sharded
            .step(&Ctx::for_tests(false), "unit")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("--partition needs cargo-nextest") && err.contains(NEXTEST_INSTALL),
            "{err}"
        );
    }
}
