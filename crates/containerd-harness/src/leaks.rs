//! What a private containerd can leave behind, and how to find it.
//!
//! A private directory `<run dir>/<run name>` owns: processes whose command line names the
//! directory (containerd `--config <dir>/...`, shims `-address <dir>/containerd.sock`,
//! runc `--root <dir>/runc-root`), processes in the cgroup subtree `/nri-e2e/<run name>`
//! (the containers' own processes, whose command lines name nothing), mounts below the
//! directory (container root file systems, sandbox shm), and that cgroup subtree in every
//! hierarchy.

use std::fmt;
use std::path::{Path, PathBuf};

use kernel_formats::{Hierarchy, MountInfo, hierarchies, parse_mountinfo};

use crate::cgroups::{existing_dirs, in_subtree, run_subtree};
use crate::procfs::{Proc, ProcessInfo, mounts_under, references_path};

/// A process found alive that belongs to a private containerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedProcess {
    /// Process id.
    pub pid: u32,
    /// Its command line, space-joined.
    pub cmdline: String,
}

/// Everything a private containerd left behind; empty means clean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leaks {
    /// Live processes that reference the directory or sit in its cgroup subtree.
    pub processes: Vec<LeakedProcess>,
    /// Mount points at or below the directory.
    pub mounts: Vec<PathBuf>,
    /// Cgroup directories of the run's subtree, in any hierarchy.
    pub cgroups: Vec<PathBuf>,
    /// Shim sockets under `/run/containerd/s` still present after teardown (only teardown
    /// knows which sockets were ours; [`leak_check`] leaves this empty).
    pub shim_sockets: Vec<PathBuf>,
    /// The private directory itself, if it still exists.
    pub private_dir: Option<PathBuf>,
    /// Checks that could not be made (e.g. `/proc` unreadable); a failed check is a leak.
    pub unchecked: Vec<String>,
}

impl Leaks {
    /// Whether nothing was left behind.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.mounts.is_empty()
            && self.cgroups.is_empty()
            && self.shim_sockets.is_empty()
            && self.private_dir.is_none()
            && self.unchecked.is_empty()
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "no leaks");
        }
        for p in &self.processes {
            writeln!(f, "leaked process {}: {}", p.pid, p.cmdline)?;
        }
        for m in &self.mounts {
            writeln!(f, "leaked mount {}", m.display())?;
        }
        for c in &self.cgroups {
            writeln!(f, "leaked cgroup {}", c.display())?;
        }
        for s in &self.shim_sockets {
            writeln!(f, "leaked shim socket {}", s.display())?;
        }
        if let Some(d) = &self.private_dir {
            writeln!(f, "leaked directory {}", d.display())?;
        }
        for u in &self.unchecked {
            writeln!(f, "could not check: {u}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaks {}

/// Checks that nothing of the private containerd directory `private_dir` is left: no
/// process, mount, cgroup (of the subtree named after the directory) or the directory.
#[expect(
    clippy::result_large_err,
    reason = "called once per teardown; the leaks are the point of the error"
)]
pub fn leak_check(private_dir: &Path) -> Result<(), Leaks> {
    let leaks = match HostView::system() {
        Ok(host) => host.leaks(private_dir),
        Err(e) => Leaks {
            unchecked: vec![e],
            ..Leaks::default()
        },
    };
    if leaks.is_empty() { Ok(()) } else { Err(leaks) }
}

/// The run name of a private directory: its file name (also its cgroup subtree's name).
pub fn run_name_of(private_dir: &Path) -> Option<&str> {
    private_dir.file_name()?.to_str()
}

/// A snapshot of the host facts teardown and leak checks read: processes, mounts and
/// cgroup hierarchies. Built from the real `/proc`, or from fixtures in tests.
#[derive(Debug, Clone)]
pub struct HostView {
    proc: Proc,
    mounts: Vec<MountInfo>,
    hierarchies: Vec<Hierarchy>,
}

impl HostView {
    /// The real host, as seen by this process.
    pub fn system() -> Result<Self, String> {
        Self::from_proc(Proc::system())
    }

