//! The core of the NRI resctrl plugin: every pod gets its own resctrl monitoring group,
//! and the group's `tasks` are kept equal to the threads of the pod's containers.
//!
//! The core is transport-free: it knows nothing about NRI's wire protocol. The
//! [`adapter`] (over the `nri` crate; [`ResctrlNriPlugin`] runs it) turns runtime
//! messages into [`PodInfo`] / [`ContainerInfo`] and calls [`ResctrlPlugin`]'s entry
//! points; the core does the resctrl work through the
//! `resctrl` crate, reads container threads through a [`PidSource`], and reports each
//! pod's state as [`PodResctrlEvent`]s on a bounded channel ([`events::channel`]).
//!
//! # Driving it from an NRI adapter
//!
//! What each event means to the core ([`adapter`] does this, subscribing to the subset
//! listed in [`adapter::SUBSCRIBED_EVENTS`]):
//!
//! | NRI event | call |
//! |---|---|
//! | (before registering) | [`ResctrlPlugin::start`] |
//! | `Synchronize` (all chunks joined) | [`ResctrlPlugin::synchronize`] |
//! | `RunPodSandbox` | [`ResctrlPlugin::run_pod_sandbox`] |
//! | `CreateContainer` or `PostCreateContainer` | [`ResctrlPlugin::create_container`] |
//! | `StartContainer`, `PostStartContainer` | [`ResctrlPlugin::start_container`] |
//! | `UpdateContainer` | nothing: resource updates change neither the cgroup nor the threads |
//! | `StopContainer` | [`ResctrlPlugin::stop_container`] |
//! | `StopPodSandbox` | nothing: the group stays until the sandbox is removed |
//! | `RemoveContainer` | [`ResctrlPlugin::remove_container`] |
//! | `RemovePodSandbox` | [`ResctrlPlugin::remove_pod_sandbox`] |
//! | a timer (e.g. every few seconds) | [`ResctrlPlugin::recheck_reconciled_containers`], then [`ResctrlPlugin::retry_all_once`] |
//!
//! The plugin never adjusts containers, so a handler's answer does not depend on the
//! outcome: hand the event to the thread that owns the core (or lock it inside
//! `spawn_blocking`) and answer the runtime at once. Errors returned by the core are for
//! logging; the core has already recorded them in its state and events, and must not fail
//! the runtime's operation. See [`ResctrlPlugin`] for the concurrency contract.
//!
//! Thread ids come from the container's cgroup: [`CgroupPidSource`] on a host
//! (`CgroupPidSource::detect("/sys/fs/cgroup")` picks the v2 or a v1 hierarchy), or
//! [`ScriptedPidSource`] in tests.
//!
//! ```
//! use nri_resctrl_plugin::{
//!     ContainerInfo, ContainerState, PluginConfig, PodInfo, PodResctrlEvent, ResctrlPlugin,
//!     ResctrlGroupState, ScriptedPidSource, events,
//! };
//! use resctrl::fake::FakeResctrl;
//!
//! let fake = FakeResctrl::new();
//! fake.add_threads([100, 101]);
//! let pids = ScriptedPidSource::new();
//! pids.set_threads("ctr-1", [100, 101]);
//! let (tx, mut rx) = events::channel(64);
//! let mut plugin = ResctrlPlugin::with_provider(
//!     fake.clone(),
//!     PluginConfig::default(),
//!     fake.config(),
//!     pids,
//!     tx,
//! )?;
//! plugin.start()?;
//!
//! let pod = PodInfo::new("sandbox-1", "3f1c2d4e-0000-4000-8000-000000000001");
//! plugin.run_pod_sandbox(&pod)?;
//! let ctr = ContainerInfo::new("ctr-1", "sandbox-1", ContainerState::Created);
//! plugin.create_container(&pod, &ctr)?;
//! plugin.start_container(&pod, &ctr)?;
//!
//! let mut last = None;
//! while let Ok(PodResctrlEvent::AddOrUpdate(update)) = rx.try_recv() {
//!     last = Some(update);
//! }
//! let update = last.expect("events were sent");
//! assert!(matches!(update.group_state, ResctrlGroupState::Exists(_)));
//! assert_eq!((update.total_containers, update.reconciled_containers), (1, 1));
//! # Ok::<(), nri_resctrl_plugin::PluginError>(())
//! ```

#![warn(missing_docs)]

pub mod adapter;
mod config;
mod error;
pub mod events;
mod info;
mod ops;
pub mod pid_source;
mod plugin;
mod reconcile;
mod retry;
mod startup;
mod state;
mod summary;
mod sync;

pub use adapter::{
    AdapterError, AdapterOptions, HostConfig, PluginStatus, ResctrlNriPlugin, StatusHandle,
};
pub use config::{DEFAULT_MAX_RECONCILE_PASSES, PluginConfig};
pub use error::PluginError;
pub use events::{
    EventReceiver, EventSender, PodResctrlAddOrUpdate, PodResctrlEvent, PodResctrlRemoved,
    ResctrlGroupState,
};
pub use info::{ContainerInfo, ContainerState, PodInfo};
pub use pid_source::{CgroupPidSource, PidSource, ScriptedPidSource};
pub use plugin::ResctrlPlugin;
pub use reconcile::ContainerReconcile;
pub use summary::{GroupTally, ReconcileTally, RetrySummary, StartupReport, SyncSummary};
