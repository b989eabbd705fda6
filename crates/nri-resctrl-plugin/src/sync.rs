//! [`ResctrlPlugin::synchronize`]: taking the runtime's whole state at once.

use std::collections::{BTreeSet, HashSet};

use resctrl::FsProvider;

use crate::error::PluginError;
use crate::info::{ContainerInfo, PodInfo};
use crate::pid_source::PidSource;
use crate::plugin::ResctrlPlugin;
use crate::summary::SyncSummary;

impl<P: FsProvider, S: PidSource> ResctrlPlugin<P, S> {
    /// Takes the runtime's complete state (NRI `Synchronize`; join the chunks of a split
    /// synchronization and call once with all of them).
    ///
    /// Pods and containers tracked before but missing now are removed as if their
    /// removal events had arrived (after a reconnect, they ended meanwhile). New pods get
    /// their groups; after the first capacity error no further creation is attempted in
    /// this call (those pods report `Failed`; [`Self::retry_all_once`] tries again).
    /// Then the threads of every running container not yet reconciled are placed, and one
    /// event goes out per pod whose state changed. Problems are logged and counted in the
    /// summary, never returned: one pod must not stop the others.
    pub fn synchronize(&mut self, pods: &[PodInfo], containers: &[ContainerInfo]) -> SyncSummary {
        let mut summary = SyncSummary::default();
        let pods: Vec<&PodInfo> = pods
            .iter()
            .filter(|p| accept(p.validate(), &mut summary.invalid_inputs))
            .collect();
        let containers: Vec<&ContainerInfo> = containers
            .iter()
            .filter(|c| accept(c.validate(), &mut summary.invalid_inputs))
            .collect();

        let mut touched = BTreeSet::new();
        let live_sandboxes: HashSet<&str> = pods.iter().map(|p| p.id.as_str()).collect();
        for sandbox in self.registry.sandbox_ids() {
            if !live_sandboxes.contains(sandbox.as_str()) {
                // A failed group deletion is logged and kept for retry; the pod is gone.
                if !matches!(self.forget_sandbox(&sandbox, &mut touched), Ok(false)) {
                    summary.pods_removed += 1;
                }
            }
        }
        let live_containers: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
        for id in self.registry.container_ids() {
            if !live_containers.contains(id.as_str()) {
                if let Some(uid) = self.registry.remove_container(&id) {
                    touched.insert(uid);
                }
                summary.containers_removed += 1;
            }
        }

        for pod in &pods {
            let added = self.registry.add_sandbox(pod);
            touched.insert(pod.uid.clone());
            if added.new_pod {
                // Logged inside; the pod reports `Failed`.
                let _ = self.create_group(&pod.uid, &mut summary.groups);
            }
        }
        for container in &containers {
            self.registry.upsert_container((*container).clone());
        }
        for uid in &touched {
            if self.has_group(uid) {
                let pending = self.registry.pending_containers(uid);
                // Logged inside and counted in the tally.
                let _ = self.reconcile_pod(uid, &pending, &mut summary.containers);
            }
        }
        self.emit_updates(&touched);

        summary.pods = self.registry.pod_count();
        summary.waiting_containers = self.registry.orphan_count();
        tracing::info!(
            pods = summary.pods,
            waiting_containers = summary.waiting_containers,
            pods_removed = summary.pods_removed,
            containers_removed = summary.containers_removed,
            groups_created = summary.groups.created,
            groups_failed = summary.groups.failed,
            groups_skipped = summary.groups.skipped,
            containers_reconciled = summary.containers.reconciled,
            containers_partial = summary.containers.partial,
            containers_failed = summary.containers.failed,
            threads_assigned = summary.containers.assigned,
            threads_missing = summary.containers.missing,
            "synchronized with the runtime"
        );
        summary
    }
}

/// Keeps valid inputs; logs and counts the others.
fn accept(validation: Result<(), PluginError>, invalid: &mut usize) -> bool {
    match validation {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e.display_chain(), "skipping invalid input");
            *invalid += 1;
            false
        }
    }
}
