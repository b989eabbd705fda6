//! Cgroup hierarchies and the host's cgroup layout (v1, v2 or hybrid), and where a cgroup
//! path lies on disk.
//!
//! A hierarchy need not be mounted from its top: inside a container `/sys/fs/cgroup/pids`
//! is often the container's own subtree, while cgroup paths (from NRI or
//! `/proc/<pid>/cgroup`) are always relative to the hierarchy's top. The mount root (from
//! mountinfo) maps one onto the other: [`cgroup_dir`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::mountinfo::MountInfo;
use crate::mounts::MountEntry;
use crate::proc_cgroup::CgroupMembership;
use crate::root::HostRoot;

/// cgroup v1 or v2, which decides the file that lists a cgroup's thread ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupVersion {
    /// cgroup v1: a hierarchy with its own controllers (or a named one such as
    /// `name=systemd`); `tasks` lists the thread ids of a cgroup.
    V1,
    /// cgroup v2, the unified hierarchy: `cgroup.threads` lists the thread ids of a cgroup.
    V2,
}

impl CgroupVersion {
    /// The file in each cgroup directory that lists its thread ids.
    pub fn threads_file(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "tasks",
            CgroupVersion::V2 => "cgroup.threads",
        }
    }
}

/// Per-superblock options of a v1 cgroup mount that are not controllers (the kernel's
/// `cgroup1_show_options`, plus `rw`/`ro`).
const V1_NON_CONTROLLER_OPTIONS: [&str; 8] = [
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
    "release_agent",
];

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The cgroup mounted there (`/` when mounted from the top).
    pub root: PathBuf,
    /// v1 controllers, including `name=...`, sorted; empty for v2.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    /// The directory of cgroup `path` (as written in `/proc/<pid>/cgroup`), if this mount
    /// shows it.
    pub fn dir_of(&self, path: impl AsRef<Path>) -> Option<PathBuf> {
        cgroup_dir(&self.mount_point, &self.root, path.as_ref())
    }

    /// The file listing every thread id of a cgroup.
    pub fn threads_file(&self) -> &'static str {
        self.version.threads_file()
    }

    /// Whether a line of `/proc/<pid>/cgroup` names a cgroup of this hierarchy.
    pub fn holds(&self, membership: &CgroupMembership) -> bool {
        match self.version {
            CgroupVersion::V2 => membership.hierarchy_id == 0 && membership.controllers.is_empty(),
            CgroupVersion::V1 => {
                !membership.controllers.is_empty()
                    && membership
                        .controllers
                        .iter()
                        .all(|c| self.controllers.contains(c))
            }
        }
    }
}

/// The cgroup hierarchies in a mountinfo table, one per file system (bind mounts of the
/// same hierarchy are skipped), in mount order.
pub fn hierarchies(mounts: &[MountInfo]) -> Vec<Hierarchy> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for mount in mounts {
        let version = match mount.fs_type.as_str() {
            "cgroup" => CgroupVersion::V1,
            "cgroup2" => CgroupVersion::V2,
            _ => continue,
        };
        if seen.contains(&mount.device) {
            continue;
        }
        seen.push(mount.device.clone());
        let controllers = match version {
            CgroupVersion::V2 => Vec::new(),
            CgroupVersion::V1 => mount
                .super_options
                .iter()
                .filter(|option| {
                    let key = option.split('=').next().unwrap_or_default();
                    !key.is_empty() && !V1_NON_CONTROLLER_OPTIONS.contains(&key)
                })
                .cloned()
                .collect(),
        };
        out.push(Hierarchy {
            version,
            mount_point: mount.mount_point.clone(),
            root: mount.root.clone(),
            controllers,
        });
    }
    out
}

/// Where cgroup `path` (from the hierarchy's top; a leading `/` is optional) lies under a
/// hierarchy mounted at `mount_point` from the subtree `mount_root`; `None` when the path
/// is outside that subtree, so this mount does not show it.
pub fn cgroup_dir(mount_point: &Path, mount_root: &Path, path: &Path) -> Option<PathBuf> {
    let from_top = Path::new("/").join(path);
    let below_root = from_top.strip_prefix(mount_root).ok()?;
    Some(mount_point.join(below_root))
}

/// The cgroup layout of a host, from its mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Only the unified (v2) hierarchy, at the given mount point.
    V2 {
        /// Where it is mounted.
        mount_point: PathBuf,
    },
    /// v1 hierarchies, possibly with a v2 hierarchy beside them (hybrid).
    V1 {
        /// Mount points of the v1 hierarchies.
        hierarchies: Vec<PathBuf>,
        /// Mount point of the v2 hierarchy, on a hybrid host.
        unified: Option<PathBuf>,
    },
    /// No cgroup file system is mounted.
    None,
}

