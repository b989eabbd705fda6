//! [`CgroupPidSource`]: a container's thread ids, read from its cgroup.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use kernel_formats::CgroupVersion;
use kernel_formats::{HostRoot, PREFERRED_V1_CONTROLLERS, cgroup_dir, find_hierarchy};

use super::PidSource;
use super::path::container_cgroup_path;
use crate::info::{ContainerInfo, PodInfo};

/// Where cgroup file systems are mounted on a normal host.
pub const DEFAULT_CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// cgroup v1 hierarchies [`CgroupPidSource::detect`] tries, in order (see
/// [`kernel_formats::find_hierarchy`]).
pub const V1_CONTROLLERS: [&str; 5] = PREFERRED_V1_CONTROLLERS;

/// Reads a container's thread ids from its cgroup in one hierarchy.
///
/// The container's directory is `<hierarchy>/<path>`, the path computed by
/// [`super::container_cgroup_path`] from what NRI reports. Its threads are those listed
/// in that directory *and in every directory below it*: a container may create cgroups of
/// its own (systemd in a container, v2 threaded subtrees), and on v2 a cgroup with
/// children holds no processes itself.
///
/// A hierarchy need not be mounted from its top: inside a container, `/sys/fs/cgroup/pids`
/// is often the container's own subtree, while cgroup paths (from NRI or
/// `/proc/<pid>/cgroup`) are always relative to the hierarchy's top. The mount root (the
/// subtree mounted, from `/proc/self/mountinfo`) maps one onto the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPidSource {
    hierarchy: PathBuf,
    version: CgroupVersion,
    mount_root: PathBuf,
}

impl CgroupPidSource {
    /// A source reading a cgroup v2 hierarchy mounted at `hierarchy` (e.g. `/sys/fs/cgroup`
    /// or, on a hybrid host, `/sys/fs/cgroup/unified`).
    pub fn v2(hierarchy: impl Into<PathBuf>) -> Self {
        CgroupPidSource {
            hierarchy: hierarchy.into(),
            version: CgroupVersion::V2,
            mount_root: PathBuf::from("/"),
        }
    }

    /// A source reading one cgroup v1 hierarchy mounted at `hierarchy` (e.g.
    /// `/sys/fs/cgroup/pids`).
    pub fn v1(hierarchy: impl Into<PathBuf>) -> Self {
        CgroupPidSource {
            hierarchy: hierarchy.into(),
            version: CgroupVersion::V1,
            mount_root: PathBuf::from("/"),
        }
    }

    /// The same source for a hierarchy mounted from the subtree `root` (a path from the
    /// hierarchy's top, as `/proc/self/mountinfo` gives it) instead of from its top.
    pub fn with_mount_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.mount_root = root.into();
        self
    }

    /// The subtree of the hierarchy mounted at [`hierarchy`](Self::hierarchy) (`/` when
    /// mounted from the top).
    pub fn mount_root(&self) -> &Path {
        &self.mount_root
    }

    /// Picks the hierarchy under `root` (normally [`DEFAULT_CGROUP_ROOT`]) as
    /// [`kernel_formats::find_hierarchy`] does: pure v2, else the first of
    /// [`V1_CONTROLLERS`], else `<root>/unified`.
    ///
    /// The mount root comes from `/proc/self/mountinfo` (`/` when the directory is not a
    /// mount point there, e.g. a fixture). Fails with [`io::ErrorKind::NotFound`] when no
    /// hierarchy is found.
    pub fn detect(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref();
        let (hierarchy, version) = find_hierarchy(root).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no cgroup hierarchy under {}: neither cgroup v2 nor any of the v1 controllers {V1_CONTROLLERS:?}",
                    root.display()
                ),
            )
        })?;
        let found = CgroupPidSource {
            hierarchy,
            version,
            mount_root: PathBuf::from("/"),
        };
        let mounts = HostRoot::system().mountinfo().unwrap_or_default();
        Ok(
            match kernel_formats::mount_root(&mounts, found.hierarchy()) {
                Some(mount_root) => found.with_mount_root(mount_root),
                None => found,
            },
        )
    }

    /// The hierarchy's mount point.
    pub fn hierarchy(&self) -> &Path {
        &self.hierarchy
    }

    /// The hierarchy's cgroup version.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The container's cgroup directory in this hierarchy.
    ///
    /// [`io::ErrorKind::NotFound`] when the container's cgroup lies outside the mounted
    /// subtree (this process cannot see it).
    pub fn cgroup_dir(&self, pod: &PodInfo, container: &ContainerInfo) -> io::Result<PathBuf> {
        let rel = container_cgroup_path(pod, container)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.dir_of(&rel)
    }

    /// Where the cgroup `path` (from the hierarchy's top) is under the mount point.
    pub fn dir_of(&self, path: &Path) -> io::Result<PathBuf> {
        cgroup_dir(&self.hierarchy, &self.mount_root, path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cgroup {} is outside the subtree {} mounted at {}; mount the host's cgroup file system (its top) to see it",
                    Path::new("/").join(path).display(),
                    self.mount_root.display(),
                    self.hierarchy.display()
                ),
            )
        })
    }

    /// The thread ids listed in `dir` and every cgroup below it.
    ///
    /// A missing `dir` is [`io::ErrorKind::NotFound`] (the cgroup vanished, or does not
    /// exist yet); a child cgroup that disappears during the walk is skipped, since its
    /// threads exited or moved.
    pub fn threads_in(&self, dir: &Path) -> io::Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(current) = pending.pop() {
            let top = current == dir;
            match self.read_one(&current, &mut ids, &mut pending) {
                Ok(()) => {}
                Err(e) if !top && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ids)
    }

    /// Appends the ids listed in `dir` and queues its child cgroups.
    fn read_one(
        &self,
        dir: &Path,
        ids: &mut Vec<u32>,
        pending: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        let file = dir.join(self.version.threads_file());
        let text = fs::read_to_string(&file).map_err(|e| with_path(e, &file))?;
        for word in text.split_whitespace() {
            let id = word.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: expected a thread id, found {word:?}", file.display()),
                )
            })?;
            ids.push(id);
        }
        for entry in fs::read_dir(dir).map_err(|e| with_path(e, dir))? {
            let entry = entry.map_err(|e| with_path(e, dir))?;
            if entry.file_type().map_err(|e| with_path(e, dir))?.is_dir() {
                pending.push(entry.path());
            }
        }
        Ok(())
    }
}

