//! nri-init: enables NRI in a node's containerd (or k3s) configuration, safely.
//!
//! The only crate that writes a node's containerd configuration. It edits structurally
//! (`toml_edit`): only NRI's table, only the keys that must change, in the config format
//! version the file has, read the way the node's containerd reads it ([`dialect`]). The
//! new file is loaded by containerd (`config dump`) before it is installed, is installed
//! with one rename after a backup, and, when asked, containerd is restarted and must come
//! back as a new process whose NRI socket accepts connections; otherwise the backup is
//! put back. A second run changes nothing. The entry point is [`run`]; [`enable`] is the
//! edit alone, and the NRI key names ([`NRI_PLUGIN`], [`KEY_DISABLE`], ...) are the ones
//! every crate here writes.
//!
//! ```
//! use std::path::Path;
//!
//! let text = "version = 2\n\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n";
//! let path = Path::new("/etc/containerd/config.toml");
//! let dialect = nri_init::dialect(path, Some(2), None)?;
//! let edited = nri_init::enable(path, text, &dialect, &nri_init::Settings::default())?;
//! assert_eq!(
//!     edited.text,
//!     "version = 2\n\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = false\n  disable_connections = false\n"
//! );
//! // Idempotent: the result needs no further change.
//! let again = nri_init::enable(path, &edited.text, &dialect, &nri_init::Settings::default())?;
//! assert!(again.is_unchanged());
//! # Ok::<(), nri_init::Error>(())
//! ```

#![warn(missing_docs)]

mod apply;
mod containerd;
mod diff;
mod edit;
mod error;
mod imports;
mod install;
mod k3s;
mod keys;
mod plan;
mod process;
mod report;
mod restart;
mod version;

#[cfg(test)]
mod tests;

pub use apply::{Mode, Options, run};
pub use diff::unified as unified_diff;
pub use edit::{Change, Edited, NriView, Settings, enable, nri_view, parse};
pub use error::{Class, Error, Result};
pub use keys::{
    DEFAULT_SOCKET_PATH, KEY_DISABLE, KEY_DISABLE_CONNECTIONS, KEY_PLUGIN_CONFIG_PATH,
    KEY_PLUGIN_PATH, KEY_PLUGIN_REGISTRATION_TIMEOUT, KEY_PLUGIN_REQUEST_TIMEOUT, KEY_SOCKET_PATH,
    NRI_PLUGIN, NRI_PLUGIN_V1, PLUGINS,
};
pub use process::{DEFAULT_CONFIG, ProcessId};
pub use report::{Report, Runtime};
pub use restart::{Restart, Restarted};
pub use version::{ContainerdVersion, Dialect, MIN_CONTAINERD, Quote, dialect};
