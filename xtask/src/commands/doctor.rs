//! `cargo xtask doctor`: what this host can do, each line probed from the real system.

use std::path::PathBuf;

use crate::capability::{Capability, Host, QEMU};
use crate::probe::kvm::KvmFacts;
use crate::probe::tools::{self, ToolVersion};
use crate::probe::{HostRoot, resctrl};

/// Arguments of `doctor`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct DoctorArgs {
    /// Read host files (/proc, /sys, /dev) under DIR instead of / (to check the probes
    /// against fixture files). Every command that probes the host honours the variable.
    #[arg(long, value_name = "DIR", env = crate::capability::HOST_ROOT_ENV)]
    pub root: Option<PathBuf>,
}

/// Probes the host and renders the report.
pub fn run(args: &DoctorArgs) -> String {
    let root = args
        .root
        .clone()
        .map(HostRoot::at)
        .unwrap_or_else(HostRoot::system);
    let host = Host::at(root);
    let toolchain = [
        ("rustc", tools::version("rustc", &["--version"])),
        ("cargo", tools::version("cargo", &["--version"])),
        (
            "cargo-nextest",
            tools::version("cargo-nextest", &["nextest", "--version"]).map_err(|why| {
                format!(
                    "{why}; install it with `{}`",
                    crate::test_run::NEXTEST_INSTALL
                )
            }),
        ),
    ];
    report(&host, &toolchain)
}

/// The report: one `label  value` line per probe, then the capability verdicts.
pub fn report(host: &Host, toolchain: &[(&str, Result<ToolVersion, String>)]) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut add = |label: &str, value: String| lines.push((label.to_string(), value));

    add("host root", format!("{}", host.root().path("/").display()));
    for (name, version) in toolchain {
        add(name, tool_line(version));
    }
    add(
        "root",
        match host.euid() {
            Some(0) => "yes (effective uid 0)".to_string(),
            Some(uid) => format!("no (effective uid {uid})"),
            None => "unknown (/proc/self/status unreadable)".to_string(),
        },
    );
    add("cgroups", host.cgroups().to_string());
    let engines = host.engines();
    if engines.is_empty() {
        add(
            "container engine",
            "none (podman or docker not found on PATH)".to_string(),
        );
    }
    for engine in engines {
        let state = match (&engine.answers, &engine.runs_containers) {
            (Err(why), _) => format!("engine does not answer: {why}"),
            (Ok(()), Ok(image)) => format!("runs containers (tried {image})"),
            (Ok(()), Err(why)) => format!("answers; cannot run a container: {why}"),
        };
        add(
            "container engine",
            format!("{}: {}", engine.client.version, state),
        );
    }
    add(QEMU, tool_line(host.qemu()));
    add(
        "/dev/kvm",
        match host.kvm() {
            KvmFacts::Absent => "absent".to_string(),
            KvmFacts::Unusable(why) => format!("present but unusable: {why}"),
            KvmFacts::Usable { api_version } => format!(
                "KVM API {api_version}, VM creation works (kernel suites still verify a boot before using it)"
            ),
        },
    );
    let rc = host.resctrl();
    add(
        "resctrl cpu",
        if rc.cpu_flags.is_empty() {
            "no RDT flags in /proc/cpuinfo".to_string()
        } else {
            rc.cpu_flags.join(" ")
        },
    );
    add(
        "resctrl kernel",
        if rc.kernel_mount_point {
            format!(
                "{} exists (kernel supports resctrl)",
                resctrl::DEFAULT_MOUNT_POINT
            )
        } else {
            format!("{} absent", resctrl::DEFAULT_MOUNT_POINT)
        },
    );
    add(
        "resctrl mount",
        match &rc.mounted_at {
            None => "not mounted".to_string(),
            Some(at) => format!(
                "{at}; monitoring: {}; RMIDs: {}",
                if rc.mon_features.is_empty() {
                    "none".to_string()
                } else {
                    rc.mon_features.join(", ")
                },
                rc.num_rmids
                    .map_or("unknown".to_string(), |n| n.to_string())
            ),
        },
    );
    let containerd = host.containerd();
    add(
        "containerd",
        match (&containerd.binary, containerd.version) {
            (Err(why), _) => why.clone(),
            (Ok(tool), Some((major, minor, patch))) => {
                format!("{major}.{minor}.{patch} at {}", tool.path.display())
            }
            (Ok(tool), None) => format!("{} (version not understood)", tool.version),
        },
    );
    add(
        "NRI socket",
        format!(
            "{} {}",
            crate::probe::containerd::DEFAULT_NRI_SOCKET,
            if containerd.nri_socket {
                "present"
            } else {
                "absent"
            }
        ),
    );
    let perf = host.perf();
    add(
        "perf counters",
        format!(
            "{}; perf_event_paranoid {}",
            match &perf.hardware_pmu {
                Some(pmu) => format!("hardware PMU `{pmu}`"),
                None => "no hardware PMU".to_string(),
            },
            perf.paranoid
                .map_or("unknown".to_string(), |p| p.to_string())
        ),
    );

    let width = lines
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in &lines {
        out.push_str(&format!("{label:<width$}  {value}\n"));
    }
    out.push_str("\ncapabilities (what e2e suites can ask for):\n");
    let width = Capability::ALL
        .iter()
        .map(|c| c.name().len())
        .max()
        .unwrap_or(0);
    for capability in Capability::ALL {
        let verdict = match host.check(capability) {
            Ok(()) => "yes".to_string(),
            Err(why) => format!("no: {why}"),
        };
        out.push_str(&format!("  {:<width$}  {verdict}\n", capability.name()));
    }
    out
}

