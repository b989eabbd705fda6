//! Removing everything a private containerd created, in an order that lets each part go
//! cleanly, and checking that nothing is left.
//!
//! 1. Pods and containers are removed through CRI, so shims exit on their own and remove
//!    their sockets under `/run/containerd/s` (done by the caller: it is async).
//! 2. containerd gets SIGTERM, then SIGKILL after a grace period.
//! 3. Every process left that names the private directory on its command line (shims,
//!    runc) or sits in the run's cgroup subtree (container processes) is killed; sockets
//!    of shims that had to be killed are removed.
//! 4. Every mount below the directory is unmounted, children first; lazily as a last
//!    resort.
//! 5. The run's cgroup subtree is removed depth-first in every hierarchy.
//! 6. The directory is removed, unless something is still mounted below it (removing
//!    files through a live mount could reach outside it) or a step above failed; then it
//!    is kept so a later [`cleanup_run_dir`] finds it.
//! 7. The leak check runs.
//!
//! [`cleanup_run_dir`] applies all of this to every `ctrd-*` directory of a run directory
//! after a crash. It only touches what is under that directory, processes that reference
//! it or sit in the matching `/nri-e2e/<name>` cgroups, and those cgroups (plus the empty
//! `/nri-e2e` parents); running it again finds nothing more to do.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use cause_chain::Chain;
use sha2::{Digest, Sha256};

use crate::cgroups::{CGROUP_TOP, existing_dirs, remove_tree};
use crate::config::Layout;
use crate::cri::{Cri, CriClient, RemoveAllOutcome};
use crate::daemon::{self, Stopped};
use crate::error::{Error, Result, io_err};
use crate::leaks::{HostView, LeakedProcess, Leaks};
use crate::procfs::ProcessInfo;

/// Prefix of every private containerd directory in a run directory.
pub const PRIVATE_DIR_PREFIX: &str = "ctrd-";

/// Where containerd puts shim sockets whatever its configuration says.
pub const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

/// How long killed processes and busy cgroups get to go away.
const SETTLE: Duration = Duration::from_secs(5);

/// What teardown did and what it could not undo.
#[derive(Debug, Clone)]
pub struct TeardownReport {
    /// The private directory torn down.
    pub private_dir: PathBuf,
    /// The CRI clean-up, if containerd was reachable.
    pub cri: Option<RemoveAllOutcome>,
    /// How containerd ended.
    pub containerd: Stopped,
    /// Processes that had to be killed (shims whose containers could not be removed,
    /// container processes of a crashed run...).
    pub processes_killed: Vec<LeakedProcess>,
    /// Sockets of killed shims removed from [`SHIM_SOCKET_DIR`].
    pub shim_sockets_removed: Vec<PathBuf>,
    /// Mounts unmounted normally.
    pub unmounted: Vec<PathBuf>,
    /// Mounts that stayed busy and were detached (`MNT_DETACH`).
    pub lazily_unmounted: Vec<PathBuf>,
    /// Cgroup directories removed.
    pub cgroups_removed: Vec<PathBuf>,
    /// Whether the private directory was removed.
    pub dir_removed: bool,
    /// Steps that failed.
    pub errors: Vec<String>,
    /// Whether failed CRI calls are acceptable: set by crash cleanup, where containerd may
    /// be dying and the host-side steps remove what CRI could not.
    pub cri_errors_tolerated: bool,
    /// What is left after all steps.
    pub leaks: Leaks,
    /// Wall time of the teardown.
    pub duration: Duration,
}

impl TeardownReport {
    pub(crate) fn new_for(private_dir: &Path) -> Self {
        Self {
            private_dir: private_dir.to_path_buf(),
            cri: None,
            containerd: Stopped::NotRunning,
            processes_killed: Vec::new(),
            shim_sockets_removed: Vec::new(),
            unmounted: Vec::new(),
            lazily_unmounted: Vec::new(),
            cgroups_removed: Vec::new(),
            dir_removed: false,
            errors: Vec::new(),
            cri_errors_tolerated: false,
            leaks: Leaks::default(),
            duration: Duration::ZERO,
        }
    }

    /// No step failed (CRI calls included, unless tolerated) and nothing leaked.
    pub fn is_clean(&self) -> bool {
        let cri_ok =
            self.cri_errors_tolerated || self.cri.as_ref().is_none_or(|c| c.errors.is_empty());
        self.errors.is_empty() && self.leaks.is_empty() && cri_ok
    }
}

