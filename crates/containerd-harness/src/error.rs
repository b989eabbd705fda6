//! The crate's error type.
//!
//! A leaf: it names no other module of the crate, so every module can return it without
//! a cycle. Teardown failures carry their report rendered; the structured
//! [`TeardownReport`](crate::TeardownReport) is what teardown returns.

use std::path::PathBuf;
use std::time::Duration;

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
    /// The harness runs without root, which containerd needs.
    #[error(
        "the containerd harness needs root (containerd mounts, creates cgroups and runs runc); run the suite as root"
    )]
    NotRoot,
    /// A file-system or process operation failed.
    #[error("{context}")]
    Io {
        /// What was being done, with the path involved.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path the harness writes into containerd's configuration is not UTF-8.
    #[error("path {} is not valid UTF-8; use a run directory with a UTF-8 path", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// A socket path is longer than a Unix socket address allows.
    #[error(
        "socket path {} is {len} bytes, longer than the {max} a Unix socket allows; use a shorter run directory",
        socket.display()
    )]
    SocketPathTooLong {
        /// The socket path.
        socket: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The longest path that can be bound.
        max: usize,
    },
    /// A pod or container name that would not make one plain path component.
    #[error("{what} {value:?} must be 1-128 characters of [A-Za-z0-9._-]")]
    BadName {
        /// What the name is for (`pod name`, `container name`...).
        what: &'static str,
        /// The name given.
        value: String,
    },
    /// An external program (ctr, busybox) failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status and the end of its stderr.
        detail: String,
    },
    /// The busybox binary has no shell, which the images' entry points need.
    #[error(
        "{} --list shows no `sh` applet; point NRI_E2E_BUSYBOX at a static busybox with a shell",
        busybox.display()
    )]
    BusyboxWithoutShell {
        /// The busybox binary.
        busybox: PathBuf,
    },
    /// Building image metadata or reading containerd's JSON failed.
    #[error("{what} is not valid JSON")]
    Json {
        /// The document, e.g. `the image manifest`.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
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
    /// An image the harness imported is not listed by containerd afterwards.
    #[error("image {image} missing after import; containerd has: {present:?}")]
    ImageMissing {
        /// The image name.
        image: String,
        /// The images containerd lists.
        present: Vec<String>,
    },
    /// The private containerd is not running (it was never started, or was shut down).
    #[error("the private containerd is not running")]
    NotRunning,
    /// Connecting to the CRI socket failed.
    #[error("connecting to CRI at {}", socket.display())]
    Connect {
        /// The gRPC socket.
        socket: PathBuf,
        /// The transport error.
        #[source]
        source: Box<tonic::transport::Error>,
    },
    /// A CRI method name does not make a valid request path.
    #[error("bad CRI method name {method:?}")]
    BadMethod {
        /// The method name.
        method: &'static str,
        /// Why it is not a valid path.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// A CRI call returned an error status.
    #[error("CRI {method}: {status}")]
    Cri {
        /// The RPC method name, e.g. `RunPodSandbox`.
        method: &'static str,
        /// The status returned by containerd (boxed: it is large).
        status: Box<tonic::Status>,
    },
    /// A pod id the harness did not create (it keeps each pod's configuration).
    #[error("pod {pod} was not run through this harness; run it with `Cri::run_pod`")]
    UnknownPod {
        /// The pod sandbox id.
        pod: String,
    },
    /// A verbose `ContainerStatus` lacks what the harness reads from it.
    #[error("verbose ContainerStatus of container {container} {missing}")]
    StatusIncomplete {
        /// The container id, or `?` where the caller did not name it.
        container: String,
        /// What is missing, e.g. `has no "info" entry`.
        missing: String,
    },
    /// The container has no process (it is not running).
    #[error("container {container} has no process (state {state})")]
    NoProcess {
        /// The container id.
        container: String,
        /// Its CRI state.
        state: String,
    },
    /// The container's cgroup did not reach the expected number of threads in time.
    #[error(
        "container {container} has {} threads after {waited:?}, expected at least {min}: {threads:?}",
        threads.len()
    )]
    TooFewThreads {
        /// The container id.
        container: String,
        /// The thread ids found last.
        threads: Vec<u32>,
        /// The number expected.
        min: usize,
        /// How long the harness waited.
        waited: Duration,
    },
    /// No mounted cgroup hierarchy holds any of a process's cgroups.
    #[error("no mounted cgroup hierarchy matches /proc/{pid}/cgroup:\n{proc_cgroup}")]
    NoCgroupHierarchy {
        /// The process.
        pid: u32,
        /// The text of its `/proc/<pid>/cgroup`.
        proc_cgroup: String,
    },
    /// A process's cgroup lies outside the subtree mounted in this namespace.
    #[error(
        "cgroup {cgroup} of pid {pid} is outside the mount {} (root {}); mount the host's cgroup file system from its top",
        mount_point.display(),
        root.display()
    )]
    CgroupOutsideMount {
        /// The process.
        pid: u32,
        /// Its cgroup path.
        cgroup: String,
        /// The hierarchy's mount point.
        mount_point: PathBuf,
        /// The subtree mounted there.
        root: PathBuf,
    },
    /// Some directories of a cgroup could not be removed.
    #[error("removing cgroup {path}: {}", failures.join("; "))]
    CgroupRemoval {
        /// The cgroup path.
        path: String,
        /// One line per directory that stayed.
        failures: Vec<String>,
    },
    /// A blocking task of the harness panicked or was cancelled.
    #[error("the {what} task failed")]
    Task {
        /// What the task did.
        what: &'static str,
        /// Its join error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Teardown could not remove everything, or a step of it failed.
    #[error("teardown incomplete:\n{report}")]
    Teardown {
        /// The teardown report, rendered.
        report: String,
    },
    /// [`crate::cleanup_run_dir`] left something behind in at least one directory.
    #[error("cleanup of leftover containerd directories incomplete:\n{reports}")]
    CleanupIncomplete {
        /// The reports of the directories not cleaned, rendered.
        reports: String,
    },
}

/// Builds a closure that wraps an [`std::io::Error`] with context, for `map_err`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_once() {
        let source = std::fs::read("/nonexistent/containerd.toml").expect_err("no such file");
        let err = io_err("reading /nonexistent/containerd.toml")(source);
        let text = cause_chain::render(&err);
        assert_eq!(
            text.matches("No such file or directory").count(),
            1,
            "{text}"
        );
        assert!(
            text.starts_with("reading /nonexistent/containerd.toml: "),
            "{text}"
        );
    }
}
