//! [`ResctrlPlugin`]: the core an NRI adapter drives, and its event entry points.

use std::collections::BTreeSet;
use std::path::PathBuf;

use resctrl::{FsProvider, RealFs, Resctrl};

use crate::config::PluginConfig;
use crate::error::PluginError;
use crate::events::{EventSender, PodResctrlAddOrUpdate};
use crate::info::{ContainerInfo, ContainerState, PodInfo};
use crate::pid_source::{CgroupPidSource, PidSource};
use crate::state::Registry;
use crate::summary::{GroupTally, ReconcileTally};

/// One resctrl monitoring group per pod, kept in line with its containers' threads.
///
/// Transport-free: the NRI adapter turns runtime messages into [`PodInfo`] and
/// [`ContainerInfo`] and calls the entry points; results go out as
/// [`PodResctrlEvent`](crate::PodResctrlEvent)s on the [`EventSender`] given at construction. See the
/// [crate documentation](crate) for which NRI event maps to which call.
///
/// # Concurrency
///
/// Not internally synchronised: every entry point takes `&mut self`. The type is `Send`
/// and `Sync` when its provider and pid source are (the real ones are), so the adapter
/// keeps it in an `Arc<std::sync::Mutex<_>>` (no call awaits, so a blocking mutex is
/// right) or gives it to one worker thread. Calls do blocking file-system work (resctrl
/// and cgroup files; microseconds each, see the `synchronize` benchmark), so call them
/// from `spawn_blocking` or a worker thread rather than on an async executor thread. They
/// never wait on the event channel.
#[derive(Debug)]
pub struct ResctrlPlugin<P: FsProvider = RealFs, S: PidSource = CgroupPidSource> {
    pub(crate) config: PluginConfig,
    pub(crate) resctrl: Resctrl<P>,
    pub(crate) pids: S,
    pub(crate) events: EventSender,
    pub(crate) registry: Registry,
    /// Groups of removed pods whose deletion failed; [`ResctrlPlugin::retry_all_once`]
    /// tries again so their monitoring IDs are not leaked.
    pub(crate) stale_groups: Vec<PathBuf>,
    /// Pods whose `Removed` event the full channel refused; unlike an update, nothing
    /// would send it again, so [`ResctrlPlugin::retry_all_once`] does.
    pub(crate) undelivered_removals: BTreeSet<String>,
}

impl<S: PidSource> ResctrlPlugin<RealFs, S> {
    /// A core on the real resctrl file system.
    ///
    /// `resctrl_config` gives the resctrl root and the mount table and CPU description
    /// paths (`resctrl::Config::default()` for the usual ones); its group prefix is
    /// replaced by `config.group_prefix`. Fails with [`PluginError::InvalidInput`] or
    /// [`PluginError::Resctrl`] (`InvalidArgument`) for unusable values.
    pub fn new(
        config: PluginConfig,
        resctrl_config: resctrl::Config,
        pids: S,
        events: EventSender,
    ) -> Result<Self, PluginError> {
        Self::with_provider(RealFs, config, resctrl_config, pids, events)
    }
}