impl fmt::Display for TeardownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "teardown of {} in {:.2?}:",
            self.private_dir.display(),
            self.duration
        )?;
        match &self.cri {
            Some(cri) => {
                writeln!(
                    f,
                    "  CRI: removed {} containers and {} pods",
                    cri.containers, cri.pods
                )?;
                for e in &cri.errors {
                    writeln!(f, "  CRI error: {e}")?;
                }
            }
            None => writeln!(f, "  CRI: containerd not reachable")?,
        }
        writeln!(f, "  containerd: {:?}", self.containerd)?;
        for p in &self.processes_killed {
            writeln!(f, "  killed {}: {}", p.pid, p.cmdline)?;
        }
        for s in &self.shim_sockets_removed {
            writeln!(f, "  removed stale shim socket {}", s.display())?;
        }
        writeln!(
            f,
            "  unmounted {} (+{} lazily), removed {} cgroup dirs, directory {}",
            self.unmounted.len(),
            self.lazily_unmounted.len(),
            self.cgroups_removed.len(),
            if self.dir_removed { "removed" } else { "kept" }
        )?;
        for e in &self.errors {
            writeln!(f, "  error: {e}")?;
        }
        if self.leaks.is_empty() {
            write!(f, "  no leaks")
        } else {
            write!(f, "  LEAKS:\n{}", self.leaks)
        }
    }
}

/// Tears down every leftover private containerd directory (`ctrd-*`) under `run_dir`,
/// e.g. after a test process was killed before its `Drop` ran. Call it only when no test
/// uses `run_dir` any more. Idempotent; a missing `run_dir` is fine.
///
/// Returns one report per directory; an error if any of them is not clean.
pub fn cleanup_run_dir(run_dir: &Path) -> Result<Vec<TeardownReport>> {
    let entries = match std::fs::read_dir(run_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(format!("reading {}", run_dir.display()))(e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(format!("reading {}", run_dir.display())))?;
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PRIVATE_DIR_PREFIX));
        // file_type does not follow symlinks: a symlink named ctrd-* is not followed.
        if is_ours && entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    let reports: Vec<TeardownReport> = dirs.iter().map(|dir| cleanup_private_dir(dir)).collect();
    remove_empty_top_cgroups();
    if reports.iter().all(TeardownReport::is_clean) {
        Ok(reports)
    } else {
        Err(Error::CleanupIncomplete {
            reports: reports
                .iter()
                .filter(|r| !r.is_clean())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        })
    }
}

/// Tears down one private containerd directory whose owner is gone (crashed, killed, or
/// leaked with `mem::forget`): CRI removal if containerd still answers, then SIGTERM to
/// it, and every host-side step. Refuses directories not named `ctrd-*`.
pub fn cleanup_private_dir(dir: &Path) -> TeardownReport {
    let is_private = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(PRIVATE_DIR_PREFIX));
    if !is_private {
        let mut report = TeardownReport::new_for(dir);
        report.errors.push(format!(
            "{} is not a private containerd directory ({PRIVATE_DIR_PREFIX}*)",
            dir.display()
        ));
        return report;
    }
    let mut report = teardown_blocking(dir, None, Duration::from_secs(5), Duration::from_secs(10));
    report.cri_errors_tolerated = true;
    report
}

/// Full teardown from synchronous code (Drop, crash cleanup): the CRI step runs on a
/// thread of its own with its own runtime, so this works inside or outside a tokio
/// runtime, and whether or not the caller's runtime can still make progress.
pub(crate) fn teardown_blocking(
    dir: &Path,
    child: Option<&mut Child>,
    grace: Duration,
    cri_timeout: Duration,
) -> TeardownReport {
    let started = Instant::now();
    let socket = Layout::new(dir).grpc_socket();
    let cri = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(remove_all_via_cri(dir, &socket, cri_timeout))
            })
            .join()
            .ok()
            .flatten()
    });
    let mut report = TeardownReport::new_for(dir);
    report.cri = cri;
    teardown_host(dir, child, grace, &mut report);
    report.duration = started.elapsed();
    report
}

/// Step 1 on a fresh connection: `None` if containerd does not answer.
pub(crate) async fn remove_all_via_cri(
    dir: &Path,
    socket: &Path,
    timeout: Duration,
) -> Option<RemoveAllOutcome> {
    if !socket.exists() {
        return None;
    }
    let work = async {
        let client = CriClient::connect(socket, timeout).await.ok()?;
        let run_name = dir.file_name()?.to_string_lossy().into_owned();
        let cri = Cri::new(client, run_name, Layout::new(dir).pod_logs());
        Some(cri.remove_all().await)
    };
    // Bounded as a whole: a wedged containerd must not hang teardown.
    tokio::time::timeout(timeout * 2, work).await.ok().flatten()
}

