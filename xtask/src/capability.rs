//! Host capabilities that heavy suites declare they need, checked against probes of this host.

use std::cell::OnceCell;
use std::fmt;
use std::process::Command;

use crate::probe::cgroups::{self, CgroupLayout};
use crate::probe::engine::{self, EngineFacts};
use crate::probe::tools::{self, ToolVersion};
use crate::probe::{HostRoot, containerd, identity, kvm, perf, resctrl};

/// Something a suite needs from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Running as root (mounts, cgroups, containerd).
    Root,
    /// A mounted cgroup hierarchy (v1 or v2).
    Cgroups,
    /// resctrl with cache-occupancy monitoring (RDT CMT), mounted or mountable.
    ResctrlMonitoring,
    /// A container engine (podman or docker) that can run a container.
    ContainerEngine,
    /// `qemu-system-x86_64` to boot kernels.
    Qemu,
    /// A working `/dev/kvm` (faster kernel boots).
    Kvm,
    /// `/dev/fuse`, to mount the resctrl stand-in.
    Fuse,
    /// Hardware performance counters (a core PMU).
    PerfCounters,
    /// The `collector` image (`cargo xtask container build --target collector`) on an
    /// engine that runs containers.
    CollectorImage,
}

impl Capability {
    /// Every capability, in the order `doctor` lists them.
    pub const ALL: [Capability; 9] = [
        Capability::Root,
        Capability::Cgroups,
        Capability::ResctrlMonitoring,
        Capability::ContainerEngine,
        Capability::Qemu,
        Capability::Kvm,
        Capability::Fuse,
        Capability::PerfCounters,
        Capability::CollectorImage,
    ];

    /// Short name used in plans and reports.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Root => "root",
            Capability::Cgroups => "cgroups",
            Capability::ResctrlMonitoring => "resctrl-monitoring",
            Capability::ContainerEngine => "container-engine",
            Capability::Qemu => "qemu",
            Capability::Kvm => "kvm",
            Capability::Fuse => "fuse",
            Capability::PerfCounters => "perf-counters",
            Capability::CollectorImage => "collector-image",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// This host, probed lazily and at most once per fact.
pub struct Host {
    root: HostRoot,
    euid: OnceCell<Option<u32>>,
    cgroups: OnceCell<CgroupLayout>,
    resctrl: OnceCell<resctrl::ResctrlFacts>,
    perf: OnceCell<perf::PerfFacts>,
    kvm: OnceCell<kvm::KvmFacts>,
    qemu: OnceCell<Result<ToolVersion, String>>,
    engines: OnceCell<Vec<EngineFacts>>,
    collector_image: OnceCell<Result<(), String>>,
    containerd: OnceCell<containerd::ContainerdFacts>,
}

/// The QEMU binary the kernel suites boot with.
pub const QEMU: &str = "qemu-system-x86_64";

/// Where `Host::system` reads host files instead of `/` when set (as `doctor --root` does):
/// the runner's tests point it at fixture files to get the same plan on any machine.
pub const HOST_ROOT_ENV: &str = "XTASK_HOST_ROOT";

impl Host {
    /// The real host (read under `$XTASK_HOST_ROOT` when that is set).
    pub fn system() -> Self {
        match std::env::var_os(HOST_ROOT_ENV).filter(|dir| !dir.is_empty()) {
            Some(dir) => Self::at(HostRoot::at(dir)),
            None => Self::at(HostRoot::system()),
        }
    }

    /// A host whose files are read under `root`; tools are still probed from `PATH`.
    pub fn at(root: HostRoot) -> Self {
        Host {
            root,
            euid: OnceCell::new(),
            cgroups: OnceCell::new(),
            resctrl: OnceCell::new(),
            perf: OnceCell::new(),
            kvm: OnceCell::new(),
            qemu: OnceCell::new(),
            engines: OnceCell::new(),
            collector_image: OnceCell::new(),
            containerd: OnceCell::new(),
        }
    }

    /// A host read entirely from fixture files: tool-based probes report the tools absent,
    /// so results do not depend on what the test machine has installed.
    #[cfg(test)]
    pub fn fixture(root: HostRoot) -> Self {
        let host = Self::at(root);
        let _ = host.qemu.set(Err(format!("{QEMU} not found on PATH")));
        let _ = host.engines.set(Vec::new());
        let _ = host.collector_image.set(Err(
            "no container engine to hold the collector image".to_string()
        ));
        let _ = host.containerd.set(containerd::ContainerdFacts {
            binary: Err("containerd not found on PATH".to_string()),
            version: None,
            nri_socket: containerd::nri_socket_present(host.root()),
        });
        host
    }

    /// The root file probes read under.
    pub fn root(&self) -> &HostRoot {
        &self.root
    }

    /// The effective uid, if known.
    pub fn euid(&self) -> Option<u32> {
        *self
            .euid
            .get_or_init(|| identity::effective_uid(&self.root))
    }

    /// The cgroup layout.
    pub fn cgroups(&self) -> &CgroupLayout {
        self.cgroups.get_or_init(|| cgroups::layout(&self.root))
    }

    /// resctrl facts.
    pub fn resctrl(&self) -> &resctrl::ResctrlFacts {
        self.resctrl.get_or_init(|| resctrl::probe(&self.root))
    }

    /// Performance-counter facts.
    pub fn perf(&self) -> &perf::PerfFacts {
        self.perf.get_or_init(|| perf::probe(&self.root))
    }

    /// /dev/kvm facts.
    pub fn kvm(&self) -> &kvm::KvmFacts {
        self.kvm.get_or_init(|| kvm::probe(&self.root))
    }

