//! Where a container's thread ids come from.
//!
//! [`PidSource`] is the seam: [`CgroupPidSource`] reads the container's cgroup on the
//! host, [`ScriptedPidSource`] serves scripted answers in tests. Thread ids, not process
//! ids: resctrl moves exactly the thread written to `tasks`, so every thread of every
//! process of the container must be listed.

mod cgroup;
mod path;
mod scripted;

use std::io;

pub use cgroup::{CgroupPidSource, CgroupVersion, DEFAULT_CGROUP_ROOT, V1_CONTROLLERS, mount_root};
pub use path::{
    CRI_CONTAINERD_SCOPE_PREFIX, CgroupPathError, DEFAULT_SYSTEMD_SLICE, container_cgroup_path,
    expand_systemd_slice,
};
pub use scripted::ScriptedPidSource;

use crate::info::{ContainerInfo, PodInfo};

/// Supplies the thread ids of a container's processes.
pub trait PidSource {
    /// Every thread id currently in the container, in any order.
    ///
    /// An error of kind [`io::ErrorKind::NotFound`] means the container's cgroup does not
    /// exist (not created yet, or already removed). The core treats any error as "this
    /// container cannot be placed now" and retries it later.
    fn thread_ids(&self, pod: &PodInfo, container: &ContainerInfo) -> io::Result<Vec<u32>>;
}

impl<T: PidSource + ?Sized> PidSource for Box<T> {
    fn thread_ids(&self, pod: &PodInfo, container: &ContainerInfo) -> io::Result<Vec<u32>> {
        (**self).thread_ids(pod, container)
    }
}
