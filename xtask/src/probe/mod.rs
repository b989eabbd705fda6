//! Probes of what this host can do.
//!
//! Every file-based probe reads through a [`HostRoot`], so tests point it at a directory of
//! fixture files instead of the real `/`. Tool versions come from running the tools.

pub mod cgroups;
pub mod containerd;
pub mod engine;
pub mod identity;
pub mod kvm;
pub mod perf;
pub mod resctrl;
pub mod tools;

use std::io;
use std::path::{Path, PathBuf};

/// The root every file probe reads under: `/` on a real host, a fixture directory in tests.
#[derive(Clone, Debug)]
pub struct HostRoot {
    root: PathBuf,
}

impl HostRoot {
    /// The real system root, `/`.
    pub fn system() -> Self {
        Self::at("/")
    }

    /// A root at `dir`: `/proc/mounts` is read from `dir/proc/mounts`, and so on.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        HostRoot { root: dir.into() }
    }

    /// Maps an absolute host path to where it lives under this root.
    pub fn path(&self, absolute: impl AsRef<Path>) -> PathBuf {
        let absolute = absolute.as_ref();
        let relative = absolute.strip_prefix("/").unwrap_or(absolute);
        self.root.join(relative)
    }

    /// Reads a host file as text.
    pub fn read(&self, absolute: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.path(absolute))
    }

    /// Whether a host path exists (follows symlinks).
    pub fn exists(&self, absolute: impl AsRef<Path>) -> bool {
        self.path(absolute).exists()
    }
}

/// One entry of `/proc/mounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted, with the kernel's octal escapes (`\040` for space) undone.
    pub mount_point: String,
    /// File-system type, e.g. `resctrl`, `cgroup2`.
    pub fs_type: String,
    /// Mount options, comma-separated as in the file.
    pub options: String,
}

/// Parses `/proc/mounts`; malformed lines are ignored rather than failing the whole probe.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _source = fields.next()?;
            let mount_point = unescape_mount_field(fields.next()?);
            let fs_type = fields.next()?.to_string();
            let options = fields.next().unwrap_or_default().to_string();
            Some(Mount {
                mount_point,
                fs_type,
                options,
            })
        })
        .collect()
}

/// Reads and parses the mount table under `root`; an unreadable table is an empty one.
pub fn mounts(root: &HostRoot) -> Vec<Mount> {
    root.read("/proc/mounts")
        .map(|text| parse_mounts(&text))
        .unwrap_or_default()
}

/// The kernel writes space, tab, newline and backslash in mount fields as `\ooo` octal.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(digits) => {
                // Three octal digits can exceed 255 ("\777"); such a field is not an escape.
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                match u8::try_from(value) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 4;
                    }
                    Err(_) => {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A fixture host root built in a temporary directory.

    use super::HostRoot;
    use std::path::Path;

    /// A temporary directory standing in for `/`.
    pub struct FixtureRoot {
        dir: tempfile::TempDir,
    }

    impl FixtureRoot {
        pub fn new() -> Self {
            FixtureRoot {
                dir: tempfile::tempdir().expect("create fixture dir"),
            }
        }

        /// Writes `contents` at the absolute host path `path` under the fixture.
        pub fn file(&self, path: &str, contents: &str) -> &Self {
            let full = self.dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, contents).unwrap();
            self
        }

        /// Creates the directory `path` under the fixture.
        pub fn dir(&self, path: &str) -> &Self {
            std::fs::create_dir_all(self.dir.path().join(path.trim_start_matches('/'))).unwrap();
            self
        }

        pub fn root(&self) -> HostRoot {
            HostRoot::at(self.dir.path())
        }

        #[allow(dead_code)]
        pub fn path(&self) -> &Path {
            self.dir.path()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mounts_and_unescapes_spaces() {
        let table = "resctrl /sys/fs/resctrl resctrl rw,relatime 0 0\n\
                     none /mnt/with\\040space tmpfs rw 0 0\n\
                     garbage\n";
        let mounts = parse_mounts(table);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].fs_type, "resctrl");
        assert_eq!(mounts[0].mount_point, "/sys/fs/resctrl");
        assert_eq!(mounts[1].mount_point, "/mnt/with space");
        assert_eq!(mounts[1].options, "rw");
    }

    #[test]
    fn backslash_without_octal_digits_is_kept() {
        assert_eq!(unescape_mount_field("a\\b"), "a\\b");
        assert_eq!(unescape_mount_field("end\\04"), "end\\04");
        assert_eq!(unescape_mount_field("tab\\011x"), "tab\tx");
    }

    #[test]
    fn host_root_maps_absolute_paths_under_itself() {
        let root = HostRoot::at("/fixture");
        assert_eq!(
            root.path("/proc/mounts"),
            PathBuf::from("/fixture/proc/mounts")
        );
    }
}
