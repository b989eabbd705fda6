//! The resctrl fake's kernel semantics served as a FUSE mount, so that real binaries (the
//! collector, `nri-resctrl-plugin`) run their real file I/O (`resctrl::RealFs`) on hosts
//! without RDT.
//!
//! There is one model: `resctrl::fake`. This crate only routes the kernel's FUSE requests
//! to it by path, so `mkdir mon_groups/x` creates `tasks` and `mon_data/mon_L3_NN/*` (and
//! `mon_sub_L3_YY/*` under sub-NUMA clustering), a thread id written to `tasks` moves that
//! thread, the RMID limit gives ENOSPC, `rmdir` frees an RMID, an unknown id gives ESRCH,
//! exactly as the in-process fake does. The test steers it through
//! [`StandinHandle::fake`] while the mount is live.
//!
//! It is the only crate that touches FUSE. The mount needs root and `/dev/fuse`; fuser
//! mounts with `mount(2)` itself, so neither libfuse nor `fusermount` is needed.
//!
//! Under the mount point ([`Layout`]): `resctrl/` is the resctrl root, `proc/mounts` the
//! mount table (showing resctrl mounted at that root) and `proc/cpuinfo` the CPU
//! description, so [`StandinHandle::config`] is all a binary needs to be pointed at.
//!
//! ```no_run
//! use resctrl::fake::FakeReading;
//! use resctrl::{MonEvent, Reading, Resctrl};
//! use resctrl_standin::Standin;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let standin = Standin::mount(dir.path(), Standin::builder().num_rmids(8)).unwrap();
//! let rc = Resctrl::new(standin.config()).unwrap(); // the real file system
//! let group = rc.create_group("pod-1").unwrap();
//! standin
//!     .fake()
//!     .set_reading(&group, 0, MonEvent::LlcOccupancy, FakeReading::Value(4096));
//! let readings = rc.read_group_monitoring(&group).unwrap();
//! assert_eq!(readings.domains[0].llc_occupancy, Reading::Value(4096));
//! // Dropping the handle unmounts.
//! ```

#![warn(missing_docs)]

mod error;
mod inodes;
mod layout;
mod serve;
mod standin;
mod tree;

pub use error::{Error, Result};
pub use layout::{CPUINFO_FILE, Layout, MOUNTS_FILE, PROC_DIR, RESCTRL_DIR};
pub use standin::{FUSE_DEVICE, Standin, StandinHandle};
