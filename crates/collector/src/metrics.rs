//! [`Metrics`]: each pod's latest readings and the collector's own figures, encoded for
//! `/metrics` in the Prometheus text format (OpenMetrics 1.0, which Prometheus scrapes) by
//! the `prometheus-client` crate.
//!
//! The per-pod series are the last round's rows, replaced whole each round, so a removed
//! pod's series end with it. Counters of the kernel (`mbm_*_bytes`) are exported as they
//! are read: cumulative, so `rate()` gives bandwidth and a reset is what Prometheus
//! expects of a counter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::schema::{Row, Status};

/// The content type of [`Metrics::encode`]'s text.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One pod's readings in one domain, as the last round read them.
#[derive(Debug, Clone, PartialEq)]
struct PodSeries {
    namespace: Arc<str>,
    pod: Arc<str>,
    uid: Arc<str>,
    domain: Arc<str>,
    llc_occupancy_bytes: Option<u64>,
    mbm_total_bytes: Option<u64>,
    mbm_local_bytes: Option<u64>,
}

/// What the plugin last reported (see `nri_resctrl_plugin::PluginStatus`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PluginFigures {
    /// `Synchronize` messages handled: one per connection to the runtime.
    pub synchronizations: u64,
    /// Pod events the plugin dropped (channel full).
    pub dropped_events: u64,
    /// Runtime events lost (work queue full).
    pub lost_runtime_events: u64,
}

#[derive(Debug, Default)]
struct Latest {
    pods: Vec<PodSeries>,
    plugin: PluginFigures,
    /// The last round could read the default group (resctrl usable).
    resctrl_readable: bool,
}

/// Picks one cumulative counter of a series.
type Counted = fn(&PodSeries) -> Option<u64>;

/// Encodes [`Latest`] at each scrape.
#[derive(Debug)]
struct LatestCollector(Arc<Mutex<Latest>>);

