//! The pods to sample, as the plugin's [`PodResctrlEvent`] stream describes them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use nri_resctrl_plugin::{
    EventReceiver, PodResctrlAddOrUpdate, PodResctrlEvent, ResctrlGroupState,
};
use tokio::sync::mpsc::error::TryRecvError;

/// A pod's resctrl group, as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodGroup {
    /// The group exists at this path (the same path as a string, for the rows).
    Exists(PathBuf, Arc<str>),
    /// The plugin could not create the group (e.g. no free RMIDs).
    Failed,
}

/// One pod: its identity, group and container counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// Kubernetes uid.
    pub uid: Arc<str>,
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
    /// Its group.
    pub group: PodGroup,
    /// Containers that are not stopped.
    pub total_containers: u32,
    /// Those of them whose every thread is in the group.
    pub reconciled_containers: u32,
}

impl Pod {
    fn from_update(update: PodResctrlAddOrUpdate) -> Self {
        let group = match update.group_state {
            ResctrlGroupState::Exists(path) => {
                let text: Arc<str> = path.as_str().into();
                PodGroup::Exists(PathBuf::from(path), text)
            }
            ResctrlGroupState::Failed => PodGroup::Failed,
        };
        Pod {
            uid: update.pod_uid.into(),
            namespace: update.pod_namespace.into(),
            name: update.pod_name.into(),
            group,
            total_containers: saturating_u32(update.total_containers),
            reconciled_containers: saturating_u32(update.reconciled_containers),
        }
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What the event stream said so far: every known pod, ordered by uid.
#[derive(Debug, Default, Clone)]
pub struct PodTable {
    pods: BTreeMap<Arc<str>, Pod>,
    closed: bool,
}

impl PodTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one event. Returns the path of a group that no longer belongs to the pod
    /// (the pod was removed, or its group failed or moved), whose series must end.
    pub fn apply(&mut self, event: PodResctrlEvent) -> Option<PathBuf> {
        match event {
            PodResctrlEvent::AddOrUpdate(update) => {
                let pod = Pod::from_update(update);
                let old = self.pods.insert(pod.uid.clone(), pod.clone())?;
                match (old.group, &pod.group) {
                    (PodGroup::Exists(old_path, _), PodGroup::Exists(new_path, _))
                        if old_path == *new_path =>
                    {
                        None
                    }
                    (PodGroup::Exists(old_path, _), _) => Some(old_path),
                    (PodGroup::Failed, _) => None,
                }
            }
            PodResctrlEvent::Removed(removed) => {
                match self.pods.remove(removed.pod_uid.as_str())?.group {
                    PodGroup::Exists(path, _) => Some(path),
                    PodGroup::Failed => None,
                }
            }
        }
    }

    /// Applies every event waiting on `events` without blocking; returns the groups whose
    /// series must end (see [`Self::apply`]).
    pub fn drain(&mut self, events: &mut EventReceiver) -> Vec<PathBuf> {
        let mut ended = Vec::new();
        loop {
            match events.try_recv() {
                Ok(event) => ended.extend(self.apply(event)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if !self.closed {
                        // The plugin stopped: keep sampling the pods as last known.
                        tracing::warn!(
                            "the plugin's event channel closed; pods are no longer updated"
                        );
                        self.closed = true;
                    }
                    break;
                }
            }
        }
        ended
    }

    /// The pods, ordered by uid.
    pub fn iter(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values()
    }

    /// The pod with this uid.
    pub fn get(&self, uid: &str) -> Option<&Pod> {
        self.pods.get(uid)
    }

    /// Number of pods.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether there are no pods.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use nri_resctrl_plugin::{PodResctrlRemoved, events};

    use super::*;

    fn update(
        uid: &str,
        group: ResctrlGroupState,
        total: usize,
        reconciled: usize,
    ) -> PodResctrlEvent {
        PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
            pod_uid: uid.into(),
            pod_namespace: "ns".into(),
            pod_name: format!("name-{uid}"),
            group_state: group,
            total_containers: total,
            reconciled_containers: reconciled,
        })
    }

    fn exists(uid: &str) -> ResctrlGroupState {
        ResctrlGroupState::Exists(format!("/r/mon_groups/pod_{uid}"))
    }

    #[test]
    fn updates_replace_a_pods_identity_group_and_counts() {
        let mut t = PodTable::new();
        assert_eq!(t.apply(update("a", exists("a"), 1, 0)), None);
        assert_eq!(t.apply(update("a", exists("a"), 2, 2)), None, "same group");
        let pod = t.get("a").expect("pod a");
        assert_eq!((&*pod.namespace, &*pod.name), ("ns", "name-a"));
        assert_eq!((pod.total_containers, pod.reconciled_containers), (2, 2));
        assert_eq!(
            pod.group,
            PodGroup::Exists("/r/mon_groups/pod_a".into(), "/r/mon_groups/pod_a".into())
        );
    }

    #[test]
    fn a_group_that_fails_or_a_pod_that_goes_ends_the_groups_series() {
        let mut t = PodTable::new();
        t.apply(update("a", exists("a"), 1, 1));
        assert_eq!(
            t.apply(update("a", ResctrlGroupState::Failed, 1, 0)),
            Some(PathBuf::from("/r/mon_groups/pod_a"))
        );
        assert_eq!(t.get("a").map(|p| p.group.clone()), Some(PodGroup::Failed));
        assert_eq!(
            t.apply(update("a", exists("a"), 1, 1)),
            None,
            "failed had no series"
        );
        let removed = PodResctrlEvent::Removed(PodResctrlRemoved {
            pod_uid: "a".into(),
        });
        assert_eq!(
            t.apply(removed.clone()),
            Some(PathBuf::from("/r/mon_groups/pod_a"))
        );
        assert!(t.is_empty());
        assert_eq!(t.apply(removed), None, "an unknown pod");
    }

    #[test]
    fn drain_applies_what_is_waiting_and_survives_a_closed_channel() {
        let (tx, mut rx) = events::channel(8);
        assert!(tx.try_emit(update("b", exists("b"), 0, 0)));
        assert!(tx.try_emit(update("a", ResctrlGroupState::Failed, 1, 0)));
        let mut t = PodTable::new();
        assert!(t.drain(&mut rx).is_empty());
        let uids: Vec<&str> = t.iter().map(|p| &*p.uid).collect();
        assert_eq!(uids, ["a", "b"], "ordered by uid");
        drop(tx);
        assert!(t.drain(&mut rx).is_empty());
        assert_eq!(t.len(), 2, "pods stay as last known");
    }
}
