//! Per-group, per-L3-domain monitoring readings (`mon_data/mon_L3_NN/<event>`).

use std::fmt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::error::{Error, Op, Result, errno};
use crate::fs::FsProvider;
use crate::{MON_DATA_DIR, Resctrl};

/// A monitoring event, named like its file in `mon_data/mon_L3_NN/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MonEvent {
    /// `llc_occupancy`: bytes of L3 cache occupied by the group's tasks (a snapshot).
    LlcOccupancy,
    /// `mbm_total_bytes`: bytes of memory traffic (a monotonically growing counter).
    MbmTotalBytes,
    /// `mbm_local_bytes`: bytes of local-NUMA memory traffic (a monotonically growing
    /// counter).
    MbmLocalBytes,
}

impl MonEvent {
    /// All events, in file-name order.
    pub const ALL: [MonEvent; 3] = [
        MonEvent::LlcOccupancy,
        MonEvent::MbmTotalBytes,
        MonEvent::MbmLocalBytes,
    ];

    /// The event's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            MonEvent::LlcOccupancy => "llc_occupancy",
            MonEvent::MbmTotalBytes => "mbm_total_bytes",
            MonEvent::MbmLocalBytes => "mbm_local_bytes",
        }
    }

    /// The event with this file name, if it is one of the three.
    pub fn from_file_name(name: &str) -> Option<Self> {
        MonEvent::ALL.into_iter().find(|e| e.file_name() == name)
    }
}

impl fmt::Display for MonEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// One event's value in one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The counter's value in bytes.
    Value(u64),
    /// The file reads `Unavailable`: the hardware is not tracking this RMID right now
    /// (e.g. the RMID was just allocated or is being recycled).
    Unavailable,
    /// The file reads `Error`, or the read fails with EIO (older kernels): the counter
    /// could not be read.
    Error,
    /// The file reads `Unassigned`: in counter-assignment mode, no hardware counter is
    /// assigned to this group and event.
    Unassigned,
    /// The event file does not exist (the kernel does not offer this event).
    Absent,
}

impl Reading {
    /// The value, if there is one.
    pub fn value(self) -> Option<u64> {
        match self {
            Reading::Value(v) => Some(v),
            Reading::Unavailable | Reading::Error | Reading::Unassigned | Reading::Absent => None,
        }
    }

    /// Interprets the text of an event file.
    ///
    /// A decimal value (some newer telemetry events print fractions) is truncated to
    /// whole units. Text that is neither a number nor one of the kernel's markers is an
    /// [`Reading::Error`], logged once per read.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if let Ok(v) = text.parse() {
            return Reading::Value(v);
        }
        match text {
            "Unavailable" => return Reading::Unavailable,
            "Error" => return Reading::Error,
            "Unassigned" => return Reading::Unassigned,
            _ => {}
        }
        if let Some(v) = parse_decimal(text) {
            return Reading::Value(v);
        }
        // Still a per-event condition: one odd file must not cost the other readings.
        tracing::warn!(
            text,
            "unexpected resctrl event file contents; treated as an error reading"
        );
        Reading::Error
    }
}

/// `<digits>.<digits>` as its whole part; anything else (signs, exponents) is not a
/// counter value.
fn parse_decimal(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(whole) && digits(fraction) {
        whole.parse().ok()
    } else {
        None
    }
}

/// The readings of one monitoring domain: an L3 domain (`mon_data/mon_L3_NN`) or, on
/// kernels with sub-NUMA clustering (SNC), one of its sub-NUMA nodes
/// (`mon_data/mon_L3_NN/mon_sub_L3_MM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainReadings {
    /// The L3 domain id (the `NN` of `mon_L3_NN`, the L3 cache id).
    pub domain: u32,
    /// The sub-NUMA node id (the `MM` of `mon_sub_L3_MM`), or `None` for the L3 domain
    /// itself (under SNC, the sum of its sub-NUMA nodes).
    pub sub_domain: Option<u32>,
    /// `llc_occupancy`.
    pub llc_occupancy: Reading,
    /// `mbm_total_bytes`.
    pub mbm_total_bytes: Reading,
    /// `mbm_local_bytes`.
    pub mbm_local_bytes: Reading,
}

impl DomainReadings {
    /// The reading of `event`.
    pub fn get(&self, event: MonEvent) -> Reading {
        match event {
            MonEvent::LlcOccupancy => self.llc_occupancy,
            MonEvent::MbmTotalBytes => self.mbm_total_bytes,
            MonEvent::MbmLocalBytes => self.mbm_local_bytes,
        }
    }