impl<P: FsProvider, S: PidSource> ResctrlPlugin<P, S> {
    /// A core doing all resctrl access through `fs` (e.g. `resctrl::fake::FakeResctrl`
    /// in tests); otherwise as [`ResctrlPlugin::new`].
    pub fn with_provider(
        fs: P,
        config: PluginConfig,
        resctrl_config: resctrl::Config,
        pids: S,
        events: EventSender,
    ) -> Result<Self, PluginError> {
        config.validate()?;
        let resctrl_config = resctrl_config.with_group_prefix(config.group_prefix.clone());
        let resctrl = Resctrl::with_provider(fs, resctrl_config)?;
        Ok(ResctrlPlugin {
            config,
            resctrl,
            pids,
            events,
            registry: Registry::default(),
            stale_groups: Vec::new(),
            undelivered_removals: BTreeSet::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PluginConfig {
        &self.config
    }

    /// The resctrl handle (e.g. to read a group's monitoring data).
    pub fn resctrl(&self) -> &Resctrl<P> {
        &self.resctrl
    }

    /// The pid source.
    pub fn pid_source(&self) -> &S {
        &self.pids
    }

    /// Events dropped because the channel was full or closed.
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped()
    }

    /// The current state of pod `pod_uid`, as an `AddOrUpdate` event would carry it.
    pub fn pod_status(&self, pod_uid: &str) -> Option<PodResctrlAddOrUpdate> {
        self.registry.status(pod_uid)
    }

    /// The current state of every pod, ordered by uid: a full snapshot for a consumer
    /// that missed events.
    pub fn pod_statuses(&self) -> Vec<PodResctrlAddOrUpdate> {
        self.registry
            .pod_uids()
            .iter()
            .filter_map(|uid| self.registry.status(uid))
            .collect()
    }

    /// A pod sandbox was started (NRI `RunPodSandbox`): creates its group and places the
    /// threads of containers that arrived before it. A known pod changes nothing.
    ///
    /// The pod is tracked even when its group cannot be created (it then reports
    /// `Failed`, and that error is returned for logging).
    pub fn run_pod_sandbox(&mut self, pod: &PodInfo) -> Result<(), PluginError> {
        pod.validate()?;
        let mut first_error = None;
        let added = self.registry.add_sandbox(pod);
        if added.new_pod
            && let Err(e) = self.create_group(&pod.uid, &mut GroupTally::default())
        {
            first_error = Some(e);
        }
        let adopted: Vec<String> = added
            .adopted
            .into_iter()
            .filter(|id| self.registry.is_pending(id))
            .collect();
        if self.has_group(&pod.uid)
            && let Some(e) = self.reconcile_pod(&pod.uid, &adopted, &mut ReconcileTally::default())
        {
            first_error.get_or_insert(e);
        }
        self.emit_updates([&pod.uid]);
        first_error.map_or(Ok(()), Err)
    }

    /// A container is being created (NRI `CreateContainer`/`PostCreateContainer`): it
    /// counts towards its pod's total but has no threads yet, so nothing is placed.
    pub fn create_container(
        &mut self,
        pod: &PodInfo,
        container: &ContainerInfo,
    ) -> Result<(), PluginError> {
        self.container_event(pod, container, None)
    }

    /// A container is starting or has started (NRI `StartContainer` and/or
    /// `PostStartContainer`; calling both is fine, a repeat changes nothing): its threads
    /// are placed. The container is treated as running whatever `state` says, since NRI
    /// still reports `CREATED` at `StartContainer`.
    ///
    /// At `StartContainer` the runtime's init process already waits in the container's
    /// cgroup, and everything it starts inherits the group; calling at
    /// `PostStartContainer` too re-checks once the workload runs.
    pub fn start_container(
        &mut self,
        pod: &PodInfo,
        container: &ContainerInfo,
    ) -> Result<(), PluginError> {
        self.container_event(pod, container, Some(ContainerState::Running))
    }

    /// A container stopped (NRI `StopContainer`): it no longer counts towards its pod.
    pub fn stop_container(
        &mut self,
        pod: &PodInfo,
        container: &ContainerInfo,
    ) -> Result<(), PluginError> {
        self.container_event(pod, container, Some(ContainerState::Stopped))
    }

    /// A container was removed (NRI `RemoveContainer`); returns whether it was tracked.
    pub fn remove_container(&mut self, container_id: &str) -> bool {
        let known = self.registry.container(container_id).is_some();
        if let Some(uid) = self.registry.remove_container(container_id) {
            self.emit_updates([&uid]);
        }
        known
    }

    /// A pod sandbox was removed (NRI `RemovePodSandbox`): forgets it and its
    /// containers; when it was the pod's last sandbox, deletes the pod's group and emits
    /// `Removed`. Returns whether the pod was removed.
    ///
    /// The sandbox is found by `pod.id`, so removing an old sandbox of a pod the kubelet
    /// has already recreated (same uid, new sandbox) keeps the group. With an empty `id`
    /// every sandbox of `pod.uid` is removed. A failed deletion is returned and retried
    /// by [`Self::retry_all_once`]; the pod is gone either way.
    pub fn remove_pod_sandbox(&mut self, pod: &PodInfo) -> Result<bool, PluginError> {
        let sandboxes: Vec<String> = if pod.id.is_empty() {
            self.registry
                .pod(&pod.uid)
                .map(|p| p.sandboxes.iter().cloned().collect())
                .unwrap_or_default()
        } else {
            vec![pod.id.clone()]
        };
        let mut touched = BTreeSet::new();
        let mut result = Ok(false);
        for sandbox in sandboxes {
            match self.forget_sandbox(&sandbox, &mut touched) {
                Ok(removed) => {
                    if let Ok(any) = &mut result {
                        *any |= removed;
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        self.emit_updates(&touched);
        result
    }

    /// Shared body of the container events; `force_state` overrides the reported state.
    fn container_event(
        &mut self,
        pod: &PodInfo,
        container: &ContainerInfo,
        force_state: Option<ContainerState>,
    ) -> Result<(), PluginError> {
        pod.validate()?;
        let mut info = container.clone();
        if info.pod_sandbox_id.is_empty() {
            info.pod_sandbox_id = pod.id.clone();
        }
        if let Some(state) = force_state {
            // The registry keeps states moving forward, so a late start cannot revive a
            // stopped container.
            info.state = state;
        }
        info.validate()?;

        let mut first_error = None;
        let added = self.registry.add_sandbox(pod);
        if added.new_pod
            && let Err(e) = self.create_group(&pod.uid, &mut GroupTally::default())
        {
            first_error = Some(e);
        }
        let id = info.id.clone();
        let sandbox = info.pod_sandbox_id.clone();
        self.registry.upsert_container(info);

        let mut touched = BTreeSet::from([pod.uid.clone()]);
        match self.registry.uid_of_sandbox(&sandbox).map(str::to_owned) {
            Some(uid) => {
                let mut todo: Vec<String> = added
                    .adopted
                    .into_iter()
                    .filter(|c| *c != id && self.registry.is_pending(c))
                    .collect();
                if self.registry.is_pending(&id) {
                    todo.push(id);
                }
                if self.has_group(&uid)
                    && let Some(e) = self.reconcile_pod(&uid, &todo, &mut ReconcileTally::default())
                {
                    first_error.get_or_insert(e);
                }
                touched.insert(uid);
            }
            None => {
                first_error.get_or_insert(PluginError::PodNotSeen {
                    container_id: id,
                    sandbox_id: sandbox,
                });
            }
        }
        self.emit_updates(&touched);
        first_error.map_or(Ok(()), Err)
    }
}

// The adapter shares the core between async handlers; keep the real one thread-safe.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ResctrlPlugin>();
};
