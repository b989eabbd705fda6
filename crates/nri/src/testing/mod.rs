//! A runtime-side NRI peer for tests: accepts a plugin and drives it the way
//! containerd does, without containerd.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nri::testing::{PeerConfig, TestRuntime};
//! use nri::{Event, PodSandbox};
//!
//! let runtime = TestRuntime::bind("/tmp/test-nri.sock", PeerConfig::default())?;
//! // ... start the plugin's Runner against runtime.socket_path() ...
//! let plugin = runtime.accept().await?; // RegisterPlugin + Configure
//! assert_eq!(plugin.registration().name, "my-plugin");
//! plugin.synchronize(vec![], vec![]).await?;
//! let pod = PodSandbox { id: "pod-1".into(), ..Default::default() };
//! plugin.event(Event::RunPodSandbox, &pod, None).await?;
//! # Ok(()) }
//! ```
//!
//! What it mirrors from containerd's NRI adaptation: it waits for
//! `RegisterPlugin` (validating name and index) within the registration
//! timeout, then calls `Configure` and rejects masks with bits the emulated
//! runtime does not know; `Synchronize` can be split into chunks and the
//! plugin must answer non-final chunks with `more` and no updates; every
//! call has the request timeout, and a plugin that misses it (or whose
//! connection fails) is dropped. [`RuntimeMode`] selects between
//! containerd 2.1's event delivery (nri v0.8) and that of newer runtimes.

mod connection;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tokio::net::UnixListener;
use ttrpc::Code;

pub use connection::PluginConnection;

use crate::error::MuxError;
use crate::events::EventMask;

/// The fully qualified name of the plugin's ttrpc service.
pub const PLUGIN_SERVICE: &str = "nri.pkg.api.v1alpha1.Plugin";

/// Which runtime generation the peer emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeMode {
    /// containerd 2.0/2.1 (nri v0.8): only Create/Update/StopContainer have
    /// their own methods, every other event goes through `StateChange`;
    /// accepts mask bits within `0x7ff`; sends no NRI version.
    NriV0_8,
    /// A runtime built with nri v0.12: one method per event, falling back to
    /// `StateChange` when the plugin answers UNIMPLEMENTED; accepts mask
    /// bits within `0x3fff`; announces its NRI version.
    NriV0_12,
}

impl RuntimeMode {
    /// Event mask bits this runtime accepts.
    pub fn accepted_events(self) -> EventMask {
        match self {
            RuntimeMode::NriV0_8 => EventMask::NRI_V0_8,
            RuntimeMode::NriV0_12 => EventMask::NRI_V0_10,
        }
    }

    /// The NRI version announced in `Configure`.
    pub fn nri_version(self) -> &'static str {
        match self {
            RuntimeMode::NriV0_8 => "",
            RuntimeMode::NriV0_12 => "v0.12.2",
        }
    }
}

/// How the peer behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Runtime generation to emulate.
    pub mode: RuntimeMode,
    /// `runtime_name` sent in `Configure`.
    pub runtime_name: String,
    /// `runtime_version` sent in `Configure`.
    pub runtime_version: String,
    /// Plugin configuration text sent in `Configure`.
    pub plugin_config: String,
    /// How long to wait for `RegisterPlugin` after accepting.
    pub registration_timeout: Duration,
    /// How long each call to the plugin may take.
    pub request_timeout: Duration,
    /// Largest number of pods (and of containers) per `Synchronize`
    /// message; `None` sends everything at once.
    pub sync_chunk_size: Option<usize>,
}

impl Default for PeerConfig {
    /// containerd 2.1.9 with its default timeouts (5 s, 2 s).
    fn default() -> Self {
        PeerConfig {
            mode: RuntimeMode::NriV0_8,
            runtime_name: "containerd".into(),
            runtime_version: "v2.1.9".into(),
            plugin_config: String::new(),
            registration_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            sync_chunk_size: None,
        }
    }
}

/// What the plugin registered as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Plugin name.
    pub name: String,
    /// Two-digit index.
    pub idx: String,
}