    fn set(&mut self, event: MonEvent, reading: Reading) {
        match event {
            MonEvent::LlcOccupancy => self.llc_occupancy = reading,
            MonEvent::MbmTotalBytes => self.mbm_total_bytes = reading,
            MonEvent::MbmLocalBytes => self.mbm_local_bytes = reading,
        }
    }

    /// The domain's directory below `mon_data`, as the kernel names it: `mon_L3_00`, or
    /// `mon_L3_00/mon_sub_L3_01` for a sub-NUMA node.
    pub fn dir_name(&self) -> String {
        match self.sub_domain {
            None => format!("{L3_PREFIX}{:02}", self.domain),
            Some(sub) => format!("{L3_PREFIX}{:02}/{SUB_L3_PREFIX}{sub:02}", self.domain),
        }
    }
}

/// All readings of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReadings {
    /// The group.
    pub path: PathBuf,
    /// One entry per L3 domain, each followed by its sub-NUMA nodes if the kernel has
    /// them; sorted by domain id, then sub-NUMA node id.
    pub domains: Vec<DomainReadings>,
}

impl GroupReadings {
    /// The readings of L3 domain `id` (not of a sub-NUMA node), if the group has it.
    pub fn domain(&self, id: u32) -> Option<&DomainReadings> {
        self.domains
            .iter()
            .find(|d| d.domain == id && d.sub_domain.is_none())
    }

    /// The readings of sub-NUMA node `sub` of L3 domain `id`, if the group has it.
    pub fn sub_domain(&self, id: u32, sub: u32) -> Option<&DomainReadings> {
        self.domains
            .iter()
            .find(|d| d.domain == id && d.sub_domain == Some(sub))
    }
}

const L3_PREFIX: &str = "mon_L3_";
const SUB_L3_PREFIX: &str = "mon_sub_L3_";

/// The id of a `<prefix>NN` directory name.
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The domain id of a `mon_L3_NN` directory name.
fn l3_domain_id(name: &str) -> Option<u32> {
    numbered(name, L3_PREFIX)
}

/// The node id of a `mon_sub_L3_NN` directory name.
fn sub_domain_id(name: &str) -> Option<u32> {
    numbered(name, SUB_L3_PREFIX)
}

/// Where a mount's monitoring domains are below a group's `mon_data`: every group has the
/// same (the kernel gives each group a directory per domain it monitors), so a sampler
/// lists them once, from [`Resctrl::monitoring_layout`], and reads every group with
/// [`Resctrl::read_group_monitoring_with`] without listing directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonLayout {
    /// `(directory below mon_data, L3 domain, sub-NUMA node)`, sorted by domain and node.
    domains: Vec<(PathBuf, u32, Option<u32>)>,
}

impl MonLayout {
    /// Number of domains (L3 domains and sub-NUMA nodes).
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

impl<P: FsProvider> Resctrl<P> {
    /// Reads `llc_occupancy`, `mbm_total_bytes` and `mbm_local_bytes` of every L3 domain
    /// of the group at `path` (the root is allowed: it is the default group), and of
    /// every sub-NUMA node (`mon_sub_L3_NN`) below a domain on SNC kernels.
    ///
    /// An event that is unavailable, unassigned or in error (text or EIO) or absent in
    /// one domain is reported as such for that event and domain only. Directories other
    /// than `mon_L3_NN` (e.g. other resources' domains) and files other than the three
    /// events are ignored. Failing to list `mon_data` (e.g. the group was removed) or a
    /// domain, or any other read error, is returned, classified.
    pub fn read_group_monitoring(&self, path: &Path) -> Result<GroupReadings> {
        let layout = self.monitoring_layout(path)?;
        self.read_domains(path, &layout)
    }

    /// The domains below the `mon_data` of the group at `path` (usually the root).
    ///
    /// Fails like [`Self::read_group_monitoring`] when a directory cannot be listed.
    pub fn monitoring_layout(&self, path: &Path) -> Result<MonLayout> {
        self.check_group_path(path, true)?;
        let mon_data = path.join(MON_DATA_DIR);
        let mut domains = Vec::new();
        for entry in self.list_dirs(&mon_data)? {
            let Some(domain) = entry.to_str().and_then(l3_domain_id) else {
                continue;
            };
            let dir = PathBuf::from(&entry);
            for sub in self.list_dirs(&mon_data.join(&entry))? {
                if let Some(sub_domain) = sub.to_str().and_then(sub_domain_id) {
                    domains.push((dir.join(&sub), domain, Some(sub_domain)));
                }
            }
            domains.push((dir, domain, None));
        }
        domains.sort_by_key(|(_, domain, sub)| (*domain, *sub));
        Ok(MonLayout { domains })
    }

