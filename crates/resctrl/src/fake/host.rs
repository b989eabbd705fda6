//! Host mode of the fake: thread liveness and inheritance come from the host's procfs, so
//! tests can place the real threads of real processes (e.g. containers started by a
//! real containerd) without resctrl hardware.
//!
//! The kernel keeps a thread's group in the thread itself: a new thread or process starts
//! in the group of the thread that created it, and a thread that exits leaves its group.
//! The fake learns about host threads only when it looks, so before every operation that
//! reads or moves threads it takes a census of the host ([`State::sync_host`]):
//!
//! - a known thread that is gone has exited and leaves its group;
//! - a thread it has not seen before joins the group its creator is in *now*: the group of
//!   its thread-group leader for a new thread of a known process, else that of its parent
//!   process, else the root group.
//!
//! "Now" is exact because threads only move through this fake's `tasks` writes, and every
//! write takes a census first: a thread created after the previous census was created
//! while its creator was in the group it is still in. The one thing a census cannot see is
//! a thread id that exited and was reused between two censuses; the new thread then keeps
//! the old one's group. Censuses are milliseconds apart in tests, and reuse needs the
//! kernel to cycle through `pid_max` ids, so tests do not meet it in practice.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use super::model::State;

/// Where host thread ids come from: a procfs root (normally `/proc`).
#[derive(Debug, Clone)]
pub(super) struct HostThreads {
    proc_root: PathBuf,
}

/// What the fake needs to know about a thread it has not seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lineage {
    /// The thread-group (process) id.
    tgid: u32,
    /// The parent process id (0 for the kernel's own roots).
    ppid: u32,
}

impl HostThreads {
    pub(super) fn new(proc_root: impl Into<PathBuf>) -> Self {
        HostThreads {
            proc_root: proc_root.into(),
        }
    }

    /// Every thread id on the host: the entries of `<proc root>/<pid>/task/` of every
    /// process. Processes that exit during the walk are skipped; an unreadable procfs
    /// root gives an empty census (the fake then treats every thread as exited, which
    /// a test notices at once).
    fn census(&self) -> BTreeSet<u32> {
        let mut ids = BTreeSet::new();
        let Ok(processes) = fs::read_dir(&self.proc_root) else {
            return ids;
        };
        for process in processes.flatten() {
            if numeric(&process.file_name().to_string_lossy()).is_none() {
                continue;
            }
            let Ok(tasks) = fs::read_dir(process.path().join("task")) else {
                continue;
            };
            ids.extend(
                tasks
                    .flatten()
                    .filter_map(|t| numeric(&t.file_name().to_string_lossy())),
            );
        }
        ids
    }

    /// The thread's process and parent process, from `<proc root>/<id>/status`; `None` if
    /// it exited meanwhile.
    fn lineage(&self, id: u32) -> Option<Lineage> {
        let text = fs::read_to_string(self.proc_root.join(id.to_string()).join("status")).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().parse::<u32>().ok())
        };
        Some(Lineage {
            tgid: field("Tgid:")?,
            ppid: field("PPid:").unwrap_or(0),
        })
    }
}

fn numeric(name: &str) -> Option<u32> {
    name.parse().ok()
}

impl State {
    /// In host mode, brings the live threads in line with the host (see the module
    /// documentation); does nothing otherwise.
    pub(super) fn sync_host(&mut self) {
        let Some(host) = self.host.clone() else {
            return;
        };
        let live = host.census();
        self.owner.retain(|id, _| live.contains(id));
        let new: Vec<u32> = live
            .into_iter()
            .filter(|id| !self.owner.contains_key(id))
            .collect();
        self.adopt_host_threads(&host, &new);
    }

