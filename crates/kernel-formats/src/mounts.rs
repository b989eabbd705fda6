//! The mount table (`/proc/mounts`, fstab format).
//!
//! Parsed here rather than by `procfs-core`, whose decoder leaves `\040` (a space) in
//! mount points, decodes `\134043` twice, and fails the whole table on one short line.

use std::path::{Path, PathBuf};

use crate::escape::unescape;

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// What was mounted (for resctrl, conventionally `resctrl`).
    pub source: String,
    /// Where, with octal escapes (`\040` for a space, ...) decoded.
    pub mount_point: PathBuf,
    /// The file-system type.
    pub fstype: String,
    /// Mount options in the table's order, e.g. `rw`, `relatime`, `mba_MBps`; for cgroup v1
    /// the controllers are among them.
    pub options: Vec<String>,
}

impl MountEntry {
    /// Whether the mount is read-only (`ro` option).
    pub fn is_read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Parses mount-table text; malformed lines (fewer than four fields) are skipped.
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let source = unescape(fields.next()?);
            let mount_point = PathBuf::from(unescape(fields.next()?));
            let fstype = unescape(fields.next()?);
            let options = fields.next()?.split(',').map(str::to_owned).collect();
            Some(MountEntry {
                source: source.to_string_lossy().into_owned(),
                mount_point,
                fstype: fstype.to_string_lossy().into_owned(),
                options,
            })
        })
        .collect()
}

/// The mount visible at `root`: the last entry whose mount point is `root`, since a later
/// mount on the same point hides the earlier ones.
pub fn mount_at<'a>(mounts: &'a [MountEntry], root: &Path) -> Option<&'a MountEntry> {
    mounts.iter().rev().find(|m| m.mount_point == root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
resctrl /sys/fs/resctrl resctrl rw,relatime 0 0
resctrl /mnt/my\\040resctrl resctrl ro,relatime 0 0
garbage-line
none /mnt/tab\\011and\\134 tmpfs rw 0 0
";

    #[test]
    fn each_line_gives_its_source_point_type_and_options() {
        let m = parse_mounts(TABLE);
        assert_eq!(m[2].source, "resctrl");
        assert_eq!(m[2].mount_point, PathBuf::from("/sys/fs/resctrl"));
        assert_eq!(m[2].fstype, "resctrl");
        assert_eq!(m[2].options, vec!["rw", "relatime"]);
        assert!(!m[2].is_read_only());
        assert!(m[3].is_read_only());
    }

    #[test]
    fn a_line_of_fewer_than_four_fields_is_skipped() {
        let m = parse_mounts(TABLE);
        assert_eq!(m.len(), 5);
        assert!(m.iter().all(|e| e.source != "garbage-line"));
    }

    #[test]
    fn mount_points_are_unescaped() {
        let m = parse_mounts(TABLE);
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/my resctrl"));
        assert_eq!(m[4].mount_point, PathBuf::from("/mnt/tab\tand\\"));
    }

    #[test]
    fn mount_at_takes_the_topmost_mount_on_a_point() {
        let table = "\
resctrl /sys/fs/resctrl resctrl rw 0 0
tmpfs /sys/fs/resctrl tmpfs rw 0 0
";
        let m = parse_mounts(table);
        let top = mount_at(&m, Path::new("/sys/fs/resctrl")).expect("something is mounted");
        assert_eq!(top.fstype, "tmpfs");
        // Path comparison ignores a trailing slash.
        assert!(mount_at(&m, Path::new("/sys/fs/resctrl/")).is_some());
        assert!(mount_at(&m, Path::new("/sys/fs")).is_none());
    }
}