    /// Like [`Self::read_group_monitoring`], but reads the domains of `layout` (from
    /// [`Self::monitoring_layout`]) without listing directories: a third of the system
    /// calls of a group.
    ///
    /// If no event of any domain exists, the group is listed after all: that reports a
    /// removed group as the same error [`Self::read_group_monitoring`] gives, and reads a
    /// group whose domains differ from `layout`.
    pub fn read_group_monitoring_with(
        &self,
        path: &Path,
        layout: &MonLayout,
    ) -> Result<GroupReadings> {
        self.check_group_path(path, true)?;
        let readings = self.read_domains(path, layout)?;
        let all_absent = readings
            .domains
            .iter()
            .all(|d| MonEvent::ALL.iter().all(|&e| d.get(e) == Reading::Absent));
        if all_absent {
            return self.read_group_monitoring(path);
        }
        Ok(readings)
    }

    fn read_domains(&self, path: &Path, layout: &MonLayout) -> Result<GroupReadings> {
        let mon_data = path.join(MON_DATA_DIR);
        let domains = layout
            .domains
            .iter()
            .map(|(dir, domain, sub)| self.read_domain(&mon_data.join(dir), *domain, *sub))
            .collect::<Result<_>>()?;
        Ok(GroupReadings {
            path: path.to_path_buf(),
            domains,
        })
    }

    /// The names of the directories in `dir`.
    fn list_dirs(&self, dir: &Path) -> Result<Vec<std::ffi::OsString>> {
        let entries = self
            .fs
            .read_dir(dir)
            .map_err(|e| Error::classify(Op::ListDir, dir, e))?;
        Ok(entries
            .into_iter()
            .filter(|e| e.is_dir)
            .map(|e| e.name)
            .collect())
    }

    fn read_domain(
        &self,
        dir: &Path,
        domain: u32,
        sub_domain: Option<u32>,
    ) -> Result<DomainReadings> {
        let mut readings = DomainReadings {
            domain,
            sub_domain,
            llc_occupancy: Reading::Absent,
            mbm_total_bytes: Reading::Absent,
            mbm_local_bytes: Reading::Absent,
        };
        for event in MonEvent::ALL {
            readings.set(event, self.read_event(&dir.join(event.file_name()))?);
        }
        Ok(readings)
    }

