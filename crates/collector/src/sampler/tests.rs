//! The sampler over the fake resctrl (and, for layouts the fake lacks, a plain tree).

use std::path::PathBuf;

use nri_resctrl_plugin::{PodResctrlAddOrUpdate, PodResctrlEvent, ResctrlGroupState};
use resctrl::MonEvent::{LlcOccupancy, MbmLocalBytes, MbmTotalBytes};
use resctrl::fake::{FakeReading, FakeResctrl};

use super::*;

const SEC: i64 = 1_000_000_000;

struct Setup {
    fake: FakeResctrl,
    sampler: Sampler<FakeResctrl>,
    pods: PodTable,
}

impl Setup {
    fn new() -> Self {
        let fake = FakeResctrl::builder()
            .l3_domains([0, 1])
            .num_rmids(8)
            .build();
        let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("handle");
        Setup {
            fake,
            sampler: Sampler::new(rc, "node-a"),
            pods: PodTable::new(),
        }
    }

    /// A pod with an existing group; returns the group path.
    fn pod(&mut self, uid: &str, total: usize, reconciled: usize) -> PathBuf {
        let group = self.sampler.resctrl().create_group(uid).expect("group");
        self.pods.apply(update(
            uid,
            ResctrlGroupState::Exists(group.to_string_lossy().into_owned()),
            total,
            reconciled,
        ));
        group
    }

    fn set(&self, group: &Path, domain: u32, event: resctrl::MonEvent, reading: FakeReading) {
        self.fake.set_reading(group, domain, event, reading);
    }

    fn round(&mut self, n: i64) -> Vec<Row> {
        self.sampler.sample(
            &self.pods,
            SampleTime {
                timestamp_ns: n * SEC,
                interval_ns: SEC,
                read_at_ns: n * SEC + 1_000,
            },
        )
    }
}

fn update(uid: &str, group: ResctrlGroupState, total: usize, reconciled: usize) -> PodResctrlEvent {
    PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
        pod_uid: uid.into(),
        pod_namespace: "team".into(),
        pod_name: format!("name-{uid}"),
        group_state: group,
        total_containers: total,
        reconciled_containers: reconciled,
    })
}

fn row<'a>(rows: &'a [Row], uid: Option<&str>, domain: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.pod_uid.as_deref() == uid && r.domain.as_deref() == Some(domain))
        .unwrap_or_else(|| panic!("no row for {uid:?} {domain} in {rows:#?}"))
}

#[test]
fn the_default_group_has_a_row_per_domain_with_null_pod_columns() {
    let mut s = Setup::new();
    let root = s.fake.root();
    s.set(&root, 1, LlcOccupancy, FakeReading::Value(777));
    let rows = s.round(5);
    assert_eq!(rows.len(), 2);
    let r = row(&rows, None, "mon_L3_01");
    assert_eq!(
        (
            r.pod_uid.clone(),
            r.pod_namespace.clone(),
            r.pod_name.clone()
        ),
        (None, None, None)
    );
    assert_eq!((r.total_containers, r.reconciled_containers), (None, None));
    assert_eq!(r.resctrl_group.as_deref(), Some("/sys/fs/resctrl"));
    assert_eq!(r.llc_occupancy_bytes, Some(777));
    assert_eq!(
        (r.timestamp_ns, r.interval_ns, &*r.node),
        (5 * SEC, SEC, "node-a")
    );
}

#[test]
fn pod_rows_carry_the_pods_identity_group_and_counts() {
    let mut s = Setup::new();
    let g = s.pod("uid-1", 3, 2);
    let rows = s.round(1);
    assert_eq!(rows.len(), 4, "default group and one pod, two domains each");
    for domain in ["mon_L3_00", "mon_L3_01"] {
        let r = row(&rows, Some("uid-1"), domain);
        assert_eq!(r.pod_namespace.as_deref(), Some("team"));
        assert_eq!(r.pod_name.as_deref(), Some("name-uid-1"));
        assert_eq!(r.resctrl_group.as_deref(), g.to_str());
        assert_eq!(
            (r.total_containers, r.reconciled_containers),
            (Some(3), Some(2))
        );
    }
}

