//! What the host offers: mount state, writability, RMIDs/CLOSIDs, monitoring events and
//! CPU flags; and mounting resctrl when asked to.

use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::Resctrl;
use crate::error::{Error, Op, Result, errno};
use crate::fs::FsProvider;
use crate::monitoring::MonEvent;
use crate::mounts::{MountEntry, RESCTRL_FSTYPE, mount_at, parse_mounts};

/// Allocation resources whose `info/<name>/num_closids` bound the number of control
/// groups; the kernel uses the smallest of them.
const ALLOC_RESOURCES: [&str; 8] = [
    "L3", "L3CODE", "L3DATA", "L2", "L2CODE", "L2DATA", "MB", "SMBA",
];

/// Which monitoring events the kernel offers (`info/L3_MON/mon_features`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonFeatures {
    /// `llc_occupancy` (CMT).
    pub llc_occupancy: bool,
    /// `mbm_total_bytes` (MBM total).
    pub mbm_total_bytes: bool,
    /// `mbm_local_bytes` (MBM local).
    pub mbm_local_bytes: bool,
    /// Other listed features (e.g. `mbm_total_bytes_config`), kept for diagnostics.
    pub other: Vec<String>,
}

impl MonFeatures {
    /// Parses the `mon_features` file (one feature per line).
    pub fn parse(text: &str) -> Self {
        let mut features = MonFeatures::default();
        for name in text.split_whitespace() {
            match MonEvent::from_file_name(name) {
                Some(MonEvent::LlcOccupancy) => features.llc_occupancy = true,
                Some(MonEvent::MbmTotalBytes) => features.mbm_total_bytes = true,
                Some(MonEvent::MbmLocalBytes) => features.mbm_local_bytes = true,
                None => features.other.push(name.to_owned()),
            }
        }
        features
    }

    /// Whether `event` is offered.
    pub fn contains(&self, event: MonEvent) -> bool {
        match event {
            MonEvent::LlcOccupancy => self.llc_occupancy,
            MonEvent::MbmTotalBytes => self.mbm_total_bytes,
            MonEvent::MbmLocalBytes => self.mbm_local_bytes,
        }
    }

    /// Whether any of the three events is offered.
    pub fn any(&self) -> bool {
        MonEvent::ALL.iter().any(|&e| self.contains(e))
    }
}

/// RDT-related CPU flags from `/proc/cpuinfo`; they explain *why* the kernel offers
/// nothing (the CPU lacks it) versus a kernel or mount problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFlags {
    /// `rdt_a`: allocation (CAT/MBA), i.e. control groups.
    pub rdt_a: bool,
    /// `cqm_llc`: cache QoS monitoring at L3.
    pub cqm_llc: bool,
    /// `cqm_occup_llc`: L3 occupancy monitoring (`llc_occupancy`).
    pub cqm_occup_llc: bool,
    /// `cqm_mbm_total`: total memory bandwidth monitoring (`mbm_total_bytes`).
    pub cqm_mbm_total: bool,
    /// `cqm_mbm_local`: local memory bandwidth monitoring (`mbm_local_bytes`).
    pub cqm_mbm_local: bool,
}

impl CpuFlags {
    /// Parses the `flags` line of the first processor in `/proc/cpuinfo` text. Text
    /// without such a line (e.g. a non-x86 CPU) gives all flags false.
    pub fn parse(cpuinfo: &str) -> Self {
        let mut flags = CpuFlags::default();
        let line = cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "flags").then_some(value)
        });
        for flag in line.unwrap_or("").split_whitespace() {
            match flag {
                "rdt_a" => flags.rdt_a = true,
                "cqm_llc" => flags.cqm_llc = true,
                "cqm_occup_llc" => flags.cqm_occup_llc = true,
                "cqm_mbm_total" => flags.cqm_mbm_total = true,
                "cqm_mbm_local" => flags.cqm_mbm_local = true,
                _ => {}
            }
        }
        flags
    }

    /// Whether the CPU advertises any monitoring at all.
    pub fn any_monitoring(&self) -> bool {
        self.cqm_llc || self.cqm_occup_llc || self.cqm_mbm_total || self.cqm_mbm_local
    }
}