impl CgroupLayout {
    /// The layout a mount table shows.
    pub fn of(mounts: &[MountEntry]) -> Self {
        let unified = mounts
            .iter()
            .find(|m| m.fstype == "cgroup2")
            .map(|m| m.mount_point.clone());
        let hierarchies: Vec<PathBuf> = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .map(|m| m.mount_point.clone())
            .collect();
        match (hierarchies.is_empty(), unified) {
            (true, Some(mount_point)) => CgroupLayout::V2 { mount_point },
            (false, unified) => CgroupLayout::V1 {
                hierarchies,
                unified,
            },
            (true, None) => CgroupLayout::None,
        }
    }
}

impl fmt::Display for CgroupLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupLayout::V2 { mount_point } => {
                write!(f, "v2 (unified at {})", mount_point.display())
            }
            CgroupLayout::V1 {
                hierarchies,
                unified: Some(unified),
            } => write!(
                f,
                "v1 hybrid ({} controllers; v2 at {})",
                hierarchies.len(),
                unified.display()
            ),
            CgroupLayout::V1 {
                hierarchies,
                unified: None,
            } => write!(f, "v1 ({} controllers)", hierarchies.len()),
            CgroupLayout::None => f.write_str("not mounted"),
        }
    }
}

/// The cgroup layout of the host at `root`, from its `/proc/mounts`; an unreadable table
/// is an empty one, so the layout is [`CgroupLayout::None`].
pub fn layout(root: &HostRoot) -> CgroupLayout {
    CgroupLayout::of(&root.mounts().unwrap_or_default())
}

/// cgroup v1 hierarchies [`find_hierarchy`] tries, in order. The runtime puts a
/// container into every v1 hierarchy, so any one holds all its threads; these are the
/// ones Kubernetes nodes always have (`systemd` is the named hierarchy of systemd hosts).
pub const PREFERRED_V1_CONTROLLERS: [&str; 5] = ["pids", "memory", "cpu", "cpuacct", "systemd"];

