//! The `nri-init-e2e` suite: the `nri-init` binary against real containerd 1.7 and 2.1.
//!
//! Each test starts a private containerd (root, state, sockets and NRI paths under one
//! directory in `NRI_INIT_E2E_RUN_DIR`) from a configuration with NRI disabled, through a
//! restart script that plays systemd's part (`--restart-command`). `nri-init` must enable
//! NRI, restart that containerd, and see its NRI socket; then the `nri-resctrl-plugin`
//! binary must register (with a stand-in resctrl: an empty directory that a private mount
//! namespace's mount table calls resctrl). A second run must change nothing; a file
//! containerd refuses must not be installed, and containerd must keep running. At the end
//! nothing may be left: no process, no mount, no directory. Without a daemon: a drop-in is
//! edited and loaded with its main file, and every golden result loads with NRI enabled.
//!
//! `#[ignore]`d: run by `cargo xtask nri-init-e2e`, which sets
//! `NRI_INIT_E2E_CONTAINERD_17` and `NRI_INIT_E2E_CONTAINERD_21` (directories with
//! `containerd` and `ctr`), `NRI_INIT_E2E_PLUGIN` (the plugin binary) and
//! `NRI_INIT_E2E_RUN_DIR`. A missing one fails the test by name.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The containerd releases under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    V17,
    V21,
}

impl Release {
    fn env_var(self) -> &'static str {
        match self {
            Release::V17 => "NRI_INIT_E2E_CONTAINERD_17",
            Release::V21 => "NRI_INIT_E2E_CONTAINERD_21",
        }
    }

    fn bin_dir(self) -> PathBuf {
        let dir = PathBuf::from(required_env(self.env_var()));
        for tool in ["containerd", "ctr"] {
            assert!(
                dir.join(tool).is_file(),
                "{}={} has no {tool} (an absolute path to containerd's bin directory is expected)",
                self.env_var(),
                dir.display()
            );
        }
        dir
    }

    /// A configuration that works here, NRI disabled, in the release's own format.
    fn config(self, dir: &Path) -> String {
        let d = dir.display();
        match self {
            Release::V17 => format!(
                r#"# containerd 1.7 for the nri-init e2e test; NRI is off until nri-init turns it on.
version = 2
root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[plugins]

  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"

  [plugins."io.containerd.nri.v1.nri"]
    disable = true  # off until the collector rolls out
    plugin_config_path = "{d}/nri/conf.d"
"#
            ),
            Release::V21 => format!(
                r#"# containerd 2.1 for the nri-init e2e test; NRI is off until nri-init turns it on.
version = 3
root = '{d}/root'
state = '{d}/state'

[grpc]
  address = '{d}/containerd.sock'

[ttrpc]
  address = '{d}/containerd.sock.ttrpc'

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = '{d}/opt'

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{d}/cni/bin']
    conf_dir = '{d}/cni/conf'

  [plugins.'io.containerd.nri.v1.nri']
    disable = true  # off until the collector rolls out
    plugin_config_path = '{d}/nri/conf.d'
"#
            ),
        }
    }
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set; run this suite with `cargo xtask nri-init-e2e`, which provisions it"
        )
    })
}

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the nri-init e2e tests need root (containerd mounts and owns its sockets; the plugin needs a mount namespace)"
    );
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One private containerd and what it needs; torn down on drop (also when a test panics).
struct Node {
    release: Release,
    dir: PathBuf,
    plugin: Option<Child>,
}

