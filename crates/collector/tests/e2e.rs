//! The `collector` binary as deployed, end to end: a real containerd (through
//! `containerd-harness`) with real pods, the resctrl stand-in (the fake served over FUSE,
//! steered by the test), and every Parquet file read back by an independent reader,
//! pyarrow.
//!
//! They need root, `/dev/fuse`, the assets `cargo xtask collector-e2e` provisions
//! (`NRI_E2E_*`) and pyarrow in `target/xtask/tools/pyarrow`, and fail naming what is
//! missing.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cause_chain::Chain;
use containerd_harness::{Assets, ContainerId, Containerd, Cri, Options, PodId};
use resctrl::MonEvent::{LlcOccupancy, MbmLocalBytes, MbmTotalBytes};
use resctrl::Resctrl;
use resctrl::fake::FakeReading;
use resctrl_standin::{Standin, StandinHandle};
use serde_json::Value;

/// The sampling interval of the runs: short, so a scenario sees many rounds.
const INTERVAL: Duration = Duration::from_millis(500);
/// Upper bound for anything a scenario waits for; generous for a loaded 2-core host.
const WAIT: Duration = Duration::from_secs(30);
/// Three single-threaded processes that live until killed.
const WORKLOAD: &[&str] = &["sh", "-c", "sleep 600 & sleep 600 & wait"];
/// The pinned reader, as the runner installs it.
const PYARROW: &str = "pyarrow==26.0.1";

/// The venv `cargo xtask collector-e2e` installs pyarrow into.
fn python() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let venv = target.join("xtask/tools/pyarrow");
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pyarrow.parquet"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "pyarrow is missing from {venv}: run `cargo xtask collector-e2e`, or `python3 -m venv {venv} && {venv}/bin/pip install {PYARROW}`",
        venv = venv.display()
    );
    python
}

/// Everything a scenario runs on: the stand-in, a private containerd, an output directory.
struct Node {
    dir: tempfile::TempDir,
    standin: StandinHandle,
    resctrl: Resctrl,
    ctrd: Containerd,
}

impl Node {
    async fn start() -> Node {
        let dir = tempfile::tempdir().expect("scratch dir");
        let mount_point = dir.path().join("standin");
        std::fs::create_dir(&mount_point).expect("the stand-in's mount point");
        let standin = Standin::mount(
            &mount_point,
            Standin::builder().l3_domains([0, 1]).num_rmids(32),
        )
        .unwrap_or_else(|e| panic!("cannot mount the resctrl stand-in: {}", Chain(&e)));
        let resctrl = Resctrl::new(standin.config()).expect("a handle on the stand-in");
        let assets = Assets::from_env()
            .unwrap_or_else(|e| panic!("cannot run the collector end to end: {}", Chain(&e)));
        let ctrd = Containerd::start(&assets, Options::default())
            .await
            .unwrap_or_else(|e| panic!("cannot start the private containerd: {}", Chain(&e)));
        Node {
            dir,
            standin,
            resctrl,
            ctrd,
        }
    }

