//! Which cgroup hierarchies are mounted (the layout is `kernel-formats`'s, read from the
//! mount table under a [`HostRoot`](super::HostRoot)).

pub use kernel_formats::{CgroupLayout, layout};
