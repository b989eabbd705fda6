//! The plugin's configuration.

use crate::error::PluginError;

/// Default [`PluginConfig::max_reconcile_passes`]: one pass places the threads, the next
/// confirms that no thread appeared meanwhile; the third catches a container that was
/// spawning threads during the first two.
pub const DEFAULT_MAX_RECONCILE_PASSES: u32 = 3;

/// What the plugin does; every field changes behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    /// Prefix of the per-pod group names (`<prefix><pod uid>`), and the prefix that
    /// `cleanup_on_start` removes. Default `pod_`. It replaces the prefix of the
    /// `resctrl::Config` given to the constructor.
    pub group_prefix: String,
    /// Whether [`crate::ResctrlPlugin::start`] removes every group with the prefix (left
    /// by a previous run, e.g. after a crash) so their monitoring IDs are free again.
    /// Default true.
    pub cleanup_on_start: bool,
    /// Whether [`crate::ResctrlPlugin::start`] mounts resctrl when it is not mounted.
    /// Default false: mounting changes the host, so it is opt-in.
    pub auto_mount: bool,
    /// How many times a container's thread list is read per reconciliation before giving
    /// up on catching every new thread (at least 1). Default
    /// [`DEFAULT_MAX_RECONCILE_PASSES`].
    pub max_reconcile_passes: u32,
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            group_prefix: resctrl::DEFAULT_GROUP_PREFIX.to_owned(),
            cleanup_on_start: true,
            auto_mount: false,
            max_reconcile_passes: DEFAULT_MAX_RECONCILE_PASSES,
        }
    }
}

impl PluginConfig {
    /// Sets the group prefix.
    pub fn with_group_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.group_prefix = prefix.into();
        self
    }

    /// Sets whether startup removes stale prefixed groups.
    pub fn with_cleanup_on_start(mut self, cleanup: bool) -> Self {
        self.cleanup_on_start = cleanup;
        self
    }

    /// Sets whether startup mounts resctrl.
    pub fn with_auto_mount(mut self, auto_mount: bool) -> Self {
        self.auto_mount = auto_mount;
        self
    }

    /// Sets the number of reconcile passes.
    pub fn with_max_reconcile_passes(mut self, passes: u32) -> Self {
        self.max_reconcile_passes = passes;
        self
    }

    /// Checks the values the resctrl crate does not check itself (the prefix is checked
    /// by `resctrl::Config::validate` when the plugin is built).
    pub fn validate(&self) -> Result<(), PluginError> {
        if self.max_reconcile_passes == 0 {
            return Err(PluginError::InvalidInput {
                reason: "max_reconcile_passes must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_builders() {
        let d = PluginConfig::default();
        assert_eq!(d.group_prefix, "pod_");
        assert!(d.cleanup_on_start);
        assert!(!d.auto_mount);
        assert_eq!(d.max_reconcile_passes, 3);
        d.validate().expect("defaults are valid");
        let c = PluginConfig::default()
            .with_group_prefix("x_")
            .with_cleanup_on_start(false)
            .with_auto_mount(true)
            .with_max_reconcile_passes(5);
        assert_eq!(
            c,
            PluginConfig {
                group_prefix: "x_".into(),
                cleanup_on_start: false,
                auto_mount: true,
                max_reconcile_passes: 5,
            }
        );
    }

    #[test]
    fn zero_passes_are_rejected() {
        let err = PluginConfig::default()
            .with_max_reconcile_passes(0)
            .validate()
            .expect_err("zero passes");
        assert!(matches!(err, PluginError::InvalidInput { .. }), "{err:?}");
    }
}
