//! `FakeResctrl`: an in-memory resctrl that behaves like the kernel's, for tests.
//!
//! Enabled by the `fake` feature. It implements [`FsProvider`], so a test wires it as
//!
//! ```
//! use resctrl::{Resctrl, fake::FakeResctrl};
//!
//! let fake = FakeResctrl::builder().num_rmids(4).build();
//! let rc = Resctrl::with_provider(fake.clone(), fake.config()).unwrap();
//! rc.create_group("uid-1").unwrap();
//! assert_eq!(fake.counters().mkdir_calls, 1);
//! ```
//!
//! and keeps the other clone to steer and inspect it (clones share state; all methods
//! take `&self` and lock an internal mutex, so a plugin can use it from other threads).
//!
//! # What it models
//!
//! - The tree under the root: `info/` (`L3/num_closids` unless disabled,
//!   `L3_MON/{num_rmids,mon_features}`), the root group's `tasks`, `mon_groups/`,
//!   `mon_data/`. mkdir directly under the root creates a control group (own `tasks`,
//!   `mon_groups`, `mon_data`) using a CLOSID and an RMID; mkdir under a `mon_groups`
//!   creates a monitoring group (`tasks`, `mon_data/mon_L3_NN/<event>` per L3 domain)
//!   using an RMID. With sub-NUMA clustering
//!   ([`FakeResctrlBuilder::sub_numa_nodes_per_l3`]) each `mon_L3_NN` also holds a
//!   `mon_sub_L3_YY/<event>` per NUMA node `YY` sharing that cache, as on kernels 6.11+. mkdir anywhere else gives EPERM, past the RMID or CLOSID count
//!   ENOSPC; an existing name EEXIST. The root group holds one RMID and one CLOSID.
//! - rmdir frees the IDs and moves the group's threads to its parent control group (for
//!   a control group: to the root, and its monitoring groups go with it), as the kernel
//!   does. Optionally ([`FakeResctrlBuilder::rmid_limbo`]) a freed RMID stays in limbo
//!   for a while, and a mkdir that finds only such RMIDs fails with EBUSY, as on
//!   hardware whose cache still holds lines tagged with them. rmdir of the root gives EBUSY, of `info`/`mon_groups`/`mon_data` EPERM.
//! - Threads: a settable set of live thread ids ([`FakeResctrl::add_threads`], all
//!   starting in the root group). Each lives in exactly one group; writing its id to a
//!   `tasks` file moves it. An unknown id gives ESRCH; a malformed one EINVAL; moving a
//!   thread into a monitoring group of another control group gives EINVAL. Several ids
//!   separated by commas in one write are processed in order, stopping at the first
//!   error, like recent kernels. A control group's `tasks` lists its own threads and
//!   those of its monitoring groups; a monitoring group's lists only its own; one id per
//!   line, ascending.
//! - Host mode ([`FakeResctrlBuilder::host_threads`]): the live threads are the host's
//!   (an id is live iff `/proc/<id>` exists), and a new thread starts in its creator's
//!   group, so end-to-end tests can place real containers' threads without hardware.
//! - Readings per group, domain (or NUMA node) and event (default `0`), settable to a
//!   value, the kernel's `Unavailable`, `Error` or `Unassigned`, a read error (e.g. EIO),
//!   or absent. Under sub-NUMA clustering an L3 domain's file reads the kernel's sum
//!   over its nodes unless set itself.
//! - [`FakeResctrl::stat`] tells what a path is without any side effect, so a file
//!   server (the `resctrl-standin` FUSE mount) can serve this same model.
//! - Mounting: when unmounted, the root is an empty directory and the mount table (served
//!   at the configured mounts path, `/proc/mounts` by default) has no resctrl line.
//!   Unmounting drops every group, as the kernel does. The mount call mounts, fails with
//!   a chosen errno, or succeeds without effect.
//! - CPU flags served at the configured cpuinfo path.
//!
//! # Fault injection and observation
//!
//! EACCES on chosen paths and everything below them ([`FakeResctrl::deny_access`]),
//! one-shot errors for the next matching operation ([`FakeResctrl::fail_next`],
//! [`FakeResctrl::inject_enospc`]), entries that vanish between listing and removal
//! ([`FakeResctrl::vanish_on_rmdir`]), and call counters ([`FakeResctrl::counters`]).

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use rustix::io::Errno;

