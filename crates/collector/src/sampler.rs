//! [`Sampler`]: one round of readings of the default group and every pod's group, per
//! monitoring domain, turned into rows.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use cause_chain::Chain;
use resctrl::{DomainReadings, FsProvider, MonLayout, Reading, Resctrl};

use crate::pods::{Pod, PodGroup, PodTable};
use crate::schema::{Row, Status};
use crate::series::SeriesTracker;

/// When a round happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleTime {
    /// The wall-clock tick of the round (ns since the epoch): the rows' `timestamp`.
    pub timestamp_ns: i64,
    /// The configured interval: the rows' `interval_ns`.
    pub interval_ns: i64,
    /// When the round's reads began (ns since the epoch); rates divide by the difference
    /// of these between two rounds.
    pub read_at_ns: i64,
}

/// Reads every group through the resctrl crate (the domains listed once a round from the
/// default group with [`Resctrl::monitoring_layout`], then each group with
/// [`Resctrl::read_group_monitoring_with`]) and keeps the previous counters of each group
/// and domain for deltas.
///
/// # Concurrency
///
/// One owner: [`Self::sample`] takes `&mut self`. It does blocking file-system reads.
#[derive(Debug)]
pub struct Sampler<P: FsProvider> {
    resctrl: Resctrl<P>,
    node: Arc<str>,
    root: Arc<str>,
    tracker: SeriesTracker,
    domain_names: HashMap<(u32, Option<u32>), Arc<str>>,
    /// Groups whose last read failed, so a lasting failure is logged once.
    failing: HashSet<Arc<str>>,
    /// This round's domains, if the default group could be listed.
    layout: Option<MonLayout>,
}

impl<P: FsProvider> Sampler<P> {
    /// A sampler of the groups under `resctrl`'s root, writing `node` into each row.
    pub fn new(resctrl: Resctrl<P>, node: &str) -> Self {
        let root = resctrl.root().to_string_lossy().into();
        Sampler {
            resctrl,
            node: node.into(),
            root,
            tracker: SeriesTracker::new(),
            domain_names: HashMap::new(),
            failing: HashSet::new(),
            layout: None,
        }
    }

    /// The resctrl handle.
    pub fn resctrl(&self) -> &Resctrl<P> {
        &self.resctrl
    }

    /// Ends the series of a group that no longer belongs to its pod (see
    /// [`PodTable::apply`]), so a group re-created at the same path starts afresh.
    pub fn forget_group(&mut self, group: &Path) {
        self.tracker.forget_group(group);
    }

    /// Number of series (group and domain) being tracked.
    pub fn series_count(&self) -> usize {
        self.tracker.len()
    }

    /// One round: the default group's rows, then each pod's in uid order.
    ///
    /// Never fails: a group that cannot be read gets one `read_failed` row, a pod
    /// without a group one `group_failed` row, an unreadable event a null with its
    /// status in its domain's row.
    pub fn sample(&mut self, pods: &PodTable, at: SampleTime) -> Vec<Row> {
        let mut rows = Vec::with_capacity(2 * (pods.len() + 1));
        let root = self.root.clone();
        let root_path = self.resctrl.root().to_path_buf();
        // Listed once a round, from the default group, so every other group costs only
        // its file reads (and domains coming or going are followed within a round).
        self.layout = self.resctrl.monitoring_layout(&root_path).ok();
        self.group_rows(&root_path, &root, None, at, &mut rows);
        for pod in pods.iter() {
            match &pod.group {
                PodGroup::Exists(path, label) => {
                    self.group_rows(path, label, Some(pod), at, &mut rows)
                }
                PodGroup::Failed => {
                    let mut row = self.base_row(Some(pod), None, at);
                    row.status = Status::GroupFailed;
                    rows.push(row);
                }
            }
        }
        self.tracker.end_round();
        rows
    }

