//! [`Collector`]: the agent as deployed: the resctrl NRI plugin in-process, and the
//! sampling loop on a thread of its own writing to the output directory.

use std::path::PathBuf;
use std::time::Duration;

use nri_resctrl_plugin::{
    AdapterOptions, CgroupPidSource, EventReceiver, HostConfig, PidSource, PluginConfig,
    ResctrlNriPlugin, ResctrlPlugin, events,
};
use resctrl::{FsProvider, RealFs, Resctrl};

use crate::agent::{ControlHandle, LoopReport, SamplingLoop};
use crate::error::{Error, Result};
use crate::output::{Output, OutputConfig, Recovery};
use crate::sampler::Sampler;
use crate::tick::{Clock, SystemClock, Ticker};

/// Pod events that may wait between two rounds. The loop drains them every tick, but a
/// runtime's `Synchronize` sends one per pod at once, and a dropped `Removed` is not sent
/// again (see `nri_resctrl_plugin::events`): room for several thousand pods' burst, at
/// about a hundred bytes each.
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
}

impl Collector {
    /// Starts the collector on this host: opens (and recovers) the output directory,
    /// checks resctrl, starts the plugin (its startup cleanup, then the NRI connection,
    /// which retries until the runtime listens) and the sampling loop.
    ///
    /// Must be called within a Tokio runtime. Fails with [`Error::OutputDir`],
    /// [`Error::ResctrlUnusable`], [`Error::Resctrl`], [`Error::Cgroups`], [`Error::Plugin`] or
    /// [`Error::Thread`]; nothing is sampled then, and recovered files stay.
    pub async fn start(config: NodeConfig) -> Result<Self> {
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
        Self::start_with(options, core, rx, resctrl, output, recovery, SystemClock).await
    }

    /// Starts around a plugin core and resctrl handle built by the caller (a fake
    /// provider, scripted threads, an injected clock in tests); otherwise as
    /// [`Self::start`]. `events` must be the receiver of the core's event channel.
    pub async fn start_with<P, S, Q, C>(
        options: AdapterOptions,
        core: ResctrlPlugin<P, S>,
        events: EventReceiver,
        resctrl: Resctrl<Q>,
        output: Output,
        recovery: Recovery,
        clock: C,
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
        let sampling_loop = SamplingLoop::new(sampler, events, output, ticker, clock);
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

    /// Runs until the sampling loop ends ([`ControlHandle::shutdown`], or a write
    /// failure), then stops the plugin. The current file is completed first, so a stop
    /// loses nothing.
    ///
    /// Fails with the loop's error, or [`Error::Plugin`] if the plugin failed on its way
    /// down.
    pub async fn run(self) -> Result<LoopReport> {
        let Collector {
            plugin,
            control,
            sampling,
            recovery: _,
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
