//! One accepted plugin, driven from the runtime's side.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt as _;
use protobuf::{Message, MessageField};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use ttrpc::Code;
use ttrpc::r#async::transport::{Listener, Socket};
use ttrpc::r#async::{Client, Server, TtrpcContext};
use ttrpc::error::get_rpc_status;

use super::{Delivery, PLUGIN_SERVICE, PeerConfig, PeerError, Registration, RuntimeMode};
use crate::error::MuxError;
use crate::events::{Event, EventMask};
use crate::mux::{Mux, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN};
use crate::proto::nri::{self, Container, ContainerUpdate, PodSandbox};
use crate::proto::nri_ttrpc;
use crate::stub::{validate_index, validate_name};

/// The runtime's `Runtime` service, answering the plugin on connection 2.
struct RuntimeService {
    registered: Mutex<Option<oneshot::Sender<Result<Registration, String>>>>,
    updates: Arc<Mutex<Vec<nri::UpdateContainersRequest>>>,
}

#[async_trait]
impl nri_ttrpc::Runtime for RuntimeService {
    async fn register_plugin(
        &self,
        _ctx: &TtrpcContext,
        req: nri::RegisterPluginRequest,
    ) -> ttrpc::Result<nri::Empty> {
        let outcome = validate_name(&req.plugin_name)
            .and_then(|()| validate_index(&req.plugin_idx))
            .map(|()| Registration {
                name: req.plugin_name.clone(),
                idx: req.plugin_idx.clone(),
            })
            .map_err(|err| err.to_string());
        let waiter = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waiter) = waiter {
            let _ = waiter.send(outcome.clone());
        }
        match outcome {
            Ok(_) => Ok(nri::Empty::default()),
            Err(message) => Err(get_rpc_status(Code::INVALID_ARGUMENT, message)),
        }
    }

    async fn update_containers(
        &self,
        _ctx: &TtrpcContext,
        req: nri::UpdateContainersRequest,
    ) -> ttrpc::Result<nri::UpdateContainersResponse> {
        self.updates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(req);
        Ok(nri::UpdateContainersResponse::default())
    }
}

/// A registered and configured plugin, seen from the runtime. Dropping it
/// closes the connection.
pub struct PluginConnection {
    mux: Mux,
    client: Client,
    // Kept only to keep serving `Runtime`; the mutex makes the connection
    // `Sync` (ttrpc's server is not), so `&PluginConnection` can be shared
    // across tasks.
    _server: Mutex<Server>,
    registration: Registration,
    events: EventMask,
    raw_events: i32,
    config: PeerConfig,
    updates: Arc<Mutex<Vec<nri::UpdateContainersRequest>>>,
}

impl std::fmt::Debug for PluginConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginConnection")
            .field("registration", &self.registration)
            .field("events", &self.events)
            .field("mux", &self.mux)
            .finish_non_exhaustive()
    }
}

