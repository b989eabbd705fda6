//! [`ResctrlNriPlugin`]: the public handle that runs the plugin against a runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nri::stub::{PluginConfig as NriConfig, ShutdownHandle};
use resctrl::FsProvider;
use tokio::sync::oneshot;

use super::error::AdapterError;
use super::handlers::NriHandlers;
use super::queue::{Command, Queue, Signals, queue};
use super::supervisor::supervise;
use super::worker;
use crate::config::PluginConfig;
use crate::events::{self, EventReceiver, PodResctrlAddOrUpdate};
use crate::pid_source::{CgroupPidSource, DEFAULT_CGROUP_ROOT, PidSource};
use crate::plugin::ResctrlPlugin;
use crate::summary::StartupReport;

/// Default [`AdapterOptions::retry_interval`].
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Default [`AdapterOptions::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Default [`HostConfig::event_capacity`].
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// How the adapter talks to the runtime and paces its work.
#[derive(Debug, Clone)]
pub struct AdapterOptions {
    /// Plugin name and index, how to reach the runtime, and the reconnect backoff.
    pub nri: NriConfig,
    /// How often the worker re-checks reconciled containers (processes started into them
    /// later, e.g. by `kubectl exec`) and retries what is pending (groups that could not
    /// be created, containers not placed yet). Default [`DEFAULT_RETRY_INTERVAL`].
    pub retry_interval: Duration,
    /// Runtime events that may wait for the worker (at least 1). When it is full an event
    /// is lost, and the adapter reconnects so the runtime sends its whole state again.
    /// Default [`DEFAULT_QUEUE_CAPACITY`].
    pub queue_capacity: usize,
}

impl AdapterOptions {
    /// The defaults, with `nri` for the runtime connection.
    pub fn new(nri: NriConfig) -> Self {
        AdapterOptions {
            nri,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// Sets the retry interval.
    #[must_use]
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Sets the queue capacity.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }
}

/// The core on this host, for [`ResctrlNriPlugin::spawn`]: the real resctrl file system
/// and container threads from the cgroup file system.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The core's behaviour (group prefix, startup cleanup, auto-mount, passes).
    pub plugin: PluginConfig,
    /// Where resctrl is (root, mount table, CPU description); its group prefix is
    /// replaced by `plugin.group_prefix`.
    pub resctrl: resctrl::Config,
    /// Where the cgroup file systems are mounted (see [`CgroupPidSource::detect`]).
    pub cgroup_root: PathBuf,
    /// Pod events that may wait for the consumer; see [`events::channel`]. Default
    /// [`DEFAULT_EVENT_CAPACITY`].
    pub event_capacity: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            plugin: PluginConfig::default(),
            resctrl: resctrl::Config::default(),
            cgroup_root: PathBuf::from(DEFAULT_CGROUP_ROOT),
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }
}

/// A snapshot of the plugin, from [`ResctrlNriPlugin::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// Every tracked pod's state, ordered by uid.
    pub pods: Vec<PodResctrlAddOrUpdate>,
    /// Pod events dropped because the event channel was full or closed.
    pub dropped_events: u64,
    /// Runtime events lost because the work queue was full (the adapter then reconnects
    /// for a fresh `Synchronize`).
    pub lost_runtime_events: u64,
    /// The runtime's `Synchronize` messages handled, one per connection: 0 until the
    /// plugin has registered and received the runtime's state (a readiness signal).
    pub synchronizations: u64,
}

/// Asks a running [`ResctrlNriPlugin`] for its status; cheap to clone.
#[derive(Debug, Clone)]
pub struct StatusHandle {
    queue: Queue,
}

impl StatusHandle {
    /// See [`ResctrlNriPlugin::status`]; fails with [`AdapterError::WorkerStopped`] once
    /// the plugin has stopped.
    pub async fn status(&self) -> Result<PluginStatus, AdapterError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let queue = self.queue.clone();
        // Waits for room rather than being lost like a runtime event would be.
        let queued =
            tokio::task::spawn_blocking(move || queue.send_blocking(Command::Status(reply_tx)))
                .await
                .unwrap_or(false);
        if !queued {
            return Err(AdapterError::WorkerStopped);
        }
        let status = reply_rx.await.map_err(|_| AdapterError::WorkerStopped)?;
        Ok(PluginStatus {
            pods: status.pods,
            dropped_events: status.dropped_events,
            lost_runtime_events: self.queue.signals().lost(),
            synchronizations: status.synchronizations,
        })
    }
}

/// The resctrl plugin serving a runtime over NRI: a worker thread that owns the core,
/// and a task that keeps the NRI connection (reconnecting when the runtime restarts).
///
/// Dropping it asks the plugin to stop without waiting; [`Self::stop`] also waits.
#[derive(Debug)]
pub struct ResctrlNriPlugin {
    stop: ShutdownHandle,
    queue: Queue,
    startup: StartupReport,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    supervisor: tokio::task::JoinHandle<Result<(), AdapterError>>,
    worker: JoinHandle<()>,
}

