//! Events about pods' resctrl groups, and the bounded channel that carries them.
//!
//! # Why a Tokio channel
//!
//! The sender side runs inside the core's synchronous calls and must never wait; the
//! receiver (the collector) may be async or a plain thread. `tokio::sync::mpsc` fits both
//! ends: `try_send` is a non-blocking call usable without a runtime, and the receiver is
//! read with `recv().await` in async code or `blocking_recv()` on a thread. Only Tokio's
//! `sync` feature is needed, which the adapter's Tokio already has.
//!
//! # Loss
//!
//! A full or closed channel drops the event and counts it ([`EventSender::dropped`]).
//! `AddOrUpdate` events carry the pod's whole state, and the core remembers only what it
//! *delivered*: the next call that touches a pod whose update was dropped sends its state
//! again, and [`crate::ResctrlPlugin::retry_all_once`] (which the adapter runs
//! periodically) touches every pod. A dropped `Removed` is kept by the core and sent again
//! by that retry round, unless the pod came back meanwhile. So a consumer that only reads
//! the channel converges on the core's state within one retry round after the channel
//! has room again; [`crate::ResctrlPlugin::pod_statuses`] is the full snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// The state of a pod's resctrl group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResctrlGroupState {
    /// The group exists at this path (e.g. `/sys/fs/resctrl/mon_groups/pod_<uid>`).
    Exists(String),
    /// The group could not be created (or vanished); a retry may create it.
    Failed,
}

/// A pod was added or its group or counts changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodResctrlAddOrUpdate {
    /// The Kubernetes pod uid.
    pub pod_uid: String,
    /// The pod's namespace (`PodSandbox.namespace`; empty if the runtime gave none).
    pub pod_namespace: String,
    /// The pod's name (`PodSandbox.name`; empty if the runtime gave none).
    pub pod_name: String,
    /// Its group.
    pub group_state: ResctrlGroupState,
    /// Its containers that are not stopped (created, running, paused or unknown).
    pub total_containers: usize,
    /// Those of them whose every thread has been placed in the group.
    pub reconciled_containers: usize,
}

/// A pod was removed and its group deleted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodResctrlRemoved {
    /// The Kubernetes pod uid.
    pub pod_uid: String,
}

/// What the core reports to the collector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodResctrlEvent {
    /// A pod's group state or counts changed (the full new state).
    AddOrUpdate(PodResctrlAddOrUpdate),
    /// A pod is gone.
    Removed(PodResctrlRemoved),
}

impl PodResctrlEvent {
    /// The pod the event is about.
    pub fn pod_uid(&self) -> &str {
        match self {
            PodResctrlEvent::AddOrUpdate(u) => &u.pod_uid,
            PodResctrlEvent::Removed(r) => &r.pod_uid,
        }
    }
}

/// The receiving end of the event channel.
pub type EventReceiver = mpsc::Receiver<PodResctrlEvent>;

/// A bounded event channel of `capacity` events (at least 1).
///
/// Size it for the startup burst: [`crate::ResctrlPlugin::synchronize`] sends up to one
/// event per pod in one call.
pub fn channel(capacity: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        EventSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

/// The sending end: never blocks, counts what it could not deliver.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<PodResctrlEvent>,
    dropped: Arc<AtomicU64>,
}

impl EventSender {
    /// Sends `event` if there is room; otherwise drops it, counts it and returns false.
    pub fn try_emit(&self, event: PodResctrlEvent) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(e) => {
                let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let reason = match &e {
                    mpsc::error::TrySendError::Full(_) => "channel full",
                    mpsc::error::TrySendError::Closed(_) => "receiver gone",
                };
                let event = e.into_inner();
                tracing::warn!(
                    pod_uid = event.pod_uid(),
                    reason,
                    dropped_total = total,
                    "dropped a pod resctrl event"
                );
                false
            }
        }
    }

    /// Events dropped so far (channel full or receiver gone), by this sender and its
    /// clones.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(uid: &str) -> PodResctrlEvent {
        PodResctrlEvent::Removed(PodResctrlRemoved {
            pod_uid: uid.into(),
        })
    }

    #[test]
    fn full_channel_drops_and_counts_without_blocking() {
        let (tx, mut rx) = channel(1);
        assert!(tx.try_emit(removed("a")));
        assert!(!tx.try_emit(removed("b")), "no room");
        assert_eq!(tx.dropped(), 1);
        assert_eq!(rx.try_recv().ok(), Some(removed("a")));
        assert!(tx.try_emit(removed("c")), "room again");
        assert_eq!(rx.try_recv().ok(), Some(removed("c")));
    }

    #[test]
    fn closed_channel_counts_drops_across_clones() {
        let (tx, rx) = channel(4);
        let clone = tx.clone();
        drop(rx);
        assert!(!tx.try_emit(removed("a")));
        assert!(!clone.try_emit(removed("b")));
        assert_eq!(tx.dropped(), 2);
        assert_eq!(clone.dropped(), 2);
    }

    #[test]
    fn zero_capacity_is_raised_to_one() {
        let (tx, _rx) = channel(0);
        assert!(tx.try_emit(removed("a")));
        assert!(!tx.try_emit(removed("b")));
    }
}
