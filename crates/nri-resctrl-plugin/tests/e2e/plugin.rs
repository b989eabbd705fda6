//! The plugin under test, connected to the private containerd, and its events.

use std::path::Path;
use std::time::{Duration, Instant};

use nri::stub::{Backoff, PluginConfig as NriConfig};
use nri_resctrl_plugin::pid_source::DEFAULT_CGROUP_ROOT;
use nri_resctrl_plugin::{
    AdapterOptions, CgroupPidSource, EventReceiver, PluginConfig, PodResctrlAddOrUpdate,
    PodResctrlEvent, PodResctrlRemoved, ResctrlGroupState, ResctrlNriPlugin, ResctrlPlugin,
    StartupReport, events,
};

use super::WAIT;
use super::backend::ResctrlUnderTest;

/// A running plugin and every event it sent so far.
pub struct PluginUnderTest {
    plugin: ResctrlNriPlugin,
    rx: EventReceiver,
    /// Every event received, in order (for failure messages).
    pub history: Vec<PodResctrlEvent>,
}

impl PluginUnderTest {
    /// Starts the plugin on `rut`'s resctrl, reading threads from the host's cgroups, and
    /// waits until containerd has registered it and sent its state.
    pub async fn start(rut: &ResctrlUnderTest, nri_socket: &Path) -> Self {
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
        let plugin = ResctrlNriPlugin::spawn_with_core(AdapterOptions::new(nri), core)
            .await
            .unwrap_or_else(|e| panic!("the plugin did not start: {}", e.display_chain()));
        let this = PluginUnderTest {
            plugin,
            rx,
            history: Vec::new(),
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

    /// The next event matching `wanted`, skipping others; fails after [`WAIT`] with the
    /// history.
    pub async fn expect(
        &mut self,
        what: &str,
        wanted: impl Fn(&PodResctrlEvent) -> bool,
    ) -> PodResctrlEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => {
                    self.history.push(event.clone());
                    if wanted(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!("the plugin's event channel closed while waiting for {what}"),
                Err(_) => panic!(
                    "no event {what} within {WAIT:?}; events so far: {:#?}",
                    self.history
                ),
            }
        }
    }

    /// Waits for pod `uid` to report an existing group with these counts; returns the
    /// group path it reports.
    pub async fn expect_pod(&mut self, uid: &str, total: usize, reconciled: usize) -> String {
        let what = format!("{uid} with a group and {reconciled}/{total} containers reconciled");
        let event = self
            .expect(&what, |e| {
                matches!(e, PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
                    pod_uid,
                    group_state: ResctrlGroupState::Exists(_),
                    total_containers,
                    reconciled_containers,
                    ..
                }) if pod_uid == uid && *total_containers == total && *reconciled_containers == reconciled)
            })
            .await;
        match event {
            PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
                group_state: ResctrlGroupState::Exists(path),
                ..
            }) => path,
            other => unreachable!("matched above: {other:?}"),
        }
    }

    /// Waits for pod `uid`'s `Removed`.
    pub async fn expect_removed(&mut self, uid: &str) {
        self.expect(&format!("Removed({uid})"), |e| {
            matches!(e, PodResctrlEvent::Removed(PodResctrlRemoved { pod_uid }) if pod_uid == uid)
        })
        .await;
    }

    /// Whether an event about pod `uid` was received.
    pub fn saw(&self, uid: &str) -> bool {
        self.history.iter().any(|e| e.pod_uid() == uid)
    }

    /// Stops the plugin (its groups stay, as after a crash).
    pub async fn stop(self) {
        self.plugin
            .stop()
            .await
            .unwrap_or_else(|e| panic!("the plugin did not stop cleanly: {}", e.display_chain()));
    }
}
