//! Startup: make sure resctrl is mounted, then remove groups a previous run left behind.

use resctrl::FsProvider;

use crate::error::PluginError;
use crate::pid_source::PidSource;
use crate::plugin::ResctrlPlugin;
use crate::summary::StartupReport;

impl<P: FsProvider, S: PidSource> ResctrlPlugin<P, S> {
    /// Prepares resctrl; call once before [`Self::synchronize`].
    ///
    /// 1. `ensure_mounted(auto_mount)`: fails with `NotMounted` if resctrl is not mounted
    ///    and `auto_mount` is off, or with the mount's error.
    /// 2. If `cleanup_on_start`: removes every group with the prefix, in the root and in
    ///    the root's `mon_groups` (never deeper, never other names), so the monitoring IDs
    ///    of a previous run's pods are free again; its counters are logged. No pod event
    ///    is sent: the core tracks no pod yet.
    ///
    /// Refuses ([`PluginError::StartAfterPods`]) to clean up once pods are tracked, since
    /// that would remove their live groups.
    pub fn start(&mut self) -> Result<StartupReport, PluginError> {
        if self.config.cleanup_on_start && !self.registry.is_empty() {
            return Err(PluginError::StartAfterPods);
        }
        let mount = self.resctrl.ensure_mounted(self.config.auto_mount)?;
        tracing::info!(
            root = %self.resctrl.root().display(),
            outcome = ?mount,
            "resctrl is mounted"
        );
        let cleanup = if self.config.cleanup_on_start {
            let summary = self.resctrl.cleanup_prefix()?;
            tracing::info!(
                prefix = %self.config.group_prefix,
                removed = summary.removed,
                removal_failures = summary.removal_failures,
                removal_race = summary.removal_race,
                non_prefix_groups = summary.non_prefix_groups,
                "removed stale resctrl groups at startup"
            );
            Some(summary)
        } else {
            None
        };
        Ok(StartupReport { mount, cleanup })
    }
}
