//! The output schema: one row per (sample, pod, domain), its Arrow types, its status
//! values, and the metadata every file carries.
//!
//! # Columns
//!
//! | column | type | null when |
//! |---|---|---|
//! | `timestamp` | timestamp (ns, UTC) | never: the wall-clock tick the sample belongs to |
//! | `interval_ns` | int64 | never: the configured sampling interval |
//! | `node` | string | never |
//! | `pod_uid` | string | the default group's rows |
//! | `pod_namespace` | string | the default group's rows |
//! | `pod_name` | string | the default group's rows |
//! | `resctrl_group` | string | the pod's group failed (`group_failed`) |
//! | `total_containers` | uint32 | the default group's rows |
//! | `reconciled_containers` | uint32 | the default group's rows |
//! | `domain` | string | the group could not be read at all (`group_failed`, `read_failed`) |
//! | `llc_occupancy_bytes` | uint64 | the event is absent, or not readable this time |
//! | `mbm_total_bytes` | uint64 | likewise |
//! | `mbm_local_bytes` | uint64 | likewise |
//! | `mbm_total_bytes_delta` | uint64 | no earlier value in this series (`start`, `reset`), or no value now |
//! | `mbm_local_bytes_delta` | uint64 | likewise |
//! | `mbm_total_bytes_per_sec` | float64 | likewise |
//! | `mbm_local_bytes_per_sec` | float64 | likewise |
//! | `status` | string | never; see [`Status`] |
//!
//! `domain` is the domain's directory below the group's `mon_data`, as the kernel names
//! it: `mon_L3_00`, or `mon_L3_00/mon_sub_L3_01` for a sub-NUMA node. The default group
//! is the resctrl root; its `resctrl_group` is the root's path.
//!
//! A *series* is one group and domain. Deltas are taken against the series' previous
//! value of the same event (which may be more than one interval back when the event was
//! unreadable in between); rates divide a delta by the time measured between the two
//! reads. A counter lower than its previous value starts a new series: the row says
//! `reset` and carries no delta, never a negative or wrapped-around one.
//!
//! # File metadata
//!
//! Every Parquet file has these key-value entries (and so does the Arrow schema of the
//! spool): [`META_SCHEMA_VERSION`] ([`SCHEMA_VERSION`]), [`META_NODE`],
//! [`META_INTERVAL_NS`]; at close also [`META_SKIPPED_TICKS`] (ticks of this file's time
//! that a slow round skipped) and, for files rebuilt from a spool after a crash,
//! [`META_RECOVERED`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

/// The version of the columns above; bumped on any change a reader must know about.
pub const SCHEMA_VERSION: &str = "1";
/// Metadata key: [`SCHEMA_VERSION`].
pub const META_SCHEMA_VERSION: &str = "collector.schema_version";
/// Metadata key: the node name.
pub const META_NODE: &str = "collector.node";
/// Metadata key: the sampling interval in nanoseconds.
pub const META_INTERVAL_NS: &str = "collector.interval_ns";
/// Metadata key: ticks skipped (rounds that overran) while this file was open.
pub const META_SKIPPED_TICKS: &str = "collector.skipped_ticks";
/// Metadata key: `true` on a file rebuilt from a spool left by a previous run.
pub const META_RECOVERED: &str = "collector.recovered";

/// The column names, in order.
pub const COLUMNS: [&str; 18] = [
    "timestamp",
    "interval_ns",
    "node",
    "pod_uid",
    "pod_namespace",
    "pod_name",
    "resctrl_group",
    "total_containers",
    "reconciled_containers",
    "domain",
    "llc_occupancy_bytes",
    "mbm_total_bytes",
    "mbm_local_bytes",
    "mbm_total_bytes_delta",
    "mbm_local_bytes_delta",
    "mbm_total_bytes_per_sec",
    "mbm_local_bytes_per_sec",
    "status",
];

