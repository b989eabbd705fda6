//! The kernel model behind `FakeResctrl`: the tree under the root, groups, RMIDs and
//! CLOSIDs, thread placement, readings, and the errnos of each operation.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use super::host::HostThreads;
use super::mon_data::{MonScope, domain_dir_name, node_dir_name};
use super::{FakeCounters, FakeMount, FakeOp, FakeReading};
use crate::cleanup::GroupKind;
use crate::fs::DirEntry;
use crate::monitoring::MonEvent;

/// The kernel's CLOSID count when no allocation resource limits it.
const DEFAULT_KERNEL_CLOSIDS: u32 = 32;

/// A group other than by its path (its key in `State::groups`).
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub(super) kind: GroupKind,
    /// Key of the control group this group belongs to (itself for a control group).
    pub(super) ctrl: String,
}

impl Group {
    pub(super) fn control(key: &str) -> Self {
        Group {
            kind: GroupKind::Control,
            ctrl: key.to_owned(),
        }
    }
}

/// The whole state of one fake kernel; `FakeResctrl` locks it for every operation.
#[derive(Debug)]
pub(super) struct State {
    pub(super) root: PathBuf,
    pub(super) mounts_path: PathBuf,
    pub(super) cpuinfo_path: PathBuf,
    pub(super) num_rmids: u32,
    /// How long a freed RMID stays in limbo (`None`: it is free at once).
    pub(super) limbo_for: Option<Duration>,
    /// When each RMID in limbo is free again.
    pub(super) limbo: Vec<Instant>,
    pub(super) num_closids: Option<u32>,
    pub(super) domains: Vec<u32>,
    /// Sub-NUMA clustering: NUMA nodes per L3 domain (1: off).
    pub(super) snc_nodes_per_l3: u32,
    pub(super) features: Vec<MonEvent>,
    pub(super) mounted: bool,
    pub(super) mount_options: String,
    pub(super) cpuinfo: String,
    pub(super) extra_mounts: Vec<String>,
    pub(super) mount_behavior: FakeMount,
    /// Groups by key: the path relative to the root with `/` separators; "" is the root.
    pub(super) groups: BTreeMap<String, Group>,
    /// Live threads and the key of the group each is in.
    pub(super) owner: BTreeMap<u32, String>,
    pub(super) readings: HashMap<(String, MonScope, MonEvent), FakeReading>,
    pub(super) denied: Vec<PathBuf>,
    pub(super) one_shot: Vec<(FakeOp, Option<PathBuf>, Errno)>,
    pub(super) vanish: Vec<PathBuf>,
    pub(super) files: BTreeMap<PathBuf, String>,
    pub(super) last_cmd_status: String,
    pub(super) counters: FakeCounters,
    /// Host mode: thread liveness and inheritance from the host's procfs.
    pub(super) host: Option<HostThreads>,
}