/// What [`Resctrl::detect_support`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// The configured root.
    pub root: PathBuf,
    /// The resctrl mount at the root, if resctrl is what is mounted there.
    pub mount: Option<MountEntry>,
    /// resctrl mounts elsewhere (they do not count; listed for "why not" messages).
    pub other_resctrl_mounts: Vec<PathBuf>,
    /// Whether the root can be written (mkdir of groups): mounted read-write and access
    /// granted. False when not mounted.
    pub writable: bool,
    /// Number of monitoring IDs (`info/L3_MON/num_rmids`), including the root group's.
    pub num_rmids: Option<u32>,
    /// Number of control groups (smallest `info/<resource>/num_closids`), including the
    /// root group. `None` on monitoring-only systems.
    pub num_closids: Option<u32>,
    /// Monitoring events the kernel offers.
    pub mon_features: MonFeatures,
    /// CPU flags; `None` if the CPU description file does not exist.
    pub cpu: Option<CpuFlags>,
}

impl Support {
    /// Whether resctrl is mounted at the root.
    pub fn mounted(&self) -> bool {
        self.mount.is_some()
    }

    /// Whether pod monitoring groups can be used: mounted, writable, at least one RMID
    /// beyond the root group's, and at least one monitoring event.
    pub fn can_monitor(&self) -> bool {
        self.problems().is_empty()
    }

    /// Human-readable reasons why monitoring cannot be used; empty when it can.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let root = self.root.display();
        if self.mount.is_none() {
            let mut p = format!("resctrl is not mounted at {root}");
            if !self.other_resctrl_mounts.is_empty() {
                let others: Vec<String> = self
                    .other_resctrl_mounts
                    .iter()
                    .map(|m| m.display().to_string())
                    .collect();
                p.push_str(&format!(
                    " (it is mounted at {}; configure that root instead)",
                    others.join(", ")
                ));
            } else {
                p.push_str(&format!(
                    "; mount it with `mount -t resctrl resctrl {root}` or enable auto_mount"
                ));
            }
            problems.push(p);
            if let Some(cpu) = self.cpu.filter(|c| !c.any_monitoring()) {
                problems.push(format!(
                    "the CPU advertises no RDT monitoring (cqm_llc={}, cqm_occup_llc={}, cqm_mbm_total={}, cqm_mbm_local={})",
                    cpu.cqm_llc, cpu.cqm_occup_llc, cpu.cqm_mbm_total, cpu.cqm_mbm_local
                ));
            }
            return problems;
        }
        if !self.writable {
            problems.push(format!(
                "{root} is not writable: run as root (or remount read-write)"
            ));
        }
        match self.num_rmids {
            None => problems.push(format!(
                "the kernel offers no L3 monitoring ({root}/info/L3_MON is missing){}",
                self.cpu_hint()
            )),
            Some(n) if n < 2 => problems.push(format!(
                "only {n} RMID(s): none left for groups beyond the root group"
            )),
            Some(_) => {}
        }
        if self.num_rmids.is_some() && !self.mon_features.any() {
            problems.push(format!(
                "no monitoring event (llc_occupancy, mbm_total_bytes, mbm_local_bytes) is offered{}",
                self.cpu_hint()
            ));
        }
        problems
    }

    fn cpu_hint(&self) -> String {
        match self.cpu {
            Some(cpu) if !cpu.any_monitoring() => {
                "; the CPU advertises no cqm_* flags, so it lacks RDT monitoring".to_owned()
            }
            Some(_) => "; the CPU advertises cqm_* flags, so check the kernel (CONFIG_X86_CPU_RESCTRL, rdt= boot option)".to_owned(),
            None => String::new(),
        }
    }
}

/// What [`Resctrl::ensure_mounted`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOutcome {
    /// resctrl was already mounted at the root.
    AlreadyMounted,
    /// This call mounted it.
    Mounted,
}

impl<P: FsProvider> Resctrl<P> {
    /// Whether resctrl is mounted at the root: the topmost mount on exactly that path
    /// has type `resctrl` (a resctrl mount elsewhere, or another file system at the root,
    /// does not count).
    pub fn is_mounted(&self) -> Result<bool> {
        Ok(self.root_mount()?.is_some())
    }

