//! Which cgroup hierarchies are mounted.

use super::{HostRoot, mounts};
use std::fmt;

/// The cgroup layout of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Only the unified (v2) hierarchy, at the given mount point.
    V2 { mount_point: String },
    /// v1 controller hierarchies, possibly with a v2 hierarchy beside them (hybrid).
    V1 {
        controllers: Vec<String>,
        unified: Option<String>,
    },
    /// No cgroup file system is mounted.
    None,
}

impl fmt::Display for CgroupLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupLayout::V2 { mount_point } => write!(f, "v2 (unified at {mount_point})"),
            CgroupLayout::V1 {
                controllers,
                unified: Some(unified),
            } => write!(
                f,
                "v1 hybrid ({} controllers; v2 at {unified})",
                controllers.len()
            ),
            CgroupLayout::V1 {
                controllers,
                unified: None,
            } => write!(f, "v1 ({} controllers)", controllers.len()),
            CgroupLayout::None => f.write_str("not mounted"),
        }
    }
}

/// Reads the cgroup layout from the mount table.
pub fn layout(root: &HostRoot) -> CgroupLayout {
    let mounts = mounts(root);
    let unified = mounts
        .iter()
        .find(|m| m.fs_type == "cgroup2")
        .map(|m| m.mount_point.clone());
    let controllers: Vec<String> = mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup")
        .map(|m| m.mount_point.clone())
        .collect();
    match (controllers.is_empty(), unified) {
        (true, Some(mount_point)) => CgroupLayout::V2 { mount_point },
        (false, unified) => CgroupLayout::V1 {
            controllers,
            unified,
        },
        (true, None) => CgroupLayout::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn hybrid_layout() {
        let fx = FixtureRoot::new();
        fx.file(
            "/proc/mounts",
            "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n\
             cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n\
             cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n",
        );
        let layout = layout(&fx.root());
        assert_eq!(
            layout.to_string(),
            "v1 hybrid (2 controllers; v2 at /sys/fs/cgroup/unified)"
        );
    }

    #[test]
    fn pure_v2_and_none() {
        let fx = FixtureRoot::new();
        fx.file("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n");
        assert_eq!(
            layout(&fx.root()),
            CgroupLayout::V2 {
                mount_point: "/sys/fs/cgroup".into()
            }
        );
        let empty = FixtureRoot::new();
        empty.file("/proc/mounts", "proc /proc proc rw 0 0\n");
        assert_eq!(layout(&empty.root()), CgroupLayout::None);
    }
}
