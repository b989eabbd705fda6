//! CRI (`runtime.v1`) over containerd's Unix socket: message types, a raw client, and a
//! kubelet-like convenience layer for pods and containers.

mod client;
pub mod types;
mod workloads;

pub use client::{CriClient, IMAGE_SERVICE, RUNTIME_SERVICE};
pub(crate) use workloads::check_name;
pub use workloads::{Cri, RUN_LABEL, RemoveAllOutcome};

use std::fmt;

/// A pod sandbox id as returned by `RunPodSandbox`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodId(pub String);

/// A container id as returned by `CreateContainer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(pub String);

impl PodId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ContainerId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