    fn base_row(&self, pod: Option<&Pod>, group: Option<&Arc<str>>, at: SampleTime) -> Row {
        Row {
            timestamp_ns: at.timestamp_ns,
            interval_ns: at.interval_ns,
            node: self.node.clone(),
            pod_uid: pod.map(|p| p.uid.clone()),
            pod_namespace: pod.map(|p| p.namespace.clone()),
            pod_name: pod.map(|p| p.name.clone()),
            resctrl_group: group.cloned(),
            total_containers: pod.map(|p| p.total_containers),
            reconciled_containers: pod.map(|p| p.reconciled_containers),
            domain: None,
            llc_occupancy_bytes: None,
            mbm_total_bytes: None,
            mbm_local_bytes: None,
            mbm_total_bytes_delta: None,
            mbm_local_bytes_delta: None,
            mbm_total_bytes_per_sec: None,
            mbm_local_bytes_per_sec: None,
            status: Status::Ok,
        }
    }

    fn group_rows(
        &mut self,
        path: &Path,
        label: &Arc<str>,
        pod: Option<&Pod>,
        at: SampleTime,
        rows: &mut Vec<Row>,
    ) {
        let base = self.base_row(pod, Some(label), at);
        let read = match &self.layout {
            Some(layout) => self.resctrl.read_group_monitoring_with(path, layout),
            None => self.resctrl.read_group_monitoring(path),
        };
        let readings = match read {
            Ok(readings) => {
                if self.failing.remove(label) {
                    tracing::info!(group = %label, "the group can be read again");
                }
                readings
            }
            Err(e) => {
                if self.failing.insert(label.clone()) {
                    tracing::warn!(group = %label, error = %Chain(&e), "cannot read the group's monitoring data; its rows say read_failed");
                }
                let mut row = base;
                row.status = Status::ReadFailed;
                rows.push(row);
                return;
            }
        };
        for d in &readings.domains {
            let domain = self.domain_name(d);
            let mut row = base.clone();
            self.fill(&mut row, label, &domain, d, at.read_at_ns);
            row.domain = Some(domain);
            rows.push(row);
        }
    }

    fn fill(
        &mut self,
        row: &mut Row,
        group: &Arc<str>,
        domain: &Arc<str>,
        d: &DomainReadings,
        at_ns: i64,
    ) {
        let mut status = Status::Ok;
        let (llc, condition) = split(d.llc_occupancy);
        row.llc_occupancy_bytes = llc;
        status = status.max(condition);
        let series = self.tracker.series(group, domain);
        let (total, condition) = split(d.mbm_total_bytes);
        status = status.max(condition);
        if let Some(v) = total {
            let step = series.total(v, at_ns);
            row.mbm_total_bytes = Some(v);
            row.mbm_total_bytes_delta = step.delta();
            row.mbm_total_bytes_per_sec = step.rate();
            status = status.max(step.status());
        }
        let (local, condition) = split(d.mbm_local_bytes);
        status = status.max(condition);
        if let Some(v) = local {
            let step = series.local(v, at_ns);
            row.mbm_local_bytes = Some(v);
            row.mbm_local_bytes_delta = step.delta();
            row.mbm_local_bytes_per_sec = step.rate();
            status = status.max(step.status());
        }
        row.status = status;
    }

    fn domain_name(&mut self, d: &DomainReadings) -> Arc<str> {
        self.domain_names
            .entry((d.domain, d.sub_domain))
            .or_insert_with(|| d.dir_name().into())
            .clone()
    }
}

/// A reading's value, and the status it implies (`Ok` for a value or an absent event).
fn split(reading: Reading) -> (Option<u64>, Status) {
    match reading {
        Reading::Value(v) => (Some(v), Status::Ok),
        Reading::Unavailable => (None, Status::Unavailable),
        Reading::Error => (None, Status::Error),
        Reading::Unassigned => (None, Status::Unassigned),
        Reading::Absent => (None, Status::Ok),
    }
}

#[cfg(test)]
mod tests;