    /// A host described by a `/proc`-like directory (its `self/mountinfo` included).
    pub fn from_proc(proc: Proc) -> Result<Self, String> {
        let text = proc
            .mountinfo()
            .map_err(|e| format!("reading mountinfo: {e}"))?;
        let mounts = parse_mountinfo(&text);
        let hierarchies = hierarchies(&mounts);
        Ok(Self {
            proc,
            mounts,
            hierarchies,
        })
    }

    /// The `/proc` this view reads.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// The cgroup hierarchies.
    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    /// Mount points at or below `dir`, deepest first.
    pub fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        mounts_under(&self.mounts, dir)
    }

    /// Live processes that belong to `private_dir` (never this process itself).
    pub fn owned_processes(&self, private_dir: &Path) -> Result<Vec<ProcessInfo>, String> {
        let processes = self
            .proc
            .processes()
            .map_err(|e| format!("listing processes: {e}"))?;
        Ok(owned_processes(processes, private_dir, std::process::id()))
    }

    /// Existing cgroup directories of the run's subtree.
    pub fn run_cgroups(&self, private_dir: &Path) -> Vec<PathBuf> {
        match run_name_of(private_dir) {
            Some(name) => existing_dirs(&self.hierarchies, &run_subtree(name)),
            None => Vec::new(),
        }
    }

    /// Everything of `private_dir` still present.
    pub fn leaks(&self, private_dir: &Path) -> Leaks {
        let mut leaks = Leaks::default();
        match self.owned_processes(private_dir) {
            Ok(processes) => {
                leaks.processes = processes
                    .into_iter()
                    .map(|p| LeakedProcess {
                        pid: p.pid,
                        cmdline: p.cmdline.join(" "),
                    })
                    .collect();
            }
            Err(e) => leaks.unchecked.push(e),
        }
        leaks.mounts = self.mounts_under(private_dir);
        leaks.cgroups = self.run_cgroups(private_dir);
        if std::fs::symlink_metadata(private_dir).is_ok() {
            leaks.private_dir = Some(private_dir.to_path_buf());
        }
        leaks
    }
}