/// What a row's values mean; the `status` column.
///
/// When several apply, the first in this order wins: `group_failed`, `read_failed`,
/// `error`, `unassigned`, `unavailable`, `reset`, `start`, `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// `ok`: every offered event was read, and each counter continues its series.
    Ok,
    /// `start`: a counter has no earlier value (a new group or domain): no delta yet.
    Start,
    /// `reset`: a counter went backwards (group re-created, RMID reused, counter reset):
    /// a new series starts, with no delta.
    Reset,
    /// `unavailable`: an event of this domain read `Unavailable`; its columns are null.
    Unavailable,
    /// `unassigned`: an event of this domain read `Unassigned` (no hardware counter
    /// assigned); its columns are null.
    Unassigned,
    /// `error`: an event of this domain read `Error` (or EIO); its columns are null.
    Error,
    /// `read_failed`: the group's `mon_data` could not be read (e.g. it vanished); one
    /// row for the group, with no domain.
    ReadFailed,
    /// `group_failed`: the pod has no group (its creation failed, e.g. every RMID is in
    /// use); one row for the pod, with no domain, so a reader sees it is not measured.
    GroupFailed,
}

impl Status {
    /// Every status, in precedence order (lowest first).
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::Start,
        Status::Reset,
        Status::Unavailable,
        Status::Unassigned,
        Status::Error,
        Status::ReadFailed,
        Status::GroupFailed,
    ];

    /// The value written to the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Start => "start",
            Status::Reset => "reset",
            Status::Unavailable => "unavailable",
            Status::Unassigned => "unassigned",
            Status::Error => "error",
            Status::ReadFailed => "read_failed",
            Status::GroupFailed => "group_failed",
        }
    }

    /// The status of this column value, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One output row; see the [module docs](self) for each column.
///
/// Strings are shared (`Arc<str>`): a pod's identity and group appear in every row of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `timestamp`, ns since the Unix epoch.
    pub timestamp_ns: i64,
    /// `interval_ns`.
    pub interval_ns: i64,
    /// `node`.
    pub node: Arc<str>,
    /// `pod_uid`.
    pub pod_uid: Option<Arc<str>>,
    /// `pod_namespace`.
    pub pod_namespace: Option<Arc<str>>,
    /// `pod_name`.
    pub pod_name: Option<Arc<str>>,
    /// `resctrl_group`.
    pub resctrl_group: Option<Arc<str>>,
    /// `total_containers`.
    pub total_containers: Option<u32>,
    /// `reconciled_containers`.
    pub reconciled_containers: Option<u32>,
    /// `domain`.
    pub domain: Option<Arc<str>>,
    /// `llc_occupancy_bytes`.
    pub llc_occupancy_bytes: Option<u64>,
    /// `mbm_total_bytes`.
    pub mbm_total_bytes: Option<u64>,
    /// `mbm_local_bytes`.
    pub mbm_local_bytes: Option<u64>,
    /// `mbm_total_bytes_delta`.
    pub mbm_total_bytes_delta: Option<u64>,
    /// `mbm_local_bytes_delta`.
    pub mbm_local_bytes_delta: Option<u64>,
    /// `mbm_total_bytes_per_sec`.
    pub mbm_total_bytes_per_sec: Option<f64>,
    /// `mbm_local_bytes_per_sec`.
    pub mbm_local_bytes_per_sec: Option<f64>,
    /// `status`.
    pub status: Status,
}

