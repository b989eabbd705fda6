//! Retries: what the core could not finish when an event arrived (no free monitoring ID,
//! a container still creating threads, a cgroup not readable yet) is retried when the
//! adapter asks, e.g. on a timer or after a pod removal freed an ID.

use std::path::PathBuf;

use resctrl::FsProvider;

use crate::error::PluginError;
use crate::pid_source::PidSource;
use crate::plugin::ResctrlPlugin;
use crate::reconcile::ContainerReconcile;
use crate::state::GroupStatus;
use crate::summary::{GroupTally, ReconcileTally, RetrySummary};

impl<P: FsProvider, S: PidSource> ResctrlPlugin<P, S> {
    /// Tries again to create the group of pod `pod_uid`; returns its path.
    ///
    /// A pod that has a group returns it unchanged. On success the pod moves to
    /// `Exists(path)` with one event; its containers are placed by
    /// [`Self::retry_container_reconcile`] or [`Self::retry_all_once`]. On failure (e.g.
    /// still no free monitoring ID: [`PluginError::is_capacity`]) nothing changes and no
    /// event is sent.
    pub fn retry_group_creation(&mut self, pod_uid: &str) -> Result<PathBuf, PluginError> {
        self.create_group(pod_uid, &mut GroupTally::default())?;
        let path = match self.registry.pod(pod_uid).map(|p| &p.group) {
            Some(GroupStatus::Exists { path, .. }) => path.clone(),
            // create_group returned Ok, so the pod is known and has a group.
            _ => {
                return Err(PluginError::NoGroup {
                    pod_uid: pod_uid.to_owned(),
                });
            }
        };
        self.emit_updates([pod_uid]);
        Ok(path)
    }

    /// Places the threads of container `container_id` again, whether or not it is
    /// reconciled (so a periodic call also catches processes started into the container
    /// from outside, e.g. by `kubectl exec`). Emits one event if its pod's counts change.
    ///
    /// Errors: [`PluginError::UnknownContainer`], [`PluginError::NotStarted`],
    /// [`PluginError::PodNotSeen`], [`PluginError::NoGroup`], and the placement's errors,
    /// after which the container counts as not reconciled.
    pub fn retry_container_reconcile(
        &mut self,
        container_id: &str,
    ) -> Result<ContainerReconcile, PluginError> {
        let Some(container) = self.registry.container(container_id) else {
            return Err(PluginError::UnknownContainer {
                container_id: container_id.to_owned(),
            });
        };
        if !container.info.may_have_threads() {
            return Err(PluginError::NotStarted {
                container_id: container_id.to_owned(),
            });
        }
        let Some(uid) = self
            .registry
            .pod_of_container(container_id)
            .map(str::to_owned)
        else {
            return Err(PluginError::PodNotSeen {
                container_id: container_id.to_owned(),
                sandbox_id: container.info.pod_sandbox_id.clone(),
            });
        };
        let placed = self.place_in_pod(&uid, &[container_id.to_owned()]);
        // Also after an error: a vanished group changed the pod's state.
        self.emit_updates([&uid]);
        placed?.pop().map(|(_, result)| result).unwrap_or_else(|| {
            Err(PluginError::UnknownContainer {
                container_id: container_id.to_owned(),
            })
        })
    }

    /// Places the threads of every reconciled container again, in every pod with a group,
    /// and returns what it did.
    ///
    /// A reconciled container stays right by itself (new threads inherit their creator's
    /// group), except for processes started into it from outside: `kubectl exec` has the
    /// runtime spawn a process that joins the container's cgroup but keeps the resctrl
    /// group of the runtime. Calling this periodically places them. A quiet container
    /// costs two listings of its cgroup, and each pod one read of its group's `tasks`.
    /// Containers that are not reconciled are left to [`Self::retry_all_once`].
    ///
    /// A container found with new threads counts as reconciled again once they are
    /// placed; one that fails (its cgroup vanished, say) counts as not reconciled until a
    /// retry succeeds. One event per pod whose counts changed.
    pub fn recheck_reconciled_containers(&mut self) -> ReconcileTally {
        let mut tally = ReconcileTally::default();
        let uids = self.registry.pod_uids();
        for uid in &uids {
            if !self.has_group(uid) {
                continue;
            }
            let reconciled = self.registry.reconciled_containers(uid);
            // Logged inside and counted in the tally.
            let _ = self.reconcile_pod(uid, &reconciled, &mut tally);
        }
        self.emit_updates(&uids);
        if tally.assigned > 0 || tally.failed > 0 {
            tracing::info!(
                containers_reconciled = tally.reconciled,
                containers_partial = tally.partial,
                containers_failed = tally.failed,
                threads_assigned = tally.assigned,
                threads_missing = tally.missing,
                "re-checked reconciled containers: placed threads that joined them later"
            );
        }
        tally
    }

    /// One round of every retry, in this order:
    ///
    /// 1. delete groups of removed pods whose deletion failed before;
    /// 2. create the groups of pods without one, by uid, stopping at the first capacity
    ///    error (every further mkdir would fail the same way; they are counted as
    ///    skipped);
    /// 3. place the threads of every running container that is not reconciled, in every
    ///    pod with a group; one container's failure does not stop the others.
    ///
    /// Then the `Removed` events a full channel refused before, and one event per pod
    /// whose state changed (or whose last update was refused). Failures are logged and
    /// counted.
    pub fn retry_all_once(&mut self) -> RetrySummary {
        let mut summary = RetrySummary::default();
        for path in std::mem::take(&mut self.stale_groups) {
            match self.resctrl.delete_group(&path) {
                Ok(()) => summary.stale_groups_removed += 1,
                Err(e) => {
                    tracing::warn!(
                        path = %path.display(),
                        error = %PluginError::from(e).display_chain(),
                        "still cannot delete a removed pod's resctrl group"
                    );
                    self.stale_groups.push(path);
                    summary.stale_groups_left += 1;
                }
            }
        }

        let uids = self.registry.pod_uids();
        for uid in &uids {
            if !self.has_group(uid) {
                // Logged inside and counted in the tally.
                let _ = self.create_group(uid, &mut summary.groups);
            }
        }
        for uid in &uids {
            if self.has_group(uid) {
                let pending = self.registry.pending_containers(uid);
                // Logged inside and counted in the tally.
                let _ = self.reconcile_pod(uid, &pending, &mut summary.containers);
            }
        }
        self.emit_undelivered_removals();
        self.emit_updates(&uids);

        // A periodic caller runs this every few seconds: say so only when there was work.
        if summary == RetrySummary::default() {
            tracing::debug!("retried pending resctrl work: nothing was pending");
            return summary;
        }
        tracing::info!(
            groups_created = summary.groups.created,
            groups_failed = summary.groups.failed,
            groups_skipped = summary.groups.skipped,
            containers_reconciled = summary.containers.reconciled,
            containers_partial = summary.containers.partial,
            containers_failed = summary.containers.failed,
            threads_assigned = summary.containers.assigned,
            threads_missing = summary.containers.missing,
            stale_groups_removed = summary.stale_groups_removed,
            stale_groups_left = summary.stale_groups_left,
            "retried pending resctrl work"
        );
        summary
    }
}
