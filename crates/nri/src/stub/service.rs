//! The ttrpc `Plugin` service: turns the runtime's calls into [`Plugin`]
//! handler calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use protobuf::MessageField;
use tokio::sync::oneshot;
use tracing::{debug, warn};
use ttrpc::Code;
use ttrpc::r#async::TtrpcContext;
use ttrpc::error::get_rpc_status;

use super::{Plugin, RuntimeInfo};
use crate::events::{Event, EventMask};
use crate::proto::nri::{self, Container, PodSandbox};
use crate::proto::nri_ttrpc;

/// Methods of nri v0.8, which every runtime calls.
const CLASSIC_METHODS: [&str; 7] = [
    "Configure",
    "Synchronize",
    "Shutdown",
    "CreateContainer",
    "UpdateContainer",
    "StopContainer",
    "StateChange",
];

/// Per-event methods of nri v0.12.
const PER_EVENT_METHODS: [&str; 10] = [
    "RunPodSandbox",
    "UpdatePodSandbox",
    "PostUpdatePodSandbox",
    "StopPodSandbox",
    "RemovePodSandbox",
    "PostCreateContainer",
    "StartContainer",
    "PostStartContainer",
    "PostUpdateContainer",
    "RemoveContainer",
];

/// The outcome of the first `Configure` of a connection: the subscribed
/// events, or why configuration failed.
pub(super) type Configured = Result<EventMask, String>;

pub(super) struct PluginService<P> {
    plugin: Arc<P>,
    configured: Mutex<Option<oneshot::Sender<Configured>>>,
    /// Chunks of a split `Synchronize` received so far.
    sync_parts: Mutex<Option<(Vec<PodSandbox>, Vec<Container>)>>,
    /// The runtime's request timeout in ms (0 until configured).
    request_timeout_ms: AtomicU64,
}

impl<P: Plugin> PluginService<P> {
    pub(super) fn new(plugin: Arc<P>, configured: oneshot::Sender<Configured>) -> Self {
        PluginService {
            plugin,
            configured: Mutex::new(Some(configured)),
            sync_parts: Mutex::new(None),
            request_timeout_ms: AtomicU64::new(0),
        }
    }

    /// The ttrpc service table.
    ///
    /// Generated ttrpc code answers methods a service does not override with
    /// NOT_FOUND, which a newer runtime does not treat as "fall back to
    /// StateChange". The table therefore lists only the methods served
    /// here; ttrpc answers UNIMPLEMENTED for any other method name (this
    /// includes `ValidateContainerAdjustment` and, in legacy mode, the
    /// per-event methods).
    pub(super) fn into_services(self, legacy: bool) -> HashMap<String, ttrpc::r#async::Service> {
        let mut services = nri_ttrpc::create_plugin(Arc::new(self));
        for service in services.values_mut() {
            service.methods.retain(|name, _| {
                CLASSIC_METHODS.contains(&name.as_str())
                    || (!legacy && PER_EVENT_METHODS.contains(&name.as_str()))
            });
        }
        services
    }

    fn report_configured(&self, outcome: Configured) {
        let sender = self
            .configured
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            // The session may have ended already; nobody to tell then.
            let _ = sender.send(outcome);
        }
    }

    async fn dispatch(
        &self,
        event: Event,
        pod: MessageField<PodSandbox>,
        container: MessageField<Container>,
    ) -> ttrpc::Result<()> {
        let started = Instant::now();
        let p = &self.plugin;
        let pod = pod.into_option();
        let container = container.into_option();
        let result = match event {
            Event::RunPodSandbox => p.run_pod_sandbox(need_pod(event, pod)?).await,
            Event::StopPodSandbox => p.stop_pod_sandbox(need_pod(event, pod)?).await,
            Event::RemovePodSandbox => p.remove_pod_sandbox(need_pod(event, pod)?).await,
            Event::UpdatePodSandbox => p.update_pod_sandbox(need_pod(event, pod)?).await,
            Event::PostUpdatePodSandbox => p.post_update_pod_sandbox(need_pod(event, pod)?).await,
            Event::CreateContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.create_container(pod, ctr).await
            }
            Event::PostCreateContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.post_create_container(pod, ctr).await
            }
            Event::StartContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.start_container(pod, ctr).await
            }
            Event::PostStartContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.post_start_container(pod, ctr).await
            }
            Event::UpdateContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.update_container(pod, ctr).await
            }
            Event::PostUpdateContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.post_update_container(pod, ctr).await
            }
            Event::StopContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.stop_container(pod, ctr).await
            }
            Event::RemoveContainer => {
                let (pod, ctr) = need_container(event, pod, container)?;
                p.remove_container(pod, ctr).await
            }
            Event::ValidateContainerAdjustment => {
                return Err(get_rpc_status(
                    Code::UNIMPLEMENTED,
                    "this plugin does not validate container adjustments",
                ));
            }
        };
        self.check_duration(event.name(), started.elapsed());
        result.map_err(|err| {
            let text = err.chain();
            warn!(%event, error = %text, "plugin handler failed");
            get_rpc_status(Code::UNKNOWN, text)
        })
    }

    /// Warns when a handler used more than half of the runtime's budget:
    /// the next slow one may get the plugin disconnected.
    fn check_duration(&self, what: &str, took: Duration) {
        let budget = Duration::from_millis(self.request_timeout_ms.load(Ordering::Relaxed));
        if !budget.is_zero() && took > budget / 2 {
            warn!(
                handler = what,
                took_ms = took.as_millis() as u64,
                timeout_ms = budget.as_millis() as u64,
                "slow NRI handler; move work off the RPC path"
            );
        }
    }
}

