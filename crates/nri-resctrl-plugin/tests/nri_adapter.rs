//! The plugin over NRI, against the runtime-side test peer: the fake resctrl, scripted
//! thread ids, and both ways runtimes deliver events (containerd 2.1's `StateChange`,
//! newer runtimes' per-event methods).

use cause_chain::Chain;
use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nri::stub::{Backoff, PluginConfig as NriConfig};
use nri::testing::{Delivery, PeerConfig, PluginConnection, RuntimeMode, TestRuntime};
use nri::{Event, LinuxContainer, LinuxPodSandbox};
use nri_resctrl_plugin::adapter::SUBSCRIBED_EVENTS;
use nri_resctrl_plugin::{
    AdapterError, AdapterOptions, ContainerInfo, EventReceiver, PidSource, PluginConfig,
    PluginError, PodInfo, PodResctrlAddOrUpdate, PodResctrlEvent, PodResctrlRemoved,
    ResctrlGroupState, ResctrlNriPlugin, ResctrlPlugin, ScriptedPidSource, events,
};
use protobuf::{EnumOrUnknown, MessageField};
use resctrl::FsProvider;
use resctrl::fake::FakeResctrl;

/// Upper bound for anything a test waits for: a hang fails instead of blocking.
const LIMIT: Duration = Duration::from_secs(10);
const ROOT: &str = "/sys/fs/resctrl";

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {LIMIT:?} waiting for {what}"),
    }
}

// --- runtime messages ---

