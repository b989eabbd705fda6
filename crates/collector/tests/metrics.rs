//! `/metrics`, `/readyz` and `/healthz` of a running collector (the library, on the fake
//! resctrl, with a pod from an NRI test runtime), the metrics text checked by an
//! independent parser: the Python `prometheus_client` package's OpenMetrics and
//! Prometheus text parsers.
//!
//! Ignored in unit runs (it needs the tools' venv); `cargo xtask collector-s3` runs it.
//! Without the venv it fails naming the command that installs it.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use collector::{Collector, Metrics, Output, OutputConfig, Services, SystemClock, bind_http};
use nri::stub::{Backoff, PluginConfig as NriConfig};
use nri::testing::{PeerConfig, TestRuntime};
use nri::{Event, LinuxContainer, LinuxPodSandbox};
use nri_resctrl_plugin::{AdapterOptions, PluginConfig, ResctrlPlugin, ScriptedPidSource, events};
use protobuf::{EnumOrUnknown, MessageField};
use resctrl::MonEvent::{LlcOccupancy, MbmLocalBytes, MbmTotalBytes};
use resctrl::Resctrl;
use resctrl::fake::{FakeReading, FakeResctrl};

const LIMIT: Duration = Duration::from_secs(10);

fn python() -> PathBuf {
    common::tools_python(
        "collector-s3",
        "prometheus_client",
        "prometheus_client",
        "run `cargo xtask collector-s3`",
    )
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response[9..12].parse().expect("a status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn get_async(addr: SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || get(addr, path))
        .await
        .expect("the request ran")
}

/// Parses `text` with both of prometheus_client's parsers; returns every sample as
/// `name{sorted labels} value` lines, from the strict OpenMetrics parser.
fn parse(text: &str) -> BTreeSet<String> {
    let script = r##"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
from prometheus_client.parser import text_string_to_metric_families as prom
text = sys.stdin.read()
# The Prometheus text parser must accept it too (without the OpenMetrics EOF marker).
list(prom(text.replace("# EOF\n", "")))
for family in om(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{family.type} {s.name}{{{labels}}} {s.value}")
"##;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("write the metrics");
    let output = child.wait_with_output().expect("python");
    assert!(
        output.status.success(),
        "the parsers refused the text: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the tools' Python venv: cargo xtask collector-s3"]
async fn metrics_parse_with_prometheus_client_and_carry_each_pods_labelled_readings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let runtime =
        TestRuntime::bind(tmp.path().join("nri.sock"), PeerConfig::default()).expect("bind");
    let fake = FakeResctrl::builder().l3_domains([0, 1]).build();
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
    let (output, recovery) = Output::open(OutputConfig::new(
        tmp.path().join("out"),
        "node-a",
        Duration::from_millis(50),
    ))
    .expect("output");
    let nri = NriConfig::new("collector", "10")
        .expect("valid identity")
        .with_socket_path(runtime.socket_path())
        .with_reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
            multiplier: 2,
        }));
    let listener = bind_http("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let services = Services {
        metrics: Arc::new(Metrics::new()),
        uploader: None,
        listener: Some(listener),
    };
    let collector = Collector::start_with(
        AdapterOptions::new(nri).with_retry_interval(Duration::from_secs(3600)),
        core,
        rx,
        rc,
        output,
        recovery,
        SystemClock,
        services,
    )
    .await
    .expect("the collector starts");
    assert_eq!(get_async(addr, "/healthz").await.0, 200);
    assert_eq!(
        get_async(addr, "/readyz").await.0,
        503,
        "not registered with the runtime yet"
    );

    let conn = tokio::time::timeout(LIMIT, runtime.accept())
        .await
        .expect("the plugin connects in time")
        .expect("registration");
    tokio::time::timeout(LIMIT, conn.synchronize(Vec::new(), Vec::new()))
        .await
        .expect("in time")
        .expect("sync");
    // The plugin's figures are copied into the metrics once a second.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while get_async(addr, "/readyz").await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ready once registered, with no pods yet"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fake.add_threads([100]);
    pids.set_threads("ctr-1", [100]);
    let pod = nri::PodSandbox {
        id: "sb-1".into(),
        uid: "uid-1".into(),
        name: "web".into(),
        namespace: "shop".into(),
        linux: MessageField::some(LinuxPodSandbox {
            cgroup_parent: "/kubepods/pod1".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let container = nri::Container {
        id: "ctr-1".into(),
        pod_sandbox_id: "sb-1".into(),
        name: "app".into(),
        state: EnumOrUnknown::new(nri::ContainerState::CONTAINER_RUNNING),
        linux: MessageField::some(LinuxContainer {
            cgroups_path: "/kubepods/pod1/ctr-1".into(),
            ..Default::default()
        }),
        pid: 100,
        ..Default::default()
    };
    for (event, ctr) in [
        (Event::RunPodSandbox, None),
        (Event::CreateContainer, Some(&container)),
        (Event::StartContainer, Some(&container)),
    ] {
        tokio::time::timeout(LIMIT, conn.event(event, &pod, ctr))
            .await
            .expect("in time")
            .expect("delivered");
    }
    let group = fake.root().join("mon_groups/pod_uid-1");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !fake.members(&group).contains(&100) {
        assert!(tokio::time::Instant::now() < deadline, "the pod's group");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fake.set_reading(&group, 0, LlcOccupancy, FakeReading::Value(65_536));
    fake.set_reading(&group, 0, MbmTotalBytes, FakeReading::Value(7_000));
    fake.set_reading(&group, 0, MbmLocalBytes, FakeReading::Value(3_000));
    fake.set_reading(&group, 1, LlcOccupancy, FakeReading::Unavailable);
    fake.set_reading(&group, 1, MbmTotalBytes, FakeReading::Value(9_000));
    let labels = |domain: &str| format!("{{domain={domain},namespace=shop,pod=web,uid=uid-1}}");
    let want = [
        format!(
            "gauge resctrl_pod_llc_occupancy_bytes{} 65536",
            labels("mon_L3_00")
        ),
        format!(
            "counter resctrl_pod_mbm_total_bytes_total{} 7000",
            labels("mon_L3_00")
        ),
        format!(
            "counter resctrl_pod_mbm_local_bytes_total{} 3000",
            labels("mon_L3_00")
        ),
        format!(
            "counter resctrl_pod_mbm_total_bytes_total{} 9000",
            labels("mon_L3_01")
        ),
    ];
    let deadline = tokio::time::Instant::now() + LIMIT;
    let samples = loop {
        let (status, text) = get_async(addr, "/metrics").await;
        assert_eq!(status, 200);
        let samples = parse(&text);
        if want.iter().all(|w| samples.contains(w)) {
            break samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing some of {want:#?} in {samples:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !samples
            .iter()
            .any(|s| s.contains("llc_occupancy") && s.contains("mon_L3_01")),
        "an Unavailable reading is no sample: {samples:#?}"
    );
    for family in [
        "counter collector_samples_total{}",
        "counter collector_rows_written_total{}",
        "counter collector_skipped_ticks_total{}",
        "counter collector_files_completed_total{}",
        "counter collector_uploads_total{}",
        "counter collector_upload_failures_total{}",
        "gauge collector_spool_bytes{}",
        "counter collector_spool_dropped_files_total{}",
        "histogram collector_sampling_duration_seconds_count{}",
        "counter collector_nri_reconnects_total{} 0",
        "counter collector_plugin_dropped_events_total{} 0",
        "gauge collector_ready{} 1",
    ] {
        assert!(
            samples.iter().any(|s| s.starts_with(family)),
            "{family} missing from {samples:#?}"
        );
    }
    tokio::time::timeout(LIMIT, collector.stop())
        .await
        .expect("stops in time")
        .expect("clean stop");
    assert!(
        TcpStream::connect(addr).is_err(),
        "the server stopped with the collector"
    );
}
