//! The NRI handlers: each converts the runtime's message and queues it for the worker,
//! then answers at once, so no call can come near the runtime's deadline whatever the
//! worker is doing.

use nri::stub::{Plugin, RuntimeInfo};
use nri::{Container, EventMask, HandlerError, PodSandbox, StubError};

use super::convert::{container_info, pod_info};
use super::mask::SUBSCRIBED_EVENTS;
use super::queue::{Command, Queue};

/// The [`Plugin`] the NRI runner serves: a thin translation onto the work queue.
#[derive(Debug)]
pub(crate) struct NriHandlers {
    queue: Queue,
}

impl NriHandlers {
    pub(crate) fn new(queue: Queue) -> Self {
        NriHandlers { queue }
    }

    /// Queues `command`. Never an error for the runtime: a lost event is handled by a
    /// resynchronization (see the queue), and failing the runtime's operation would fail
    /// the user's pod over monitoring.
    fn submit(&self, command: Command) -> Result<(), HandlerError> {
        self.queue.submit(command);
        Ok(())
    }

    fn container_command(
        &self,
        make: fn(crate::PodInfo, crate::ContainerInfo) -> Command,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), HandlerError> {
        tracing::debug!(
            container_id = %container.id,
            container = %container.name,
            pod_uid = %pod.uid,
            "container event"
        );
        self.submit(make(pod_info(pod), container_info(container)))
    }
}

impl Plugin for NriHandlers {
    async fn configure(&self, runtime: RuntimeInfo) -> Result<EventMask, HandlerError> {
        tracing::info!(
            runtime = %runtime.runtime_name,
            version = %runtime.runtime_version,
            nri_version = %runtime.nri_version,
            request_timeout = ?runtime.request_timeout,
            events = %SUBSCRIBED_EVENTS,
            "configured by the runtime"
        );
        if !runtime.config.trim().is_empty() {
            tracing::warn!(
                config = %runtime.config,
                "ignoring the runtime's plugin configuration text: this plugin is \
                 configured by its command line and environment"
            );
        }
        Ok(SUBSCRIBED_EVENTS)
    }

    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> Result<(), HandlerError> {
        tracing::info!(
            pods = pods.len(),
            containers = containers.len(),
            "the runtime sent its state"
        );
        self.submit(Command::Synchronize {
            pods: pods.iter().map(pod_info).collect(),
            containers: containers.iter().map(container_info).collect(),
        })
    }

    async fn shutdown(&self) {
        tracing::info!("the runtime is shutting down");
    }

    async fn connection_lost(&self, error: &StubError) {
        tracing::warn!(
            error = %cause_chain::Chain(error),
            "lost the connection to the runtime; events until the next Synchronize are \
             missed, and that Synchronize restores the state"
        );
    }

    async fn run_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        tracing::debug!(pod_uid = %pod.uid, pod = %pod.name, "pod sandbox started");
        self.submit(Command::RunPodSandbox(pod_info(&pod)))
    }

    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> Result<(), HandlerError> {
        tracing::debug!(pod_uid = %pod.uid, pod = %pod.name, "pod sandbox removed");
        self.submit(Command::RemovePodSandbox(pod_info(&pod)))
    }

    async fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> Result<(), HandlerError> {
        self.container_command(Command::CreateContainer, &pod, &container)
    }

    async fn start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> Result<(), HandlerError> {
        self.container_command(Command::StartContainer, &pod, &container)
    }

    async fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> Result<(), HandlerError> {
        self.container_command(Command::StartContainer, &pod, &container)
    }

    async fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> Result<(), HandlerError> {
        self.container_command(Command::StopContainer, &pod, &container)
    }

    async fn remove_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> Result<(), HandlerError> {
        self.container_command(|_, c| Command::RemoveContainer(c), &pod, &container)
    }
}
