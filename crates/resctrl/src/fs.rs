//! The file-system boundary: [`FsProvider`] and its real implementation [`RealFs`].
//!
//! The trait is deliberately small and returns raw [`std::io::Error`]s: the resctrl
//! logic above it classifies errors (it knows the path and the operation), and a fake
//! only has to reproduce the kernel's errnos.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use rustix::fs::{Access, AtFlags, CWD};
use rustix::io::Errno;
use rustix::mount::MountFlags;

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's file name (not the full path).
    pub name: OsString,
    /// Whether the entry is a directory (resctrl groups are directories).
    pub is_dir: bool,
}

/// Everything this crate does to the file system.
///
/// Implemented by [`RealFs`] for the kernel and by `FakeResctrl` (feature `fake`) for
/// tests. Implementations return the OS error unchanged so that callers can classify it.
pub trait FsProvider {
    /// Reads a whole file as UTF-8 text.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;

    /// Writes `data` to an existing file in one `write(2)` call (no create, no
    /// truncate). resctrl parses each write separately, e.g. one thread id per write to
    /// `tasks`.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;

    /// Creates one directory (`mkdir(2)`, parent must exist).
    fn create_dir(&self, path: &Path) -> io::Result<()>;

    /// Removes one directory (`rmdir(2)`). resctrl removes a group with its files.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;

    /// Lists a directory, without `.` and `..`, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;

    /// Whether the caller may write to `path` (`faccessat(2)` with `W_OK`, using the
    /// effective ids). `Ok(false)` for EACCES/EPERM/EROFS; other errors are returned.
    fn is_writable(&self, path: &Path) -> io::Result<bool>;

    /// Mounts the resctrl file system at `target` (`mount -t resctrl resctrl <target>`).
    fn mount_resctrl(&self, target: &Path) -> io::Result<()>;
}

/// The real kernel: plain system calls, no shelling out.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FsProvider for RealFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        // resctrl's files hold a few bytes, read thousands of times a second by a
        // sampler: skip the size query (statx and lseek) `fs::read_to_string` makes
        // before reading, a third of the system calls of each read.
        let mut file = fs::File::open(path)?;
        let mut text = String::new();
        io::Read::read_to_string(&mut io::Read::take(&mut file, u64::MAX), &mut text)?;
        Ok(text)
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut file = fs::OpenOptions::new().write(true).open(path)?;
        // kernfs hands the whole buffer to resctrl in one call for small writes; a short
        // write would be a kernel oddity, reported rather than silently split.
        let written = file.write(data)?;
        if written == data.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {} bytes", data.len()),
            ))
        }
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        fs::read_dir(path)?
            .map(|entry| {
                let entry = entry?;
                Ok(DirEntry {
                    name: entry.file_name(),
                    is_dir: entry.file_type()?.is_dir(),
                })
            })
            .collect()
    }

    fn is_writable(&self, path: &Path) -> io::Result<bool> {
        // AT_EACCESS: check with the effective ids, the ones mkdir/write will use.
        match rustix::fs::accessat(CWD, path, Access::WRITE_OK, AtFlags::EACCESS) {
            Ok(()) => Ok(true),
            Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn mount_resctrl(&self, target: &Path) -> io::Result<()> {
        rustix::mount::mount("resctrl", target, "resctrl", MountFlags::empty(), None)
            .map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory under the system temp dir, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("resctrl-fs-test-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn real_fs_round_trips_on_a_plain_directory() {
        let s = Scratch::new("roundtrip");
        let fs_ = RealFs;
        let dir = s.0.join("g");
        fs_.create_dir(&dir).expect("mkdir");
        assert_eq!(
            fs_.create_dir(&dir).map_err(|e| e.kind()),
            Err(io::ErrorKind::AlreadyExists)
        );
        let file = s.0.join("f");
        fs::write(&file, "old contents").expect("seed");
        fs_.write(&file, b"new").expect("write");
        // No truncate: like a sysfs attribute, the rest of the old contents stays.
        assert_eq!(fs_.read_to_string(&file).expect("read"), "new contents");
        let mut entries = fs_.read_dir(&s.0).expect("list");
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            entries,
            vec![
                DirEntry {
                    name: "f".into(),
                    is_dir: false
                },
                DirEntry {
                    name: "g".into(),
                    is_dir: true
                },
            ]
        );
        assert!(fs_.is_writable(&s.0).expect("access"));
        fs_.remove_dir(&dir).expect("rmdir");
        assert_eq!(
            fs_.remove_dir(&dir).map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        );
        // write never creates a file.
        assert_eq!(
            fs_.write(&s.0.join("missing"), b"1").map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn real_fs_is_writable_reports_missing_paths_as_errors() {
        let s = Scratch::new("access");
        let err = RealFs
            .is_writable(&s.0.join("missing"))
            .expect_err("a missing path is an error, not 'not writable'");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