fn need_pod(event: Event, pod: Option<PodSandbox>) -> ttrpc::Result<PodSandbox> {
    pod.ok_or_else(|| {
        get_rpc_status(
            Code::INVALID_ARGUMENT,
            format!("{event} request without a pod"),
        )
    })
}

/// A container event needs the container; the pod is informational (the
/// container names its pod) and defaults to empty if missing.
fn need_container(
    event: Event,
    pod: Option<PodSandbox>,
    container: Option<Container>,
) -> ttrpc::Result<(PodSandbox, Container)> {
    let container = container.ok_or_else(|| {
        get_rpc_status(
            Code::INVALID_ARGUMENT,
            format!("{event} request without a container"),
        )
    })?;
    Ok((pod.unwrap_or_default(), container))
}

/// The mask to send: the plugin's request trimmed to what the runtime
/// accepts. Never empty, because 0 means "everything" to the runtime.
fn subscription(requested: EventMask, accepted: EventMask) -> Configured {
    let requested = if requested.is_empty() {
        EventMask::SERVED_BY_STUB
    } else {
        requested
    };
    let effective = requested & accepted;
    let dropped = requested - accepted;
    if !dropped.is_empty() {
        warn!(
            %dropped,
            "not subscribing to events the runtime or this stub does not support"
        );
    }
    if effective.is_empty() {
        return Err(format!(
            "none of the requested events ({requested}) is supported (supported: {accepted})"
        ));
    }
    Ok(effective)
}

