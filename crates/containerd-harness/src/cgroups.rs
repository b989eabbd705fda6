//! Cgroup hierarchies: where pods go, which threads a container has, and removal.
//!
//! Every pod the harness runs gets a `cgroup_parent` under `/nri-e2e/<run name>`, the
//! harness's own subtree in every hierarchy (cgroupfs driver: a container's cgroup is
//! `<cgroup_parent>/<container id>`). containerd leaves pod-level directories behind, so
//! teardown removes the run's subtree depth-first in each hierarchy. Works on cgroup v1,
//! hybrid (v1 + `unified`) and pure v2 hosts: hierarchies come from the mount table, read
//! by `kernel-formats`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kernel_formats::{
    CgroupMembership, CgroupVersion, Hierarchy, HostRoot, hierarchies, parse_proc_cgroup,
};

use crate::error::{Error, Result};
use crate::procfs::Proc;

/// The harness's top-level cgroup directory name, in every hierarchy.
pub const CGROUP_TOP: &str = "nri-e2e";

/// The cgroup subtree (relative to each hierarchy's root) owned by one private containerd.
pub fn run_subtree(run_name: &str) -> String {
    format!("/{CGROUP_TOP}/{run_name}")
}

/// The hierarchies mounted in this process's mount namespace.
pub fn system_hierarchies() -> Result<Vec<Hierarchy>> {
    let mounts = HostRoot::system()
        .mountinfo()
        .map_err(crate::error::io_err("reading /proc/self/mountinfo"))?;
    Ok(hierarchies(&mounts))
}

/// Directories of cgroup `path` that exist, one per hierarchy that shows it.
pub fn existing_dirs(hierarchies: &[Hierarchy], path: &str) -> Vec<PathBuf> {
    hierarchies
        .iter()
        .filter_map(|h| h.dir_of(path))
        .filter(|d| d.is_dir())
        .collect()
}