use crate::config::Config;
use crate::fs::{DirEntry, FsProvider};
use crate::monitoring::MonEvent;

mod builder;
mod host;
mod model;
mod mon_data;

pub use builder::FakeResctrlBuilder;

use model::{FileNode, Node, State, err};
use mon_data::MonScope;

/// Default CPU description: an x86 CPU with allocation and all monitoring flags.
pub const RDT_CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr rdt_a cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local\n\n";

/// A CPU description without any RDT flag.
pub const NO_RDT_CPUINFO: &str =
    "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr\n\n";

/// What a fake event file yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeReading {
    /// The number (bytes), as the kernel prints it.
    Value(u64),
    /// The text `Unavailable` (the RMID has no value yet, or the hardware dropped it).
    Unavailable,
    /// The text `Error` (the hardware read failed).
    Error,
    /// The text `Unassigned` (no hardware counter is assigned to the group, on kernels
    /// with counter assignment).
    Unassigned,
    /// The read fails with this errno (the kernel uses EIO).
    ReadError(Errno),
    /// The file does not exist in this domain.
    Absent,
}

/// An operation of the fake, for [`FakeResctrl::fail_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeOp {
    /// `read_to_string`.
    Read,
    /// `write`.
    Write,
    /// `create_dir`.
    Mkdir,
    /// `remove_dir`.
    Rmdir,
    /// `read_dir`.
    ReadDir,
    /// `is_writable`.
    Access,
}

/// What the fake's mount call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeMount {
    /// Mounts resctrl at the root (EBUSY if resctrl is already mounted somewhere, ENOENT
    /// for a target other than the root, which the fake does not model).
    Mount,
    /// Fails with this errno.
    Fail(Errno),
    /// Returns success but mounts nothing.
    NoEffect,
}

/// What a path is, from [`FakeResctrl::stat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeEntry {
    /// A directory.
    Dir,
    /// A file; `writable` if the kernel lets it be opened for writing (mode 0644, not
    /// 0444).
    File {
        /// Whether it can be opened for writing.
        writable: bool,
    },
}

/// Calls seen by the fake, including failed ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeCounters {
    /// `create_dir` calls.
    pub mkdir_calls: usize,
    /// `remove_dir` calls.
    pub rmdir_calls: usize,
    /// `write` calls to files named `tasks`.
    pub tasks_writes: usize,
    /// All `write` calls.
    pub writes: usize,
    /// `read_to_string` calls.
    pub reads: usize,
    /// `mount_resctrl` calls.
    pub mount_calls: usize,
}

/// A kernel-faithful in-memory resctrl; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct FakeResctrl {
    state: Arc<Mutex<State>>,
}

impl Default for FakeResctrl {
    fn default() -> Self {
        FakeResctrl::builder().build()
    }
}

impl FakeResctrl {
    /// A builder with the defaults: root `/sys/fs/resctrl`, mounted, 64 RMIDs, 16 CLOSIDs,
    /// L3 domains 0 and 1, all three events, an RDT-capable CPU.
    pub fn builder() -> FakeResctrlBuilder {
        FakeResctrlBuilder::default()
    }

    /// A fake with the defaults (see [`FakeResctrl::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide the state from the
        // assertions of another thread.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A [`Config`] pointing at this fake's root, mount table and CPU description, with
    /// the default group prefix.
    pub fn config(&self) -> Config {
        let s = self.lock();
        Config::default()
            .with_root(s.root.clone())
            .with_mounts_path(s.mounts_path.clone())
            .with_cpuinfo_path(s.cpuinfo_path.clone())
    }

    /// The root.
    pub fn root(&self) -> PathBuf {
        self.lock().root.clone()
    }

    // --- threads ---

    /// Makes thread ids live; new ones start in the root group (already live ones stay
    /// where they are).
    pub fn add_threads(&self, ids: impl IntoIterator<Item = u32>) {
        let mut s = self.lock();
        for id in ids {
            s.owner.entry(id).or_default();
        }
    }

