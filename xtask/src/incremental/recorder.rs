//! [`Recorder`]: what a `ci fast` run writes afterwards, a record for each step that passed.

use crate::record::{Status, StepResult};
use crate::result_cache::{Key, Snapshot, Store};

/// What the run must record afterwards.
pub struct Recorder {
    pub(super) store: Option<Store>,
    pub(super) snapshot: Snapshot,
    pub(super) pending: Vec<Pending>,
}

/// A step whose green result becomes a record.
pub(super) struct Pending {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) key: Key,
    /// Planned as skipped because nothing of it was left to run (doctests of packages
    /// without a library): that is a pass too.
    pub(super) skip_is_green: bool,
}

impl Recorder {
    /// A recorder that records nothing.
    pub fn none() -> Self {
        Recorder {
            store: None,
            snapshot: Snapshot::default(),
            pending: Vec::new(),
        }
    }

    /// Writes a record for each recordable step that passed (not from the cache), with
    /// the file hashes taken when it was planned, and keeps the hashes for the next run.
    ///
    /// # Errors
    /// A record cannot be written.
    pub fn record(&self, results: &[StepResult]) -> anyhow::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store.write_snapshot(&self.snapshot)?;
        let files = self.snapshot.hashes();
        for pending in &self.pending {
            let Some(result) = results.get(pending.index) else {
                continue;
            };
            let green = match &result.status {
                Status::Ok => result.cached.is_none(),
                Status::Skipped(_) => pending.skip_is_green,
                Status::Failed(_) | Status::Interrupted => false,
            };
            if green {
                store.write(&pending.name, &pending.key, files.clone())?;
            }
        }
        Ok(())
    }
}
