//! The worker thread: the only owner of the core. It prepares resctrl (`start`), then
//! handles queued runtime events in order, and runs the periodic retry between them.
//!
//! One thread, not a task: every core call does blocking file-system work (resctrl and
//! cgroup files), and owning the core from one thread keeps the runtime's order of events
//! without a lock.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use resctrl::FsProvider;
use tokio::sync::oneshot;

use super::queue::{Command, Signals, WorkerStatus};
use crate::error::PluginError;
use crate::pid_source::PidSource;
use crate::plugin::ResctrlPlugin;
use crate::summary::StartupReport;

/// Where the worker reports the outcome of [`ResctrlPlugin::start`].
pub(crate) type Started = oneshot::Receiver<Result<StartupReport, PluginError>>;

/// Starts the worker thread. It first runs [`ResctrlPlugin::start`] and sends the outcome
/// on the returned channel; after a failure it ends at once.
pub(crate) fn spawn<P, S>(
    core: ResctrlPlugin<P, S>,
    commands: Receiver<Command>,
    signals: Arc<Signals>,
    retry_interval: Duration,
) -> io::Result<(JoinHandle<()>, Started)>
where
    P: FsProvider + Send + 'static,
    S: PidSource + Send + 'static,
{
    let (started_tx, started_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("resctrl-worker".into())
        .spawn(move || {
            let _alarm = PanicAlarm(signals.clone());
            let mut worker = Worker {
                core,
                signals,
                retry_interval,
                synchronizations: 0,
            };
            let started = worker.core.start();
            let ok = started.is_ok();
            // The spawner may have given up waiting; then there is nobody to serve.
            if started_tx.send(started).is_err() || !ok {
                return;
            }
            worker.run(&commands);
        })?;
    Ok((thread, started_rx))
}

/// Tells the supervisor at once when the worker thread dies of a panic, rather than at
/// the next runtime event that finds the queue closed.
struct PanicAlarm(Arc<Signals>);

impl Drop for PanicAlarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("the resctrl worker panicked; the plugin stops");
            self.0.worker_gone.notify_one();
        }
    }
}

struct Worker<P: FsProvider, S: PidSource> {
    core: ResctrlPlugin<P, S>,
    signals: Arc<Signals>,
    retry_interval: Duration,
    /// `Synchronize` messages handled: one per connection that got configured.
    synchronizations: u64,
}

impl<P: FsProvider, S: PidSource> Worker<P, S> {
    /// Handles commands until [`Command::Stop`] or until every sender is gone, with a
    /// retry round whenever `retry_interval` has passed since the last one (also while
    /// events keep coming).
    fn run(&mut self, commands: &Receiver<Command>) {
        let mut next_retry = Instant::now() + self.retry_interval;
        loop {
            let wait = next_retry.saturating_duration_since(Instant::now());
            let received = if self.signals.resync_pending() {
                // Events were lost: drain what is queued, then ask for the runtime's
                // state (see `Signals`).
                match commands.try_recv() {
                    Ok(command) => Ok(command),
                    Err(TryRecvError::Empty) => {
                        self.signals.request_resync();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                }
            } else {
                commands.recv_timeout(wait)
            };
            match received {
                Ok(Command::Stop) => break,
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_retry {
                self.retry();
                next_retry = Instant::now() + self.retry_interval;
            }
        }
        tracing::debug!("resctrl worker stopped");
    }

    /// One command. Core errors are logged here and go no further: the runtime's
    /// operation must never fail over monitoring, and the core has already recorded the
    /// outcome in its state and events.
    fn handle(&mut self, command: Command) {
        let name = command.name();
        let result = match command {
            Command::Synchronize { pods, containers } => {
                self.core.synchronize(&pods, &containers);
                self.synchronizations += 1;
                Ok(())
            }
            Command::RunPodSandbox(pod) => self.core.run_pod_sandbox(&pod),
            Command::RemovePodSandbox(pod) => self.core.remove_pod_sandbox(&pod).map(drop),
            Command::CreateContainer(pod, container) => {
                self.core.create_container(&pod, &container)
            }
            Command::StartContainer(pod, container) => self.core.start_container(&pod, &container),
            Command::StopContainer(pod, container) => self.core.stop_container(&pod, &container),
            Command::RemoveContainer(container) => {
                self.core.remove_container(&container.id);
                Ok(())
            }
            Command::Retry => {
                self.retry();
                Ok(())
            }
            Command::Status(reply) => {
                // The asker may have gone; nothing to do then.
                let _ = reply.send(WorkerStatus {
                    pods: self.core.pod_statuses(),
                    dropped_events: self.core.dropped_events(),
                    synchronizations: self.synchronizations,
                });
                Ok(())
            }
            // Handled by the loop.
            Command::Stop => Ok(()),
        };
        if let Err(e) = result {
            log_error(name, &e);
        }
    }

    /// The periodic round: first re-check reconciled containers for processes that
    /// joined them from outside, then retry what is pending (groups that could not be
    /// created, containers not placed yet, groups that could not be deleted).
    fn retry(&mut self) {
        self.core.recheck_reconciled_containers();
        self.core.retry_all_once();
    }
}

/// Logs a core error once: the core itself already warns about the resctrl and cgroup
/// failures it meets, so only the errors it leaves to the caller are logged loudly.
fn log_error(event: &str, e: &PluginError) {
    let error = e.display_chain();
    match e {
        PluginError::InvalidInput { .. } => {
            tracing::warn!(event, %error, "ignored an unusable runtime message")
        }
        PluginError::PodNotSeen { .. } => {
            tracing::info!(event, %error, "container kept until its pod is seen")
        }
        _ => tracing::debug!(event, %error, "resctrl work left for a retry"),
    }
}
