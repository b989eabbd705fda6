//! A private, throw-away containerd with NRI enabled, for end-to-end tests.
//!
//! The `nri-e2e` suite uses this crate to start a real containerd (its own root, state,
//! sockets and runc root under one temporary directory), run real pods and containers
//! through CRI, let an NRI plugin connect to the private NRI socket, and observe real thread
//! ids in the containers' cgroups. Everything it creates is removed again: by
//! [`Containerd::shutdown`], by `Drop` (also while a test panics), and, after a crash, by
//! [`cleanup_run_dir`].
//!
//! No registry is used: the sandbox ("pause") image and the workload image are built in
//! Rust from a static busybox binary and imported with `ctr` (`images.rs`).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use containerd_harness::{Assets, Containerd, Options};
//!
//! # async fn example() -> containerd_harness::Result<()> {
//! let assets = Assets::from_env()?; // NRI_E2E_* variables, set by `cargo xtask nri-e2e`
//! let ctrd = Containerd::start(&assets, Options::default()).await?;
//! // ... connect an NRI plugin to ctrd.nri_socket() ...
//! let cri = ctrd.cri();
//! let pod = cri.run_pod("web", "default", "0c6f0bb0-1").await?;
//! let app = cri
//!     .run_container(&pod, "app", ctrd.busybox_image(), &["sh", "-c", "sleep 600 & sleep 600 & wait"])
//!     .await?;
//! // sh and two sleeps: at least three thread ids in the container's cgroup.
//! let threads = cri.wait_cgroup_threads(&app, 3, Duration::from_secs(10)).await?;
//! println!("{threads:?}");
//! let report = ctrd.shutdown().await?; // an error if anything leaked
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! # Interruption (Ctrl-C)
//!
//! nextest forwards SIGINT/SIGTERM to the test processes; a test process killed by a signal
//! does not unwind, so `Drop` does not run. containerd runs in its own process group, so
//! the signal does not reach it: it and its shims keep running until the runner's final,
//! always-run step calls [`cleanup_run_dir`] on the run directory (through the ignored test
//! `tests/cleanup.rs`), which stops them and removes every mount, cgroup and directory left
//! behind. A test that fails by panicking does unwind, and `Drop` tears
//! everything down right away.

#![warn(missing_docs)]

mod assets;
mod cgroups;
mod config;
mod cri;
mod daemon;
mod error;
mod harness;
mod images;
mod leaks;
mod procfs;
mod teardown;

pub use assets::{
    Assets, CONTAINERD_BINARIES, ENV_BUSYBOX, ENV_CONTAINERD_DIR, ENV_RUN_DIR, ENV_RUNC,
};
pub use cgroups::{CGROUP_TOP, CgroupThreads};
pub use config::Layout;
pub use cri::types as cri_types;
pub use cri::{
    ContainerId, Cri, CriClient, IMAGE_SERVICE, PodId, RUN_LABEL, RUNTIME_SERVICE, RemoveAllOutcome,
};
pub use daemon::Stopped;
pub use error::{Error, Result};
pub use harness::{Containerd, Options};
pub use images::{BUSYBOX_IMAGE, PAUSE_IMAGE};
pub use leaks::{LeakedProcess, Leaks, leak_check};
pub use teardown::{
    PRIVATE_DIR_PREFIX, SHIM_SOCKET_DIR, TeardownReport, cleanup_private_dir, cleanup_run_dir,
};
