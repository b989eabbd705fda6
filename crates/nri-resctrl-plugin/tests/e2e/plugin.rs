//! The plugin under test, connected to the private containerd, and its events.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use nri::stub::{Backoff, PluginConfig as NriConfig};
use nri_resctrl_plugin::adapter::DEFAULT_RETRY_INTERVAL;
use nri_resctrl_plugin::pid_source::DEFAULT_CGROUP_ROOT;
use nri_resctrl_plugin::{
    AdapterOptions, CgroupPidSource, EventReceiver, PluginConfig, PodResctrlAddOrUpdate,
    PodResctrlEvent, PodResctrlRemoved, ResctrlGroupState, ResctrlNriPlugin, ResctrlPlugin,
    StartupReport, events,
};

use resctrl::Resctrl;

use super::WAIT;
use super::backend::{Backend, ResctrlUnderTest};

/// A running plugin and every event it sent so far.
pub struct PluginUnderTest {
    plugin: ResctrlNriPlugin,
    rx: EventReceiver,
    /// Where each pod's group is.
    resctrl: Resctrl<Backend>,
    /// Every event received, in order (for failure messages).
    pub history: Vec<PodResctrlEvent>,
    /// Events received but not expected yet, per pod uid, in order.
    unread: BTreeMap<String, VecDeque<PodResctrlEvent>>,
}

impl PluginUnderTest {
    /// Starts the plugin on `rut`'s resctrl, reading threads from the host's cgroups, and
    /// waits until containerd has registered it and sent its state. Its retry round runs
    /// every 10 s, the default.
    pub async fn start(rut: &ResctrlUnderTest, nri_socket: &Path) -> Self {
        Self::start_with(rut, nri_socket, DEFAULT_RETRY_INTERVAL).await
    }

