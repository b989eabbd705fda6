//! Shared setup for the behaviour tests: the core on a fake resctrl with a scripted pid
//! source, and a log capture.

// `allow`, not `expect`: the lint runs per test binary, and a binary that happens to use
// every helper would find the expectation unfulfilled.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use nri_resctrl_plugin::{
    ContainerInfo, ContainerState, EventReceiver, PluginConfig, PodInfo, PodResctrlAddOrUpdate,
    PodResctrlEvent, PodResctrlRemoved, ResctrlGroupState, ResctrlPlugin, ScriptedPidSource,
    events,
};
use resctrl::fake::FakeResctrl;

/// Root of the fake resctrl.
pub const ROOT: &str = "/sys/fs/resctrl";

/// The core on a fake, plus handles to steer and observe it.
pub struct Harness {
    pub fake: FakeResctrl,
    pub pids: ScriptedPidSource,
    pub plugin: ResctrlPlugin<FakeResctrl, ScriptedPidSource>,
    pub rx: EventReceiver,
}

impl Harness {
    /// Defaults: 64 RMIDs, default config, a roomy channel; `start()` not called yet.
    pub fn new() -> Self {
        Self::with(FakeResctrl::new(), PluginConfig::default(), 1024)
    }

    pub fn with(fake: FakeResctrl, config: PluginConfig, capacity: usize) -> Self {
        let pids = ScriptedPidSource::new();
        let (tx, rx) = events::channel(capacity);
        let plugin =
            ResctrlPlugin::with_provider(fake.clone(), config, fake.config(), pids.clone(), tx)
                .expect("valid configuration");
        Harness {
            fake,
            pids,
            plugin,
            rx,
        }
    }

    /// A harness whose `start()` has run.
    pub fn started() -> Self {
        let mut h = Self::new();
        h.plugin.start().expect("start");
        h
    }

    /// Makes `tids` live in the fake and the scripted threads of `container_id`.
    pub fn threads(&self, container_id: &str, tids: impl IntoIterator<Item = u32> + Clone) {
        self.fake.add_threads(tids.clone());
        self.pids.set_threads(container_id, tids);
    }

    /// Every event sent so far (drains the channel).
    pub fn events(&mut self) -> Vec<PodResctrlEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            out.push(e);
        }
        out
    }

    /// The group path of pod `uid`.
    pub fn group(&self, uid: &str) -> PathBuf {
        self.plugin.resctrl().group_path(uid).expect("group path")
    }

    /// The threads in pod `uid`'s group.
    pub fn members(&self, uid: &str) -> BTreeSet<u32> {
        self.fake.members(&self.group(uid))
    }

    /// The `(total, reconciled)` counts of pod `uid`.
    pub fn counts(&self, uid: &str) -> (usize, usize) {
        let s = self.plugin.pod_status(uid).expect("known pod");
        (s.total_containers, s.reconciled_containers)
    }
}

/// Pod `n`: sandbox `sb-n`, uid `uid-n`, a cgroupfs parent.
pub fn pod(n: &str) -> PodInfo {
    PodInfo::new(format!("sb-{n}"), format!("uid-{n}"))
        .with_name("default", format!("pod-{n}"))
        .with_cgroup_parent(format!("/kubepods/besteffort/pod{n}"))
}

/// Container `id` of `pod` in `state`.
pub fn ctr(id: &str, pod: &PodInfo, state: ContainerState) -> ContainerInfo {
    ContainerInfo::new(id, &pod.id, state).with_cgroups_path(format!("{}/{id}", pod.cgroup_parent))
}

/// The `AddOrUpdate` expected for a pod whose group exists.
pub fn exists(h: &Harness, pod: &PodInfo, total: usize, reconciled: usize) -> PodResctrlEvent {
    PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
        pod_uid: pod.uid.clone(),
        pod_namespace: pod.namespace.clone(),
        pod_name: pod.name.clone(),
        group_state: ResctrlGroupState::Exists(h.group(&pod.uid).to_string_lossy().into_owned()),
        total_containers: total,
        reconciled_containers: reconciled,
    })
}

/// The `AddOrUpdate` expected for a pod without a group.
pub fn failed(pod: &PodInfo, total: usize, reconciled: usize) -> PodResctrlEvent {
    PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
        pod_uid: pod.uid.clone(),
        pod_namespace: pod.namespace.clone(),
        pod_name: pod.name.clone(),
        group_state: ResctrlGroupState::Failed,
        total_containers: total,
        reconciled_containers: reconciled,
    })
}

/// The `Removed` expected for a pod.
pub fn removed(pod: &PodInfo) -> PodResctrlEvent {
    PodResctrlEvent::Removed(PodResctrlRemoved {
        pod_uid: pod.uid.clone(),
    })
}

/// Records every `tracing` event as one `name=value ...` line.
#[derive(Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<String>>>,
}

impl LogCapture {
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fields.0.trim_end().to_owned());
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