/// The Arrow schema of the rows, with the file metadata of `node` and `interval_ns`.
pub fn schema(node: &str, interval_ns: i64) -> SchemaRef {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let u32_ = |name: &str| Field::new(name, DataType::UInt32, true);
    let u64_ = |name: &str| Field::new(name, DataType::UInt64, true);
    let f64_ = |name: &str| Field::new(name, DataType::Float64, true);
    let fields = vec![
        Field::new(
            COLUMNS[0],
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new(COLUMNS[1], DataType::Int64, false),
        utf8(COLUMNS[2], false),
        utf8(COLUMNS[3], true),
        utf8(COLUMNS[4], true),
        utf8(COLUMNS[5], true),
        utf8(COLUMNS[6], true),
        u32_(COLUMNS[7]),
        u32_(COLUMNS[8]),
        utf8(COLUMNS[9], true),
        u64_(COLUMNS[10]),
        u64_(COLUMNS[11]),
        u64_(COLUMNS[12]),
        u64_(COLUMNS[13]),
        u64_(COLUMNS[14]),
        f64_(COLUMNS[15]),
        f64_(COLUMNS[16]),
        utf8(COLUMNS[17], false),
    ];
    Arc::new(Schema::new_with_metadata(
        fields,
        file_metadata(node, interval_ns),
    ))
}

/// The metadata entries every file starts with.
pub fn file_metadata(node: &str, interval_ns: i64) -> HashMap<String, String> {
    HashMap::from([
        (META_SCHEMA_VERSION.to_owned(), SCHEMA_VERSION.to_owned()),
        (META_NODE.to_owned(), node.to_owned()),
        (META_INTERVAL_NS.to_owned(), interval_ns.to_string()),
    ])
}

/// The rows as one record batch of `schema` (from [`schema`]).
///
/// Fails only if `schema` is not this module's.
pub fn to_record_batch(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut timestamp = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut interval = Int64Builder::with_capacity(n);
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut node, mut uid, mut namespace, mut name, mut group, mut domain, mut status) = (
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
    );
    let mut total = UInt32Builder::with_capacity(n);
    let mut reconciled = UInt32Builder::with_capacity(n);
    let mut counters: [UInt64Builder; 5] = std::array::from_fn(|_| UInt64Builder::with_capacity(n));
    let mut rates: [Float64Builder; 2] = std::array::from_fn(|_| Float64Builder::with_capacity(n));
    for row in rows {
        timestamp.append_value(row.timestamp_ns);
        interval.append_value(row.interval_ns);
        node.append_value(&row.node);
        uid.append_option(row.pod_uid.as_deref());
        namespace.append_option(row.pod_namespace.as_deref());
        name.append_option(row.pod_name.as_deref());
        group.append_option(row.resctrl_group.as_deref());
        total.append_option(row.total_containers);
        reconciled.append_option(row.reconciled_containers);
        domain.append_option(row.domain.as_deref());
        for (builder, value) in counters.iter_mut().zip([
            row.llc_occupancy_bytes,
            row.mbm_total_bytes,
            row.mbm_local_bytes,
            row.mbm_total_bytes_delta,
            row.mbm_local_bytes_delta,
        ]) {
            builder.append_option(value);
        }
        rates[0].append_option(row.mbm_total_bytes_per_sec);
        rates[1].append_option(row.mbm_local_bytes_per_sec);
        status.append_value(row.status.as_str());
    }
    let [llc, total_bytes, local_bytes, total_delta, local_delta] = counters;
    let [total_rate, local_rate] = rates;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(timestamp.finish()),
        Arc::new(interval.finish()),
        Arc::new(node.finish()),
        Arc::new(uid.finish()),
        Arc::new(namespace.finish()),
        Arc::new(name.finish()),
        Arc::new(group.finish()),
        Arc::new(total.finish()),
        Arc::new(reconciled.finish()),
        Arc::new(domain.finish()),
        finish_u64(llc),
        finish_u64(total_bytes),
        finish_u64(local_bytes),
        finish_u64(total_delta),
        finish_u64(local_delta),
        finish_f64(total_rate),
        finish_f64(local_rate),
        Arc::new(status.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns)
}

fn finish_f64(mut builder: Float64Builder) -> ArrayRef {
    Arc::new(builder.finish())
}

