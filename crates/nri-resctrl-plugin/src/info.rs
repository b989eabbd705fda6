//! What the adapter tells the core about pods and containers.
//!
//! These are small owned copies of the NRI `PodSandbox` and `Container` fields the core
//! uses, so the core does not depend on the protocol crate and tests can build them by
//! hand. The adapter fills them from the messages field by field (see each field).

use crate::error::PluginError;

/// A pod sandbox, from NRI's `PodSandbox` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// The sandbox id (`PodSandbox.id`). Containers name their pod by this id
    /// (`Container.pod_sandbox_id`), not by the uid. Must not be empty.
    pub id: String,
    /// The Kubernetes pod UID (`PodSandbox.uid`); it names the pod's resctrl group. Must
    /// not be empty.
    pub uid: String,
    /// `PodSandbox.namespace`, for logs and the pod's events.
    pub namespace: String,
    /// `PodSandbox.name`, for logs and the pod's events.
    pub name: String,
    /// `PodSandbox.linux.cgroup_parent`. Used to find the cgroup of a container whose own
    /// `cgroups_path` is empty.
    pub cgroup_parent: String,
}

impl PodInfo {
    /// A pod with sandbox id `id` and Kubernetes uid `uid`; other fields empty.
    pub fn new(id: impl Into<String>, uid: impl Into<String>) -> Self {
        PodInfo {
            id: id.into(),
            uid: uid.into(),
            ..PodInfo::default()
        }
    }

    /// Sets the namespace and name.
    pub fn with_name(mut self, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self.name = name.into();
        self
    }

    /// Sets `linux.cgroup_parent`.
    pub fn with_cgroup_parent(mut self, parent: impl Into<String>) -> Self {
        self.cgroup_parent = parent.into();
        self
    }

    /// Checks the fields the core relies on.
    pub(crate) fn validate(&self) -> Result<(), PluginError> {
        if self.uid.is_empty() {
            return Err(PluginError::InvalidInput {
                reason: format!("pod sandbox {:?} has an empty uid", self.id),
            });
        }
        if self.id.is_empty() {
            return Err(PluginError::InvalidInput {
                reason: format!("pod {:?} has an empty sandbox id", self.uid),
            });
        }
        Ok(())
    }
}

/// A container's lifecycle state, from NRI's `Container.state`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// `CONTAINER_UNKNOWN` (0), or any value this crate does not know.
    #[default]
    Unknown,
    /// `CONTAINER_CREATED` (1): its cgroup may exist, its process has not run yet.
    Created,
    /// `CONTAINER_PAUSED` (2): frozen, but its threads exist and can be moved.
    Paused,
    /// `CONTAINER_RUNNING` (3).
    Running,
    /// `CONTAINER_STOPPED` (4): no threads left.
    Stopped,
}

impl ContainerState {
    /// Position in the life of a container; running and paused alternate.
    fn lifecycle_rank(self) -> u8 {
        match self {
            ContainerState::Unknown => 0,
            ContainerState::Created => 1,
            ContainerState::Running | ContainerState::Paused => 2,
            ContainerState::Stopped => 3,
        }
    }

    /// The state for NRI's wire value (`ContainerState` enum number).
    pub fn from_nri(value: i32) -> Self {
        match value {
            1 => ContainerState::Created,
            2 => ContainerState::Paused,
            3 => ContainerState::Running,
            4 => ContainerState::Stopped,
            _ => ContainerState::Unknown,
        }
    }
}

/// A container, from NRI's `Container` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// `Container.id`. Must not be empty.
    pub id: String,
    /// `Container.pod_sandbox_id`: the sandbox id of its pod ([`PodInfo::id`]). When empty,
    /// entry points that also get the pod fill it from there.
    pub pod_sandbox_id: String,
    /// `Container.state`.
    pub state: ContainerState,
    /// `Container.linux.cgroups_path`: a cgroupfs path (`/kubepods/.../<id>`) or a systemd
    /// triple (`parent.slice:prefix:id`). May be empty; then the pod's cgroup parent is
    /// used (see [`crate::pid_source::container_cgroup_path`]).
    pub cgroups_path: String,
    /// `Container.pid`: its first process (0 before it is started). Informational: thread
    /// ids come from the container's cgroup, which also holds its other processes.
    pub pid: u32,
}

impl ContainerInfo {
    /// A container `id` of sandbox `pod_sandbox_id`, in state `state`; other fields empty.
    pub fn new(
        id: impl Into<String>,
        pod_sandbox_id: impl Into<String>,
        state: ContainerState,
    ) -> Self {
        ContainerInfo {
            id: id.into(),
            pod_sandbox_id: pod_sandbox_id.into(),
            state,
            ..ContainerInfo::default()
        }
    }

