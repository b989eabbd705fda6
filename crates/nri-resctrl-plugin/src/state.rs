//! The core's records: pods by uid, the sandbox id → uid map, containers by id, and
//! containers waiting for a pod that has not been seen yet.
//!
//! Pure bookkeeping, no I/O: the plugin decides what to do with resctrl, this module only
//! remembers the outcome and derives the counts that events report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use crate::events::{PodResctrlAddOrUpdate, ResctrlGroupState};
use crate::info::{ContainerInfo, PodInfo};

/// The state of a pod's group as the core knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupStatus {
    /// The group exists. `fresh`: this process created it and has not written to it since,
    /// so it is known to be empty and its `tasks` need not be read.
    Exists { path: PathBuf, fresh: bool },
    /// No group: creation failed or was not attempted (capacity), or it vanished.
    Failed,
}

/// One pod (one uid; usually one sandbox, two while the kubelet replaces a dead sandbox).
#[derive(Debug)]
pub(crate) struct PodRecord {
    /// The latest description (for logs and the cgroup parent).
    pub(crate) info: PodInfo,
    /// Its sandbox ids.
    pub(crate) sandboxes: BTreeSet<String>,
    /// Ids of its containers (of all its sandboxes).
    pub(crate) containers: BTreeSet<String>,
    pub(crate) group: GroupStatus,
    /// The last state delivered on the event channel; an update is sent only when the
    /// state differs, so duplicates emit nothing and a dropped update is sent again.
    pub(crate) delivered: Option<PodResctrlAddOrUpdate>,
}

/// One container.
#[derive(Debug)]
pub(crate) struct ContainerRecord {
    pub(crate) info: ContainerInfo,
    /// Every thread found in its cgroup was placed in the pod's group, and a later read
    /// found no new one.
    pub(crate) reconciled: bool,
}

/// What [`Registry::add_sandbox`] did.
#[derive(Debug, Default)]
pub(crate) struct SandboxAdded {
    /// The pod uid was not known before.
    pub(crate) new_pod: bool,
    /// Containers that were waiting for this sandbox and now belong to the pod.
    pub(crate) adopted: Vec<String>,
}

/// What [`Registry::remove_sandbox`] did.
#[derive(Debug)]
pub(crate) enum SandboxRemoved {
    /// The pod's last sandbox is gone, and with it the pod.
    PodGone(Box<PodRecord>),
    /// The pod still has another sandbox.
    PodKept(String),
}

/// All records.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pods: BTreeMap<String, PodRecord>,
    sandboxes: HashMap<String, String>,
    containers: HashMap<String, ContainerRecord>,
    /// Containers by sandbox id, for sandboxes not seen yet.
    orphans: HashMap<String, BTreeSet<String>>,
}

