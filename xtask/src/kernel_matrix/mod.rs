//! The kernel matrix: the workspace's kernel-facing tests on real kernels in QEMU, each
//! kernel booted once per cgroup mode.
//!
//! The suite (`suites/kernel_matrix.rs`) provisions QEMU and the kernels
//! (`provision/kernels.rs`), builds the guest ([`initramfs`]), boots every kernel in both
//! modes ([`kernel`], over [`guest`] and [`console`]) against the [`expected`] outcomes,
//! and prints the combined table ([`table`]). Steps hand each other files in
//! [`run_dir`].

pub mod accel;
pub mod console;
pub mod cpio;
pub mod expected;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod table;

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use crate::project;

/// A cgroup layout a guest boots with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// The unified hierarchy.
    V2,
    /// One hierarchy per v1 controller.
    V1,
}

impl Mode {
    /// Both, in the order guests boot.
    pub const ALL: [Mode; 2] = [Mode::V2, Mode::V1];

    /// `v2` or `v1`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::V2 => "v2",
            Mode::V1 => "v1",
        }
    }
}

/// Where this run's files go: kernels chosen, the initramfs, results per kernel.
pub fn run_dir() -> PathBuf {
    project::xtask_dir().join("kernel-matrix")
}

/// Guests running at once, at most one per core: TCG is CPU-bound.
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    /// One slot per CPU of this host.
    pub fn per_cpu() -> &'static Slots {
        static SLOTS: std::sync::OnceLock<Slots> = std::sync::OnceLock::new();
        SLOTS.get_or_init(|| Slots {
            free: Mutex::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            freed: Condvar::new(),
        })
    }

    /// Waits for a slot; it is freed when the guard drops.
    pub fn take(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        SlotGuard { slots: self }
    }
}

/// A taken slot.
pub struct SlotGuard<'a> {
    slots: &'a Slots,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.slots.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.slots.freed.notify_one();
    }
}
