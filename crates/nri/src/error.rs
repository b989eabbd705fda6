//! Error types of the multiplexer, the plugin stub and plugin handlers.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

/// Why the multiplexer refused an operation or closed.
///
/// Cloneable so that every waiter on a closed multiplexer gets the reason.
#[derive(Debug, Clone, Error)]
pub enum MuxError {
    /// Connection id 0 is reserved by the protocol.
    #[error("connection id 0 is reserved")]
    ReservedConnId,
    /// The connection id is already open on this multiplexer.
    #[error("connection id {0} is already open")]
    DuplicateConnId(u32),
    /// A received frame announced a payload larger than the protocol allows.
    #[error(
        "received a frame for connection {conn} announcing {len} bytes, more than the {max} allowed"
    )]
    Oversized {
        /// Connection id in the frame header.
        conn: u32,
        /// Announced payload length.
        len: u32,
        /// Largest payload accepted.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("the connection ended in the middle of a frame ({got} of {expected} bytes received)")]
    Truncated {
        /// Bytes of the frame (header and payload) that were expected.
        expected: usize,
        /// Bytes that arrived before the end of the stream.
        got: usize,
    },
    /// Reading from or writing to the underlying stream failed.
    #[error("I/O error on the multiplexed connection")]
    Io(#[source] Arc<io::Error>),
    /// The peer closed the stream (at a frame boundary).
    #[error("the peer closed the connection")]
    PeerClosed,
    /// This side closed the multiplexer.
    #[error("the multiplexer was closed")]
    Closed,
}

impl From<io::Error> for MuxError {
    fn from(err: io::Error) -> Self {
        MuxError::Io(Arc::new(err))
    }
}

/// An invalid plugin configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The plugin name is empty.
    #[error("invalid plugin name: the name is empty")]
    EmptyName,
    /// The plugin name contains a character the runtime does not accept.
    #[error(
        "invalid plugin name {name:?}: {ch:?} is not allowed (letters, digits and - _ . + are)"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The plugin index is not exactly two decimal digits.
    #[error("invalid plugin index {idx:?}: it must be exactly two digits (00-99)")]
    InvalidIndex {
        /// The rejected index.
        idx: String,
    },
    /// `NRI_PLUGIN_SOCKET` does not hold a file descriptor number.
    #[error("invalid NRI_PLUGIN_SOCKET={value:?}: expected a file descriptor number")]
    InvalidSocketEnv {
        /// The rejected value.
        value: String,
    },
}

/// Why a plugin's connection to the runtime failed or ended.
#[derive(Debug, Error)]
pub enum StubError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Connecting to the runtime's NRI socket failed.
    #[error("cannot connect to the NRI socket {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The socket inherited from the runtime (`NRI_PLUGIN_SOCKET`) is
    /// unusable or was already used by an earlier session.
    #[error("cannot use the inherited NRI socket (fd {fd})")]
    InheritedSocket {
        /// The file descriptor number.
        fd: i32,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Setting up the multiplexer failed.
    #[error("multiplexer setup failed")]
    Mux(#[source] MuxError),
    /// Setting up the ttrpc server failed.
    #[error("ttrpc setup failed")]
    Ttrpc(#[source] ttrpc::Error),
    /// The runtime refused or failed the `RegisterPlugin` call.
    #[error("RegisterPlugin failed")]
    Register(#[source] ttrpc::Error),
    /// The runtime did not answer `RegisterPlugin` in time.
    #[error("RegisterPlugin got no answer within {0:?}")]
    RegistrationTimeout(Duration),
    /// The runtime did not call `Configure` in time after registration.
    #[error("the runtime did not call Configure within {0:?} of registration")]
    NotConfigured(Duration),
    /// The plugin's `configure` failed, or it subscribed to nothing the
    /// runtime supports.
    #[error("configuration failed: {0}")]
    Configure(String),
    /// The connection to the runtime closed (the runtime dropped the plugin,
    /// restarted, or sent something that broke the protocol).
    #[error("connection to the runtime closed")]
    ConnectionClosed(#[source] MuxError),
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error a plugin handler returns. The runtime receives its message
/// (with its sources) as the RPC error. For `CreateContainer`,
/// `StartContainer` and `RunPodSandbox` this fails the runtime's operation;
/// for other events the runtime only logs it.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct HandlerError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl HandlerError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        HandlerError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The message and every source, joined by `: `; what the runtime sees.
    pub fn chain(&self) -> String {
        cause_chain::render(self)
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        HandlerError::new(message)
    }
}

impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        HandlerError::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_error_chain_includes_sources() {
        let err = HandlerError::with_source("creating group", io::Error::other("ENOSPC"));
        assert_eq!(err.to_string(), "creating group");
        assert_eq!(err.chain(), "creating group: ENOSPC");
    }
}
