//! Errors of the NRI adapter.

use std::io;

use crate::error::PluginError;

/// Why the plugin could not start, or why it stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The core could not be built or could not prepare resctrl (e.g. not mounted and
    /// `auto_mount` off, or no permission); the plugin did not register.
    #[error("cannot prepare resctrl")]
    Core(#[source] PluginError),

    /// No cgroup hierarchy to read container threads from.
    #[error("cannot find a cgroup hierarchy to read container threads from")]
    Cgroups(#[source] io::Error),

    /// The worker thread could not be started.
    #[error("cannot start the resctrl worker thread")]
    Spawn(#[source] io::Error),

    /// The worker thread ended unexpectedly (it panicked); the plugin stopped serving the
    /// runtime.
    #[error("the resctrl worker thread stopped unexpectedly")]
    WorkerStopped,

    /// The connection to the runtime failed for good: reconnecting is off, or the
    /// runtime-launched plugin's inherited socket closed.
    #[error("NRI connection failed")]
    Nri(#[source] nri::StubError),
}

impl AdapterError {
    /// The message followed by those of its sources, `: `-separated, for logs.
    pub fn display_chain(&self) -> String {
        cause_chain::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_chain_names_the_cause() {
        let err = AdapterError::Core(PluginError::Resctrl(resctrl::Error::NotMounted {
            root: "/sys/fs/resctrl".into(),
        }));
        let text = err.display_chain();
        assert!(text.starts_with("cannot prepare resctrl: "), "{text}");
        assert!(text.contains("/sys/fs/resctrl"), "{text}");
    }
}
