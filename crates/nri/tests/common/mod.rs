//! Shared helpers: a plugin that reports everything it sees on a channel,
//! a harness that runs it, and sample pods and containers.

// `allow`, not `expect`: the lint runs per test binary, and a binary that happens to use
// every helper would find the expectation unfulfilled.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nri::error::{MuxError, StubError};
use nri::stub::{Backoff, Plugin, PluginConfig, Runner, RuntimeInfo, ShutdownHandle};
use nri::testing::{PeerConfig, RuntimeMode, TestRuntime};
use nri::{Container, Event, EventMask, HandlerError, PodSandbox};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Upper bound for anything a test waits for: a hang fails instead of
/// blocking forever.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {LIMIT:?} waiting for {what}"),
    }
}

/// What the test plugin observed.
#[derive(Debug, Clone)]
pub enum Seen {
    Configure(RuntimeInfo),
    Sync {
        pods: Vec<String>,
        containers: Vec<String>,
    },
    Event {
        event: Event,
        pod: String,
        container: Option<String>,
    },
    Shutdown,
    Lost {
        mux: Option<MuxError>,
        text: String,
    },
}

/// A plugin that reports every call and can be told to fail or hang.
pub struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
    mask: EventMask,
    fail_on: Option<Event>,
    hang_on: Option<Event>,
}

impl Recorder {
    pub fn new(mask: EventMask) -> (Self, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Recorder {
                tx,
                mask,
                fail_on: None,
                hang_on: None,
            },
            rx,
        )
    }

    pub fn failing_on(mut self, event: Event) -> Self {
        self.fail_on = Some(event);
        self
    }

    pub fn hanging_on(mut self, event: Event) -> Self {
        self.hang_on = Some(event);
        self
    }

    fn report(&self, seen: Seen) {
        // The test may have stopped listening; that is not the plugin's
        // business.
        let _ = self.tx.send(seen);
    }

    async fn on(
        &self,
        event: Event,
        pod: PodSandbox,
        container: Option<Container>,
    ) -> Result<(), HandlerError> {
        self.report(Seen::Event {
            event,
            pod: pod.id,
            container: container.map(|c| c.id),
        });
        if self.hang_on == Some(event) {
            std::future::pending::<()>().await;
        }
        if self.fail_on == Some(event) {
            return Err(HandlerError::new("refused by test"));
        }
        Ok(())
    }
}

impl Plugin for Recorder {
    async fn configure(&self, runtime: RuntimeInfo) -> Result<EventMask, HandlerError> {
        self.report(Seen::Configure(runtime));
        Ok(self.mask)
    }

    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> Result<(), HandlerError> {
        self.report(Seen::Sync {
            pods: pods.into_iter().map(|p| p.id).collect(),
            containers: containers.into_iter().map(|c| c.id).collect(),
        });
        Ok(())
    }

    async fn shutdown(&self) {
        self.report(Seen::Shutdown);
    }

    async fn connection_lost(&self, error: &StubError) {
        let mux = match error {
            StubError::ConnectionClosed(reason) => Some(reason.clone()),
            _ => None,
        };
        self.report(Seen::Lost {
            mux,
            text: error.to_string(),
        });
    }

    async fn run_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        self.on(Event::RunPodSandbox, pod, None).await
    }
    async fn stop_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        self.on(Event::StopPodSandbox, pod, None).await
    }
    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        self.on(Event::RemovePodSandbox, pod, None).await
    }
    async fn update_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        self.on(Event::UpdatePodSandbox, pod, None).await
    }
    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        self.on(Event::PostUpdatePodSandbox, pod, None).await
    }
    async fn create_container(&self, pod: PodSandbox, c: Container) -> Result<(), HandlerError> {
        self.on(Event::CreateContainer, pod, Some(c)).await
    }
    async fn post_create_container(
        &self,
        pod: PodSandbox,
        c: Container,
    ) -> Result<(), HandlerError> {
        self.on(Event::PostCreateContainer, pod, Some(c)).await
    }
    async fn start_container(&self, pod: PodSandbox, c: Container) -> Result<(), HandlerError> {
        self.on(Event::StartContainer, pod, Some(c)).await
    }
    async fn post_start_container(
        &self,
        pod: PodSandbox,
        c: Container,
    ) -> Result<(), HandlerError> {
        self.on(Event::PostStartContainer, pod, Some(c)).await
    }
    async fn update_container(&self, pod: PodSandbox, c: Container) -> Result<(), HandlerError> {
        self.on(Event::UpdateContainer, pod, Some(c)).await
    }
    async fn post_update_container(
        &self,
        pod: PodSandbox,
        c: Container,
    ) -> Result<(), HandlerError> {
        self.on(Event::PostUpdateContainer, pod, Some(c)).await
    }
    async fn stop_container(&self, pod: PodSandbox, c: Container) -> Result<(), HandlerError> {
        self.on(Event::StopContainer, pod, Some(c)).await
    }
    async fn remove_container(&self, pod: PodSandbox, c: Container) -> Result<(), HandlerError> {
        self.on(Event::RemoveContainer, pod, Some(c)).await
    }
}

