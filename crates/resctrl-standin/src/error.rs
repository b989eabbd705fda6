//! The stand-in's error type: what failed while mounting or unmounting, where, and what to
//! do about it.

use std::io;
use std::path::PathBuf;

/// A failure of [`crate::Standin::mount`] or [`crate::StandinHandle::unmount`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The FUSE device cannot be opened: no FUSE on this host, or no permission.
    #[error(
        "cannot open the FUSE device {}: the resctrl stand-in needs FUSE and root (load the `fuse` module; in a container pass `--device /dev/fuse`)",
        path.display()
    )]
    FuseDevice {
        /// The device path (`/dev/fuse`).
        path: PathBuf,
        /// Why it cannot be opened.
        #[source]
        source: io::Error,
    },
    /// The mount point is not an existing directory.
    #[error(
        "cannot use {} as the stand-in's mount point: it must be an existing directory (a dead mount left by a killed stand-in is cleared with `umount -l {}`)",
        path.display(),
        path.display()
    )]
    MountPoint {
        /// The directory as given.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: io::Error,
    },
    /// The kernel refused the FUSE mount.
    #[error(
        "cannot mount the resctrl stand-in at {}: mounting FUSE needs root (CAP_SYS_ADMIN) in this mount namespace",
        mount_point.display()
    )]
    Mount {
        /// Where it was to be mounted.
        mount_point: PathBuf,
        /// The mount's failure.
        #[source]
        source: io::Error,
    },
    /// Neither a plain nor a lazy unmount worked.
    #[error(
        "cannot unmount the resctrl stand-in at {}; clear it by hand with `umount -l {}`",
        mount_point.display(),
        mount_point.display()
    )]
    Unmount {
        /// The mount point.
        mount_point: PathBuf,
        /// The unmount's failure.
        #[source]
        source: io::Error,
    },
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_where_and_what_to_do_without_repeating_the_cause() {
        let err = Error::FuseDevice {
            path: PathBuf::from("/dev/fuse"),
            source: io::Error::from_raw_os_error(2),
        };
        let text = err.to_string();
        assert!(text.contains("/dev/fuse"), "{text}");
        assert!(text.contains("load the `fuse` module"), "{text}");
        assert!(
            !text.contains("No such file"),
            "the source is not repeated: {text}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
