//! Parsing the mount table (`/proc/mounts`, fstab format).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// The resctrl file-system type name.
pub const RESCTRL_FSTYPE: &str = "resctrl";

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// What was mounted (for resctrl, conventionally `resctrl`).
    pub source: String,
    /// Where, with octal escapes (`\040` for a space, ...) decoded.
    pub mount_point: PathBuf,
    /// The file-system type.
    pub fstype: String,
    /// Mount options, e.g. `rw`, `relatime`, `mba_MBps`.
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

/// Decodes the kernel's octal escapes (`\ooo`, used for space, tab, newline and
/// backslash). Anything else, including a malformed escape, is kept as is.
pub fn unescape(field: &str) -> OsString {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // No let-chains: the workspace's minimum Rust is 1.85.
        let escaped = if bytes[i] == b'\\' {
            octal3(&bytes[i + 1..])
        } else {
            None
        };
        if let Some(value) = escaped {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// The byte encoded by three leading octal digits, if they are there and fit in a byte.
fn octal3(bytes: &[u8]) -> Option<u8> {
    let digits = bytes.get(..3)?;
    let mut value: u16 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        value = value * 8 + u16::from(d - b'0');
    }
    u8::try_from(value).ok()
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
";

    #[test]
    fn parses_fields_and_skips_malformed_lines() {
        let m = parse_mounts(TABLE);
        assert_eq!(m.len(), 4);
        assert_eq!(m[2].source, "resctrl");
        assert_eq!(m[2].mount_point, PathBuf::from("/sys/fs/resctrl"));
        assert_eq!(m[2].fstype, "resctrl");
        assert_eq!(m[2].options, vec!["rw", "relatime"]);
        assert!(!m[2].is_read_only());
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/my resctrl"));
        assert!(m[3].is_read_only());
    }

    #[test]
    fn unescapes_octal_sequences_only() {
        assert_eq!(unescape(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
        // Not three octal digits: kept verbatim.
        assert_eq!(unescape(r"a\09b"), r"a\09b");
        assert_eq!(unescape(r"end\04"), r"end\04");
        assert_eq!(unescape(r"trailing\"), r"trailing\");
        // \400 would not fit in a byte.
        assert_eq!(unescape(r"x\400"), r"x\400");
        // Non-ASCII bytes pass through.
        assert_eq!(unescape("/mnt/ré"), "/mnt/ré");
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