    /// Gives each new thread its creator's group. A creator may itself be new (a shell
    /// and the commands it just started), so threads whose creator is placed are resolved
    /// round by round; what is left has no known creator and starts in the root group.
    fn adopt_host_threads(&mut self, host: &HostThreads, new: &[u32]) {
        let mut pending: BTreeMap<u32, Lineage> = new
            .iter()
            .filter_map(|&id| host.lineage(id).map(|l| (id, l)))
            .collect();
        loop {
            let resolved: Vec<(u32, String)> = pending
                .iter()
                .filter_map(|(&id, lineage)| {
                    let creator = if lineage.tgid != id {
                        lineage.tgid
                    } else {
                        lineage.ppid
                    };
                    if pending.contains_key(&creator) {
                        return None;
                    }
                    let group = self.owner.get(&creator).cloned().unwrap_or_default();
                    Some((id, group))
                })
                .collect();
            if resolved.is_empty() {
                break;
            }
            for (id, group) in resolved {
                pending.remove(&id);
                self.owner.insert(id, group);
            }
        }
        // Only a cycle (impossible between live processes) could leave some behind.
        for id in pending.into_keys() {
            self.owner.insert(id, String::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command};

    use rustix::io::Errno;

    use crate::fake::FakeResctrl;
    use crate::fs::FsProvider;

    const ROOT: &str = "/sys/fs/resctrl";

    fn group(name: &str) -> PathBuf {
        Path::new(ROOT).join("mon_groups").join(name)
    }

    fn errno_of<T: std::fmt::Debug>(r: io::Result<T>) -> Option<Errno> {
        r.err()
            .and_then(|e| e.raw_os_error())
            .map(Errno::from_raw_os_error)
    }

    /// A procfs-shaped tree: `<root>/<tid>/status` for every thread and
    /// `<root>/<pid>/task/<tid>/` for the threads of each process.
    struct FakeProc {
        dir: tempfile::TempDir,
    }

    impl FakeProc {
        fn new() -> Self {
            FakeProc {
                dir: tempfile::tempdir().expect("tempdir"),
            }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Thread `tid` of process `tgid`, whose parent process is `ppid`.
        fn spawn(&self, tid: u32, tgid: u32, ppid: u32) {
            let own = self.path().join(tid.to_string());
            std::fs::create_dir_all(&own).expect("thread dir");
            std::fs::write(
                own.join("status"),
                format!("Name:\tx\nTgid:\t{tgid}\nPid:\t{tid}\nPPid:\t{ppid}\n"),
            )
            .expect("status");
            std::fs::create_dir_all(self.path().join(format!("{tgid}/task/{tid}")))
                .expect("task dir");
        }

        fn exit(&self, tid: u32, tgid: u32) {
            std::fs::remove_dir_all(self.path().join(format!("{tgid}/task/{tid}")))
                .expect("remove task dir");
            std::fs::remove_dir_all(self.path().join(tid.to_string())).expect("remove thread dir");
        }
    }

    #[test]
    fn host_threads_are_live_inherit_their_creators_group_and_leave_on_exit() {
        let proc = FakeProc::new();
        proc.spawn(1, 1, 0); // init
        proc.spawn(10, 10, 1); // a process ...
        proc.spawn(11, 10, 1); // ... and its second thread
        let fake = FakeResctrl::builder()
            .host_threads_from(proc.path())
            .build();
        fake.create_dir(&group("a")).expect("mkdir");
        let tasks = group("a").join("tasks");

        // Unknown to the fake until now, but live on the host: the write is accepted.
        fake.write(&tasks, b"10").expect("a live host thread");
        assert_eq!(fake.members(&group("a")), BTreeSet::from([10]));
        assert_eq!(
            fake.group_of(11),
            Some(PathBuf::from(ROOT)),
            "a thread existing before the move stays where it was"
        );
        assert_eq!(errno_of(fake.write(&tasks, b"99")), Some(Errno::SRCH));

        // Created after the move: a new thread of 10, a child process of 10, and a
        // grandchild that appears in the same census as its parent.
        proc.spawn(12, 10, 1);
        proc.spawn(20, 20, 10);
        proc.spawn(30, 30, 20);
        proc.spawn(40, 40, 1); // unrelated
        assert_eq!(
            fake.read_to_string(&tasks).expect("read"),
            "10\n12\n20\n30\n"
        );
        assert_eq!(fake.group_of(40), Some(PathBuf::from(ROOT)));

        // Exits: gone from the listing, and writing the id fails like for the kernel.
        proc.exit(12, 10);
        proc.exit(20, 20);
        assert_eq!(fake.members(&group("a")), BTreeSet::from([10, 30]));
        assert_eq!(errno_of(fake.write(&tasks, b"20")), Some(Errno::SRCH));
        assert!(!fake.live_threads().contains(&12));

        // Ids added by hand that the host does not have are not live in host mode.
        fake.add_threads([5000]);
        assert_eq!(errno_of(fake.write(&tasks, b"5000")), Some(Errno::SRCH));
    }

    /// A child process that is killed and reaped on drop.
    struct Sleeper(Child);

    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn with_the_real_procfs_real_processes_are_live_until_they_exit() {
        let fake = FakeResctrl::builder().host_threads().build();
        fake.create_dir(&group("a")).expect("mkdir");
        let tasks = group("a").join("tasks");

        let own = std::process::id();
        fake.write(&tasks, own.to_string().as_bytes())
            .expect("this process is live");
        let mut sleeper = Sleeper(
            Command::new("sleep")
                .arg("60")
                .spawn()
                .expect("spawn sleep"),
        );
        let child = sleeper.0.id();
        fake.write(&tasks, child.to_string().as_bytes())
            .expect("a child process is live");
        assert!(
            fake.members(&group("a"))
                .is_superset(&BTreeSet::from([own, child]))
        );

        sleeper.0.kill().expect("kill sleep");
        sleeper.0.wait().expect("reap sleep");
        assert!(
            !fake.members(&group("a")).contains(&child),
            "a reaped process leaves its group"
        );
        // Above pid_max no thread can exist.
        let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .expect("pid_max")
            .trim()
            .parse()
            .expect("pid_max is a number");
        assert_eq!(
            errno_of(fake.write(&tasks, (pid_max + 1).to_string().as_bytes())),
            Some(Errno::SRCH)
        );
    }
}