    /// Makes one thread id live (see [`FakeResctrl::add_threads`]).
    pub fn add_thread(&self, id: u32) {
        self.add_threads([id]);
    }

    /// The thread exits: it is no longer live and leaves its group.
    pub fn exit_thread(&self, id: u32) {
        self.lock().owner.remove(&id);
    }

    /// The live thread ids.
    pub fn live_threads(&self) -> BTreeSet<u32> {
        let mut s = self.lock();
        s.sync_host();
        s.owner.keys().copied().collect()
    }

    /// The path of the group thread `id` is in, if it is live.
    pub fn group_of(&self, id: u32) -> Option<PathBuf> {
        let mut s = self.lock();
        s.sync_host();
        s.owner.get(&id).map(|key| s.abs(key))
    }

    /// The threads that are in exactly this group (unlike its `tasks` file, a control
    /// group's own threads only). Empty for an unknown path.
    pub fn members(&self, group: &Path) -> BTreeSet<u32> {
        let mut s = self.lock();
        s.sync_host();
        let Some(key) = s.key_of(group) else {
            return BTreeSet::new();
        };
        s.owner
            .iter()
            .filter(|(_, owner)| **owner == key)
            .map(|(&id, _)| id)
            .collect()
    }

    // --- groups and IDs ---

    /// The paths of all groups except the root, sorted.
    pub fn groups(&self) -> Vec<PathBuf> {
        let s = self.lock();
        s.groups
            .keys()
            .filter(|k| !k.is_empty())
            .map(|k| s.abs(k))
            .collect()
    }

    /// Whether a group exists at `path` (the root counts while mounted).
    pub fn group_exists(&self, path: &Path) -> bool {
        let s = self.lock();
        s.mounted && s.key_of(path).is_some_and(|k| s.groups.contains_key(&k))
    }

    /// RMIDs in use, the root group's included (0 without monitoring).
    pub fn rmids_in_use(&self) -> u32 {
        self.lock().rmids_in_use()
    }

    /// RMIDs still free (neither in use nor in limbo).
    pub fn free_rmids(&self) -> u32 {
        let s = self.lock();
        s.num_rmids
            .saturating_sub(s.rmids_in_use())
            .saturating_sub(s.rmids_in_limbo())
    }

    /// RMIDs freed by rmdir but not reusable yet
    /// ([`FakeResctrlBuilder::rmid_limbo`]; always 0 when limbo is not modelled).
    pub fn rmids_in_limbo(&self) -> u32 {
        self.lock().rmids_in_limbo()
    }

    /// Frees every RMID in limbo now, as when their cache occupancy has dropped.
    pub fn end_limbo(&self) {
        self.lock().limbo.clear();
    }

    /// CLOSIDs in use, the root group's included.
    pub fn closids_in_use(&self) -> u32 {
        self.lock().closids_in_use()
    }

    /// The text of `info/last_cmd_status` (the kernel's explanation of the last error).
    pub fn last_cmd_status(&self) -> String {
        self.lock().last_cmd_status.clone()
    }

    // --- readings ---

    /// Sets what `<group>/mon_data/mon_L3_<domain>/<event>` yields. Reset when the group
    /// is removed.
    ///
    /// # Panics
    /// If `group` is not under the fake's root (a mistake in the test).
    pub fn set_reading(&self, group: &Path, domain: u32, event: MonEvent, reading: FakeReading) {
        let mut s = self.lock();
        let key = s.key_of(group).unwrap_or_else(|| {
            panic!(
                "set_reading: {} is not under the fake root {}",
                group.display(),
                s.root.display()
            )
        });
        s.readings
            .insert((key, MonScope::L3(domain), event), reading);
    }

