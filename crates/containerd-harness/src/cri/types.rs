//! Hand-written prost messages for the subset of CRI `runtime.v1` the harness uses.
//!
//! Field names and numbers follow `pkg/apis/runtime/v1/api.proto` of kubernetes/cri-api
//! (checked field by field; see the crate's tests for the wire-level checks). Fields the
//! harness never sets or reads are left out: protobuf skips unknown fields when decoding,
//! and an absent field is the same as its default on the wire. No `.proto` file is compiled
//! and no `protoc` is needed.
//!
//! Each struct is named like its CRI message and each field like the proto field, whose
//! documentation in api.proto applies; enums are carried as `i32` as prost does.

#![expect(
    missing_docs,
    reason = "the field docs are api.proto's; repeating them here would add nothing"
)]

use std::collections::HashMap;

/// CRI `NamespaceMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NamespaceMode {
    /// Shared by the pod's containers.
    Pod = 0,
    /// The container's own.
    Container = 1,
    /// The host's.
    Node = 2,
    /// Another container's (`NamespaceOption.target_id`): the `kubectl debug` shape.
    Target = 3,
}

/// CRI `PodSandboxState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PodSandboxState {
    /// Ready.
    SandboxReady = 0,
    /// Not ready (stopped).
    SandboxNotready = 1,
}

/// CRI `ContainerState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ContainerState {
    /// Created, not started.
    ContainerCreated = 0,
    /// Running.
    ContainerRunning = 1,
    /// Exited.
    ContainerExited = 2,
    /// Unknown.
    ContainerUnknown = 3,
}

/// CRI `VersionRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    #[prost(string, tag = "1")]
    pub version: String,
}

/// CRI `VersionResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    #[prost(string, tag = "3")]
    pub runtime_version: String,
    #[prost(string, tag = "4")]
    pub runtime_api_version: String,
}

/// CRI `NamespaceOption`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceOption {
    #[prost(enumeration = "NamespaceMode", tag = "1")]
    pub network: i32,
    #[prost(enumeration = "NamespaceMode", tag = "2")]
    pub pid: i32,
    #[prost(enumeration = "NamespaceMode", tag = "3")]
    pub ipc: i32,
    #[prost(string, tag = "4")]
    pub target_id: String,
}

/// CRI `LinuxSandboxSecurityContext` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxSandboxSecurityContext {
    #[prost(message, optional, tag = "1")]
    pub namespace_options: Option<NamespaceOption>,
    #[prost(bool, tag = "4")]
    pub readonly_rootfs: bool,
    #[prost(bool, tag = "6")]
    pub privileged: bool,
}

/// CRI `LinuxPodSandboxConfig` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxPodSandboxConfig {
    #[prost(string, tag = "1")]
    pub cgroup_parent: String,
    #[prost(message, optional, tag = "2")]
    pub security_context: Option<LinuxSandboxSecurityContext>,
    #[prost(map = "string, string", tag = "3")]
    pub sysctls: HashMap<String, String>,
}

/// CRI `PodSandboxMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxMetadata {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(uint32, tag = "4")]
    pub attempt: u32,
}

/// CRI `PodSandboxConfig` (subset: no DNS, ports or Windows settings).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxConfig {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<PodSandboxMetadata>,
    #[prost(string, tag = "2")]
    pub hostname: String,
    #[prost(string, tag = "3")]
    pub log_directory: String,
    #[prost(map = "string, string", tag = "6")]
    pub labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "7")]
    pub annotations: HashMap<String, String>,
    #[prost(message, optional, tag = "8")]
    pub linux: Option<LinuxPodSandboxConfig>,
}

/// CRI `RunPodSandboxRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    pub config: Option<PodSandboxConfig>,
    #[prost(string, tag = "2")]
    pub runtime_handler: String,
}

/// CRI `RunPodSandboxResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunPodSandboxResponse {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

/// CRI `StopPodSandboxRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StopPodSandboxRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

/// CRI `StopPodSandboxResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StopPodSandboxResponse {}

/// CRI `RemovePodSandboxRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemovePodSandboxRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

/// CRI `RemovePodSandboxResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemovePodSandboxResponse {}

/// CRI `PodSandboxStateValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStateValue {
    #[prost(enumeration = "PodSandboxState", tag = "1")]
    pub state: i32,
}

