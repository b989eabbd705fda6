//! The node agent: every pod's last-level-cache occupancy and memory bandwidth, per
//! monitoring domain, into Parquet.
//!
//! It runs the resctrl NRI plugin in-process (so every pod has a monitoring group and
//! the plugin's [`PodResctrlEvent`](nri_resctrl_plugin::PodResctrlEvent)s say which pod
//! is where), samples the default group and every pod's group at wall-clock-aligned ticks
//! through the `resctrl` crate's monitoring reader (the only parser of `mon_data`),
//! and writes one row per (sample, pod, domain) in the schema documented in [`schema`].
//! This crate alone writes the output directory; resctrl is touched only through the
//! `resctrl` crate and the plugin.
//!
//! The parts, data to engine:
//! - [`schema`]: the columns, [`Status`] values and file metadata;
//! - [`PodTable`]: pods as the plugin's events describe them;
//! - [`Sampler`]: one round of readings to rows, with deltas, rates and resets
//!   ([`SeriesTracker`]);
//! - [`Ticker`] / [`Clock`]: the tick schedule;
//! - [`Output`]: a synced Arrow IPC spool per file for crash safety, Parquet files
//!   completed on rotation and rebuilt from spools on the next start;
//! - [`SamplingLoop`]: ticks, samples and writes; [`Collector`] runs it with the plugin;
//! - [`Destination`] / [`Uploader`]: completed files to an S3 bucket from a local spool
//!   with a quota;
//! - [`Metrics`] / [`serve`]: `/healthz`, `/readyz` and `/metrics` (Prometheus text).
//!
//! ```
//! use collector::{PodTable, SampleTime, Sampler, Status};
//! use resctrl::{Resctrl, fake::FakeResctrl};
//!
//! let fake = FakeResctrl::builder().l3_domains([0, 1]).build();
//! let rc = Resctrl::with_provider(fake.clone(), fake.config()).unwrap();
//! let mut sampler = Sampler::new(rc, "node-a");
//! let at = SampleTime { timestamp_ns: 0, interval_ns: 1_000_000_000, read_at_ns: 0 };
//! let rows = sampler.sample(&PodTable::new(), at);
//! // The default group, one row per domain; its pod columns are null.
//! assert_eq!(rows.len(), 2);
//! assert_eq!(rows[0].domain.as_deref(), Some("mon_L3_00"));
//! assert_eq!(rows[0].pod_uid, None);
//! assert_eq!(rows[0].status, Status::Start);
//! ```

#![warn(missing_docs)]

mod agent;
mod destination;
mod error;
mod http;
mod metrics;
mod node;
mod output;
mod parquet_file;
mod pods;
mod sampler;
pub mod schema;
mod series;
mod spool;
mod tick;
mod upload;

#[cfg(test)]
mod test_support;

pub use agent::{Control, ControlHandle, LoopReport, SamplingLoop};
pub use destination::Destination;
pub use error::{Error, Result, StoreError};
pub use http::{DEFAULT_LISTEN, bind_http, serve};
pub use metrics::{METRICS_CONTENT_TYPE, Metrics, PluginFigures};
pub use node::{Collector, NodeConfig, Services};
pub use output::{DEFAULT_MAX_FILE_AGE, DEFAULT_MAX_FILE_BYTES, Output, OutputConfig, Recovery};
pub use parquet_file::DEFAULT_ROW_GROUP_ROWS;
pub use pods::{Pod, PodGroup, PodTable};
pub use sampler::{SampleTime, Sampler};
pub use schema::{Row, SCHEMA_VERSION, Status};
pub use series::{SeriesTracker, Step};
pub use spool::{SpoolContents, read_spool};
pub use tick::{Clock, SystemClock, Ticker};
pub use upload::{
    Backoff, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_MAX_SPOOL_BYTES,
    DEFAULT_PART_SIZE, PassReport, UploadConfig, Uploader,
};
