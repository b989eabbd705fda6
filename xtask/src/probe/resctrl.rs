//! resctrl: CPU support, kernel support, mount, and monitoring features.
//!
//! The runner only needs to know whether resctrl suites can run here and, if not, why; the
//! `resctrl` crate does the real work.

use super::{HostRoot, mounts};

/// CPU flags that mean the CPU can monitor cache occupancy and memory bandwidth.
const MONITORING_FLAGS: [&str; 4] = ["cqm_llc", "cqm_occup_llc", "cqm_mbm_total", "cqm_mbm_local"];

/// Where the kernel creates the resctrl mount point when it supports RDT.
pub const DEFAULT_MOUNT_POINT: &str = "/sys/fs/resctrl";

/// What the host offers for resctrl monitoring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResctrlFacts {
    /// Monitoring-related CPU flags present in `/proc/cpuinfo`.
    pub cpu_flags: Vec<String>,
    /// Whether the kernel created `/sys/fs/resctrl` (it does so only when RDT is usable).
    pub kernel_mount_point: bool,
    /// Where resctrl is mounted, if it is.
    pub mounted_at: Option<String>,
    /// Monitoring events listed in `info/L3_MON/mon_features` (only known when mounted).
    pub mon_features: Vec<String>,
    /// `info/L3_MON/num_rmids` (only known when mounted).
    pub num_rmids: Option<u32>,
}

impl ResctrlFacts {
    /// Whether the CPU can monitor LLC occupancy.
    pub fn cpu_monitors_llc(&self) -> bool {
        self.cpu_flags.iter().any(|f| f == "cqm_occup_llc")
    }

    /// Why resctrl monitoring cannot be used here, or `None` when it can.
    pub fn missing_reason(&self) -> Option<String> {
        if self.mounted_at.is_some() {
            if self.mon_features.iter().any(|f| f == "llc_occupancy") {
                return None;
            }
            return Some(format!(
                "resctrl is mounted at {} but offers no llc_occupancy monitoring (info/L3_MON/mon_features: {})",
                self.mounted_at.as_deref().unwrap_or_default(),
                if self.mon_features.is_empty() {
                    "absent".to_string()
                } else {
                    self.mon_features.join(", ")
                }
            ));
        }
        match (self.cpu_monitors_llc(), self.kernel_mount_point) {
            (true, true) => None,
            (false, _) => Some(
                "no resctrl monitoring: the CPU lacks the cqm_occup_llc flag (no RDT cache monitoring)"
                    .to_string(),
            ),
            (true, false) => Some(format!(
                "no resctrl monitoring: the CPU supports it but the kernel did not create {DEFAULT_MOUNT_POINT} (kernel built without CONFIG_X86_CPU_RESCTRL, or disabled with rdt=)"
            )),
        }
    }
}

/// Probes CPU flags, the kernel mount point, any resctrl mount and its info directory.
pub fn probe(root: &HostRoot) -> ResctrlFacts {
    let cpu_flags = root
        .read("/proc/cpuinfo")
        .map(|text| monitoring_flags(&text))
        .unwrap_or_default();
    let mounted_at = mounts(root)
        .into_iter()
        .find(|m| m.fstype == "resctrl")
        .map(|m| m.mount_point.to_string_lossy().into_owned());
    let (mon_features, num_rmids) = match &mounted_at {
        Some(at) => {
            let info = format!("{at}/info/L3_MON");
            let features = root
                .read(format!("{info}/mon_features"))
                .map(|t| t.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            let rmids = root
                .read(format!("{info}/num_rmids"))
                .ok()
                .and_then(|t| t.trim().parse().ok());
            (features, rmids)
        }
        None => (Vec::new(), None),
    };
    ResctrlFacts {
        cpu_flags,
        kernel_mount_point: root.exists(DEFAULT_MOUNT_POINT),
        mounted_at,
        mon_features,
        num_rmids,
    }
}

/// The monitoring flags on the first `flags` line of `/proc/cpuinfo` (all CPUs agree).
fn monitoring_flags(cpuinfo: &str) -> Vec<String> {
    cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "flags").then_some(value)
        })
        .map(|flags| {
            flags
                .split_whitespace()
                .filter(|flag| MONITORING_FLAGS.contains(flag) || *flag == "rdt_a")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    const CPUINFO_RDT: &str = "processor\t: 0\nflags\t\t: fpu sse rdt_a cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local\n";
    const CPUINFO_PLAIN: &str = "processor\t: 0\nflags\t\t: fpu sse avx2\n";

    #[test]
    fn mounted_with_monitoring() {
        let fx = FixtureRoot::new();
        fx.file("/proc/cpuinfo", CPUINFO_RDT)
            .file("/proc/mounts", "resctrl /sys/fs/resctrl resctrl rw 0 0\n")
            .file(
                "/sys/fs/resctrl/info/L3_MON/mon_features",
                "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
            )
            .file("/sys/fs/resctrl/info/L3_MON/num_rmids", "224\n");
        let facts = probe(&fx.root());
        assert_eq!(facts.mounted_at.as_deref(), Some("/sys/fs/resctrl"));
        assert_eq!(facts.num_rmids, Some(224));
        assert_eq!(facts.mon_features.len(), 3);
        assert!(facts.cpu_flags.contains(&"rdt_a".to_string()));
        assert_eq!(facts.missing_reason(), None);
    }

    #[test]
    fn supported_but_unmounted_is_usable() {
        let fx = FixtureRoot::new();
        fx.file("/proc/cpuinfo", CPUINFO_RDT)
            .file("/proc/mounts", "proc /proc proc rw 0 0\n")
            .dir("/sys/fs/resctrl");
        let facts = probe(&fx.root());
        assert_eq!(facts.mounted_at, None);
        assert!(facts.kernel_mount_point);
        assert_eq!(facts.missing_reason(), None);
    }

    #[test]
    fn cpu_without_rdt_names_the_flag() {
        let fx = FixtureRoot::new();
        fx.file("/proc/cpuinfo", CPUINFO_PLAIN)
            .file("/proc/mounts", "proc /proc proc rw 0 0\n");
        let reason = probe(&fx.root()).missing_reason().unwrap();
        assert!(reason.contains("cqm_occup_llc"), "{reason}");
    }

    #[test]
    fn kernel_without_support_is_named() {
        let fx = FixtureRoot::new();
        fx.file("/proc/cpuinfo", CPUINFO_RDT)
            .file("/proc/mounts", "");
        let reason = probe(&fx.root()).missing_reason().unwrap();
        assert!(reason.contains("CONFIG_X86_CPU_RESCTRL"), "{reason}");
    }

    #[test]
    fn mounted_without_llc_monitoring_is_not_enough() {
        let fx = FixtureRoot::new();
        fx.file("/proc/cpuinfo", CPUINFO_RDT)
            .file("/proc/mounts", "resctrl /mnt/rc resctrl rw 0 0\n")
            .file("/mnt/rc/info/L3_MON/mon_features", "mbm_total_bytes\n");
        let facts = probe(&fx.root());
        assert_eq!(facts.mounted_at.as_deref(), Some("/mnt/rc"));
        let reason = facts.missing_reason().unwrap();
        assert!(reason.contains("no llc_occupancy"), "{reason}");
    }
}
