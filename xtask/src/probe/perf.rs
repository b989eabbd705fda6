//! Hardware performance counters.

use super::HostRoot;

/// What the host offers for hardware performance counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfFacts {
    /// The PMU device that counts CPU events (`cpu`, or `cpu_core` on hybrid Intel), if any.
    pub hardware_pmu: Option<String>,
    /// `/proc/sys/kernel/perf_event_paranoid`, if readable.
    pub paranoid: Option<i32>,
}

/// Names under which the kernel registers the core PMU.
const CORE_PMUS: [&str; 3] = ["cpu", "cpu_core", "armv8_pmuv3_0"];

/// Looks for a core PMU in `/sys/bus/event_source/devices`; a VM without a virtual PMU has
/// only software, tracepoint and similar sources there.
pub fn probe(root: &HostRoot) -> PerfFacts {
    let hardware_pmu = CORE_PMUS
        .iter()
        .find(|name| root.exists(format!("/sys/bus/event_source/devices/{name}")))
        .map(|name| name.to_string());
    let paranoid = root
        .read("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|text| text.trim().parse().ok());
    PerfFacts {
        hardware_pmu,
        paranoid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn finds_core_pmu() {
        let fx = FixtureRoot::new();
        fx.dir("/sys/bus/event_source/devices/cpu/events")
            .file("/proc/sys/kernel/perf_event_paranoid", "2\n");
        let facts = probe(&fx.root());
        assert_eq!(facts.hardware_pmu.as_deref(), Some("cpu"));
        assert_eq!(facts.paranoid, Some(2));
    }

    #[test]
    fn software_only_vm_has_no_pmu() {
        let fx = FixtureRoot::new();
        fx.dir("/sys/bus/event_source/devices/software")
            .dir("/sys/bus/event_source/devices/tracepoint");
        let facts = probe(&fx.root());
        assert_eq!(facts.hardware_pmu, None);
        assert_eq!(facts.paranoid, None);
    }
}
