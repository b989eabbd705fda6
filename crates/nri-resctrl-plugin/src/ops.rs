//! The steps every entry point is made of: creating and deleting a pod's group,
//! placing containers' threads, and emitting changed pod states.

use std::collections::BTreeSet;

use resctrl::FsProvider;

use crate::error::PluginError;
use crate::events::{PodResctrlEvent, PodResctrlRemoved};
use crate::pid_source::PidSource;
use crate::plugin::ResctrlPlugin;
use crate::reconcile::{ContainerReconcile, GroupMembers, place_container};
use crate::state::{GroupStatus, SandboxRemoved};
use crate::summary::{GroupTally, ReconcileTally};

impl<P: FsProvider, S: PidSource> ResctrlPlugin<P, S> {
    /// Whether pod `uid` has a group.
    pub(crate) fn has_group(&self, uid: &str) -> bool {
        self.registry
            .pod(uid)
            .is_some_and(|p| matches!(p.group, GroupStatus::Exists { .. }))
    }

    /// Creates pod `uid`'s group unless it has one or `tally` says capacity ran out
    /// (then it only counts the skip). Failures are logged, counted and returned; the pod
    /// keeps reporting `Failed`.
    pub(crate) fn create_group(
        &mut self,
        uid: &str,
        tally: &mut GroupTally,
    ) -> Result<(), PluginError> {
        let Some(pod) = self.registry.pod_mut(uid) else {
            return Err(PluginError::UnknownPod {
                pod_uid: uid.to_owned(),
            });
        };
        if matches!(pod.group, GroupStatus::Exists { .. }) {
            return Ok(());
        }
        if tally.capacity_exhausted {
            tally.skipped += 1;
            return Ok(());
        }
        match self.resctrl.ensure_group(uid) {
            Ok(group) => {
                // A stale group of an earlier pod with this uid is now this pod's again.
                self.stale_groups.retain(|p| *p != group.path);
                pod.group = GroupStatus::Exists {
                    path: group.path,
                    fresh: group.created,
                };
                tally.created += 1;
                Ok(())
            }
            Err(e) => {
                tally.failed += 1;
                tally.capacity_exhausted |= e.is_capacity();
                let e = PluginError::from(e);
                tracing::warn!(
                    pod_uid = uid,
                    namespace = %pod.info.namespace,
                    name = %pod.info.name,
                    error = %e.display_chain(),
                    "cannot create the pod's resctrl group"
                );
                Err(e)
            }
        }
    }

