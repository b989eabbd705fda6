//! Suite `kernel-matrix`: the kernel-facing tests on Debian's kernels 5.10 to newest in
//! QEMU, each in cgroup v2 and v1 mode (see [`crate::kernel_matrix`]). Steps:
//! `provision` (QEMU, kernels), `build` (static test binaries, initramfs, KVM probe), one
//! step per kernel (side by side, a guest per core at most), and an always-run `table`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, FromArgMatches};

use super::{Suite, SuiteCtx};
use crate::capability::{Capability, QEMU};
use crate::kernel_matrix::kernel::{self, Bootable, GuestSettings};
use crate::kernel_matrix::{accel, expected, initramfs, run_dir, table};
use crate::level::{Duration as SuiteDuration, Level};
use crate::plan::Step;
use crate::provision::{apt, kernels};

/// The registry entry.
pub const SUITE: Suite = Suite {
    name: "kernel-matrix",
    about: "Suite: the kernel-facing tests on Debian's kernels 5.10, 6.1, 6.12 and the newest, \
            in QEMU, with cgroup v2 and v1 (needs root; provisions QEMU and the kernels itself).",
    min_level: Level::CheapShort,
    needs: &[Capability::Root],
    duration: SuiteDuration::Short,
    paths: &[
        "crates/resctrl/",
        "crates/nri-resctrl-plugin/src/pid_source/",
        "crates/nri-resctrl-plugin/tests/kernel.rs",
        "crates/kernel-matrix-guest/",
        "xtask/src/kernel_matrix/",
        "xtask/src/suites/kernel_matrix.rs",
        "xtask/src/provision/kernels.rs",
    ],
    args: Some(KernelMatrixArgs::augment_args),
    steps,
};

/// Options of `cargo xtask kernel-matrix`.
#[derive(Args, Debug, Default, PartialEq, Eq)]
struct KernelMatrixArgs {
    /// Run only these kernels (repeatable): 5.10, 6.1, 6.12, newest. Default: all.
    #[arg(long = "kernel", value_name = "NAME", value_parser = kernel_name)]
    kernels: Vec<String>,
    /// Also run a kernel you built (a bzImage), reported as `custom`.
    #[arg(long, value_name = "PATH")]
    kernel_image: Option<PathBuf>,
    /// The deadline of one guest, boot to power-off, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 240)]
    timeout: u64,
    /// Make every guest's init hang, to see a hung guest killed at the deadline.
    #[arg(long, hide = true)]
    guest_hang: bool,
}

fn kernel_name(name: &str) -> Result<String, String> {
    match kernels::KERNELS.iter().find(|k| k.name == name) {
        Some(k) => Ok(k.name.to_string()),
        None => Err(format!(
            "unknown kernel `{name}`; valid: {}",
            kernels::KERNELS
                .iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let args = match ctx.matches {
        Some(matches) => KernelMatrixArgs::from_arg_matches(matches)?,
        None => KernelMatrixArgs {
            timeout: 240,
            ..KernelMatrixArgs::default()
        },
    };
    expected::check(expected::TABLE)?;
    let choices: Vec<kernels::KernelChoice> = kernels::KERNELS
        .iter()
        .copied()
        .filter(|k| args.kernels.is_empty() || args.kernels.iter().any(|n| n == k.name))
        .collect();
    let mut names: Vec<String> = choices.iter().map(|k| k.name.to_string()).collect();
    if args.kernel_image.is_some() {
        names.push("custom".to_string());
    }
    let custom = args.kernel_image.clone();
    let provision = Step::task(
        "kernel-matrix: provision",
        format!(
            "{QEMU} (apt-get if missing); kernels {} from Debian into {}",
            names.join(", "),
            crate::provision::cache_dir()
                .join("kernel-matrix")
                .display()
        ),
        move |io| {
            if which::which(QEMU).is_err() {
                apt::install(io, &["qemu-system-x86"])?;
            }
            let _ = std::fs::remove_dir_all(run_dir());
            for choice in &choices {
                io.check_interrupted()?;
                let fetched = kernels::fetch(io, *choice)?;
                kernel::record(&Bootable {
                    name: fetched.name,
                    release: fetched.release,
                    vmlinuz: fetched.vmlinuz,
                })?;
            }
            if let Some(image) = &custom {
                let release = kernels::image_release(image)?;
                io.line(&format!("custom: {} ({release})", image.display()));
                kernel::record(&Bootable {
                    name: "custom".to_string(),
                    release,
                    vmlinuz: std::fs::canonicalize(image)
                        .with_context(|| format!("finding {}", image.display()))?,
                })?;
            }
            Ok(())
        },
    );
    let probe_kernel = names.first().cloned().context("no kernel selected")?;
    let build = Step::task(
        "kernel-matrix: build",
        format!("{}; the initramfs; the KVM probe", initramfs::describe()),
        move |io| {
            let out = kernel::initramfs_path();
            initramfs::build(io, &out)?;
            let probe = kernel::recorded(&probe_kernel)?;
            let accel = accel::decide(io, &probe.vmlinuz, &probe.release, &out)?;
            let path = kernel::accel_path();
            std::fs::write(&path, accel.name())
                .with_context(|| format!("writing {}", path.display()))
        },
    );
    let settings = GuestSettings {
        timeout: Duration::from_secs(args.timeout),
        hang: args.guest_hang,
    };
    let mut steps = vec![provision, build];
    for name in &names {
        let (owned, settings) = (name.clone(), settings.clone());
        steps.push(
            Step::task(
                format!("kernel-matrix: {name}"),
                format!(
                    "boot {name} with cgroup v2, then v1; each guest at most {} s",
                    args.timeout
                ),
                move |io| kernel::run(io, &owned, &settings),
            )
            .with_junit(kernel::junit_path(name))
            .concurrently("kernel-matrix guests")
            .in_own_lane(),
        );
    }
    let all = names.clone();
    steps.push(
        Step::task(
            "kernel-matrix: table",
            "the matrix of every kernel, mode and test",
            move |io| {
                for line in table::render(&all).lines() {
                    io.line(line);
                }
                Ok(())
            },
        )
        .always(),
    );
    Ok(steps)
}