/// Steps 2 to 7 (synchronous: they wait on processes and the kernel).
pub(crate) fn teardown_host(
    dir: &Path,
    child: Option<&mut Child>,
    grace: Duration,
    report: &mut TeardownReport,
) {
    let host = match HostView::system() {
        Ok(host) => host,
        Err(e) => {
            report.errors.push(e.clone());
            report.leaks.unchecked.push(e);
            return;
        }
    };
    // Shim sockets are named after the shim's arguments; note them while the shims live.
    let shim_sockets: Vec<PathBuf> = match host.owned_processes(dir) {
        Ok(processes) => processes.iter().filter_map(shim_socket_of).collect(),
        Err(e) => {
            report.errors.push(e);
            Vec::new()
        }
    };

    report.containerd = match child {
        Some(child) => match daemon::stop(child, grace) {
            Ok(stopped) => stopped,
            Err(e) => {
                report
                    .errors
                    .push(format!("stopping containerd: {}", Chain(&e)));
                Stopped::NotRunning
            }
        },
        None => stop_orphaned_containerd(&host, dir, grace),
    };

    kill_owned_processes(&host, dir, report);
    for socket in &shim_sockets {
        match std::fs::remove_file(socket) {
            Ok(()) => report.shim_sockets_removed.push(socket.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => report
                .errors
                .push(format!("removing shim socket {}: {e}", socket.display())),
        }
    }
    unmount_all(dir, report);
    remove_run_cgroups(&host, dir, report);
    remove_dir(dir, report);

    report.leaks = match HostView::system() {
        Ok(host) => host.leaks(dir),
        Err(e) => Leaks {
            unchecked: vec![e],
            ..Leaks::default()
        },
    };
    report.leaks.shim_sockets = shim_sockets
        .into_iter()
        .filter(|s| std::fs::symlink_metadata(s).is_ok())
        .collect();
}

/// The socket of a shim from its arguments (`-namespace <ns> -id <id> -address <sock>`):
/// `/run/containerd/s/<sha256 of "<sock>/<ns>/<id>">`, as containerd's shim computes it.
pub fn shim_socket_of(process: &ProcessInfo) -> Option<PathBuf> {
    let program = Path::new(process.cmdline.first()?).file_name()?.to_str()?;
    if !program.starts_with("containerd-shim") {
        return None;
    }
    let arg = |flag: &str| {
        let at = process.cmdline.iter().position(|a| a == flag)?;
        process.cmdline.get(at + 1).map(String::as_str)
    };
    let joined = format!(
        "{}/{}/{}",
        arg("-address")?.trim_end_matches('/'),
        arg("-namespace")?,
        arg("-id")?
    );
    let hash = Sha256::digest(joined.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Some(Path::new(SHIM_SOCKET_DIR).join(hex))
}

/// Crash cleanup: SIGTERM a containerd still running on `dir`, and wait for it.
fn stop_orphaned_containerd(host: &HostView, dir: &Path, grace: Duration) -> Stopped {
    let daemons: Vec<u32> = host
        .owned_processes(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.cmdline
                .first()
                .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == "containerd"))
        })
        .map(|p| p.pid)
        .collect();
    if daemons.is_empty() {
        return Stopped::NotRunning;
    }
    for &pid in &daemons {
        signal(pid, rustix::process::Signal::TERM);
    }
    if wait_gone(host, &daemons, grace) {
        Stopped::Terminated
    } else {
        Stopped::Killed
    }
}