    /// The resctrl mount at the root, and all mounts (for diagnostics).
    fn mounts(&self) -> Result<(Option<MountEntry>, Vec<MountEntry>)> {
        let text = self.read_file(&self.config.mounts_path)?;
        let all = parse_mounts(&text);
        let at_root = mount_at(&all, &self.config.root)
            .filter(|m| m.fstype == RESCTRL_FSTYPE)
            .cloned();
        Ok((at_root, all))
    }

    fn root_mount(&self) -> Result<Option<MountEntry>> {
        Ok(self.mounts()?.0)
    }

    /// Reports mount state, writability and what the kernel and CPU offer.
    ///
    /// A missing optional file (`info/L3/num_closids` on a monitoring-only system, the
    /// CPU description on an odd platform) is reported as absent; any other read error is
    /// returned, classified.
    pub fn detect_support(&self) -> Result<Support> {
        let (mount, all) = self.mounts()?;
        let root = &self.config.root;
        let other_resctrl_mounts = all
            .iter()
            .filter(|m| m.fstype == RESCTRL_FSTYPE && m.mount_point != *root)
            .map(|m| m.mount_point.clone())
            .collect();
        let cpu = self
            .read_optional(&self.config.cpuinfo_path)?
            .map(|text| CpuFlags::parse(&text));
        let mut support = Support {
            root: root.clone(),
            mount: None,
            other_resctrl_mounts,
            writable: false,
            num_rmids: None,
            num_closids: None,
            mon_features: MonFeatures::default(),
            cpu,
        };
        let Some(mount) = mount else {
            return Ok(support);
        };
        support.writable = !mount.is_read_only()
            && self
                .fs
                .is_writable(root)
                .map_err(|e| Error::classify(Op::CheckAccess, root, e))?;
        support.mount = Some(mount);

        let info = root.join("info");
        support.num_rmids = self.read_optional_u32(&info.join("L3_MON/num_rmids"))?;
        if let Some(text) = self.read_optional(&info.join("L3_MON/mon_features"))? {
            support.mon_features = MonFeatures::parse(&text);
        }
        for resource in ALLOC_RESOURCES {
            let closids = self.read_optional_u32(&info.join(resource).join("num_closids"))?;
            support.num_closids = match (support.num_closids, closids) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(support)
    }

    /// Makes sure resctrl is mounted at the root.
    ///
    /// Already mounted → [`MountOutcome::AlreadyMounted`]. Not mounted and
    /// `!auto_mount` → [`Error::NotMounted`]. Otherwise mounts it
    /// (`mount -t resctrl resctrl <root>`, through the provider) and checks the mount
    /// table again. A resctrl mount somewhere else does not count (and the kernel allows
    /// only one, so mounting at the root then fails with EBUSY, reported as
    /// [`Error::Io`]).
    pub fn ensure_mounted(&self, auto_mount: bool) -> Result<MountOutcome> {
        if self.is_mounted()? {
            return Ok(MountOutcome::AlreadyMounted);
        }
        let root = &self.config.root;
        if !auto_mount {
            return Err(Error::NotMounted { root: root.clone() });
        }
        tracing::info!(root = %root.display(), "mounting resctrl");
        self.fs
            .mount_resctrl(root)
            .map_err(|e| Error::classify(Op::Mount, root, e))?;
        if self.is_mounted()? {
            Ok(MountOutcome::Mounted)
        } else {
            // The call succeeded but the mount table does not show it (e.g. the mount
            // table path is not this mount namespace's).
            Err(Error::NotMounted { root: root.clone() })
        }
    }

    /// Reads a file that may legitimately be absent (ENOENT → `None`).
    fn read_optional(&self, path: &Path) -> Result<Option<String>> {
        match self.fs.read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if errno(&e) == Some(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::classify(Op::Read, path, e)),
        }
    }