fn finish_u64(mut builder: UInt64Builder) -> ArrayRef {
    Arc::new(builder.finish())
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampNanosecondType, UInt32Type, UInt64Type};

    use super::*;

    fn pod_row() -> Row {
        Row {
            timestamp_ns: 1_700_000_000_000_000_000,
            interval_ns: 1_000_000_000,
            node: "node-a".into(),
            pod_uid: Some("uid-1".into()),
            pod_namespace: Some("default".into()),
            pod_name: Some("web".into()),
            resctrl_group: Some("/sys/fs/resctrl/mon_groups/pod_uid-1".into()),
            total_containers: Some(2),
            reconciled_containers: Some(1),
            domain: Some("mon_L3_00".into()),
            llc_occupancy_bytes: Some(4096),
            mbm_total_bytes: Some(10_000),
            mbm_local_bytes: None,
            mbm_total_bytes_delta: Some(500),
            mbm_local_bytes_delta: None,
            mbm_total_bytes_per_sec: Some(500.0),
            mbm_local_bytes_per_sec: None,
            status: Status::Unavailable,
        }
    }

    #[test]
    fn the_schema_has_the_issue_columns_in_order_with_their_types() {
        let s = schema("node-a", 1_000_000_000);
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, COLUMNS);
        assert_eq!(
            s.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        let never_null = ["timestamp", "interval_ns", "node", "status"];
        for f in s.fields() {
            assert_eq!(
                f.is_nullable(),
                !never_null.contains(&f.name().as_str()),
                "{}",
                f.name()
            );
        }
        assert_eq!(
            s.field_with_name("mbm_total_bytes_per_sec")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::Float64)
        );
        assert_eq!(
            s.field_with_name("total_containers")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::UInt32)
        );
    }

    #[test]
    fn the_schema_carries_its_version_node_and_interval() {
        let s = schema("node-a", 250_000_000);
        assert_eq!(
            s.metadata().get(META_SCHEMA_VERSION).map(String::as_str),
            Some(SCHEMA_VERSION)
        );
        assert_eq!(
            s.metadata().get(META_NODE).map(String::as_str),
            Some("node-a")
        );
        assert_eq!(
            s.metadata().get(META_INTERVAL_NS).map(String::as_str),
            Some("250000000")
        );
    }

    #[test]
    fn rows_become_columns_with_nulls_where_values_are_missing() {
        let s = schema("node-a", 1_000_000_000);
        let mut default_group = pod_row();
        default_group.pod_uid = None;
        default_group.pod_namespace = None;
        default_group.pod_name = None;
        default_group.total_containers = None;
        default_group.reconciled_containers = None;
        default_group.status = Status::Ok;
        let batch = to_record_batch(&s, &[pod_row(), default_group]).expect("batch");
        assert_eq!(batch.num_rows(), 2);
        let col = |name: &str| batch.column_by_name(name).expect("column").clone();
        assert_eq!(
            col("timestamp")
                .as_primitive::<TimestampNanosecondType>()
                .value(0),
            1_700_000_000_000_000_000
        );
        assert_eq!(col("pod_uid").as_string::<i32>().value(0), "uid-1");
        assert!(col("pod_uid").is_null(1));
        assert!(col("total_containers").is_null(1));
        assert_eq!(
            col("total_containers")
                .as_primitive::<UInt32Type>()
                .value(0),
            2
        );
        assert_eq!(
            col("llc_occupancy_bytes")
                .as_primitive::<UInt64Type>()
                .value(0),
            4096
        );
        assert!(col("mbm_local_bytes").is_null(0));
        assert_eq!(
            col("mbm_total_bytes_per_sec")
                .as_primitive::<Float64Type>()
                .value(0),
            500.0
        );
        assert_eq!(col("status").as_string::<i32>().value(0), "unavailable");
        assert_eq!(col("status").as_string::<i32>().value(1), "ok");
    }

    #[test]
    fn statuses_round_trip_and_are_ordered_by_precedence() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("fine"), None);
        let mut sorted = Status::ALL;
        sorted.sort();
        assert_eq!(sorted, Status::ALL);
        assert!(Status::Error > Status::Reset && Status::Reset > Status::Start);
    }
}
