//! `nri-resctrl-plugin`: the resctrl NRI plugin as a process of its own, connecting to
//! the runtime's NRI socket or launched by the runtime. See `--help`.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use cause_chain::Chain;
use clap::Parser;
use nri_resctrl_plugin::{PodResctrlEvent, ResctrlGroupState, ResctrlNriPlugin};
use tokio::signal::unix::{SignalKind, signal};

use cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .init();
    // One thread serves the connection; the resctrl work has a thread of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %Chain(&e), "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", Chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let options = args.adapter_options().context("invalid plugin identity")?;
    let launched = matches!(
        options.nri.transport(),
        nri::stub::Transport::InheritedFd(_)
    );
    let (plugin, mut events) = ResctrlNriPlugin::spawn(options, args.host_config()).await?;
    let startup = plugin.startup_report();
    tracing::info!(
        mount = ?startup.mount,
        stale_groups_removed = startup.cleanup.map_or(0, |c| c.removed),
        "resctrl is ready; serving the runtime"
    );

    let stop = plugin.shutdown_handle();
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
        stop.shutdown();
    });
    // Ends when the plugin stops and its core closes the channel.
    let log_events = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            log_event(&event);
        }
    });

    let result = plugin.wait().await;
    // The core is gone, so the channel is closed and the remaining events are drained.
    let _ = log_events.await;
    match result {
        Ok(()) => Ok(()),
        // A plugin the runtime launched ends with its connection: the runtime stopped.
        Err(nri_resctrl_plugin::AdapterError::Nri(nri::StubError::ConnectionClosed(reason)))
            if launched =>
        {
            tracing::info!(reason = %Chain(&reason), "the runtime closed the connection; exiting");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn log_event(event: &PodResctrlEvent) {
    match event {
        PodResctrlEvent::AddOrUpdate(update) => {
            let group = match &update.group_state {
                ResctrlGroupState::Exists(path) => path.as_str(),
                ResctrlGroupState::Failed => "(failed)",
            };
            tracing::info!(
                pod_uid = %update.pod_uid,
                group,
                containers = update.total_containers,
                reconciled = update.reconciled_containers,
                "pod resctrl group updated"
            );
        }
        PodResctrlEvent::Removed(removed) => {
            tracing::info!(pod_uid = %removed.pod_uid, "pod removed; its group was deleted");
        }
    }
}
