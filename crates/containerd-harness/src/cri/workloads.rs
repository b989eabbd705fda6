//! Pods and containers the way kubelet asks for them, reduced to what the tests need.
//!
//! Pods use the host network (no CNI), an empty hostname (there is no UTS namespace of
//! their own), their own PID and IPC namespaces, and an explicit cgroup parent
//! `/nri-e2e/<run name>/pod<uid>` (cgroupfs driver), so all their cgroups sit in the
//! harness's subtree and the container cgroups are `<parent>/<container id>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use cause_chain::Chain;

use super::types::*;
use super::{ContainerId, CriClient, PodId};
use crate::cgroups::{
    CgroupThreads, existing_dirs, remove_tree, run_subtree, system_hierarchies,
    threads_of_pid_cgroup,
};
use crate::error::{Error, Result, io_err};
use crate::procfs::Proc;

/// Label put on every pod and container the harness creates.
pub const RUN_LABEL: &str = "nri-e2e.run";

/// How long removing a pod's cgroup waits for its last tasks to leave.
const CGROUP_PATIENCE: Duration = Duration::from_secs(2);

/// Kubelet-like pod and container operations on one private containerd.
#[derive(Debug)]
pub struct Cri {
    client: CriClient,
    run_name: String,
    pod_log_root: PathBuf,
    /// The configuration each pod was run with: CreateContainer must repeat it.
    pods: Mutex<HashMap<PodId, PodSandboxConfig>>,
}

/// What [`Cri::remove_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveAllOutcome {
    /// Pod sandboxes stopped and removed.
    pub pods: usize,
    /// Containers stopped and removed.
    pub containers: usize,
    /// Calls that failed (teardown goes on regardless).
    pub errors: Vec<String>,
}

impl Cri {
    /// Operations through `client` for the run `run_name` (its cgroup subtree is
    /// `/nri-e2e/<run_name>`), with pod logs under `pod_log_root`.
    pub fn new(
        client: CriClient,
        run_name: impl Into<String>,
        pod_log_root: impl Into<PathBuf>,
    ) -> Self {
        Self {
            client,
            run_name: run_name.into(),
            pod_log_root: pod_log_root.into(),
            pods: Mutex::new(HashMap::new()),
        }
    }

    /// The raw client, for requests the convenience methods do not cover.
    pub fn client(&self) -> &CriClient {
        &self.client
    }

    /// The cgroup under which every pod of this run is placed: `/nri-e2e/<run name>`.
    pub fn cgroup_root(&self) -> String {
        run_subtree(&self.run_name)
    }

    /// The cgroup parent of the pod with `uid`: `/nri-e2e/<run name>/pod<uid>`.
    pub fn pod_cgroup_parent(&self, uid: &str) -> String {
        format!("{}/pod{uid}", self.cgroup_root())
    }

    /// CRI `Version`.
    pub async fn version(&self) -> Result<VersionResponse> {
        self.client
            .version(VersionRequest {
                version: "v1".into(),
            })
            .await
    }