/// The collector's figures and each pod's latest readings, shared by the sampling loop,
/// the uploader and the HTTP server.
///
/// # Concurrency
///
/// Shared behind an `Arc`; every method takes `&self` (atomic counters, and a mutex held
/// only to replace or encode the last round).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    latest: Arc<Mutex<Latest>>,
    rounds: Counter,
    skipped_ticks: Counter,
    rows: Counter,
    files: Counter,
    uploads: Counter,
    upload_failures: Counter,
    spool_bytes: Gauge,
    spool_dropped_files: Counter,
    sampling_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Zero figures, no pods, resctrl assumed readable until a round says otherwise.
    pub fn new() -> Self {
        let latest = Arc::new(Mutex::new(Latest {
            resctrl_readable: true,
            ..Latest::default()
        }));
        let metrics = Metrics {
            registry: Registry::default(),
            latest: latest.clone(),
            rounds: Counter::default(),
            skipped_ticks: Counter::default(),
            rows: Counter::default(),
            files: Counter::default(),
            uploads: Counter::default(),
            upload_failures: Counter::default(),
            spool_bytes: Gauge::default(),
            spool_dropped_files: Counter::default(),
            // 0.5 ms to about 4 s.
            sampling_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
        };
        let mut registry = Registry::default();
        registry.register(
            "collector_samples",
            "Sampling rounds taken",
            metrics.rounds.clone(),
        );
        registry.register(
            "collector_skipped_ticks",
            "Ticks skipped because a round overran them",
            metrics.skipped_ticks.clone(),
        );
        registry.register(
            "collector_rows_written",
            "Rows written to the output",
            metrics.rows.clone(),
        );
        registry.register(
            "collector_files_completed",
            "Parquet files completed by this run (not counting those recovered at start)",
            metrics.files.clone(),
        );
        registry.register(
            "collector_uploads",
            "Files uploaded to the object store",
            metrics.uploads.clone(),
        );
        registry.register(
            "collector_upload_failures",
            "Failed upload attempts (each is retried)",
            metrics.upload_failures.clone(),
        );
        registry.register_with_unit(
            "collector_spool",
            "Completed files waiting for upload in the local spool",
            Unit::Bytes,
            metrics.spool_bytes.clone(),
        );
        registry.register(
            "collector_spool_dropped_files",
            "Completed files dropped unsent because the spool exceeded --max-spool-bytes",
            metrics.spool_dropped_files.clone(),
        );
        registry.register_with_unit(
            "collector_sampling_duration",
            "Time to read every group in a round",
            Unit::Seconds,
            metrics.sampling_seconds.clone(),
        );
        registry.register_collector(Box::new(LatestCollector(latest)));
        Metrics {
            registry,
            ..metrics
        }
    }

    /// One round: its rows replace the per-pod series; `took` is its reading time.
    pub fn record_round(&self, rows: &[Row], took: Duration) {
        self.rounds.inc();
        self.rows.inc_by(rows.len() as u64);
        self.sampling_seconds.observe(took.as_secs_f64());
        let mut readable = true;
        let mut pods = Vec::with_capacity(rows.len());
        for row in rows {
            let (Some(uid), Some(namespace), Some(pod), Some(domain)) =
                (&row.pod_uid, &row.pod_namespace, &row.pod_name, &row.domain)
            else {
                if row.pod_uid.is_none() && row.status == Status::ReadFailed {
                    readable = false;
                }
                continue;
            };
            pods.push(PodSeries {
                namespace: namespace.clone(),
                pod: pod.clone(),
                uid: uid.clone(),
                domain: domain.clone(),
                llc_occupancy_bytes: row.llc_occupancy_bytes,
                mbm_total_bytes: row.mbm_total_bytes,
                mbm_local_bytes: row.mbm_local_bytes,
            });
        }
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.pods = pods;
        latest.resctrl_readable = readable;
    }

    /// Ticks a slow round skipped.
    pub fn record_skipped_ticks(&self, skipped: u64) {
        self.skipped_ticks.inc_by(skipped);
    }

    /// A file completed.
    pub fn record_file(&self) {
        self.files.inc();
    }

    /// A file uploaded.
    pub fn record_upload(&self) {
        self.uploads.inc();
    }

    /// A failed upload attempt.
    pub fn record_upload_failure(&self) {
        self.upload_failures.inc();
    }

    /// A completed file dropped unsent (spool quota).
    pub fn record_spool_drop(&self) {
        self.spool_dropped_files.inc();
    }

    /// Bytes of completed files waiting in the spool.
    pub fn set_spool_bytes(&self, bytes: u64) {
        self.spool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The plugin's latest figures.
    pub fn set_plugin(&self, figures: PluginFigures) {
        self.latest.lock().unwrap_or_else(|e| e.into_inner()).plugin = figures;
    }

    /// Whether the plugin has registered with the runtime (received its state) and the
    /// last round could read resctrl: what `/readyz` answers. A node without pods is
    /// ready.
    pub fn ready(&self) -> bool {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.plugin.synchronizations > 0 && latest.resctrl_readable
    }

    /// Rounds taken so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.get()
    }

    /// Files uploaded so far.
    pub fn uploads(&self) -> u64 {
        self.uploads.get()
    }

    /// Failed upload attempts so far.
    pub fn upload_failures(&self) -> u64 {
        self.upload_failures.get()
    }

    /// Files dropped from the spool so far.
    pub fn spool_dropped_files(&self) -> u64 {
        self.spool_dropped_files.get()
    }

    /// Everything, in the text format of [`METRICS_CONTENT_TYPE`].
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Collector for LatestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let latest = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let labels = |s: &PodSeries| {
            [
                ("namespace", s.namespace.to_string()),
                ("pod", s.pod.to_string()),
                ("uid", s.uid.to_string()),
                ("domain", s.domain.to_string()),
            ]
        };
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "resctrl_pod_llc_occupancy",
            "Last-level cache occupancy of the pod's group in the domain",
            Some(&Unit::Bytes),
            gauge.metric_type(),
        )?;
        for s in &latest.pods {
            if let Some(v) = s.llc_occupancy_bytes {
                ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
                    .encode(family.encode_family(&labels(s))?)?;
            }
        }
        let events: [(&str, &str, Counted); 2] = [
            (
                "resctrl_pod_mbm_total_bytes",
                "Memory bandwidth (total) of the pod's group in the domain, cumulative",
                |s| s.mbm_total_bytes,
            ),
            (
                "resctrl_pod_mbm_local_bytes",
                "Memory bandwidth (local NUMA node) of the pod's group in the domain, cumulative",
                |s| s.mbm_local_bytes,
            ),
        ];
        for (name, help, value) in events {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for s in &latest.pods {
                if let Some(v) = value(s) {
                    ConstCounter::new(v).encode(family.encode_family(&labels(s))?)?;
                }
            }
        }
        let plugin = latest.plugin;
        let figures: [(&str, &str, u64); 3] = [
            (
                "collector_nri_reconnects",
                "Connections to the runtime after the first",
                plugin.synchronizations.saturating_sub(1),
            ),
            (
                "collector_plugin_dropped_events",
                "Pod events the plugin dropped because the collector fell behind",
                plugin.dropped_events,
            ),
            (
                "collector_plugin_lost_runtime_events",
                "Runtime events the plugin lost (it then resynchronizes)",
                plugin.lost_runtime_events,
            ),
        ];
        for (name, help, value) in figures {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let ready = ConstGauge::new(i64::from(
            plugin.synchronizations > 0 && latest.resctrl_readable,
        ));
        ready.encode(encoder.encode_descriptor(
            "collector_ready",
            "1 when registered with the runtime and resctrl was readable in the last round",
            None,
            ready.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: Option<&str>, domain: Option<&str>, status: Status) -> Row {
        Row {
            timestamp_ns: 0,
            interval_ns: 1,
            node: "n".into(),
            pod_uid: uid.map(Into::into),
            pod_namespace: uid.map(|_| "shop".into()),
            pod_name: uid.map(|_| "web".into()),
            resctrl_group: None,
            total_containers: None,
            reconciled_containers: None,
            domain: domain.map(Into::into),
            llc_occupancy_bytes: Some(4096),
            mbm_total_bytes: Some(10_000),
            mbm_local_bytes: None,
            mbm_total_bytes_delta: None,
            mbm_local_bytes_delta: None,
            mbm_total_bytes_per_sec: None,
            mbm_local_bytes_per_sec: None,
            status,
        }
    }

    #[test]
    fn a_pods_readings_are_labelled_series_and_absent_events_are_left_out() {
        let metrics = Metrics::new();
        metrics.record_round(
            &[
                row(None, Some("mon_L3_00"), Status::Ok),
                row(Some("u1"), Some("mon_L3_00"), Status::Ok),
            ],
            Duration::from_millis(2),
        );
        let text = metrics.encode();
        let labels = r#"{namespace="shop",pod="web",uid="u1",domain="mon_L3_00"}"#;
        assert!(
            text.contains(&format!("resctrl_pod_llc_occupancy_bytes{labels} 4096")),
            "{text}"
        );
        assert!(
            text.contains(&format!("resctrl_pod_mbm_total_bytes_total{labels} 10000")),
            "{text}"
        );
        assert!(
            !text.contains("resctrl_pod_mbm_local_bytes_total{"),
            "{text}"
        );
        assert!(text.contains("collector_samples_total 1"), "{text}");
        assert!(text.contains("collector_rows_written_total 2"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_removed_pods_series_end_with_the_next_round() {
        let metrics = Metrics::new();
        metrics.record_round(
            &[row(Some("u1"), Some("mon_L3_00"), Status::Ok)],
            Duration::ZERO,
        );
        metrics.record_round(&[row(None, Some("mon_L3_00"), Status::Ok)], Duration::ZERO);
        assert!(!metrics.encode().contains(r#"uid="u1""#));
    }

    #[test]
    fn ready_needs_the_runtimes_state_and_a_readable_default_group() {
        let metrics = Metrics::new();
        assert!(!metrics.ready(), "not registered yet");
        metrics.set_plugin(PluginFigures {
            synchronizations: 1,
            ..PluginFigures::default()
        });
        assert!(metrics.ready(), "a node without pods is ready");
        metrics.record_round(&[row(None, None, Status::ReadFailed)], Duration::ZERO);
        assert!(!metrics.ready(), "resctrl unreadable");
        metrics.record_round(&[row(None, Some("mon_L3_00"), Status::Ok)], Duration::ZERO);
        assert!(metrics.ready());
    }

    #[test]
    fn reconnects_are_the_connections_after_the_first() {
        let metrics = Metrics::new();
        metrics.set_plugin(PluginFigures {
            synchronizations: 3,
            dropped_events: 2,
            lost_runtime_events: 0,
        });
        let text = metrics.encode();
        assert!(text.contains("collector_nri_reconnects_total 2"), "{text}");
        assert!(
            text.contains("collector_plugin_dropped_events_total 2"),
            "{text}"
        );
    }
}