fn pod(n: &str) -> nri::PodSandbox {
    nri::PodSandbox {
        id: format!("sb-{n}"),
        uid: format!("uid-{n}"),
        name: format!("pod-{n}"),
        namespace: "default".into(),
        linux: MessageField::some(LinuxPodSandbox {
            cgroup_parent: format!("/kubepods/besteffort/pod{n}"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ctr(id: &str, pod: &nri::PodSandbox, state: nri::ContainerState, pid: u32) -> nri::Container {
    let parent = pod
        .linux
        .as_ref()
        .map(|l| l.cgroup_parent.clone())
        .unwrap_or_default();
    nri::Container {
        id: id.into(),
        pod_sandbox_id: pod.id.clone(),
        name: id.into(),
        state: EnumOrUnknown::new(state),
        linux: MessageField::some(LinuxContainer {
            cgroups_path: format!("{parent}/{id}"),
            ..Default::default()
        }),
        pid,
        ..Default::default()
    }
}

use nri::ContainerState::{CONTAINER_CREATED as CREATED, CONTAINER_RUNNING as RUNNING};

// --- expected plugin events ---

fn group(uid: &str) -> PathBuf {
    PathBuf::from(ROOT)
        .join("mon_groups")
        .join(format!("pod_{uid}"))
}

fn exists(uid: &str, total: usize, reconciled: usize) -> PodResctrlEvent {
    // `pod(n)` names uid `uid-<n>` `pod-<n>` in namespace `default`.
    let n = uid.strip_prefix("uid-").expect("test uids are uid-<n>");
    PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
        pod_uid: uid.into(),
        pod_namespace: "default".into(),
        pod_name: format!("pod-{n}"),
        group_state: ResctrlGroupState::Exists(group(uid).to_string_lossy().into_owned()),
        total_containers: total,
        reconciled_containers: reconciled,
    })
}

fn removed(uid: &str) -> PodResctrlEvent {
    PodResctrlEvent::Removed(PodResctrlRemoved {
        pod_uid: uid.into(),
    })
}

// --- a pid source that can be held, to make the core slow ---

/// While closed, every listing blocks: the core is stuck in the middle of its work.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    waiting: usize,
    /// Listings panic: a bug in the core, as far as the adapter can tell.
    poisoned: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        self.lock().closed = true;
    }

    fn open(&self) {
        self.lock().closed = false;
        self.changed.notify_all();
    }

    fn poison(&self) {
        self.lock().poisoned = true;
    }

    fn pass(&self) {
        let mut state = self.lock();
        assert!(!state.poisoned, "the test made the core panic");
        state.waiting += 1;
        while state.closed {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting -= 1;
    }

    /// Waits (bounded) until the worker is held at the gate.
    async fn wait_until_held(&self) {
        let deadline = Instant::now() + LIMIT;
        while self.lock().waiting == 0 {
            assert!(
                Instant::now() < deadline,
                "the worker never reached the gate"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

#[derive(Debug, Clone)]
struct GatedPids {
    script: ScriptedPidSource,
    gate: Arc<Gate>,
}

impl PidSource for GatedPids {
    fn thread_ids(&self, pod: &PodInfo, container: &ContainerInfo) -> io::Result<Vec<u32>> {
        self.gate.pass();
        self.script.thread_ids(pod, container)
    }
}

// --- the plugin on a test runtime ---

struct Setup {
    _dir: tempfile::TempDir,
    /// `None` only while it restarts.
    runtime: Option<TestRuntime>,
    fake: FakeResctrl,
    pids: ScriptedPidSource,
    gate: Arc<Gate>,
    rx: EventReceiver,
    plugin: ResctrlNriPlugin,
}

fn peer(mode: RuntimeMode) -> PeerConfig {
    PeerConfig {
        mode,
        ..PeerConfig::default()
    }
}

impl Setup {
    async fn start(peer: PeerConfig) -> Self {
        Self::start_with(peer, FakeResctrl::new(), |o| o).await
    }

    async fn start_with(
        peer: PeerConfig,
        fake: FakeResctrl,
        options: impl FnOnce(AdapterOptions) -> AdapterOptions,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = TestRuntime::bind(dir.path().join("nri.sock"), peer).expect("bind");
        let pids = ScriptedPidSource::new();
        let gate = Arc::new(Gate::default());
        let (tx, rx) = events::channel(256);
        let core = ResctrlPlugin::with_provider(
            fake.clone(),
            PluginConfig::default(),
            fake.config(),
            GatedPids {
                script: pids.clone(),
                gate: gate.clone(),
            },
            tx,
        )
        .expect("core");
        let plugin = ResctrlNriPlugin::spawn_with_core(options(adapter_options(&runtime)), core)
            .await
            .expect("plugin starts");
        Setup {
            _dir: dir,
            runtime: Some(runtime),
            fake,
            pids,
            gate,
            rx,
            plugin,
        }
    }

    fn runtime(&self) -> &TestRuntime {
        self.runtime.as_ref().expect("the runtime is up")
    }

    async fn accept(&self) -> PluginConnection {
        within("the plugin to connect", self.runtime().accept())
            .await
            .expect("registration and configuration")
    }

    /// The runtime goes away (its socket too) and listens again; the caller drops its
    /// connections to complete the picture.
    fn restart_runtime(&mut self) {
        let runtime = self.runtime.take().expect("the runtime is up");
        self.runtime = Some(runtime.restart().expect("restart"));
    }

    /// Makes `tids` live in the fake and the threads of `container`.
    fn threads(&self, container: &str, tids: impl IntoIterator<Item = u32> + Clone) {
        self.fake.add_threads(tids.clone());
        self.pids.set_threads(container, tids);
    }

    async fn next_event(&mut self) -> PodResctrlEvent {
        within("a pod event", self.rx.recv())
            .await
            .expect("the event channel is open")
    }

    async fn events(&mut self, n: usize) -> Vec<PodResctrlEvent> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next_event().await);
        }
        out
    }

    /// Asserts that no event is pending once everything sent so far was handled.
    async fn no_more_events(&mut self) {
        within("the worker", self.plugin.status())
            .await
            .expect("status");
        if let Ok(event) = self.rx.try_recv() {
            panic!("unexpected event {event:?}");
        }
    }

    fn members(&self, uid: &str) -> BTreeSet<u32> {
        self.fake.members(&group(uid))
    }
}

fn adapter_options(runtime: &TestRuntime) -> AdapterOptions {
    let nri = NriConfig::new("resctrl", "10")
        .expect("valid identity")
        .with_socket_path(runtime.socket_path())
        // Reconnect quickly: the tests restart the runtime.
        .with_reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
            multiplier: 2,
        }));
    // No periodic round unless a test asks for one.
    AdapterOptions::new(nri).with_retry_interval(Duration::from_secs(3600))
}

