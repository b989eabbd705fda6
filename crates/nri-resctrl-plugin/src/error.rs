//! Errors of the plugin core.
//!
//! Entry points record what happened (pod and container state, events) *before* they
//! return an error, so an error is for logging and for the caller's retry policy. An NRI
//! adapter must not turn them into a failed runtime call: for `RunPodSandbox`,
//! `CreateContainer` and `StartContainer` that would fail the user's pod over a
//! monitoring problem.

use std::io;

/// Errors of the plugin core.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The configuration or an input message is unusable.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },

    /// A retry named a pod the core does not track.
    #[error("unknown pod {pod_uid}")]
    UnknownPod {
        /// The pod uid given.
        pod_uid: String,
    },

    /// A retry named a container the core does not track.
    #[error("unknown container {container_id}")]
    UnknownContainer {
        /// The container id given.
        container_id: String,
    },

    /// The container's pod sandbox has not been seen yet; the container is kept and placed
    /// once its pod arrives.
    #[error("container {container_id} belongs to pod sandbox {sandbox_id}, which is not known yet")]
    PodNotSeen {
        /// The container.
        container_id: String,
        /// Its `pod_sandbox_id`.
        sandbox_id: String,
    },

    /// The pod has no resctrl group (its creation failed); retry the group first.
    #[error("pod {pod_uid} has no resctrl group yet (creation failed); retry the group creation")]
    NoGroup {
        /// The pod.
        pod_uid: String,
    },

    /// The pod's group disappeared (removed by someone else); it is marked as failed so a
    /// retry recreates it.
    #[error("the resctrl group of pod {pod_uid} disappeared; it will be recreated on retry")]
    GroupVanished {
        /// The pod.
        pod_uid: String,
        /// The error that showed it.
        #[source]
        source: resctrl::Error,
    },

    /// The container has not been started, so it has no threads to place yet.
    #[error("container {container_id} has not been started; it has no threads yet")]
    NotStarted {
        /// The container.
        container_id: String,
    },

    /// The container's cgroup lists no thread at all (it may have just exited).
    #[error("container {container_id} has no threads in its cgroup")]
    NoThreads {
        /// The container.
        container_id: String,
    },

    /// The container's thread ids could not be read (e.g. its cgroup vanished).
    #[error("cannot list the threads of container {container_id}")]
    PidSource {
        /// The container.
        container_id: String,
        /// The pid source's error.
        #[source]
        source: io::Error,
    },

    /// [`crate::ResctrlPlugin::start`] was called while pods are tracked: its cleanup
    /// would remove their groups.
    #[error(
        "start() must run before any pod is tracked: cleanup_on_start would remove live groups"
    )]
    StartAfterPods,

    /// A resctrl operation failed.
    #[error(transparent)]
    Resctrl(#[from] resctrl::Error),
}

impl PluginError {
    /// The message followed by those of its sources, `: `-separated, for logs (each
    /// message leaves its cause to the source, so `Display` alone omits it).
    pub fn display_chain(&self) -> String {
        display_chain(self)
    }

    /// True when resctrl ran out of monitoring IDs: retrying after groups are removed may
    /// succeed.
    pub fn is_capacity(&self) -> bool {
        matches!(self, PluginError::Resctrl(e) if e.is_capacity())
    }
}

/// An error's message followed by those of its sources, `: `-separated: this crate's
/// errors (and the resctrl crate's) leave their cause to `source`, so `Display` alone
/// omits it. The one renderer for embedders too (the collector logs with it).
pub fn display_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_chain_includes_the_sources() {
        let err = PluginError::PidSource {
            container_id: "c1".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "cgroup vanished"),
        };
        assert_eq!(
            err.display_chain(),
            "cannot list the threads of container c1: cgroup vanished"
        );
    }

    #[test]
    fn capacity_is_recognised_through_the_wrapper() {
        let capacity = resctrl::Error::classify(
            resctrl::Op::CreateDir,
            "/sys/fs/resctrl/mon_groups/pod_a",
            io::Error::from_raw_os_error(28), // ENOSPC
        );
        assert!(PluginError::from(capacity).is_capacity());
        assert!(
            !PluginError::UnknownPod {
                pod_uid: "a".into()
            }
            .is_capacity()
        );
    }
}
