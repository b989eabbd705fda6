//! [`HostRoot`]: the directory that stands for `/` when reading kernel files.

use std::io;
use std::path::{Path, PathBuf};

use crate::mountinfo::{MountInfo, parse_mountinfo};
use crate::mounts::{MountEntry, parse_mounts};

/// The root every read goes under: `/` on a real host, a fixture directory in tests, a
/// guest's root in the kernel matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    ///
    /// Fails with the I/O error of reading [`path`](Self::path)`(absolute)`.
    pub fn read(&self, absolute: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.path(absolute))
    }

    /// Whether a host path exists (follows symlinks).
    pub fn exists(&self, absolute: impl AsRef<Path>) -> bool {
        self.path(absolute).exists()
    }

    /// The mount table, `/proc/mounts`.
    ///
    /// Fails with the I/O error of reading it.
    pub fn mounts(&self) -> io::Result<Vec<MountEntry>> {
        self.read("/proc/mounts").map(|text| parse_mounts(&text))
    }

    /// The mounts of the reading process's namespace, `/proc/self/mountinfo`.
    ///
    /// Fails with the I/O error of reading it.
    pub fn mountinfo(&self) -> io::Result<Vec<MountInfo>> {
        self.read("/proc/self/mountinfo")
            .map(|text| parse_mountinfo(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_are_mapped_under_the_root() {
        let root = HostRoot::at("/fixture");
        assert_eq!(
            root.path("/proc/mounts"),
            PathBuf::from("/fixture/proc/mounts")
        );
        assert_eq!(root.path("proc/x"), PathBuf::from("/fixture/proc/x"));
    }

    #[test]
    fn the_tables_are_read_from_under_the_root() {
        let dir = crate::fixture::files(&[
            ("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"),
            (
                "/proc/self/mountinfo",
                "1 0 0:1 /sub /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            ),
        ]);
        let root = HostRoot::at(dir.path());
        let mounts = root.mounts().expect("mounts readable");
        assert_eq!(mounts[0].fstype, "cgroup2");
        let info = root.mountinfo().expect("mountinfo readable");
        assert_eq!(info[0].root, Path::new("/sub"));
        let missing = HostRoot::at(dir.path().join("nowhere"));
        assert_eq!(
            missing.mounts().expect_err("no table").kind(),
            io::ErrorKind::NotFound
        );
    }
}
