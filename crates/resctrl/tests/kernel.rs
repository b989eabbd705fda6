//! The resctrl crate on real kernels, run inside `cargo xtask kernel-matrix` guests (QEMU
//! without RDT): what mounting and support detection report there, per kernel as the
//! expectation table says. Outside a guest these are ignored; forced to run, they fail
//! naming what is missing.

use std::path::Path;

use kernel_matrix_guest::expected;
use resctrl::{Config, Error, Resctrl};

/// `variant:ERRNO` for an error, the form the expectation table uses (`io:ENOENT`).
fn outcome(err: &Error) -> String {
    let variant = match err {
        Error::NotMounted { .. } => "not-mounted",
        Error::NoPermission { .. } => "no-permission",
        Error::Capacity { .. } => "capacity",
        Error::Unsupported { .. } => "unsupported",
        Error::Io { .. } => "io",
        _ => "other",
    };
    let errno = match err.io_error().and_then(std::io::Error::raw_os_error) {
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::ENODEV) => "ENODEV",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EBUSY) => "EBUSY",
        Some(libc::EPERM) => "EPERM",
        Some(_) => "other",
        None => "none",
    };
    format!("{variant}:{errno}")
}

fn mount_outcome(root: &Path) -> (String, Error) {
    let rc = Resctrl::new(Config::default().with_root(root)).expect("a valid configuration");
    let err = rc
        .ensure_mounted(true)
        .expect_err("this guest's CPU has no RDT, so resctrl cannot be mounted");
    (outcome(&err), err)
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn mounting_at_the_sysfs_root_fails_as_the_kernel_says_and_names_the_path() {
    let root = Path::new(resctrl::DEFAULT_ROOT);
    let (got, err) = mount_outcome(root);
    assert_eq!(got, expected("resctrl-mount-sysfs"), "{err}");
    assert_eq!(err.path(), Some(root), "{err}");
    assert!(err.to_string().contains("/sys/fs/resctrl"), "{err}");
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn mounting_elsewhere_fails_as_the_kernel_says_and_names_the_path() {
    let root = Path::new("/tmp/kmatrix-resctrl");
    std::fs::create_dir_all(root).expect("creating a mount point in the guest's /tmp");
    let (got, err) = mount_outcome(root);
    assert_eq!(got, expected("resctrl-mount-elsewhere"), "{err}");
    assert_eq!(err.path(), Some(root), "{err}");
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn support_detection_says_why_monitoring_is_unavailable() {
    let rc = Resctrl::new(Config::default()).expect("a valid configuration");
    let support = rc.detect_support().expect("detection reads /proc only");
    assert!(!support.mounted());
    assert!(!support.can_monitor());
    let problems = support.problems().join("; ");
    assert!(
        problems.contains("resctrl is not mounted at /sys/fs/resctrl"),
        "{problems}"
    );
    let cpu_says = if problems.contains("the CPU advertises no RDT monitoring") {
        "no-rdt"
    } else {
        "rdt"
    };
    assert_eq!(cpu_says, expected("resctrl-cpu"), "{problems}");
}
