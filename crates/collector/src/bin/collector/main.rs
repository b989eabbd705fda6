//! `collector`: the node agent as a process: the resctrl NRI plugin, sampling and
//! Parquet output, stopped by SIGTERM. See `--help`.

mod cli;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use collector::Collector;
use tokio::signal::unix::{SignalKind, signal};

use cli::Args;

/// Stopped by a signal (or the runtime went away for good) with every row written.
const EXIT_OK: u8 = 0;
/// Could not start (bad configuration, unusable output directory or resctrl) or failed
/// while running; the message says which.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .init();
    // One thread serves the NRI connection; the plugin's core and the sampling loop have
    // threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime");
    let result = runtime.and_then(|runtime| runtime.block_on(run(&args)));
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("collector: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let config = args.node_config(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned())
    })?;
    // Installed before anything starts, so a SIGTERM at any moment stops it cleanly.
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut rotate =
        signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    let collector = Collector::start(config)
        .await
        .context("starting the collector")?;
    if let Some(addr) = collector.listen_addr() {
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    }
    let control = collector.control();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => {
                    tracing::info!("SIGTERM: completing the current file and stopping");
                    break;
                }
                _ = interrupt.recv() => {
                    tracing::info!("SIGINT: completing the current file and stopping");
                    break;
                }
                _ = rotate.recv() => {
                    tracing::info!("SIGUSR1: completing the current file");
                    control.rotate();
                }
            }
        }
        control.shutdown();
    });
    let report = collector.run().await.context("running the collector")?;
    tracing::info!(
        rounds = report.rounds,
        rows = report.rows,
        skipped_ticks = report.skipped_ticks,
        files = report.files.len(),
        "stopped"
    );
    Ok(())
}
