//! The guest side of `cargo xtask kernel-matrix`.
//!
//! The runner boots each kernel in QEMU with an initramfs holding the `kernel-matrix-init`
//! binary of this crate as PID 1 and the workspace's kernel-facing test binaries. The
//! init reads its settings from the kernel command line ([`parse_cmdline`]), mounts the
//! cgroup hierarchy of the run's mode, runs every test binary and prints the protocol lines
//! ([`PREFIX`]) the runner parses. Tests learn the run's facts from their environment:
//! [`cgroup_mode`] and [`expected`] (the outcomes the repository's expectation table
//! gives for this kernel, so behaviour that differs between versions is asserted rather
//! than tolerated).
//!
//! ```
//! use kernel_matrix_guest::{CgroupMode, expect_var, parse_cmdline};
//!
//! let settings = parse_cmdline("console=ttyS0 kmatrix.cgroup=v1 kmatrix.expect.cgroup-kill=absent")?;
//! assert_eq!(settings.cgroup, CgroupMode::V1);
//! assert_eq!(expect_var("cgroup-kill"), "KMATRIX_EXPECT_CGROUP_KILL");
//! # Ok::<(), String>(())
//! ```

#![warn(missing_docs)]

mod cmdline;
mod protocol;

pub use cmdline::{CgroupMode, Settings, expect_var, parse as parse_cmdline};
pub use protocol::{Outcome, PREFIX, Verdict, result_line, say};

/// The cgroup mode of this guest run (`KMATRIX_CGROUP`).
///
/// # Panics
/// Outside a kernel-matrix guest (the variable is unset or not `v1`/`v2`): these tests
/// run only through `cargo xtask kernel-matrix`.
pub fn cgroup_mode() -> CgroupMode {
    match std::env::var("KMATRIX_CGROUP").as_deref() {
        Ok("v1") => CgroupMode::V1,
        Ok("v2") => CgroupMode::V2,
        other => panic!(
            "KMATRIX_CGROUP is {other:?}: this test runs in a kernel-matrix guest; run `cargo xtask kernel-matrix`"
        ),
    }
}

/// The expected outcome `key` for this kernel and mode, from the repository's expectation
/// table as the runner passed it.
///
/// # Panics
/// When the table gives no value for this kernel and mode: every kernel-dependent fact a
/// test checks must be written down, so a missing entry fails rather than passes.
pub fn expected(key: &str) -> String {
    let var = expect_var(key);
    std::env::var(&var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: add `{key}` for this kernel and mode to xtask/src/kernel_matrix/expected.txt, and run the test through `cargo xtask kernel-matrix`"
        )
    })
}
