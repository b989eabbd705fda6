//! TCG or KVM: KVM only when a probe boot under it reaches the init (a `/dev/kvm` that
//! opens proves nothing; on some hosts KVM hangs or aborts for stock kernels). The verdict
//! is cached per QEMU version, host kernel and guest kernel, so the probe's cost is paid
//! once.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::guest::{self, End};
use crate::capability::QEMU;
use crate::plan::StepIo;
use crate::provision::cache_dir;

/// How long the probe boot may take before KVM counts as broken.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the probe's console may stay empty: under a working KVM the kernel's early
/// console speaks within a second, while a broken one (as on hosts whose KVM hangs for
/// stock kernels) never does, and waiting the whole [`PROBE_TIMEOUT`] for it cost every
/// fresh checkout half a minute.
const PROBE_FIRST_LINE: Duration = Duration::from_secs(8);
/// The probe's extra kernel arguments: its verdict, and the kernel's own messages from
/// the start (overriding [`BASE_CMDLINE`]'s `quiet`), so a booting guest speaks at once.
const PROBE_APPEND: &str = "kmatrix.probe earlyprintk=serial,ttyS0 loglevel=7";

/// How guests are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: slow, works everywhere.
    Tcg,
    /// Hardware virtualisation.
    Kvm,
}

impl Accel {
    /// QEMU's arguments for it.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Accel::Tcg => &["-accel", "tcg"],
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
        }
    }

    /// `tcg` or `kvm`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }

    /// Parses [`Accel::name`].
    pub fn parse(name: &str) -> Option<Accel> {
        match name.trim() {
            "tcg" => Some(Accel::Tcg),
            "kvm" => Some(Accel::Kvm),
            _ => None,
        }
    }
}

/// The kernel command line every guest starts with: the console on the serial port, a
/// panic ends the guest at once, and no IO-APIC (TCG's timer check can panic with one).
pub const BASE_CMDLINE: &str = "console=ttyS0 panic=-1 noapic quiet";

/// A QEMU command booting `kernel` with `initramfs` and `append` after [`BASE_CMDLINE`].
pub fn qemu(accel: Accel, kernel: &Path, initramfs: &Path, append: &str) -> Command {
    let mut command = Command::new(QEMU);
    command
        .args([
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-serial",
            "stdio",
        ])
        .args(["-m", "1024", "-smp", "1"])
        .args(accel.args())
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .arg("-append")
        .arg(format!("{BASE_CMDLINE} {append}").trim_end());
    command
}

/// Decides the accelerator for this host, probing KVM with `kernel` when it might work.
pub fn decide(
    io: &mut dyn StepIo,
    kernel: &Path,
    release: &str,
    initramfs: &Path,
) -> anyhow::Result<Accel> {
    if !Path::new("/dev/kvm").exists() {
        io.line("accelerator: tcg (no /dev/kvm)");
        return Ok(Accel::Tcg);
    }
    let key = probe_key(release)?;
    let cache = cache_dir()
        .join("kernel-matrix")
        .join(format!("kvm-probe-{release}"));
    if let Some(accel) = std::fs::read_to_string(&cache).ok().and_then(|text| {
        let (cached_key, accel) = text.split_once('\n')?;
        (cached_key == key).then(|| Accel::parse(accel))?
    }) {
        io.line(&format!(
            "accelerator: {} (probed before: {key})",
            accel.name()
        ));
        return Ok(accel);
    }
    io.line(&format!(
        "probing KVM with a boot of {release} (at most {} s, {} s without console output)",
        PROBE_TIMEOUT.as_secs(),
        PROBE_FIRST_LINE.as_secs()
    ));
    let log = crate::project::log_dir().join("kernel-matrix-kvm-probe.console.log");
    let probe = guest::run(
        qemu(Accel::Kvm, kernel, initramfs, PROBE_APPEND),
        guest::Limits::total(PROBE_TIMEOUT).first_line_within(PROBE_FIRST_LINE),
        &log,
        &|| io.check_interrupted().is_err(),
    )?;
    let accel = if probe.end == End::Verdict(true) {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    io.line(&format!(
        "accelerator: {} (the KVM probe {})",
        accel.name(),
        match &probe.end {
            End::Verdict(true) => "booted".to_string(),
            other => format!("did not boot: {other:?}; console in {}", log.display()),
        }
    ));
    if let Some(dir) = cache.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&cache, format!("{key}\n{}", accel.name()))
        .with_context(|| format!("writing {}", cache.display()))?;
    Ok(accel)
}

/// What the probe's verdict depends on: QEMU's version, the host kernel, the guest kernel.
fn probe_key(release: &str) -> anyhow::Result<String> {
    let qemu = Command::new(QEMU)
        .arg("--version")
        .output()
        .with_context(|| format!("running {QEMU} --version"))?;
    let qemu = String::from_utf8_lossy(&qemu.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Ok(format!("{qemu} | host {} | guest {release}", host.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_boot_with_the_serial_console_and_the_chosen_accelerator() {
        let command = qemu(
            Accel::Tcg,
            Path::new("/k/vmlinuz"),
            Path::new("/i.cpio"),
            "kmatrix.cgroup=v1",
        );
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        assert!(line.contains("-serial stdio"), "{line}");
        assert!(line.contains("-accel tcg"), "{line}");
        assert!(
            line.contains("-kernel /k/vmlinuz -initrd /i.cpio"),
            "{line}"
        );
        assert_eq!(
            args.last().map(String::as_str),
            Some("console=ttyS0 panic=-1 noapic quiet kmatrix.cgroup=v1")
        );
        let kvm = qemu(Accel::Kvm, Path::new("/k"), Path::new("/i"), "");
        let kvm: Vec<String> = kvm
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(kvm.join(" ").contains("-accel kvm -cpu host"));
    }

    #[test]
    fn accelerator_names_round_trip() {
        for accel in [Accel::Tcg, Accel::Kvm] {
            assert_eq!(Accel::parse(accel.name()), Some(accel));
        }
        assert_eq!(Accel::parse("hvf"), None);
    }
}