/// CRI `PodSandboxFilter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxFilter {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub state: Option<PodSandboxStateValue>,
    #[prost(map = "string, string", tag = "3")]
    pub label_selector: HashMap<String, String>,
}

/// CRI `ListPodSandboxRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    pub filter: Option<PodSandboxFilter>,
}

/// CRI `PodSandbox`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandbox {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<PodSandboxMetadata>,
    #[prost(enumeration = "PodSandboxState", tag = "3")]
    pub state: i32,
    #[prost(int64, tag = "4")]
    pub created_at: i64,
    #[prost(map = "string, string", tag = "5")]
    pub labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "6")]
    pub annotations: HashMap<String, String>,
    #[prost(string, tag = "7")]
    pub runtime_handler: String,
}

/// CRI `ListPodSandboxResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<PodSandbox>,
}

/// CRI `ImageSpec` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageSpec {
    #[prost(string, tag = "1")]
    pub image: String,
    #[prost(map = "string, string", tag = "2")]
    pub annotations: HashMap<String, String>,
    #[prost(string, tag = "18")]
    pub user_specified_image: String,
}

/// CRI `KeyValue` (an environment variable). The proto's `value` became `bytes` in newer
/// cri-api; `string` has the same wire encoding and matches what containerd 2.1 expects.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// CRI `LinuxContainerSecurityContext` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxContainerSecurityContext {
    #[prost(bool, tag = "2")]
    pub privileged: bool,
    #[prost(message, optional, tag = "3")]
    pub namespace_options: Option<NamespaceOption>,
    #[prost(bool, tag = "7")]
    pub readonly_rootfs: bool,
    #[prost(bool, tag = "11")]
    pub no_new_privs: bool,
}

/// CRI `LinuxContainerResources` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxContainerResources {
    #[prost(int64, tag = "1")]
    pub cpu_period: i64,
    #[prost(int64, tag = "2")]
    pub cpu_quota: i64,
    #[prost(int64, tag = "3")]
    pub cpu_shares: i64,
    #[prost(int64, tag = "4")]
    pub memory_limit_in_bytes: i64,
    #[prost(int64, tag = "5")]
    pub oom_score_adj: i64,
    #[prost(string, tag = "6")]
    pub cpuset_cpus: String,
    #[prost(string, tag = "7")]
    pub cpuset_mems: String,
}

/// CRI `LinuxContainerConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxContainerConfig {
    #[prost(message, optional, tag = "1")]
    pub resources: Option<LinuxContainerResources>,
    #[prost(message, optional, tag = "2")]
    pub security_context: Option<LinuxContainerSecurityContext>,
}

/// CRI `ContainerMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerMetadata {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub attempt: u32,
}

/// CRI `ContainerConfig` (subset: no mounts, devices or Windows settings).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerConfig {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ContainerMetadata>,
    #[prost(message, optional, tag = "2")]
    pub image: Option<ImageSpec>,
    #[prost(string, repeated, tag = "3")]
    pub command: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub args: Vec<String>,
    #[prost(string, tag = "5")]
    pub working_dir: String,
    #[prost(message, repeated, tag = "6")]
    pub envs: Vec<KeyValue>,
    #[prost(map = "string, string", tag = "9")]
    pub labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "10")]
    pub annotations: HashMap<String, String>,
    #[prost(string, tag = "11")]
    pub log_path: String,
    #[prost(bool, tag = "12")]
    pub stdin: bool,
    #[prost(bool, tag = "13")]
    pub stdin_once: bool,
    #[prost(bool, tag = "14")]
    pub tty: bool,
    #[prost(message, optional, tag = "15")]
    pub linux: Option<LinuxContainerConfig>,
}

/// CRI `CreateContainerRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateContainerRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
    #[prost(message, optional, tag = "2")]
    pub config: Option<ContainerConfig>,
    #[prost(message, optional, tag = "3")]
    pub sandbox_config: Option<PodSandboxConfig>,
}

/// CRI `CreateContainerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateContainerResponse {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

/// CRI `StartContainerRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainerRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

/// CRI `StartContainerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainerResponse {}

/// CRI `StopContainerRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainerRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    /// Seconds to wait after the stop signal before SIGKILL.
    #[prost(int64, tag = "2")]
    pub timeout: i64,
}