async fn send(
    conn: &PluginConnection,
    event: Event,
    pod: &nri::PodSandbox,
    container: Option<&nri::Container>,
) -> Delivery {
    within(event.name(), conn.event(event, pod, container))
        .await
        .unwrap_or_else(|e| panic!("{event}: {}", Chain(&e)))
}

// --- tests ---

#[tokio::test]
async fn synchronize_places_existing_pods_and_split_messages_are_joined() {
    let mut s = Setup::start(PeerConfig {
        sync_chunk_size: Some(1),
        ..peer(RuntimeMode::NriV0_8)
    })
    .await;
    let conn = s.accept().await;
    assert_eq!(conn.events(), SUBSCRIBED_EVENTS);
    let (a, b) = (pod("a"), pod("b"));
    s.threads("a1", [101, 102]);
    s.threads("a2", [103]);
    s.threads("b1", [201]);
    let containers = vec![
        ctr("a1", &a, RUNNING, 101),
        ctr("a2", &a, RUNNING, 103),
        ctr("b1", &b, RUNNING, 201),
        ctr("b2", &b, nri::ContainerState::CONTAINER_STOPPED, 0),
    ];
    // Four messages of one pod and one container each.
    within("sync", conn.synchronize(vec![a, b], containers))
        .await
        .expect("synchronize");
    assert_eq!(
        s.events(2).await,
        vec![exists("uid-a", 2, 2), exists("uid-b", 1, 1)]
    );
    assert_eq!(s.members("uid-a"), BTreeSet::from([101, 102, 103]));
    assert_eq!(s.members("uid-b"), BTreeSet::from([201]));
    s.no_more_events().await;
    s.plugin.stop().await.expect("clean stop");
}