/// A running plugin and what it reports.
pub struct Running {
    pub seen: mpsc::UnboundedReceiver<Seen>,
    pub stop: ShutdownHandle,
    pub task: JoinHandle<Result<(), StubError>>,
}

impl Running {
    /// The next observation.
    pub async fn next(&mut self) -> Seen {
        within("the plugin to report", self.seen.recv())
            .await
            .expect("the plugin dropped its reporter")
    }

    /// Nothing further reported so far.
    pub fn nothing_pending(&mut self) -> bool {
        self.seen.try_recv().is_err()
    }

    /// Stops the plugin and returns its result.
    pub async fn stop(self) -> Result<(), StubError> {
        self.stop.shutdown();
        self.finished().await
    }

    /// Waits for the runner to return on its own.
    pub async fn finished(self) -> Result<(), StubError> {
        within("the runner to return", self.task)
            .await
            .expect("runner task panicked")
    }
}

/// Fast reconnects so tests need not wait.
pub fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(100),
        multiplier: 2,
    }
}

/// Config of a test plugin connecting to `socket` with fast reconnects.
pub fn plugin_config(socket: impl Into<PathBuf>) -> PluginConfig {
    PluginConfig::new("recorder", "42")
        .expect("valid name")
        .with_socket_path(socket)
        .with_reconnect(Some(fast_backoff()))
}

/// Runs `plugin` with `config.run()` on a task.
pub fn start(
    plugin: Recorder,
    seen: mpsc::UnboundedReceiver<Seen>,
    config: PluginConfig,
) -> Running {
    let runner = Runner::new(Arc::new(plugin), config);
    let stop = runner.shutdown_handle();
    Running {
        seen,
        stop,
        task: tokio::spawn(runner.run()),
    }
}

/// A temporary directory with a runtime socket in it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub runtime: TestRuntime,
}

impl Setup {
    pub fn new(peer: PeerConfig) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = TestRuntime::bind(dir.path().join("nri.sock"), peer).expect("bind");
        Setup { dir, runtime }
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime.socket_path().to_owned()
    }
}

/// A peer like containerd 2.1 with short timeouts.
pub fn v08_peer() -> PeerConfig {
    PeerConfig {
        registration_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..PeerConfig::default()
    }
}

/// A peer like an nri v0.12 runtime.
pub fn v12_peer() -> PeerConfig {
    PeerConfig {
        mode: RuntimeMode::NriV0_12,
        runtime_version: "v2.3.0".into(),
        ..v08_peer()
    }
}

pub fn pod(id: &str) -> PodSandbox {
    PodSandbox {
        id: id.into(),
        name: format!("{id}-name"),
        uid: format!("{id}-uid"),
        namespace: "default".into(),
        ..Default::default()
    }
}

pub fn container(id: &str, pod: &str) -> Container {
    Container {
        id: id.into(),
        pod_sandbox_id: pod.into(),
        name: format!("{id}-name"),
        ..Default::default()
    }
}

/// Asserts the next observation is `event` for pod `p` (and container `c`).
pub async fn expect_event(running: &mut Running, event: Event, p: &str, c: Option<&str>) {
    match running.next().await {
        Seen::Event {
            event: got,
            pod,
            container,
        } => {
            assert_eq!(got, event);
            assert_eq!(pod, p, "{event}");
            assert_eq!(container.as_deref(), c, "{event}");
        }
        other => panic!("expected {event}, got {other:?}"),
    }
}

/// Expects a Configure observation and returns what the runtime sent.
pub async fn expect_configure(running: &mut Running) -> RuntimeInfo {
    match running.next().await {
        Seen::Configure(info) => info,
        other => panic!("expected Configure, got {other:?}"),
    }
}