/// Whether a `/proc/<pid>/cgroup` text puts the process at or below `subtree` in any
/// hierarchy.
pub fn in_subtree(proc_cgroup: &str, subtree: &str) -> bool {
    parse_proc_cgroup(proc_cgroup).iter().any(|m| {
        m.path == subtree
            || m.path
                .strip_prefix(subtree)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The threads of one cgroup, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupThreads {
    /// The cgroup directory.
    pub cgroup: PathBuf,
    /// Every thread id in it (of all its processes), sorted.
    pub threads: Vec<u32>,
}

/// The thread ids in the cgroup of process `pid`.
///
/// The cgroup is looked up from `/proc/<pid>/cgroup` rather than computed from the
/// configured parent, so it is right whatever path the runtime chose. A v1 hierarchy with
/// real controllers is preferred (its `tasks` lists threads); on pure v2 `cgroup.threads`
/// is read.
pub fn threads_of_pid_cgroup(
    proc: &Proc,
    pid: u32,
    hierarchies: &[Hierarchy],
) -> Result<CgroupThreads> {
    let text = proc
        .cgroup_of(pid)
        .map_err(crate::error::io_err(format!("reading /proc/{pid}/cgroup")))?;
    let memberships = parse_proc_cgroup(&text);
    let rank = |h: &Hierarchy| match h.version {
        CgroupVersion::V1 if h.controllers.iter().any(|c| !c.starts_with("name=")) => 0,
        CgroupVersion::V1 => 1,
        CgroupVersion::V2 => 2,
    };
    let mut candidates: Vec<(&Hierarchy, &CgroupMembership)> = hierarchies
        .iter()
        .filter_map(|h| memberships.iter().find(|m| h.holds(m)).map(|m| (h, m)))
        .collect();
    candidates.sort_by_key(|(h, _)| rank(h));
    let (hierarchy, membership) = candidates.first().ok_or_else(|| Error::NoCgroupHierarchy {
        pid,
        proc_cgroup: text.clone(),
    })?;
    let cgroup = hierarchy
        .dir_of(&membership.path)
        .ok_or_else(|| Error::CgroupOutsideMount {
            pid,
            cgroup: membership.path.clone(),
            mount_point: hierarchy.mount_point.clone(),
            root: hierarchy.root.clone(),
        })?;
    let file = cgroup.join(hierarchy.threads_file());
    let list = std::fs::read_to_string(&file)
        .map_err(crate::error::io_err(format!("reading {}", file.display())))?;
    let mut threads: Vec<u32> = list
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    threads.sort_unstable();
    Ok(CgroupThreads { cgroup, threads })
}

/// Removal of a cgroup tree that did not complete.
#[derive(Debug)]
pub struct RemoveError {
    /// The directory that could not be removed.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

impl std::fmt::Display for RemoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rmdir {}: {}", self.path.display(), self.source)
    }
}

/// Removes the cgroup directory `dir` and everything below it, children first (cgroup
/// directories can only be removed with `rmdir`, one empty level at a time). A missing
/// `dir` is fine. Retries while the kernel still reports the cgroup busy (its last tasks
/// are exiting), up to `patience`. Returns the directories removed.
pub fn remove_tree(
    dir: &Path,
    patience: Duration,
) -> std::result::Result<Vec<PathBuf>, (Vec<PathBuf>, RemoveError)> {
    let deadline = Instant::now() + patience;
    let mut removed = Vec::new();
    loop {
        match remove_tree_once(dir, &mut removed) {
            Ok(()) => return Ok(removed),
            Err(e) if e.source.raw_os_error() == Some(ebusy()) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err((removed, e)),
        }
    }
}

fn remove_tree_once(
    dir: &Path,
    removed: &mut Vec<PathBuf>,
) -> std::result::Result<(), RemoveError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RemoveError { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(err(dir))?;
        // Only real directories are child cgroups; never follow a symlink out of the tree.
        if entry.file_type().map_err(err(&entry.path()))?.is_dir() {
            remove_tree_once(&entry.path(), removed)?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => {
            removed.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(dir)(e)),
    }
}

fn ebusy() -> i32 {
    rustix::io::Errno::BUSY.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_formats::parse_mountinfo;

    #[test]
    fn subtree_membership_is_component_wise() {
        let sub = run_subtree("ctrd-1-0");
        assert!(in_subtree(
            "4:memory:/nri-e2e/ctrd-1-0/pod1/abc\n0::/\n",
            &sub
        ));
        assert!(in_subtree("0::/nri-e2e/ctrd-1-0\n", &sub));
        assert!(!in_subtree("4:memory:/nri-e2e/ctrd-1-01/pod1\n", &sub));
        assert!(!in_subtree("4:memory:/\n0::/user.slice\n", &sub));
    }

    /// A fake /proc and cgroup mount: pid 10 sits in the container cgroup on a hybrid host.
    #[test]
    fn threads_are_read_from_the_preferred_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let proc_dir = tmp.path().join("proc/10");
        std::fs::create_dir_all(&proc_dir).unwrap();
        std::fs::write(
            proc_dir.join("cgroup"),
            "9:name=systemd:/nri-e2e/r/p/c\n4:memory:/nri-e2e/r/p/c\n0::/nri-e2e/r/p/c\n",
        )
        .unwrap();
        let mount = |name: &str| tmp.path().join("cg").join(name);
        for (name, file, content) in [
            ("memory", "tasks", "12\n10\n11\n"),
            ("systemd", "tasks", "10\n"),
            ("unified", "cgroup.threads", "10\n"),
        ] {
            let dir = mount(name).join("nri-e2e/r/p/c");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), content).unwrap();
        }
        let mountinfo = format!(
            "1 0 0:1 / {} rw - cgroup cgroup rw,name=systemd\n2 0 0:2 / {} rw - cgroup2 cgroup2 rw\n3 0 0:3 / {} rw - cgroup cgroup rw,memory\n",
            mount("systemd").display(),
            mount("unified").display(),
            mount("memory").display()
        );
        let hs = hierarchies(&parse_mountinfo(&mountinfo));
        let got = threads_of_pid_cgroup(&Proc::new(tmp.path().join("proc")), 10, &hs).unwrap();
        assert_eq!(got.cgroup, mount("memory").join("nri-e2e/r/p/c"));
        assert_eq!(got.threads, [10, 11, 12]);

        // Pure v2: only the unified hierarchy is mounted.
        let v2_only = hierarchies(&parse_mountinfo(&format!(
            "2 0 0:2 / {} rw - cgroup2 cgroup2 rw\n",
            mount("unified").display()
        )));
        let got = threads_of_pid_cgroup(&Proc::new(tmp.path().join("proc")), 10, &v2_only).unwrap();
        assert_eq!(got.threads, [10]);
    }

    #[test]
    fn remove_tree_removes_children_first_and_tolerates_absence() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("nri-e2e/r");
        std::fs::create_dir_all(top.join("pod1/c1")).unwrap();
        std::fs::create_dir_all(top.join("pod2")).unwrap();
        let removed = remove_tree(&top, Duration::ZERO).unwrap();
        assert_eq!(removed.len(), 4);
        assert_eq!(removed.last().unwrap(), &top);
        assert!(!top.exists());
        assert!(remove_tree(&top, Duration::ZERO).unwrap().is_empty());
    }

    #[test]
    fn remove_tree_reports_what_it_could_not_remove() {
        // On a normal file system a file blocks rmdir, like a task blocks a cgroup's.
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("r");
        std::fs::create_dir_all(top.join("empty")).unwrap();
        std::fs::create_dir_all(top.join("busy")).unwrap();
        std::fs::write(top.join("busy/file"), b"").unwrap();
        let (removed, err) = remove_tree(&top, Duration::ZERO).unwrap_err();
        assert_eq!(err.path, top.join("busy"));
        assert!(removed.contains(&top.join("empty")) || top.join("empty").exists());
    }
}