    fn cri(&self) -> &Cri {
        self.ctrd.cri()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// The collector binary, configured through its environment as a DaemonSet would.
    fn collector(&self) -> Collector {
        let layout = self.standin.layout();
        let mut command = Command::new(env!("CARGO_BIN_EXE_collector"));
        // SAFETY: prctl(2) is async-signal-safe; it only sets this child's parent-death
        // signal, so a killed test run cannot leave a collector behind.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .env("COLLECTOR_NODE", "e2e-node")
            .env("COLLECTOR_INTERVAL", format!("{}ms", INTERVAL.as_millis()))
            .env("COLLECTOR_OUTPUT", self.out())
            .env("COLLECTOR_RESCTRL_ROOT", layout.root())
            .env("COLLECTOR_MOUNTS_FILE", layout.mounts_path())
            .env("COLLECTOR_CPUINFO_FILE", layout.cpuinfo_path())
            .env("COLLECTOR_NRI_SOCKET", self.ctrd.nri_socket())
            .env("COLLECTOR_RETRY_INTERVAL", "1s")
            .env_remove("NRI_PLUGIN_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the collector binary starts");
        Collector { child: Some(child) }
    }

    /// Pod `uid`'s group on the stand-in.
    fn group(&self, uid: &str) -> PathBuf {
        self.resctrl.group_path(uid).expect("a valid group name")
    }

    async fn wait_group(&self, uid: &str, present: bool) {
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
    async fn wait_tasks(&self, uid: &str, containers: &[&ContainerId]) {
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

    fn set(&self, uid: &str, domain: u32, event: resctrl::MonEvent, reading: FakeReading) {
        self.standin
            .fake()
            .set_reading(&self.group(uid), domain, event, reading);
    }

    async fn pod(&self, name: &str, uid: &str) -> (PodId, ContainerId) {
        let cri = self.cri();
        let pod = cri.run_pod(name, "shop", uid).await.expect("run pod");
        let app = cri
            .run_container(&pod, "app", self.ctrd.busybox_image(), WORKLOAD)
            .await
            .expect("run container");
        cri.wait_cgroup_threads(&app, 3, WAIT)
            .await
            .expect("the workload's processes");
        (pod, app)
    }

    async fn remove_pod(&self, pod: &PodId, containers: &[&ContainerId]) {
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

    async fn shutdown(self) {
        let Node {
            dir, standin, ctrd, ..
        } = self;
        let report = ctrd
            .shutdown()
            .await
            .expect("containerd teardown without leaks");
        println!("{report}");
        standin
            .unmount()
            .unwrap_or_else(|e| panic!("unmounting the stand-in: {}", Chain(&e)));
        drop(dir);
    }
}

/// The collector process; killed if a scenario fails before stopping it.
struct Collector {
    child: Option<Child>,
}

impl Collector {
    fn signal(&self, signal: i32) {
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
    fn terminate(mut self) -> Duration {
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
    fn kill(mut self) {
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

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits `n` sampling intervals.
async fn rounds(n: u32) {
    tokio::time::sleep(INTERVAL * n).await;
}

fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_nanos()).expect("fits")
}

/// Every row of every complete Parquet file in `dir`, as pyarrow reads them, oldest first.
fn read_rows(dir: &Path) -> Vec<Row> {
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
        .args(["-c", SCRIPT])
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
struct Row(Value);

impl Row {
    fn str(&self, column: &str) -> Option<&str> {
        self.0[column].as_str()
    }

    fn int(&self, column: &str) -> i64 {
        self.opt(column)
            .unwrap_or_else(|| panic!("{column} is null in {:?}", self.0))
    }

    fn opt(&self, column: &str) -> Option<i64> {
        self.0[column]
            .as_i64()
            .or_else(|| self.0[column].as_u64().map(|v| v as i64))
    }

    fn float(&self, column: &str) -> Option<f64> {
        self.0[column].as_f64()
    }
}

/// The rows of pod `uid` (or the default group's, for `None`) in `domain`.
fn series<'a>(rows: &'a [Row], uid: Option<&str>, domain: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r.str("pod_uid") == uid && r.str("domain") == Some(domain))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, /dev/fuse, provisioned containerd and pyarrow; run by cargo xtask collector-e2e"]
async fn pods_readings_resets_unavailable_domains_and_removal_end_up_in_parquet() {
    // Fail before any setup when the reader is missing.
    python();
    let node = Node::start().await;

    // A pod that runs before the collector starts is picked up at synchronize.
    let (pre_uid, new_uid) = ("col-pre-0001", "col-new-0002");
    let (pre, pre_app) = node.pod("pre", pre_uid).await;
    let collector = node.collector();
    node.wait_group(pre_uid, true).await;
    node.wait_tasks(pre_uid, &[&pre_app]).await;
    node.set(pre_uid, 0, LlcOccupancy, FakeReading::Value(4096));
    node.set(pre_uid, 0, MbmTotalBytes, FakeReading::Value(1_000_000));
    node.set(pre_uid, 0, MbmLocalBytes, FakeReading::Value(400_000));
    for event in [LlcOccupancy, MbmTotalBytes, MbmLocalBytes] {
        node.set(pre_uid, 1, event, FakeReading::Unavailable);
    }

    // A pod started after the collector.
    let (new, new_app) = node.pod("new", new_uid).await;
    node.wait_group(new_uid, true).await;
    node.wait_tasks(new_uid, &[&new_app]).await;
    node.set(new_uid, 0, MbmTotalBytes, FakeReading::Value(70_000));
    rounds(4).await;

    // Counters move: the pre pod's grows, the new pod's goes backwards (a reset).
    node.set(pre_uid, 0, MbmTotalBytes, FakeReading::Value(3_000_000));
    node.set(new_uid, 0, MbmTotalBytes, FakeReading::Value(5));
    rounds(4).await;

    // A debug container joins the new pod; the pre pod goes away.
    let debug = node
        .cri()
        .add_debug_container(
            &new,
            &new_app,
            "debugger",
            node.ctrd.busybox_image(),
            &["sh", "-c", "sleep 600 & wait"],
        )
        .await
        .expect("add a debug container");
    node.wait_tasks(new_uid, &[&new_app, &debug]).await;
    node.remove_pod(&pre, &[&pre_app]).await;
    node.wait_group(pre_uid, false).await;
    let removed_at = now_ns();
    rounds(4).await;
    let stop = collector.terminate();
    println!("SIGTERM to exit: {stop:?}");

    let rows = read_rows(&node.out());
    assert!(!rows.is_empty(), "no rows in {}", node.out().display());

    // The default group is sampled every round, with null pod columns.
    let default = series(&rows, None, "mon_L3_00");
    assert!(default.len() >= 10, "{} default-group rows", default.len());
    assert!(
        default
            .iter()
            .all(|r| r.str("pod_name").is_none() && r.str("pod_namespace").is_none())
    );

    // The pre pod: its identity, its readings once set, one delta per counter change.
    let pre_d0 = series(&rows, Some(pre_uid), "mon_L3_00");
    assert!(!pre_d0.is_empty(), "no rows for {pre_uid}");
    assert!(
        pre_d0
            .iter()
            .all(|r| r.str("pod_name") == Some("pre") && r.str("pod_namespace") == Some("shop"))
    );
    // The counter read 0 until the test set it (if a round came first), then 1 MB, then
    // 3 MB: the 3 MB round carries the 2 MB delta and its rate, every later round 0.
    let mut values: Vec<i64> = pre_d0.iter().map(|r| r.int("mbm_total_bytes")).collect();
    values.dedup();
    assert!(
        values == [1_000_000, 3_000_000] || values == [0, 1_000_000, 3_000_000],
        "{values:?}"
    );
    let jump = pre_d0
        .iter()
        .find(|r| r.int("mbm_total_bytes") == 3_000_000)
        .expect("the round that saw 3 MB");
    assert_eq!(
        jump.opt("mbm_total_bytes_delta"),
        Some(2_000_000),
        "{jump:?}"
    );
    assert_eq!(jump.str("status"), Some("ok"));
    let rate = jump
        .float("mbm_total_bytes_per_sec")
        .expect("a rate beside the delta");
    let expected = 2_000_000.0 / INTERVAL.as_secs_f64();
    assert!(
        (rate / expected - 1.0).abs() < 0.5,
        "rate {rate} for a 2 MB delta over ~{INTERVAL:?}"
    );
    let steady: Vec<&&Row> = pre_d0
        .iter()
        .filter(|r| r.int("mbm_total_bytes") == 3_000_000)
        .skip(1)
        .collect();
    assert!(steady.len() >= 2, "{steady:#?}");
    assert!(
        steady
            .iter()
            .all(|r| r.opt("mbm_total_bytes_delta") == Some(0))
    );
    assert!(
        pre_d0
            .iter()
            .any(|r| r.opt("llc_occupancy_bytes") == Some(4096))
    );
    // Its Unavailable domain is null with that status; domain 0 of the same rounds is not.
    let pre_d1 = series(&rows, Some(pre_uid), "mon_L3_01");
    let unavailable: Vec<&&Row> = pre_d1
        .iter()
        .filter(|r| r.str("status") == Some("unavailable"))
        .collect();
    assert!(unavailable.len() >= 4, "{pre_d1:#?}");
    for row in &unavailable {
        for column in [
            "llc_occupancy_bytes",
            "mbm_total_bytes",
            "mbm_local_bytes",
            "mbm_total_bytes_delta",
        ] {
            assert_eq!(row.opt(column), None, "{column} in {row:?}");
        }
        let same_round = pre_d0
            .iter()
            .find(|r| r.int("timestamp") == row.int("timestamp"))
            .expect("domain 0 of the same round");
        assert!(
            same_round.opt("mbm_total_bytes").is_some(),
            "{same_round:?}"
        );
    }
    // Removed: its rows end, and other rows go on after.
    let last_pre = pre_d0.last().expect("rows").int("timestamp");
    assert!(
        last_pre <= removed_at,
        "a row for {pre_uid} after its removal"
    );
    assert!(default.last().expect("rows").int("timestamp") > last_pre + INTERVAL.as_nanos() as i64);

    // The new pod: a counter going backwards is a reset, never a negative delta.
    let new_d0 = series(&rows, Some(new_uid), "mon_L3_00");
    let reset: Vec<&&Row> = new_d0
        .iter()
        .filter(|r| r.str("status") == Some("reset"))
        .collect();
    assert_eq!(reset.len(), 1, "{new_d0:#?}");
    assert_eq!(reset[0].opt("mbm_total_bytes"), Some(5));
    assert_eq!(reset[0].opt("mbm_total_bytes_delta"), None);
    assert!(
        new_d0
            .iter()
            .filter_map(|r| r.opt("mbm_total_bytes_delta"))
            .all(|d| d >= 0)
    );
    // The debug container is counted.
    assert!(
        new_d0
            .iter()
            .any(|r| r.opt("total_containers") == Some(2)
                && r.opt("reconciled_containers") == Some(2)),
        "{new_d0:#?}"
    );
    assert!(new_d0.iter().any(|r| r.opt("total_containers") == Some(1)));

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, /dev/fuse, provisioned containerd and pyarrow; run by cargo xtask collector-e2e"]
async fn a_killed_collector_loses_at_most_one_interval_and_leaves_only_readable_files() {
    python();
    let node = Node::start().await;
    let uid = "col-kill-0001";
    let (pod, app) = node.pod("victim", uid).await;
    let first = node.collector();
    node.wait_group(uid, true).await;
    rounds(6).await;
    first.kill();
    let killed_at = now_ns();
    let second = node.collector();
    rounds(4).await;
    second.terminate();

    let rows = read_rows(&node.out());
    let default = series(&rows, None, "mon_L3_00");
    let interval = i64::try_from(INTERVAL.as_nanos()).expect("fits");
    let before: Vec<i64> = default
        .iter()
        .map(|r| r.int("timestamp"))
        .filter(|t| *t < killed_at)
        .collect();
    assert!(before.len() >= 4, "{} rounds before the kill", before.len());
    // The first run's rounds are contiguous ticks, and at most the last interval is lost.
    for pair in before.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            interval,
            "a gap in the first run's ticks: {before:?}"
        );
    }
    let last = *before.last().expect("rounds");
    assert!(
        killed_at - last <= 2 * interval,
        "lost {} ns before the kill (last tick {last}, kill {killed_at})",
        killed_at - last
    );
    println!(
        "SIGKILL: the last spooled tick was {:.0} ms before the kill (interval {} ms), {} rounds before it",
        (killed_at - last) as f64 / 1e6,
        INTERVAL.as_millis(),
        before.len()
    );
    let after = default
        .iter()
        .filter(|r| r.int("timestamp") > killed_at)
        .count();
    assert!(after >= 2, "{after} rounds after the restart");
    // Every file is complete and readable (read_rows read them all); no partial is left.
    let leftovers: Vec<String> = std::fs::read_dir(node.out())
        .expect("output dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".parquet"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "left in the output dir: {leftovers:?}"
    );
    let files: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.str("file").expect("file")).or_default() += 1;
        m
    });
    assert!(files.len() >= 2, "one file per run at least: {files:?}");

    node.remove_pod(&pod, &[&app]).await;
    node.shutdown().await;
}