#[test]
fn bandwidth_is_a_delta_and_a_rate_since_the_previous_sample() {
    let mut s = Setup::new();
    let g = s.pod("uid-1", 1, 1);
    s.set(&g, 0, MbmTotalBytes, FakeReading::Value(1_000));
    s.set(&g, 0, MbmLocalBytes, FakeReading::Value(400));
    let first = s.round(1);
    let r = row(&first, Some("uid-1"), "mon_L3_00");
    assert_eq!(
        (
            r.mbm_total_bytes,
            r.mbm_total_bytes_delta,
            r.mbm_total_bytes_per_sec
        ),
        (Some(1_000), None, None)
    );
    assert_eq!(r.status, Status::Start);
    s.set(&g, 0, MbmTotalBytes, FakeReading::Value(3_000));
    s.set(&g, 0, MbmLocalBytes, FakeReading::Value(1_400));
    // Two ticks later (one skipped): the rate is over the measured 2 s.
    let later = s.round(3);
    let r = row(&later, Some("uid-1"), "mon_L3_00");
    assert_eq!(r.mbm_total_bytes_delta, Some(2_000));
    assert_eq!(r.mbm_total_bytes_per_sec, Some(1_000.0));
    assert_eq!(r.mbm_local_bytes_delta, Some(1_000));
    assert_eq!(r.mbm_local_bytes_per_sec, Some(500.0));
    assert_eq!(r.status, Status::Ok);
}

#[test]
fn a_counter_that_goes_backwards_is_marked_reset_with_no_delta() {
    let mut s = Setup::new();
    let g = s.pod("uid-1", 1, 1);
    s.set(&g, 1, MbmTotalBytes, FakeReading::Value(5_000));
    s.round(1);
    s.set(&g, 1, MbmTotalBytes, FakeReading::Value(100));
    let rows = s.round(2);
    let r = row(&rows, Some("uid-1"), "mon_L3_01");
    assert_eq!(r.status, Status::Reset);
    assert_eq!(
        (
            r.mbm_total_bytes,
            r.mbm_total_bytes_delta,
            r.mbm_total_bytes_per_sec
        ),
        (Some(100), None, None)
    );
    assert_eq!(
        row(&rows, Some("uid-1"), "mon_L3_00").status,
        Status::Ok,
        "the other domain continues"
    );
    s.set(&g, 1, MbmTotalBytes, FakeReading::Value(600));
    let r = row(&s.round(3), Some("uid-1"), "mon_L3_01").clone();
    assert_eq!(
        (r.mbm_total_bytes_delta, r.status),
        (Some(500), Status::Ok),
        "the new series continues"
    );
}