impl PluginConnection {
    /// Runs the runtime's side of the handshake over `stream`: serve
    /// `Runtime` on connection 2, wait for `RegisterPlugin`, call
    /// `Configure` on connection 1, check the event mask.
    ///
    /// # Errors
    ///
    /// Registration missing, late or invalid; `Configure` failing; an event
    /// mask the emulated runtime rejects. The connection is closed then.
    pub async fn handshake<S>(stream: S, config: PeerConfig) -> Result<Self, PeerError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mux, [plugin_conn, runtime_conn]) =
            Mux::new(stream, [PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN])
                .map_err(PeerError::Mux)?;
        let (registered_tx, registered_rx) = oneshot::channel();
        let updates = Arc::new(Mutex::new(Vec::new()));
        let service = RuntimeService {
            registered: Mutex::new(Some(registered_tx)),
            updates: updates.clone(),
        };
        let listener = Listener::new(
            futures::stream::once(async move { Ok::<_, io::Error>(runtime_conn) })
                .chain(futures::stream::pending()),
        );
        let mut server = Server::new()
            .register_service(nri_ttrpc::create_runtime(Arc::new(service)))
            .add_listener(listener);
        server.start().await.map_err(PeerError::Ttrpc)?;
        let client = Client::new(Socket::new(plugin_conn));

        let timeout = config.registration_timeout;
        let registration = tokio::select! {
            registered = tokio::time::timeout(timeout, registered_rx) => match registered {
                Ok(Ok(Ok(registration))) => registration,
                Ok(Ok(Err(message))) => return Err(PeerError::RegistrationRejected(message)),
                Ok(Err(_)) | Err(_) => return Err(PeerError::RegistrationTimeout(timeout)),
            },
            reason = mux.closed() => {
                return Err(PeerError::Disconnected {
                    method: "RegisterPlugin".into(),
                    reason: reason.to_string(),
                });
            }
        };

        let mut connection = PluginConnection {
            mux,
            client,
            _server: Mutex::new(server),
            registration,
            events: EventMask::EMPTY,
            raw_events: 0,
            config,
            updates,
        };
        let request = nri::ConfigureRequest {
            config: connection.config.plugin_config.clone(),
            runtime_name: connection.config.runtime_name.clone(),
            runtime_version: connection.config.runtime_version.clone(),
            registration_timeout: millis(connection.config.registration_timeout),
            request_timeout: millis(connection.config.request_timeout),
            nri_version: connection.config.mode.nri_version().into(),
            ..Default::default()
        };
        let reply: nri::ConfigureResponse = connection.call("Configure", &request).await?;
        let accepted = connection.config.mode.accepted_events();
        // Masks are bit sets; reinterpret the wire's i32 as such.
        let mask = reply.events as u32;
        let events = if mask == 0 {
            accepted
        } else {
            EventMask::from_bits(mask)
        };
        let extra = events - accepted;
        if !extra.is_empty() {
            connection.drop_plugin();
            return Err(PeerError::InvalidEvents { mask, extra });
        }
        connection.events = events;
        connection.raw_events = reply.events;
        Ok(connection)
    }

    /// What the plugin registered as.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The events the plugin is subscribed to (all the runtime knows if it
    /// sent 0).
    pub fn events(&self) -> EventMask {
        self.events
    }

    /// The `events` value exactly as the plugin sent it.
    pub fn raw_events(&self) -> i32 {
        self.raw_events
    }

    /// The peer configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// The multiplexer (for raw frame injection and its statistics).
    pub fn mux(&self) -> &Mux {
        &self.mux
    }

    /// `UpdateContainers` requests the plugin sent so far.
    pub fn update_requests(&self) -> Vec<nri::UpdateContainersRequest> {
        self.updates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends the runtime's state, split per
    /// [`PeerConfig::sync_chunk_size`]; returns the plugin's updates.
    ///
    /// # Errors
    ///
    /// Call failures, or a plugin that answers a non-final chunk with
    /// updates or without `more` (it is dropped then).
    pub async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> Result<Vec<ContainerUpdate>, PeerError> {
        let per_message = self.config.sync_chunk_size.unwrap_or(usize::MAX).max(1);
        let messages = pods
            .len()
            .div_ceil(per_message)
            .max(containers.len().div_ceil(per_message))
            .max(1);
        let mut pods = pods.into_iter();
        let mut containers = containers.into_iter();
        for index in 1..=messages {
            let more = index < messages;
            let request = nri::SynchronizeRequest {
                pods: pods.by_ref().take(per_message).collect(),
                containers: containers.by_ref().take(per_message).collect(),
                more,
                ..Default::default()
            };
            let reply: nri::SynchronizeResponse = self.call("Synchronize", &request).await?;
            if !more {
                return Ok(reply.update);
            }
            if !reply.more || !reply.update.is_empty() {
                self.drop_plugin();
                return Err(PeerError::SplitSync(format!(
                    "chunk {index} of {messages} answered with more={} and {} updates",
                    reply.more,
                    reply.update.len()
                )));
            }
        }
        Ok(Vec::new())
    }

    /// Delivers `event` as the emulated runtime would, if the plugin
    /// subscribed to it. `container` is required for container events.
    ///
    /// # Errors
    ///
    /// Call failures; [`PeerError::InvalidRequest`] for a container event
    /// without a container or an event the emulated runtime does not send.
    pub async fn event(
        &self,
        event: Event,
        pod: &PodSandbox,
        container: Option<&Container>,
    ) -> Result<Delivery, PeerError> {
        if !self.events.contains(event) {
            return Ok(Delivery::NotSubscribed);
        }
        let container = match (event.is_pod_event(), container) {
            (true, _) => None,
            (false, Some(container)) => Some(container.clone()),
            (false, None) => {
                return Err(PeerError::InvalidRequest(format!(
                    "{event} needs a container"
                )));
            }
        };
        let pod = pod.clone();
        match (event, self.config.mode) {
            // Methods of their own in every NRI version.
            (Event::CreateContainer | Event::UpdateContainer | Event::StopContainer, _) => {
                self.per_event_call(event, pod, container).await?;
                Ok(Delivery::Method)
            }
            (
                Event::UpdatePodSandbox
                | Event::PostUpdatePodSandbox
                | Event::ValidateContainerAdjustment,
                RuntimeMode::NriV0_8,
            ) => Err(PeerError::InvalidRequest(format!(
                "an nri v0.8 runtime does not send {event}"
            ))),
            (_, RuntimeMode::NriV0_8) => {
                self.state_change(event, pod, container).await?;
                Ok(Delivery::StateChange)
            }
            (_, RuntimeMode::NriV0_12) => {
                match self
                    .per_event_call(event, pod.clone(), container.clone())
                    .await
                {
                    Ok(()) => Ok(Delivery::Method),
                    Err(PeerError::Rpc {
                        code: Code::UNIMPLEMENTED,
                        ..
                    }) if falls_back_to_state_change(event) => {
                        self.state_change(event, pod, container).await?;
                        Ok(Delivery::FallbackToStateChange)
                    }
                    Err(err) => Err(err),
                }
            }
        }
    }

    /// Calls the plugin's `Shutdown` (only nri >= v0.12 runtimes do).
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn shutdown_plugin(&self) -> Result<(), PeerError> {
        let _: nri::Empty = self.call("Shutdown", &nri::Empty::default()).await?;
        Ok(())
    }

    /// Sends `StateChange` for `event`.
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn state_change(
        &self,
        event: Event,
        pod: PodSandbox,
        container: Option<Container>,
    ) -> Result<(), PeerError> {
        let request = nri::StateChangeEvent {
            event: event.to_proto().into(),
            pod: MessageField::some(pod),
            container: container.into(),
            ..Default::default()
        };
        let _: nri::Empty = self.call("StateChange", &request).await?;
        Ok(())
    }

    async fn per_event_call(
        &self,
        event: Event,
        pod: PodSandbox,
        container: Option<Container>,
    ) -> Result<(), PeerError> {
        let pod = MessageField::some(pod);
        let container = MessageField::from_option(container);
        macro_rules! call {
            ($req:ident, $resp:ident { $($field:ident),* }) => {{
                let request = nri::$req { $($field,)* ..Default::default() };
                self.call::<_, nri::$resp>(event.name(), &request).await.map(drop)
            }};
        }
        match event {
            Event::RunPodSandbox => call!(RunPodSandboxRequest, RunPodSandboxResponse { pod }),
            Event::StopPodSandbox => call!(StopPodSandboxRequest, StopPodSandboxResponse { pod }),
            Event::RemovePodSandbox => {
                call!(RemovePodSandboxRequest, RemovePodSandboxResponse { pod })
            }
            Event::UpdatePodSandbox => {
                call!(UpdatePodSandboxRequest, UpdatePodSandboxResponse { pod })
            }
            Event::PostUpdatePodSandbox => {
                call!(
                    PostUpdatePodSandboxRequest,
                    PostUpdatePodSandboxResponse { pod }
                )
            }
            Event::CreateContainer => {
                call!(
                    CreateContainerRequest,
                    CreateContainerResponse { pod, container }
                )
            }
            Event::PostCreateContainer => call!(
                PostCreateContainerRequest,
                PostCreateContainerResponse { pod, container }
            ),
            Event::StartContainer => {
                call!(
                    StartContainerRequest,
                    StartContainerResponse { pod, container }
                )
            }
            Event::PostStartContainer => call!(
                PostStartContainerRequest,
                PostStartContainerResponse { pod, container }
            ),
            Event::UpdateContainer => {
                call!(
                    UpdateContainerRequest,
                    UpdateContainerResponse { pod, container }
                )
            }
            Event::PostUpdateContainer => call!(
                PostUpdateContainerRequest,
                PostUpdateContainerResponse { pod, container }
            ),
            Event::StopContainer => {
                call!(
                    StopContainerRequest,
                    StopContainerResponse { pod, container }
                )
            }
            Event::RemoveContainer => {
                call!(
                    RemoveContainerRequest,
                    RemoveContainerResponse { pod, container }
                )
            }
            Event::ValidateContainerAdjustment => call!(
                ValidateContainerAdjustmentRequest,
                ValidateContainerAdjustmentResponse { pod, container }
            ),
        }
    }

    /// Calls `method` of the plugin's service with a typed request, under
    /// the request timeout.
    ///
    /// # Errors
    ///
    /// See [`call_raw`](Self::call_raw); [`PeerError::Decode`] for an answer
    /// that does not parse.
    pub async fn call<Req: Message, Resp: Message>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, PeerError> {
        let payload = request
            .write_to_bytes()
            .map_err(|err| PeerError::InvalidRequest(format!("cannot encode {method}: {err}")))?;
        let answer = self.call_raw(method, payload).await?;
        Resp::parse_from_bytes(&answer).map_err(|source| PeerError::Decode {
            method: method.to_owned(),
            source,
        })
    }

    /// Calls `method` of the plugin's service with `payload` as the request
    /// body (which need not be valid protobuf); returns the answer's body.
    /// Like containerd, drops the plugin when the call times out or the
    /// connection fails.
    ///
    /// # Errors
    ///
    /// [`PeerError::Timeout`], [`PeerError::Rpc`] for an error status,
    /// [`PeerError::Disconnected`].
    pub async fn call_raw(&self, method: &str, payload: Vec<u8>) -> Result<Vec<u8>, PeerError> {
        let timeout = self.config.request_timeout;
        let request = ttrpc::Request {
            service: PLUGIN_SERVICE.into(),
            method: method.into(),
            payload,
            // The plugin's ttrpc server applies the same deadline, as it
            // does for containerd's requests.
            timeout_nano: i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let started = Instant::now();
        let timed_out = || PeerError::Timeout {
            method: method.to_owned(),
            timeout,
        };
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response.payload),
            Ok(Err(ttrpc::Error::RpcStatus(status)))
                if status.code() == Code::DEADLINE_EXCEEDED =>
            {
                self.drop_plugin();
                Err(timed_out())
            }
            Ok(Err(ttrpc::Error::RpcStatus(status))) => Err(PeerError::Rpc {
                method: method.to_owned(),
                code: status.code(),
                message: status.message().to_owned(),
            }),
            // The ttrpc client's own deadline can fire just before ours.
            Ok(Err(_)) if started.elapsed() >= timeout => {
                self.drop_plugin();
                Err(timed_out())
            }
            Ok(Err(err)) => {
                let reason = match self.mux.close_reason() {
                    Some(reason) => format!(
                        "{} ({})",
                        cause_chain::Chain(&err),
                        cause_chain::Chain(&reason)
                    ),
                    None => cause_chain::render(&err),
                };
                self.drop_plugin();
                Err(PeerError::Disconnected {
                    method: method.to_owned(),
                    reason,
                })
            }
            Err(_elapsed) => {
                self.drop_plugin();
                Err(timed_out())
            }
        }
    }

    /// Writes `bytes` to the plugin's stream as they are (see
    /// [`Mux::send_raw`]).
    ///
    /// # Errors
    ///
    /// The connection is closed.
    pub async fn inject_raw(&self, bytes: Vec<u8>) -> Result<(), MuxError> {
        self.mux.send_raw(bytes).await
    }

    /// Drops the plugin the way containerd does after a failed call: closes
    /// the connection at once.
    pub fn drop_plugin(&self) {
        self.mux.close();
    }

    /// Waits until the connection is closed (by either side) and returns
    /// why.
    pub async fn closed(&self) -> MuxError {
        self.mux.closed().await
    }
}

/// Whether an nri v0.12 runtime retries an UNIMPLEMENTED per-event call as
/// `StateChange`: for the events that used to travel that way.
fn falls_back_to_state_change(event: Event) -> bool {
    !matches!(
        event,
        Event::CreateContainer
            | Event::UpdateContainer
            | Event::StopContainer
            | Event::UpdatePodSandbox
            | Event::ValidateContainerAdjustment
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
