//! containerd's Node Resource Interface (NRI) protocol, for plugins.
//!
//! A plugin talks to the runtime over one Unix socket that carries two
//! logical connections ([`mux`]); ttrpc runs inside each ([`proto`] has the
//! generated messages and services). [`stub`] turns this into a [`Plugin`]
//! trait with one async handler per lifecycle event plus a [`Runner`] that
//! registers, serves, and reconnects. [`worker`] helps keep handlers within
//! the runtime's deadline. With the `test-peer` feature, [`testing`] offers
//! a runtime-side peer that drives a plugin as containerd would, so plugins
//! can be tested without containerd.
//!
//! Protocol facts this crate relies on (checked against containerd/nri
//! v0.8.0, pinned by containerd 2.1, and v0.12): frames of at most 4096
//! payload bytes are sent, up to 4 MiB + 10 accepted; the runtime calls the
//! plugin on connection 1 and the plugin calls the runtime on connection 2;
//! the event mask bit of event `e` is `1 << (e - 1)`; nri v0.8 runtimes
//! accept only bits within `0x7ff` and send every event but
//! Create/Update/StopContainer as `StateChange`; nri v0.12 runtimes call a
//! method per event and fall back to `StateChange` on UNIMPLEMENTED.

#![warn(missing_docs)]

pub mod error;
pub mod events;
pub mod mux;
pub mod proto;
pub mod stub;
#[cfg(any(test, feature = "test-peer"))]
pub mod testing;
pub mod worker;

pub use error::{ConfigError, HandlerError, MuxError, StubError};
pub use events::{Event, EventMask};
pub use proto::nri::{Container, ContainerState, LinuxContainer, LinuxPodSandbox, PodSandbox};
pub use stub::{Plugin, PluginConfig, Runner, RuntimeInfo, ShutdownHandle, Transport};
