//! The private directory's layout and containerd's configuration file.
//!
//! Every path containerd, the shims and runc write to is placed under one directory, so
//! that teardown (and the runner's crash cleanup) knows exactly what belongs to a test.
//! The one exception containerd does not let us move: shim sockets always go under
//! `/run/containerd/s` (teardown removes those of shims it had to kill).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result, io_err};

/// Longest path a Unix socket address can hold (`sun_path` is 108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Paths inside one private containerd directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout of `dir` (absolute; it is written into the configuration).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The private directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// containerd's configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// containerd's stdout and stderr.
    pub fn log(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }
    /// containerd's gRPC (and CRI) socket.
    pub fn grpc_socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }
    /// containerd's ttrpc socket (shims call back on it).
    pub fn ttrpc_socket(&self) -> PathBuf {
        self.dir.join("containerd.sock.ttrpc")
    }
    /// The NRI socket plugins connect to.
    pub fn nri_socket(&self) -> PathBuf {
        self.dir.join("nri.sock")
    }
    /// containerd's persistent root (content, snapshots, metadata).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    /// containerd's state dir (bundles, rootfs mounts, sandbox shm).
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    /// runc's state root (`--root`).
    pub fn runc_root(&self) -> PathBuf {
        self.dir.join("runc-root")
    }
    /// The `opt` plugin's directory (default `/opt/containerd`, which it would create).
    pub fn opt(&self) -> PathBuf {
        self.dir.join("opt")
    }
    /// Where containerd looks for runtime-launched NRI plugins.
    pub fn nri_plugins(&self) -> PathBuf {
        self.dir.join("nri/plugins")
    }
    /// Where containerd looks for NRI plugin configuration.
    pub fn nri_plugin_config(&self) -> PathBuf {
        self.dir.join("nri/conf.d")
    }
    /// CNI binaries (empty: pods use the host network).
    pub fn cni_bin(&self) -> PathBuf {
        self.dir.join("cni/bin")
    }
    /// CNI network configurations (empty).
    pub fn cni_conf(&self) -> PathBuf {
        self.dir.join("cni/conf")
    }
    /// Where the image archive is written before import.
    pub fn images(&self) -> PathBuf {
        self.dir.join("images")
    }
    /// Parent of the per-pod log directories.
    pub fn pod_logs(&self) -> PathBuf {
        self.dir.join("pod-logs")
    }

    /// Fails if a socket path would be too long to bind, which containerd reports only
    /// obscurely (and only in its log).
    pub fn check_socket_paths(&self) -> Result<()> {
        for socket in [self.ttrpc_socket(), self.grpc_socket(), self.nri_socket()] {
            let len = socket.as_os_str().len();
            if len > MAX_SOCKET_PATH {
                return Err(Error::SocketPathTooLong {
                    socket,
                    len,
                    max: MAX_SOCKET_PATH,
                });
            }
        }
        Ok(())
    }

    /// Creates the directories containerd expects to exist.
    pub fn create_dirs(&self) -> Result<()> {
        for dir in [
            self.root(),
            self.state(),
            self.runc_root(),
            self.opt(),
            self.nri_plugins(),
            self.nri_plugin_config(),
            self.cni_bin(),
            self.cni_conf(),
            self.images(),
            self.pod_logs(),
        ] {
            std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        Ok(())
    }
}

/// The settings of a configuration that are not paths of the [`Layout`].
#[derive(Debug, Clone)]
pub struct ConfigParams<'a> {
    /// runc binary, written as the runc runtime's `BinaryName`.
    pub runc: &'a Path,
    /// The pinned sandbox image (already imported, never pulled).
    pub sandbox_image: &'a str,
    /// NRI `plugin_registration_timeout`.
    pub nri_registration_timeout: Duration,
    /// NRI `plugin_request_timeout`.
    pub nri_request_timeout: Duration,
    /// containerd's log level (`debug`, `info`, ...).
    pub log_level: &'a str,
}

