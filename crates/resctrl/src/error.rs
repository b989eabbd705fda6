//! Classified errors.
//!
//! Every error that comes from the file system keeps the operation, the path and the
//! original [`std::io::Error`] (reachable through [`std::error::Error::source`], so it is
//! not repeated in the message). The variant tells callers what they can do about it: a
//! plugin retries on [`Error::Capacity`], gives up with a clear reason on
//! [`Error::NoPermission`] or [`Error::Unsupported`], and treats [`Error::Io`] as a bug or
//! a race.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file-system operation that failed; used in messages and in classification
/// (the same errno means different things for different operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Reading a file.
    Read,
    /// Writing a file (e.g. a thread id to `tasks`).
    Write,
    /// Creating a directory (a resctrl group).
    CreateDir,
    /// Removing a directory (a resctrl group).
    RemoveDir,
    /// Listing a directory.
    ListDir,
    /// Checking whether a path is writable.
    CheckAccess,
    /// Mounting the resctrl file system.
    Mount,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Read => "read",
            Op::Write => "write to",
            Op::CreateDir => "create",
            Op::RemoveDir => "remove",
            Op::ListDir => "list",
            Op::CheckAccess => "check access to",
            Op::Mount => "mount resctrl at",
        })
    }
}

/// Errors of the resctrl crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// resctrl is not mounted at the configured root.
    #[error(
        "resctrl is not mounted at {}: mount it with `mount -t resctrl resctrl {}` or enable auto_mount",
        root.display(),
        root.display()
    )]
    NotMounted {
        /// The configured resctrl root.
        root: PathBuf,
    },

    /// EACCES or EPERM.
    #[error(
        "permission denied: cannot {op} {}: resctrl needs root (CAP_SYS_ADMIN to mount, write access to the resctrl tree otherwise); run as root or grant those rights",
        path.display()
    )]
    NoPermission {
        /// What was attempted.
        op: Op,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },

    /// ENOSPC (or EBUSY on mkdir): no free monitoring IDs (RMIDs) or, for a control
    /// group, class IDs (CLOSIDs).
    #[error(
        "no free RMIDs: cannot {op} {}: every monitoring ID (or, for a control group, every CLOSID) is in use or still draining after removal; remove unused groups (e.g. stale prefixed groups with cleanup) and retry",
        path.display()
    )]
    Capacity {
        /// What was attempted.
        op: Op,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },

    /// ENODEV, ENOTSUP/EOPNOTSUPP, or EINVAL on mount: the kernel or CPU lacks the feature.
    #[error(
        "resctrl is not supported here: cannot {op} {}: the kernel lacks resctrl (CONFIG_X86_CPU_RESCTRL) or the CPU lacks RDT monitoring (look for rdt_a/cqm_* in /proc/cpuinfo flags)",
        path.display()
    )]
    Unsupported {
        /// What was attempted.
        op: Op,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },

    /// Any other I/O error.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was attempted.
        op: Op,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },

    /// A caller-supplied argument or configuration value is unusable.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong and what was expected.
        reason: String,
    },

    /// The task id source of a reconciliation returned no ids.
    #[error(
        "no thread ids to place in {}: the id source returned none (the pod's containers may have exited)",
        path.display()
    )]
    NoTaskIds {
        /// The group being reconciled.
        path: PathBuf,
    },

    /// The task id source of a reconciliation failed.
    #[error("cannot get the thread ids to place in {}", path.display())]
    TaskIdSource {
        /// The group being reconciled.
        path: PathBuf,
        /// The id source's error.
        source: io::Error,
    },
}

impl Error {
    /// Classifies an I/O error from operation `op` on `path`.
    ///
    /// EACCES/EPERM → [`Error::NoPermission`]; ENOSPC → [`Error::Capacity`], and so is
    /// EBUSY from mkdir (kernels since 6.8 return it when the only free RMIDs are still
    /// "dirty", i.e. in limbo); ENODEV and ENOTSUP/EOPNOTSUPP → [`Error::Unsupported`], and
    /// so is EINVAL from mount (the file system type is unknown or rejects the request);
    /// everything else → [`Error::Io`].
    pub fn classify(op: Op, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match Errno::from_io_error(&source) {
            Some(Errno::ACCESS | Errno::PERM) => Error::NoPermission { op, path, source },
            Some(Errno::NOSPC) => Error::Capacity { op, path, source },
            Some(Errno::BUSY) if op == Op::CreateDir => Error::Capacity { op, path, source },
            Some(Errno::NODEV | Errno::NOTSUP) => Error::Unsupported { op, path, source },
            Some(Errno::INVAL) if op == Op::Mount => Error::Unsupported { op, path, source },
            _ => Error::Io { op, path, source },
        }
    }

