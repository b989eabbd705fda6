//! Which resctrl the scenarios run on: the real `/sys/fs/resctrl` when this host can
//! monitor, otherwise the fake in host mode (it accepts the real thread ids of the real
//! containers and models the kernel's inheritance of groups).

use cause_chain::Chain;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use resctrl::fake::FakeResctrl;
use resctrl::{Config, DirEntry, FsProvider, RealFs, Resctrl};

/// The file-system provider the plugin and the test share.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The kernel.
    Real(RealFs),
    /// The fake, with the host's threads.
    Fake(FakeResctrl),
}

macro_rules! delegate {
    ($self:ident, $fs:ident => $call:expr) => {
        match $self {
            Backend::Real($fs) => $call,
            Backend::Fake($fs) => $call,
        }
    };
}

impl FsProvider for Backend {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        delegate!(self, fs => fs.read_to_string(path))
    }
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        delegate!(self, fs => fs.write(path, data))
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        delegate!(self, fs => fs.create_dir(path))
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        delegate!(self, fs => fs.remove_dir(path))
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        delegate!(self, fs => fs.read_dir(path))
    }
    fn is_writable(&self, path: &Path) -> io::Result<bool> {
        delegate!(self, fs => fs.is_writable(path))
    }
    fn mount_resctrl(&self, target: &Path) -> io::Result<()> {
        delegate!(self, fs => fs.mount_resctrl(target))
    }
}

/// The resctrl of one test: its backend, a group prefix no one else uses, and a guard
/// that removes the test's groups from the real resctrl when dropped (also on panic).
pub struct ResctrlUnderTest {
    /// The provider for the plugin.
    pub backend: Backend,
    /// Root, mount table and the test's prefix.
    pub config: Config,
    handle: Resctrl<Backend>,
    /// One line saying which backend this is and why.
    pub description: String,
}

impl ResctrlUnderTest {
    /// Picks the backend for test `test` and prints which one it is.
    pub fn select(test: &str) -> Self {
        // Unique per process and test, so parallel tests and leftovers of a crashed run
        // never share groups (and the production `pod_` prefix is never touched).
        let prefix = format!("e2e{}{test}_", std::process::id());
        let probe = Resctrl::new(Config::default()).expect("default resctrl configuration");
        let mut mount_note = String::new();
        let cpu_can_monitor = probe
            .detect_support()
            .is_ok_and(|s| !s.mounted() && s.cpu.is_some_and(|c| c.any_monitoring()));
        if cpu_can_monitor {
            // Hardware, just not mounted: mount it, as the collector would.
            if let Err(e) = probe.ensure_mounted(true) {
                mount_note = format!("; mounting it failed: {}", Chain(&e));
            }
        }
        let (backend, config, description) = match probe.detect_support() {
            Ok(support) if support.can_monitor() => (
                Backend::Real(RealFs),
                Config::default().with_group_prefix(&prefix),
                format!(
                    "REAL resctrl at {} ({} RMIDs), group prefix {prefix}",
                    support.root.display(),
                    support.num_rmids.unwrap_or(0)
                ),
            ),
            outcome => {
                let why = match outcome {
                    Ok(support) => support.problems().join("; "),
                    Err(e) => format!("resctrl detection failed: {}", Chain(&e)),
                } + &mount_note;
                let fake = FakeResctrl::builder().host_threads().build();
                let config = fake.config().with_group_prefix(&prefix);
                (
                    Backend::Fake(fake),
                    config,
                    format!("FAKE resctrl with the host's threads (no usable resctrl here: {why})"),
                )
            }
        };
        let handle = Resctrl::with_provider(backend.clone(), config.clone())
            .expect("valid test resctrl configuration");
        let this = ResctrlUnderTest {
            backend,
            config,
            handle,
            description,
        };
        println!("=== resctrl backend: {} ===", this.description);
        this
    }

    /// The fake in host mode with `num_rmids` monitoring IDs (the root group's included),
    /// whatever this host has: for scenarios that need a small limit.
    pub fn fake(test: &str, num_rmids: u32) -> Self {
        let prefix = format!("e2e{}{test}_", std::process::id());
        let fake = FakeResctrl::builder()
            .host_threads()
            .num_rmids(num_rmids)
            .build();
        let config = fake.config().with_group_prefix(&prefix);
        let backend = Backend::Fake(fake);
        let handle = Resctrl::with_provider(backend.clone(), config.clone())
            .expect("valid test resctrl configuration");
        let this = ResctrlUnderTest {
            backend,
            config,
            handle,
            description: format!(
                "FAKE resctrl with the host's threads and {num_rmids} RMIDs (chosen by the test)"
            ),
        };
        println!("=== resctrl backend: {} ===", this.description);
        this
    }

    /// A handle on the same resctrl whose groups are named with `prefix` (another owner's
    /// groups, invisible to the plugin's cleanup).
    pub fn other_owner(&self, prefix: &str) -> Resctrl<Backend> {
        Resctrl::with_provider(
            self.backend.clone(),
            self.config.clone().with_group_prefix(prefix),
        )
        .expect("valid resctrl configuration for another owner")
    }

    /// The test's group prefix.
    pub fn prefix(&self) -> &str {
        &self.config.group_prefix
    }

    /// The group of pod `uid`.
    pub fn group(&self, uid: &str) -> PathBuf {
        self.handle.group_path(uid).expect("group path")
    }

    /// The threads in pod `uid`'s group; `None` if the group does not exist.
    pub fn tasks(&self, uid: &str) -> Option<BTreeSet<u32>> {
        match self.handle.list_group_tasks(&self.group(uid)) {
            Ok(tasks) => Some(tasks),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("cannot read the tasks of pod {uid}'s group: {}", Chain(&e)),
        }
    }
}

impl Drop for ResctrlUnderTest {
    fn drop(&mut self) {
        if let Backend::Real(_) = self.backend {
            match self.handle.cleanup_prefix() {
                Ok(summary) => println!(
                    "removed {} resctrl groups with prefix {}",
                    summary.removed,
                    self.prefix()
                ),
                Err(e) => eprintln!(
                    "could not remove the resctrl groups with prefix {}: {}",
                    self.prefix(),
                    Chain(&e)
                ),
            }
        }
    }
}
