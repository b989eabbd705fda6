//! The `collector` binary as deployed, end to end: a real containerd (through
//! `containerd-harness`) with real pods, the resctrl stand-in (the fake served over FUSE,
//! steered by the test), and every Parquet file read back by an independent reader,
//! pyarrow.
//!
//! They need root, `/dev/fuse`, the assets `cargo xtask collector-e2e` provisions
//! (`NRI_E2E_*`) and pyarrow in `target/xtask/tools/pyarrow`, and fail naming what is
//! missing.

mod common;

use std::collections::BTreeMap;

use common::{INTERVAL, Node, Row, now_ns, python, read_rows, rounds, series};
use resctrl::MonEvent::{LlcOccupancy, MbmLocalBytes, MbmTotalBytes};
use resctrl::fake::FakeReading;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, /dev/fuse, provisioned containerd and pyarrow; run by cargo xtask collector-e2e"]
async fn pods_readings_resets_unavailable_domains_and_removal_end_up_in_parquet() {
    // Fail before any setup when the reader is missing.
    python();
    let node = Node::with_standin().await;

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
    let node = Node::with_standin().await;
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
