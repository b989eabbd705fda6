//! NRI messages to the core's inputs: the few fields the core uses, copied.

use crate::info::{ContainerInfo, ContainerState, PodInfo};

/// The core's view of an NRI `PodSandbox`: sandbox id, Kubernetes uid, names (for logs and events)
/// and the cgroup parent (to find containers whose own cgroup path is empty).
pub(crate) fn pod_info(pod: &nri::PodSandbox) -> PodInfo {
    PodInfo {
        id: pod.id.clone(),
        uid: pod.uid.clone(),
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        cgroup_parent: pod
            .linux
            .as_ref()
            .map(|linux| linux.cgroup_parent.clone())
            .unwrap_or_default(),
    }
}

/// The core's view of an NRI `Container`: ids, state, cgroup path and first process.
pub(crate) fn container_info(container: &nri::Container) -> ContainerInfo {
    ContainerInfo {
        id: container.id.clone(),
        pod_sandbox_id: container.pod_sandbox_id.clone(),
        state: ContainerState::from_nri(container.state.value()),
        cgroups_path: container
            .linux
            .as_ref()
            .map(|linux| linux.cgroups_path.clone())
            .unwrap_or_default(),
        pid: container.pid,
    }
}

#[cfg(test)]
mod tests {
    use nri::{LinuxContainer, LinuxPodSandbox};
    use protobuf::{EnumOrUnknown, MessageField};

    use super::*;

    #[test]
    fn pods_keep_ids_names_and_cgroup_parent() {
        let pod = nri::PodSandbox {
            id: "sb-1".into(),
            uid: "0c6f-uid".into(),
            name: "web".into(),
            namespace: "default".into(),
            linux: MessageField::some(LinuxPodSandbox {
                cgroup_parent: "/kubepods/besteffort/pod0c6f-uid".into(),
                cgroups_path: "ignored".into(),
                ..Default::default()
            }),
            pid: 42,
            ..Default::default()
        };
        assert_eq!(
            pod_info(&pod),
            PodInfo::new("sb-1", "0c6f-uid")
                .with_name("default", "web")
                .with_cgroup_parent("/kubepods/besteffort/pod0c6f-uid")
        );
        let bare = nri::PodSandbox {
            id: "sb-2".into(),
            uid: "u".into(),
            ..Default::default()
        };
        assert_eq!(pod_info(&bare), PodInfo::new("sb-2", "u"));
    }

    #[test]
    fn containers_keep_state_cgroup_path_and_pid() {
        let container = nri::Container {
            id: "ctr-1".into(),
            pod_sandbox_id: "sb-1".into(),
            name: "app".into(),
            state: EnumOrUnknown::new(nri::ContainerState::CONTAINER_RUNNING),
            linux: MessageField::some(LinuxContainer {
                cgroups_path: "/kubepods/besteffort/podu/ctr-1".into(),
                ..Default::default()
            }),
            pid: 4242,
            ..Default::default()
        };
        assert_eq!(
            container_info(&container),
            ContainerInfo::new("ctr-1", "sb-1", ContainerState::Running)
                .with_cgroups_path("/kubepods/besteffort/podu/ctr-1")
                .with_pid(4242)
        );
        let unknown = nri::Container {
            id: "ctr-2".into(),
            pod_sandbox_id: "sb-1".into(),
            state: EnumOrUnknown::from_i32(99),
            ..Default::default()
        };
        assert_eq!(
            container_info(&unknown),
            ContainerInfo::new("ctr-2", "sb-1", ContainerState::Unknown)
        );
    }
}
