//! Where resctrl lives and how this crate names its groups.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::group::{MAX_GROUP_NAME_LEN, is_name_char};

/// The kernel's conventional resctrl mount point.
pub const DEFAULT_ROOT: &str = "/sys/fs/resctrl";
/// The default prefix of the groups this crate creates (one per pod).
pub const DEFAULT_GROUP_PREFIX: &str = "pod_";
/// Where the mount table is read by default.
pub const DEFAULT_MOUNTS_PATH: &str = "/proc/mounts";
/// Where CPU flags are read by default.
pub const DEFAULT_CPUINFO_PATH: &str = "/proc/cpuinfo";

/// Configuration of a [`crate::Resctrl`] handle.
///
/// All paths are read through the [`crate::FsProvider`], so tests can point them at
/// fixtures served by a fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The resctrl mount point (default `/sys/fs/resctrl`).
    pub root: PathBuf,
    /// Prefix of the groups this crate creates and, on cleanup, removes (default `pod_`).
    /// Must be non-empty and use only `[A-Za-z0-9_-]`: an empty prefix would make
    /// cleanup remove every group on the node.
    pub group_prefix: String,
    /// The mount table to read (default `/proc/mounts`).
    pub mounts_path: PathBuf,
    /// The CPU description to read flags from (default `/proc/cpuinfo`).
    pub cpuinfo_path: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root: PathBuf::from(DEFAULT_ROOT),
            group_prefix: DEFAULT_GROUP_PREFIX.to_owned(),
            mounts_path: PathBuf::from(DEFAULT_MOUNTS_PATH),
            cpuinfo_path: PathBuf::from(DEFAULT_CPUINFO_PATH),
        }
    }
}

impl Config {
    /// Sets the resctrl root.
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// Sets the group prefix.
    pub fn with_group_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.group_prefix = prefix.into();
        self
    }

    /// Sets where the mount table is read.
    pub fn with_mounts_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.mounts_path = path.into();
        self
    }

    /// Sets where CPU flags are read.
    pub fn with_cpuinfo_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.cpuinfo_path = path.into();
        self
    }

    /// Checks the values; [`crate::Resctrl`] constructors call this.
    pub fn validate(&self) -> Result<()> {
        let prefix = &self.group_prefix;
        if prefix.is_empty() {
            return Err(Error::InvalidArgument {
                reason: "group_prefix is empty; cleanup would remove every resctrl group".into(),
            });
        }
        if !prefix.chars().all(is_name_char) {
            return Err(Error::InvalidArgument {
                reason: format!("group_prefix {prefix:?} may only contain [A-Za-z0-9_-]"),
            });
        }
        // Leave room for at least one character of the pod uid.
        if prefix.len() >= MAX_GROUP_NAME_LEN {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "group_prefix {prefix:?} is {} characters; at most {} leave room for a pod uid",
                    prefix.len(),
                    MAX_GROUP_NAME_LEN - 1
                ),
            });
        }
        if !self.root.is_absolute() {
            return Err(Error::InvalidArgument {
                reason: format!("root {} must be an absolute path", self.root.display()),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_kernel_conventions() {
        let c = Config::default();
        assert_eq!(c.root, PathBuf::from("/sys/fs/resctrl"));
        assert_eq!(c.group_prefix, "pod_");
        assert_eq!(c.mounts_path, PathBuf::from("/proc/mounts"));
        assert_eq!(c.cpuinfo_path, PathBuf::from("/proc/cpuinfo"));
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn builders_set_fields() {
        let c = Config::default()
            .with_root("/tmp/r")
            .with_group_prefix("t_")
            .with_mounts_path("/tmp/mounts")
            .with_cpuinfo_path("/tmp/cpuinfo");
        assert_eq!(c.root, PathBuf::from("/tmp/r"));
        assert_eq!(c.group_prefix, "t_");
        assert_eq!(c.mounts_path, PathBuf::from("/tmp/mounts"));
        assert_eq!(c.cpuinfo_path, PathBuf::from("/tmp/cpuinfo"));
    }

    #[test]
    fn validate_rejects_dangerous_or_malformed_values() {
        let bad = [
            Config::default().with_group_prefix(""),
            Config::default().with_group_prefix("pod/"),
            Config::default().with_group_prefix("pöd_"),
            Config::default().with_group_prefix("p".repeat(63)),
            Config::default().with_root("relative/root"),
        ];
        for c in bad {
            assert!(
                matches!(c.validate(), Err(Error::InvalidArgument { .. })),
                "{c:?} should be rejected"
            );
        }
        Config::default()
            .with_group_prefix("p".repeat(62))
            .validate()
            .expect("62 characters leave one for the uid");
    }
}
