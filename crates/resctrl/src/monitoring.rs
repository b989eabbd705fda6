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
    /// The kernel has no value right now: the file reads `Unavailable` (RMID not tracked
    /// by the hardware), `Error`, `Unassigned` (no hardware counter assigned), or the
    /// read fails with EIO.
    Unavailable,
    /// The event file does not exist (the kernel does not offer this event).
    Absent,
}

impl Reading {
    /// The value, if there is one.
    pub fn value(self) -> Option<u64> {
        match self {
            Reading::Value(v) => Some(v),
            Reading::Unavailable | Reading::Absent => None,
        }
    }

    /// Interprets the text of an event file.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if let Ok(v) = text.parse() {
            return Reading::Value(v);
        }
        if !matches!(text, "Unavailable" | "Error" | "Unassigned") {
            // Still a per-event condition: one odd file must not cost the other readings.
            tracing::warn!(
                text,
                "unexpected resctrl event file contents; treated as unavailable"
            );
        }
        Reading::Unavailable
    }
}

/// The readings of one L3 monitoring domain (`mon_data/mon_L3_NN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainReadings {
    /// The domain id (the `NN` of `mon_L3_NN`, the L3 cache id).
    pub domain: u32,
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
}

/// All readings of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReadings {
    /// The group.
    pub path: PathBuf,
    /// One entry per L3 domain, sorted by domain id.
    pub domains: Vec<DomainReadings>,
}

impl GroupReadings {
    /// The readings of domain `id`, if the group has that domain.
    pub fn domain(&self, id: u32) -> Option<&DomainReadings> {
        self.domains.iter().find(|d| d.domain == id)
    }
}

/// The domain id of a `mon_L3_NN` directory name.
fn l3_domain_id(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("mon_L3_")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl<P: FsProvider> Resctrl<P> {
    /// Reads `llc_occupancy`, `mbm_total_bytes` and `mbm_local_bytes` of every L3 domain
    /// of the group at `path` (the root is allowed: it is the default group).
    ///
    /// An event that is unavailable (text or EIO) or absent in one domain is reported as
    /// such for that event and domain only. Failing to list `mon_data` (e.g. the group
    /// was removed) or any other read error is returned, classified.
    pub fn read_group_monitoring(&self, path: &Path) -> Result<GroupReadings> {
        self.check_group_path(path, true)?;
        let mon_data = path.join(MON_DATA_DIR);
        let entries = self
            .fs
            .read_dir(&mon_data)
            .map_err(|e| Error::classify(Op::ListDir, &mon_data, e))?;
        let mut domains = Vec::new();
        for entry in entries.iter().filter(|e| e.is_dir) {
            // Other names (none today; `mon_sub_L3_*` live one level deeper) are not L3
            // domains.
            let Some(domain) = entry.name.to_str().and_then(l3_domain_id) else {
                continue;
            };
            let dir = mon_data.join(&entry.name);
            let mut readings = DomainReadings {
                domain,
                llc_occupancy: Reading::Absent,
                mbm_total_bytes: Reading::Absent,
                mbm_local_bytes: Reading::Absent,
            };
            for event in MonEvent::ALL {
                readings.set(event, self.read_event(&dir.join(event.file_name()))?);
            }
            domains.push(readings);
        }
        domains.sort_by_key(|d| d.domain);
        Ok(GroupReadings {
            path: path.to_path_buf(),
            domains,
        })
    }

    fn read_event(&self, file: &Path) -> Result<Reading> {
        match self.fs.read_to_string(file) {
            Ok(text) => Ok(Reading::parse(&text)),
            Err(e) => match errno(&e) {
                Some(Errno::NOENT) => Ok(Reading::Absent),
                Some(Errno::IO) => Ok(Reading::Unavailable),
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
        assert_eq!(Reading::parse("Error\n"), Reading::Unavailable);
        assert_eq!(Reading::parse("Unassigned\n"), Reading::Unavailable);
        assert_eq!(Reading::parse("-1"), Reading::Unavailable);
        assert_eq!(Reading::Value(7).value(), Some(7));
        assert_eq!(Reading::Absent.value(), None);
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
                    llc_occupancy: Reading::Value(4096),
                    mbm_total_bytes: Reading::Value(0),
                    mbm_local_bytes: Reading::Value(0),
                },
                DomainReadings {
                    domain: 1,
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
        assert_eq!(d0.mbm_total_bytes, Reading::Unavailable);
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
}
