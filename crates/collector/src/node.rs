//! [`Collector`]: the agent as deployed: the resctrl NRI plugin in-process, the
//! sampling loop on a thread of its own writing to the output directory, the uploader
//! sending completed files to object storage, and the HTTP server of probes and metrics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use nri_resctrl_plugin::{
    AdapterOptions, CgroupPidSource, EventReceiver, HostConfig, PidSource, PluginConfig,
    ResctrlNriPlugin, ResctrlPlugin, events,
};
use resctrl::{FsProvider, RealFs, Resctrl};

use crate::agent::{ControlHandle, LoopReport, SamplingLoop};
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::http::{bind_http, serve};
use crate::metrics::{Metrics, PluginFigures};
use crate::output::{Output, OutputConfig, Recovery};
use crate::sampler::Sampler;
use crate::tick::{Clock, SystemClock, Ticker};
use crate::upload::{Backoff, UploadConfig, Uploader};

/// How often the plugin's figures (registration, drops) are copied into the metrics.
const STATUS_POLL: Duration = Duration::from_secs(1);

/// Pod events that may wait between two rounds. The loop drains them every tick, but a
/// runtime's `Synchronize` sends one per pod at once, and a dropped event is only sent
/// again by the plugin's next retry round (see `nri_resctrl_plugin::events`), so pods
/// would be missed or sampled after removal until then: room for several thousand pods'
/// burst, at about a hundred bytes each.
const EVENT_CAPACITY: usize = 8 * nri_resctrl_plugin::adapter::DEFAULT_EVENT_CAPACITY;