    fn read_event(&self, file: &Path) -> Result<Reading> {
        match self.fs.read_to_string(file) {
            Ok(text) => Ok(Reading::parse(&text)),
            Err(e) => match errno(&e) {
                Some(Errno::NOENT) => Ok(Reading::Absent),
                Some(Errno::IO) => Ok(Reading::Error),
                _ => Err(Error::classify(Op::Read, file, e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_parse_values_and_unavailable_markers() {
        assert_eq!(Reading::parse("123456\n"), Reading::Value(123_456));
        assert_eq!(Reading::parse("0"), Reading::Value(0));
        assert_eq!(Reading::parse("Unavailable\n"), Reading::Unavailable);
        assert_eq!(Reading::parse("Error\n"), Reading::Error);
        assert_eq!(Reading::parse("Unassigned\n"), Reading::Unassigned);
        assert_eq!(Reading::parse("-1"), Reading::Error);
        assert_eq!(Reading::parse("1.5e3"), Reading::Error);
        assert_eq!(Reading::parse(""), Reading::Error);
        assert_eq!(Reading::Value(7).value(), Some(7));
        assert_eq!(Reading::Absent.value(), None);
        assert_eq!(Reading::Unassigned.value(), None);
    }

    #[test]
    fn decimal_values_are_truncated_to_whole_units() {
        assert_eq!(Reading::parse("12.75\n"), Reading::Value(12));
        assert_eq!(Reading::parse("0.000123"), Reading::Value(0));
        assert_eq!(Reading::parse(".5"), Reading::Error);
        assert_eq!(Reading::parse("5."), Reading::Error);
        assert_eq!(Reading::parse("-0.5"), Reading::Error);
    }

    #[test]
    fn directory_names_follow_the_kernel() {
        let mut d = DomainReadings {
            domain: 1,
            sub_domain: None,
            llc_occupancy: Reading::Absent,
            mbm_total_bytes: Reading::Absent,
            mbm_local_bytes: Reading::Absent,
        };
        assert_eq!(d.dir_name(), "mon_L3_01");
        d.sub_domain = Some(3);
        assert_eq!(d.dir_name(), "mon_L3_01/mon_sub_L3_03");
        d.domain = 127;
        assert_eq!(d.dir_name(), "mon_L3_127/mon_sub_L3_03");
    }

    #[test]
    fn event_names_round_trip() {
        for e in MonEvent::ALL {
            assert_eq!(MonEvent::from_file_name(e.file_name()), Some(e));
            assert_eq!(e.to_string(), e.file_name());
        }
        assert_eq!(MonEvent::from_file_name("mbm_total_bytes_config"), None);
    }

    #[test]
    fn domain_ids_come_from_mon_l3_names() {
        assert_eq!(l3_domain_id("mon_L3_00"), Some(0));
        assert_eq!(l3_domain_id("mon_L3_01"), Some(1));
        assert_eq!(l3_domain_id("mon_L3_127"), Some(127));
        assert_eq!(l3_domain_id("mon_L3_"), None);
        assert_eq!(l3_domain_id("mon_L3_+1"), None);
        assert_eq!(l3_domain_id("mon_MB_00"), None);
        assert_eq!(l3_domain_id("mon_sub_L3_00"), None);
        assert_eq!(sub_domain_id("mon_sub_L3_02"), Some(2));
        assert_eq!(sub_domain_id("mon_L3_02"), None);
        assert_eq!(sub_domain_id("mon_sub_L3_x"), None);
    }
}

#[cfg(test)]
mod fake_tests {
    use super::*;
    use crate::fake::{FakeReading, FakeResctrl};

    fn handle(fake: &FakeResctrl) -> Resctrl<FakeResctrl> {
        Resctrl::with_provider(fake.clone(), fake.config()).expect("valid config")
    }

    #[test]
    fn reads_every_event_of_every_domain() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let g = rc.create_group("a").expect("create");
        fake.set_reading(&g, 0, MonEvent::LlcOccupancy, FakeReading::Value(4096));
        fake.set_reading(&g, 1, MonEvent::MbmTotalBytes, FakeReading::Value(1 << 40));
        let r = rc.read_group_monitoring(&g).expect("read");
        assert_eq!(r.path, g);
        assert_eq!(
            r.domains,
            vec![
                DomainReadings {
                    domain: 0,
                    sub_domain: None,
                    llc_occupancy: Reading::Value(4096),
                    mbm_total_bytes: Reading::Value(0),
                    mbm_local_bytes: Reading::Value(0),
                },
                DomainReadings {
                    domain: 1,
                    sub_domain: None,
                    llc_occupancy: Reading::Value(0),
                    mbm_total_bytes: Reading::Value(1 << 40),
                    mbm_local_bytes: Reading::Value(0),
                },
            ]
        );
        assert_eq!(
            r.domain(1).map(|d| d.get(MonEvent::MbmTotalBytes)),
            Some(Reading::Value(1 << 40))
        );
        assert_eq!(r.domain(7), None);
    }

    #[test]
    fn unavailable_and_absent_stay_local_to_their_event_and_domain() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let g = rc.create_group("a").expect("create");
        fake.set_reading(&g, 0, MonEvent::LlcOccupancy, FakeReading::Unavailable);
        fake.set_reading(
            &g,
            0,
            MonEvent::MbmTotalBytes,
            FakeReading::ReadError(Errno::IO),
        );
        fake.set_reading(&g, 1, MonEvent::MbmLocalBytes, FakeReading::Absent);
        fake.set_reading(&g, 1, MonEvent::LlcOccupancy, FakeReading::Value(10));
        let r = rc.read_group_monitoring(&g).expect("read");
        let d0 = r.domain(0).expect("domain 0");
        let d1 = r.domain(1).expect("domain 1");
        assert_eq!(d0.llc_occupancy, Reading::Unavailable);
        assert_eq!(d0.mbm_total_bytes, Reading::Error);
        assert_eq!(d0.mbm_local_bytes, Reading::Value(0));
        assert_eq!(d1.llc_occupancy, Reading::Value(10));
        assert_eq!(d1.mbm_total_bytes, Reading::Value(0));
        assert_eq!(d1.mbm_local_bytes, Reading::Absent);
    }

    #[test]
    fn events_the_kernel_does_not_offer_are_absent() {
        let fake = FakeResctrl::builder()
            .mon_features([MonEvent::LlcOccupancy])
            .l3_domains([2, 0, 10])
            .build();
        let rc = handle(&fake);
        let g = rc.create_group("a").expect("create");
        let r = rc.read_group_monitoring(&g).expect("read");
        let ids: Vec<u32> = r.domains.iter().map(|d| d.domain).collect();
        assert_eq!(ids, vec![0, 2, 10], "sorted by domain id");
        for d in &r.domains {
            assert_eq!(d.llc_occupancy, Reading::Value(0));
            assert_eq!(d.mbm_total_bytes, Reading::Absent);
            assert_eq!(d.mbm_local_bytes, Reading::Absent);
        }
    }

    #[test]
    fn the_root_group_can_be_read() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let root = rc.root().to_path_buf();
        fake.set_reading(&root, 1, MonEvent::LlcOccupancy, FakeReading::Value(99));
        let r = rc.read_group_monitoring(&root).expect("read");
        assert_eq!(
            r.domain(1).map(|d| d.llc_occupancy),
            Some(Reading::Value(99))
        );
    }

    #[test]
    fn other_errors_fail_the_group() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let g = rc.create_group("a").expect("create");
        let file = g.join("mon_data/mon_L3_01/mbm_local_bytes");
        fake.deny_access(file.clone());
        let err = rc.read_group_monitoring(&g).expect_err("denied");
        assert!(
            matches!(err, Error::NoPermission { op: Op::Read, .. }),
            "{err:?}"
        );
        assert_eq!(err.path(), Some(file.as_path()));

        let gone = rc.group_path("gone").expect("path");
        let err = rc.read_group_monitoring(&gone).expect_err("no group");
        assert!(
            matches!(
                err,
                Error::Io {
                    op: Op::ListDir,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_not_found());

        let err = rc
            .read_group_monitoring(Path::new("/elsewhere"))
            .expect_err("outside");
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    }

    #[test]
    fn readings_reset_when_a_group_is_recreated() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let g = rc.create_group("a").expect("create");
        fake.set_reading(&g, 0, MonEvent::MbmTotalBytes, FakeReading::Value(5));
        rc.delete_group(&g).expect("delete");
        rc.create_group("a").expect("recreate");
        let r = rc.read_group_monitoring(&g).expect("read");
        assert_eq!(
            r.domain(0).map(|d| d.mbm_total_bytes),
            Some(Reading::Value(0))
        );
    }

    #[test]
    fn a_layout_read_once_reads_every_group_alike() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let layout = rc.monitoring_layout(rc.root()).expect("layout");
        assert_eq!(layout.len(), 2);
        let g = rc.create_group("a").expect("create");
        fake.set_reading(&g, 1, MonEvent::MbmTotalBytes, FakeReading::Value(77));
        fake.reset_counters();
        let with = rc.read_group_monitoring_with(&g, &layout).expect("read");
        assert_eq!(
            fake.counters().reads,
            6,
            "three events in two domains, nothing else"
        );
        assert_eq!(with, rc.read_group_monitoring(&g).expect("read"));
    }

    #[test]
    fn a_removed_group_read_by_layout_fails_like_a_listing() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let layout = rc.monitoring_layout(rc.root()).expect("layout");
        let g = rc.create_group("a").expect("create");
        rc.delete_group(&g).expect("delete");
        let err = rc
            .read_group_monitoring_with(&g, &layout)
            .expect_err("gone");
        assert!(
            matches!(
                err,
                Error::Io {
                    op: Op::ListDir,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_not_found());
        let err = rc
            .read_group_monitoring_with(Path::new("/elsewhere"), &layout)
            .expect_err("outside");
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    }

    #[test]
    fn error_and_unassigned_markers_are_told_apart() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let g = rc.create_group("a").expect("create");
        fake.set_reading(&g, 0, MonEvent::MbmTotalBytes, FakeReading::Error);
        fake.set_reading(&g, 1, MonEvent::MbmLocalBytes, FakeReading::Unassigned);
        let r = rc.read_group_monitoring(&g).expect("read");
        assert_eq!(r.domain(0).map(|d| d.mbm_total_bytes), Some(Reading::Error));
        assert_eq!(
            r.domain(1).map(|d| d.mbm_local_bytes),
            Some(Reading::Unassigned)
        );
        assert_eq!(
            r.domain(1).map(|d| d.llc_occupancy),
            Some(Reading::Value(0))
        );
    }
}

/// Layouts the fake does not model (sub-NUMA clustering, other resources' domains,
/// extra files), written as a plain directory tree and read through [`crate::RealFs`].
#[cfg(test)]
mod tree_tests {
    use std::fs;

