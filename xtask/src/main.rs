//! `cargo xtask`: the project's task runner. See `cargo xtask --help` and the README.

mod capability;
mod cli;
mod commands;
mod container;
mod ctx;
mod exec;
mod kernel_matrix;
mod level;
mod plan;
mod probe;
mod project;
mod provision;
mod record;
mod report;
mod suites;
mod test_run;

use std::process::ExitCode;

use anyhow::Context;

use capability::Host;
use cli::{Cli, Command};
use commands::ci::CiCommand;
use commands::e2e::{Selection, SuiteArgs};
use container::ContainerCommand;
use ctx::Ctx;
use exec::{Executor, Interrupt};
use plan::Plan;
use report::Style;

/// Exit code when a step failed or the runner itself hit an error. Success is 0; clap
/// exits with 2 on a usage error.
const EXIT_FAILED: u8 = 1;
/// Exit code when a termination request (Ctrl-C, SIGTERM, SIGHUP) arrived during the run,
/// whatever the steps' statuses: an interrupted run never counts as a pass.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    project::locate()?;
    let style = Style::detect();
    let ctx = Ctx::detect(style)?;
    if cli.globals.container && !container::run::inside() {
        return in_container(cli, &ctx, style);
    }
    let plan = match &cli.command {
        Command::Doctor(args) => {
            print!("{}", commands::doctor::run(args));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Ci(CiCommand::Plan(args)) => {
            commands::ci_plan::run(args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::ImageTag(args) => {
            for tag in commands::image_tag::run(args)? {
                println!("{tag}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Fmt(args) => commands::fmt::plan(&ctx, args),
        Command::Clippy => commands::clippy::plan(&ctx),
        Command::LintCi => commands::lint_ci::plan(&ctx),
        Command::LintDeploy => commands::lint_deploy::plan(&ctx),
        Command::Unit(args) => commands::unit::plan(&ctx, args)?,
        Command::Build(args) => commands::build::plan(&ctx, args)?,
        Command::E2e(args) => {
            let selection = Selection::from_args(args, ctx.ci)?;
            commands::e2e::plan(&ctx, &Host::system(), &selection)?
        }
        Command::Ci(CiCommand::Fast) => commands::ci::fast_plan(&ctx)?,
        Command::Ci(CiCommand::All(args)) => commands::ci::all_plan(&ctx, &Host::system(), args)?,
        Command::Suite(suite, args, matches) => suite_plan(&ctx, suite, args, matches)?,
        Command::ResctrlStandin(args) => commands::resctrl_standin::plan(&ctx, args)?,
        Command::RunSteps(args) => commands::run_steps::plan(&ctx, args)?,
        Command::Container(ContainerCommand::Base) => {
            container::base::plan(&ctx, &container::engine::Engine::detect()?)?
        }
        Command::Container(ContainerCommand::Build(args)) => {
            container::build::plan(&ctx, &container::engine::Engine::detect()?, args)
        }
        Command::Container(ContainerCommand::Load(args)) => {
            container::build::load_plan(&ctx, &container::engine::Engine::detect()?, &args.input)
        }
    };
    execute(cli, style, plan)
}

/// `--container`: the same command inside the builder image (built first if missing).
fn in_container(cli: &Cli, ctx: &Ctx, style: Style) -> anyhow::Result<ExitCode> {
    let engine = container::engine::Engine::detect()?;
    let image = container::Target::Builder.image();
    if !container::build::image_exists(&engine, &image) {
        eprintln!(
            "{image} is not on this host yet; building it (dependencies are cached in the image afterwards)"
        );
        let args = container::build::BuildArgs {
            target: container::Target::Builder,
            save: None,
            rust_image: None,
            tags: Vec::new(),
        };
        let built = execute(cli, style, container::build::plan(ctx, &engine, &args))?;
        if built != ExitCode::SUCCESS {
            return Ok(built);
        }
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--container")
        .collect();
    let code = container::run::run(&engine, &args)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILED)))
}

/// A suite's own command: the suite alone, whatever its level, still gated by capabilities.
fn suite_plan(
    ctx: &Ctx,
    suite: &'static suites::Suite,
    args: &SuiteArgs,
    matches: &clap::ArgMatches,
) -> anyhow::Result<Plan> {
    let selection = Selection {
        matches: Some(matches.clone()),
        suites: vec![suite],
        level: level::Level::FullLong,
        strict: args.strict.resolve(ctx.ci),
        archive: args.archive_file.clone(),
    };
    commands::e2e::plan(ctx, &Host::system(), &selection)
}

/// Prints the plan (`--plan`) or runs it, then writes JUnit if asked; the exit code says
/// whether every step passed.
fn execute(cli: &Cli, style: Style, plan: Plan) -> anyhow::Result<ExitCode> {
    if cli.globals.plan {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let interrupt = Interrupt::install()?;
    let mut reporter = style.reporter();
    let log_dir = project::xtask_dir().join("logs");
    let mut executor = Executor::new(reporter.as_mut(), interrupt.clone(), log_dir);
    // Steps write into a pipe, so cargo would turn colour off; follow the report style
    // instead, unless the user chose.
    if std::env::var_os("CARGO_TERM_COLOR").is_none() {
        executor = executor.with_env(
            "CARGO_TERM_COLOR",
            if style.colors() { "always" } else { "never" },
        );
    }
    let results = executor.run(&plan);
    if let Some(path) = &cli.globals.junit {
        let xml = report::junit::render(&cli.command.title(), &results);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, xml)
            .with_context(|| format!("writing JUnit to {}", path.display()))?;
    }
    // A request that arrived between steps, or during a step that finished anyway, marks
    // no step as interrupted, yet the run was cut short.
    Ok(if interrupt.requested() || record::interrupted(&results) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if record::any_failed(&results) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