/// Everything the collector on a node needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Output directory, node name, interval, rotation.
    pub output: OutputConfig,
    /// Where resctrl is (root, mount table, CPU description).
    pub resctrl: resctrl::Config,
    /// The plugin's behaviour (group prefix, startup cleanup, auto-mount).
    pub plugin: PluginConfig,
    /// Where the cgroup file systems are mounted (container threads are read there).
    pub cgroup_root: PathBuf,
    /// The NRI connection: plugin name and index, the runtime's socket, reconnects.
    pub nri: nri::stub::PluginConfig,
    /// How often the plugin re-checks containers and retries pending work.
    pub retry_interval: Duration,
    /// Where completed files go. For [`Destination::S3`] the output directory is the
    /// local spool they are uploaded from; for a directory it must be `output.dir`.
    pub destination: Destination,
    /// With an object store: completed files waiting may take this much of the spool.
    pub max_spool_bytes: u64,
    /// With an object store: the waits between upload attempts while they fail.
    pub upload_backoff: Backoff,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None`: nowhere.
    pub listen: Option<SocketAddr>,
}

/// What runs beside the sampling loop: the metrics it feeds, the uploader (with an
/// object store) and the HTTP server's socket.
#[derive(Debug, Default)]
pub struct Services {
    /// Shared by the loop, the uploader and the server.
    pub metrics: Arc<Metrics>,
    /// Sends completed files away, if the destination is an object store.
    pub uploader: Option<Uploader>,
    /// Serves the probes and metrics, if given.
    pub listener: Option<TcpListener>,
}

impl Services {
    /// The services `config` asks for: an S3 uploader of the output directory and a
    /// bound HTTP socket.
    ///
    /// Must be called within a Tokio runtime. Fails with [`Error::InvalidConfig`] if a
    /// directory destination is not the output directory, [`Error::ObjectStore`] or
    /// [`Error::Listen`].
    pub async fn from_config(config: &NodeConfig) -> Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let uploader = match &config.destination {
            Destination::Directory(dir) if dir == &config.output.dir => None,
            Destination::Directory(dir) => {
                return Err(Error::InvalidConfig {
                    name: "--output",
                    value: dir.display().to_string(),
                    expected: "the output directory itself for file:// output (the spool directory is only for s3://)",
                });
            }
            Destination::S3 { bucket, prefix } => {
                let mut upload = UploadConfig::new(
                    &config.output.dir,
                    format!("{}{}-", config.output.prefix, config.output.node),
                );
                upload.max_spool_bytes = config.max_spool_bytes;
                upload.backoff = config.upload_backoff;
                Some(Uploader::s3(bucket, prefix, upload, metrics.clone())?)
            }
        };
        let listener = match config.listen {
            Some(addr) => Some(bind_http(addr).await?),
            None => None,
        };
        Ok(Services {
            metrics,
            uploader,
            listener,
        })
    }
}

/// The tasks beside the loop, and how to stop them.
#[derive(Debug)]
struct Tasks {
    metrics: Arc<Metrics>,
    listen: Option<SocketAddr>,
    upload_stop: watch::Sender<bool>,
    uploader: Option<tokio::task::JoinHandle<()>>,
    server_stop: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    status: tokio::task::JoinHandle<()>,
}

/// A running collector.
///
/// Dropping it without [`Self::stop`] or [`Self::run`] asks the plugin to stop and the
/// loop ends when its control channel closes (the current file is completed).
#[derive(Debug)]
pub struct Collector {
    plugin: ResctrlNriPlugin,
    control: ControlHandle,
    sampling: std::thread::JoinHandle<Result<LoopReport>>,
    recovery: Recovery,
    tasks: Tasks,
}

impl Collector {
    /// Starts the collector on this host: opens (and recovers) the output directory,
    /// checks resctrl, starts the plugin (its startup cleanup, then the NRI connection,
    /// which retries until the runtime listens) and the sampling loop.
    ///
    /// Must be called within a Tokio runtime. Fails with [`Error::OutputDir`],
    /// [`Error::ResctrlUnusable`], [`Error::Resctrl`], [`Error::Cgroups`], [`Error::Plugin`],
    /// [`Error::Thread`] or an error of [`Services::from_config`]; nothing is sampled
    /// then, and recovered files stay.
    pub async fn start(config: NodeConfig) -> Result<Self> {
        let services = Services::from_config(&config).await?;
        let (output, recovery) = Output::open(config.output.clone())?;
        let resctrl_config = config
            .resctrl
            .clone()
            .with_group_prefix(config.plugin.group_prefix.clone());
        let resctrl = Resctrl::new(resctrl_config).map_err(Error::Resctrl)?;
        check_resctrl(&resctrl, config.plugin.auto_mount)?;
        let pids =
            CgroupPidSource::detect(&config.cgroup_root).map_err(|source| Error::Cgroups {
                root: config.cgroup_root.clone(),
                source,
            })?;
        let host = HostConfig {
            plugin: config.plugin.clone(),
            resctrl: config.resctrl.clone(),
            cgroup_root: config.cgroup_root.clone(),
            event_capacity: EVENT_CAPACITY,
        };
        let (tx, rx) = events::channel(host.event_capacity);
        let core =
            ResctrlPlugin::<RealFs, CgroupPidSource>::new(host.plugin, host.resctrl, pids, tx)
                .map_err(|e| Error::Plugin(nri_resctrl_plugin::AdapterError::Core(e)))?;
        let options = AdapterOptions::new(config.nri).with_retry_interval(config.retry_interval);
        Self::start_with(
            options,
            core,
            rx,
            resctrl,
            output,
            recovery,
            SystemClock,
            services,
        )
        .await
    }

    /// Starts around a plugin core and resctrl handle built by the caller (a fake
    /// provider, scripted threads, an injected clock in tests); otherwise as
    /// [`Self::start`]. `events` must be the receiver of the core's event channel.
    #[expect(
        clippy::too_many_arguments,
        reason = "each part is built differently by tests and by `start`"
    )]
    pub async fn start_with<P, S, Q, C>(
        options: AdapterOptions,
        core: ResctrlPlugin<P, S>,
        events: EventReceiver,
        resctrl: Resctrl<Q>,
        output: Output,
        recovery: Recovery,
        clock: C,
        services: Services,
    ) -> Result<Self>
    where
        P: FsProvider + Send + 'static,
        S: PidSource + Send + 'static,
        Q: FsProvider + Send + 'static,
        C: Clock + Send + 'static,
    {
        let plugin = ResctrlNriPlugin::spawn_with_core(options, core)
            .await
            .map_err(Error::Plugin)?;
        let startup = plugin.startup_report();
        tracing::info!(
            mount = ?startup.mount,
            stale_groups_removed = startup.cleanup.map_or(0, |c| c.removed),
            "resctrl is ready; serving the runtime"
        );
        let ticker = Ticker::new(output.config().interval);
        let sampler = Sampler::new(resctrl, &output.config().node);
        let Services {
            metrics,
            uploader,
            listener,
        } = services;
        let mut sampling_loop =
            SamplingLoop::new(sampler, events, output, ticker, clock).with_metrics(metrics.clone());
        if let Some(uploader) = &uploader {
            sampling_loop = sampling_loop.with_file_notify(uploader.wake_handle());
        }
        let (upload_stop, upload_stop_rx) = watch::channel(false);
        let uploader = uploader.map(|uploader| tokio::spawn(uploader.run(upload_stop_rx)));
        let (server_stop, server_stop_rx) = watch::channel(false);
        let listen = listener.as_ref().and_then(|l| l.local_addr().ok());
        let server =
            listener.map(|listener| tokio::spawn(serve(listener, metrics.clone(), server_stop_rx)));
        let status = tokio::spawn(poll_status(plugin.status_handle(), metrics.clone()));
        let (control, inbox) = ControlHandle::new();
        let sampling = std::thread::Builder::new()
            .name("collector-sampling".into())
            .spawn(move || sampling_loop.run(&inbox))
            .map_err(|_| Error::Thread {
                what: "could not be started",
            })?;
        Ok(Collector {
            plugin,
            control,
            sampling,
            recovery,
            tasks: Tasks {
                metrics,
                listen,
                upload_stop,
                uploader,
                server_stop,
                server,
                status,
            },
        })
    }

    /// A handle to rotate the output or stop the collector (e.g. from signal handlers).
    pub fn control(&self) -> ControlHandle {
        self.control.clone()
    }

    /// What the start recovered from a previous run.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The plugin (e.g. for its status).
    pub fn plugin(&self) -> &ResctrlNriPlugin {
        &self.plugin
    }

    /// The figures `/metrics` serves.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.tasks.metrics
    }

    /// Where the HTTP server listens, if it does.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.tasks.listen
    }

    /// Runs until the sampling loop ends ([`ControlHandle::shutdown`], or a write
    /// failure), then stops the plugin. The current file is completed first, so a stop
    /// loses nothing; with an object store one last upload is tried (what it cannot send
    /// stays in the spool for the next start), then the HTTP server stops.
    ///
    /// Fails with the loop's error, or [`Error::Plugin`] if the plugin failed on its way
    /// down.
    pub async fn run(self) -> Result<LoopReport> {
        let Collector {
            plugin,
            control,
            sampling,
            recovery: _,
            tasks,
        } = self;
        let stop = plugin.shutdown_handle();
        let mut plugin_task = tokio::spawn(plugin.wait());
        let mut sampling_task = tokio::task::spawn_blocking(move || sampling.join());
        let (report, plugin_result) = tokio::select! {
            joined = &mut sampling_task => {
                stop.shutdown();
                (joined, plugin_task.await)
            }
            ended = &mut plugin_task => {
                // The plugin gave up (e.g. the NRI runner failed): keep what was sampled.
                control.shutdown();
                (sampling_task.await, ended)
            }
        };
        tasks.stop().await;
        let report = match report {
            Ok(Ok(result)) => result?,
            _ => return Err(Error::Thread { what: "panicked" }),
        };
        match plugin_result {
            Ok(Ok(())) => Ok(report),
            Ok(Err(e)) => Err(Error::Plugin(e)),
            Err(_) => Err(Error::Thread { what: "panicked" }),
        }
    }

    /// [`ControlHandle::shutdown`], then [`Self::run`].
    pub async fn stop(self) -> Result<LoopReport> {
        self.control.shutdown();
        self.run().await
    }
}

impl Tasks {
    /// The uploader's last pass (the loop has completed its last file), then the rest.
    async fn stop(self) {
        let _ = self.upload_stop.send(true);
        if let Some(uploader) = self.uploader {
            let _ = uploader.await;
        }
        self.status.abort();
        let _ = self.server_stop.send(true);
        if let Some(server) = self.server {
            let _ = server.await;
        }
    }
}

/// Copies the plugin's figures into `metrics` until the plugin stops.
async fn poll_status(plugin: nri_resctrl_plugin::StatusHandle, metrics: Arc<Metrics>) {
    loop {
        match plugin.status().await {
            Ok(status) => metrics.set_plugin(PluginFigures {
                synchronizations: status.synchronizations,
                dropped_events: status.dropped_events,
                lost_runtime_events: status.lost_runtime_events,
            }),
            Err(_) => return,
        }
        tokio::time::sleep(STATUS_POLL).await;
    }
}

/// Fails unless resctrl can be used for monitoring (or will be mounted by the plugin).
fn check_resctrl<P: FsProvider>(resctrl: &Resctrl<P>, auto_mount: bool) -> Result<()> {
    let support = resctrl.detect_support().map_err(Error::Resctrl)?;
    if support.can_monitor() || (!support.mounted() && auto_mount) {
        return Ok(());
    }
    Err(Error::ResctrlUnusable {
        root: support.root.clone(),
        problems: support.problems().join("; "),
    })
}

#[cfg(test)]
mod tests;