    /// Sets what `<group>/mon_data/mon_L3_NN/mon_sub_L3_<node>/<event>` yields under
    /// sub-NUMA clustering (see [`FakeResctrl::sub_numa_nodes`]). Reset when the group
    /// is removed.
    ///
    /// # Panics
    /// If `group` is not under the fake's root or `node` is not a NUMA node of any L3
    /// domain (mistakes in the test).
    pub fn set_node_reading(&self, group: &Path, node: u32, event: MonEvent, reading: FakeReading) {
        let mut s = self.lock();
        let key = s.key_of(group).unwrap_or_else(|| {
            panic!(
                "set_node_reading: {} is not under the fake root {}",
                group.display(),
                s.root.display()
            )
        });
        assert!(
            s.domains.iter().any(|&d| s.sub_nodes(d).contains(&node)),
            "set_node_reading: node {node} is not a NUMA node of any L3 domain (sub-NUMA nodes per L3: {})",
            s.snc_nodes_per_l3
        );
        s.readings
            .insert((key, MonScope::Node(node), event), reading);
    }

    /// The NUMA nodes of L3 domain `l3` under sub-NUMA clustering; empty when it is off
    /// or `l3` is not a domain.
    pub fn sub_numa_nodes(&self, l3: u32) -> Vec<u32> {
        self.lock().sub_nodes(l3)
    }

    /// The L3 domain ids.
    pub fn l3_domains(&self) -> Vec<u32> {
        self.lock().domains.clone()
    }

    // --- serving the model ---

    /// What `path` is (a directory, or a file and whether it is writable), or `None` if
    /// it does not exist, exactly as the other operations see it. No fault fires and no
    /// counter moves, so a file server can look paths up as often as it needs.
    pub fn stat(&self, path: &Path) -> Option<FakeEntry> {
        match self.lock().resolve(path) {
            Node::Missing => None,
            Node::Dir(_) => Some(FakeEntry::Dir),
            Node::File(file) => Some(FakeEntry::File {
                writable: file.writable(),
            }),
        }
    }

    // --- mounting ---

    /// Mounts or unmounts resctrl at the root. Unmounting drops every group and moves all
    /// threads to the root group, as the kernel does.
    pub fn set_mounted(&self, mounted: bool) {
        let mut s = self.lock();
        if mounted {
            s.mounted = true;
        } else {
            s.unmount();
        }
    }

    /// Whether resctrl is mounted at the root.
    pub fn is_mounted(&self) -> bool {
        self.lock().mounted
    }

    /// Appends a line to the mount table (after the root's resctrl line, so a mount on
    /// the root here hides it), e.g. `resctrl /mnt/elsewhere resctrl rw 0 0`.
    pub fn add_mount_line(&self, line: impl Into<String>) {
        self.lock().extra_mounts.push(line.into());
    }

    /// What the next mount calls do (default [`FakeMount::Mount`]).
    pub fn set_mount_behavior(&self, behavior: FakeMount) {
        self.lock().mount_behavior = behavior;
    }

    // --- faults ---

    /// Every operation on `path` or below fails with EACCES (and `is_writable` reports
    /// false) until [`FakeResctrl::allow_access`].
    pub fn deny_access(&self, path: impl Into<PathBuf>) {
        self.lock().denied.push(path.into());
    }

    /// Undoes [`FakeResctrl::deny_access`] for exactly this path.
    pub fn allow_access(&self, path: &Path) {
        self.lock().denied.retain(|d| d != path);
    }

    /// The next `op` on `path` (any path if `None`) fails with `errno`. Calls queue up;
    /// each fault fires once.
    pub fn fail_next(&self, op: FakeOp, path: Option<PathBuf>, errno: Errno) {
        self.lock().one_shot.push((op, path, errno));
    }

    /// The next `times` mkdir calls fail with ENOSPC, whatever the free RMIDs.
    pub fn inject_enospc(&self, times: usize) {
        for _ in 0..times {
            self.fail_next(FakeOp::Mkdir, None, Errno::NOSPC);
        }
    }

    /// The next rmdir of `path` finds it already gone: the group is removed (as if by
    /// someone else, with the kernel's side effects) and the call fails with ENOENT.
    pub fn vanish_on_rmdir(&self, path: impl Into<PathBuf>) {
        self.lock().vanish.push(path.into());
    }