    /// [`Self::start`] with retry rounds every `retry_interval`.
    pub async fn start_with(
        rut: &ResctrlUnderTest,
        nri_socket: &Path,
        retry_interval: Duration,
    ) -> Self {
        let pids = CgroupPidSource::detect(DEFAULT_CGROUP_ROOT)
            .unwrap_or_else(|e| panic!("no cgroup hierarchy to read container threads: {e}"));
        let (tx, rx) = events::channel(1024);
        let core = ResctrlPlugin::with_provider(
            rut.backend.clone(),
            PluginConfig::default().with_group_prefix(rut.prefix()),
            rut.config.clone(),
            pids,
            tx,
        )
        .expect("valid plugin configuration");
        let nri = NriConfig::new("resctrl-e2e", "50")
            .expect("valid plugin identity")
            .with_socket_path(nri_socket)
            .with_reconnect(Some(Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(500),
                multiplier: 2,
            }));
        let options = AdapterOptions::new(nri).with_retry_interval(retry_interval);
        let plugin = ResctrlNriPlugin::spawn_with_core(options, core)
            .await
            .unwrap_or_else(|e| panic!("the plugin did not start: {}", e.display_chain()));
        let resctrl = Resctrl::with_provider(rut.backend.clone(), rut.config.clone())
            .expect("valid test resctrl configuration");
        let this = PluginUnderTest {
            plugin,
            rx,
            resctrl,
            history: Vec::new(),
            unread: BTreeMap::new(),
        };
        this.wait_synchronized().await;
        this
    }

    /// What the plugin's startup did.
    pub fn startup(&self) -> StartupReport {
        *self.plugin.startup_report()
    }

    /// Waits until containerd's `Synchronize` has been handled.
    async fn wait_synchronized(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.plugin.status().await.expect("plugin status");
            if status.synchronizations > 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not register and synchronize the plugin within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Takes one event from the channel into the history and the unread queues; `None`
    /// once `deadline` passes.
    async fn receive(&mut self, deadline: tokio::time::Instant) -> Option<()> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(event)) => {
                self.history.push(event.clone());
                self.unread
                    .entry(event.pod_uid().to_owned())
                    .or_default()
                    .push_back(event);
                Some(())
            }
            Ok(None) => panic!(
                "the plugin's event channel closed; events so far: {:#?}",
                self.history
            ),
            Err(_) => None,
        }
    }

    /// The next event about pod `uid`, whatever it is (events about other pods are kept
    /// for them); fails after [`WAIT`] with the history.
    async fn next_of(&mut self, uid: &str, what: &str) -> PodResctrlEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(event) = self.unread.get_mut(uid).and_then(VecDeque::pop_front) {
                return event;
            }
            if self.receive(deadline).await.is_none() {
                panic!(
                    "no event about pod {uid} within {WAIT:?} (wanted {what}); events so far: {:#?}",
                    self.history
                );
            }
        }
    }

    /// The next event about pod `uid` must be exactly `wanted`.
    pub async fn expect_next(&mut self, uid: &str, wanted: PodResctrlEvent) {
        let what = format!("{wanted:?}");
        let got = self.next_of(uid, &what).await;
        assert_eq!(
            got, wanted,
            "pod {uid}: the next event differs; events so far: {:#?}",
            self.history
        );
    }

    /// The next event about pod `uid` (named `default/<name>`) must report its group at
    /// the expected path with these counts; returns that path.
    pub async fn expect_pod(
        &mut self,
        uid: &str,
        name: &str,
        total: usize,
        reconciled: usize,
    ) -> String {
        let path = self
            .resctrl
            .group_path(uid)
            .expect("group path")
            .to_string_lossy()
            .into_owned();
        self.expect_next(
            uid,
            update(
                uid,
                name,
                ResctrlGroupState::Exists(path.clone()),
                total,
                reconciled,
            ),
        )
        .await;
        path
    }

    /// The next event about pod `uid` must report it without a group, with these counts.
    pub async fn expect_failed(&mut self, uid: &str, name: &str, total: usize, reconciled: usize) {
        self.expect_next(
            uid,
            update(uid, name, ResctrlGroupState::Failed, total, reconciled),
        )
        .await;
    }

    /// The next event about pod `uid` must be its `Removed`.
    pub async fn expect_removed(&mut self, uid: &str) {
        self.expect_next(
            uid,
            PodResctrlEvent::Removed(PodResctrlRemoved {
                pod_uid: uid.to_owned(),
            }),
        )
        .await;
    }

    /// No event about pod `uid` arrives during `period` (nor is one left unread).
    pub async fn expect_quiet(&mut self, uid: &str, period: Duration) {
        let deadline = tokio::time::Instant::now() + period;
        while self.receive(deadline).await.is_some() {}
        let unread = self.unread.remove(uid).unwrap_or_default();
        assert!(
            unread.is_empty(),
            "pod {uid}: events after the last expected one, within {period:?}: {unread:#?}"
        );
    }

    /// Whether an event about pod `uid` was received.
    pub fn saw(&self, uid: &str) -> bool {
        self.history.iter().any(|e| e.pod_uid() == uid)
    }

    /// Stops the plugin (its groups stay, as after a crash), after checking that every
    /// event received was expected.
    pub async fn stop(mut self) {
        let unexpected: Vec<&PodResctrlEvent> = self.unread.values().flatten().collect();
        assert!(
            unexpected.is_empty(),
            "events that no scenario step expected: {unexpected:#?}"
        );
        self.unread.clear();
        self.plugin
            .stop()
            .await
            .unwrap_or_else(|e| panic!("the plugin did not stop cleanly: {}", e.display_chain()));
    }
}

/// The `AddOrUpdate` of pod `default/<name>` with uid `uid`.
fn update(
    uid: &str,
    name: &str,
    group_state: ResctrlGroupState,
    total: usize,
    reconciled: usize,
) -> PodResctrlEvent {
    PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
        pod_uid: uid.to_owned(),
        pod_namespace: "default".to_owned(),
        pod_name: name.to_owned(),
        group_state,
        total_containers: total,
        reconciled_containers: reconciled,
    })
}
