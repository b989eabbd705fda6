//! The crate's error type.

use std::path::PathBuf;

use crate::teardown::TeardownReport;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while provisioning, driving or tearing down containerd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `NRI_E2E_*` environment variable is missing or points at something unusable.
    #[error(
        "{var}: {reason}; run this suite through `cargo xtask nri-e2e`, which provisions containerd"
    )]
    Env {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path involved.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external program (ctr, busybox) failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status and the end of its stderr.
        detail: String,
    },
    /// containerd exited or did not answer in time while starting.
    #[error("containerd is not ready: {reason}\n--- last lines of {} ---\n{tail}", log.display())]
    NotReady {
        /// Why it is considered not ready.
        reason: String,
        /// containerd's log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },
    /// Connecting to the CRI socket failed.
    #[error("connecting to CRI at {}: {source}", socket.display())]
    Connect {
        /// The gRPC socket.
        socket: PathBuf,
        /// The transport error.
        #[source]
        source: Box<tonic::transport::Error>,
    },
    /// A CRI call returned an error status.
    #[error("CRI {method}: {status}")]
    Cri {
        /// The RPC method name, e.g. `RunPodSandbox`.
        method: &'static str,
        /// The status returned by containerd (boxed: it is large).
        status: Box<tonic::Status>,
    },
    /// An argument or a response was not what the harness can work with.
    #[error("{0}")]
    Invalid(String),
    /// Teardown could not remove everything, or a step of it failed.
    #[error("teardown incomplete:\n{0}")]
    Teardown(Box<TeardownReport>),
    /// [`crate::cleanup_run_dir`] left something behind in at least one directory.
    #[error("cleanup of leftover containerd directories incomplete:\n{}", reports_text(.0))]
    CleanupIncomplete(Vec<TeardownReport>),
}

fn reports_text(reports: &[TeardownReport]) -> String {
    reports
        .iter()
        .filter(|r| !r.is_clean())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Builds a closure that wraps an [`std::io::Error`] with context, for `map_err`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
