//! The collector library's errors.
//!
//! Each message says what failed, where, and what to do; the cause is the `source`, never
//! repeated in the message (render a chain with `cause_chain`).

use std::io;
use std::path::PathBuf;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the collector library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output directory cannot be created or written.
    #[error(
        "cannot write to the output directory {}: create it and make it writable by this user, or pass another --output",
        dir.display()
    )]
    OutputDir {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        source: io::Error,
    },

    /// A file of the output could not be written, synced, renamed or removed.
    #[error("cannot {action} {}: check free space and permissions there", path.display())]
    Io {
        /// What was being done (`write`, `sync`, `rename`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },

    /// Rows could not be encoded or decoded as Arrow (a spool or a batch).
    #[error("cannot {action} the Arrow rows of {}", path.display())]
    Arrow {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Arrow's error.
        source: arrow_schema::ArrowError,
    },

    /// Rows could not be written as Parquet.
    #[error("cannot write Parquet file {}", path.display())]
    Parquet {
        /// The (temporary) file.
        path: PathBuf,
        /// The Parquet writer's error.
        source: parquet::errors::ParquetError,
    },

    /// resctrl cannot be used for monitoring at the configured root.
    #[error(
        "resctrl at {} cannot be used for monitoring: {problems}; fix that (--auto-mount mounts it), or point --resctrl-root at a resctrl mount (or a stand-in)",
        root.display()
    )]
    ResctrlUnusable {
        /// The resctrl root.
        root: PathBuf,
        /// What is missing, as the resctrl crate reports it.
        problems: String,
    },

    /// resctrl could not be probed.
    #[error("cannot check resctrl support")]
    Resctrl(#[source] resctrl::Error),

    /// A configuration value is unusable.
    #[error("invalid {name} {value:?}: use {expected}")]
    InvalidConfig {
        /// The setting, named by its flag.
        name: &'static str,
        /// Its value.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },

    /// No cgroup hierarchy where container threads would be read.
    #[error(
        "no cgroup hierarchy under {} to read container threads from: pass --cgroup-root where the cgroup file systems are mounted",
        root.display()
    )]
    Cgroups {
        /// The configured cgroup root.
        root: PathBuf,
        /// What the detection found.
        source: io::Error,
    },

    /// The NRI plugin could not be started or failed.
    #[error("the resctrl NRI plugin failed")]
    Plugin(#[source] nri_resctrl_plugin::AdapterError),

    /// The object store could not be configured.
    #[error(
        "cannot use the object store {url}: check the AWS_* environment variables (AWS_REGION, AWS_ENDPOINT_URL, credentials)"
    )]
    ObjectStore {
        /// The `--output` URL.
        url: String,
        /// object_store's error.
        source: StoreError,
    },

    /// A completed file could not be uploaded; it stays in the spool and is retried.
    #[error("cannot upload {} to {url}: {hint}; the file stays spooled and is retried", file.display())]
    Upload {
        /// The local file.
        file: PathBuf,
        /// The `--output` URL.
        url: String,
        /// What to check, by the store's answer.
        hint: &'static str,
        /// object_store's error.
        source: StoreError,
    },

    /// The HTTP server of the probes and metrics could not listen.
    #[error("cannot listen on {addr} for /healthz, /readyz and /metrics: pass another --listen")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the socket said.
        source: io::Error,
    },

    /// The sampling thread could not be started, or it panicked.
    #[error("the sampling thread {what}")]
    Thread {
        /// `could not be started` or `panicked`.
        what: &'static str,
    },
}

/// An `object_store` error, whose message already includes each of its causes: shown as
/// that message alone, with no further source, so a rendered chain says each cause once.
/// Boxed: the error is large, and rare.
#[derive(Debug)]
pub struct StoreError(pub Box<object_store::Error>);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {}

impl From<object_store::Error> for StoreError {
    fn from(error: object_store::Error) -> Self {
        StoreError(Box::new(error))
    }
}