    /// QEMU's version, or why it is not usable.
    pub fn qemu(&self) -> &Result<ToolVersion, String> {
        self.qemu
            .get_or_init(|| tools::version(QEMU, &["--version"]))
    }

    /// Installed container engines (slow: may run a container), probed with the settings
    /// the runner itself uses for them (podman's `CONTAINERS_CONF`).
    pub fn engines(&self) -> &[EngineFacts] {
        self.engines.get_or_init(|| {
            let podman_env = crate::container::engine::podman_env().unwrap_or_default();
            engine::probe(&|name: &str, command: &mut Command| {
                if name == "podman" {
                    command.envs(podman_env.iter().map(|(k, v)| (k, v)));
                }
            })
        })
    }

    /// Whether the `collector` image is on an engine that runs containers, or why not.
    pub fn collector_image(&self) -> &Result<(), String> {
        self.collector_image.get_or_init(|| {
            let image = crate::container::Target::Collector.image();
            let Some(engine) = self.engines().iter().find(|e| e.runs_containers.is_ok()) else {
                return Err(format!(
                    "no container engine runs containers here, so {image} cannot run: install one with `apt-get install podman runc`"
                ));
            };
            let podman_env = crate::container::engine::podman_env().unwrap_or_default();
            engine::image_present(engine.name, &image, &|name: &str, command: &mut Command| {
                if name == "podman" {
                    command.envs(podman_env.iter().map(|(k, v)| (k, v)));
                }
            })
            .map_err(|why| {
                format!(
                    "{why}: build it with `cargo xtask container build --target collector` (on a host that cannot pull images, `cargo xtask container base` first)"
                )
            })
        })
    }

    /// The host's own containerd and NRI socket.
    pub fn containerd(&self) -> &containerd::ContainerdFacts {
        self.containerd
            .get_or_init(|| containerd::probe(&self.root))
    }

    /// `Ok` when the capability is present, otherwise why not (and, where there is one, the
    /// command that fixes it).
    pub fn check(&self, capability: Capability) -> Result<(), String> {
        match capability {
            Capability::Root => match self.euid() {
                Some(0) => Ok(()),
                Some(uid) => Err(format!("not root (effective uid {uid}); run as root, e.g. with sudo")),
                None => Err("cannot tell the effective uid (/proc/self/status unreadable)".to_string()),
            },
            Capability::Cgroups => match self.cgroups() {
                CgroupLayout::None => Err("no cgroup file system is mounted".to_string()),
                _ => Ok(()),
            },
            Capability::ResctrlMonitoring => match self.resctrl().missing_reason() {
                None => Ok(()),
                Some(reason) => Err(reason),
            },
            Capability::ContainerEngine => {
                let engines = self.engines();
                if engines.iter().any(|e| e.runs_containers.is_ok()) {
                    return Ok(());
                }
                if engines.is_empty() {
                    return Err("no container engine: install one with `apt-get install podman runc`".to_string());
                }
                Err(engines
                    .iter()
                    .map(|e| {
                        let why = e.runs_containers.as_ref().err().map(String::as_str).unwrap_or_default();
                        format!("{}: {why}", e.name)
                    })
                    .collect::<Vec<_>>()
                    .join("; "))
            }
            Capability::Qemu => self
                .qemu()
                .as_ref()
                .map(drop)
                .map_err(|why| format!("{why}; install it with `apt-get install qemu-system-x86`")),
            Capability::Kvm => match self.kvm() {
                kvm::KvmFacts::Usable { .. } => Ok(()),
                kvm::KvmFacts::Absent => Err("/dev/kvm is absent".to_string()),
                kvm::KvmFacts::Unusable(why) => Err(format!("/dev/kvm is unusable: {why}")),
            },
            Capability::Fuse => {
                if self.root.exists("/dev/fuse") {
                    Ok(())
                } else {
                    Err("/dev/fuse is absent: load the fuse module (modprobe fuse) or run where FUSE is available".to_string())
                }
            }
            Capability::PerfCounters => match &self.perf().hardware_pmu {
                Some(_) => Ok(()),
                None => Err(
                    "no hardware performance counters (no core PMU under /sys/bus/event_source/devices; a VM without a virtual PMU)"
                        .to_string(),
                ),
            },
            Capability::CollectorImage => self.collector_image().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn a_bare_fixture_lacks_everything_with_reasons() {
        let fx = FixtureRoot::new();
        let host = Host::fixture(fx.root());
        for capability in Capability::ALL {
            let reason = host.check(capability).unwrap_err();
            assert!(!reason.is_empty(), "{capability} has no reason");
        }
        assert!(
            host.check(Capability::Qemu)
                .unwrap_err()
                .contains("apt-get install qemu-system-x86")
        );
        assert!(
            host.check(Capability::ContainerEngine)
                .unwrap_err()
                .contains("apt-get install podman")
        );
    }

    #[test]
    fn root_and_cgroups_from_fixture_files() {
        let fx = FixtureRoot::new();
        fx.file("/proc/self/status", "Uid:\t0\t0\t0\t0\n")
            .file("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n");
        let host = Host::fixture(fx.root());
        assert_eq!(host.check(Capability::Root), Ok(()));
        assert_eq!(host.check(Capability::Cgroups), Ok(()));

        let user = FixtureRoot::new();
        user.file("/proc/self/status", "Uid:\t1000\t1000\t1000\t1000\n");
        let err = Host::fixture(user.root())
            .check(Capability::Root)
            .unwrap_err();
        assert!(err.contains("effective uid 1000"), "{err}");
    }
}
