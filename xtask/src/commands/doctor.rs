//! `cargo xtask doctor`: what this host can do, each line probed from the real system: the
//! tools `ci fast` and the suites need (each missing one with how to get it), the host's
//! capabilities, and which suites it can run from which level.

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
///
/// # Errors
/// If `--root` names no directory.
pub fn run(args: &DoctorArgs) -> anyhow::Result<String> {
    if let Some(dir) = args.root.as_ref().filter(|dir| !dir.is_dir()) {
        anyhow::bail!(
            "--root {}: no such directory; give the directory that stands for / (holding proc/, sys/, dev/)",
            dir.display()
        );
    }
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
        (
            "rustfmt",
            hint(
                tools::version("rustfmt", &["--version"]),
                "rustup component add rustfmt",
            ),
        ),
        (
            "clippy",
            hint(
                tools::version("cargo-clippy", &["clippy", "--version"]),
                "rustup component add clippy",
            ),
        ),
        (
            "python3",
            hint(
                tools::version("python3", &["--version"]),
                "apt-get install python3 python3-venv",
            ),
        ),
        (
            "python3 venv+pip",
            hint(
                tools::version(
                    "python3",
                    &["-c", "import venv, ensurepip; print('venv and pip work')"],
                ),
                "apt-get install python3-venv (lint-ci makes its linters' venv with it)",
            ),
        ),
        (
            "runc",
            hint(
                tools::version("runc", &["--version"]),
                "apt-get install runc (nri-e2e installs it itself; podman needs it on hybrid cgroups)",
            ),
        ),
        (
            "debootstrap",
            hint(
                tools::version("debootstrap", &["--version"]),
                "apt-get install debootstrap (`container base` installs it itself)",
            ),
        ),
    ];
    Ok(report(&host, &toolchain))
}

/// A missing tool's reason followed by how to get it.
fn hint(version: Result<ToolVersion, String>, install: &str) -> Result<ToolVersion, String> {
    version.map_err(|why| format!("{why}; install it with `{install}`"))
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
            (Ok(()), Ok(Some(image))) => format!("runs containers (tried {image})"),
            (Ok(()), Ok(None)) => "works (answers; no local image yet: `cargo xtask container build` makes the builder image, and on a host that cannot pull, `cargo xtask container base` first)".to_string(),
            (Ok(()), Err(why)) => format!("answers; cannot run a container: {why}"),
        };
        add(
            "container engine",
            format!("{}: {}", engine.client.version, state),
        );
    }
    let podman = crate::container::engine::PodmanSettings::detect(host.root());
    add(
        "podman settings",
        match podman.containers_conf() {
            None => "none needed".to_string(),
            Some(_) if std::env::var_os("CONTAINERS_CONF").is_some() => format!(
                "this host needs {}; CONTAINERS_CONF is set, so the runner uses that file instead of its own: it must say the same",
                [
                    podman.runc.then_some("runtime = \"runc\""),
                    podman
                        .lower_ulimits
                        .then_some("default_ulimits nofile/nproc 1024"),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
            ),
            Some(_) => {
                let mut what = Vec::new();
                if podman.runc {
                    what.push("runtime = \"runc\"");
                }
                if podman.lower_ulimits {
                    what.push("default_ulimits nofile/nproc 1024");
                }
                format!(
                    "{}: the runner passes them in CONTAINERS_CONF={} (use that by hand too)",
                    what.join(", "),
                    crate::project::xtask_dir()
                        .join("podman/containers.conf")
                        .display()
                )
            }
        },
    );
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
    out.push_str("\nsuites (what this host can run, and from which level):\n");
    let width = crate::suites::names()
        .iter()
        .map(|name| name.len())
        .max()
        .unwrap_or(0);
    for suite in crate::suites::registry() {
        let verdict = match suite.decide(suite.min_level, host).reason() {
            None => format!("yes, at level {} and up", suite.min_level),
            Some(why) => format!("no: {why}"),
        };
        out.push_str(&format!("  {:<width$}  {verdict}\n", suite.name));
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
    fn a_root_that_does_not_exist_is_an_error_naming_it() {
        let args = DoctorArgs {
            root: Some("/nonexistent/xtask-root".into()),
        };
        let err = run(&args).unwrap_err().to_string();
        assert!(
            err.starts_with("--root /nonexistent/xtask-root: no such directory"),
            "{err}"
        );
    }

    #[test]
    fn missing_tools_say_how_to_get_them() {
        let missing = hint(
            Err("rustfmt not found on PATH".into()),
            "rustup component add rustfmt",
        );
        assert_eq!(
            tool_line(&missing),
            "missing: rustfmt not found on PATH; install it with `rustup component add rustfmt`"
        );
    }

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
        let text = report(&host, &toolchain)
            .replace(&fx.path().display().to_string(), "$FIXTURE")
            .replace(&crate::project::xtask_dir().display().to_string(), "$XTASK");
        let expected = "\
host root           $FIXTURE/
rustc               rustc 1.95.0
cargo-nextest       missing: cargo-nextest not found on PATH
root                yes (effective uid 0)
cgroups             v1 hybrid (1 controllers; v2 at /sys/fs/cgroup/unified)
container engine    none (podman or docker not found on PATH)
podman settings     runtime = \"runc\", default_ulimits nofile/nproc 1024: the runner passes them in CONTAINERS_CONF=$XTASK/podman/containers.conf (use that by hand too)
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
  collector-image     no: no container engine to hold the collector image

suites (what this host can run, and from which level):
  nri-e2e          yes, at level cheap-short and up
  nri-init-e2e     yes, at level cheap-short and up
  collector-e2e    no: missing fuse: /dev/fuse is absent: load the fuse module (modprobe fuse) or run where FUSE is available
  collector-s3     yes, at level cheap-short and up
  kernel-matrix    yes, at level cheap-short and up
  bench            yes, at level cheap-short and up
  mutants-diff     yes, at level perf-short and up
  collector-image  no: missing fuse: /dev/fuse is absent: load the fuse module (modprobe fuse) or run where FUSE is available; missing collector-image: no container engine to hold the collector image
  resctrl-e2e      yes, at level full-short and up
  mutants          yes, at level full-long and up
";
        assert_eq!(text, expected);
    }
}
