//! The plugin over NRI: runtime messages in, the core's entry points out.
//!
//! [`ResctrlNriPlugin`] runs it; the collector embeds it, and the `nri-resctrl-plugin`
//! binary runs it standalone or launched by the runtime.
//!
//! ```no_run
//! use nri_resctrl_plugin::adapter::{AdapterOptions, HostConfig, ResctrlNriPlugin};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Name and index, or the socket the runtime passed when it launched us.
//! let nri = nri::stub::PluginConfig::from_env("resctrl", "10")?;
//! let (plugin, mut events) =
//!     ResctrlNriPlugin::spawn(AdapterOptions::new(nri), HostConfig::default()).await?;
//! let stop = plugin.shutdown_handle(); // e.g. for a signal handler
//! tokio::spawn(async move {
//!     while let Some(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! # stop.shutdown();
//! plugin.wait().await?;
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! - **Startup.** The core's [`start`](crate::ResctrlPlugin::start) (mount check, removal
//!   of a previous run's groups) runs before the plugin connects, so it never races the
//!   runtime's first `Synchronize`; a failure is returned by `spawn`.
//! - **One owner.** A worker thread owns the core and handles the runtime's events in the
//!   order they came. Handlers only convert the message and queue it, so they answer in
//!   microseconds: the runtime's 2 s deadline, under the lock that stalls all its
//!   container operations, is never at risk however slow resctrl or the cgroup file
//!   system is.
//! - **Synchronize is authoritative.** The runtime sends its whole state on every
//!   connection; the core adds what is new and removes what is gone. Events missed while
//!   disconnected are thereby repaired, and so are events lost to a full queue: once
//!   the worker has caught up, the adapter reconnects on purpose.
//! - **Periodic round.** Every [`AdapterOptions::retry_interval`] (default 10 s) the
//!   worker re-checks reconciled containers (processes started into them later, e.g. by
//!   `kubectl exec`, keep the runtime's resctrl group) and retries what is pending.
//! - **Events.** Subscribed: see [`SUBSCRIBED_EVENTS`] for the list and the reason for
//!   each. Errors never reach the runtime: failing `RunPodSandbox` or `StartContainer`
//!   would fail the user's pod over monitoring.

mod convert;
mod error;
mod handlers;
mod mask;
mod queue;
mod spawn;
mod supervisor;
mod worker;

pub use error::AdapterError;
pub use mask::SUBSCRIBED_EVENTS;
pub use spawn::{
    AdapterOptions, DEFAULT_EVENT_CAPACITY, DEFAULT_QUEUE_CAPACITY, DEFAULT_RETRY_INTERVAL,
    HostConfig, PluginStatus, ResctrlNriPlugin, StatusHandle,
};
