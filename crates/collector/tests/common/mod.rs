//! What the collector's end-to-end binaries share: a node (a resctrl, a private containerd,
//! an output directory), the collector process, and pyarrow's view of its files.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cause_chain::Chain;
use containerd_harness::{Assets, ContainerId, Containerd, Cri, Options, PodId};
use resctrl::Resctrl;
use resctrl::fake::FakeReading;
use resctrl_standin::{Standin, StandinHandle};
use serde_json::Value;

/// The sampling interval of the runs: short, so a scenario sees many rounds.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Upper bound for anything a scenario waits for; generous for a loaded 2-core host.
pub const WAIT: Duration = Duration::from_secs(30);
/// Three single-threaded processes that live until killed.
pub const WORKLOAD: &[&str] = &["sh", "-c", "sleep 600 & sleep 600 & wait"];
/// The pinned reader, as the runner installs it.
pub const PYARROW: &str = "pyarrow==26.0.1";
/// Ends every script that reads with pyarrow. pyarrow 26 aborts in about one exit in ten
/// here ("terminate called without an active exception": its thread pools torn down at
/// interpreter exit), after the script's work is done and printed. Leaving through
/// `os._exit` once stdout is flushed skips that teardown; an exception raised before it
/// still exits non-zero.
pub const PYARROW_EXIT: &str = "\nimport os, sys\nsys.stdout.flush()\nos._exit(0)\n";

/// Where the runner installs its tools: `target/xtask/tools`, under `CARGO_TARGET_DIR` when
/// set.
pub fn tools_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("xtask/tools")
}

/// The Python of the tools' venv `venv`, checked to import `modules` (Python's `import`
/// list); fails naming `what` is missing and `fix`, the command that installs it.
pub fn tools_python(venv: &str, modules: &str, what: &str, fix: &str) -> PathBuf {
    let python = tools_dir().join(venv).join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{what} is missing from {}: {fix}", python.display());
    python
}

/// The venv `cargo xtask collector-e2e` installs pyarrow into.
pub fn python() -> PathBuf {
    let venv = tools_dir().join("pyarrow");
    tools_python(
        "pyarrow",
        "pyarrow.parquet",
        "pyarrow",
        &format!(
            "run `cargo xtask collector-e2e`, or `python3 -m venv {venv} && {venv}/bin/pip install {PYARROW}`",
            venv = venv.display()
        ),
    )
}

/// Which resctrl a scenario's collector uses.
pub enum Backend {
    /// The FUSE stand-in, whose readings the test sets.
    Standin(StandinHandle),
    /// The host's real `/sys/fs/resctrl`, with a group prefix of the test's own.
    Real {
        /// The prefix of the collector's groups (removed when the node shuts down).
        prefix: String,
    },
}

/// Everything a scenario runs on: a resctrl, a private containerd, an output directory.
pub struct Node {
    dir: tempfile::TempDir,
    backend: Backend,
    /// A handle on the same resctrl the collector uses, with the collector's prefix.
    pub resctrl: Resctrl,
    /// The private containerd.
    pub ctrd: Containerd,
}

/// A private containerd from the provisioned assets.
async fn containerd() -> Containerd {
    let assets = Assets::from_env()
        .unwrap_or_else(|e| panic!("cannot run the collector end to end: {}", Chain(&e)));
    Containerd::start(&assets, Options::default())
        .await
        .unwrap_or_else(|e| panic!("cannot start the private containerd: {}", Chain(&e)))
}

impl Node {
    /// A node whose resctrl is the FUSE stand-in (2 domains, 32 RMIDs).
    pub async fn with_standin() -> Node {
        let dir = tempfile::tempdir().expect("scratch dir");
        let mount_point = dir.path().join("standin");
        std::fs::create_dir(&mount_point).expect("the stand-in's mount point");
        let standin = Standin::mount(
            &mount_point,
            Standin::builder().l3_domains([0, 1]).num_rmids(32),
        )
        .unwrap_or_else(|e| panic!("cannot mount the resctrl stand-in: {}", Chain(&e)));
        let resctrl = Resctrl::new(standin.config()).expect("a handle on the stand-in");
        let ctrd = containerd().await;
        Node {
            dir,
            backend: Backend::Standin(standin),
            resctrl,
            ctrd,
        }
    }