#[test]
fn an_unavailable_domain_is_null_with_its_status_and_nothing_else_is_affected() {
    let mut s = Setup::new();
    let a = s.pod("uid-a", 1, 1);
    let b = s.pod("uid-b", 1, 1);
    for g in [&a, &b] {
        s.set(g, 0, MbmTotalBytes, FakeReading::Value(10));
        s.set(g, 1, MbmTotalBytes, FakeReading::Value(10));
    }
    s.round(1);
    for e in [LlcOccupancy, MbmTotalBytes, MbmLocalBytes] {
        s.set(&a, 1, e, FakeReading::Unavailable);
    }
    s.set(&a, 0, MbmTotalBytes, FakeReading::Value(30));
    s.set(&b, 1, MbmTotalBytes, FakeReading::Value(50));
    let rows = s.round(2);
    assert_eq!(rows.len(), 6, "no row is dropped");
    let r = row(&rows, Some("uid-a"), "mon_L3_01");
    assert_eq!(r.status, Status::Unavailable);
    assert_eq!(
        (
            r.llc_occupancy_bytes,
            r.mbm_total_bytes,
            r.mbm_local_bytes,
            r.mbm_total_bytes_delta,
            r.mbm_total_bytes_per_sec
        ),
        (None, None, None, None, None)
    );
    let same_pod = row(&rows, Some("uid-a"), "mon_L3_00");
    assert_eq!(
        (same_pod.status, same_pod.mbm_total_bytes_delta),
        (Status::Ok, Some(20))
    );
    let other_pod = row(&rows, Some("uid-b"), "mon_L3_01");
    assert_eq!(
        (other_pod.status, other_pod.mbm_total_bytes_delta),
        (Status::Ok, Some(40))
    );
    // Readable again: the delta spans the gap, from the last value read.
    s.set(&a, 1, MbmTotalBytes, FakeReading::Value(70));
    s.set(&a, 1, LlcOccupancy, FakeReading::Value(1));
    s.set(&a, 1, MbmLocalBytes, FakeReading::Value(0));
    let r = row(&s.round(3), Some("uid-a"), "mon_L3_01").clone();
    assert_eq!(
        (r.mbm_total_bytes_delta, r.mbm_total_bytes_per_sec),
        (Some(60), Some(30.0))
    );
}

#[test]
fn error_and_unassigned_readings_have_their_own_status() {
    let mut s = Setup::new();
    let g = s.pod("uid-1", 1, 1);
    s.set(&g, 0, MbmLocalBytes, FakeReading::Unassigned);
    s.set(&g, 1, LlcOccupancy, FakeReading::Error);
    s.set(&g, 1, MbmTotalBytes, FakeReading::Unassigned);
    let rows = s.round(1);
    let d0 = row(&rows, Some("uid-1"), "mon_L3_00");
    assert_eq!((d0.status, d0.mbm_local_bytes), (Status::Unassigned, None));
    assert_eq!(
        d0.llc_occupancy_bytes,
        Some(0),
        "the readable events keep their values"
    );
    let d1 = row(&rows, Some("uid-1"), "mon_L3_01");
    assert_eq!(d1.status, Status::Error, "error outranks unassigned");
    assert_eq!((d1.llc_occupancy_bytes, d1.mbm_total_bytes), (None, None));
}

#[test]
fn an_event_the_kernel_does_not_offer_is_null_without_a_status() {
    let fake = FakeResctrl::builder()
        .l3_domains([0])
        .mon_features([LlcOccupancy])
        .build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("handle");
    let mut sampler = Sampler::new(rc, "n");
    let rows = sampler.sample(
        &PodTable::new(),
        SampleTime {
            timestamp_ns: 0,
            interval_ns: SEC,
            read_at_ns: 0,
        },
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].llc_occupancy_bytes,
            rows[0].mbm_total_bytes,
            rows[0].mbm_local_bytes
        ),
        (Some(0), None, None)
    );
    assert_eq!(
        rows[0].status,
        Status::Ok,
        "no counter, so no series to start"
    );
}

#[test]
fn a_pod_whose_group_failed_still_gets_a_row() {
    let mut s = Setup::new();
    s.pods
        .apply(update("uid-x", ResctrlGroupState::Failed, 2, 0));
    let rows = s.round(1);
    let r = rows
        .iter()
        .find(|r| r.pod_uid.as_deref() == Some("uid-x"))
        .expect("a row for the failed pod");
    assert_eq!(r.status, Status::GroupFailed);
    assert_eq!((r.resctrl_group.clone(), r.domain.clone()), (None, None));
    assert_eq!(
        (
            r.pod_name.as_deref(),
            r.total_containers,
            r.reconciled_containers
        ),
        (Some("name-uid-x"), Some(2), Some(0))
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.pod_uid.as_deref() == Some("uid-x"))
            .count(),
        1
    );
}