/// CRI `StopContainerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainerResponse {}

/// CRI `RemoveContainerRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveContainerRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

/// CRI `RemoveContainerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveContainerResponse {}

/// CRI `ContainerStateValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStateValue {
    #[prost(enumeration = "ContainerState", tag = "1")]
    pub state: i32,
}

/// CRI `ContainerFilter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerFilter {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub state: Option<ContainerStateValue>,
    #[prost(string, tag = "3")]
    pub pod_sandbox_id: String,
    #[prost(map = "string, string", tag = "4")]
    pub label_selector: HashMap<String, String>,
}

/// CRI `ListContainersRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContainersRequest {
    #[prost(message, optional, tag = "1")]
    pub filter: Option<ContainerFilter>,
}

/// CRI `Container`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Container {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub pod_sandbox_id: String,
    #[prost(message, optional, tag = "3")]
    pub metadata: Option<ContainerMetadata>,
    #[prost(message, optional, tag = "4")]
    pub image: Option<ImageSpec>,
    #[prost(string, tag = "5")]
    pub image_ref: String,
    #[prost(enumeration = "ContainerState", tag = "6")]
    pub state: i32,
    #[prost(int64, tag = "7")]
    pub created_at: i64,
    #[prost(map = "string, string", tag = "8")]
    pub labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "9")]
    pub annotations: HashMap<String, String>,
    #[prost(string, tag = "10")]
    pub image_id: String,
}

/// CRI `ListContainersResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContainersResponse {
    #[prost(message, repeated, tag = "1")]
    pub containers: Vec<Container>,
}

/// CRI `ContainerStatusRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatusRequest {
    #[prost(string, tag = "1")]
    pub container_id: String,
    /// With `verbose`, containerd adds `info["info"]`: JSON with the `pid` among others.
    #[prost(bool, tag = "2")]
    pub verbose: bool,
}

/// CRI `ContainerStatus` (subset: no mounts, resources or user).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatus {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<ContainerMetadata>,
    #[prost(enumeration = "ContainerState", tag = "3")]
    pub state: i32,
    #[prost(int64, tag = "4")]
    pub created_at: i64,
    #[prost(int64, tag = "5")]
    pub started_at: i64,
    #[prost(int64, tag = "6")]
    pub finished_at: i64,
    #[prost(int32, tag = "7")]
    pub exit_code: i32,
    #[prost(message, optional, tag = "8")]
    pub image: Option<ImageSpec>,
    #[prost(string, tag = "9")]
    pub image_ref: String,
    #[prost(string, tag = "10")]
    pub reason: String,
    #[prost(string, tag = "11")]
    pub message: String,
    #[prost(map = "string, string", tag = "12")]
    pub labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "13")]
    pub annotations: HashMap<String, String>,
    #[prost(string, tag = "15")]
    pub log_path: String,
    #[prost(string, tag = "17")]
    pub image_id: String,
}

/// CRI `ContainerStatusResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<ContainerStatus>,
    #[prost(map = "string, string", tag = "2")]
    pub info: HashMap<String, String>,
}

/// CRI `ImageStatusRequest` (image service).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusRequest {
    #[prost(message, optional, tag = "1")]
    pub image: Option<ImageSpec>,
    #[prost(bool, tag = "2")]
    pub verbose: bool,
}

/// CRI `Image` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, repeated, tag = "2")]
    pub repo_tags: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    pub repo_digests: Vec<String>,
    #[prost(uint64, tag = "4")]
    pub size: u64,
    #[prost(bool, tag = "8")]
    pub pinned: bool,
}

/// CRI `ImageStatusResponse`; `image` is absent when the image is unknown.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusResponse {
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
    #[prost(map = "string, string", tag = "2")]
    pub info: HashMap<String, String>,
}

#[cfg(test)]
mod tests {
    //! Wire-level checks: messages are encoded with prost and decoded by hand, field by
    //! field number, so a wrong tag cannot hide behind a symmetric round trip.

    use prost::Message;

    use super::*;

    /// A decoded protobuf field: number and value (varint or bytes).
    #[derive(Debug, Clone, PartialEq)]
    enum Value {
        Varint(u64),
        Bytes(Vec<u8>),
    }

