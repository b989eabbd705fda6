//! The plugin side of NRI: implement [`Plugin`], hand it to a [`Runner`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use nri::stub::{Plugin, PluginConfig, Runner, RuntimeInfo};
//! use nri::{Container, Event, EventMask, HandlerError, PodSandbox};
//!
//! struct Logger;
//!
//! impl Plugin for Logger {
//!     async fn configure(&self, runtime: RuntimeInfo) -> Result<EventMask, HandlerError> {
//!         println!("configured by {} {}", runtime.runtime_name, runtime.runtime_version);
//!         Ok(EventMask::EMPTY | Event::RunPodSandbox | Event::StartContainer)
//!     }
//!     async fn synchronize(
//!         &self,
//!         pods: Vec<PodSandbox>,
//!         containers: Vec<Container>,
//!     ) -> Result<(), HandlerError> {
//!         println!("{} pods, {} containers", pods.len(), containers.len());
//!         Ok(())
//!     }
//!     async fn start_container(&self, _pod: PodSandbox, ctr: Container) -> Result<(), HandlerError> {
//!         println!("started {} (pid {})", ctr.id, ctr.pid);
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Name/index from NRI_PLUGIN_NAME/NRI_PLUGIN_IDX when the runtime launched
//! // us (then NRI_PLUGIN_SOCKET=3 is used), else these defaults and the
//! // default socket.
//! let config = PluginConfig::from_env("logger", "50")?;
//! let runner = Runner::new(Arc::new(Logger), config);
//! // Call `stop.shutdown()` (e.g. from a signal handler) to end `run`.
//! let stop = runner.shutdown_handle();
//! runner.run().await?;
//! # drop(stop);
//! # Ok(()) }
//! ```
//!
//! # Timing
//!
//! The runtime waits for every answer for at most its request timeout (2 s
//! in containerd, [`RuntimeInfo::request_timeout`]) and holds a lock that
//! stalls all of its pod and container operations meanwhile. A plugin that
//! misses the deadline is disconnected. Handlers must therefore only record
//! what happened and return; anything slow or blocking (file system work,
//! retries) belongs on a worker, for example through
//! [`WorkQueue`](crate::worker::WorkQueue). Handlers may also be cancelled
//! (their future dropped) when the deadline passes or the connection closes,
//! so they should not leave state half-updated across an `.await`.

mod config;
mod runner;
mod service;

use std::future::Future;
use std::time::Duration;

pub use config::{
    Backoff, DEFAULT_SOCKET_PATH, ENV_PLUGIN_IDX, ENV_PLUGIN_NAME, ENV_PLUGIN_SOCKET, PluginConfig,
    Transport, validate_index, validate_name,
};
pub use runner::{Runner, ShutdownHandle};

use crate::error::{HandlerError, StubError};
use crate::events::EventMask;
use crate::proto::nri::{Container, PodSandbox};

/// What the runtime said about itself in `Configure`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// Runtime name, e.g. `containerd`.
    pub runtime_name: String,
    /// Runtime version, e.g. `v2.1.9`.
    pub runtime_version: String,
    /// NRI version of the runtime; empty from runtimes older than nri v0.12.
    pub nri_version: String,
    /// The plugin's configuration text from the runtime's plugin config
    /// directory (empty for plugins that connect on their own).
    pub config: String,
    /// How long the runtime waits for registration.
    pub registration_timeout: Option<Duration>,
    /// How long the runtime waits for each answer.
    pub request_timeout: Option<Duration>,
}

/// An NRI plugin's event handlers. Every method has a no-op default.
///
/// Handlers run on the RPC path and must return well within the runtime's
/// request timeout (see the [module documentation](self#timing)). Errors go
/// back to the runtime, which fails the operation for `create_container`,
/// `start_container` and `run_pod_sandbox`, and only logs them otherwise.
///
/// Every event arrives at its handler whichever way the runtime sends it:
/// runtimes built with nri < v0.12 (containerd 2.1) send all but
/// Create/Update/StopContainer as `StateChange`, newer ones call one method
/// per event.
pub trait Plugin: Send + Sync + 'static {
    /// Called once per connection, before [`synchronize`](Self::synchronize);
    /// returns the events to subscribe to. Events the runtime does not
    /// accept (see [`EventMask::accepted_by_runtime`]) are dropped from the
    /// mask with a warning; an empty mask subscribes to every event the stub
    /// serves and the runtime accepts. The default subscribes to
    /// [`EventMask::NRI_V0_8`], every event containerd 2.1 knows.
    fn configure(
        &self,
        runtime: RuntimeInfo,
    ) -> impl Future<Output = Result<EventMask, HandlerError>> + Send {
        let _ = runtime;
        async { Ok(EventMask::NRI_V0_8) }
    }

    /// The runtime's complete set of pods and containers, once per
    /// connection (after a reconnect too: treat it as authoritative and
    /// reconcile). The stub reassembles the runtime's split messages first.
    fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pods, containers);
        async { Ok(()) }
    }

    /// The runtime is shutting down (sent by nri >= v0.12 runtimes only;
    /// others just close the connection).
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The connection to the runtime was lost after the runtime had
    /// configured the plugin. Unless the
    /// runner is shutting down or was launched by the runtime, it reconnects
    /// and [`synchronize`](Self::synchronize) delivers the full state again;
    /// events in between are not replayed.
    fn connection_lost(&self, error: &StubError) -> impl Future<Output = ()> + Send {
        let _ = error;
        async {}
    }

    /// See [`Event::RunPodSandbox`](crate::Event::RunPodSandbox).
    fn run_pod_sandbox(
        &self,
        pod: PodSandbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = pod;
        async { Ok(()) }
    }

    /// See [`Event::StopPodSandbox`](crate::Event::StopPodSandbox).
    fn stop_pod_sandbox(
        &self,
        pod: PodSandbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = pod;
        async { Ok(()) }
    }

    /// See [`Event::RemovePodSandbox`](crate::Event::RemovePodSandbox).
    fn remove_pod_sandbox(
        &self,
        pod: PodSandbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = pod;
        async { Ok(()) }
    }

    /// See [`Event::UpdatePodSandbox`](crate::Event::UpdatePodSandbox).
    fn update_pod_sandbox(
        &self,
        pod: PodSandbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = pod;
        async { Ok(()) }
    }

    /// See [`Event::PostUpdatePodSandbox`](crate::Event::PostUpdatePodSandbox).
    fn post_update_pod_sandbox(
        &self,
        pod: PodSandbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = pod;
        async { Ok(()) }
    }

    /// See [`Event::CreateContainer`](crate::Event::CreateContainer). The
    /// stub answers with no adjustment.
    fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::PostCreateContainer`](crate::Event::PostCreateContainer).
    fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::StartContainer`](crate::Event::StartContainer).
    fn start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::PostStartContainer`](crate::Event::PostStartContainer).
    fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::UpdateContainer`](crate::Event::UpdateContainer). The
    /// stub answers with no update.
    fn update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::PostUpdateContainer`](crate::Event::PostUpdateContainer).
    fn post_update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::StopContainer`](crate::Event::StopContainer).
    fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }

    /// See [`Event::RemoveContainer`](crate::Event::RemoveContainer).
    fn remove_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pod, container);
        async { Ok(()) }
    }
}
