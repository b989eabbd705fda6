//! `cargo xtask`: the project's task runner. See `cargo xtask --help` and the README.

mod affected;
mod ansi;
mod bench;
mod capability;
mod cli;
mod commands;
mod container;
mod ctx;
mod exec;
mod incremental;
mod kernel_matrix;
mod level;
mod mutants;
mod output;
mod ownership;
mod plan;
mod probe;
mod project;
mod provision;
mod record;
mod report;
mod result_cache;
mod suites;
mod test_run;
mod usage;

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

/// Exit code when a step failed or the runner itself hit an error. Success is 0.
const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error: clap's for arguments that do not parse, ours
/// ([`usage::UsageError`]) for arguments that do not make sense together.
const EXIT_USAGE: u8 = 2;
/// Exit code when a termination request (Ctrl-C, SIGTERM, SIGHUP) arrived during the run,
/// whatever the steps' statuses: an interrupted run never counts as a pass.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    match run(&cli) {
        Ok(code) => code,
        Err(err) if err.is::<usage::UsageError>() => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    refuse_ignored_globals(cli);
    project::locate()?;
    let style = Style::detect();
    let ctx = Ctx::detect(cli.globals.color.resolve(style))?;
    // `--plan` prints what would run inside, without an engine or an image.
    if cli.globals.container && !container::run::inside() && !cli.globals.plan {
        return in_container(cli, &ctx, style);
    }
    let engine = || {
        if cli.globals.plan {
            Ok(container::engine::Engine::detect_for_plan())
        } else {
            container::engine::Engine::detect()
        }
    };
    let plan = match &cli.command {
        Command::Doctor(args) => {
            print!("{}", commands::doctor::run(args)?);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Ci(CiCommand::Plan(args)) => {
            commands::ci_plan::run(args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::List => {
            print!("{}", commands::list::run(&cli::Cli::definition()));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Ci(CiCommand::Summary(args)) => {
            commands::ci_summary::run(args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::ImageTag(args) => {
            let tags = commands::image_tag::run(args)?;
            for tag in &tags {
                println!("{tag}");
            }
            commands::image_tag::write_github_output(&tags)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::ImagePrune(args) => commands::image_prune::plan(&ctx, args)?,
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
        Command::Ci(CiCommand::Fast(args)) => {
            let (plan, recorder) = commands::ci::fast_incremental(&ctx, args)?;
            let code = execute_recording(cli, style, plan, &recorder);
            ownership::hand_back_after_sudo(cli.globals.junit.as_deref());
            return code;
        }
        Command::Ci(CiCommand::All(args)) => commands::ci::all_plan(&ctx, &Host::system(), args)?,
        Command::Suite(suite, args, matches) => suite_plan(&ctx, suite, args, matches)?,
        Command::Mutants(args) => mutants::plan(&ctx, args)?,
        Command::ResctrlStandin(args) => commands::resctrl_standin::plan(&ctx, args)?,
        Command::RunSteps(args) => commands::run_steps::plan(&ctx, args)?,
        Command::Container(ContainerCommand::Base) => container::base::plan(&ctx, &engine()?)?,
        Command::Container(ContainerCommand::Build(args)) => {
            let tags = if args.ci_tags { ci_tags()? } else { Vec::new() };
            container::build::plan(&ctx, &engine()?, args, &tags)
        }
        Command::Container(ContainerCommand::Push(args)) => {
            container::push::plan(&ctx, &engine()?, args, &ci_tags()?)
        }
        Command::Container(ContainerCommand::Pull(args)) => {
            container::pull::plan(&ctx, &engine()?, args)
        }
        Command::Container(ContainerCommand::Load(args)) => {
            container::build::load_plan(&ctx, &engine()?, &args.input)
        }
        Command::Container(ContainerCommand::Clean) => container::clean::plan(&ctx, &engine()?),
    };
    let code = execute(cli, style, plan);
    ownership::hand_back_after_sudo(cli.globals.junit.as_deref());
    code
}

/// The immutable tags of this CI context (`image-tag` with its defaults).
fn ci_tags() -> anyhow::Result<Vec<String>> {
    commands::image_tag::run(&commands::image_tag::ImageTagArgs::default())
}

/// `--container`: the same command inside the builder image, built first if missing or
/// built from an older Containerfile or Cargo.lock (under CI, a stale image is refused: CI
/// builds the image it tests with in the same run).
fn in_container(cli: &Cli, ctx: &Ctx, style: Style) -> anyhow::Result<ExitCode> {
    let engine = container::engine::Engine::detect()?;
    let image = container::Target::Builder.image();
    let wanted = container::build::recipe_hash(project::root());
    let state = if !container::build::image_exists(&engine, &image) {
        container::run::ImageState::Missing
    } else {
        match container::build::image_recipe(&engine, &image) {
            Some(label) if label == wanted => container::run::ImageState::Current,
            label => container::run::ImageState::Stale(label),
        }
    };
    let reason = container::run::build_reason(&state, ctx.ci, &image, &wanted)?;
    if let Some(reason) = reason {
        eprintln!(
            "{image} {reason}; building it (dependencies are cached in the image afterwards)"
        );
        let args = container::build::BuildArgs {
            target: container::Target::Builder,
            save: None,
            rust_image: None,
            ci_tags: false,
            cache_from: None,
        };
        let built = execute(cli, style, container::build::plan(ctx, &engine, &args, &[]))?;
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

/// Fails naming `--junit` when `path` cannot be written (creating its directory first).
fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let writable = parent
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(drop)
        });
    writable.with_context(|| {
        format!(
            "--junit {}: cannot write there; give a path in a writable directory",
            path.display()
        )
    })
}

/// Refuses global options a command would silently ignore: `doctor`, `ci plan`,
/// `image-tag` and `list` only print, so `--plan` and `--junit` mean nothing to them. Exits with 2 like
/// every usage error.
fn refuse_ignored_globals(cli: &Cli) {
    let printer = matches!(
        cli.command,
        Command::Doctor(_) | Command::Ci(CiCommand::Plan(_)) | Command::ImageTag(_) | Command::List
    );
    let ignored = [
        (cli.globals.plan, "--plan"),
        (cli.globals.junit.is_some(), "--junit"),
    ];
    if let Some((_, flag)) = ignored.iter().find(|(given, _)| printer && *given) {
        cli::Cli::definition()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "`{flag}` does nothing for `{}`, which runs no steps; leave it out",
                    cli.command.title()
                ),
            )
            .exit();
    }
}

/// Prints the plan (`--plan`) or runs it, then writes JUnit if asked; the exit code says
/// whether every step passed.
fn execute(cli: &Cli, style: Style, plan: Plan) -> anyhow::Result<ExitCode> {
    execute_recording(cli, style, plan, &incremental::Recorder::none())
}

/// [`execute`], then `recorder` keeps the green results for the next run (`ci fast`).
fn execute_recording(
    cli: &Cli,
    style: Style,
    plan: Plan,
    recorder: &incremental::Recorder,
) -> anyhow::Result<ExitCode> {
    if cli.globals.plan {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &cli.globals.junit {
        // Found out before any step runs, not after the whole run.
        check_writable(path)?;
    }
    let interrupt = Interrupt::install()?;
    let mut reporter = style.reporter(cli.globals.verbosity(), cli.globals.color.resolve(style));
    let log_dir = project::log_dir();
    let mut executor = Executor::new(reporter.as_mut(), interrupt.clone(), log_dir);
    // Steps write into a pipe, so cargo would turn colour off; follow `--color` and the
    // report style instead, unless the user chose with CARGO_TERM_COLOR (and no --color).
    let explicit = cli.globals.color != report::ColorChoice::Auto;
    if explicit || std::env::var_os("CARGO_TERM_COLOR").is_none() {
        let color = cli.globals.color.resolve(style);
        executor = executor.with_env("CARGO_TERM_COLOR", if color { "always" } else { "never" });
    }
    let results = executor.run(&plan);
    if let Err(err) = recorder.record(&results) {
        // The run's verdict stands; the next run only finds less in the cache.
        eprintln!("warning: the results were not recorded: {err:#}");
    }
    if let Some(path) = &cli.globals.junit {
        let xml = report::junit::render(&cli.command.title(), &results);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, xml)
            .with_context(|| format!("writing JUnit to {}", path.display()))?;
    }
    if container::run::inside() {
        let mut outputs = vec![project::log_dir(), project::root().join("target/nextest")];
        outputs.extend(
            cli.globals
                .junit
                .iter()
                .map(|path| project::root().join(path)),
        );
        if let Command::Build(args) = &cli.command {
            outputs.push(project::root().join(&args.archive));
        }
        container::run::hand_back(project::root(), &outputs);
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
