//! `resctrl-standin --mount DIR`: a resctrl stand-in mounted until SIGINT or SIGTERM. See
//! `--help`.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use resctrl_standin::Standin;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("resctrl-standin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    // Registered before mounting, so a signal during the mount cannot kill the process
    // and leave a dead mount behind.
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing the signal handlers")?;
    std::fs::create_dir_all(&args.mount)
        .with_context(|| format!("creating the mount point {}", args.mount.display()))?;
    let standin = Standin::mount(&args.mount, args.builder())?;
    let layout = standin.layout();
    let banner = format!(
        "resctrl stand-in mounted at {}\n  resctrl root: {}\n  mount table:  {}\n  cpuinfo:      {}\nStop with Ctrl-C or SIGTERM; it unmounts then.\n",
        layout.mount_point().display(),
        layout.root().display(),
        layout.mounts_path().display(),
        layout.cpuinfo_path().display(),
    );
    // A reader that went away (a test that read the first line) must not stop the mount.
    if let Err(e) = std::io::stdout().write_all(banner.as_bytes()) {
        tracing::warn!(error = %e, "cannot print the mount's paths to stdout");
    }
    let signal = signals.forever().next();
    tracing::info!(?signal, "stopping");
    standin.unmount()?;
    Ok(())
}
