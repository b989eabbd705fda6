//! /dev/kvm: present, and does the KVM API answer.

use super::HostRoot;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

/// What `/dev/kvm` offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvmFacts {
    /// No `/dev/kvm`.
    Absent,
    /// Present but not usable; the reason says what failed.
    Unusable(String),
    /// The KVM API answered and a VM could be created.
    ///
    /// Some hosts (nested, special hypervisors) pass this check yet cannot boot a stock
    /// kernel under KVM, so suites that boot kernels still verify a boot before relying on it.
    Usable { api_version: i32 },
}

const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
const KVM_CREATE_VM: libc::c_ulong = 0xAE01;

/// Opens `/dev/kvm` read-write and asks for the API version, then creates (and drops) a VM.
pub fn probe(root: &HostRoot) -> KvmFacts {
    let path = root.path("/dev/kvm");
    if !path.exists() {
        return KvmFacts::Absent;
    }
    let device = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(device) => device,
        Err(err) => return KvmFacts::Unusable(format!("cannot open {}: {err}", path.display())),
    };
    // SAFETY: both ioctls take no argument and only return an int or a new fd.
    let api_version = unsafe { libc::ioctl(device.as_raw_fd(), KVM_GET_API_VERSION, 0) };
    if api_version < 0 {
        return KvmFacts::Unusable(format!(
            "KVM_GET_API_VERSION failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as above; the returned fd is closed right away.
    let vm = unsafe { libc::ioctl(device.as_raw_fd(), KVM_CREATE_VM, 0) };
    if vm < 0 {
        return KvmFacts::Unusable(format!(
            "KVM_CREATE_VM failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `vm` is a file descriptor we own and no longer use.
    unsafe { libc::close(vm) };
    KvmFacts::Usable { api_version }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn absent_device() {
        assert_eq!(probe(&FixtureRoot::new().root()), KvmFacts::Absent);
    }

    #[test]
    fn a_regular_file_is_not_kvm() {
        let fx = FixtureRoot::new();
        fx.file("/dev/kvm", "");
        match probe(&fx.root()) {
            KvmFacts::Unusable(reason) => {
                assert!(reason.contains("KVM_GET_API_VERSION"), "{reason}")
            }
            other => panic!("expected Unusable, got {other:?}"),
        }
    }
}