/// A resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    Missing,
    Dir(DirNode),
    File(FileNode),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DirNode {
    /// The root while unmounted: an empty directory.
    Mountpoint,
    Group(String),
    Info,
    InfoL3,
    InfoL3Mon,
    MonGroups(String),
    MonData(String),
    Domain(String, u32),
    /// `mon_data/mon_L3_NN/mon_sub_L3_YY` of a group: NUMA node `YY`.
    SubDomain(String, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FileNode {
    Tasks(String),
    GroupFile(&'static str),
    Event(String, MonScope, MonEvent),
    Info(String),
    Mounts,
    CpuInfo,
    Injected(PathBuf),
}

pub(super) const CONTROL_FILES: [&str; 6] =
    ["tasks", "cpus", "cpus_list", "mode", "schemata", "size"];
pub(super) const MONITOR_FILES: [&str; 3] = ["tasks", "cpus", "cpus_list"];

pub(super) fn err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The static name of a group file, if `name` is one of `files`.
pub(super) fn group_file(files: &[&'static str], name: &str) -> Option<&'static str> {
    files.iter().copied().find(|f| *f == name)
}

impl FileNode {
    /// Whether the kernel lets the file be opened for writing (mode 0644 rather than 0444).
    pub(super) fn writable(&self) -> bool {
        match self {
            FileNode::Tasks(_) | FileNode::Injected(_) => true,
            FileNode::GroupFile(name) => *name != "size",
            FileNode::Event(..) | FileNode::Info(_) | FileNode::Mounts | FileNode::CpuInfo => false,
        }
    }
}

/// Escapes a mount point like the kernel does in the mount table.
pub(super) fn escape_mount_field(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn child_key(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

impl State {
    pub(super) fn monitoring(&self) -> bool {
        !self.features.is_empty()
    }

    pub(super) fn closid_limit(&self) -> u32 {
        self.num_closids.unwrap_or(DEFAULT_KERNEL_CLOSIDS)
    }

    pub(super) fn rmids_in_use(&self) -> u32 {
        if self.monitoring() {
            u32::try_from(self.groups.len()).unwrap_or(u32::MAX)
        } else {
            0
        }
    }

    /// RMIDs freed by rmdir that the kernel cannot hand out yet.
    pub(super) fn rmids_in_limbo(&self) -> u32 {
        let now = Instant::now();
        let n = self.limbo.iter().filter(|until| **until > now).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Puts the RMIDs of `freed` removed groups in limbo, if limbo is modelled.
    fn enter_limbo(&mut self, freed: usize) {
        if let Some(d) = self.limbo_for
            && self.monitoring()
        {
            let until = Instant::now() + d;
            self.limbo.extend(std::iter::repeat_n(until, freed));
        }
    }

    pub(super) fn closids_in_use(&self) -> u32 {
        let n = self
            .groups
            .values()
            .filter(|g| g.kind == GroupKind::Control)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub(super) fn abs(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    /// The group key of an absolute path, if it is under the root (lexically).
    pub(super) fn key_of(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
                _ => return None,
            }
        }
        Some(parts.join("/"))
    }

    pub(super) fn resolve(&self, path: &Path) -> Node {
        if path == self.mounts_path {
            return Node::File(FileNode::Mounts);
        }
        if path == self.cpuinfo_path {
            return Node::File(FileNode::CpuInfo);
        }
        if self.files.contains_key(path) {
            return Node::File(FileNode::Injected(path.to_path_buf()));
        }
        let Some(rel) = self.key_of(path) else {
            return Node::Missing;
        };
        if !self.mounted {
            return if rel.is_empty() {
                Node::Dir(DirNode::Mountpoint)
            } else {
                Node::Missing
            };
        }
        let parts: Vec<&str> = if rel.is_empty() {
            Vec::new()
        } else {
            rel.split('/').collect()
        };
        match parts.split_first() {
            Some((&"info", rest)) => self.resolve_info(rest),
            _ => self.resolve_in_group("", &parts),
        }
    }

    pub(super) fn resolve_info(&self, rest: &[&str]) -> Node {
        match rest {
            [] => Node::Dir(DirNode::Info),
            ["last_cmd_status"] => Node::File(FileNode::Info(self.last_cmd_status.clone())),
            ["L3"] if self.num_closids.is_some() => Node::Dir(DirNode::InfoL3),
            ["L3", file] => match (self.num_closids, *file) {
                (Some(n), "num_closids") => Node::File(FileNode::Info(format!("{n}\n"))),
                (Some(_), "cbm_mask") => Node::File(FileNode::Info("fff\n".into())),
                (Some(_), "min_cbm_bits") => Node::File(FileNode::Info("1\n".into())),
                (Some(_), "shareable_bits") => Node::File(FileNode::Info("0\n".into())),
                _ => Node::Missing,
            },
            ["L3_MON"] if self.monitoring() => Node::Dir(DirNode::InfoL3Mon),
            ["L3_MON", file] if self.monitoring() => match *file {
                "num_rmids" => Node::File(FileNode::Info(format!("{}\n", self.num_rmids))),
                "mon_features" => Node::File(FileNode::Info(
                    self.features
                        .iter()
                        .map(|e| format!("{}\n", e.file_name()))
                        .collect(),
                )),
                "max_threshold_occupancy" => Node::File(FileNode::Info("270336\n".into())),
                _ => Node::Missing,
            },
            _ => Node::Missing,
        }
    }

    pub(super) fn resolve_in_group(&self, key: &str, rest: &[&str]) -> Node {
        let Some(group) = self.groups.get(key) else {
            return Node::Missing;
        };
        let files: &[&'static str] = match group.kind {
            GroupKind::Control => &CONTROL_FILES,
            GroupKind::Monitor => &MONITOR_FILES,
        };
        match rest {
            [] => Node::Dir(DirNode::Group(key.to_owned())),
            ["tasks"] => Node::File(FileNode::Tasks(key.to_owned())),
            [name] if group_file(files, name).is_some() => match group_file(files, name) {
                Some(known) => Node::File(FileNode::GroupFile(known)),
                None => Node::Missing,
            },
            ["mon_data", more @ ..] if self.monitoring() => self.resolve_mon_data(key, more),
            ["mon_groups", more @ ..] if self.monitoring() && group.kind == GroupKind::Control => {
                match more {
                    [] => Node::Dir(DirNode::MonGroups(key.to_owned())),
                    [name, deeper @ ..] => {
                        let child = child_key(key, &format!("mon_groups/{name}"));
                        self.resolve_in_group(&child, deeper)
                    }
                }
            }
            [name, more @ ..] if key.is_empty() => {
                // Only control groups live directly under the root.
                match self.groups.get(*name) {
                    Some(g) if g.kind == GroupKind::Control => self.resolve_in_group(name, more),
                    _ => Node::Missing,
                }
            }
            _ => Node::Missing,
        }
    }

    pub(super) fn list(&self, dir: &DirNode) -> Vec<DirEntry> {
        let mut out: Vec<DirEntry> = Vec::new();
        let mut push = |name: &str, is_dir: bool| {
            out.push(DirEntry {
                name: name.into(),
                is_dir,
            })
        };
        match dir {
            DirNode::Mountpoint => {}
            DirNode::Group(key) => {
                let Some(group) = self.groups.get(key.as_str()) else {
                    return out;
                };
                let files: &[&str] = match group.kind {
                    GroupKind::Control => &CONTROL_FILES,
                    GroupKind::Monitor => &MONITOR_FILES,
                };
                for f in files {
                    push(f, false);
                }
                if self.monitoring() {
                    push("mon_data", true);
                    if group.kind == GroupKind::Control {
                        push("mon_groups", true);
                    }
                }
                if key.is_empty() {
                    push("info", true);
                    for (k, g) in &self.groups {
                        if !k.is_empty() && g.kind == GroupKind::Control {
                            push(k, true);
                        }
                    }
                }
            }
            DirNode::Info => {
                push("last_cmd_status", false);
                if self.num_closids.is_some() {
                    push("L3", true);
                }
                if self.monitoring() {
                    push("L3_MON", true);
                }
            }
            DirNode::InfoL3 => {
                for f in ["num_closids", "cbm_mask", "min_cbm_bits", "shareable_bits"] {
                    push(f, false);
                }
            }
            DirNode::InfoL3Mon => {
                for f in ["num_rmids", "mon_features", "max_threshold_occupancy"] {
                    push(f, false);
                }
            }
            DirNode::MonGroups(ctrl) => {
                let prefix = child_key(ctrl, "mon_groups/");
                for k in self.groups.keys() {
                    if let Some(name) = k.strip_prefix(&prefix)
                        && !name.contains('/')
                    {
                        push(name, true);
                    }
                }
            }
            DirNode::MonData(_) => {
                for &d in &self.domains {
                    push(&domain_dir_name(d), true);
                }
            }
            DirNode::Domain(key, d) => {
                for &e in &self.features {
                    if self.event_present(key, MonScope::L3(*d), e) {
                        push(e.file_name(), false);
                    }
                }
                for n in self.sub_nodes(*d) {
                    push(&node_dir_name(n), true);
                }
            }
            DirNode::SubDomain(key, n) => {
                for &e in &self.features {
                    if self.event_present(key, MonScope::Node(*n), e) {
                        push(e.file_name(), false);
                    }
                }
            }
        }
        out
    }

    pub(super) fn read_file(&self, file: &FileNode) -> io::Result<String> {
        Ok(match file {
            FileNode::Tasks(key) => self
                .listed_tasks(key)
                .into_iter()
                .map(|id| format!("{id}\n"))
                .collect(),
            FileNode::GroupFile(name) => match *name {
                "cpus" => "ff\n".to_owned(),
                "cpus_list" => "0-7\n".to_owned(),
                "mode" => "shareable\n".to_owned(),
                "schemata" | "size" => "    L3:0=fff;1=fff\n".to_owned(),
                _ => String::new(),
            },
            FileNode::Event(key, scope, e) => match self.reading(key, *scope, *e) {
                FakeReading::Value(v) => format!("{v}\n"),
                FakeReading::Unavailable => "Unavailable\n".to_owned(),
                FakeReading::Error => "Error\n".to_owned(),
                FakeReading::Unassigned => "Unassigned\n".to_owned(),
                FakeReading::ReadError(errno) => return Err(err(errno)),
                // Absent events do not resolve to a file.
                FakeReading::Absent => return Err(err(Errno::NOENT)),
            },
            FileNode::Info(text) => text.clone(),
            FileNode::Mounts => self.mount_table(),
            FileNode::CpuInfo => self.cpuinfo.clone(),
            FileNode::Injected(path) => self.files.get(path).cloned().unwrap_or_default(),
        })
    }

    /// The kernel's listing: a control group shows the threads of its whole CLOSID
    /// (including its monitoring groups), a monitoring group only its own.
    pub(super) fn listed_tasks(&self, key: &str) -> Vec<u32> {
        let kind = self.groups.get(key).map(|g| g.kind);
        self.owner
            .iter()
            .filter(|(_, owner)| match kind {
                Some(GroupKind::Monitor) => owner.as_str() == key,
                Some(GroupKind::Control) => self
                    .groups
                    .get(owner.as_str())
                    .is_some_and(|g| g.ctrl == key),
                None => false,
            })
            .map(|(&id, _)| id)
            .collect()
    }

    pub(super) fn mount_table(&self) -> String {
        let mut text = String::from(
            "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n",
        );
        if self.mounted {
            text.push_str(&format!(
                "resctrl {} resctrl {} 0 0\n",
                escape_mount_field(&self.root),
                self.mount_options
            ));
        }
        for line in &self.extra_mounts {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Applies persistent denials and one-shot faults for `op` on `path`.
    pub(super) fn fault(&mut self, op: FakeOp, path: &Path) -> Result<(), Errno> {
        if self.denied.iter().any(|d| path.starts_with(d)) {
            return Err(Errno::ACCESS);
        }
        let hit = self
            .one_shot
            .iter()
            .position(|(o, p, _)| *o == op && p.as_deref().is_none_or(|p| p == path));
        match hit {
            Some(i) => Err(self.one_shot.remove(i).2),
            None => Ok(()),
        }
    }

    pub(super) fn write_tasks(&mut self, key: &str, data: &[u8]) -> Result<(), Errno> {
        let text = std::str::from_utf8(data).map_err(|_| Errno::INVAL)?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let target = self.groups.get(key).cloned().ok_or(Errno::NOENT)?;
        for word in text.split(',') {
            let id: u32 = word.trim().parse().map_err(|_| Errno::INVAL)?;
            let Some(current) = self.owner.get(&id) else {
                self.last_cmd_status = format!("No task {id}\n");
                return Err(Errno::SRCH);
            };
            let current_ctrl = self
                .groups
                .get(current.as_str())
                .map(|g| g.ctrl.clone())
                .unwrap_or_default();
            if target.kind == GroupKind::Monitor && current_ctrl != target.ctrl {
                self.last_cmd_status = "Can't move task to different control group\n".into();
                return Err(Errno::INVAL);
            }
            self.owner.insert(id, key.to_owned());
        }
        self.last_cmd_status = "ok\n".into();
        Ok(())
    }

    pub(super) fn mkdir(&mut self, path: &Path) -> Result<(), Errno> {
        if self.resolve(path) != Node::Missing {
            return Err(Errno::EXIST);
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Errno::EXIST);
        };
        let name = name.to_str().ok_or(Errno::INVAL)?;
        if name.contains('\n') {
            return Err(Errno::INVAL);
        }
        let (key, group) = match self.resolve(parent) {
            Node::Missing => return Err(Errno::NOENT),
            Node::File(_) => return Err(Errno::NOTDIR),
            // sysfs does not allow mkdir.
            Node::Dir(DirNode::Mountpoint) => return Err(Errno::PERM),
            Node::Dir(DirNode::Group(k)) if k.is_empty() => {
                if self.closids_in_use() >= self.closid_limit() {
                    self.last_cmd_status = "Out of CLOSIDs\n".into();
                    return Err(Errno::NOSPC);
                }
                (name.to_owned(), Group::control(name))
            }
            Node::Dir(DirNode::MonGroups(ctrl)) => (
                child_key(&ctrl, &format!("mon_groups/{name}")),
                Group {
                    kind: GroupKind::Monitor,
                    ctrl,
                },
            ),
            Node::Dir(_) => return Err(Errno::PERM),
        };
        let now = Instant::now();
        self.limbo.retain(|until| *until > now);
        if self.monitoring() && self.rmids_in_use() + self.rmids_in_limbo() >= self.num_rmids {
            self.last_cmd_status = "Out of RMIDs\n".into();
            // The kernel's alloc_rmid: "busy" while freed RMIDs still wait in limbo.
            return Err(if self.limbo.is_empty() {
                Errno::NOSPC
            } else {
                Errno::BUSY
            });
        }
        self.groups.insert(key, group);
        self.last_cmd_status = "ok\n".into();
        Ok(())
    }

    pub(super) fn rmdir(&mut self, path: &Path) -> Result<(), Errno> {
        match self.resolve(path) {
            Node::Missing => Err(Errno::NOENT),
            Node::File(_) => Err(Errno::NOTDIR),
            Node::Dir(DirNode::Mountpoint) => Err(Errno::BUSY),
            Node::Dir(DirNode::Group(key)) if key.is_empty() => Err(Errno::BUSY),
            Node::Dir(DirNode::Group(key)) => {
                self.remove_group(&key);
                Ok(())
            }
            Node::Dir(_) => Err(Errno::PERM),
        }
    }

    /// Removes a group the way the kernel's rmdir does.
    pub(super) fn remove_group(&mut self, key: &str) {
        let Some(group) = self.groups.remove(key) else {
            return;
        };
        let (doomed, new_home): (Vec<String>, String) = match group.kind {
            GroupKind::Monitor => (vec![key.to_owned()], group.ctrl.clone()),
            GroupKind::Control => {
                let nested = format!("{key}/");
                let mut doomed: Vec<String> = self
                    .groups
                    .keys()
                    .filter(|k| k.starts_with(&nested))
                    .cloned()
                    .collect();
                for k in &doomed {
                    self.groups.remove(k);
                }
                doomed.push(key.to_owned());
                (doomed, String::new())
            }
        };
        self.enter_limbo(doomed.len());
        for owner in self.owner.values_mut() {
            if doomed.contains(owner) {
                owner.clone_from(&new_home);
            }
        }
        // A recreated group gets a fresh RMID, hence fresh counters.
        self.readings.retain(|(k, _, _), _| !doomed.contains(k));
    }

    pub(super) fn unmount(&mut self) {
        self.mounted = false;
        self.enter_limbo(self.groups.len() - 1);
        self.groups.retain(|k, _| k.is_empty());
        for owner in self.owner.values_mut() {
            owner.clear();
        }
        self.readings.clear();
    }
}
