//! Building a [`FakeResctrl`]: the size and shape of the fake kernel, and where it serves
//! its files.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::host::HostThreads;
use super::model::{Group, State};
use super::{FakeCounters, FakeMount, FakeResctrl, RDT_CPUINFO};
use crate::config::{DEFAULT_CPUINFO_PATH, DEFAULT_MOUNTS_PATH, DEFAULT_ROOT};
use crate::monitoring::MonEvent;

/// Builder of a [`FakeResctrl`]; see the defaults on each method.
#[derive(Debug, Clone)]
pub struct FakeResctrlBuilder {
    root: PathBuf,
    mounts_path: PathBuf,
    cpuinfo_path: PathBuf,
    num_rmids: u32,
    rmid_limbo: Option<Duration>,
    num_closids: Option<u32>,
    domains: Vec<u32>,
    snc_nodes_per_l3: u32,
    features: Vec<MonEvent>,
    mounted: bool,
    mount_options: String,
    cpuinfo: String,
    host_proc: Option<PathBuf>,
}

impl Default for FakeResctrlBuilder {
    fn default() -> Self {
        FakeResctrlBuilder {
            root: PathBuf::from(DEFAULT_ROOT),
            mounts_path: PathBuf::from(DEFAULT_MOUNTS_PATH),
            cpuinfo_path: PathBuf::from(DEFAULT_CPUINFO_PATH),
            num_rmids: 64,
            rmid_limbo: None,
            num_closids: Some(16),
            domains: vec![0, 1],
            snc_nodes_per_l3: 1,
            features: MonEvent::ALL.to_vec(),
            mounted: true,
            mount_options: "rw,relatime".to_owned(),
            cpuinfo: RDT_CPUINFO.to_owned(),
            host_proc: None,
        }
    }
}

impl FakeResctrlBuilder {
    /// The resctrl root (default `/sys/fs/resctrl`).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// Where the fake serves its mount table (default `/proc/mounts`).
    pub fn mounts_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.mounts_path = path.into();
        self
    }

    /// Where the fake serves its CPU description (default `/proc/cpuinfo`).
    pub fn cpuinfo_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.cpuinfo_path = path.into();
        self
    }

    /// Number of RMIDs, including the root group's (default 64).
    pub fn num_rmids(mut self, n: u32) -> Self {
        self.num_rmids = n;
        self
    }

    /// Models RMID limbo (default off, so freed RMIDs are free at once): an RMID freed
    /// by rmdir stays busy for `duration`, as the kernel keeps it until the cache lines
    /// it tagged have been evicted (occupancy below `max_threshold_occupancy`, checked
    /// about every second). mkdir finding only such RMIDs fails with EBUSY, not ENOSPC.
    /// [`FakeResctrl::end_limbo`] ends it at once.
    pub fn rmid_limbo(mut self, duration: Duration) -> Self {
        self.rmid_limbo = Some(duration);
        self
    }

    /// Number of CLOSIDs, including the root group's (default `Some(16)`). `None`: no
    /// allocation resource, so `info/L3` is absent and the kernel's default of 32 applies.
    pub fn num_closids(mut self, n: Option<u32>) -> Self {
        self.num_closids = n;
        self
    }

    /// The L3 domain ids (default `[0, 1]`).
    pub fn l3_domains(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        self.domains = ids.into_iter().collect();
        self
    }

    /// Sub-NUMA clustering with `n` NUMA nodes per L3 domain (default 1: off). The
    /// nodes are numbered on across the domains in their order, as the kernel numbers
    /// them: with domains `[0, 1]` and 2 nodes each, `mon_L3_00` holds `mon_sub_L3_00`
    /// and `mon_sub_L3_01`, `mon_L3_01` holds `mon_sub_L3_02` and `mon_sub_L3_03`.
    pub fn sub_numa_nodes_per_l3(mut self, n: u32) -> Self {
        self.snc_nodes_per_l3 = n;
        self
    }

    /// The monitoring events offered (default all three). Empty: no monitoring at all
    /// (no `info/L3_MON`, no `mon_groups`, no `mon_data`).
    pub fn mon_features(mut self, events: impl IntoIterator<Item = MonEvent>) -> Self {
        self.features = events.into_iter().collect();
        self
    }

    /// Whether resctrl starts mounted (default true).
    pub fn mounted(mut self, mounted: bool) -> Self {
        self.mounted = mounted;
        self
    }

    /// Options shown in the mount table (default `rw,relatime`).
    pub fn mount_options(mut self, options: impl Into<String>) -> Self {
        self.mount_options = options.into();
        self
    }

    /// The CPU description text (default [`RDT_CPUINFO`]).
    pub fn cpuinfo(mut self, text: impl Into<String>) -> Self {
        self.cpuinfo = text.into();
        self
    }

    /// Host mode: the live threads are the host's, from `/proc` (see
    /// [`FakeResctrlBuilder::host_threads_from`]).
    pub fn host_threads(self) -> Self {
        self.host_threads_from("/proc")
    }

    /// Host mode with the procfs at `proc_root`: a thread id is live iff the host has it
    /// (`<proc_root>/<pid>/task/<id>` exists, which for the real procfs is the same as
    /// `/proc/<id>` existing), so tests can place the real threads of real processes
    /// (containers, say) without resctrl hardware.
    ///
    /// Like the kernel, a thread the fake has not seen before starts in the group of its
    /// creator (its process's leader for a new thread, its parent process for a new
    /// process), and a thread that exited leaves its group. The fake takes a census of
    /// the host before every `tasks` read or write and before [`FakeResctrl::members`],
    /// [`FakeResctrl::group_of`] and [`FakeResctrl::live_threads`]; ids given to
    /// [`FakeResctrl::add_threads`] that the host does not have are dropped then. A thread
    /// id reused between two censuses keeps its previous owner's group (censuses are
    /// milliseconds apart, so tests do not meet this).
    pub fn host_threads_from(mut self, proc_root: impl Into<PathBuf>) -> Self {
        self.host_proc = Some(proc_root.into());
        self
    }

    /// Builds the fake.
    pub fn build(self) -> FakeResctrl {
        let mut groups = BTreeMap::new();
        groups.insert(String::new(), Group::control(""));
        let state = State {
            root: self.root,
            mounts_path: self.mounts_path,
            cpuinfo_path: self.cpuinfo_path,
            num_rmids: self.num_rmids,
            limbo_for: self.rmid_limbo,
            limbo: Vec::new(),
            num_closids: self.num_closids,
            domains: self.domains,
            snc_nodes_per_l3: self.snc_nodes_per_l3,
            features: self.features,
            mounted: self.mounted,
            mount_options: self.mount_options,
            cpuinfo: self.cpuinfo,
            extra_mounts: Vec::new(),
            mount_behavior: FakeMount::Mount,
            groups,
            owner: BTreeMap::new(),
            readings: HashMap::new(),
            denied: Vec::new(),
            one_shot: Vec::new(),
            vanish: Vec::new(),
            files: BTreeMap::new(),
            last_cmd_status: "ok\n".to_owned(),
            counters: FakeCounters::default(),
            host: self.host_proc.map(HostThreads::new),
        };
        FakeResctrl {
            state: Arc::new(Mutex::new(state)),
        }
    }
}
