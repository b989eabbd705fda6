//! What the bulk entry points report back: counters for logs, metrics and tests.

use resctrl::{CleanupSummary, MountOutcome};

use crate::reconcile::ContainerReconcile;

/// Group creations within one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTally {
    /// Groups created (or found already present).
    pub created: usize,
    /// Creations that failed.
    pub failed: usize,
    /// Creations not attempted because an earlier one in the same call ran out of
    /// monitoring IDs: every further mkdir would fail the same way.
    pub skipped: usize,
    /// Whether a creation ran out of monitoring IDs.
    pub capacity_exhausted: bool,
}

/// Container placements within one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileTally {
    /// Containers that became (or were confirmed) reconciled.
    pub reconciled: usize,
    /// Containers placed partly: threads kept appearing for `max_reconcile_passes`.
    pub partial: usize,
    /// Containers whose placement failed (listing, resctrl error, or no group).
    pub failed: usize,
    /// Thread ids written.
    pub assigned: usize,
    /// Thread ids that had exited before they could be written.
    pub missing: usize,
}

impl ReconcileTally {
    pub(crate) fn add(&mut self, outcome: &ContainerReconcile) {
        self.assigned += outcome.assigned;
        self.missing += outcome.missing;
        if outcome.converged {
            self.reconciled += 1;
        } else {
            self.partial += 1;
        }
    }
}

/// What [`crate::ResctrlPlugin::synchronize`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Pods tracked after the call.
    pub pods: usize,
    /// Containers still waiting for their pod after the call.
    pub waiting_containers: usize,
    /// Input entries skipped as invalid (empty ids).
    pub invalid_inputs: usize,
    /// Pods no longer reported, removed with their groups.
    pub pods_removed: usize,
    /// Containers no longer reported, forgotten (not counting those of removed pods).
    pub containers_removed: usize,
    /// Group creations.
    pub groups: GroupTally,
    /// Container placements.
    pub containers: ReconcileTally,
}

/// What [`crate::ResctrlPlugin::retry_all_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetrySummary {
    /// Group creations for pods without a group.
    pub groups: GroupTally,
    /// Placements of containers that were not reconciled.
    pub containers: ReconcileTally,
    /// Groups of removed pods whose earlier deletion failed and now succeeded.
    pub stale_groups_removed: usize,
    /// Such groups that still could not be removed.
    pub stale_groups_left: usize,
}

/// What [`crate::ResctrlPlugin::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupReport {
    /// Whether resctrl was already mounted or this call mounted it.
    pub mount: MountOutcome,
    /// The cleanup's counters; `None` when `cleanup_on_start` is off.
    pub cleanup: Option<CleanupSummary>,
}
