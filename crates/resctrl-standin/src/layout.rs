//! Where the stand-in puts things under its mount point: the resctrl root, the mount table
//! and the CPU description, and the plain directories leading to them.
//!
//! The mount table and CPU description are served live from the same model as the resctrl
//! tree (the fake's mount table shows resctrl mounted at the root until the test unmounts
//! it), so a binary pointed at [`Layout::config`] detects support exactly as it would on a
//! host with RDT. They cannot sit inside the resctrl root: cleanup would take any directory
//! there for a control group.

use std::path::{Path, PathBuf};

/// The resctrl root, below the mount point.
pub const RESCTRL_DIR: &str = "resctrl";
/// The directory holding the mount table and CPU description, below the mount point.
pub const PROC_DIR: &str = "proc";
/// The mount table's name in [`PROC_DIR`].
pub const MOUNTS_FILE: &str = "mounts";
/// The CPU description's name in [`PROC_DIR`].
pub const CPUINFO_FILE: &str = "cpuinfo";

/// The paths of one stand-in mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    mount_point: PathBuf,
}

impl Layout {
    /// The layout of a stand-in mounted at `mount_point` (absolute and canonical, as the
    /// model compares paths lexically).
    pub fn new(mount_point: impl Into<PathBuf>) -> Self {
        Layout {
            mount_point: mount_point.into(),
        }
    }

    /// The FUSE mount point.
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    /// The resctrl root: `<mount point>/resctrl`.
    pub fn root(&self) -> PathBuf {
        self.mount_point.join(RESCTRL_DIR)
    }

    /// The mount table: `<mount point>/proc/mounts`.
    pub fn mounts_path(&self) -> PathBuf {
        self.mount_point.join(PROC_DIR).join(MOUNTS_FILE)
    }

    /// The CPU description: `<mount point>/proc/cpuinfo`.
    pub fn cpuinfo_path(&self) -> PathBuf {
        self.mount_point.join(PROC_DIR).join(CPUINFO_FILE)
    }

    /// A resctrl configuration pointing at this stand-in (default group prefix).
    pub fn config(&self) -> resctrl::Config {
        resctrl::Config::default()
            .with_root(self.root())
            .with_mounts_path(self.mounts_path())
            .with_cpuinfo_path(self.cpuinfo_path())
    }

    /// The entries of a directory that belongs to the stand-in rather than to the model
    /// (the mount point and `proc/`): name and whether it is a directory. `None` for any
    /// other path.
    pub(crate) fn own_dir(&self, path: &Path) -> Option<&'static [(&'static str, bool)]> {
        if path == self.mount_point {
            Some(&[(RESCTRL_DIR, true), (PROC_DIR, true)])
        } else if path == self.mount_point.join(PROC_DIR) {
            Some(&[(MOUNTS_FILE, false), (CPUINFO_FILE, false)])
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_points_at_the_three_served_paths() {
        let layout = Layout::new("/mnt/standin");
        let config = layout.config();
        assert_eq!(config.root, PathBuf::from("/mnt/standin/resctrl"));
        assert_eq!(
            config.mounts_path,
            PathBuf::from("/mnt/standin/proc/mounts")
        );
        assert_eq!(
            config.cpuinfo_path,
            PathBuf::from("/mnt/standin/proc/cpuinfo")
        );
        config.validate().expect("a usable configuration");
    }

    #[test]
    fn only_the_mount_point_and_proc_are_the_stand_ins_own_directories() {
        let layout = Layout::new("/mnt/standin");
        assert!(layout.own_dir(Path::new("/mnt/standin")).is_some());
        assert!(layout.own_dir(Path::new("/mnt/standin/proc")).is_some());
        assert!(layout.own_dir(Path::new("/mnt/standin/resctrl")).is_none());
        assert!(
            layout
                .own_dir(Path::new("/mnt/standin/proc/mounts"))
                .is_none()
        );
        assert!(layout.own_dir(Path::new("/mnt")).is_none());
    }
}
