//! `/proc/<pid>/mountinfo`: every mount of a mount namespace, with the subtree of its
//! file system that it shows.
//!
//! `procfs-core` splits the line (any number of optional fields, the `-` separator,
//! per-superblock options); it leaves paths as the kernel escaped them, so they are
//! decoded here.

use std::path::{Path, PathBuf};

use procfs_core::process::MountInfo as RawMountInfo;

use crate::escape::unescape;

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Major:minor of the file system (one per cgroup hierarchy; bind mounts share it).
    pub device: String,
    /// The subtree of the file system mounted here (`/` for all of it).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// File-system type (`cgroup`, `cgroup2`, `overlay`, ...).
    pub fs_type: String,
    /// Per-superblock options (`rw`, and for cgroup v1 the controllers and `name=...`),
    /// sorted: the kernel's order carries no meaning.
    pub super_options: Vec<String>,
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| RawMountInfo::from_line(line).ok())
        .map(|raw| {
            let mut super_options: Vec<String> = raw
                .super_options
                .into_iter()
                .map(|(key, value)| match value {
                    Some(value) => format!("{key}={value}"),
                    None => key,
                })
                .collect();
            super_options.sort();
            MountInfo {
                device: raw.majmin,
                root: PathBuf::from(unescape(&raw.root)),
                mount_point: PathBuf::from(unescape(&raw.mount_point.to_string_lossy())),
                fs_type: raw.fs_type,
                super_options,
            }
        })
        .collect()
}

/// The subtree of the file system visible at `mount_point`: the root of the last entry
/// mounted there, since a later mount at the same point hides the earlier ones.
pub fn mount_root<'a>(mounts: &'a [MountInfo], mount_point: &Path) -> Option<&'a Path> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .map(|m| m.root.as_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_with_any_number_of_optional_fields() {
        let text = "\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
900 27 0:90 / /run/x rw master:1 shared:2 propagate_from:3 - overlay overlay rw,lowerdir=/a
901 27 0:91 / /run/y rw unbindable some_future_tag:7 - tmpfs tmpfs rw
";
        let entries = parse_mountinfo(text);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].fs_type, "cgroup2");
        assert_eq!(entries[0].device, "0:38");
        assert_eq!(entries[1].super_options, ["cpu", "rw"]);
        assert_eq!(entries[2].fs_type, "overlay");
        assert_eq!(entries[2].super_options, ["lowerdir=/a", "rw"]);
        assert_eq!(entries[3].mount_point, Path::new("/run/y"));
    }

    #[test]
    fn a_malformed_line_is_skipped() {
        let text = "bogus line\n1 2 0:1 / /ok rw - tmpfs tmpfs rw\n1 2 0:1 / /no-separator rw\n";
        let entries = parse_mountinfo(text);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].mount_point, Path::new("/ok"));
    }

    #[test]
    fn roots_and_mount_points_are_unescaped() {
        let text = "\
900 27 0:90 / /run/e2e/ctrd\\0401/state/rootfs rw master:1 - overlay overlay rw
1 2 0:1 /a\\134b\\011 /trailing\\04 rw - tmpfs tmpfs rw
";
        let entries = parse_mountinfo(text);
        assert_eq!(
            entries[0].mount_point,
            Path::new("/run/e2e/ctrd 1/state/rootfs")
        );
        assert_eq!(entries[1].root, Path::new("/a\\b\t"));
        // A cut-short escape stays as it is.
        assert_eq!(entries[1].mount_point, Path::new("/trailing\\04"));
    }

    #[test]
    fn the_mount_root_comes_from_the_last_mount_at_the_point() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup/pids rw,relatime shared:9 - cgroup cgroup rw,pids
41 30 0:26 /libpod_parent/libpod-1 /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
42 25 0:27 /a\\040b /mnt/with\\040space rw - cgroup2 cgroup2 rw
";
        let entries = parse_mountinfo(text);
        assert_eq!(
            mount_root(&entries, Path::new("/sys/fs/cgroup/pids")),
            Some(Path::new("/libpod_parent/libpod-1"))
        );
        assert_eq!(
            mount_root(&entries, Path::new("/mnt/with space")),
            Some(Path::new("/a b"))
        );
        assert_eq!(mount_root(&entries, Path::new("/sys/fs/cgroup/cpu")), None);
    }
}
