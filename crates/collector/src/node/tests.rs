//! The collector with its plugin over NRI, against the runtime test peer, on the fake
//! resctrl with scripted threads; and the start-up checks on this host.

use std::collections::BTreeSet;
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use nri::stub::{Backoff, PluginConfig as NriConfig};
use nri::testing::{PeerConfig, TestRuntime};
use nri::{Event, LinuxContainer, LinuxPodSandbox};
use nri_resctrl_plugin::ScriptedPidSource;
use protobuf::{EnumOrUnknown, MessageField};
use resctrl::fake::FakeResctrl;

use super::*;
use crate::test_support::read_parquet;

const LIMIT: Duration = Duration::from_secs(10);

fn nri_config(socket: &std::path::Path) -> NriConfig {
    NriConfig::new("collector", "10")
        .expect("valid identity")
        .with_socket_path(socket)
        .with_reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
            multiplier: 2,
        }))
}

struct Setup {
    _tmp: tempfile::TempDir,
    out: std::path::PathBuf,
    fake: FakeResctrl,
    pids: ScriptedPidSource,
    collector: Collector,
}

async fn start(socket: &std::path::Path, tmp: tempfile::TempDir) -> Setup {
    let out = tmp.path().join("out");
    let fake = FakeResctrl::new();
    let pids = ScriptedPidSource::new();
    let (tx, rx) = events::channel(64);
    let core = ResctrlPlugin::with_provider(
        fake.clone(),
        PluginConfig::default(),
        fake.config(),
        pids.clone(),
        tx,
    )
    .expect("core");
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("handle");
    let (output, recovery) =
        Output::open(OutputConfig::new(&out, "node-a", Duration::from_millis(20))).expect("output");
    let options =
        AdapterOptions::new(nri_config(socket)).with_retry_interval(Duration::from_secs(3600));
    let collector = Collector::start_with(
        options,
        core,
        rx,
        rc,
        output,
        recovery,
        SystemClock,
        Services::default(),
    )
    .await
    .expect("the collector starts");
    Setup {
        _tmp: tmp,
        out,
        fake,
        pids,
        collector,
    }
}