    /// A node on this host's real resctrl; fails naming what is missing when the host
    /// cannot monitor.
    pub async fn with_real_resctrl(test: &str) -> Node {
        let prefix = format!("colhw{}_{test}_", std::process::id());
        let config = resctrl::Config::default().with_group_prefix(&prefix);
        let resctrl = Resctrl::new(config).expect("a valid configuration");
        resctrl
            .ensure_mounted(true)
            .unwrap_or_else(|e| panic!("this host's resctrl cannot be used: {}", Chain(&e)));
        let support = resctrl.detect_support().expect("resctrl support");
        assert!(
            support.can_monitor(),
            "this host cannot monitor with resctrl: {}",
            support.problems().join("; ")
        );
        let ctrd = containerd().await;
        Node {
            dir: tempfile::tempdir().expect("scratch dir"),
            backend: Backend::Real { prefix },
            resctrl,
            ctrd,
        }
    }

    pub fn cri(&self) -> &Cri {
        self.ctrd.cri()
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Where the stand-in is mounted (its resctrl root, mount table and cpuinfo are
    /// inside), for a collector that needs it mounted into its own namespace.
    pub fn standin_mount_point(&self) -> PathBuf {
        let Backend::Standin(standin) = &self.backend else {
            panic!("this node runs on the real resctrl, not the stand-in");
        };
        standin.layout().mount_point().to_path_buf()
    }

    /// The collector binary, configured through its environment as a DaemonSet would.
    pub fn collector(&self) -> Collector {
        let mut command = Command::new(env!("CARGO_BIN_EXE_collector"));
        // SAFETY: prctl(2) is async-signal-safe; it only sets this child's parent-death
        // signal, so a killed test run cannot leave a collector behind.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match &self.backend {
            Backend::Standin(standin) => {
                let layout = standin.layout();
                command
                    .env("COLLECTOR_RESCTRL_ROOT", layout.root())
                    .env("COLLECTOR_MOUNTS_FILE", layout.mounts_path())
                    .env("COLLECTOR_CPUINFO_FILE", layout.cpuinfo_path());
            }
            Backend::Real { prefix } => {
                command
                    .env("COLLECTOR_GROUP_PREFIX", prefix)
                    .env("COLLECTOR_AUTO_MOUNT", "true");
            }
        }
        let child = command
            .env("COLLECTOR_NODE", "e2e-node")
            .env("COLLECTOR_INTERVAL", format!("{}ms", INTERVAL.as_millis()))
            .env("COLLECTOR_OUTPUT", self.out())
            .env("COLLECTOR_NRI_SOCKET", self.ctrd.nri_socket())
            .env("COLLECTOR_RETRY_INTERVAL", "1s")
            // Any free port: scenarios must not depend on 9808 being free.
            .env("COLLECTOR_LISTEN", "127.0.0.1:0")
            .env_remove("NRI_PLUGIN_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the collector binary starts");
        Collector { child: Some(child) }
    }

    /// Pod `uid`'s group.
    pub fn group(&self, uid: &str) -> PathBuf {
        self.resctrl.group_path(uid).expect("a valid group name")
    }

    pub async fn wait_group(&self, uid: &str, present: bool) {
        let group = self.group(uid);
        wait_for(
            &format!(
                "group {} to be {}",
                group.display(),
                if present { "created" } else { "removed" }
            ),
            || group.join("tasks").exists() == present,
        )
        .await;
    }

    /// Waits until pod `uid`'s group holds every thread of `containers`.
    pub async fn wait_tasks(&self, uid: &str, containers: &[&ContainerId]) {
        let group = self.group(uid);
        let deadline = Instant::now() + WAIT;
        loop {
            let mut wanted = Vec::new();
            for id in containers {
                wanted.extend(
                    self.cri()
                        .container_cgroup_threads(id)
                        .await
                        .expect("container threads"),
                );
            }
            let tasks = self.resctrl.list_group_tasks(&group).unwrap_or_default();
            if !wanted.is_empty() && wanted.iter().all(|t| tasks.contains(t)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never held {wanted:?} (has {tasks:?})",
                group.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sets a reading of pod `uid`'s group on the stand-in.
    pub fn set(&self, uid: &str, domain: u32, event: resctrl::MonEvent, reading: FakeReading) {
        let Backend::Standin(standin) = &self.backend else {
            panic!("readings can only be set on the stand-in");
        };
        standin
            .fake()
            .set_reading(&self.group(uid), domain, event, reading);
    }

    /// A pod of namespace `shop` with one container running [`WORKLOAD`].
    pub async fn pod(&self, name: &str, uid: &str) -> (PodId, ContainerId) {
        self.pod_running(name, uid, WORKLOAD, 3).await
    }

    /// A pod with one container running `command`, once `threads` of its threads run.
    pub async fn pod_running(
        &self,
        name: &str,
        uid: &str,
        command: &[&str],
        threads: usize,
    ) -> (PodId, ContainerId) {
        let cri = self.cri();
        let pod = cri.run_pod(name, "shop", uid).await.expect("run pod");
        let app = cri
            .run_container(&pod, "app", self.ctrd.busybox_image(), command)
            .await
            .expect("run container");
        cri.wait_cgroup_threads(&app, threads, WAIT)
            .await
            .expect("the workload's processes");
        (pod, app)
    }

    pub async fn remove_pod(&self, pod: &PodId, containers: &[&ContainerId]) {
        let cri = self.cri();
        for id in containers {
            cri.stop_container(id, Duration::ZERO)
                .await
                .expect("stop container");
            cri.remove_container(id).await.expect("remove container");
        }
        cri.stop_pod(pod).await.expect("stop pod");
        cri.remove_pod(pod).await.expect("remove pod");
    }

    /// Tears containerd down (failing on leaks) and releases the resctrl backend.
    pub async fn shutdown(self) {
        let Node {
            dir,
            backend,
            resctrl,
            ctrd,
        } = self;
        let report = ctrd
            .shutdown()
            .await
            .expect("containerd teardown without leaks");
        println!("{report}");
        match backend {
            Backend::Standin(standin) => standin
                .unmount()
                .unwrap_or_else(|e| panic!("unmounting the stand-in: {}", Chain(&e))),
            Backend::Real { .. } => {
                resctrl
                    .cleanup_prefix()
                    .expect("removing the test's groups");
            }
        }
        drop(dir);
    }
}

/// The collector process; killed if a scenario fails before stopping it.
pub struct Collector {
    child: Option<Child>,
}

impl Collector {
    pub fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("running");
        let pid = i32::try_from(child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    /// SIGTERM, then the exit: it must be 0 within 2 s.
    pub fn terminate(mut self) -> Duration {
        let started = Instant::now();
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the collector") {
                assert!(
                    status.success(),
                    "the collector exited with {status} on SIGTERM"
                );
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "the collector did not exit within 2 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaping the collector");
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits `n` sampling intervals.
pub async fn rounds(n: u32) {
    tokio::time::sleep(INTERVAL * n).await;
}

pub fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_nanos()).expect("fits")
}

/// Every row of every complete Parquet file in `dir`, as pyarrow reads them, oldest first.
pub fn read_rows(dir: &Path) -> Vec<Row> {
    const SCRIPT: &str = r#"
import json, sys, pathlib
import pyarrow.parquet as pq
rows = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.parquet")):
    for r in pq.ParquetFile(path).read().to_pylist():
        r["timestamp"] = int(r["timestamp"].timestamp() * 1_000_000_000)
        r["file"] = path.name
        rows.append(r)
print(json.dumps(rows))
"#;
    let out = Command::new(python())
        .args(["-c", &format!("{SCRIPT}{PYARROW_EXIT}")])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pyarrow could not read {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("pyarrow's JSON");
    let mut rows: Vec<Row> = rows.into_iter().map(Row).collect();
    rows.sort_by_key(|r| r.int("timestamp"));
    rows
}

/// One row, as pyarrow gave it.
#[derive(Clone, Debug)]
pub struct Row(pub Value);

impl Row {
    pub fn str(&self, column: &str) -> Option<&str> {
        self.0[column].as_str()
    }

    pub fn int(&self, column: &str) -> i64 {
        self.opt(column)
            .unwrap_or_else(|| panic!("{column} is null in {:?}", self.0))
    }

    pub fn opt(&self, column: &str) -> Option<i64> {
        self.0[column]
            .as_i64()
            .or_else(|| self.0[column].as_u64().map(|v| v as i64))
    }

    pub fn float(&self, column: &str) -> Option<f64> {
        self.0[column].as_f64()
    }
}

/// The rows of pod `uid` (or the default group's, for `None`) in `domain`.
pub fn series<'a>(rows: &'a [Row], uid: Option<&str>, domain: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r.str("pod_uid") == uid && r.str("domain") == Some(domain))
        .collect()
}
