//! The bounded queue from the NRI handlers to the worker thread that owns the core.
//!
//! Handlers must answer the runtime within its request timeout, under a lock that stalls
//! every pod and container operation of the runtime meanwhile, so they only convert the
//! message and queue it: [`Queue::submit`] never waits. A full queue loses the event;
//! once the worker has caught up, the adapter reconnects, and the runtime's
//! `Synchronize` on the new connection restores the full state (see [`Signals`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use tokio::sync::{Notify, oneshot};

use crate::events::PodResctrlAddOrUpdate;
use crate::info::{ContainerInfo, PodInfo};

/// Work for the thread that owns the core, in the order the runtime sent it.
#[derive(Debug)]
pub(crate) enum Command {
    /// The runtime's complete state (all `Synchronize` chunks joined).
    Synchronize {
        pods: Vec<PodInfo>,
        containers: Vec<ContainerInfo>,
    },
    RunPodSandbox(PodInfo),
    RemovePodSandbox(PodInfo),
    CreateContainer(PodInfo, ContainerInfo),
    StartContainer(PodInfo, ContainerInfo),
    StopContainer(PodInfo, ContainerInfo),
    RemoveContainer(ContainerInfo),
    /// Run the periodic retry and re-check now.
    Retry,
    /// Report the state once everything queued before has been handled.
    Status(oneshot::Sender<WorkerStatus>),
    /// Finish what is queued before this, then end the worker.
    Stop,
}

impl Command {
    /// A short name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Synchronize { .. } => "Synchronize",
            Command::RunPodSandbox(_) => "RunPodSandbox",
            Command::RemovePodSandbox(_) => "RemovePodSandbox",
            Command::CreateContainer(..) => "PostCreateContainer",
            Command::StartContainer(..) => "StartContainer",
            Command::StopContainer(..) => "StopContainer",
            Command::RemoveContainer(_) => "RemoveContainer",
            Command::Retry => "Retry",
            Command::Status(_) => "Status",
            Command::Stop => "Stop",
        }
    }
}

/// What [`Command::Status`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerStatus {
    pub(crate) pods: Vec<PodResctrlAddOrUpdate>,
    pub(crate) dropped_events: u64,
    pub(crate) synchronizations: u64,
}

/// How the handlers, the worker and the supervisor tell each other that something needs
/// doing.
///
/// A lost event is repaired by reconnecting (the runtime sends its whole state on every
/// connection). Reconnecting at once would hand the new `Synchronize` to a queue that is
/// still full, so the worker asks for it only once it has caught up: the lost event's
/// answer is long sent by then, and the new state is not lost again.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// Events were lost and no reconnect has been asked for since.
    resync_pending: AtomicBool,
    /// Set by the worker, once caught up, for the supervisor: reconnect. (A `Notify`
    /// keeps one permit, so a request made while the supervisor is busy is not missed.)
    pub(crate) resync: Notify,
    /// The worker thread is gone (it panicked): nothing can be placed any more.
    pub(crate) worker_gone: Notify,
    lost: AtomicU64,
}

impl Signals {
    /// Runtime events lost to a full queue so far.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Whether events were lost since the last reconnect request.
    pub(crate) fn resync_pending(&self) -> bool {
        self.resync_pending.load(Ordering::Acquire)
    }

    /// The worker has caught up: asks the supervisor to reconnect (once per loss).
    pub(crate) fn request_resync(&self) {
        if self.resync_pending.swap(false, Ordering::AcqRel) {
            self.resync.notify_one();
        }
    }
}

/// The submitting side; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    tx: SyncSender<Command>,
    signals: Arc<Signals>,
}

/// A queue of `capacity` commands (at least 1) and its receiving end.
pub(crate) fn queue(capacity: usize, signals: Arc<Signals>) -> (Queue, Receiver<Command>) {
    let (tx, rx) = sync_channel(capacity.max(1));
    (Queue { tx, signals }, rx)
}

impl Queue {
    /// Queues `command` without waiting; returns whether it was queued. A full queue
    /// loses it and marks a resynchronization as due; a gone worker is reported to the
    /// supervisor.
    pub(crate) fn submit(&self, command: Command) -> bool {
        match self.tx.try_send(command) {
            Ok(()) => true,
            Err(TrySendError::Full(command)) => {
                let lost = self.signals.lost.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    event = command.name(),
                    lost_total = lost,
                    "the resctrl worker is behind and its queue is full: event lost; \
                     once it catches up the plugin reconnects, and the runtime's \
                     Synchronize restores the state"
                );
                self.signals.resync_pending.store(true, Ordering::Release);
                false
            }
            Err(TrySendError::Disconnected(command)) => {
                tracing::error!(
                    event = command.name(),
                    "the resctrl worker has stopped; the event cannot be handled"
                );
                self.signals.worker_gone.notify_one();
                false
            }
        }
    }

    /// Queues `command` if there is room, without the loss handling of
    /// [`Self::submit`]: for the adapter's own requests, which are not runtime events.
    pub(crate) fn offer(&self, command: Command) -> bool {
        self.tx.try_send(command).is_ok()
    }

    /// Queues `command`, waiting for room; false if the worker is gone. Blocks: only for
    /// a thread that may (e.g. from `spawn_blocking`), never for an NRI handler.
    pub(crate) fn send_blocking(&self, command: Command) -> bool {
        self.tx.send(command).is_ok()
    }

    /// The shared signals.
    pub(crate) fn signals(&self) -> &Arc<Signals> {
        &self.signals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_loses_the_command_counts_it_and_asks_for_a_resync() {
        let signals = Arc::new(Signals::default());
        let (q, rx) = queue(1, signals.clone());
        assert!(q.submit(Command::Retry));
        assert!(!q.submit(Command::Retry), "no room");
        assert_eq!(signals.lost(), 1);
        assert!(signals.resync_pending());
        assert!(matches!(rx.recv(), Ok(Command::Retry)));
        // The worker caught up: one request, stored as a permit until the supervisor
        // looks; asking again before the next loss does nothing.
        signals.request_resync();
        assert!(!signals.resync_pending());
        assert_notified(signals.resync.notified());
        signals.request_resync();
        assert_not_notified(signals.resync.notified());
        drop(rx);
        assert!(!q.submit(Command::Retry), "worker gone");
        assert!(!q.send_blocking(Command::Stop));
        assert_notified(signals.worker_gone.notified());
    }

    /// Asserts that a `Notify` wait completes on its first poll (a permit was stored).
    fn assert_notified(fut: tokio::sync::futures::Notified<'_>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // A zero timeout still polls the future once before it expires.
            tokio::time::timeout(std::time::Duration::ZERO, fut)
                .await
                .expect("a stored permit completes the wait at once");
        });
    }

    /// Asserts that a `Notify` wait does not complete on its first poll (no permit).
    fn assert_not_notified(fut: tokio::sync::futures::Notified<'_>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            assert!(
                tokio::time::timeout(std::time::Duration::ZERO, fut)
                    .await
                    .is_err(),
                "no permit was stored"
            );
        });
    }
}