/// Renders containerd's configuration (format version 3, containerd 2.x).
pub fn render(layout: &Layout, params: &ConfigParams<'_>) -> Result<String> {
    let p = |path: PathBuf| toml_path(&path);
    Ok(format!(
        r#"# Generated by containerd-harness for one end-to-end test; removed at teardown.
version = 3
root = {root}
state = {state}

[grpc]
  address = {grpc}

[ttrpc]
  address = {ttrpc}

[debug]
  level = {level}

# The default, /opt/containerd, would be created on the host.
[plugins."io.containerd.internal.v1.opt"]
  path = {opt}

[plugins."{nri_plugin}"]
  {k_disable} = false
  {k_disable_connections} = false
  {k_socket_path} = {nri_socket}
  {k_plugin_path} = {nri_plugins}
  {k_plugin_config_path} = {nri_conf}
  {k_registration_timeout} = {reg_timeout}
  {k_request_timeout} = {req_timeout}

# The sandbox image is imported locally; pinning it keeps CRI from pulling it.
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = {sandbox}

# Without CAP_SYS_RESOURCE a negative oom_score_adj is refused, and runc then fails with
# the misleading "can't get final child's PID from pipe: EOF".
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

# cgroupfs driver: a container's cgroup is <cgroup_parent>/<container id>.
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = {runc}
  Root = {runc_root}
  SystemdCgroup = false

# No CNI plugins: the harness only runs host-network pods.
[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = [{cni_bin}]
  conf_dir = {cni_conf}
"#,
        root = p(layout.root())?,
        state = p(layout.state())?,
        grpc = p(layout.grpc_socket())?,
        ttrpc = p(layout.ttrpc_socket())?,
        level = toml_string(params.log_level),
        opt = p(layout.opt())?,
        nri_plugin = nri_init::NRI_PLUGIN,
        k_disable = nri_init::KEY_DISABLE,
        k_disable_connections = nri_init::KEY_DISABLE_CONNECTIONS,
        k_socket_path = nri_init::KEY_SOCKET_PATH,
        k_plugin_path = nri_init::KEY_PLUGIN_PATH,
        k_plugin_config_path = nri_init::KEY_PLUGIN_CONFIG_PATH,
        k_registration_timeout = nri_init::KEY_PLUGIN_REGISTRATION_TIMEOUT,
        k_request_timeout = nri_init::KEY_PLUGIN_REQUEST_TIMEOUT,
        nri_socket = p(layout.nri_socket())?,
        nri_plugins = p(layout.nri_plugins())?,
        nri_conf = p(layout.nri_plugin_config())?,
        reg_timeout = go_duration(params.nri_registration_timeout),
        req_timeout = go_duration(params.nri_request_timeout),
        sandbox = toml_string(params.sandbox_image),
        runc = toml_path(params.runc)?,
        runc_root = p(layout.runc_root())?,
        cni_bin = p(layout.cni_bin())?,
        cni_conf = p(layout.cni_conf())?,
    ))
}

/// A TOML basic string; the few characters TOML requires escaped are escaped.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_path(path: &Path) -> Result<String> {
    let s = path.to_str().ok_or_else(|| Error::NonUtf8Path {
        path: path.to_path_buf(),
    })?;
    Ok(toml_string(s))
}