    use super::*;
    use crate::{Config, RealFs};

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir -p");
        fs::write(path, text).expect("write");
    }

    fn handle(root: &Path) -> Resctrl<RealFs> {
        Resctrl::new(Config::default().with_root(root)).expect("valid config")
    }

    #[test]
    fn sub_numa_nodes_are_read_below_their_l3_domain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = dir.path().join("mon_groups/pod_a");
        let d = "mon_groups/pod_a/mon_data";
        for (l3, subs) in [(0u32, [0u32, 1]), (1, [2, 3])] {
            let base = format!("{d}/mon_L3_{l3:02}");
            write(
                dir.path(),
                &format!("{base}/llc_occupancy"),
                &format!("{}\n", 100 + l3),
            );
            write(dir.path(), &format!("{base}/mbm_total_bytes"), "1000\n");
            for sub in subs {
                let node = format!("{base}/mon_sub_L3_{sub:02}");
                write(
                    dir.path(),
                    &format!("{node}/llc_occupancy"),
                    &format!("{}\n", 10 + sub),
                );
                write(dir.path(), &format!("{node}/mbm_total_bytes"), "500\n");
                write(
                    dir.path(),
                    &format!("{node}/mbm_local_bytes"),
                    "Unavailable\n",
                );
            }
        }
        let r = handle(dir.path()).read_group_monitoring(&g).expect("read");
        let order: Vec<(u32, Option<u32>)> =
            r.domains.iter().map(|d| (d.domain, d.sub_domain)).collect();
        assert_eq!(
            order,
            vec![
                (0, None),
                (0, Some(0)),
                (0, Some(1)),
                (1, None),
                (1, Some(2)),
                (1, Some(3))
            ]
        );
        let l3 = r.domain(1).expect("L3 domain 1");
        assert_eq!(l3.llc_occupancy, Reading::Value(101));
        assert_eq!(l3.mbm_local_bytes, Reading::Absent);
        let node = r.sub_domain(1, 3).expect("sub-NUMA node 3");
        assert_eq!(node.llc_occupancy, Reading::Value(13));
        assert_eq!(node.mbm_total_bytes, Reading::Value(500));
        assert_eq!(node.mbm_local_bytes, Reading::Unavailable);
        assert_eq!(node.dir_name(), "mon_L3_01/mon_sub_L3_03");
        assert_eq!(r.sub_domain(0, 3), None);
        let rc = handle(dir.path());
        let layout = rc.monitoring_layout(&g).expect("layout");
        assert_eq!(layout.len(), 6, "2 L3 domains and 4 sub-NUMA nodes");
        assert_eq!(rc.read_group_monitoring_with(&g, &layout).expect("read"), r);
    }

    #[test]
    fn unknown_domains_and_files_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = "mon_data";
        write(dir.path(), &format!("{d}/mon_L3_00/llc_occupancy"), "7\n");
        write(
            dir.path(),
            &format!("{d}/mon_L3_00/mbm_total_bytes_config"),
            "0=0x7f\n",
        );
        write(dir.path(), &format!("{d}/mon_L3_00/future_event"), "junk\n");
        write(
            dir.path(),
            &format!("{d}/mon_L3_00/mon_sub_other/llc_occupancy"),
            "1\n",
        );
        write(
            dir.path(),
            &format!("{d}/mon_PERF_PKG_00/core_energy"),
            "0.000123\n",
        );
        write(dir.path(), &format!("{d}/mon_MB_00/llc_occupancy"), "1\n");
        write(dir.path(), &format!("{d}/stray_file"), "x\n");
        let r = handle(dir.path())
            .read_group_monitoring(dir.path())
            .expect("read the root group");
        assert_eq!(r.domains.len(), 1, "{r:?}");
        assert_eq!(r.domains[0].llc_occupancy, Reading::Value(7));
        assert_eq!(r.domains[0].mbm_total_bytes, Reading::Absent);
    }
}
