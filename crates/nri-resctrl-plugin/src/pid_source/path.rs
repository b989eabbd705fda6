//! From what NRI reports to a cgroup directory, relative to a hierarchy's root.
//!
//! The runtime (runc under containerd) interprets `linux.cgroups_path` in one of two ways,
//! depending on the cgroup driver:
//!
//! - cgroupfs: a path, e.g. `/kubepods/besteffort/pod<uid>/<container id>`.
//! - systemd: `parent-slice:prefix:name`, meaning the unit `<prefix>-<name>.scope` under
//!   the parent slice, e.g. `kubepods-besteffort-pod123.slice:cri-containerd:abc` is
//!   `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice/cri-containerd-abc.scope`.
//!
//! The rules below follow runc's (`ExpandSlice`, `getUnitName`, default parent
//! `system.slice`), so the directory is the one the runtime created.

use std::path::{Component, Path, PathBuf};

use crate::info::{ContainerInfo, PodInfo};

/// The unit prefix containerd's CRI plugin uses with the systemd driver.
pub const CRI_CONTAINERD_SCOPE_PREFIX: &str = "cri-containerd";

/// The parent slice runc uses when a systemd path names none.
pub const DEFAULT_SYSTEMD_SLICE: &str = "system.slice";

const SLICE_SUFFIX: &str = ".slice";

/// Why a cgroup path could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgroupPathError {
    /// Neither the container's `cgroups_path` nor the pod's `cgroup_parent` is set.
    #[error(
        "container {container_id} has no cgroups_path and its pod no cgroup_parent; its cgroup is unknown"
    )]
    Unknown {
        /// The container.
        container_id: String,
    },
    /// A systemd slice name is malformed.
    #[error("invalid systemd slice name {slice:?}: {reason}")]
    InvalidSlice {
        /// The slice name.
        slice: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A systemd path is not `parent:prefix:name`.
    #[error("invalid systemd cgroups path {path:?}: expected parent-slice:prefix:name")]
    InvalidSystemdPath {
        /// The path.
        path: String,
    },
    /// A cgroupfs path contains `..` (or starts with `.`), which could point outside the
    /// hierarchy.
    #[error("cgroups path {path:?} must not contain `.` or `..` components")]
    NotNormal {
        /// The path.
        path: String,
    },
}

/// The container's cgroup directory, relative to a hierarchy root (e.g. to
/// `/sys/fs/cgroup` on cgroup v2 or `/sys/fs/cgroup/pids` on v1).
///
/// Uses `container.cgroups_path` when set. When it is empty, derives the path from the
/// pod's `cgroup_parent` the way containerd does: `<parent>/<id>` for cgroupfs, and the
/// `cri-containerd-<id>.scope` unit under the parent for a systemd slice parent.
pub fn container_cgroup_path(
    pod: &PodInfo,
    container: &ContainerInfo,
) -> Result<PathBuf, CgroupPathError> {
    if !container.cgroups_path.is_empty() {
        return cgroups_path_to_dir(&container.cgroups_path);
    }
    let parent = pod.cgroup_parent.as_str();
    if parent.is_empty() {
        return Err(CgroupPathError::Unknown {
            container_id: container.id.clone(),
        });
    }
    if parent.ends_with(SLICE_SUFFIX) && !parent.contains('/') {
        let mut dir = expand_systemd_slice(parent)?;
        dir.push(format!(
            "{CRI_CONTAINERD_SCOPE_PREFIX}-{}.scope",
            container.id
        ));
        Ok(dir)
    } else {
        let mut dir = cgroupfs_dir(parent)?;
        dir.push(&container.id);
        Ok(dir)
    }
}

/// Interprets a runtime `cgroups_path` (systemd triple or cgroupfs path).
fn cgroups_path_to_dir(path: &str) -> Result<PathBuf, CgroupPathError> {
    if !path.contains(':') {
        return cgroupfs_dir(path);
    }
    let parts: Vec<&str> = path.split(':').collect();
    let [parent, prefix, name] = parts.as_slice() else {
        return Err(CgroupPathError::InvalidSystemdPath { path: path.into() });
    };
    if name.is_empty() || name.contains('/') {
        return Err(CgroupPathError::InvalidSystemdPath { path: path.into() });
    }
    let parent = if parent.is_empty() {
        DEFAULT_SYSTEMD_SLICE
    } else {
        parent
    };
    let mut dir = expand_systemd_slice(parent)?;
    // runc: a name that is itself a slice is used as is; otherwise it is a scope unit.
    if name.ends_with(SLICE_SUFFIX) {
        dir.push(name);
    } else {
        dir.push(format!("{prefix}-{name}.scope"));
    }
    Ok(dir)
}

/// A cgroupfs path made relative (absolute paths are relative to the hierarchy root).
fn cgroupfs_dir(path: &str) -> Result<PathBuf, CgroupPathError> {
    let mut dir = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir => {}
            Component::Normal(part) => dir.push(part),
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupPathError::NotNormal { path: path.into() });
            }
        }
    }
    Ok(dir)
}