    /// Adds a plain file (resctrl itself never has stray files; this lets tests check
    /// that non-directories are skipped). Writes replace its contents.
    pub fn add_file(&self, path: impl Into<PathBuf>, contents: impl Into<String>) {
        self.lock().files.insert(path.into(), contents.into());
    }

    // --- observation ---

    /// Calls seen so far.
    pub fn counters(&self) -> FakeCounters {
        self.lock().counters
    }

    /// Sets all counters to zero.
    pub fn reset_counters(&self) {
        self.lock().counters = FakeCounters::default();
    }
}

impl FsProvider for FakeResctrl {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        let mut s = self.lock();
        s.counters.reads += 1;
        s.fault(FakeOp::Read, path).map_err(err)?;
        match s.resolve(path) {
            Node::Missing => Err(err(Errno::NOENT)),
            Node::Dir(_) => Err(err(Errno::ISDIR)),
            Node::File(file) => {
                if matches!(file, FileNode::Tasks(_)) {
                    s.sync_host();
                }
                s.read_file(&file)
            }
        }
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        s.counters.writes += 1;
        if path.file_name().is_some_and(|n| n == "tasks") {
            s.counters.tasks_writes += 1;
        }
        s.fault(FakeOp::Write, path).map_err(err)?;
        match s.resolve(path) {
            Node::Missing => Err(err(Errno::NOENT)),
            Node::Dir(_) => Err(err(Errno::ISDIR)),
            Node::File(FileNode::Tasks(key)) => {
                s.sync_host();
                s.write_tasks(&key, data).map_err(err)
            }
            // Accepted and ignored: this fake models monitoring, not allocation.
            Node::File(file @ FileNode::GroupFile(_)) if file.writable() => Ok(()),
            Node::File(FileNode::Injected(p)) => {
                let text = String::from_utf8_lossy(data).into_owned();
                s.files.insert(p, text);
                Ok(())
            }
            // Read-only files (kernfs refuses to open them for writing).
            Node::File(_) => Err(err(Errno::ACCESS)),
        }
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.counters.mkdir_calls += 1;
        s.fault(FakeOp::Mkdir, path).map_err(err)?;
        s.mkdir(path).map_err(err)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.counters.rmdir_calls += 1;
        s.fault(FakeOp::Rmdir, path).map_err(err)?;
        if let Some(i) = s.vanish.iter().position(|p| p == path) {
            s.vanish.remove(i);
            if let Some(key) = s.key_of(path)
                && !key.is_empty()
            {
                s.remove_group(&key);
            }
            return Err(err(Errno::NOENT));
        }
        s.rmdir(path).map_err(err)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut s = self.lock();
        s.fault(FakeOp::ReadDir, path).map_err(err)?;
        let mut entries = match s.resolve(path) {
            Node::Missing => return Err(err(Errno::NOENT)),
            Node::File(_) => return Err(err(Errno::NOTDIR)),
            Node::Dir(dir) => s.list(&dir),
        };
        for file in s.files.keys() {
            if file.parent() == Some(path)
                && let Some(name) = file.file_name()
            {
                entries.push(DirEntry {
                    name: name.to_owned(),
                    is_dir: false,
                });
            }
        }
        Ok(entries)
    }

    fn is_writable(&self, path: &Path) -> io::Result<bool> {
        let mut s = self.lock();
        match s.fault(FakeOp::Access, path) {
            Ok(()) => {}
            Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) => return Ok(false),
            Err(e) => return Err(err(e)),
        }
        match s.resolve(path) {
            Node::Missing => Err(err(Errno::NOENT)),
            _ => Ok(true),
        }
    }

    fn mount_resctrl(&self, target: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.counters.mount_calls += 1;
        match s.mount_behavior {
            FakeMount::Fail(e) => Err(err(e)),
            FakeMount::NoEffect => Ok(()),
            FakeMount::Mount => {
                let elsewhere = s
                    .extra_mounts
                    .iter()
                    .any(|l| l.split_whitespace().nth(2) == Some("resctrl"));
                if s.mounted || elsewhere {
                    Err(err(Errno::BUSY))
                } else if target != s.root {
                    Err(err(Errno::NOENT))
                } else {
                    s.mounted = true;
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
