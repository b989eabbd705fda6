//! The kernel's text formats this workspace reads, parsed in one place.
//!
//! resctrl, containerd-harness, the NRI plugin and xtask all look at the same few files:
//! the mount table (`/proc/mounts`), `/proc/<pid>/mountinfo` and `/proc/<pid>/cgroup`, and
//! from them the cgroup layout (v1, v2 or hybrid) and where a cgroup lives on disk. This
//! crate is the only parser of those formats. Where `procfs-core` parses a format
//! correctly it does the splitting (mountinfo fields and optional fields,
//! `/proc/<pid>/cgroup`); what it lacks is here: the kernel's octal escapes in paths, the
//! mount table (its decoder misses `\040`), cgroup hierarchies and layout, and mapping a
//! cgroup path through a hierarchy's mount root.
//!
//! Every read goes through a [`HostRoot`], so tests and a kernel-matrix guest point it at
//! fixture files or at a guest's own `/`.
//!
//! ```
//! use std::path::Path;
//!
//! use kernel_formats::{CgroupVersion, hierarchies, parse_mountinfo};
//!
//! let mountinfo = "\
//! 32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
//! 41 31 0:38 /kubepods /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
//! ";
//! let found = hierarchies(&parse_mountinfo(mountinfo));
//! assert_eq!(found[0].controllers, ["memory"]);
//! assert_eq!(found[1].version, CgroupVersion::V2);
//! assert_eq!(
//!     found[1].dir_of("/kubepods/pod1"),
//!     Some(Path::new("/sys/fs/cgroup/unified/pod1").to_path_buf())
//! );
//! ```

#![warn(missing_docs)]

mod cgroup;
mod escape;
#[cfg(test)]
mod fixture;
mod mountinfo;
mod mounts;
mod proc_cgroup;
mod root;

pub use cgroup::{
    CgroupLayout, CgroupVersion, Hierarchy, PREFERRED_V1_CONTROLLERS, cgroup_dir, find_hierarchy,
    hierarchies, layout,
};
pub use escape::unescape;
pub use mountinfo::{MountInfo, mount_root, parse_mountinfo};
pub use mounts::{MountEntry, mount_at, parse_mounts};
pub use proc_cgroup::{CgroupMembership, parse_proc_cgroup};
pub use root::HostRoot;