    fn varint(buf: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = buf[0];
            *buf = &buf[1..];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }

    /// All top-level fields of an encoded message, in order.
    fn fields(mut buf: &[u8]) -> Vec<(u64, Value)> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let key = varint(&mut buf);
            let (number, wire_type) = (key >> 3, key & 7);
            let value = match wire_type {
                0 => Value::Varint(varint(&mut buf)),
                2 => {
                    let len = varint(&mut buf) as usize;
                    let (bytes, rest) = buf.split_at(len);
                    buf = rest;
                    Value::Bytes(bytes.to_vec())
                }
                other => panic!("unexpected wire type {other}"),
            };
            out.push((number, value));
        }
        out
    }

    fn field(buf: &[u8], number: u64) -> Vec<Value> {
        fields(buf)
            .into_iter()
            .filter(|(n, _)| *n == number)
            .map(|(_, v)| v)
            .collect()
    }

    fn bytes(value: &Value) -> &[u8] {
        match value {
            Value::Bytes(b) => b,
            Value::Varint(v) => panic!("expected bytes, got varint {v}"),
        }
    }

    fn one_bytes(buf: &[u8], number: u64) -> Vec<u8> {
        let values = field(buf, number);
        assert_eq!(values.len(), 1, "field {number} in {:?}", fields(buf));
        bytes(&values[0]).to_vec()
    }

    #[test]
    fn run_pod_sandbox_request_uses_cri_field_numbers() {
        let request = RunPodSandboxRequest {
            config: Some(PodSandboxConfig {
                metadata: Some(PodSandboxMetadata {
                    name: "web".into(),
                    uid: "uid-1".into(),
                    namespace: "default".into(),
                    attempt: 2,
                }),
                hostname: String::new(),
                log_directory: "/logs/web".into(),
                labels: HashMap::from([("app".into(), "web".into())]),
                annotations: HashMap::new(),
                linux: Some(LinuxPodSandboxConfig {
                    cgroup_parent: "/nri-e2e/r/poduid-1".into(),
                    security_context: Some(LinuxSandboxSecurityContext {
                        namespace_options: Some(NamespaceOption {
                            network: NamespaceMode::Node as i32,
                            pid: NamespaceMode::Pod as i32,
                            ipc: NamespaceMode::Pod as i32,
                            target_id: String::new(),
                        }),
                        ..Default::default()
                    }),
                    sysctls: HashMap::new(),
                }),
            }),
            runtime_handler: "runc".into(),
        };
        let wire = request.encode_to_vec();
        // RunPodSandboxRequest: config = 1, runtime_handler = 2.
        assert_eq!(one_bytes(&wire, 2), b"runc");
        let config = one_bytes(&wire, 1);
        // PodSandboxConfig: metadata = 1, hostname = 2 (empty: absent), log_directory = 3,
        // labels = 6, linux = 8.
        assert!(field(&config, 2).is_empty());
        assert_eq!(one_bytes(&config, 3), b"/logs/web");
        let label = one_bytes(&config, 6);
        assert_eq!(one_bytes(&label, 1), b"app");
        assert_eq!(one_bytes(&label, 2), b"web");
        // PodSandboxMetadata: name = 1, uid = 2, namespace = 3, attempt = 4.
        let metadata = one_bytes(&config, 1);
        assert_eq!(one_bytes(&metadata, 1), b"web");
        assert_eq!(one_bytes(&metadata, 2), b"uid-1");
        assert_eq!(one_bytes(&metadata, 3), b"default");
        assert_eq!(field(&metadata, 4), [Value::Varint(2)]);
        // LinuxPodSandboxConfig: cgroup_parent = 1, security_context = 2;
        // LinuxSandboxSecurityContext: namespace_options = 1;
        // NamespaceOption: network = 1 (NODE = 2), pid = 2 (POD = 0: absent).
        let linux = one_bytes(&config, 8);
        assert_eq!(one_bytes(&linux, 1), b"/nri-e2e/r/poduid-1");
        let security = one_bytes(&linux, 2);
        let namespaces = one_bytes(&security, 1);
        assert_eq!(field(&namespaces, 1), [Value::Varint(2)]);
        assert!(field(&namespaces, 2).is_empty());

        assert_eq!(
            RunPodSandboxRequest::decode(wire.as_slice()).unwrap(),
            request
        );
    }

    #[test]
    fn debug_container_request_uses_cri_field_numbers() {
        let request = CreateContainerRequest {
            pod_sandbox_id: "pod".into(),
            config: Some(ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: "debugger".into(),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image: "localhost/nri-e2e/busybox:1".into(),
                    ..Default::default()
                }),
                command: vec!["sh".into(), "-c".into(), "sleep 1".into()],
                log_path: "debugger.log".into(),
                linux: Some(LinuxContainerConfig {
                    resources: None,
                    security_context: Some(LinuxContainerSecurityContext {
                        namespace_options: Some(NamespaceOption {
                            network: NamespaceMode::Node as i32,
                            pid: NamespaceMode::Target as i32,
                            ipc: NamespaceMode::Pod as i32,
                            target_id: "target".into(),
                        }),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            sandbox_config: Some(PodSandboxConfig {
                log_directory: "/logs".into(),
                ..Default::default()
            }),
        };
        let wire = request.encode_to_vec();
        // CreateContainerRequest: pod_sandbox_id = 1, config = 2, sandbox_config = 3.
        assert_eq!(one_bytes(&wire, 1), b"pod");
        assert_eq!(one_bytes(&one_bytes(&wire, 3), 3), b"/logs");
        let config = one_bytes(&wire, 2);
        // ContainerConfig: metadata = 1, image = 2, command = 3 (repeated), log_path = 11,
        // linux = 15.
        assert_eq!(one_bytes(&one_bytes(&config, 1), 1), b"debugger");
        assert_eq!(
            one_bytes(&one_bytes(&config, 2), 1),
            b"localhost/nri-e2e/busybox:1"
        );
        let command: Vec<Value> = field(&config, 3);
        assert_eq!(command.len(), 3);
        assert_eq!(bytes(&command[2]), b"sleep 1");
        assert_eq!(one_bytes(&config, 11), b"debugger.log");
        // LinuxContainerConfig: security_context = 2;
        // LinuxContainerSecurityContext: namespace_options = 3;
        // NamespaceOption: pid = 2 (TARGET = 3), target_id = 4.
        let linux = one_bytes(&config, 15);
        let security = one_bytes(&linux, 2);
        let namespaces = one_bytes(&security, 3);
        assert_eq!(field(&namespaces, 2), [Value::Varint(3)]);
        assert_eq!(one_bytes(&namespaces, 4), b"target");

        assert_eq!(
            CreateContainerRequest::decode(wire.as_slice()).unwrap(),
            request
        );
    }

    #[test]
    fn responses_decode_from_hand_encoded_bytes() {
        // ContainerStatusResponse { status = 1 { id = 1 "c1", state = 3 RUNNING(1) },
        //                           info = 2 { "info" -> "{\"pid\":42}" } }
        let mut status = vec![0x0a, 2, b'c', b'1', 0x18, 1];
        let mut response = vec![0x0a, status.len() as u8];
        response.append(&mut status);
        let value = br#"{"pid":42}"#;
        let mut entry = vec![0x0a, 4, b'i', b'n', b'f', b'o', 0x12, value.len() as u8];
        entry.extend_from_slice(value);
        response.push(0x12);
        response.push(entry.len() as u8);
        response.extend_from_slice(&entry);
        // An unknown field (number 99, varint) must be skipped.
        response.extend_from_slice(&[0x98, 0x06, 7]);
        let decoded = ContainerStatusResponse::decode(response.as_slice()).unwrap();
        let status = decoded.status.unwrap();
        assert_eq!(status.id, "c1");
        assert_eq!(status.state(), ContainerState::ContainerRunning);
        assert_eq!(decoded.info["info"], r#"{"pid":42}"#);

        // VersionResponse: version = 1, runtime_name = 2, runtime_version = 3,
        // runtime_api_version = 4.
        let wire = [
            0x0a, 1, b'a', 0x12, 1, b'b', 0x1a, 1, b'c', 0x22, 2, b'v', b'1',
        ];
        let v = VersionResponse::decode(wire.as_slice()).unwrap();
        assert_eq!((v.version.as_str(), v.runtime_name.as_str()), ("a", "b"));
        assert_eq!(
            (v.runtime_version.as_str(), v.runtime_api_version.as_str()),
            ("c", "v1")
        );
    }
}