/// SIGKILLs every process owned by `dir` until none is left (they can fork meanwhile).
fn kill_owned_processes(host: &HostView, dir: &Path, report: &mut TeardownReport) {
    for _round in 0..5 {
        let processes = match host.owned_processes(dir) {
            Ok(p) => p,
            Err(e) => {
                report.errors.push(e);
                return;
            }
        };
        if processes.is_empty() {
            return;
        }
        let pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
        for p in processes {
            signal(p.pid, rustix::process::Signal::KILL);
            report.processes_killed.push(LeakedProcess {
                pid: p.pid,
                cmdline: p.cmdline.join(" "),
            });
        }
        wait_gone(host, &pids, SETTLE);
    }
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        // ESRCH: it has exited meanwhile, which is what we want.
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Waits until none of `pids` is alive; false on timeout.
fn wait_gone(host: &HostView, pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pids.iter().any(|&pid| host.proc().is_alive(pid)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unmounts everything below `dir`, deepest first; retries busy mounts, then detaches.
fn unmount_all(dir: &Path, report: &mut TeardownReport) {
    use rustix::mount::{UnmountFlags, unmount};
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let mounts = match HostView::system() {
            Ok(host) => host.mounts_under(dir),
            Err(e) => {
                report.errors.push(e);
                return;
            }
        };
        if mounts.is_empty() {
            return;
        }
        let last_round = round + 1 == ROUNDS;
        for mount in mounts {
            match unmount(&mount, UnmountFlags::empty()) {
                Ok(()) => report.unmounted.push(mount),
                // EINVAL: no longer a mount point (a parent's unmount took it along).
                Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) if last_round => match unmount(&mount, UnmountFlags::DETACH) {
                    Ok(()) => report.lazily_unmounted.push(mount),
                    Err(e2) => report
                        .errors
                        .push(format!("unmounting {}: {e}; lazily: {e2}", mount.display())),
                },
                Err(_) => {}
            }
        }
        if !last_round {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Removes `/nri-e2e/<run name>` in every hierarchy.
fn remove_run_cgroups(host: &HostView, dir: &Path, report: &mut TeardownReport) {
    for cgroup in host.run_cgroups(dir) {
        match remove_tree(&cgroup, SETTLE) {
            Ok(removed) => report.cgroups_removed.extend(removed),
            Err((removed, e)) => {
                report.cgroups_removed.extend(removed);
                report.errors.push(e.to_string());
            }
        }
    }
}

/// Removes the private directory if nothing is mounted below it any more and no earlier
/// step failed (a kept directory lets a later [`cleanup_run_dir`] retry).
fn remove_dir(dir: &Path, report: &mut TeardownReport) {
    if !report.errors.is_empty() {
        return;
    }
    match HostView::system() {
        Ok(host) if host.mounts_under(dir).is_empty() => {}
        Ok(_) => {
            report
                .errors
                .push(format!("{} still has mounts; kept it", dir.display()));
            return;
        }
        Err(e) => {
            report.errors.push(e);
            return;
        }
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => report.dir_removed = true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.dir_removed = true,
        Err(e) => report
            .errors
            .push(format!("removing {}: {e}", dir.display())),
    }
}

/// Removes `/nri-e2e` in every hierarchy if it is empty (rmdir never removes a non-empty
/// cgroup, so a concurrent run's subtree is safe).
fn remove_empty_top_cgroups() {
    if let Ok(host) = HostView::system() {
        for dir in existing_dirs(host.hierarchies(), &format!("/{CGROUP_TOP}")) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(cmdline: &[&str]) -> ProcessInfo {
        ProcessInfo {
            pid: 5,
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            cgroup: String::new(),
            state: 'S',
        }
    }

    #[test]
    fn shim_socket_is_derived_like_containerd_does() {
        let shim = process(&[
            "/opt/ctrd/containerd-shim-runc-v2",
            "-namespace",
            "k8s.io",
            "-id",
            "abc",
            "-address",
            "/run/e2e/ctrd-1-0/containerd.sock",
        ]);
        let expected = Sha256::digest(b"/run/e2e/ctrd-1-0/containerd.sock/k8s.io/abc");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            shim_socket_of(&shim),
            Some(Path::new(SHIM_SOCKET_DIR).join(hex))
        );
        assert_eq!(
            shim_socket_of(&process(&["containerd", "--config", "/x"])),
            None
        );
        assert_eq!(
            shim_socket_of(&process(&["containerd-shim-runc-v2", "-id", "abc"])),
            None
        );
    }

    #[test]
    fn cleanup_of_a_missing_or_foreign_run_dir_touches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(
            cleanup_run_dir(&tmp.path().join("missing"))
                .unwrap()
                .is_empty()
        );
        // Not named ctrd-*, or a symlink: left alone.
        std::fs::create_dir(tmp.path().join("other")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("other"), tmp.path().join("ctrd-link")).unwrap();
        assert!(cleanup_run_dir(tmp.path()).unwrap().is_empty());
        assert!(tmp.path().join("other").is_dir());
        assert!(tmp.path().join("ctrd-link").exists());
    }

    #[test]
    fn cleanup_removes_a_plain_leftover_dir_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let leftover = tmp.path().join("ctrd-999999-0");
        std::fs::create_dir_all(leftover.join("root/some/content")).unwrap();
        std::fs::write(leftover.join("containerd.log"), b"log").unwrap();
        let reports = cleanup_run_dir(tmp.path()).unwrap();
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        assert!(report.is_clean(), "{report}");
        assert!(report.dir_removed);
        assert_eq!(report.containerd, Stopped::NotRunning);
        assert!(report.cri.is_none());
        assert!(!leftover.exists());
        assert!(cleanup_run_dir(tmp.path()).unwrap().is_empty());
    }
}