/// The processes of `processes` that belong to `private_dir`: alive (not zombies), not
/// `self_pid`, and either naming the directory on their command line or sitting in the
/// run's cgroup subtree.
pub fn owned_processes(
    processes: Vec<ProcessInfo>,
    private_dir: &Path,
    self_pid: u32,
) -> Vec<ProcessInfo> {
    let subtree = run_name_of(private_dir).map(run_subtree);
    processes
        .into_iter()
        .filter(|p| p.pid != self_pid && p.pid != 1 && !p.is_zombie())
        .filter(|p| {
            references_path(&p.cmdline, private_dir)
                || subtree.as_deref().is_some_and(|s| in_subtree(&p.cgroup, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture host: a fake /proc with four processes and a mount table whose cgroup
    /// hierarchies live in the temp dir.
    struct Fixture {
        tmp: tempfile::TempDir,
        dir: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let dir = PathBuf::from("/run/e2e/ctrd-9-0");
            let f = Self { tmp, dir };
            std::fs::create_dir_all(f.proc_root().join("self")).unwrap();
            f
        }
        fn proc_root(&self) -> PathBuf {
            self.tmp.path().join("proc")
        }
        fn cg(&self, name: &str) -> PathBuf {
            self.tmp.path().join("cgroup").join(name)
        }
        fn process(&self, pid: u32, state: char, cmdline: &[&str], cgroup: &str) {
            let p = self.proc_root().join(pid.to_string());
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("stat"), format!("{pid} (x) {state} 1 1")).unwrap();
            let mut bytes = Vec::new();
            for arg in cmdline {
                bytes.extend_from_slice(arg.as_bytes());
                bytes.push(0);
            }
            std::fs::write(p.join("cmdline"), bytes).unwrap();
            std::fs::write(p.join("cgroup"), cgroup).unwrap();
        }
        fn mountinfo(&self, extra: &str) {
            let text = format!(
                "30 1 0:30 / {} rw - cgroup cgroup rw,memory\n31 1 0:31 / {} rw - cgroup2 cgroup2 rw\n{extra}",
                self.cg("memory").display(),
                self.cg("unified").display()
            );
            std::fs::write(self.proc_root().join("self/mountinfo"), text).unwrap();
        }
        fn view(&self) -> HostView {
            HostView::from_proc(Proc::new(self.proc_root())).unwrap()
        }
    }

    #[test]
    fn finds_processes_by_command_line_and_by_cgroup() {
        let f = Fixture::new();
        f.mountinfo("");
        f.process(
            100,
            'S',
            &[
                "containerd-shim-runc-v2",
                "-namespace",
                "k8s.io",
                "-address",
                "/run/e2e/ctrd-9-0/containerd.sock",
            ],
            "0::/\n",
        );
        f.process(
            101,
            'S',
            &["sleep", "600"],
            "4:memory:/nri-e2e/ctrd-9-0/pod1/abc\n0::/nri-e2e/ctrd-9-0/pod1/abc\n",
        );
        f.process(
            102,
            'S',
            &["sleep", "600"],
            "4:memory:/nri-e2e/ctrd-9-01/pod1/abc\n",
        );
        f.process(103, 'Z', &[], "4:memory:/nri-e2e/ctrd-9-0/pod1/abc\n");
        f.process(
            104,
            'S',
            &["containerd", "--config", "/run/e2e/ctrd-9-01/config.toml"],
            "0::/\n",
        );
        let leaks = f.view().leaks(&f.dir);
        let pids: Vec<u32> = leaks.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [100, 101]);
        assert!(
            leaks.processes[0]
                .cmdline
                .contains("-address /run/e2e/ctrd-9-0/containerd.sock")
        );
        assert!(!leaks.is_empty());
    }

    #[test]
    fn finds_mounts_and_cgroups_and_reports_them() {
        let f = Fixture::new();
        f.mountinfo(
            "900 1 0:90 / /run/e2e/ctrd-9-0/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw\n\
             901 1 0:91 / /run/e2e/ctrd-9-00/x rw - tmpfs tmpfs rw\n",
        );
        std::fs::create_dir_all(f.cg("memory").join("nri-e2e/ctrd-9-0/pod1")).unwrap();
        std::fs::create_dir_all(f.cg("unified").join("nri-e2e/ctrd-9-1")).unwrap();
        let leaks = f.view().leaks(&f.dir);
        assert_eq!(
            leaks.mounts,
            [PathBuf::from(
                "/run/e2e/ctrd-9-0/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs"
            )]
        );
        assert_eq!(leaks.cgroups, [f.cg("memory").join("nri-e2e/ctrd-9-0")]);
        assert!(leaks.processes.is_empty());
        let text = leaks.to_string();
        assert!(
            text.contains("leaked mount /run/e2e/ctrd-9-0/state"),
            "{text}"
        );
        assert!(text.contains("leaked cgroup"), "{text}");
    }

    #[test]
    fn a_clean_host_has_no_leaks() {
        let f = Fixture::new();
        f.mountinfo("");
        f.process(200, 'S', &["bash"], "0::/user.slice\n");
        let leaks = f.view().leaks(&f.dir);
        assert!(leaks.is_empty(), "{leaks}");
        assert_eq!(leaks.to_string(), "no leaks");
    }

    #[test]
    fn an_existing_private_dir_is_a_leak() {
        let f = Fixture::new();
        f.mountinfo("");
        let dir = f.tmp.path().join("ctrd-1-1");
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(f.view().leaks(&dir).private_dir, Some(dir));
    }

    #[test]
    fn own_process_and_init_are_never_owned() {
        let me = ProcessInfo {
            pid: 42,
            cmdline: vec!["test".into(), "/run/e2e/ctrd-9-0".into()],
            cgroup: String::new(),
            state: 'R',
        };
        let init = ProcessInfo {
            pid: 1,
            ..me.clone()
        };
        assert!(owned_processes(vec![me, init], Path::new("/run/e2e/ctrd-9-0"), 42).is_empty());
    }
}