#[test]
fn a_group_that_cannot_be_read_gets_one_read_failed_row() {
    let mut s = Setup::new();
    let g = s.pod("uid-1", 1, 1);
    s.sampler
        .resctrl()
        .delete_group(&g)
        .expect("delete behind the plugin's back");
    let rows = s.round(1);
    let r = rows
        .iter()
        .find(|r| r.pod_uid.is_some())
        .expect("a pod row");
    assert_eq!((r.status, r.domain.clone()), (Status::ReadFailed, None));
    assert_eq!(r.resctrl_group.as_deref(), g.to_str());
    assert_eq!(rows.len(), 3, "the default group is still read");
}

#[test]
fn a_group_re_created_after_it_failed_starts_new_series() {
    let mut s = Setup::new();
    let g = s.pod("uid-1", 1, 1);
    s.set(&g, 0, MbmTotalBytes, FakeReading::Value(1_000_000));
    s.round(1);
    let ended = s
        .pods
        .apply(update("uid-1", ResctrlGroupState::Failed, 1, 0));
    if let Some(group) = ended {
        s.sampler.forget_group(&group);
    }
    s.sampler.resctrl().delete_group(&g).expect("delete");
    let again = s.pod("uid-1", 1, 1);
    s.set(&again, 0, MbmTotalBytes, FakeReading::Value(2_000_000));
    let r = row(&s.round(2), Some("uid-1"), "mon_L3_00").clone();
    assert_eq!(
        (r.status, r.mbm_total_bytes_delta),
        (Status::Start, None),
        "not a delta against the old group"
    );
}

#[test]
fn series_of_removed_pods_are_dropped() {
    let mut s = Setup::new();
    s.pod("uid-1", 1, 1);
    s.round(1);
    assert_eq!(s.sampler.series_count(), 4);
    s.pods.apply(PodResctrlEvent::Removed(
        nri_resctrl_plugin::PodResctrlRemoved {
            pod_uid: "uid-1".into(),
        },
    ));
    s.round(2);
    assert_eq!(s.sampler.series_count(), 2, "only the default group's");
}

#[test]
fn sub_numa_nodes_get_rows_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    for (l3, subs) in [(0u32, [0u32, 1]), (1, [2, 3])] {
        write(&format!("mon_data/mon_L3_{l3:02}/mbm_total_bytes"), "100\n");
        for sub in subs {
            write(
                &format!("mon_data/mon_L3_{l3:02}/mon_sub_L3_{sub:02}/mbm_total_bytes"),
                &format!("{}\n", 10 * sub),
            );
        }
    }
    let rc = Resctrl::new(resctrl::Config::default().with_root(dir.path())).expect("handle");
    let mut sampler = Sampler::new(rc, "n");
    let rows = sampler.sample(
        &PodTable::new(),
        SampleTime {
            timestamp_ns: 0,
            interval_ns: SEC,
            read_at_ns: 0,
        },
    );
    let domains: Vec<&str> = rows.iter().filter_map(|r| r.domain.as_deref()).collect();
    assert_eq!(
        domains,
        [
            "mon_L3_00",
            "mon_L3_00/mon_sub_L3_00",
            "mon_L3_00/mon_sub_L3_01",
            "mon_L3_01",
            "mon_L3_01/mon_sub_L3_02",
            "mon_L3_01/mon_sub_L3_03"
        ]
    );
    assert_eq!(
        row(&rows, None, "mon_L3_01/mon_sub_L3_03").mbm_total_bytes,
        Some(30)
    );
    write("mon_data/mon_L3_01/mon_sub_L3_03/mbm_total_bytes", "45\n");
    let rows = sampler.sample(
        &PodTable::new(),
        SampleTime {
            timestamp_ns: SEC,
            interval_ns: SEC,
            read_at_ns: SEC,
        },
    );
    let r = row(&rows, None, "mon_L3_01/mon_sub_L3_03");
    assert_eq!(
        (r.mbm_total_bytes_delta, r.mbm_total_bytes_per_sec),
        (Some(15), Some(15.0)),
        "each node is a series"
    );
    assert_eq!(row(&rows, None, "mon_L3_01").mbm_total_bytes_delta, Some(0));
}