/// The hierarchy to read container threads from under the cgroup directory `dir`
/// (normally `/sys/fs/cgroup`), judged by the files the kernel puts in a hierarchy:
///
/// 1. pure v2 (`<dir>/cgroup.controllers` exists): `dir` itself;
/// 2. v1 or hybrid: the first of [`PREFERRED_V1_CONTROLLERS`] mounted under `dir` (the
///    runtime always places containers in the v1 hierarchies, while on hybrid hosts
///    whether it also uses `unified/` depends on its version and settings);
/// 3. otherwise `<dir>/unified` if it is a v2 hierarchy.
///
/// `None` when there is none of these.
pub fn find_hierarchy(dir: &Path) -> Option<(PathBuf, CgroupVersion)> {
    if dir.join("cgroup.controllers").is_file() {
        return Some((dir.to_path_buf(), CgroupVersion::V2));
    }
    for controller in PREFERRED_V1_CONTROLLERS {
        let hierarchy = dir.join(controller);
        if hierarchy.join(CgroupVersion::V1.threads_file()).is_file() {
            return Some((hierarchy, CgroupVersion::V1));
        }
    }
    let unified = dir.join("unified");
    unified
        .join("cgroup.controllers")
        .is_file()
        .then_some((unified, CgroupVersion::V2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::parse_mountinfo;
    use crate::mounts::parse_mounts;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 31 0:32 / /mnt/memory-again rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn a_hybrid_host_has_one_hierarchy_per_file_system() {
        let hs = hierarchies(&parse_mountinfo(HYBRID));
        assert_eq!(hs.len(), 4, "{hs:?}");
        assert_eq!(hs[0].controllers, ["cpu"]);
        assert_eq!(hs[1].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(hs[3].version, CgroupVersion::V2);
        assert!(hs[3].controllers.is_empty());
        assert_eq!(hs[3].threads_file(), "cgroup.threads");
        assert_eq!(hs[0].threads_file(), "tasks");
    }

    #[test]
    fn v1_super_options_that_are_not_controllers_are_left_out() {
        let hs = hierarchies(&parse_mountinfo(
            "1 0 0:1 / /cg/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd\n\
             2 0 0:2 / /cg/cpuset rw - cgroup cgroup ro,noprefix,clone_children,cpuset_v2_mode,favordynmods,cpuset\n\
             3 0 0:3 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n",
        ));
        assert_eq!(hs[0].controllers, ["name=systemd"]);
        assert_eq!(hs[1].controllers, ["cpuset"]);
        assert_eq!(hs[2].controllers, ["cpu", "cpuacct"]);
    }

    #[test]
    fn a_hierarchy_holds_the_memberships_of_its_controllers() {
        let hs = hierarchies(&parse_mountinfo(HYBRID));
        let line = |id, controllers: &[&str]| CgroupMembership {
            hierarchy_id: id,
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            path: "/x".into(),
        };
        assert!(hs[1].holds(&line(4, &["memory"])));
        assert!(!hs[1].holds(&line(3, &["cpu"])));
        assert!(hs[2].holds(&line(9, &["name=systemd"])));
        assert!(hs[3].holds(&line(0, &[])));
        assert!(!hs[3].holds(&line(4, &["memory"])));
        assert!(!hs[0].holds(&line(0, &[])));
    }

    #[test]
    fn a_cgroup_path_maps_through_the_mount_root() {
        let hs = hierarchies(&parse_mountinfo(HYBRID));
        assert_eq!(
            hs[1].dir_of("/nri-e2e/r/pod1/c1"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/nri-e2e/r/pod1/c1"))
        );
        let sub = Path::new("/libpod_parent/libpod-1");
        let pids = Path::new("/sys/fs/cgroup/pids");
        assert_eq!(
            cgroup_dir(pids, sub, Path::new("/libpod_parent/libpod-1/nested")),
            Some(PathBuf::from("/sys/fs/cgroup/pids/nested"))
        );
        // Relative to the top, with or without the leading slash.
        assert_eq!(
            cgroup_dir(pids, sub, Path::new("libpod_parent/libpod-1")),
            Some(PathBuf::from("/sys/fs/cgroup/pids/"))
        );
        assert_eq!(cgroup_dir(pids, sub, Path::new("/kubepods/pod1")), None);
        // Component-wise: a sibling with a longer name is outside.
        assert_eq!(
            cgroup_dir(pids, sub, Path::new("/libpod_parent/libpod-10")),
            None
        );
    }

    #[test]
    fn a_container_sees_its_own_subtree_at_the_mount_point() {
        let hs = hierarchies(&parse_mountinfo(
            "1 0 0:1 /kubepods /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        ));
        assert_eq!(
            hs[0].dir_of("/kubepods/pod1"),
            Some(PathBuf::from("/sys/fs/cgroup/pod1"))
        );
        assert_eq!(hs[0].dir_of("/elsewhere"), None);
    }

    #[test]
    fn a_hybrid_mount_table_is_v1_with_the_unified_hierarchy_beside_it() {
        let layout = CgroupLayout::of(&parse_mounts(
            "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n\
             cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n\
             cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n",
        ));
        assert_eq!(
            layout.to_string(),
            "v1 hybrid (2 controllers; v2 at /sys/fs/cgroup/unified)"
        );
    }

    #[test]
    fn a_v1_only_mount_table_is_v1_without_unified() {
        let layout = CgroupLayout::of(&parse_mounts(
            "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n",
        ));
        assert_eq!(layout.to_string(), "v1 (1 controllers)");
    }

    #[test]
    fn a_pure_v2_mount_table_is_v2_and_none_is_not_mounted() {
        let fx =
            crate::fixture::files(&[("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")]);
        assert_eq!(
            layout(&HostRoot::at(fx.path())),
            CgroupLayout::V2 {
                mount_point: "/sys/fs/cgroup".into()
            }
        );
        let none = CgroupLayout::of(&parse_mounts("proc /proc proc rw 0 0\n"));
        assert_eq!(none, CgroupLayout::None);
        assert_eq!(none.to_string(), "not mounted");
        assert_eq!(
            layout(&HostRoot::at(fx.path().join("missing"))),
            CgroupLayout::None
        );
    }

    /// Empty `files` under a fresh directory.
    fn tree(files: &[&str]) -> tempfile::TempDir {
        let empty: Vec<(&str, &str)> = files.iter().map(|f| (*f, "")).collect();
        crate::fixture::files(&empty)
    }

    #[test]
    fn find_hierarchy_takes_pure_v2_first() {
        let v2 = tree(&["cgroup.controllers", "memory/tasks"]);
        assert_eq!(
            find_hierarchy(v2.path()),
            Some((v2.path().to_path_buf(), CgroupVersion::V2))
        );
    }

    #[test]
    fn find_hierarchy_takes_a_preferred_v1_controller_on_a_hybrid_host() {
        let hybrid = tree(&["memory/tasks", "unified/cgroup.controllers", "cpu/tasks"]);
        assert_eq!(
            find_hierarchy(hybrid.path()),
            Some((hybrid.path().join("memory"), CgroupVersion::V1))
        );
    }

    #[test]
    fn find_hierarchy_falls_back_to_unified_and_else_finds_nothing() {
        let unified = tree(&["unified/cgroup.controllers", "freezer/tasks"]);
        assert_eq!(
            find_hierarchy(unified.path()),
            Some((unified.path().join("unified"), CgroupVersion::V2))
        );
        assert_eq!(find_hierarchy(tree(&[]).path()), None);
    }
}