    /// The sandbox configuration [`Cri::run_pod`] uses; adjust it and pass it to
    /// [`Cri::run_pod_with`] for anything special.
    pub fn pod_config(&self, name: &str, namespace: &str, uid: &str) -> Result<PodSandboxConfig> {
        for (what, value) in [
            ("pod name", name),
            ("namespace", namespace),
            ("pod uid", uid),
        ] {
            check_name(what, value)?;
        }
        let log_directory = self.pod_log_root.join(format!("{namespace}_{name}_{uid}"));
        Ok(PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: uid.into(),
                namespace: namespace.into(),
                attempt: 0,
            }),
            // Host network and no UTS namespace: containerd refuses a hostname then.
            hostname: String::new(),
            log_directory: path_string(&log_directory)?,
            labels: HashMap::from([(RUN_LABEL.to_string(), self.run_name.clone())]),
            annotations: HashMap::new(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.pod_cgroup_parent(uid),
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
        })
    }

    /// Runs a pod sandbox (host network, cgroup parent in the harness's subtree).
    pub async fn run_pod(&self, name: &str, namespace: &str, uid: &str) -> Result<PodId> {
        let config = self.pod_config(name, namespace, uid)?;
        self.run_pod_with(config).await
    }

    /// Runs a pod sandbox with a custom configuration (creates its log directory).
    pub async fn run_pod_with(&self, config: PodSandboxConfig) -> Result<PodId> {
        if !config.log_directory.is_empty() {
            std::fs::create_dir_all(&config.log_directory).map_err(io_err(format!(
                "creating pod log directory {}",
                config.log_directory
            )))?;
        }
        let response = self
            .client
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await?;
        let id = PodId(response.pod_sandbox_id);
        self.pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), config);
        Ok(id)
    }

    /// The container configuration [`Cri::create_container`] uses: `command` is the whole
    /// argv (it replaces the image's entrypoint), own PID namespace, host network.
    pub fn container_config(
        &self,
        name: &str,
        image: &str,
        command: &[&str],
    ) -> Result<ContainerConfig> {
        self.container_config_in(name, image, command, Self::own_namespaces())
    }

    /// Own PID namespace, the pod's IPC namespace, the host's network.
    fn own_namespaces() -> NamespaceOption {
        NamespaceOption {
            network: NamespaceMode::Node as i32,
            pid: NamespaceMode::Container as i32,
            ipc: NamespaceMode::Pod as i32,
            target_id: String::new(),
        }
    }

    fn container_config_in(
        &self,
        name: &str,
        image: &str,
        command: &[&str],
        namespaces: NamespaceOption,
    ) -> Result<ContainerConfig> {
        check_name("container name", name)?;
        Ok(ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command: command.iter().map(|s| s.to_string()).collect(),
            labels: HashMap::from([(RUN_LABEL.to_string(), self.run_name.clone())]),
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                resources: None,
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        })
    }

    /// Creates (does not start) a container in `pod`.
    pub async fn create_container(
        &self,
        pod: &PodId,
        name: &str,
        image: &str,
        command: &[&str],
    ) -> Result<ContainerId> {
        let config = self.container_config(name, image, command)?;
        self.create_container_with(pod, config).await
    }

    /// Creates a container from a custom configuration.
    pub async fn create_container_with(
        &self,
        pod: &PodId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let sandbox_config = self
            .pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pod)
            .cloned()
            .ok_or_else(|| Error::UnknownPod {
                pod: pod.to_string(),
            })?;
        let response = self
            .client
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.0.clone(),
                config: Some(config),
                sandbox_config: Some(sandbox_config),
            })
            .await?;
        Ok(ContainerId(response.container_id))
    }

    /// Starts a created container.
    pub async fn start_container(&self, id: &ContainerId) -> Result<()> {
        self.client
            .start_container(StartContainerRequest {
                container_id: id.0.clone(),
            })
            .await?;
        Ok(())
    }

    /// Creates and starts a container.
    pub async fn run_container(
        &self,
        pod: &PodId,
        name: &str,
        image: &str,
        command: &[&str],
    ) -> Result<ContainerId> {
        let id = self.create_container(pod, name, image, command).await?;
        self.start_container(&id).await?;
        Ok(id)
    }

    /// Adds a container to a running pod the way `kubectl debug --target` does (PID
    /// namespace TARGET of `target`), and starts it.
    pub async fn add_debug_container(
        &self,
        pod: &PodId,
        target: &ContainerId,
        name: &str,
        image: &str,
        command: &[&str],
    ) -> Result<ContainerId> {
        let config = self.debug_container_config(target, name, image, command)?;
        let id = self.create_container_with(pod, config).await?;
        self.start_container(&id).await?;
        Ok(id)
    }

    /// The configuration [`Cri::add_debug_container`] uses: [`Cri::container_config`]
    /// with PID namespace TARGET and `target_id` set to `target`.
    pub fn debug_container_config(
        &self,
        target: &ContainerId,
        name: &str,
        image: &str,
        command: &[&str],
    ) -> Result<ContainerConfig> {
        self.container_config_in(
            name,
            image,
            command,
            NamespaceOption {
                pid: NamespaceMode::Target as i32,
                target_id: target.0.clone(),
                ..Self::own_namespaces()
            },
        )
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout` (whole seconds;
    /// zero kills at once, which is what a `sleep` that ignores SIGTERM needs).
    pub async fn stop_container(&self, id: &ContainerId, timeout: Duration) -> Result<()> {
        let timeout = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
        self.client
            .stop_container(StopContainerRequest {
                container_id: id.0.clone(),
                timeout,
            })
            .await?;
        Ok(())
    }

    /// Removes a container (stopping it first if needed).
    pub async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        self.client
            .remove_container(RemoveContainerRequest {
                container_id: id.0.clone(),
            })
            .await?;
        Ok(())
    }

    /// Stops a pod sandbox and all its containers.
    pub async fn stop_pod(&self, pod: &PodId) -> Result<()> {
        self.client
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.0.clone(),
            })
            .await?;
        Ok(())
    }

    /// Removes a pod sandbox, then its cgroup directories, which containerd leaves behind
    /// (kubelet removes them in a real cluster).
    pub async fn remove_pod(&self, pod: &PodId) -> Result<()> {
        self.client
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.0.clone(),
            })
            .await?;
        let config = self
            .pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(pod);
        let Some(parent) = config.and_then(|c| c.linux).map(|l| l.cgroup_parent) else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || remove_cgroup_everywhere(&parent))
            .await
            .map_err(|source| Error::Task {
                what: "cgroup removal",
                source,
            })?
    }

    /// Verbose `ContainerStatus`.
    pub async fn container_status(&self, id: &ContainerId) -> Result<ContainerStatusResponse> {
        self.client
            .container_status(ContainerStatusRequest {
                container_id: id.0.clone(),
                verbose: true,
            })
            .await
    }

    /// The host PID of the container's first process (from the verbose status).
    pub async fn container_pid(&self, id: &ContainerId) -> Result<u32> {
        let status = self.container_status(id).await?;
        let pid = pid_from_status(&status)?;
        if pid == 0 {
            let state = status
                .status
                .map(|s| format!("{:?}", s.state()))
                .unwrap_or_else(|| "unknown".into());
            return Err(Error::NoProcess {
                container: id.to_string(),
                state,
            });
        }
        Ok(pid)
    }

    /// The container's cgroup directory and every thread id in it, of all its processes.
    pub async fn container_cgroup(&self, id: &ContainerId) -> Result<CgroupThreads> {
        let pid = self.container_pid(id).await?;
        let hierarchies = system_hierarchies()?;
        threads_of_pid_cgroup(&Proc::system(), pid, &hierarchies)
    }

    /// Every thread id in the container's cgroup, sorted.
    pub async fn container_cgroup_threads(&self, id: &ContainerId) -> Result<Vec<u32>> {
        Ok(self.container_cgroup(id).await?.threads)
    }

    /// Polls the container's cgroup until it holds at least `min` threads (a workload's
    /// processes are still starting when StartContainer returns); fails after `timeout`
    /// with the last thread list.
    pub async fn wait_cgroup_threads(
        &self,
        id: &ContainerId,
        min: usize,
        timeout: Duration,
    ) -> Result<Vec<u32>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let threads = self.container_cgroup_threads(id).await?;
            if threads.len() >= min {
                return Ok(threads);
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::TooFewThreads {
                    container: id.to_string(),
                    threads,
                    min,
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// All pod sandboxes containerd knows.
    pub async fn list_pods(&self) -> Result<Vec<PodSandbox>> {
        Ok(self
            .client
            .list_pod_sandbox(ListPodSandboxRequest::default())
            .await?
            .items)
    }

    /// All containers containerd knows.
    pub async fn list_containers(&self) -> Result<Vec<Container>> {
        Ok(self
            .client
            .list_containers(ListContainersRequest::default())
            .await?
            .containers)
    }

    /// Stops and removes every container, then every pod sandbox, so that shims exit
    /// cleanly (and remove their sockets). Failures are collected, not fatal.
    pub async fn remove_all(&self) -> RemoveAllOutcome {
        let mut outcome = RemoveAllOutcome::default();
        match self.list_containers().await {
            Ok(containers) => {
                for container in containers {
                    let id = ContainerId(container.id);
                    let result = async {
                        self.stop_container(&id, Duration::ZERO).await?;
                        self.remove_container(&id).await
                    }
                    .await;
                    match result {
                        Ok(()) => outcome.containers += 1,
                        Err(e) => outcome
                            .errors
                            .push(format!("removing container {id}: {}", Chain(&e))),
                    }
                }
            }
            Err(e) => outcome
                .errors
                .push(format!("listing containers: {}", Chain(&e))),
        }
        match self.list_pods().await {
            Ok(pods) => {
                for pod in pods {
                    let id = PodId(pod.id);
                    let result = async {
                        self.stop_pod(&id).await?;
                        self.remove_pod(&id).await
                    }
                    .await;
                    match result {
                        Ok(()) => outcome.pods += 1,
                        Err(e) => outcome
                            .errors
                            .push(format!("removing pod {id}: {}", Chain(&e))),
                    }
                }
            }
            Err(e) => outcome.errors.push(format!("listing pods: {}", Chain(&e))),
        }
        outcome
    }
}

/// The `pid` in a verbose status's `info["info"]` JSON (0 when not running).
pub(crate) fn pid_from_status(status: &ContainerStatusResponse) -> Result<u32> {
    let container = status
        .status
        .as_ref()
        .map_or_else(|| "?".to_string(), |s| s.id.clone());
    let info = status
        .info
        .get("info")
        .ok_or_else(|| Error::StatusIncomplete {
            container: container.clone(),
            missing: "has no \"info\" entry".into(),
        })?;
    let json: serde_json::Value = serde_json::from_str(info).map_err(|source| Error::Json {
        what: "the ContainerStatus info",
        source,
    })?;
    json.get("pid")
        .and_then(|p| p.as_u64())
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| Error::StatusIncomplete {
            container,
            missing: format!("has no pid in its info: {info}"),
        })
}

/// Removes cgroup `path` (and below) in every hierarchy.
fn remove_cgroup_everywhere(path: &str) -> Result<()> {
    let hierarchies = system_hierarchies()?;
    let mut failures = Vec::new();
    for dir in existing_dirs(&hierarchies, path) {
        if let Err((_, e)) = remove_tree(&dir, CGROUP_PATIENCE) {
            failures.push(e.to_string());
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::CgroupRemoval {
            path: path.to_string(),
            failures,
        })
    }
}

/// Names end up in paths (log directories, cgroups): keep them to one plain component.
pub(crate) fn check_name(what: &'static str, value: &str) -> Result<()> {
    let plain = !value.is_empty()
        && value.len() <= 128
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(Error::BadName {
            what,
            value: value.to_string(),
        })
    }
}

fn path_string(path: &Path) -> Result<String> {
    path.to_str()
        .map(String::from)
        .ok_or_else(|| Error::NonUtf8Path {
            path: path.to_path_buf(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_is_read_from_verbose_info() {
        let mut status = ContainerStatusResponse::default();
        assert!(pid_from_status(&status).is_err());
        status.info.insert(
            "info".into(),
            r#"{"sandboxID":"s","pid":4242,"removing":false}"#.into(),
        );
        assert_eq!(pid_from_status(&status).unwrap(), 4242);
        status.info.insert("info".into(), r#"{"pid":0}"#.into());
        assert_eq!(pid_from_status(&status).unwrap(), 0);
        status.info.insert("info".into(), "not json".into());
        assert!(pid_from_status(&status).is_err());
    }

    fn cri() -> Cri {
        let client =
            CriClient::connect_lazy(Path::new("/nonexistent.sock"), Duration::from_secs(1));
        Cri::new(client, "ctrd-1-0", "/d/pod-logs")
    }

    #[tokio::test]
    async fn pod_config_is_host_network_with_a_cgroup_parent_in_the_run_subtree() {
        let cri = cri();
        let config = cri.pod_config("web", "default", "uid-1").unwrap();
        assert_eq!(config.hostname, "");
        assert_eq!(config.log_directory, "/d/pod-logs/default_web_uid-1");
        assert_eq!(config.labels[RUN_LABEL], "ctrd-1-0");
        let metadata = config.metadata.unwrap();
        assert_eq!(
            (
                metadata.name.as_str(),
                metadata.namespace.as_str(),
                metadata.uid.as_str()
            ),
            ("web", "default", "uid-1")
        );
        let linux = config.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/nri-e2e/ctrd-1-0/poduid-1");
        let namespaces = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(namespaces.network(), NamespaceMode::Node);
        assert_eq!(namespaces.pid(), NamespaceMode::Pod);
        assert!(cri.pod_config("web", "default", "../escape").is_err());
    }

    #[tokio::test]
    async fn container_and_debug_configs() {
        let cri = cri();
        let config = cri
            .container_config("app", "img", &["sh", "-c", "sleep 1"])
            .unwrap();
        assert_eq!(config.command, ["sh", "-c", "sleep 1"]);
        assert!(config.args.is_empty());
        assert_eq!(config.log_path, "app.log");
        assert_eq!(config.image.unwrap().image, "img");
        let namespaces = config
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(namespaces.pid(), NamespaceMode::Container);
        assert_eq!(namespaces.network(), NamespaceMode::Node);

        let target = ContainerId("abc".into());
        let debug = cri
            .debug_container_config(&target, "dbg", "img", &["sh"])
            .unwrap();
        let namespaces = debug
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(namespaces.pid(), NamespaceMode::Target);
        assert_eq!(namespaces.target_id, "abc");
    }

    #[test]
    fn names_must_be_single_plain_components() {
        for ok in ["web", "pod-1", "a.b_c", "0c6f0bb0-1"] {
            check_name("x", ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü"] {
            assert!(check_name("x", bad).is_err(), "{bad:?}");
        }
    }
}