impl ResctrlNriPlugin {
    /// Starts the plugin on this host's resctrl and cgroups; returns it and the receiving
    /// end of its pod events.
    ///
    /// Runs [`ResctrlPlugin::start`] (mount check or auto-mount, then the startup cleanup)
    /// before connecting, so the runtime's first `Synchronize` finds resctrl ready; a
    /// failure there is returned and nothing connects. Must be called within a Tokio
    /// runtime (the connection runs as a task on it).
    pub async fn spawn(
        options: AdapterOptions,
        host: HostConfig,
    ) -> Result<(Self, EventReceiver), AdapterError> {
        let pids = CgroupPidSource::detect(&host.cgroup_root).map_err(AdapterError::Cgroups)?;
        let (tx, rx) = events::channel(host.event_capacity);
        let core =
            ResctrlPlugin::new(host.plugin, host.resctrl, pids, tx).map_err(AdapterError::Core)?;
        let plugin = Self::spawn_with_core(options, core).await?;
        Ok((plugin, rx))
    }

    /// Starts the plugin around a core built by the caller (another file-system provider
    /// or pid source, e.g. in tests); its events go to the channel the core was built
    /// with. Otherwise as [`Self::spawn`].
    pub async fn spawn_with_core<P, S>(
        options: AdapterOptions,
        core: ResctrlPlugin<P, S>,
    ) -> Result<Self, AdapterError>
    where
        P: FsProvider + Send + 'static,
        S: PidSource + Send + 'static,
    {
        let signals = Arc::new(Signals::default());
        let (queue, commands) = queue(options.queue_capacity, signals.clone());
        let (worker, started) =
            worker::spawn(core, commands, signals.clone(), options.retry_interval)
                .map_err(AdapterError::Spawn)?;
        let startup = match started.await {
            Ok(Ok(report)) => report,
            // The thread ends right after reporting; nothing to join.
            Ok(Err(e)) => return Err(AdapterError::Core(e)),
            Err(_) => return Err(AdapterError::WorkerStopped),
        };
        let stop = ShutdownHandle::new();
        let handlers = Arc::new(NriHandlers::new(queue.clone()));
        let supervisor = tokio::spawn(supervise(handlers, options.nri, signals, stop.clone()));
        Ok(ResctrlNriPlugin {
            stop,
            queue,
            startup,
            running: Some(Running { supervisor, worker }),
        })
    }

    /// What the startup did (mount, stale groups removed).
    pub fn startup_report(&self) -> &StartupReport {
        &self.startup
    }

    /// A handle that stops the plugin (e.g. from a signal handler); see [`Self::stop`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// Asks the plugin to stop, without waiting.
    pub fn shutdown(&self) {
        self.stop.shutdown();
    }

    /// Runtime events lost because the work queue was full.
    pub fn lost_runtime_events(&self) -> u64 {
        self.queue.signals().lost()
    }

    /// Runs the periodic re-check and retry now, after the events queued so far; false if
    /// the queue is full (the next periodic round comes anyway) or the worker is gone.
    pub fn retry_now(&self) -> bool {
        self.queue.offer(Command::Retry)
    }

    /// The plugin's state once every runtime event received so far has been handled.
    pub async fn status(&self) -> Result<PluginStatus, AdapterError> {
        self.status_handle().status().await
    }

    /// A handle that asks for [`Self::status`] from elsewhere (e.g. a metrics poller),
    /// also while [`Self::wait`] owns the plugin.
    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle {
            queue: self.queue.clone(),
        }
    }

    /// Waits until the plugin stops (after [`Self::shutdown`], or on its own after a
    /// failure), then lets the worker finish the events it has and ends it. The core's
    /// event channel closes then.
    ///
    /// Groups are left in place: the next start's cleanup removes them, and a collector
    /// restarting quickly keeps its pods' monitoring meanwhile.
    pub async fn wait(mut self) -> Result<(), AdapterError> {
        let Some(Running { supervisor, worker }) = self.running.take() else {
            return Ok(());
        };
        let result = match supervisor.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the Tokio runtime is shutting down, which stops the plugin too.
            Err(_) => Ok(()),
        };
        let queue = self.queue.clone();
        let worker_ended = tokio::task::spawn_blocking(move || {
            queue.send_blocking(Command::Stop);
            worker.join().is_ok()
        })
        .await
        .unwrap_or(false);
        match result {
            Ok(()) if !worker_ended => Err(AdapterError::WorkerStopped),
            other => other,
        }
    }

    /// [`Self::shutdown`], then [`Self::wait`].
    pub async fn stop(self) -> Result<(), AdapterError> {
        self.shutdown();
        self.wait().await
    }
}

impl Drop for ResctrlNriPlugin {
    fn drop(&mut self) {
        // Without a waiter the supervisor still closes the connection, and the worker
        // ends once the last queue handle is gone.
        self.stop.shutdown();
    }
}