    /// The path the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::NotMounted { root } => Some(root),
            Error::NoPermission { path, .. }
            | Error::Capacity { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Io { path, .. }
            | Error::NoTaskIds { path }
            | Error::TaskIdSource { path, .. } => Some(path),
            Error::InvalidArgument { .. } => None,
        }
    }

    /// The underlying OS error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::NoPermission { source, .. }
            | Error::Capacity { source, .. }
            | Error::Unsupported { source, .. }
            | Error::Io { source, .. }
            | Error::TaskIdSource { source, .. } => Some(source),
            Error::NotMounted { .. } | Error::InvalidArgument { .. } | Error::NoTaskIds { .. } => {
                None
            }
        }
    }

    /// True for [`Error::Capacity`]: retrying after groups are removed may succeed.
    pub fn is_capacity(&self) -> bool {
        matches!(self, Error::Capacity { .. })
    }

    /// True when the OS reported ENOENT (the path does not exist).
    pub fn is_not_found(&self) -> bool {
        self.io_error()
            .is_some_and(|e| Errno::from_io_error(e) == Some(Errno::NOENT))
    }
}

/// The errno of an I/O error, if it carries one.
pub(crate) fn errno(err: &io::Error) -> Option<Errno> {
    Errno::from_io_error(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }

    #[test]
    fn classify_maps_errnos_to_variants() {
        let p = "/sys/fs/resctrl/mon_groups/pod_x";
        assert!(matches!(
            Error::classify(Op::CreateDir, p, os(Errno::ACCESS)),
            Error::NoPermission { .. }
        ));
        assert!(matches!(
            Error::classify(Op::Write, p, os(Errno::PERM)),
            Error::NoPermission { .. }
        ));
        assert!(matches!(
            Error::classify(Op::CreateDir, p, os(Errno::NOSPC)),
            Error::Capacity { .. }
        ));
        assert!(matches!(
            Error::classify(Op::CreateDir, p, os(Errno::BUSY)),
            Error::Capacity { .. }
        ));
        // EBUSY elsewhere (e.g. rmdir of a mount point) is not about capacity.
        assert!(matches!(
            Error::classify(Op::RemoveDir, p, os(Errno::BUSY)),
            Error::Io { .. }
        ));
        for e in [Errno::NODEV, Errno::NOTSUP, Errno::OPNOTSUPP] {
            assert!(matches!(
                Error::classify(Op::Mount, p, os(e)),
                Error::Unsupported { .. }
            ));
        }
        assert!(matches!(
            Error::classify(Op::Mount, p, os(Errno::INVAL)),
            Error::Unsupported { .. }
        ));
        // EINVAL on a write means a malformed value, not missing support.
        assert!(matches!(
            Error::classify(Op::Write, p, os(Errno::INVAL)),
            Error::Io { .. }
        ));
        assert!(matches!(
            Error::classify(Op::Read, p, os(Errno::IO)),
            Error::Io { .. }
        ));
    }

    #[test]
    fn classified_errors_keep_path_and_source() {
        let err = Error::classify(Op::CreateDir, "/r/mon_groups/pod_a", os(Errno::NOSPC));
        assert_eq!(err.path(), Some(Path::new("/r/mon_groups/pod_a")));
        assert_eq!(
            err.io_error().and_then(io::Error::raw_os_error),
            Some(Errno::NOSPC.raw_os_error())
        );
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source, Some(os(Errno::NOSPC).to_string()));
        assert!(err.is_capacity());
        assert!(!err.is_not_found());
        assert!(Error::classify(Op::Read, "/x", os(Errno::NOENT)).is_not_found());
    }

    #[test]
    fn a_missing_file_renders_the_os_message_once() {
        let path = "/nonexistent/resctrl/info/L3_MON/num_rmids";
        let source = std::fs::read_to_string(path).expect_err("no such file");
        let text = cause_chain::render(&Error::classify(Op::Read, path, source));
        assert_eq!(
            text.matches("No such file or directory").count(),
            1,
            "{text}"
        );
        assert!(text.starts_with(&format!("cannot read {path}: ")), "{text}");
    }

    #[test]
    fn messages_say_what_where_and_what_to_do() {
        let msg = Error::NotMounted {
            root: "/sys/fs/resctrl".into(),
        }
        .to_string();
        assert!(
            msg.contains("mount -t resctrl resctrl /sys/fs/resctrl"),
            "{msg}"
        );
        assert!(msg.contains("auto_mount"), "{msg}");

        let msg =
            Error::classify(Op::CreateDir, "/r/mon_groups/pod_a", os(Errno::NOSPC)).to_string();
        assert!(msg.starts_with("no free RMIDs"), "{msg}");
        assert!(msg.contains("create /r/mon_groups/pod_a"), "{msg}");
        assert!(msg.contains("remove unused groups"), "{msg}");

        let msg = Error::classify(Op::Write, "/r/tasks", os(Errno::ACCESS)).to_string();
        assert!(msg.contains("write to /r/tasks"), "{msg}");
        assert!(msg.contains("run as root"), "{msg}");

        let msg = Error::classify(Op::Mount, "/r", os(Errno::NODEV)).to_string();
        assert!(msg.contains("mount resctrl at /r"), "{msg}");
        assert!(msg.contains("CONFIG_X86_CPU_RESCTRL"), "{msg}");
    }
}