fn tool_line(version: &Result<ToolVersion, String>) -> String {
    match version {
        Ok(tool) => tool.version.clone(),
        Err(why) => format!("missing: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn report_from_fixture_files() {
        let fx = FixtureRoot::new();
        fx.file("/proc/self/status", "Uid:\t0\t0\t0\t0\n")
            .file(
                "/proc/mounts",
                "cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\nresctrl /sys/fs/resctrl resctrl rw 0 0\n",
            )
            .file("/proc/cpuinfo", "flags\t: fpu rdt_a cqm_llc cqm_occup_llc\n")
            .file("/sys/fs/resctrl/info/L3_MON/mon_features", "llc_occupancy\nmbm_total_bytes\n")
            .file("/sys/fs/resctrl/info/L3_MON/num_rmids", "128\n")
            .file("/proc/sys/kernel/perf_event_paranoid", "2\n");
        let host = Host::fixture(fx.root());
        let toolchain = [
            (
                "rustc",
                Ok(ToolVersion {
                    path: "/bin/rustc".into(),
                    version: "rustc 1.95.0".into(),
                }),
            ),
            (
                "cargo-nextest",
                Err("cargo-nextest not found on PATH".to_string()),
            ),
        ];
        let text = report(&host, &toolchain).replace(&fx.path().display().to_string(), "$FIXTURE");
        let expected = "\
host root           $FIXTURE/
rustc               rustc 1.95.0
cargo-nextest       missing: cargo-nextest not found on PATH
root                yes (effective uid 0)
cgroups             v1 hybrid (1 controllers; v2 at /sys/fs/cgroup/unified)
container engine    none (podman or docker not found on PATH)
qemu-system-x86_64  missing: qemu-system-x86_64 not found on PATH
/dev/kvm            absent
resctrl cpu         rdt_a cqm_llc cqm_occup_llc
resctrl kernel      /sys/fs/resctrl exists (kernel supports resctrl)
resctrl mount       /sys/fs/resctrl; monitoring: llc_occupancy, mbm_total_bytes; RMIDs: 128
containerd          containerd not found on PATH
NRI socket          /var/run/nri/nri.sock absent
perf counters       no hardware PMU; perf_event_paranoid 2

capabilities (what e2e suites can ask for):
  root                yes
  cgroups             yes
  resctrl-monitoring  yes
  container-engine    no: no container engine: install one with `apt-get install podman runc`
  qemu                no: qemu-system-x86_64 not found on PATH; install it with `apt-get install qemu-system-x86`
  kvm                 no: /dev/kvm is absent
  fuse                no: /dev/fuse is absent: load the fuse module (modprobe fuse) or run where FUSE is available
  perf-counters       no: no hardware performance counters (no core PMU under /sys/bus/event_source/devices; a VM without a virtual PMU)
";
        assert_eq!(text, expected);
    }
}