/// A duration in Go's `time.ParseDuration` syntax, which containerd uses for timeouts.
fn go_duration(d: Duration) -> String {
    toml_string(&format!("{}ms", d.as_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ConfigParams<'static> {
        ConfigParams {
            runc: Path::new("/usr/sbin/runc"),
            sandbox_image: "localhost/nri-e2e/pause:1",
            nri_registration_timeout: Duration::from_secs(5),
            nri_request_timeout: Duration::from_millis(2500),
            log_level: "info",
        }
    }

    fn parse(text: &str) -> toml::Table {
        text.parse::<toml::Table>()
            .expect("rendered config is valid TOML")
    }

    fn get<'a>(table: &'a toml::Table, path: &[&str]) -> &'a toml::Value {
        let (last, parents) = path.split_last().unwrap();
        let mut t = table;
        for key in parents {
            t = t
                .get(*key)
                .and_then(|v| v.as_table())
                .unwrap_or_else(|| panic!("no table {key}"));
        }
        t.get(*last).unwrap_or_else(|| panic!("no key {last}"))
    }

    fn s<'a>(table: &'a toml::Table, path: &[&str]) -> &'a str {
        get(table, path).as_str().unwrap()
    }

    #[test]
    fn config_has_private_paths_and_required_settings() {
        let layout = Layout::new("/run/x/ctrd-1-0");
        let cfg = parse(&render(&layout, &params()).unwrap());
        assert_eq!(get(&cfg, &["version"]).as_integer(), Some(3));
        assert_eq!(s(&cfg, &["root"]), "/run/x/ctrd-1-0/root");
        assert_eq!(s(&cfg, &["state"]), "/run/x/ctrd-1-0/state");
        assert_eq!(
            s(&cfg, &["grpc", "address"]),
            "/run/x/ctrd-1-0/containerd.sock"
        );
        assert_eq!(
            s(&cfg, &["plugins", "io.containerd.internal.v1.opt", "path"]),
            "/run/x/ctrd-1-0/opt"
        );

        let nri = &[nri_init::PLUGINS, nri_init::NRI_PLUGIN];
        let nri_key = |k: &'static str| [nri[0], nri[1], k];
        assert_eq!(get(&cfg, &nri_key("disable")).as_bool(), Some(false));
        assert_eq!(
            get(&cfg, &nri_key("disable_connections")).as_bool(),
            Some(false)
        );
        assert_eq!(s(&cfg, &nri_key("socket_path")), "/run/x/ctrd-1-0/nri.sock");
        assert_eq!(
            s(&cfg, &nri_key("plugin_path")),
            "/run/x/ctrd-1-0/nri/plugins"
        );
        assert_eq!(
            s(&cfg, &nri_key("plugin_config_path")),
            "/run/x/ctrd-1-0/nri/conf.d"
        );
        assert_eq!(s(&cfg, &nri_key("plugin_registration_timeout")), "5000ms");
        assert_eq!(s(&cfg, &nri_key("plugin_request_timeout")), "2500ms");

        assert_eq!(
            s(
                &cfg,
                &[
                    "plugins",
                    "io.containerd.cri.v1.images",
                    "pinned_images",
                    "sandbox"
                ]
            ),
            "localhost/nri-e2e/pause:1"
        );
        let rt = "io.containerd.cri.v1.runtime";
        assert_eq!(
            get(&cfg, &["plugins", rt, "restrict_oom_score_adj"]).as_bool(),
            Some(true)
        );
        let runc = ["plugins", rt, "containerd", "runtimes", "runc"];
        assert_eq!(
            s(&cfg, &[&runc[..], &["runtime_type"]].concat()),
            "io.containerd.runc.v2"
        );
        let opts = [&runc[..], &["options"]].concat();
        assert_eq!(
            s(&cfg, &[&opts[..], &["BinaryName"]].concat()),
            "/usr/sbin/runc"
        );
        assert_eq!(
            s(&cfg, &[&opts[..], &["Root"]].concat()),
            "/run/x/ctrd-1-0/runc-root"
        );
        assert_eq!(
            get(&cfg, &[&opts[..], &["SystemdCgroup"]].concat()).as_bool(),
            Some(false)
        );
        let bin_dirs = get(&cfg, &["plugins", rt, "cni", "bin_dirs"])
            .as_array()
            .unwrap();
        assert_eq!(bin_dirs.len(), 1);
        assert_eq!(bin_dirs[0].as_str(), Some("/run/x/ctrd-1-0/cni/bin"));
        assert_eq!(
            s(&cfg, &["plugins", rt, "cni", "conf_dir"]),
            "/run/x/ctrd-1-0/cni/conf"
        );
    }

    #[test]
    fn every_path_in_the_config_is_inside_the_private_dir() {
        let layout = Layout::new("/tmp/r/ctrd-7-3");
        let text = render(&layout, &params()).unwrap();
        fn walk(v: &toml::Value, out: &mut Vec<String>) {
            match v {
                toml::Value::String(s) if s.starts_with('/') => out.push(s.clone()),
                toml::Value::Table(t) => t.values().for_each(|v| walk(v, out)),
                toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut paths = Vec::new();
        walk(&toml::Value::Table(parse(&text)), &mut paths);
        assert!(paths.len() >= 12, "{paths:?}");
        for path in paths {
            assert!(
                path.starts_with("/tmp/r/ctrd-7-3/") || path == "/usr/sbin/runc",
                "{path} escapes the private dir"
            );
        }
    }

    #[test]
    fn quotes_and_backslashes_in_paths_survive() {
        let layout = Layout::new("/tmp/we\"ird\\dir");
        let cfg = parse(&render(&layout, &params()).unwrap());
        assert_eq!(s(&cfg, &["root"]), "/tmp/we\"ird\\dir/root");
    }

    #[test]
    fn overlong_socket_paths_are_rejected() {
        let long = format!("/{}", "d".repeat(90));
        let err = Layout::new(long).check_socket_paths().unwrap_err();
        assert!(err.to_string().contains("shorter run directory"), "{err}");
        Layout::new("/var/tmp/run/ctrd-123-0")
            .check_socket_paths()
            .unwrap();
    }
}