fn pod() -> nri::PodSandbox {
    nri::PodSandbox {
        id: "sb-1".into(),
        uid: "uid-1".into(),
        name: "web".into(),
        namespace: "shop".into(),
        linux: MessageField::some(LinuxPodSandbox {
            cgroup_parent: "/kubepods/besteffort/pod1".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container(pod: &nri::PodSandbox) -> nri::Container {
    nri::Container {
        id: "ctr-1".into(),
        pod_sandbox_id: pod.id.clone(),
        name: "app".into(),
        state: EnumOrUnknown::new(nri::ContainerState::CONTAINER_RUNNING),
        linux: MessageField::some(LinuxContainer {
            cgroups_path: "/kubepods/besteffort/pod1/ctr-1".into(),
            ..Default::default()
        }),
        pid: 100,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_the_runtime_starts_are_sampled_with_their_identity_from_nri() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let runtime =
        TestRuntime::bind(tmp.path().join("nri.sock"), PeerConfig::default()).expect("bind");
    let s = start(runtime.socket_path(), tmp).await;
    let conn = tokio::time::timeout(LIMIT, runtime.accept())
        .await
        .expect("the plugin connects in time")
        .expect("registration");
    s.fake.add_threads([100, 101]);
    s.pids.set_threads("ctr-1", [100, 101]);
    let (p, c) = (pod(), container(&pod()));
    tokio::time::timeout(LIMIT, conn.synchronize(Vec::new(), Vec::new()))
        .await
        .expect("in time")
        .expect("sync");
    for (event, ctr) in [
        (Event::RunPodSandbox, None),
        (Event::CreateContainer, Some(&c)),
        (Event::StartContainer, Some(&c)),
    ] {
        tokio::time::timeout(LIMIT, conn.event(event, &p, ctr))
            .await
            .expect("in time")
            .expect("delivered");
    }
    let group = s.fake.root().join("mon_groups/pod_uid-1");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while s.fake.members(&group) != BTreeSet::from([100, 101]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the threads never reached the pod's group"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A few rounds with the pod in place.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = tokio::time::timeout(LIMIT, s.collector.stop())
        .await
        .expect("stops in time")
        .expect("clean stop");
    assert_eq!(report.files.len(), 1);
    let (batches, _) = read_parquet(&report.files[0]);
    let mut pod_rows = 0;
    for b in &batches {
        let col = |name: &str| {
            b.column_by_name(name)
                .expect("column")
                .as_string::<i32>()
                .clone()
        };
        let (uid, ns, name, grp) = (
            col("pod_uid"),
            col("pod_namespace"),
            col("pod_name"),
            col("resctrl_group"),
        );
        for i in 0..b.num_rows() {
            if uid.is_valid(i) {
                assert_eq!(
                    (uid.value(i), ns.value(i), name.value(i)),
                    ("uid-1", "shop", "web")
                );
                assert_eq!(grp.value(i), group.to_str().expect("utf-8"));
                pod_rows += 1;
            }
        }
    }
    assert!(
        pod_rows >= 2,
        "the pod was sampled in both domains at least once"
    );
    let left: Vec<_> = std::fs::read_dir(&s.out).expect("list").collect();
    assert_eq!(left.len(), 1, "only the completed file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_registers_again_when_the_runtime_restarts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let runtime =
        TestRuntime::bind(tmp.path().join("nri.sock"), PeerConfig::default()).expect("bind");
    let s = start(runtime.socket_path(), tmp).await;
    let first = tokio::time::timeout(LIMIT, runtime.accept())
        .await
        .expect("in time")
        .expect("registration");
    tokio::time::timeout(LIMIT, first.synchronize(Vec::new(), Vec::new()))
        .await
        .expect("in time")
        .expect("sync");
    let runtime = runtime.restart().expect("restart the runtime");
    drop(first);
    let again = tokio::time::timeout(LIMIT, runtime.accept())
        .await
        .expect("registers again in time")
        .expect("registration");
    assert_eq!(again.registration().name, "collector");
    tokio::time::timeout(LIMIT, again.synchronize(vec![pod()], Vec::new()))
        .await
        .expect("in time")
        .expect("sync");
    let group = s.fake.root().join("mon_groups/pod_uid-1");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !s.fake.group_exists(&group) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new connection's pods never got a group"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // How many rounds ran by now depends on the machine's load, not on re-registering.
    tokio::time::timeout(LIMIT, s.collector.stop())
        .await
        .expect("stops in time")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_samples_and_stops_cleanly_while_no_runtime_listens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let socket = tmp.path().join("absent/nri.sock");
    let s = start(&socket, tmp).await;
    // A round has run once its rows are in the spool (however loaded the machine is).
    let deadline = tokio::time::Instant::now() + LIMIT;
    let spooled = || {
        std::fs::read_dir(&s.out)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                entry.file_name().to_string_lossy().ends_with(".spool")
                    && entry.metadata().is_ok_and(|m| m.len() > 0)
            })
    };
    while !spooled() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no round was spooled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = tokio::time::timeout(LIMIT, s.collector.stop())
        .await
        .expect("stops in time")
        .expect("clean stop");
    assert!(report.rounds >= 1, "{report:?}");
    let (batches, _) = read_parquet(&report.files[0]);
    let uids = batches[0].column_by_name("pod_uid").expect("column");
    assert_eq!(
        uids.null_count(),
        uids.len(),
        "only the default group without a runtime"
    );
}

#[tokio::test]
async fn unusable_resctrl_is_a_clear_error_and_earlier_rows_are_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    // A previous run's spool, cut by a crash.
    let (mut output, _) =
        Output::open(OutputConfig::new(&out, "node-a", Duration::from_secs(1))).expect("output");
    let batch = crate::schema::to_record_batch(output.schema(), &crate::test_support::rows(1, 3))
        .expect("batch");
    output.write(&batch, 0).expect("write");
    std::mem::forget(output);
    let mounts = tmp.path().join("mounts");
    std::fs::write(&mounts, "proc /proc proc rw 0 0\n").expect("write the mount table");
    let root = tmp.path().join("resctrl");
    std::fs::create_dir(&root).expect("mkdir");
    let config = NodeConfig {
        output: OutputConfig::new(&out, "node-a", Duration::from_secs(1)),
        resctrl: resctrl::Config::default()
            .with_root(&root)
            .with_mounts_path(&mounts),
        plugin: PluginConfig::default(),
        cgroup_root: tmp.path().join("cgroup"),
        nri: nri_config(&tmp.path().join("nri.sock")),
        retry_interval: Duration::from_secs(10),
        destination: Destination::Directory(out.clone()),
        max_spool_bytes: crate::DEFAULT_MAX_SPOOL_BYTES,
        upload_backoff: crate::Backoff::default(),
        listen: None,
    };
    let err = Collector::start(config)
        .await
        .expect_err("resctrl is not mounted");
    assert!(matches!(err, Error::ResctrlUnusable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&root.display().to_string()), "{text}");
    assert!(text.contains("mount -t resctrl"), "{text}");
    assert!(text.contains("--resctrl-root"), "{text}");
    let files: Vec<_> = std::fs::read_dir(&out)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let (batches, _) = read_parquet(&files[0]);
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        3,
        "the crashed run's rows were recovered"
    );
}