    /// Sets `linux.cgroups_path`.
    pub fn with_cgroups_path(mut self, path: impl Into<String>) -> Self {
        self.cgroups_path = path.into();
        self
    }

    /// Sets `pid`.
    pub fn with_pid(mut self, pid: u32) -> Self {
        self.pid = pid;
        self
    }

    /// Whether the container can have threads to place: running or paused, or of unknown
    /// state but with a process.
    pub fn may_have_threads(&self) -> bool {
        match self.state {
            ContainerState::Running | ContainerState::Paused => true,
            ContainerState::Unknown => self.pid != 0,
            ContainerState::Created | ContainerState::Stopped => false,
        }
    }

    /// Whether the container counts towards its pod's `total_containers`: every container
    /// that is not stopped. A stopped one (e.g. a finished init container) has no threads
    /// to monitor and could never become reconciled.
    pub fn is_counted(&self) -> bool {
        self.state != ContainerState::Stopped
    }

    /// This description updated by a newer one. A container's life only moves forward
    /// (created, running or paused, stopped), so a late or repeated event (a
    /// `CreateContainer` seen after the start) must not move it back; and fields some
    /// events leave empty (`pid` 0 at removal, an empty `cgroups_path`) keep their value.
    pub(crate) fn updated_by(&self, newer: &ContainerInfo) -> ContainerInfo {
        let mut merged = newer.clone();
        if merged.state.lifecycle_rank() < self.state.lifecycle_rank() {
            merged.state = self.state;
        }
        if merged.pid == 0 {
            merged.pid = self.pid;
        }
        if merged.cgroups_path.is_empty() {
            merged.cgroups_path.clone_from(&self.cgroups_path);
        }
        merged
    }

    /// Checks the fields the core relies on.
    pub(crate) fn validate(&self) -> Result<(), PluginError> {
        if self.id.is_empty() {
            return Err(PluginError::InvalidInput {
                reason: format!(
                    "a container of sandbox {:?} has an empty id",
                    self.pod_sandbox_id
                ),
            });
        }
        if self.pod_sandbox_id.is_empty() {
            return Err(PluginError::InvalidInput {
                reason: format!("container {:?} has an empty pod_sandbox_id", self.id),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nri_state_values_map_to_states() {
        let got: Vec<ContainerState> = (0..=5).map(ContainerState::from_nri).collect();
        assert_eq!(
            got,
            vec![
                ContainerState::Unknown,
                ContainerState::Created,
                ContainerState::Paused,
                ContainerState::Running,
                ContainerState::Stopped,
                ContainerState::Unknown,
            ]
        );
    }

    #[test]
    fn only_live_containers_may_have_threads() {
        let c = |state| ContainerInfo::new("c", "s", state);
        assert!(c(ContainerState::Running).may_have_threads());
        assert!(c(ContainerState::Paused).may_have_threads());
        assert!(!c(ContainerState::Created).may_have_threads());
        assert!(!c(ContainerState::Stopped).may_have_threads());
        assert!(!c(ContainerState::Unknown).may_have_threads());
        assert!(c(ContainerState::Unknown).with_pid(7).may_have_threads());
        assert!(c(ContainerState::Created).is_counted());
        assert!(!c(ContainerState::Stopped).is_counted());
    }

    #[test]
    fn updates_never_move_a_container_back_in_its_life() {
        let running = ContainerInfo::new("c", "s", ContainerState::Running)
            .with_pid(42)
            .with_cgroups_path("/kubepods/pod1/c");
        let late_create = ContainerInfo::new("c", "s", ContainerState::Created);
        assert_eq!(running.updated_by(&late_create), running);
        let paused = ContainerInfo::new("c", "s", ContainerState::Paused);
        assert_eq!(
            running.updated_by(&paused).state,
            ContainerState::Paused,
            "running and paused alternate"
        );
        let stopped = running.updated_by(&ContainerInfo::new("c", "s", ContainerState::Stopped));
        assert_eq!(stopped.state, ContainerState::Stopped);
        assert_eq!(
            (stopped.pid, stopped.cgroups_path.as_str()),
            (42, "/kubepods/pod1/c")
        );
        assert_eq!(stopped.updated_by(&running).state, ContainerState::Stopped);
    }

    #[test]
    fn validation_rejects_empty_identifiers() {
        assert!(PodInfo::new("sb", "uid").validate().is_ok());
        assert!(PodInfo::new("sb", "").validate().is_err());
        assert!(PodInfo::new("", "uid").validate().is_err());
        assert!(
            ContainerInfo::new("c", "sb", ContainerState::Running)
                .validate()
                .is_ok()
        );
        assert!(
            ContainerInfo::new("", "sb", ContainerState::Running)
                .validate()
                .is_err()
        );
        assert!(
            ContainerInfo::new("c", "", ContainerState::Running)
                .validate()
                .is_err()
        );
    }
}
