//! The NRI events the plugin subscribes to, and why each one.

use nri::{Event, EventMask};

/// The plugin's subscription. Every bit is within what containerd 2.0/2.1 (nri v0.8)
/// accepts, so the same mask works with every runtime generation.
///
/// | event | subscribed | why |
/// |---|---|---|
/// | `RunPodSandbox` | yes | creates the pod's group before its first container, so a slow mkdir never delays a container's placement |
/// | `StopPodSandbox` | no | a stopped sandbox's containers are stopped too (each has its `StopContainer`); the group stays until removal, as the core documents |
/// | `RemovePodSandbox` | yes | deletes the group (frees its monitoring ID) and reports `Removed` |
/// | `CreateContainer` | no | may still fail after plugins ran; `PostCreateContainer` says the same once the container exists, and answering it can never fail a creation |
/// | `PostCreateContainer` | yes | the container counts towards its pod's total from here on |
/// | `StartContainer` | yes | the runtime's init process already waits in the container's cgroup: placing it now puts the workload in the group from its first instruction (a new process inherits its creator's group) |
/// | `PostStartContainer` | yes | re-checks once the workload runs (its `pid` is known), catching threads started between the two |
/// | `UpdateContainer`, `PostUpdateContainer` | no | resource updates change neither the cgroup nor the threads |
/// | `StopContainer` | yes | a stopped container no longer counts (it has no threads to monitor) |
/// | `RemoveContainer` | yes | forgets the container |
/// | `UpdatePodSandbox`, `PostUpdatePodSandbox` (nri ≥ v0.10) | no | resource updates only; also unknown to containerd 2.1, which would drop a plugin asking for them |
/// | `ValidateContainerAdjustment` (nri ≥ v0.10) | no | the plugin adjusts nothing |
///
/// Whatever is missed (events while disconnected, or lost to a full work queue) is
/// restored by the runtime's `Synchronize` on the next connection, which is
/// authoritative.
pub const SUBSCRIBED_EVENTS: EventMask = EventMask::EMPTY
    .with(Event::RunPodSandbox)
    .with(Event::RemovePodSandbox)
    .with(Event::PostCreateContainer)
    .with(Event::StartContainer)
    .with(Event::PostStartContainer)
    .with(Event::StopContainer)
    .with(Event::RemoveContainer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_2_1_accepts_the_mask() {
        assert_eq!(
            SUBSCRIBED_EVENTS - EventMask::accepted_by_runtime(""),
            EventMask::EMPTY
        );
        // 1 | 4 | 16 | 32 | 64 | 512 | 1024
        assert_eq!(SUBSCRIBED_EVENTS.bits(), 0x675);
        assert!(!SUBSCRIBED_EVENTS.contains(Event::CreateContainer));
        assert!(!SUBSCRIBED_EVENTS.contains(Event::StopPodSandbox));
        assert!(!SUBSCRIBED_EVENTS.contains(Event::UpdateContainer));
    }
}