/// A pod's life, event by event, delivered the way `mode` delivers it.
async fn pod_lifecycle(mode: RuntimeMode) {
    let mut s = Setup::start(peer(mode)).await;
    let conn = s.accept().await;
    within("sync", conn.synchronize(vec![], vec![]))
        .await
        .expect("synchronize");
    let lifecycle_delivery = match mode {
        RuntimeMode::NriV0_8 => Delivery::StateChange,
        RuntimeMode::NriV0_12 => Delivery::Method,
    };

    let c = pod("c");
    s.threads("c1", [301, 302]);
    let created = ctr("c1", &c, CREATED, 0);
    assert_eq!(
        send(&conn, Event::RunPodSandbox, &c, None).await,
        lifecycle_delivery
    );
    assert_eq!(s.next_event().await, exists("uid-c", 0, 0));
    assert_eq!(
        send(&conn, Event::CreateContainer, &c, Some(&created)).await,
        Delivery::NotSubscribed
    );
    assert_eq!(
        send(&conn, Event::PostCreateContainer, &c, Some(&created)).await,
        lifecycle_delivery
    );
    assert_eq!(s.next_event().await, exists("uid-c", 1, 0));
    // NRI still reports CREATED at StartContainer; the threads are placed anyway.
    assert_eq!(
        send(&conn, Event::StartContainer, &c, Some(&created)).await,
        lifecycle_delivery
    );
    assert_eq!(s.next_event().await, exists("uid-c", 1, 1));
    assert_eq!(s.members("uid-c"), BTreeSet::from([301, 302]));
    let running = ctr("c1", &c, RUNNING, 301);
    assert_eq!(
        send(&conn, Event::PostStartContainer, &c, Some(&running)).await,
        lifecycle_delivery
    );
    for event in [
        Event::UpdateContainer,
        Event::PostUpdateContainer,
        Event::StopPodSandbox,
    ] {
        assert_eq!(
            send(&conn, event, &c, Some(&running)).await,
            Delivery::NotSubscribed,
            "{event}"
        );
    }
    s.no_more_events().await;

    let stopped = ctr("c1", &c, nri::ContainerState::CONTAINER_STOPPED, 0);
    assert_eq!(
        send(&conn, Event::StopContainer, &c, Some(&stopped)).await,
        Delivery::Method
    );
    assert_eq!(s.next_event().await, exists("uid-c", 0, 0));
    assert_eq!(
        send(&conn, Event::RemoveContainer, &c, Some(&stopped)).await,
        lifecycle_delivery
    );
    assert_eq!(
        send(&conn, Event::RemovePodSandbox, &c, None).await,
        lifecycle_delivery
    );
    assert_eq!(s.next_event().await, removed("uid-c"));
    assert!(!s.fake.group_exists(&group("uid-c")));
    s.no_more_events().await;
    s.plugin.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_pods_life_through_state_change_like_containerd_2_1() {
    pod_lifecycle(RuntimeMode::NriV0_8).await;
}

#[tokio::test]
async fn a_pods_life_through_per_event_methods_of_newer_runtimes() {
    pod_lifecycle(RuntimeMode::NriV0_12).await;
}

#[tokio::test]
async fn after_a_runtime_restart_the_new_synchronize_reconciles_everything() {
    let mut s = Setup::start(peer(RuntimeMode::NriV0_8)).await;
    let conn = s.accept().await;
    let (a, b, c) = (pod("a"), pod("b"), pod("c"));
    s.threads("a1", [101]);
    s.threads("a2", [102]);
    s.threads("b1", [201]);
    s.threads("c1", [301, 302]);
    within(
        "first sync",
        conn.synchronize(
            vec![a.clone(), b],
            vec![
                ctr("a1", &a, RUNNING, 101),
                ctr("a2", &a, RUNNING, 102),
                ctr("b1", &pod("b"), RUNNING, 201),
            ],
        ),
    )
    .await
    .expect("synchronize");
    assert_eq!(
        s.events(2).await,
        vec![exists("uid-a", 2, 2), exists("uid-b", 1, 1)]
    );

    // The runtime goes away; meanwhile b and a's second container end and c starts.
    s.restart_runtime();
    drop(conn);
    let conn = s.accept().await;
    within(
        "sync after the restart",
        conn.synchronize(
            vec![a.clone(), c.clone()],
            vec![ctr("a1", &a, RUNNING, 101), ctr("c1", &c, RUNNING, 301)],
        ),
    )
    .await
    .expect("synchronize");
    assert_eq!(
        s.events(3).await,
        vec![
            removed("uid-b"),
            exists("uid-a", 1, 1),
            exists("uid-c", 1, 1)
        ]
    );
    assert!(!s.fake.group_exists(&group("uid-b")));
    assert_eq!(s.members("uid-c"), BTreeSet::from([301, 302]));
    s.no_more_events().await;

    // And events flow on the new connection.
    assert_eq!(
        send(&conn, Event::RemovePodSandbox, &c, None).await,
        Delivery::StateChange
    );
    assert_eq!(s.next_event().await, removed("uid-c"));
    s.plugin.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_stuck_core_never_makes_a_call_miss_the_deadline() {
    let timeout = Duration::from_millis(500);
    let mut s = Setup::start(PeerConfig {
        request_timeout: timeout,
        ..peer(RuntimeMode::NriV0_8)
    })
    .await;
    let conn = s.accept().await;
    let (a, d) = (pod("a"), pod("d"));
    s.threads("a1", [101]);
    s.threads("d1", [401]);
    s.gate.close();
    within(
        "sync",
        conn.synchronize(vec![a.clone()], vec![ctr("a1", &a, RUNNING, 101)]),
    )
    .await
    .expect("answered while the core is stuck");
    s.gate.wait_until_held().await;

    // The core stays stuck in the synchronization; a whole pod start still goes through,
    // each call answered at once. (A late answer would be a Timeout error here, and the
    // peer would drop the plugin.)
    let created = ctr("d1", &d, CREATED, 0);
    let running = ctr("d1", &d, RUNNING, 401);
    let mut slowest = Duration::ZERO;
    for (event, container) in [
        (Event::RunPodSandbox, None),
        (Event::PostCreateContainer, Some(&created)),
        (Event::StartContainer, Some(&created)),
        (Event::PostStartContainer, Some(&running)),
    ] {
        let started = Instant::now();
        send(&conn, event, &d, container).await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < timeout / 2,
        "slowest answer {slowest:?} with a {timeout:?} deadline"
    );
    assert_eq!(s.gate.lock().waiting, 1, "the core was stuck all along");

    s.gate.open();
    assert_eq!(
        s.events(4).await,
        vec![
            exists("uid-a", 1, 1),
            exists("uid-d", 0, 0),
            exists("uid-d", 1, 0),
            exists("uid-d", 1, 1)
        ]
    );
    assert_eq!(s.members("uid-d"), BTreeSet::from([401]));
    assert_eq!(s.plugin.lost_runtime_events(), 0);
    s.plugin.stop().await.expect("clean stop");
}

#[tokio::test]
async fn events_lost_to_a_full_queue_make_the_plugin_fetch_the_state_again() {
    let s = Setup::start_with(peer(RuntimeMode::NriV0_8), FakeResctrl::new(), |o| {
        o.with_queue_capacity(1)
    })
    .await;
    let conn = s.accept().await;
    let (a, e) = (pod("a"), pod("e"));
    s.threads("a1", [101]);
    s.threads("e1", [501]);
    s.gate.close();
    within(
        "sync",
        conn.synchronize(vec![a.clone()], vec![ctr("a1", &a, RUNNING, 101)]),
    )
    .await
    .expect("synchronize");
    s.gate.wait_until_held().await;
    // One event fits in the queue; the next is lost (and still answered).
    send(&conn, Event::RunPodSandbox, &e, None).await;
    send(
        &conn,
        Event::PostCreateContainer,
        &e,
        Some(&ctr("e1", &e, CREATED, 0)),
    )
    .await;
    assert_eq!(s.plugin.lost_runtime_events(), 1);

    // Once the worker has caught up, the plugin drops the connection and comes back for
    // a fresh Synchronize.
    s.gate.open();
    within("the old connection to close", conn.closed()).await;
    let conn = s.accept().await;
    within(
        "sync on the new connection",
        conn.synchronize(
            vec![a.clone(), e.clone()],
            vec![ctr("a1", &a, RUNNING, 101), ctr("e1", &e, RUNNING, 501)],
        ),
    )
    .await
    .expect("synchronize");
    let status = within("status", s.plugin.status()).await.expect("status");
    let counts: Vec<(String, usize, usize)> = status
        .pods
        .iter()
        .map(|p| {
            (
                p.pod_uid.clone(),
                p.total_containers,
                p.reconciled_containers,
            )
        })
        .collect();
    assert_eq!(counts, vec![("uid-a".into(), 1, 1), ("uid-e".into(), 1, 1)]);
    assert_eq!(status.lost_runtime_events, 1);
    assert_eq!(status.synchronizations, 2, "one per connection");
    assert_eq!(s.members("uid-e"), BTreeSet::from([501]));
    s.plugin.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_periodic_round_places_processes_started_into_running_containers() {
    let mut s = Setup::start_with(peer(RuntimeMode::NriV0_8), FakeResctrl::new(), |o| {
        o.with_retry_interval(Duration::from_millis(50))
    })
    .await;
    let conn = s.accept().await;
    let a = pod("a");
    s.threads("a1", [101]);
    within(
        "sync",
        conn.synchronize(vec![a.clone()], vec![ctr("a1", &a, RUNNING, 101)]),
    )
    .await
    .expect("synchronize");
    assert_eq!(s.next_event().await, exists("uid-a", 1, 1));

    // An exec'd process: in the container's cgroup, but in the root group.
    s.threads("a1", [101, 109]);
    let deadline = Instant::now() + LIMIT;
    while s.fake.group_of(109) != Some(group("uid-a")) {
        assert!(
            Instant::now() < deadline,
            "the periodic round never placed the exec'd process"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.no_more_events().await;
    s.plugin.stop().await.expect("clean stop");
}

#[tokio::test]
async fn retry_now_runs_the_round_after_the_queued_events() {
    let mut s = Setup::start(peer(RuntimeMode::NriV0_12)).await;
    let conn = s.accept().await;
    let a = pod("a");
    s.threads("a1", [101]);
    // No free monitoring ID for the first mkdir: the pod has no group yet.
    s.fake.inject_enospc(1);
    within(
        "sync",
        conn.synchronize(vec![a.clone()], vec![ctr("a1", &a, RUNNING, 101)]),
    )
    .await
    .expect("synchronize");
    let failed = s.next_event().await;
    assert!(
        matches!(&failed, PodResctrlEvent::AddOrUpdate(u) if u.group_state == ResctrlGroupState::Failed),
        "{failed:?}"
    );
    s.threads("a1", [101, 102]);
    assert!(s.plugin.retry_now());
    assert_eq!(s.next_event().await, exists("uid-a", 1, 1));
    assert_eq!(s.members("uid-a"), BTreeSet::from([101, 102]));
    s.plugin.stop().await.expect("clean stop");
}

#[tokio::test]
async fn startup_cleanup_runs_before_registration_and_its_failure_stops_the_start() {
    let fake = FakeResctrl::new();
    let stale = group("left-by-a-crash");
    fake.create_dir(&stale).expect("stale group");
    let mut s = Setup::start_with(peer(RuntimeMode::NriV0_8), fake, |o| o).await;
    // Done before the plugin even tried to connect.
    let cleanup = s.plugin.startup_report().cleanup.expect("cleanup ran");
    assert_eq!(cleanup.removed, 1);
    assert!(!s.fake.group_exists(&stale));
    let conn = s.accept().await;
    within("sync", conn.synchronize(vec![], vec![]))
        .await
        .expect("synchronize");
    s.no_more_events().await;
    s.plugin.stop().await.expect("clean stop");

    // resctrl not mounted and auto-mount off: spawn fails with the core's reason.
    let fake = FakeResctrl::builder().mounted(false).build();
    let (tx, _rx) = events::channel(8);
    let core = ResctrlPlugin::with_provider(
        fake.clone(),
        PluginConfig::default(),
        fake.config(),
        ScriptedPidSource::new(),
        tx,
    )
    .expect("core");
    let dir = tempfile::tempdir().expect("tempdir");
    let nri = NriConfig::new("resctrl", "10")
        .expect("identity")
        .with_socket_path(dir.path().join("absent.sock"));
    match ResctrlNriPlugin::spawn_with_core(AdapterOptions::new(nri), core).await {
        Err(AdapterError::Core(PluginError::Resctrl(resctrl::Error::NotMounted { .. }))) => {}
        other => panic!("expected a not-mounted error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panicking_core_stops_the_plugin_with_an_error() {
    let s = Setup::start(peer(RuntimeMode::NriV0_8)).await;
    let conn = s.accept().await;
    let a = pod("a");
    s.threads("a1", [101]);
    s.gate.poison();
    within(
        "sync",
        conn.synchronize(vec![a.clone()], vec![ctr("a1", &a, RUNNING, 101)]),
    )
    .await
    .expect("answered before the worker got to it");
    // No further event is needed for the plugin to notice and stop.
    within("the connection to close", conn.closed()).await;
    let Setup { plugin, .. } = s;
    match within("the plugin to end", plugin.wait()).await {
        Err(AdapterError::WorkerStopped) => {}
        other => panic!("expected WorkerStopped, got {other:?}"),
    }
}

#[tokio::test]
async fn stopping_closes_the_connection_and_the_event_channel() {
    let s = Setup::start(peer(RuntimeMode::NriV0_8)).await;
    let conn = s.accept().await;
    within("sync", conn.synchronize(vec![], vec![]))
        .await
        .expect("synchronize");
    let Setup { plugin, mut rx, .. } = s;
    within("stop", plugin.stop()).await.expect("clean stop");
    within("the connection to close", conn.closed()).await;
    assert!(
        within("the channel to close", rx.recv()).await.is_none(),
        "the core is gone, so its channel is closed"
    );
}