fn millis(ms: i64) -> Option<Duration> {
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

#[async_trait]
impl<P: Plugin> nri_ttrpc::Plugin for PluginService<P> {
    async fn configure(
        &self,
        _ctx: &TtrpcContext,
        req: nri::ConfigureRequest,
    ) -> ttrpc::Result<nri::ConfigureResponse> {
        let info = RuntimeInfo {
            runtime_name: req.runtime_name,
            runtime_version: req.runtime_version,
            nri_version: req.nri_version,
            config: req.config,
            registration_timeout: millis(req.registration_timeout),
            request_timeout: millis(req.request_timeout),
        };
        let timeout_ms = info.request_timeout.map_or(0, |t| t.as_millis() as u64);
        self.request_timeout_ms.store(timeout_ms, Ordering::Relaxed);
        let accepted =
            EventMask::accepted_by_runtime(&info.nri_version) & EventMask::SERVED_BY_STUB;
        debug!(runtime = %info.runtime_name, version = %info.runtime_version,
            nri = %info.nri_version, "Configure");

        let outcome = match self.plugin.configure(info).await {
            Ok(requested) => subscription(requested, accepted),
            Err(err) => Err(err.chain()),
        };
        self.report_configured(outcome.clone());
        match outcome {
            Ok(events) => Ok(nri::ConfigureResponse {
                // At most 14 bits are ever set, so the value fits in i32.
                events: events.bits() as i32,
                ..Default::default()
            }),
            Err(message) => Err(get_rpc_status(Code::UNKNOWN, message)),
        }
    }

    async fn synchronize(
        &self,
        _ctx: &TtrpcContext,
        req: nri::SynchronizeRequest,
    ) -> ttrpc::Result<nri::SynchronizeResponse> {
        // The runtime sends a large state in chunks and drops a plugin that
        // answers a non-final chunk with updates or without `more`.
        let (pods, containers) = {
            let mut parts = self
                .sync_parts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (pods, containers) = parts.get_or_insert_with(Default::default);
            pods.extend(req.pods);
            containers.extend(req.containers);
            if req.more {
                debug!(
                    pods = pods.len(),
                    containers = containers.len(),
                    "Synchronize chunk"
                );
                return Ok(nri::SynchronizeResponse {
                    more: true,
                    ..Default::default()
                });
            }
            parts.take().unwrap_or_default()
        };
        debug!(
            pods = pods.len(),
            containers = containers.len(),
            "Synchronize"
        );
        let started = Instant::now();
        let result = self.plugin.synchronize(pods, containers).await;
        self.check_duration("Synchronize", started.elapsed());
        match result {
            Ok(()) => Ok(nri::SynchronizeResponse::default()),
            Err(err) => Err(get_rpc_status(Code::UNKNOWN, err.chain())),
        }
    }

    async fn shutdown(&self, _ctx: &TtrpcContext, _req: nri::Empty) -> ttrpc::Result<nri::Empty> {
        self.plugin.shutdown().await;
        Ok(nri::Empty::default())
    }

    async fn create_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::CreateContainerRequest,
    ) -> ttrpc::Result<nri::CreateContainerResponse> {
        self.dispatch(Event::CreateContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn update_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::UpdateContainerRequest,
    ) -> ttrpc::Result<nri::UpdateContainerResponse> {
        self.dispatch(Event::UpdateContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn stop_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::StopContainerRequest,
    ) -> ttrpc::Result<nri::StopContainerResponse> {
        self.dispatch(Event::StopContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn state_change(
        &self,
        _ctx: &TtrpcContext,
        req: nri::StateChangeEvent,
    ) -> ttrpc::Result<nri::Empty> {
        match Event::from_value(req.event.value()) {
            Some(event) => self.dispatch(event, req.pod, req.container).await?,
            // A newer runtime's event this stub does not know: nothing to
            // do, and an error would only be logged (or fail an operation).
            None => warn!(
                event = req.event.value(),
                "ignoring unknown StateChange event"
            ),
        }
        Ok(nri::Empty::default())
    }

    async fn run_pod_sandbox(
        &self,
        _ctx: &TtrpcContext,
        req: nri::RunPodSandboxRequest,
    ) -> ttrpc::Result<nri::RunPodSandboxResponse> {
        self.dispatch(Event::RunPodSandbox, req.pod, MessageField::none())
            .await?;
        Ok(Default::default())
    }

    async fn update_pod_sandbox(
        &self,
        _ctx: &TtrpcContext,
        req: nri::UpdatePodSandboxRequest,
    ) -> ttrpc::Result<nri::UpdatePodSandboxResponse> {
        self.dispatch(Event::UpdatePodSandbox, req.pod, MessageField::none())
            .await?;
        Ok(Default::default())
    }

    async fn post_update_pod_sandbox(
        &self,
        _ctx: &TtrpcContext,
        req: nri::PostUpdatePodSandboxRequest,
    ) -> ttrpc::Result<nri::PostUpdatePodSandboxResponse> {
        self.dispatch(Event::PostUpdatePodSandbox, req.pod, MessageField::none())
            .await?;
        Ok(Default::default())
    }

    async fn stop_pod_sandbox(
        &self,
        _ctx: &TtrpcContext,
        req: nri::StopPodSandboxRequest,
    ) -> ttrpc::Result<nri::StopPodSandboxResponse> {
        self.dispatch(Event::StopPodSandbox, req.pod, MessageField::none())
            .await?;
        Ok(Default::default())
    }

    async fn remove_pod_sandbox(
        &self,
        _ctx: &TtrpcContext,
        req: nri::RemovePodSandboxRequest,
    ) -> ttrpc::Result<nri::RemovePodSandboxResponse> {
        self.dispatch(Event::RemovePodSandbox, req.pod, MessageField::none())
            .await?;
        Ok(Default::default())
    }

    async fn post_create_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::PostCreateContainerRequest,
    ) -> ttrpc::Result<nri::PostCreateContainerResponse> {
        self.dispatch(Event::PostCreateContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn start_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::StartContainerRequest,
    ) -> ttrpc::Result<nri::StartContainerResponse> {
        self.dispatch(Event::StartContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn post_start_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::PostStartContainerRequest,
    ) -> ttrpc::Result<nri::PostStartContainerResponse> {
        self.dispatch(Event::PostStartContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn post_update_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::PostUpdateContainerRequest,
    ) -> ttrpc::Result<nri::PostUpdateContainerResponse> {
        self.dispatch(Event::PostUpdateContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }

    async fn remove_container(
        &self,
        _ctx: &TtrpcContext,
        req: nri::RemoveContainerRequest,
    ) -> ttrpc::Result<nri::RemoveContainerResponse> {
        self.dispatch(Event::RemoveContainer, req.pod, req.container)
            .await?;
        Ok(Default::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_is_trimmed_and_never_empty() {
        let v08 = EventMask::NRI_V0_8 & EventMask::SERVED_BY_STUB;
        assert_eq!(subscription(EventMask::EMPTY, v08), Ok(EventMask::NRI_V0_8));
        let asked = EventMask::EMPTY | Event::StartContainer | Event::UpdatePodSandbox;
        assert_eq!(subscription(asked, v08), Ok(Event::StartContainer.into()));
        assert!(subscription(Event::UpdatePodSandbox.into(), v08).is_err());
        let v12 = EventMask::NRI_V0_10 & EventMask::SERVED_BY_STUB;
        assert_eq!(subscription(asked, v12), Ok(asked));
        assert_eq!(
            subscription(EventMask::EMPTY, v12),
            Ok(EventMask::SERVED_BY_STUB)
        );
    }

    #[test]
    fn method_tables_cover_every_served_event() {
        for event in Event::ALL {
            let listed = CLASSIC_METHODS.contains(&event.name())
                || PER_EVENT_METHODS.contains(&event.name());
            assert_eq!(listed, EventMask::SERVED_BY_STUB.contains(event), "{event}");
        }
    }
}
