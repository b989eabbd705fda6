//! `cargo xtask`: the project's task runner. See `cargo xtask --help` and DESIGN.md.

mod capability;
mod cli;
mod commands;
mod exec;
mod level;
mod plan;
mod probe;
mod project;
mod report;
mod suites;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command};
use commands::ci::CiCommand;
use commands::e2e::{Selection, SuiteArgs};
use exec::{Executor, Interrupt};
use plan::Plan;
use report::Style;

/// Exit codes: 0 all passed, 1 something failed, 2 usage error (clap), 130 interrupted.
const EXIT_FAILED: u8 = 1;
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let sh = project::shell()?;
    let ci = project::in_ci();
    let nextest = probe::tools::nextest_installed();
    let plan = match &cli.command {
        Command::Doctor(args) => {
            print!("{}", commands::doctor::run(args));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Fmt(args) => commands::fmt::plan(&sh, args),
        Command::Clippy => commands::clippy::plan(&sh),
        Command::Unit(args) => commands::unit::plan(&sh, args, nextest)?,
        Command::Build(args) => commands::build::plan(&sh, args, nextest)?,
        Command::E2e(args) => {
            let host = capability::Host::system();
            commands::e2e::plan(&sh, &host, &Selection::from_args(args, ci)?, nextest)?
        }
        Command::Ci(CiCommand::Fast) => commands::ci::fast_plan(&sh, nextest)?,
        Command::Ci(CiCommand::All(args)) => {
            commands::ci::all_plan(&sh, &capability::Host::system(), args, nextest)?
        }
        Command::ResctrlE2e(args) => suite_plan(&sh, "resctrl-e2e", args, ci, nextest)?,
    };
    execute(cli, plan)
}

/// A suite's own command: the suite alone, whatever its level, still gated by capabilities.
fn suite_plan(
    sh: &xshell::Shell,
    name: &str,
    args: &SuiteArgs,
    ci: bool,
    nextest: bool,
) -> anyhow::Result<Plan> {
    let selection = Selection {
        suites: vec![suites::find(name)?],
        level: level::Level::FullLong,
        strict: args.strict.resolve(ci),
        archive: args.archive_file.clone(),
    };
    commands::e2e::plan(sh, &capability::Host::system(), &selection, nextest)
}

/// Prints the plan (`--plan`) or runs it, then writes JUnit if asked; the exit code says
/// whether every step passed.
fn execute(cli: &Cli, plan: Plan) -> anyhow::Result<ExitCode> {
    if cli.plan {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let interrupt = Interrupt::install()?;
    let mut reporter = Style::detect().reporter();
    let log_dir = project::xtask_dir().join("logs");
    let results = Executor::new(reporter.as_mut(), interrupt, log_dir).run(&plan);
    if let Some(path) = &cli.junit {
        let xml = report::junit::render(&cli.command.title(), &results);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, xml)
            .with_context(|| format!("writing JUnit to {}", path.display()))?;
    }
    Ok(if exec::interrupted(&results) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if exec::any_failed(&results) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
