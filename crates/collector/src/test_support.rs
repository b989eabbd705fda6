//! Helpers shared by this crate's unit tests: rows to write, and Parquet read back.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::schema::{Row, Status};

/// `n` pod rows of tick `tick` (its `mbm_total_bytes` is `tick * 1000 + i`, so rows can
/// be recognised after a round trip).
pub(crate) fn rows(tick: i64, n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            timestamp_ns: tick * 1_000_000_000,
            interval_ns: 1_000_000_000,
            node: "node-a".into(),
            pod_uid: Some(format!("uid-{i}").into()),
            pod_namespace: Some("default".into()),
            pod_name: Some(format!("pod-{i}").into()),
            resctrl_group: Some(format!("/sys/fs/resctrl/mon_groups/pod_uid-{i}").into()),
            total_containers: Some(1),
            reconciled_containers: Some(1),
            domain: Some("mon_L3_00".into()),
            llc_occupancy_bytes: Some(4096),
            mbm_total_bytes: Some(u64::try_from(tick).expect("tick >= 0") * 1000 + i as u64),
            mbm_local_bytes: None,
            mbm_total_bytes_delta: Some(1000),
            mbm_local_bytes_delta: None,
            mbm_total_bytes_per_sec: Some(1000.0),
            mbm_local_bytes_per_sec: None,
            status: Status::Ok,
        })
        .collect()
}

/// A Parquet file read with the parquet crate: its batches and key-value metadata.
pub(crate) fn read_parquet(path: &Path) -> (Vec<RecordBatch>, HashMap<String, String>) {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{} is not readable Parquet: {e}", path.display()));
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let batches = builder
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("every batch decodes");
    (batches, metadata)
}

/// The `mbm_total_bytes` column of all batches, in order.
pub(crate) fn totals(batches: &[RecordBatch]) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("mbm_total_bytes")
                .expect("column")
                .as_primitive::<UInt64Type>()
                .values()
                .to_vec()
        })
        .collect()
}