/// Expands a systemd slice name to its directory, relative to the hierarchy root:
/// `a-b-c.slice` is `a.slice/a-b.slice/a-b-c.slice`, and `-.slice` (the root slice) is the
/// root itself (an empty path). Rejects names runc rejects: no `.slice` suffix, a `/`, an
/// empty dash-separated component (`a--b.slice`, `-a.slice`).
pub fn expand_systemd_slice(slice: &str) -> Result<PathBuf, CgroupPathError> {
    let invalid = |reason| CgroupPathError::InvalidSlice {
        slice: slice.into(),
        reason,
    };
    let Some(stem) = slice.strip_suffix(SLICE_SUFFIX) else {
        return Err(invalid("it does not end with .slice"));
    };
    if slice.contains('/') {
        return Err(invalid("it contains a /"));
    }
    if stem == "-" {
        return Ok(PathBuf::new());
    }
    let mut dir = PathBuf::new();
    let mut prefix = String::new();
    for component in stem.split('-') {
        if component.is_empty() {
            return Err(invalid("it has an empty dash-separated component"));
        }
        dir.push(format!("{prefix}{component}{SLICE_SUFFIX}"));
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::ContainerState;

    fn container(cgroups_path: &str) -> ContainerInfo {
        ContainerInfo::new("abc", "sb", ContainerState::Running).with_cgroups_path(cgroups_path)
    }

    fn pod(parent: &str) -> PodInfo {
        PodInfo::new("sb", "uid").with_cgroup_parent(parent)
    }

    fn dir(pod_: &PodInfo, c: &ContainerInfo) -> String {
        container_cgroup_path(pod_, c)
            .expect("valid path")
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn slices_expand_like_systemd() {
        let cases = [
            ("kubepods.slice", "kubepods.slice"),
            (
                "kubepods-besteffort-pod123.slice",
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice",
            ),
            (
                "kubepods-pod1_2.slice",
                "kubepods.slice/kubepods-pod1_2.slice",
            ),
            ("-.slice", ""),
        ];
        for (slice, want) in cases {
            let got = expand_systemd_slice(slice).expect(slice);
            assert_eq!(got, PathBuf::from(want), "{slice}");
        }
    }

    #[test]
    fn malformed_slices_are_rejected() {
        for bad in [
            "kubepods",
            ".slice",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
        ] {
            assert!(
                matches!(
                    expand_systemd_slice(bad),
                    Err(CgroupPathError::InvalidSlice { .. })
                ),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn cgroupfs_paths_are_made_relative() {
        let p = pod("/kubepods/besteffort/pod123");
        assert_eq!(
            dir(&p, &container("/kubepods/besteffort/pod123/abc")),
            "kubepods/besteffort/pod123/abc"
        );
        assert_eq!(
            dir(&p, &container("/kubepods//pod1/abc/")),
            "kubepods/pod1/abc"
        );
        assert_eq!(dir(&p, &container("relative/abc")), "relative/abc");
    }

    #[test]
    fn cgroupfs_paths_cannot_escape_the_hierarchy() {
        // (`/a/./b` is just `/a/b`: `Path` drops inner `.` components.)
        for bad in ["/kubepods/../../etc", "./x", "a/../../x"] {
            assert!(
                matches!(
                    container_cgroup_path(&pod(""), &container(bad)),
                    Err(CgroupPathError::NotNormal { .. })
                ),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn systemd_triples_name_a_scope_under_the_expanded_slice() {
        let p = pod("kubepods-besteffort-pod123.slice");
        assert_eq!(
            dir(
                &p,
                &container("kubepods-besteffort-pod123.slice:cri-containerd:abc")
            ),
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            dir(&p, &container(":docker:abc")),
            "system.slice/docker-abc.scope",
            "runc's default parent"
        );
        assert_eq!(
            dir(&p, &container("kubepods.slice:x:inner.slice")),
            "kubepods.slice/inner.slice",
            "a slice name is used as is"
        );
    }

    #[test]
    fn malformed_systemd_triples_are_rejected() {
        for bad in ["a.slice:b", "a.slice:b:c:d", "a.slice:p:", "a.slice:p:x/y"] {
            assert!(
                matches!(
                    container_cgroup_path(&pod(""), &container(bad)),
                    Err(CgroupPathError::InvalidSystemdPath { .. })
                ),
                "{bad} should be rejected"
            );
        }
        assert!(matches!(
            container_cgroup_path(&pod(""), &container("notaslice:p:abc")),
            Err(CgroupPathError::InvalidSlice { .. })
        ));
    }

    #[test]
    fn an_empty_cgroups_path_falls_back_to_the_pod_parent() {
        let c = container("");
        assert_eq!(
            dir(&pod("/kubepods/burstable/pod9"), &c),
            "kubepods/burstable/pod9/abc"
        );
        assert_eq!(
            dir(&pod("kubepods-burstable-pod9.slice"), &c),
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            container_cgroup_path(&pod(""), &c),
            Err(CgroupPathError::Unknown {
                container_id: "abc".into()
            })
        );
    }
}