    /// Places the threads of containers `ids` of pod `uid`, sharing one view of the
    /// group's members. The outer error is about the pod (no group, or the group
    /// vanished, which marks it `Failed` for a retry to recreate); the inner results are
    /// per container.
    #[expect(
        clippy::type_complexity,
        reason = "one outer result for the pod, one inner result per container; a named type would hide that"
    )]
    pub(crate) fn place_in_pod(
        &mut self,
        uid: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Result<ContainerReconcile, PluginError>)>, PluginError> {
        let Some(pod) = self.registry.pod(uid) else {
            return Err(PluginError::UnknownPod {
                pod_uid: uid.to_owned(),
            });
        };
        let GroupStatus::Exists { path, fresh } = &pod.group else {
            return Err(PluginError::NoGroup {
                pod_uid: uid.to_owned(),
            });
        };
        let mut members = GroupMembers::new(*fresh);
        let mut results = Vec::with_capacity(ids.len());
        let mut vanished = None;
        for id in ids {
            let Some(container) = self.registry.container(id) else {
                continue;
            };
            let result = place_container(
                &self.resctrl,
                &self.pids,
                path,
                &mut members,
                (&pod.info, &container.info),
                self.config.max_reconcile_passes,
            );
            match result {
                // The group's own files are missing: the group is gone, not the container.
                Err(PluginError::Resctrl(e)) if e.is_not_found() => {
                    vanished = Some(e);
                    break;
                }
                other => results.push((id.clone(), other)),
            }
        }

        if let Some(source) = vanished {
            self.registry.mark_group_failed(uid);
            let e = PluginError::GroupVanished {
                pod_uid: uid.to_owned(),
                source,
            };
            tracing::warn!(pod_uid = uid, error = %e.display_chain(), "resctrl group vanished");
            return Err(e);
        }
        let wrote = results
            .iter()
            .any(|(_, r)| matches!(r, Ok(o) if o.assigned > 0));
        if wrote
            && let Some(pod) = self.registry.pod_mut(uid)
            && let GroupStatus::Exists { fresh, .. } = &mut pod.group
        {
            *fresh = false;
        }
        for (id, result) in &results {
            if let Some(c) = self.registry.container_mut(id) {
                c.reconciled = matches!(result, Ok(o) if o.converged);
            }
        }
        Ok(results)
    }

    /// [`Self::place_in_pod`] for bulk callers: logs and counts every failure and returns
    /// the first.
    pub(crate) fn reconcile_pod(
        &mut self,
        uid: &str,
        ids: &[String],
        tally: &mut ReconcileTally,
    ) -> Option<PluginError> {
        if ids.is_empty() {
            return None;
        }
        let results = match self.place_in_pod(uid, ids) {
            Ok(results) => results,
            Err(e) => {
                tally.failed += ids.len();
                return Some(e);
            }
        };
        let mut first_error = None;
        for (id, result) in results {
            match result {
                Ok(outcome) => {
                    tally.add(&outcome);
                    if !outcome.converged {
                        tracing::debug!(
                            pod_uid = uid,
                            container_id = %id,
                            passes = outcome.passes,
                            "container still creating threads; left for a retry"
                        );
                    }
                }
                Err(e) => {
                    tally.failed += 1;
                    tracing::warn!(
                        pod_uid = uid,
                        container_id = %id,
                        error = %e.display_chain(),
                        "cannot place the container's threads"
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error
    }

    /// Forgets a sandbox; when it was its pod's last, deletes the group and emits
    /// `Removed`. Returns whether the pod was removed; an error means the pod was removed
    /// but its group could not be deleted (kept for retry).
    pub(crate) fn forget_sandbox(
        &mut self,
        sandbox: &str,
        touched: &mut BTreeSet<String>,
    ) -> Result<bool, PluginError> {
        match self.registry.remove_sandbox(sandbox) {
            None => Ok(false),
            Some(SandboxRemoved::PodKept(uid)) => {
                touched.insert(uid);
                Ok(false)
            }
            Some(SandboxRemoved::PodGone(pod)) => {
                let pod = *pod;
                let uid = pod.info.uid;
                touched.remove(&uid);
                let mut result = Ok(true);
                if let GroupStatus::Exists { path, .. } = pod.group
                    && let Err(e) = self.resctrl.delete_group(&path)
                {
                    let e = PluginError::from(e);
                    tracing::warn!(
                        pod_uid = %uid,
                        error = %e.display_chain(),
                        "cannot delete the removed pod's resctrl group; will retry"
                    );
                    self.stale_groups.push(path);
                    result = Err(e);
                }
                self.emit_removed(uid);
                result
            }
        }
    }

    /// Emits `Removed` for pod `uid`, or keeps it for the next retry round if the channel
    /// refuses it.
    fn emit_removed(&mut self, uid: String) {
        let event = PodResctrlEvent::Removed(PodResctrlRemoved {
            pod_uid: uid.clone(),
        });
        if !self.events.try_emit(event) {
            self.undelivered_removals.insert(uid);
        }
    }

    /// Sends again the `Removed` events the channel refused, except for pods that are
    /// back (their `AddOrUpdate` supersedes the removal); keeps what is refused again.
    pub(crate) fn emit_undelivered_removals(&mut self) {
        for uid in std::mem::take(&mut self.undelivered_removals) {
            if self.registry.pod(&uid).is_none() {
                self.emit_removed(uid);
            }
        }
    }

    /// Emits an `AddOrUpdate` for each pod whose state differs from the last delivered.
    pub(crate) fn emit_updates<I, U>(&mut self, uids: I)
    where
        I: IntoIterator<Item = U>,
        U: AsRef<str>,
    {
        for uid in uids {
            let uid = uid.as_ref();
            let Some(status) = self.registry.status(uid) else {
                continue;
            };
            let Some(pod) = self.registry.pod_mut(uid) else {
                continue;
            };
            if pod.delivered.as_ref() == Some(&status) {
                continue;
            }
            if self
                .events
                .try_emit(PodResctrlEvent::AddOrUpdate(status.clone()))
            {
                pod.delivered = Some(status);
            }
        }
    }
}
