//! The collector's Parquet read back by an independent reader, pyarrow, from the venv
//! the runner's tools live in (`target/xtask/tools/pyarrow`).
//!
//! Ignored in unit runs (it needs that venv); run it with
//! `cargo test -p collector --test pyarrow -- --ignored`. Without pyarrow it fails
//! naming the command that installs it.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use collector::schema::to_record_batch;
use collector::{Output, OutputConfig, PodTable, SampleTime, Sampler};
use nri_resctrl_plugin::{PodResctrlAddOrUpdate, PodResctrlEvent, ResctrlGroupState};
use resctrl::MonEvent::{LlcOccupancy, MbmTotalBytes};
use resctrl::Resctrl;
use resctrl::fake::{FakeReading, FakeResctrl};

use common::{PYARROW_EXIT, python};

const SEC: i64 = 1_000_000_000;
/// 2026-12-01T08:00:00Z.
const T0: i64 = 1_796_112_000 * SEC;

/// Two rounds of the default group and one pod: a reset in domain 0 and an
/// `Unavailable` domain 1 in the second round.
fn write_file(dir: &std::path::Path) -> PathBuf {
    let fake = FakeResctrl::builder().l3_domains([0, 1]).build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("handle");
    let group = rc.create_group("uid-1").expect("group");
    let mut pods = PodTable::new();
    pods.apply(PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
        pod_uid: "uid-1".into(),
        pod_namespace: "shop".into(),
        pod_name: "web".into(),
        group_state: ResctrlGroupState::Exists(group.to_string_lossy().into_owned()),
        total_containers: 2,
        reconciled_containers: 2,
    }));
    let mut sampler = Sampler::new(rc, "node-a");
    let (mut output, _) =
        Output::open(OutputConfig::new(dir, "node-a", Duration::from_secs(1))).expect("output");
    fake.set_reading(&group, 0, MbmTotalBytes, FakeReading::Value(5_000));
    fake.set_reading(&group, 1, MbmTotalBytes, FakeReading::Value(1_000));
    fake.set_reading(&group, 1, LlcOccupancy, FakeReading::Value(65_536));
    for round in 0..2 {
        if round == 1 {
            fake.set_reading(&group, 0, MbmTotalBytes, FakeReading::Value(10));
            fake.set_reading(&group, 1, MbmTotalBytes, FakeReading::Unavailable);
            fake.set_reading(&group, 1, LlcOccupancy, FakeReading::Unavailable);
        }
        let at = T0 + round * SEC;
        let rows = sampler.sample(
            &pods,
            SampleTime {
                timestamp_ns: at,
                interval_ns: SEC,
                read_at_ns: at,
            },
        );
        let batch = to_record_batch(output.schema(), &rows).expect("batch");
        output.write(&batch, at).expect("write");
    }
    output.close().expect("close").expect("a file")
}

const SCRIPT: &str = r#"
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
table = f.read()
meta = {k.decode(): v.decode() for k, v in (f.metadata.metadata or {}).items() if not k.startswith(b"ARROW:")}
rows = table.to_pylist()
for r in rows:
    r["timestamp"] = int(r["timestamp"].timestamp() * 1_000_000_000) if r["timestamp"] else None
print(json.dumps({
    "types": [[field.name, str(field.type), field.nullable] for field in table.schema],
    "metadata": meta,
    "rows": rows,
}, sort_keys=True))
"#;

#[test]
#[ignore = "needs pyarrow in target/xtask/tools/pyarrow; run with --ignored (the collector-e2e suite does)"]
fn pyarrow_reads_the_schema_metadata_and_every_row() {
    let python = python();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(dir.path());
    let out = Command::new(&python)
        .args(["-c", &format!("{SCRIPT}{PYARROW_EXIT}")])
        .arg(&file)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).expect("utf-8");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let types: Vec<(String, String)> = v["types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| {
            (
                t[0].as_str().expect("name").to_owned(),
                t[1].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("timestamp", "timestamp[ns, tz=UTC]"),
        ("interval_ns", "int64"),
        ("node", "string"),
        ("pod_uid", "string"),
        ("pod_namespace", "string"),
        ("pod_name", "string"),
        ("resctrl_group", "string"),
        ("total_containers", "uint32"),
        ("reconciled_containers", "uint32"),
        ("domain", "string"),
        ("llc_occupancy_bytes", "uint64"),
        ("mbm_total_bytes", "uint64"),
        ("mbm_local_bytes", "uint64"),
        ("mbm_total_bytes_delta", "uint64"),
        ("mbm_local_bytes_delta", "uint64"),
        ("mbm_total_bytes_per_sec", "double"),
        ("mbm_local_bytes_per_sec", "double"),
        ("status", "string"),
    ];
    assert_eq!(types, expected.map(|(n, t)| (n.to_owned(), t.to_owned())));
    assert_eq!(
        v["metadata"]["collector.schema_version"],
        collector::SCHEMA_VERSION
    );
    assert_eq!(v["metadata"]["collector.node"], "node-a");
    assert_eq!(v["metadata"]["collector.interval_ns"], "1000000000");
    assert_eq!(v["metadata"]["collector.skipped_ticks"], "0");

    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 8, "two rounds of two groups in two domains");
    let find = |ts: i64, uid: Option<&str>, domain: &str| {
        rows.iter()
            .find(|r| r["timestamp"] == ts && r["pod_uid"].as_str() == uid && r["domain"] == domain)
            .unwrap_or_else(|| panic!("no row {ts} {uid:?} {domain}"))
    };
    let default = find(T0, None, "mon_L3_00");
    assert!(default["pod_name"].is_null() && default["total_containers"].is_null());
    assert_eq!(default["resctrl_group"], "/sys/fs/resctrl");
    let reset = find(T0 + SEC, Some("uid-1"), "mon_L3_00");
    assert_eq!(
        (reset["status"].as_str(), reset["mbm_total_bytes"].as_u64()),
        (Some("reset"), Some(10))
    );
    assert!(reset["mbm_total_bytes_delta"].is_null() && reset["mbm_total_bytes_per_sec"].is_null());
    let unavailable = find(T0 + SEC, Some("uid-1"), "mon_L3_01");
    assert_eq!(unavailable["status"], "unavailable");
    assert!(
        unavailable["llc_occupancy_bytes"].is_null() && unavailable["mbm_total_bytes"].is_null()
    );
    let first = find(T0, Some("uid-1"), "mon_L3_01");
    assert_eq!(
        (
            first["status"].as_str(),
            first["llc_occupancy_bytes"].as_u64(),
            first["pod_namespace"].as_str(),
            first["total_containers"].as_u64()
        ),
        (Some("start"), Some(65_536), Some("shop"), Some(2))
    );
    let default_later = find(T0 + SEC, None, "mon_L3_01");
    assert_eq!(
        (
            default_later["status"].as_str(),
            default_later["mbm_total_bytes_delta"].as_u64(),
            default_later["mbm_total_bytes_per_sec"].as_f64()
        ),
        (Some("ok"), Some(0), Some(0.0))
    );
}
