//! Access to Linux resctrl (`/sys/fs/resctrl`), the kernel interface to Intel RDT / AMD
//! PQoS cache-occupancy (CMT) and memory-bandwidth (MBM) monitoring.
//!
//! This crate is the only code of the workspace that touches resctrl. Everything goes
//! through an [`FsProvider`]: [`RealFs`] on a real kernel, `fake::FakeResctrl` (feature
//! `fake`) in tests, so the same logic runs in both.
//!
//! What it does, on a [`Resctrl`] handle:
//! - detect support and mount state ([`Resctrl::detect_support`], [`Resctrl::ensure_mounted`]);
//! - one monitoring group per pod ([`Resctrl::create_group`], [`Resctrl::ensure_group`],
//!   [`Resctrl::delete_group`]);
//! - put thread ids into a group ([`Resctrl::assign_tasks`], [`Resctrl::reconcile_group`]);
//! - remove stale groups of this crate's prefix at startup ([`Resctrl::cleanup_prefix`]);
//! - read per-domain occupancy and bandwidth counters ([`Resctrl::read_group_monitoring`]).
//!
//! ```
//! # #[cfg(feature = "fake")] {
//! use resctrl::{Reading, Resctrl, fake::FakeResctrl};
//!
//! let fake = FakeResctrl::builder().l3_domains([0, 1]).build();
//! fake.add_threads([100, 101]);
//! let rc = Resctrl::with_provider(fake.clone(), fake.config()).unwrap();
//!
//! let group = rc.create_group("3f1c2d4e-0000-4000-8000-000000000001").unwrap();
//! let summary = rc.assign_tasks(&group, [100, 101, 999]).unwrap();
//! assert_eq!((summary.assigned, summary.missing), (2, 1));
//!
//! let readings = rc.read_group_monitoring(&group).unwrap();
//! assert_eq!(readings.domains.len(), 2);
//! assert_eq!(readings.domains[0].llc_occupancy, Reading::Value(0));
//! # }
//! ```

#![warn(missing_docs)]

mod cleanup;
mod config;
mod error;
mod fs;
mod group;
mod monitoring;
mod mounts;
mod support;

// Also built for this crate's own unit tests, which drive the logic through the fake.
#[cfg(any(test, feature = "fake"))]
pub mod fake;

use std::path::{Component, Path, PathBuf};

pub use cleanup::{CleanupSummary, GroupEntry, GroupKind, RESERVED_ROOT_NAMES};
pub use config::{
    Config, DEFAULT_CPUINFO_PATH, DEFAULT_GROUP_PREFIX, DEFAULT_MOUNTS_PATH, DEFAULT_ROOT,
};
pub use error::{Error, Op, Result};
pub use fs::{DirEntry, FsProvider, RealFs};
pub use group::{
    AssignSummary, EnsuredGroup, MAX_GROUP_NAME_LEN, ReconcileSummary, TaskIdSource,
    sanitize_group_name,
};
pub use monitoring::{DomainReadings, GroupReadings, MonEvent, MonLayout, Reading};
pub use mounts::{MountEntry, RESCTRL_FSTYPE, parse_mounts, unescape};
pub use support::{CpuFlags, MonFeatures, MountOutcome, Support};

/// Name of the directory holding monitoring groups, in the root and in control groups.
pub const MON_GROUPS_DIR: &str = "mon_groups";
/// Name of the directory holding a group's per-domain readings.
pub const MON_DATA_DIR: &str = "mon_data";
/// Name of the file listing (and receiving) a group's thread ids.
pub const TASKS_FILE: &str = "tasks";

/// A handle on one resctrl mount, with this crate's naming configuration.
///
/// Cheap to share: it holds the provider and the configuration only, and every method
/// takes `&self`. The kernel serialises concurrent operations itself.
#[derive(Debug, Clone)]
pub struct Resctrl<P: FsProvider = RealFs> {
    fs: P,
    config: Config,
}

impl Resctrl<RealFs> {
    /// A handle on the real kernel.
    ///
    /// Fails with [`Error::InvalidArgument`] if the configuration is unusable (see
    /// [`Config::validate`]).
    pub fn new(config: Config) -> Result<Self> {
        Self::with_provider(RealFs, config)
    }
}

impl<P: FsProvider> Resctrl<P> {
    /// A handle that does all file-system access through `fs` (e.g. a fake in tests).
    ///
    /// Fails with [`Error::InvalidArgument`] if the configuration is unusable (see
    /// [`Config::validate`]).
    pub fn with_provider(fs: P, config: Config) -> Result<Self> {
        config.validate()?;
        Ok(Resctrl { fs, config })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The file-system provider.
    pub fn provider(&self) -> &P {
        &self.fs
    }

    /// The resctrl root (mount point); also the path of the root (default) group.
    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// `<root>/mon_groups`, where this crate creates its monitoring groups.
    pub fn mon_groups_dir(&self) -> PathBuf {
        self.config.root.join(MON_GROUPS_DIR)
    }

    /// Rejects paths outside the root (and the root itself unless `allow_root`), so that
    /// a caller's bad path can never make this crate touch anything else.
    fn check_group_path(&self, path: &Path, allow_root: bool) -> Result<()> {
        let rest = path
            .strip_prefix(&self.config.root)
            .map_err(|_| Error::InvalidArgument {
                reason: format!(
                    "{} is not a resctrl group under {}",
                    path.display(),
                    self.config.root.display()
                ),
            })?;
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::InvalidArgument {
                reason: format!("{} must not contain `..` or `.`", path.display()),
            });
        }
        if !allow_root && rest.as_os_str().is_empty() {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "{} is the resctrl root (default group), which cannot be removed",
                    path.display()
                ),
            });
        }
        Ok(())
    }

    /// Reads a file, classifying errors.
    fn read_file(&self, path: &Path) -> Result<String> {
        self.fs
            .read_to_string(path)
            .map_err(|e| Error::classify(Op::Read, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Resctrl<RealFs>>();
        assert_send_sync::<Resctrl<fake::FakeResctrl>>();
    }

    #[test]
    fn constructors_validate_the_config() {
        let err = Resctrl::new(Config::default().with_group_prefix("")).expect_err("empty prefix");
        assert!(matches!(err, Error::InvalidArgument { .. }));
        let rc = Resctrl::new(Config::default()).expect("defaults");
        assert_eq!(rc.root(), Path::new("/sys/fs/resctrl"));
        assert_eq!(rc.mon_groups_dir(), Path::new("/sys/fs/resctrl/mon_groups"));
    }

    #[test]
    fn group_paths_must_stay_under_the_root() {
        let rc = Resctrl::new(Config::default()).expect("defaults");
        let ok = Path::new("/sys/fs/resctrl/mon_groups/pod_a");
        rc.check_group_path(ok, false)
            .expect("a group under the root");
        rc.check_group_path(rc.root(), true)
            .expect("the root where allowed");
        for bad in [
            "/sys/fs/resctrl",
            "/sys/fs/resctrl/",
            "/tmp/mon_groups/pod_a",
            "/sys/fs/resctrl/mon_groups/../../../../etc",
            "/sys/fs/resctrlx/pod_a",
            "mon_groups/pod_a",
        ] {
            assert!(
                matches!(
                    rc.check_group_path(Path::new(bad), false),
                    Err(Error::InvalidArgument { .. })
                ),
                "{bad} should be rejected"
            );
        }
    }
}
