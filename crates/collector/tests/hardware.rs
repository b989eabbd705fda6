//! The collector on real RDT hardware: the same binary, a real containerd, the host's
//! `/sys/fs/resctrl` (with a group prefix of the test's own), and a container that streams
//! memory, whose rows must show occupancy and, where the kernel offers it, bandwidth.
//!
//! Run by `cargo xtask resctrl-e2e` (level full-short) on hosts with resctrl monitoring;
//! elsewhere it fails naming what is missing.

mod common;

use common::{Node, read_rows, rounds, series};

/// Writes 64 MiB buffers over and over: memory bandwidth and cache footprint.
const STREAM: &[&str] = &[
    "sh",
    "-c",
    "while :; do dd if=/dev/zero of=/dev/null bs=64M count=16 2>/dev/null; done",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, RDT monitoring, provisioned containerd and pyarrow; run by cargo xtask resctrl-e2e"]
async fn a_container_streaming_memory_shows_occupancy_and_bandwidth() {
    common::python();
    let node = Node::with_real_resctrl("stream").await;
    let support = node.resctrl.detect_support().expect("resctrl support");
    let collector = node.collector();
    let uid = "col-hw-stream-0001";
    let (pod, app) = node.pod_running("stream", uid, STREAM, 1).await;
    node.wait_group(uid, true).await;
    node.wait_tasks(uid, &[&app]).await;
    rounds(8).await;
    collector.terminate();

    let rows = read_rows(&node.out());
    let domains: Vec<String> = rows
        .iter()
        .filter(|r| r.str("pod_uid") == Some(uid))
        .filter_map(|r| r.str("domain").map(str::to_string))
        .collect();
    assert!(!domains.is_empty(), "no rows for the streaming pod");
    let pod_rows: Vec<&common::Row> = domains
        .iter()
        .flat_map(|d| series(&rows, Some(uid), d))
        .collect();
    let occupancy = pod_rows
        .iter()
        .filter_map(|r| r.opt("llc_occupancy_bytes"))
        .max();
    assert!(
        occupancy.unwrap_or(0) > 0,
        "no LLC occupancy for a container streaming memory"
    );
    if support.mon_features.mbm_total_bytes {
        let bandwidth = pod_rows
            .iter()
            .filter_map(|r| r.opt("mbm_total_bytes_delta"))
            .max();
        assert!(
            bandwidth.unwrap_or(0) > 0,
            "no memory bandwidth for a container streaming memory"
        );
        println!(
            "streaming pod: max occupancy {occupancy:?} B, max bandwidth delta {bandwidth:?} B per {:?}",
            common::INTERVAL
        );
    } else {
        println!("the kernel offers no mbm_total_bytes here; occupancy {occupancy:?} B");
    }
    node.remove_pod(&pod, &[&app]).await;
    node.shutdown().await;
}