impl Node {
    fn new(release: Release) -> Self {
        require_root();
        let run_dir = PathBuf::from(required_env("NRI_INIT_E2E_RUN_DIR"));
        let bin = release.bin_dir();
        let dir = run_dir.join(format!(
            "n{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [
            "root",
            "state",
            "opt",
            "cni/bin",
            "cni/conf",
            "nri/plugins",
            "nri/conf.d",
            "resctrl/mon_groups",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("private directories");
        }
        std::fs::write(dir.join("config.toml"), release.config(&dir)).expect("config");
        let restart = dir.join("restart.sh");
        std::fs::write(&restart, restart_script(&dir, &bin.join("containerd"))).expect("script");
        std::fs::set_permissions(&restart, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Node {
            release,
            dir,
            plugin: None,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    fn nri_socket(&self) -> PathBuf {
        self.dir.join("nri.sock")
    }

    fn restart_command(&self) -> String {
        format!("{}", self.dir.join("restart.sh").display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn pid(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("containerd.pid"))
            .expect("containerd.pid (written by restart.sh)")
            .trim()
            .parse()
            .expect("a pid in containerd.pid")
    }

    /// Starts containerd the way nri-init will restart it, and waits until it answers.
    fn start(&self) {
        let status = Command::new(self.dir.join("restart.sh"))
            .status()
            .expect("running restart.sh");
        assert!(status.success(), "restart.sh failed: {status}");
        self.wait_ready();
    }

    fn answers(&self) -> bool {
        Command::new(self.release.bin_dir().join("ctr"))
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "containerd {:?} did not answer within 20 s; log:\n{}",
                self.release,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the `nri-init` binary on this node, restarting through the script.
    fn nri_init(&self, extra: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_nri-init"))
            .arg("--containerd-config")
            .arg(self.config())
            .arg("--containerd-binary")
            .arg(self.release.bin_dir().join("containerd"))
            .arg("--socket-path")
            .arg(self.nri_socket())
            .arg("--plugin-path")
            .arg(self.dir.join("nri/plugins"))
            .arg("--restart-command")
            .arg(self.restart_command())
            .args(["--timeout", "30s"])
            .args(extra)
            .output()
            .expect("running nri-init");
        println!(
            "$ nri-init ... ({:?})\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn backups(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("private dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".bak") || n.contains("nri-init"))
            .collect();
        names.sort();
        names
    }

    /// Starts the plugin binary against this node's NRI socket, with the stand-in resctrl.
    fn start_plugin(&mut self) {
        let plugin = PathBuf::from(required_env("NRI_INIT_E2E_PLUGIN"));
        assert!(
            plugin.is_file(),
            "NRI_INIT_E2E_PLUGIN={} is not a file",
            plugin.display()
        );
        let resctrl = self.dir.join("resctrl");
        let mounts = self.dir.join("mounts");
        let mut table = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
        table.push_str(&format!(
            "resctrl {} resctrl rw,relatime 0 0\n",
            resctrl.display()
        ));
        std::fs::write(&mounts, table).expect("stand-in mount table");
        let log = std::fs::File::create(self.dir.join("plugin.log")).expect("plugin log");
        // The bind mount replaces this shell's own mount table, which the plugin keeps:
        // exec does not change the pid.
        let script = format!(
            "mount --make-rprivate / && mount --bind '{}' /proc/$$/mounts && exec '{}' --resctrl-root '{}' --socket-path '{}'",
            mounts.display(),
            plugin.display(),
            resctrl.display(),
            self.nri_socket().display()
        );
        let child = Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux) starts the plugin");
        self.plugin = Some(child);
    }

    fn wait_registered(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let plugin_log =
                std::fs::read_to_string(self.dir.join("plugin.log")).unwrap_or_default();
            let runtime_saw = self.log().contains("registered as \\\"10-resctrl\\\"");
            let plugin_saw = plugin_log.contains("synchronized with the runtime");
            if runtime_saw && plugin_saw {
                return;
            }
            if let Some(child) = self.plugin.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("the plugin exited ({status}); its log:\n{plugin_log}");
            }
            assert!(
                Instant::now() < deadline,
                "the plugin did not register within 15 s (containerd saw it: {runtime_saw}, plugin synchronized: {plugin_saw}); plugin log:\n{plugin_log}\ncontainerd log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_plugin(&mut self) {
        if let Some(mut child) = self.plugin.take() {
            // The plugin is the exec'd shell: its pid is the child's.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stop_containerd(&self) {
        let Ok(text) = std::fs::read_to_string(self.dir.join("containerd.pid")) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if running(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }

    /// Stops everything and checks that nothing is left.
    fn finish(mut self) {
        self.teardown();
        let left = leftovers(&self.dir);
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    fn teardown(&mut self) {
        self.stop_plugin();
        self.stop_containerd();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_referencing(&self.dir).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.dir.exists() {
            self.teardown();
        }
    }
}

fn restart_script(dir: &Path, containerd: &Path) -> String {
    let d = dir.display();
    let bin = containerd.display();
    format!(
        r#"#!/bin/sh
# Restarts this test's containerd, as `systemctl restart containerd` would: stop the old
# process (TERM, then KILL), start a new one in its own session, note its pid.
set -e
if [ -f '{d}/containerd.pid' ]; then
  pid=$(cat '{d}/containerd.pid')
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while [ -r "/proc/$pid/cmdline" ] && [ -n "$(tr -d '\0' < /proc/$pid/cmdline 2>/dev/null)" ]; do
    i=$((i + 1))
    if [ "$i" -eq 200 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    if [ "$i" -gt 300 ]; then echo "containerd $pid does not stop" >&2; exit 1; fi
    sleep 0.05
  done
fi
setsid '{bin}' --config '{d}/config.toml' >>'{d}/containerd.log' 2>&1 </dev/null &
echo $! > '{d}/containerd.pid'
"#
    )
}

/// Whether `pid` is a live process (a zombie has an empty command line).
fn running(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

/// Live processes whose command line or working directory is in `dir`.
fn processes_referencing(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            (cmdline.contains(&needle) || cwd.starts_with(dir))
                .then(|| format!("pid {pid}: {}", cmdline.trim()))
        })
        .collect()
}

/// Processes, mounts and the directory itself, if any remain.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut left = processes_referencing(dir);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let needle = dir.to_string_lossy().into_owned();
    left.extend(
        mounts
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&needle)))
            .map(|l| format!("mount: {l}")),
    );
    if dir.exists() {
        left.push(format!("directory {}", dir.display()));
    }
    left
}

fn enabling_nri_restarts_containerd_and_the_plugin_registers(release: Release) {
    let mut node = Node::new(release);
    node.start();
    assert!(
        !node.nri_socket().exists(),
        "NRI is disabled in the starting configuration, yet {} exists",
        node.nri_socket().display()
    );
    let pid_before = node.pid();

    let first = node.nri_init(&[]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "nri-init failed: {first:?}");
    assert!(
        stdout.contains("changed: disable: true -> false"),
        "{stdout}"
    );
    assert!(
        stdout.contains("containerd accepted the new configuration"),
        "{stdout}"
    );
    assert!(stdout.contains("restarted containerd"), "{stdout}");
    assert_ne!(node.pid(), pid_before, "containerd was not restarted");
    assert!(
        node.answers(),
        "containerd does not answer after the restart"
    );
    assert!(
        std::os::unix::net::UnixStream::connect(node.nri_socket()).is_ok(),
        "the NRI socket does not accept connections; log:\n{}",
        node.log_tail()
    );
    let config = std::fs::read_to_string(node.config()).expect("config");
    assert!(
        config.contains("disable = false  # off until the collector rolls out"),
        "the edit kept the comment and spacing:\n{config}"
    );
    assert_eq!(node.backups().len(), 1, "one backup: {:?}", node.backups());

    node.start_plugin();
    node.wait_registered();

    let pid_enabled = node.pid();
    let second = node.nri_init(&[]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "second run failed: {second:?}");
    assert!(
        stdout.contains("NRI is already enabled; nothing changed"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(node.config()).expect("config"),
        config
    );
    assert_eq!(
        node.pid(),
        pid_enabled,
        "an unchanged file must not restart containerd"
    );
    assert_eq!(
        node.backups().len(),
        1,
        "no new backup: {:?}",
        node.backups()
    );
    node.finish();
}

fn a_file_containerd_refuses_is_not_installed(release: Release) {
    let node = Node::new(release);
    node.start();
    let pid = node.pid();
    // Valid TOML, but containerd cannot load it: an admin's mistake outside NRI's table,
    // made after containerd started.
    let good = std::fs::read_to_string(node.config()).expect("config");
    let bad = good.replacen("\nroot = ", "\noom_score = \"high\"\nroot = ", 1);
    assert_ne!(bad, good);
    std::fs::write(node.config(), &bad).expect("bad config");

    let output = node.nri_init(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(4),
        "exit code 4 (rejected): {output:?}"
    );
    assert!(
        stderr.contains("containerd refused the edited configuration"),
        "{stderr}"
    );
    assert!(
        stderr.contains("OOMScore") || stderr.contains("high"),
        "containerd's reason: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(node.config()).expect("config"), bad);
    assert!(
        node.backups().is_empty(),
        "nothing staged or backed up: {:?}",
        node.backups()
    );
    assert_eq!(node.pid(), pid, "containerd must not be restarted");
    assert!(node.answers(), "containerd keeps working");
    assert!(!node.nri_socket().exists(), "NRI stays off");
    node.finish();
}

#[test]
#[ignore = "needs root and containerd 1.7; run by `cargo xtask nri-init-e2e`"]
fn containerd_17_gets_nri_enabled_restarted_and_the_plugin_registers() {
    enabling_nri_restarts_containerd_and_the_plugin_registers(Release::V17);
}

#[test]
#[ignore = "needs root and containerd 2.1; run by `cargo xtask nri-init-e2e`"]
fn containerd_21_gets_nri_enabled_restarted_and_the_plugin_registers() {
    enabling_nri_restarts_containerd_and_the_plugin_registers(Release::V21);
}

#[test]
#[ignore = "needs root and containerd 1.7; run by `cargo xtask nri-init-e2e`"]
fn containerd_17_keeps_running_when_it_refuses_the_edited_file() {
    a_file_containerd_refuses_is_not_installed(Release::V17);
}

#[test]
#[ignore = "needs root and containerd 2.1; run by `cargo xtask nri-init-e2e`"]
fn containerd_21_keeps_running_when_it_refuses_the_edited_file() {
    a_file_containerd_refuses_is_not_installed(Release::V21);
}

#[test]
#[ignore = "needs containerd 1.7 and 2.1; run by `cargo xtask nri-init-e2e`"]
fn every_golden_result_is_loaded_by_its_containerd_with_nri_enabled() {
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/expected");
    let cases = [
        ("containerd-1.7-default.toml", Release::V17),
        ("containerd-1.7-without-nri.toml", Release::V17),
        ("comments.toml", Release::V17),
        ("no-version.1.7.toml", Release::V17),
        ("v1.1.7.toml", Release::V17),
        ("dropins-10-nri.toml", Release::V17),
        ("containerd-2.1-nri-disabled.toml", Release::V21),
        ("comments.toml", Release::V21),
        ("single-quoted.toml", Release::V21),
        ("double-quoted.toml", Release::V21),
        ("no-version.2.1.toml", Release::V21),
    ];
    let mut failures = Vec::new();
    for (file, release) in cases {
        let path = expected.join(file);
        let output = Command::new(release.bin_dir().join("containerd"))
            .arg("--config")
            .arg(&path)
            .args(["config", "dump"])
            .output()
            .expect("running containerd config dump");
        if !output.status.success() {
            failures.push(format!(
                "{file} ({release:?}): refused: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            continue;
        }
        let dump = String::from_utf8_lossy(&output.stdout);
        let doc = nri_init::parse(&path, &dump).expect("containerd's dump is TOML");
        let view =
            nri_init::nri_view(&doc, [nri_init::PLUGINS, nri_init::NRI_PLUGIN]).unwrap_or_default();
        println!("{file} with {release:?}: disable = {:?}", view.disable);
        if view.disable != Some(false) || view.disable_connections == Some(true) {
            failures.push(format!("{file} ({release:?}): NRI not enabled: {view:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn a_drop_in_is_edited_and_loaded_by_containerd(release: Release) {
    let scratch = tempfile::tempdir().expect("scratch");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dropins");
    let dir = scratch.path().join("etc");
    std::fs::create_dir_all(dir.join("conf.d")).expect("conf.d");
    for file in [
        "config.toml",
        "conf.d/10-nri.toml",
        "conf.d/20-registry.toml",
    ] {
        std::fs::copy(fixtures.join(file), dir.join(file)).expect("fixture");
    }
    // A relative --containerd-config: the imports must still resolve for containerd.
    let output = Command::new(env!("CARGO_BIN_EXE_nri-init"))
        .current_dir(scratch.path())
        .args([
            "--containerd-config",
            "etc/config.toml",
            "--containerd-binary",
        ])
        .arg(release.bin_dir().join("containerd"))
        .output()
        .expect("running nri-init");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("conf.d/10-nri.toml"), "{stdout}");
    assert!(
        stdout.contains("containerd accepted the new configuration"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("config.toml")).expect("main"),
        std::fs::read_to_string(fixtures.join("config.toml")).expect("fixture"),
        "the main file is untouched"
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["conf.d", "config.toml"], "no check file left");
}

#[test]
#[ignore = "needs containerd 1.7; run by `cargo xtask nri-init-e2e`"]
fn containerd_17_loads_the_edited_drop_in() {
    a_drop_in_is_edited_and_loaded_by_containerd(Release::V17);
}

#[test]
#[ignore = "needs containerd 2.1; run by `cargo xtask nri-init-e2e`"]
fn containerd_21_loads_the_edited_drop_in() {
    a_drop_in_is_edited_and_loaded_by_containerd(Release::V21);
}
