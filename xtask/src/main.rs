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

use capability::Host;
use cli::{Cli, Command};
use commands::Ctx;
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
    let style = Style::detect();
    let ctx = Ctx::detect(style)?;
    let plan = match &cli.command {
        Command::Doctor(args) => {
            print!("{}", commands::doctor::run(args));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Fmt(args) => commands::fmt::plan(&ctx, args),
        Command::Clippy => commands::clippy::plan(&ctx),
        Command::Unit(args) => commands::unit::plan(&ctx, args)?,
        Command::Build(args) => commands::build::plan(&ctx, args)?,
        Command::E2e(args) => {
            let selection = Selection::from_args(args, ctx.ci)?;
            commands::e2e::plan(&ctx, &Host::system(), &selection)?
        }
        Command::Ci(CiCommand::Fast) => commands::ci::fast_plan(&ctx)?,
        Command::Ci(CiCommand::All(args)) => commands::ci::all_plan(&ctx, &Host::system(), args)?,
        Command::ResctrlE2e(args) => suite_plan(&ctx, "resctrl-e2e", args)?,
    };
    execute(cli, style, plan)
}

/// A suite's own command: the suite alone, whatever its level, still gated by capabilities.
fn suite_plan(ctx: &Ctx, name: &str, args: &SuiteArgs) -> anyhow::Result<Plan> {
    let selection = Selection {
        suites: vec![suites::find(name)?],
        level: level::Level::FullLong,
        strict: args.strict.resolve(ctx.ci),
        archive: args.archive_file.clone(),
    };
    commands::e2e::plan(ctx, &Host::system(), &selection)
}

/// Prints the plan (`--plan`) or runs it, then writes JUnit if asked; the exit code says
/// whether every step passed.
fn execute(cli: &Cli, style: Style, plan: Plan) -> anyhow::Result<ExitCode> {
    if cli.plan {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let interrupt = Interrupt::install()?;
    let mut reporter = style.reporter();
    let log_dir = project::xtask_dir().join("logs");
    let mut executor = Executor::new(reporter.as_mut(), interrupt, log_dir);
    // Steps write into a pipe, so cargo would turn colour off; follow the report style
    // instead, unless the user chose.
    if std::env::var_os("CARGO_TERM_COLOR").is_none() {
        executor = executor.with_env(
            "CARGO_TERM_COLOR",
            if style.colors() { "always" } else { "never" },
        );
    }
    let results = executor.run(&plan);
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
