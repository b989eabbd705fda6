//! A raw CRI client: one method per RPC, over containerd's Unix socket.
//!
//! gRPC runs through tonic's generic [`tonic::client::Grpc`] with the prost codec and the
//! hand-written messages of [`super::types`], so no generated service code is needed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

use super::types::*;
use crate::error::{Error, Result};

/// The gRPC service name of CRI `runtime.v1`'s runtime service.
pub const RUNTIME_SERVICE: &str = "runtime.v1.RuntimeService";
/// The gRPC service name of CRI `runtime.v1`'s image service.
pub const IMAGE_SERVICE: &str = "runtime.v1.ImageService";

/// A connected CRI runtime-service client; cheap to clone.
#[derive(Debug, Clone)]
pub struct CriClient {
    grpc: tonic::client::Grpc<Channel>,
    socket: PathBuf,
}

impl CriClient {
    /// Connects to containerd's gRPC socket. `timeout` bounds the connection and every call.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Self> {
        let path = socket.to_path_buf();
        // The URI is required by the API but unused: the connector ignores it and dials
        // the socket.
        let channel =
            Endpoint::from_static("http://localhost")
                .connect_timeout(timeout)
                .timeout(timeout)
                .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .map_err(|source| Error::Connect {
                    socket: socket.to_path_buf(),
                    source: Box::new(source),
                })?;
        Ok(Self {
            grpc: tonic::client::Grpc::new(channel),
            socket: socket.to_path_buf(),
        })
    }

    /// A client that connects on its first call (no I/O now; needs a tokio runtime).
    pub fn connect_lazy(socket: &Path, timeout: Duration) -> Self {
        let path = socket.to_path_buf();
        let channel =
            Endpoint::from_static("http://localhost")
                .connect_timeout(timeout)
                .timeout(timeout)
                .connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }));
        Self {
            grpc: tonic::client::Grpc::new(channel),
            socket: socket.to_path_buf(),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Calls `runtime.v1.RuntimeService/<method>` with any request and response message.
    pub async fn call<Req, Resp>(&self, method: &'static str, request: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.call_service(RUNTIME_SERVICE, method, request).await
    }

    /// Calls `<service>/<method>` (e.g. [`IMAGE_SERVICE`]) with any messages.
    pub async fn call_service<Req, Resp>(
        &self,
        service: &str,
        method: &'static str,
        request: Req,
    ) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let cri_err = |status: tonic::Status| Error::Cri {
            method,
            status: Box::new(status),
        };
        let path = PathAndQuery::try_from(format!("/{service}/{method}"))
            .map_err(|source| Error::BadMethod { method, source })?;
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|e| {
            cri_err(tonic::Status::unavailable(format!(
                "CRI channel not ready: {e}"
            )))
        })?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let response = grpc
            .unary(tonic::Request::new(request), path, codec)
            .await
            .map_err(cri_err)?;
        Ok(response.into_inner())
    }

    /// `Version`.
    pub async fn version(&self, request: VersionRequest) -> Result<VersionResponse> {
        self.call("Version", request).await
    }
    /// `RunPodSandbox`.
    pub async fn run_pod_sandbox(
        &self,
        request: RunPodSandboxRequest,
    ) -> Result<RunPodSandboxResponse> {
        self.call("RunPodSandbox", request).await
    }
    /// `StopPodSandbox`.
    pub async fn stop_pod_sandbox(
        &self,
        request: StopPodSandboxRequest,
    ) -> Result<StopPodSandboxResponse> {
        self.call("StopPodSandbox", request).await
    }
    /// `RemovePodSandbox`.
    pub async fn remove_pod_sandbox(
        &self,
        request: RemovePodSandboxRequest,
    ) -> Result<RemovePodSandboxResponse> {
        self.call("RemovePodSandbox", request).await
    }
    /// `ListPodSandbox`.
    pub async fn list_pod_sandbox(
        &self,
        request: ListPodSandboxRequest,
    ) -> Result<ListPodSandboxResponse> {
        self.call("ListPodSandbox", request).await
    }
    /// `CreateContainer`.
    pub async fn create_container(
        &self,
        request: CreateContainerRequest,
    ) -> Result<CreateContainerResponse> {
        self.call("CreateContainer", request).await
    }
    /// `StartContainer`.
    pub async fn start_container(
        &self,
        request: StartContainerRequest,
    ) -> Result<StartContainerResponse> {
        self.call("StartContainer", request).await
    }
    /// `StopContainer`.
    pub async fn stop_container(
        &self,
        request: StopContainerRequest,
    ) -> Result<StopContainerResponse> {
        self.call("StopContainer", request).await
    }
    /// `RemoveContainer`.
    pub async fn remove_container(
        &self,
        request: RemoveContainerRequest,
    ) -> Result<RemoveContainerResponse> {
        self.call("RemoveContainer", request).await
    }
    /// `ContainerStatus`.
    pub async fn container_status(
        &self,
        request: ContainerStatusRequest,
    ) -> Result<ContainerStatusResponse> {
        self.call("ContainerStatus", request).await
    }
    /// Image service `ImageStatus`.
    pub async fn image_status(&self, request: ImageStatusRequest) -> Result<ImageStatusResponse> {
        self.call_service(IMAGE_SERVICE, "ImageStatus", request)
            .await
    }
    /// `ListContainers`.
    pub async fn list_containers(
        &self,
        request: ListContainersRequest,
    ) -> Result<ListContainersResponse> {
        self.call("ListContainers", request).await
    }
}