    fn read_optional_u32(&self, path: &Path) -> Result<Option<u32>> {
        let Some(text) = self.read_optional(path)? else {
            return Ok(None);
        };
        text.trim().parse().map(Some).map_err(|_| {
            Error::classify(
                Op::Read,
                path,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("expected a number, found {:?}", text.trim()),
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_flags_come_from_the_first_flags_line() {
        let text = "processor\t: 0\nflags\t\t: fpu rdt_a cqm_llc cqm_occup_llc cqm_mbm_local\n\nprocessor\t: 1\nflags\t\t: fpu cqm_mbm_total\n";
        let f = CpuFlags::parse(text);
        assert!(f.rdt_a && f.cqm_llc && f.cqm_occup_llc && f.cqm_mbm_local);
        assert!(
            !f.cqm_mbm_total,
            "only the first processor's flags are read"
        );
        assert!(f.any_monitoring());
        // An aarch64-style cpuinfo has "Features", not "flags".
        let f = CpuFlags::parse("processor\t: 0\nFeatures\t: fp asimd\n");
        assert_eq!(f, CpuFlags::default());
        assert!(!f.any_monitoring());
    }

    #[test]
    fn mon_features_parse_known_and_other() {
        let f = MonFeatures::parse("llc_occupancy\nmbm_total_bytes\nmbm_total_bytes_config\n");
        assert!(f.llc_occupancy && f.mbm_total_bytes && !f.mbm_local_bytes);
        assert!(f.contains(MonEvent::MbmTotalBytes));
        assert!(!f.contains(MonEvent::MbmLocalBytes));
        assert_eq!(f.other, vec!["mbm_total_bytes_config"]);
        assert!(f.any());
        assert!(!MonFeatures::parse("").any());
    }
}

#[cfg(test)]
mod fake_tests {
    use super::*;
    use crate::Config;
    use crate::fake::{Errno, FakeMount, FakeResctrl, NO_RDT_CPUINFO};

    fn handle(fake: &FakeResctrl) -> Resctrl<FakeResctrl> {
        Resctrl::with_provider(fake.clone(), fake.config()).expect("valid config")
    }

    #[test]
    fn detects_a_fully_capable_host() {
        let fake = FakeResctrl::new();
        let s = handle(&fake).detect_support().expect("detect");
        assert!(s.mounted());
        assert_eq!(
            s.mount.as_ref().map(|m| m.mount_point.clone()),
            Some(PathBuf::from("/sys/fs/resctrl"))
        );
        assert!(s.writable);
        assert_eq!(s.num_rmids, Some(64));
        assert_eq!(s.num_closids, Some(16));
        assert!(s.mon_features.llc_occupancy);
        assert!(s.mon_features.mbm_total_bytes);
        assert!(s.mon_features.mbm_local_bytes);
        let cpu = s.cpu.expect("cpuinfo is served");
        assert!(cpu.rdt_a && cpu.cqm_llc && cpu.cqm_occup_llc);
        assert!(cpu.cqm_mbm_total && cpu.cqm_mbm_local);
        assert!(s.other_resctrl_mounts.is_empty());
        assert!(s.can_monitor(), "{:?}", s.problems());
    }

    #[test]
    fn a_resctrl_mount_elsewhere_does_not_count() {
        let fake = FakeResctrl::builder().mounted(false).build();
        fake.add_mount_line("resctrl /mnt/elsewhere resctrl rw,relatime 0 0");
        let rc = handle(&fake);
        assert!(!rc.is_mounted().expect("mounts readable"));
        let s = rc.detect_support().expect("detect");
        assert!(!s.mounted());
        assert!(!s.writable);
        assert_eq!(s.num_rmids, None);
        assert_eq!(
            s.other_resctrl_mounts,
            vec![PathBuf::from("/mnt/elsewhere")]
        );
        let problems = s.problems().join("\n");
        assert!(
            problems.contains("not mounted at /sys/fs/resctrl"),
            "{problems}"
        );
        assert!(problems.contains("/mnt/elsewhere"), "{problems}");
        assert!(!s.can_monitor());
        // The kernel allows one resctrl mount: mounting at the root now fails.
        let err = rc.ensure_mounted(true).expect_err("EBUSY");
        assert!(matches!(err, Error::Io { op: Op::Mount, .. }), "{err:?}");
    }

    #[test]
    fn another_file_system_at_the_root_does_not_count() {
        let fake = FakeResctrl::builder().mounted(false).build();
        fake.add_mount_line("tmpfs /sys/fs/resctrl tmpfs rw 0 0");
        let rc = handle(&fake);
        assert!(!rc.is_mounted().expect("mounts readable"));
        assert!(!rc.detect_support().expect("detect").mounted());
    }

    #[test]
    fn a_mount_stacked_over_resctrl_hides_it() {
        let fake = FakeResctrl::new();
        fake.add_mount_line("tmpfs /sys/fs/resctrl tmpfs rw 0 0");
        assert!(!handle(&fake).is_mounted().expect("mounts readable"));
    }

    #[test]
    fn a_root_with_a_space_is_matched_through_octal_escapes() {
        let fake = FakeResctrl::builder().root("/run/res ctrl").build();
        let rc = handle(&fake);
        assert!(rc.is_mounted().expect("mounts readable"));
        let s = rc.detect_support().expect("detect");
        assert_eq!(s.num_rmids, Some(64));
    }

    #[test]
    fn read_only_mount_or_denied_root_is_not_writable() {
        let fake = FakeResctrl::builder().mount_options("ro,relatime").build();
        let s = handle(&fake).detect_support().expect("detect");
        assert!(s.mounted() && !s.writable);
        assert!(s.problems().join("\n").contains("not writable"));

        let fake = FakeResctrl::new();
        fake.deny_access("/sys/fs/resctrl");
        let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("config");
        // info/ is below the denied root, so reading it fails: classified, not hidden.
        let err = rc.detect_support().expect_err("info unreadable");
        assert!(
            matches!(err, Error::NoPermission { op: Op::Read, .. }),
            "{err:?}"
        );
        fake.allow_access(Path::new("/sys/fs/resctrl"));
        fake.fail_next(
            crate::fake::FakeOp::Access,
            Some(PathBuf::from("/sys/fs/resctrl")),
            Errno::ACCESS,
        );
        let s = rc.detect_support().expect("detect");
        assert!(!s.writable);
    }

    #[test]
    fn monitoring_only_kernel_has_no_closid_count() {
        let fake = FakeResctrl::builder().num_closids(None).build();
        let s = handle(&fake).detect_support().expect("detect");
        assert_eq!(s.num_closids, None);
        assert_eq!(s.num_rmids, Some(64));
        assert!(s.can_monitor());
    }

    #[test]
    fn no_monitoring_is_explained_with_cpu_flags() {
        let fake = FakeResctrl::builder()
            .mon_features([])
            .cpuinfo(NO_RDT_CPUINFO)
            .build();
        let s = handle(&fake).detect_support().expect("detect");
        assert!(s.mounted());
        assert_eq!(s.num_rmids, None);
        assert!(!s.mon_features.any());
        assert_eq!(s.cpu, Some(CpuFlags::default()));
        let problems = s.problems().join("\n");
        assert!(problems.contains("info/L3_MON is missing"), "{problems}");
        assert!(problems.contains("no cqm_* flags"), "{problems}");
        assert!(!s.can_monitor());
    }

    #[test]
    fn a_single_rmid_leaves_no_room_for_groups() {
        let fake = FakeResctrl::builder().num_rmids(1).build();
        let s = handle(&fake).detect_support().expect("detect");
        assert!(!s.can_monitor());
        assert!(s.problems().join("\n").contains("only 1 RMID"));
    }

    #[test]
    fn missing_cpuinfo_is_absent_not_an_error() {
        let fake = FakeResctrl::new();
        let cfg = fake.config().with_cpuinfo_path("/nonexistent/cpuinfo");
        let rc = Resctrl::with_provider(fake, cfg).expect("config");
        assert_eq!(rc.detect_support().expect("detect").cpu, None);
    }

    #[test]
    fn unreadable_mount_table_is_a_classified_error() {
        let fake = FakeResctrl::new();
        fake.deny_access("/proc/mounts");
        let err = handle(&fake).detect_support().expect_err("denied");
        assert!(matches!(err, Error::NoPermission { .. }), "{err:?}");
        assert_eq!(err.path(), Some(Path::new("/proc/mounts")));

        let fake = FakeResctrl::new();
        let cfg = fake.config().with_mounts_path("/nonexistent/mounts");
        let err = Resctrl::with_provider(fake, cfg)
            .expect("config")
            .is_mounted()
            .expect_err("missing mount table");
        assert!(err.is_not_found());
    }

    #[test]
    fn malformed_info_numbers_are_reported() {
        let fake = FakeResctrl::new();
        fake.add_file("/sys/fs/resctrl/info/L3_MON/num_rmids", "lots\n");
        let err = handle(&fake).detect_support().expect_err("garbage");
        assert!(matches!(err, Error::Io { op: Op::Read, .. }), "{err:?}");
        assert_eq!(
            err.path(),
            Some(Path::new("/sys/fs/resctrl/info/L3_MON/num_rmids"))
        );
    }

    #[test]
    fn ensure_mounted_when_already_mounted_does_nothing() {
        let fake = FakeResctrl::new();
        let outcome = handle(&fake).ensure_mounted(true).expect("mounted");
        assert_eq!(outcome, MountOutcome::AlreadyMounted);
        assert_eq!(fake.counters().mount_calls, 0);
    }

    #[test]
    fn ensure_mounted_without_auto_mount_reports_not_mounted() {
        let fake = FakeResctrl::builder().mounted(false).build();
        let err = handle(&fake)
            .ensure_mounted(false)
            .expect_err("not mounted");
        match &err {
            Error::NotMounted { root } => assert_eq!(root, Path::new("/sys/fs/resctrl")),
            other => panic!("expected NotMounted, got {other:?}"),
        }
        assert!(err.to_string().contains("enable auto_mount"));
        assert_eq!(fake.counters().mount_calls, 0);
    }

    #[test]
    fn ensure_mounted_mounts_and_checks_again() {
        let fake = FakeResctrl::builder().mounted(false).build();
        let rc = handle(&fake);
        assert_eq!(
            rc.ensure_mounted(true).expect("mounts"),
            MountOutcome::Mounted
        );
        assert_eq!(fake.counters().mount_calls, 1);
        assert!(fake.is_mounted());
        assert!(rc.is_mounted().expect("mounts readable"));
    }

    #[test]
    fn ensure_mounted_classifies_mount_failures() {
        let cases = [
            (Errno::PERM, "NoPermission"),
            (Errno::ACCESS, "NoPermission"),
            (Errno::NODEV, "Unsupported"),
            (Errno::INVAL, "Unsupported"),
            (Errno::OPNOTSUPP, "Unsupported"),
            (Errno::NOENT, "Io"),
        ];
        for (errno, expected) in cases {
            let fake = FakeResctrl::builder().mounted(false).build();
            fake.set_mount_behavior(FakeMount::Fail(errno));
            let err = handle(&fake).ensure_mounted(true).expect_err("mount fails");
            let got = match &err {
                Error::NoPermission { op: Op::Mount, .. } => "NoPermission",
                Error::Unsupported { op: Op::Mount, .. } => "Unsupported",
                Error::Io { op: Op::Mount, .. } => "Io",
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(got, expected, "{errno:?}");
            assert_eq!(err.path(), Some(Path::new("/sys/fs/resctrl")));
        }
    }

    #[test]
    fn ensure_mounted_reports_a_mount_that_did_not_take_effect() {
        let fake = FakeResctrl::builder().mounted(false).build();
        fake.set_mount_behavior(FakeMount::NoEffect);
        let err = handle(&fake).ensure_mounted(true).expect_err("no effect");
        assert!(matches!(err, Error::NotMounted { .. }), "{err:?}");
        assert_eq!(fake.counters().mount_calls, 1);
    }

    #[test]
    fn custom_root_is_used_for_detection() {
        let fake = FakeResctrl::builder().root("/tmp/rc").build();
        // A handle configured for the default root does not see the fake's mount.
        let rc = Resctrl::with_provider(fake.clone(), Config::default()).expect("config");
        assert!(!rc.is_mounted().expect("mounts readable"));
        assert!(handle(&fake).is_mounted().expect("mounts readable"));
    }
}