/// How [`PluginConnection::event`] delivered an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The plugin did not subscribe to it; nothing was sent.
    NotSubscribed,
    /// Through the event's own method.
    Method,
    /// Through `StateChange` (nri v0.8 delivery).
    StateChange,
    /// The event's own method answered UNIMPLEMENTED, then `StateChange`.
    FallbackToStateChange,
}

/// Errors of the test peer.
#[derive(Debug, Error)]
pub enum PeerError {
    /// Socket I/O failed.
    #[error("I/O error on the runtime socket")]
    Io(#[from] io::Error),
    /// Setting up the multiplexer failed.
    #[error("multiplexer setup failed")]
    Mux(#[source] MuxError),
    /// Setting up ttrpc failed.
    #[error("ttrpc setup failed")]
    Ttrpc(#[source] ttrpc::Error),
    /// The plugin did not call `RegisterPlugin` in time.
    #[error("the plugin did not register within {0:?}")]
    RegistrationTimeout(Duration),
    /// The plugin registered with an invalid name or index.
    #[error("registration rejected: {0}")]
    RegistrationRejected(String),
    /// The plugin subscribed to events the emulated runtime does not know;
    /// the plugin was dropped.
    #[error("the plugin subscribed to unknown events {extra} (mask {mask:#x}); dropped it")]
    InvalidEvents {
        /// The mask the plugin sent.
        mask: u32,
        /// The bits the runtime does not know.
        extra: EventMask,
    },
    /// The plugin did not answer in time; it was dropped.
    #[error("{method} got no answer within {timeout:?}; dropped the plugin")]
    Timeout {
        /// The method called.
        method: String,
        /// The request timeout.
        timeout: Duration,
    },
    /// The plugin answered with an error status.
    #[error("{method} failed with {code:?}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// The ttrpc status code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// The connection failed during the call; the plugin was dropped.
    #[error("{method}: the connection to the plugin failed: {reason}")]
    Disconnected {
        /// The method called.
        method: String,
        /// What failed.
        reason: String,
    },
    /// The plugin's answer is not a valid protobuf message of the expected
    /// type.
    #[error("{method}: cannot decode the plugin's answer")]
    Decode {
        /// The method called.
        method: String,
        /// The decoding error.
        #[source]
        source: protobuf::Error,
    },
    /// The plugin answered a non-final `Synchronize` chunk wrongly; it was
    /// dropped.
    #[error("the plugin does not handle split Synchronize requests: {0}")]
    SplitSync(String),
    /// The request cannot be sent as asked.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// A listening runtime socket.
#[derive(Debug)]
pub struct TestRuntime {
    listener: UnixListener,
    path: PathBuf,
    config: PeerConfig,
}

impl TestRuntime {
    /// Listens on `path` (replacing a stale socket file).
    ///
    /// # Errors
    ///
    /// Binding failed.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn bind(path: impl Into<PathBuf>, config: PeerConfig) -> io::Result<Self> {
        let path = path.into();
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        let listener = UnixListener::bind(&path)?;
        Ok(TestRuntime {
            listener,
            path,
            config,
        })
    }

    /// The socket path.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// The peer configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Accepts the next plugin and completes registration and `Configure`.
    /// Waits for a connection without limit (wrap it in a timeout).
    ///
    /// # Errors
    ///
    /// See [`PluginConnection::handshake`].
    pub async fn accept(&self) -> Result<PluginConnection, PeerError> {
        let (stream, _) = self.listener.accept().await?;
        PluginConnection::handshake(stream, self.config.clone()).await
    }

    /// Stops listening and listens again on the same path, as a restarted
    /// runtime does. Drop the [`PluginConnection`]s first to emulate the
    /// old runtime going away.
    ///
    /// # Errors
    ///
    /// Binding failed.
    pub fn restart(self) -> io::Result<Self> {
        let path = self.path.clone();
        let config = self.config.clone();
        drop(self);
        TestRuntime::bind(path, config)
    }
}

impl Drop for TestRuntime {
    fn drop(&mut self) {
        // Connection attempts must fail while "the runtime is down".
        let _ = std::fs::remove_file(&self.path);
    }
}