impl Registry {
    pub(crate) fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.containers.is_empty()
    }

    pub(crate) fn pod(&self, uid: &str) -> Option<&PodRecord> {
        self.pods.get(uid)
    }

    pub(crate) fn pod_mut(&mut self, uid: &str) -> Option<&mut PodRecord> {
        self.pods.get_mut(uid)
    }

    /// Pod uids in order.
    pub(crate) fn pod_uids(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    pub(crate) fn sandbox_ids(&self) -> Vec<String> {
        self.sandboxes.keys().cloned().collect()
    }

    pub(crate) fn container_ids(&self) -> Vec<String> {
        self.containers.keys().cloned().collect()
    }

    /// The uid of the pod that sandbox `id` belongs to.
    pub(crate) fn uid_of_sandbox(&self, id: &str) -> Option<&str> {
        self.sandboxes.get(id).map(String::as_str)
    }

    pub(crate) fn container(&self, id: &str) -> Option<&ContainerRecord> {
        self.containers.get(id)
    }

    pub(crate) fn container_mut(&mut self, id: &str) -> Option<&mut ContainerRecord> {
        self.containers.get_mut(id)
    }

    /// The uid of the pod container `id` belongs to, if that pod is known.
    pub(crate) fn pod_of_container(&self, id: &str) -> Option<&str> {
        let record = self.containers.get(id)?;
        self.uid_of_sandbox(&record.info.pod_sandbox_id)
    }

    pub(crate) fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Whether container `id` may have threads that are not placed yet.
    pub(crate) fn is_pending(&self, id: &str) -> bool {
        self.containers
            .get(id)
            .is_some_and(|c| !c.reconciled && c.info.may_have_threads())
    }

    /// Containers of pod `uid` that may have threads and are not reconciled.
    pub(crate) fn pending_containers(&self, uid: &str) -> Vec<String> {
        let Some(pod) = self.pods.get(uid) else {
            return Vec::new();
        };
        pod.containers
            .iter()
            .filter(|id| self.is_pending(id))
            .cloned()
            .collect()
    }

    /// Containers of pod `uid` that are reconciled and may still have threads.
    pub(crate) fn reconciled_containers(&self, uid: &str) -> Vec<String> {
        let Some(pod) = self.pods.get(uid) else {
            return Vec::new();
        };
        pod.containers
            .iter()
            .filter(|id| {
                self.containers
                    .get(id.as_str())
                    .is_some_and(|c| c.reconciled && c.info.may_have_threads())
            })
            .cloned()
            .collect()
    }

    /// Records a sandbox of pod `pod.uid` (a new pod starts with a [`GroupStatus::Failed`]
    /// group until the caller creates it) and adopts the containers waiting for it.
    pub(crate) fn add_sandbox(&mut self, pod: &PodInfo) -> SandboxAdded {
        let mut added = SandboxAdded::default();
        let record = self.pods.entry(pod.uid.clone()).or_insert_with(|| {
            added.new_pod = true;
            PodRecord {
                info: pod.clone(),
                sandboxes: BTreeSet::new(),
                containers: BTreeSet::new(),
                group: GroupStatus::Failed,
                delivered: None,
            }
        });
        record.info = pod.clone();
        record.sandboxes.insert(pod.id.clone());
        self.sandboxes.insert(pod.id.clone(), pod.uid.clone());
        if let Some(waiting) = self.orphans.remove(&pod.id) {
            record.containers.extend(waiting.iter().cloned());
            added.adopted = waiting.into_iter().collect();
        }
        added
    }

    /// Records or updates a container (merged as [`ContainerInfo::updated_by`] says);
    /// returns whether anything changed. A container that moved to another sandbox is no
    /// longer reconciled (its pod, so its group, changed).
    pub(crate) fn upsert_container(&mut self, info: ContainerInfo) -> bool {
        let id = info.id.clone();
        let sandbox = info.pod_sandbox_id.clone();
        match self.containers.get_mut(&id) {
            Some(record) => {
                let merged = record.info.updated_by(&info);
                if merged == record.info {
                    return false;
                }
                let old_sandbox = std::mem::replace(&mut record.info, merged).pod_sandbox_id;
                if old_sandbox != sandbox {
                    record.reconciled = false;
                    self.detach(&id, &old_sandbox);
                    self.attach(&id, &sandbox);
                }
                true
            }
            None => {
                self.containers.insert(
                    id.clone(),
                    ContainerRecord {
                        info,
                        reconciled: false,
                    },
                );
                self.attach(&id, &sandbox);
                true
            }
        }
    }

    fn attach(&mut self, id: &str, sandbox: &str) {
        match self
            .sandboxes
            .get(sandbox)
            .and_then(|uid| self.pods.get_mut(uid))
        {
            Some(pod) => {
                pod.containers.insert(id.to_owned());
            }
            None => {
                self.orphans
                    .entry(sandbox.to_owned())
                    .or_default()
                    .insert(id.to_owned());
            }
        }
    }

    fn detach(&mut self, id: &str, sandbox: &str) {
        if let Some(pod) = self
            .sandboxes
            .get(sandbox)
            .and_then(|uid| self.pods.get_mut(uid))
        {
            pod.containers.remove(id);
        }
        if let Some(waiting) = self.orphans.get_mut(sandbox) {
            waiting.remove(id);
            if waiting.is_empty() {
                self.orphans.remove(sandbox);
            }
        }
    }

    /// Forgets a container; returns the uid of the pod it belonged to (`None` if it was
    /// unknown or waiting for its pod).
    pub(crate) fn remove_container(&mut self, id: &str) -> Option<String> {
        let record = self.containers.remove(id)?;
        let sandbox = record.info.pod_sandbox_id;
        let uid = self.sandboxes.get(&sandbox).cloned();
        self.detach(id, &sandbox);
        uid
    }

    /// Forgets a sandbox and its containers; `None` if the sandbox was unknown.
    pub(crate) fn remove_sandbox(&mut self, sandbox: &str) -> Option<SandboxRemoved> {
        if let Some(waiting) = self.orphans.remove(sandbox) {
            for id in waiting {
                self.containers.remove(&id);
            }
        }
        let uid = self.sandboxes.remove(sandbox)?;
        let pod = self.pods.get_mut(&uid)?;
        pod.sandboxes.remove(sandbox);
        let containers = &mut self.containers;
        pod.containers.retain(|id| {
            let of_sandbox = containers
                .get(id)
                .is_some_and(|c| c.info.pod_sandbox_id == sandbox);
            if of_sandbox {
                containers.remove(id);
            }
            !of_sandbox
        });
        if pod.sandboxes.is_empty() {
            let gone = self.pods.remove(&uid)?;
            for id in &gone.containers {
                self.containers.remove(id);
            }
            Some(SandboxRemoved::PodGone(Box::new(gone)))
        } else {
            Some(SandboxRemoved::PodKept(uid))
        }
    }

    /// The pod's group is gone: record that and that none of its containers is placed.
    pub(crate) fn mark_group_failed(&mut self, uid: &str) {
        let Some(pod) = self.pods.get_mut(uid) else {
            return;
        };
        pod.group = GroupStatus::Failed;
        for id in &pod.containers {
            if let Some(c) = self.containers.get_mut(id) {
                c.reconciled = false;
            }
        }
    }

    /// Number of containers waiting for a pod.
    pub(crate) fn orphan_count(&self) -> usize {
        self.orphans.values().map(BTreeSet::len).sum()
    }

    /// The pod's current state, as an event would report it.
    pub(crate) fn status(&self, uid: &str) -> Option<PodResctrlAddOrUpdate> {
        let pod = self.pods.get(uid)?;
        let (mut total, mut reconciled) = (0, 0);
        for c in pod
            .containers
            .iter()
            .filter_map(|id| self.containers.get(id))
        {
            if c.info.is_counted() {
                total += 1;
                if c.reconciled {
                    reconciled += 1;
                }
            }
        }
        let group_state = match &pod.group {
            GroupStatus::Exists { path, .. } => {
                ResctrlGroupState::Exists(path.to_string_lossy().into_owned())
            }
            GroupStatus::Failed => ResctrlGroupState::Failed,
        };
        Some(PodResctrlAddOrUpdate {
            pod_uid: uid.to_owned(),
            pod_namespace: pod.info.namespace.clone(),
            pod_name: pod.info.name.clone(),
            group_state,
            total_containers: total,
            reconciled_containers: reconciled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::ContainerState;

    fn running(id: &str, sandbox: &str) -> ContainerInfo {
        ContainerInfo::new(id, sandbox, ContainerState::Running)
    }

    fn counts(r: &Registry, uid: &str) -> (usize, usize) {
        let s = r.status(uid).expect("known pod");
        (s.total_containers, s.reconciled_containers)
    }

    #[test]
    fn containers_wait_for_their_sandbox_and_are_adopted() {
        let mut r = Registry::default();
        assert!(r.upsert_container(running("c1", "sb1")));
        assert_eq!(r.orphan_count(), 1);
        assert_eq!(r.pod_of_container("c1"), None);
        let added = r.add_sandbox(&PodInfo::new("sb1", "uid1"));
        assert!(added.new_pod);
        assert_eq!(added.adopted, vec!["c1".to_owned()]);
        assert_eq!(r.orphan_count(), 0);
        assert_eq!(r.pod_of_container("c1"), Some("uid1"));
        assert_eq!(counts(&r, "uid1"), (1, 0));
        assert_eq!(r.pending_containers("uid1"), vec!["c1".to_owned()]);
    }

    #[test]
    fn identical_upserts_change_nothing() {
        let mut r = Registry::default();
        r.add_sandbox(&PodInfo::new("sb", "uid"));
        assert!(r.upsert_container(running("c", "sb")));
        assert!(!r.upsert_container(running("c", "sb")));
        assert!(r.upsert_container(running("c", "sb").with_pid(5)));
        let again = r.add_sandbox(&PodInfo::new("sb", "uid"));
        assert!(!again.new_pod);
        assert!(again.adopted.is_empty());
    }

    #[test]
    fn stopped_containers_are_not_counted() {
        let mut r = Registry::default();
        r.add_sandbox(&PodInfo::new("sb", "uid"));
        r.upsert_container(running("a", "sb"));
        r.upsert_container(ContainerInfo::new("b", "sb", ContainerState::Stopped));
        r.upsert_container(ContainerInfo::new("c", "sb", ContainerState::Created));
        if let Some(a) = r.container_mut("a") {
            a.reconciled = true;
        }
        assert_eq!(counts(&r, "uid"), (2, 1));
        assert!(
            r.pending_containers("uid").is_empty(),
            "b and c have no threads"
        );
    }

    #[test]
    fn removing_one_of_two_sandboxes_keeps_the_pod() {
        let mut r = Registry::default();
        r.add_sandbox(&PodInfo::new("old", "uid"));
        r.upsert_container(running("c-old", "old"));
        r.add_sandbox(&PodInfo::new("new", "uid"));
        r.upsert_container(running("c-new", "new"));
        assert_eq!(counts(&r, "uid"), (2, 0));
        match r.remove_sandbox("old") {
            Some(SandboxRemoved::PodKept(uid)) => assert_eq!(uid, "uid"),
            other => panic!("expected PodKept, got {other:?}"),
        }
        assert_eq!(counts(&r, "uid"), (1, 0));
        assert!(r.container("c-old").is_none());
        match r.remove_sandbox("new") {
            Some(SandboxRemoved::PodGone(pod)) => assert_eq!(pod.info.uid, "uid"),
            other => panic!("expected PodGone, got {other:?}"),
        }
        assert!(r.is_empty());
        assert!(r.remove_sandbox("new").is_none());
    }

    #[test]
    fn removing_a_container_reports_its_pod() {
        let mut r = Registry::default();
        r.add_sandbox(&PodInfo::new("sb", "uid"));
        r.upsert_container(running("c", "sb"));
        r.upsert_container(running("orphan", "elsewhere"));
        assert_eq!(r.remove_container("c"), Some("uid".to_owned()));
        assert_eq!(r.remove_container("orphan"), None);
        assert_eq!(r.orphan_count(), 0);
        assert_eq!(r.remove_container("c"), None);
        assert_eq!(counts(&r, "uid"), (0, 0));
    }

    #[test]
    fn a_failed_group_unmarks_every_container() {
        let mut r = Registry::default();
        r.add_sandbox(&PodInfo::new("sb", "uid"));
        r.upsert_container(running("c", "sb"));
        if let Some(pod) = r.pod_mut("uid") {
            pod.group = GroupStatus::Exists {
                path: "/r/mon_groups/pod_uid".into(),
                fresh: false,
            };
        }
        if let Some(c) = r.container_mut("c") {
            c.reconciled = true;
        }
        assert_eq!(counts(&r, "uid"), (1, 1));
        r.mark_group_failed("uid");
        assert_eq!(counts(&r, "uid"), (1, 0));
        assert_eq!(
            r.status("uid").map(|s| s.group_state),
            Some(ResctrlGroupState::Failed)
        );
    }
}