impl PidSource for CgroupPidSource {
    fn thread_ids(&self, pod: &PodInfo, container: &ContainerInfo) -> io::Result<Vec<u32>> {
        let dir = self.cgroup_dir(pod, container)?;
        self.threads_in(&dir)
    }
}

/// The subtree of the hierarchy mounted at `mount_point`, from `/proc/self/mountinfo`
/// text: the root of the last entry mounted there (see [`kernel_formats::mount_root`]).
pub fn mount_root(mountinfo: &str, mount_point: &Path) -> Option<PathBuf> {
    kernel_formats::mount_root(&kernel_formats::parse_mountinfo(mountinfo), mount_point)
        .map(Path::to_path_buf)
}

/// The same error (same kind, so `NotFound` stays recognisable) naming the path.
fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::info::ContainerState;

    /// Writes `files` (relative path, contents) under a fresh temporary directory.
    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (rel, contents) in files {
            let path = dir.path().join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("fixture dirs");
            }
            fs::write(&path, contents).expect("fixture file");
        }
        dir
    }

    fn set(ids: Vec<u32>) -> BTreeSet<u32> {
        ids.into_iter().collect()
    }

    const CGROUPFS_POD: &str = "/kubepods/besteffort/pod123";
    const SYSTEMD_SLICE: &str = "kubepods-besteffort-pod123.slice";
    const SYSTEMD_DIR: &str =
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice";

    fn running(cgroups_path: &str) -> ContainerInfo {
        ContainerInfo::new("abc", "sb", ContainerState::Running).with_cgroups_path(cgroups_path)
    }

    #[test]
    fn cgroup_paths_map_through_the_mount_root() {
        let top = CgroupPidSource::v1("/sys/fs/cgroup/pids");
        assert_eq!(
            top.dir_of(Path::new("/kubepods/pod1/c1")).unwrap(),
            Path::new("/sys/fs/cgroup/pids/kubepods/pod1/c1")
        );
        let sub =
            CgroupPidSource::v1("/sys/fs/cgroup/pids").with_mount_root("/libpod_parent/libpod-1");
        assert_eq!(
            sub.dir_of(Path::new("/libpod_parent/libpod-1/nested"))
                .unwrap(),
            Path::new("/sys/fs/cgroup/pids/nested")
        );
        assert_eq!(
            sub.dir_of(Path::new("libpod_parent/libpod-1")).unwrap(),
            Path::new("/sys/fs/cgroup/pids/")
        );
        let err = sub.dir_of(Path::new("/kubepods/pod1/c1")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .contains("outside the subtree /libpod_parent/libpod-1"),
            "{err}"
        );
    }

    #[test]
    fn v1_cgroupfs_reads_every_thread_from_tasks() {
        // `tasks` lists threads (cgroup.procs would list only 100 and 200).
        let fx = fixture(&[
            (
                "pids/kubepods/besteffort/pod123/abc/tasks",
                "100\n101\n102\n200\n201\n",
            ),
            (
                "pids/kubepods/besteffort/pod123/abc/cgroup.procs",
                "100\n200\n",
            ),
            ("pids/kubepods/besteffort/pod123/other/tasks", "999\n"),
        ]);
        let src = CgroupPidSource::v1(fx.path().join("pids"));
        let pod = PodInfo::new("sb", "uid").with_cgroup_parent(CGROUPFS_POD);
        let c = running("/kubepods/besteffort/pod123/abc");
        assert_eq!(
            src.cgroup_dir(&pod, &c).expect("dir"),
            fx.path().join("pids/kubepods/besteffort/pod123/abc")
        );
        let ids = src.thread_ids(&pod, &c).expect("threads");
        assert_eq!(set(ids), BTreeSet::from([100, 101, 102, 200, 201]));
    }

    #[test]
    fn v2_systemd_reads_cgroup_threads_of_the_scope() {
        let scope = format!("{SYSTEMD_DIR}/cri-containerd-abc.scope");
        let fx = fixture(&[
            (&format!("{scope}/cgroup.threads"), "7\n8\n9\n"),
            (&format!("{scope}/cgroup.procs"), "7\n"),
            (&format!("{SYSTEMD_DIR}/cgroup.threads"), ""),
        ]);
        let src = CgroupPidSource::v2(fx.path());
        let pod = PodInfo::new("sb", "uid").with_cgroup_parent(SYSTEMD_SLICE);
        let c = running(&format!("{SYSTEMD_SLICE}:cri-containerd:abc"));
        assert_eq!(
            src.cgroup_dir(&pod, &c).expect("dir"),
            fx.path().join(&scope)
        );
        assert_eq!(
            set(src.thread_ids(&pod, &c).expect("threads")),
            BTreeSet::from([7, 8, 9])
        );
        // The same container found from the pod's parent when cgroups_path is empty.
        assert_eq!(
            set(src.thread_ids(&pod, &running("")).expect("threads")),
            BTreeSet::from([7, 8, 9])
        );
    }

    #[test]
    fn v1_systemd_and_v2_cgroupfs_combinations() {
        let scope = format!("{SYSTEMD_DIR}/cri-containerd-abc.scope");
        let fx = fixture(&[
            (&format!("systemd/{scope}/tasks"), "1\n2\n"),
            ("kubepods/besteffort/pod123/abc/cgroup.threads", "3\n4\n"),
        ]);
        let pod = PodInfo::new("sb", "uid");
        let v1 = CgroupPidSource::v1(fx.path().join("systemd"));
        let ids = v1
            .thread_ids(
                &pod,
                &running(&format!("{SYSTEMD_SLICE}:cri-containerd:abc")),
            )
            .expect("v1 systemd");
        assert_eq!(set(ids), BTreeSet::from([1, 2]));
        let v2 = CgroupPidSource::v2(fx.path());
        let ids = v2
            .thread_ids(&pod, &running("/kubepods/besteffort/pod123/abc"))
            .expect("v2 cgroupfs");
        assert_eq!(set(ids), BTreeSet::from([3, 4]));
    }

    #[test]
    fn threads_in_nested_cgroups_are_included() {
        let fx = fixture(&[
            ("c/cgroup.threads", ""),
            ("c/init.scope/cgroup.threads", "10\n"),
            ("c/workers/cgroup.threads", "11\n12\n"),
            ("c/workers/deep/cgroup.threads", "13\n"),
        ]);
        let src = CgroupPidSource::v2(fx.path());
        let ids = src.threads_in(&fx.path().join("c")).expect("walk");
        assert_eq!(set(ids), BTreeSet::from([10, 11, 12, 13]));
    }

    #[test]
    fn a_vanished_cgroup_is_not_found_and_garbage_is_invalid_data() {
        let fx = fixture(&[("bad/tasks", "12\nxyz\n")]);
        let src = CgroupPidSource::v1(fx.path());
        let err = src
            .threads_in(&fx.path().join("gone"))
            .expect_err("missing cgroup");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("gone"), "{err}");
        let err = src.threads_in(&fx.path().join("bad")).expect_err("garbage");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let err = src
            .thread_ids(&PodInfo::new("sb", "uid"), &running(""))
            .expect_err("no path at all");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn detect_prefers_pure_v2_then_v1_controllers_then_unified() {
        let v2 = fixture(&[("cgroup.controllers", "cpu memory pids\n")]);
        let src = CgroupPidSource::detect(v2.path()).expect("v2");
        assert_eq!(
            (src.hierarchy(), src.version()),
            (v2.path(), CgroupVersion::V2)
        );

        let hybrid = fixture(&[
            ("memory/tasks", "1\n"),
            ("unified/cgroup.controllers", ""),
            ("cpu/tasks", "1\n"),
        ]);
        let src = CgroupPidSource::detect(hybrid.path()).expect("hybrid");
        assert_eq!(src.hierarchy(), hybrid.path().join("memory"));
        assert_eq!(src.version(), CgroupVersion::V1);

        let unified_only = fixture(&[("unified/cgroup.controllers", "")]);
        let src = CgroupPidSource::detect(unified_only.path()).expect("unified");
        assert_eq!(src.hierarchy(), unified_only.path().join("unified"));
        assert_eq!(src.version(), CgroupVersion::V2);

        let empty = fixture(&[]);
        let err = CgroupPidSource::detect(empty.path()).expect_err("nothing mounted");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
