//! The plugin's behaviours, each driven through the public entry points with the fake
//! resctrl and a scripted pid source (the `behaviour_NN` tests follow the list).

mod common;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::slice;

use common::{Harness, LogCapture, ROOT, ctr, exists, failed, pod, removed};
use nri_resctrl_plugin::ContainerState::{Created, Running, Stopped};
use nri_resctrl_plugin::{
    CgroupPidSource, ContainerInfo, ContainerReconcile, GroupTally, PidSource, PluginConfig,
    PluginError, PodInfo, ResctrlPlugin, ScriptedPidSource, events,
};
use resctrl::fake::{Errno, FakeOp, FakeResctrl};
use resctrl::{CleanupSummary, FsProvider, MountOutcome};

/// 1. Startup with pods and containers that already exist: one event per pod, with the
///    group state and the counts after placement.
#[test]
fn behaviour_01_startup_with_existing_pods_reports_groups_and_counts() {
    let mut h = Harness::started();
    let (a, b, c) = (pod("a"), pod("b"), pod("c"));
    h.threads("a1", [101, 102, 103]);
    h.threads("a2", [111, 112]);
    h.threads("b1", [121]);
    // b's group cannot be created (the pods are given in the order a, c, b).
    h.fake
        .fail_next(FakeOp::Mkdir, Some(h.group(&b.uid)), Errno::NOSPC);
    let containers = [
        ctr("a1", &a, Running),
        ctr("a2", &a, Running),
        ctr("a3", &a, Stopped), // a finished init container: not counted
        ctr("c1", &c, Created), // not started: counted, nothing to place yet
        ctr("b1", &b, Running),
    ];
    let summary = h
        .plugin
        .synchronize(&[a.clone(), c.clone(), b.clone()], &containers);

    let events = h.events();
    assert_eq!(
        events,
        vec![exists(&h, &a, 2, 2), failed(&b, 1, 0), exists(&h, &c, 1, 0)]
    );
    assert_eq!(h.members(&a.uid), BTreeSet::from([101, 102, 103, 111, 112]));
    assert!(h.members(&c.uid).is_empty());
    assert!(!h.fake.group_exists(&h.group(&b.uid)));
    assert_eq!(h.fake.group_of(121), Some(PathBuf::from(ROOT)));
    assert_eq!(
        summary.groups,
        GroupTally {
            created: 2,
            failed: 1,
            skipped: 0,
            capacity_exhausted: true
        }
    );
    assert_eq!(
        (
            summary.containers.reconciled,
            summary.containers.assigned,
            summary.pods
        ),
        (2, 5, 3)
    );
}

/// 2. Repeated events change nothing and emit nothing; `reconciled` moves only when a
///    container becomes reconciled.
#[test]
fn behaviour_02_duplicate_container_events_change_nothing_and_emit_nothing() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [201, 202]);
    let a1 = ctr("a1", &a, Created);
    h.plugin.run_pod_sandbox(&a).expect("run");
    h.plugin.create_container(&a, &a1).expect("create");
    h.plugin.start_container(&a, &a1).expect("start");
    let events = h.events();
    assert_eq!(
        events,
        vec![
            exists(&h, &a, 0, 0),
            exists(&h, &a, 1, 0),
            exists(&h, &a, 1, 1)
        ]
    );

    let (counters, listings) = (h.fake.counters(), h.pids.total_calls());
    h.plugin.run_pod_sandbox(&a).expect("run again");
    h.plugin.create_container(&a, &a1).expect("late create");
    h.plugin.start_container(&a, &a1).expect("start again");
    h.plugin
        .start_container(&a, &ctr("a1", &a, Running).with_pid(4242))
        .expect("post-start with the pid");
    h.plugin
        .start_container(&a, &ctr("a1", &a, Running))
        .expect("post-start");
    assert!(h.events().is_empty());
    assert_eq!(h.fake.counters(), counters, "no resctrl access at all");
    assert_eq!(h.pids.total_calls(), listings, "no cgroup read");
    assert_eq!(h.counts(&a.uid), (1, 1));

    // A second container whose cgroup cannot be read at start: the total moves, the
    // reconciled count does not, and the failed start emits nothing.
    let a2 = ctr("a2", &a, Created);
    h.pids.vanish("a2");
    h.plugin.create_container(&a, &a2).expect("create a2");
    let err = h.plugin.start_container(&a, &a2).expect_err("vanished");
    assert!(matches!(err, PluginError::PidSource { .. }), "{err:?}");
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 2, 1)]);
    // Once it can be read, a repeated start places it: now the count moves.
    h.threads("a2", [211]);
    h.plugin.start_container(&a, &a2).expect("start a2 again");
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 2, 2)]);
    assert_eq!(h.members(&a.uid), BTreeSet::from([201, 202, 211]));
}

/// 3. A pod synchronized with part of its containers is completed as the rest appear,
///    including an ephemeral container added to the running pod (`kubectl debug`).
#[test]
fn behaviour_03_late_containers_and_debug_containers_are_reconciled() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [301, 302]);
    h.plugin
        .synchronize(slice::from_ref(&a), &[ctr("a1", &a, Running)]);
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 1, 1)]);
    let mkdirs = h.fake.counters().mkdir_calls;

    h.threads("a2", [311, 312, 313]);
    let a2 = ctr("a2", &a, Created);
    h.plugin.create_container(&a, &a2).expect("create a2");
    h.plugin.start_container(&a, &a2).expect("start a2");

    // `kubectl debug`: the same create/start events for a new container of the running
    // pod, in its own cgroup.
    let debug = ctr("debugger-x7k2q", &a, Created);
    h.threads("debugger-x7k2q", [321, 322]);
    h.plugin.create_container(&a, &debug).expect("create debug");
    h.plugin.start_container(&a, &debug).expect("start debug");

    let events = h.events();
    assert_eq!(
        events,
        vec![
            exists(&h, &a, 2, 1),
            exists(&h, &a, 2, 2),
            exists(&h, &a, 3, 2),
            exists(&h, &a, 3, 3),
        ]
    );
    assert_eq!(
        h.members(&a.uid),
        BTreeSet::from([301, 302, 311, 312, 313, 321, 322])
    );
    assert_eq!(h.fake.counters().mkdir_calls, mkdirs, "same group");
}

/// 4. A container reported before its pod waits, and is placed when the pod arrives.
#[test]
fn behaviour_04_container_seen_before_its_pod_is_placed_when_the_pod_arrives() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [401, 402]);
    let summary = h.plugin.synchronize(&[], &[ctr("a1", &a, Running)]);
    assert_eq!(summary.waiting_containers, 1);
    assert!(h.events().is_empty());
    assert!(h.plugin.pod_status(&a.uid).is_none());
    let err = h
        .plugin
        .retry_container_reconcile("a1")
        .expect_err("no pod yet");
    assert!(matches!(err, PluginError::PodNotSeen { .. }), "{err:?}");
    assert_eq!(h.fake.counters().tasks_writes, 0);

    h.plugin.run_pod_sandbox(&a).expect("pod arrives");
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 1, 1)]);
    assert_eq!(h.members(&a.uid), BTreeSet::from([401, 402]));
}

/// 5. A pod created after startup: group, threads, events.
#[test]
fn behaviour_05_new_pod_after_start_gets_a_group_its_threads_and_events() {
    let mut h = Harness::started();
    h.plugin.synchronize(&[], &[]);
    let b = pod("b");
    h.threads("b1", [501, 502, 503, 504]);
    h.plugin.run_pod_sandbox(&b).expect("run");
    assert!(h.fake.group_exists(&h.group(&b.uid)));
    let b1 = ctr("b1", &b, Created);
    h.plugin.create_container(&b, &b1).expect("create");
    assert!(h.members(&b.uid).is_empty(), "nothing placed before start");
    h.plugin.start_container(&b, &b1).expect("start");
    let events = h.events();
    assert_eq!(
        events,
        vec![
            exists(&h, &b, 0, 0),
            exists(&h, &b, 1, 0),
            exists(&h, &b, 1, 1)
        ]
    );
    assert_eq!(h.members(&b.uid), BTreeSet::from([501, 502, 503, 504]));
}

/// 6. Removing a pod that existed before startup and one created after: `Removed`, and
///    the group is deleted (its threads go back to the root group).
#[test]
fn behaviour_06_removed_pods_lose_their_groups_whenever_they_were_seen() {
    let mut h = Harness::started();
    let (a, b) = (pod("a"), pod("b"));
    h.threads("a1", [601]);
    h.threads("b1", [611]);
    h.plugin
        .synchronize(slice::from_ref(&a), &[ctr("a1", &a, Running)]);
    h.plugin.run_pod_sandbox(&b).expect("run b");
    h.plugin
        .start_container(&b, &ctr("b1", &b, Created))
        .expect("start b1");
    assert_eq!(h.fake.rmids_in_use(), 3);
    h.events();

    assert!(h.plugin.remove_pod_sandbox(&a).expect("remove a"));
    assert_eq!(h.events(), vec![removed(&a)]);
    assert!(!h.fake.group_exists(&h.group(&a.uid)));
    assert_eq!(h.fake.group_of(601), Some(PathBuf::from(ROOT)));

    assert!(h.plugin.remove_container("b1"));
    assert!(h.plugin.remove_pod_sandbox(&b).expect("remove b"));
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &b, 0, 0), removed(&b)]);
    assert!(!h.fake.group_exists(&h.group(&b.uid)));
    assert_eq!(h.fake.rmids_in_use(), 1, "only the root group is left");

    assert!(!h.plugin.remove_pod_sandbox(&b).expect("again"));
    assert!(h.events().is_empty());
    assert!(h.plugin.pod_statuses().is_empty());
}

/// 7. No free RMID at first: `Failed`; retrying while that lasts fails with a capacity
///    error and emits nothing; once an RMID is free the group appears (one event), and
///    placing the container improves the counts (one event).
#[test]
fn behaviour_07_enospc_then_retries_until_capacity_frees() {
    // The root group and one more.
    let fake = FakeResctrl::builder().num_rmids(2).build();
    let mut h = Harness::with(fake, PluginConfig::default(), 64);
    h.plugin.start().expect("start");
    let (a, b) = (pod("a"), pod("b"));
    h.threads("b1", [701, 702]);
    h.plugin.run_pod_sandbox(&a).expect("a takes the last RMID");
    let err = h.plugin.run_pod_sandbox(&b).expect_err("no RMID for b");
    assert!(err.is_capacity(), "{err:?}");
    h.plugin
        .start_container(&b, &ctr("b1", &b, Created))
        .expect("recorded, nothing to place into");
    let events = h.events();
    assert_eq!(
        events,
        vec![exists(&h, &a, 0, 0), failed(&b, 0, 0), failed(&b, 1, 0)]
    );

    let err = h
        .plugin
        .retry_group_creation(&b.uid)
        .expect_err("still full");
    assert!(err.is_capacity(), "{err:?}");
    assert!(h.events().is_empty());

    h.plugin.remove_pod_sandbox(&a).expect("remove a");
    assert_eq!(h.events(), vec![removed(&a)]);
    let path = h.plugin.retry_group_creation(&b.uid).expect("RMID freed");
    assert_eq!(path, h.group(&b.uid));
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &b, 1, 0)]);

    let outcome = h.plugin.retry_container_reconcile("b1").expect("place b1");
    assert_eq!(
        outcome,
        ContainerReconcile {
            passes: 2,
            assigned: 2,
            missing: 0,
            converged: true
        }
    );
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &b, 1, 1)]);
    assert_eq!(h.members(&b.uid), BTreeSet::from([701, 702]));
}

/// 8. `retry_all_once`: group creation stops at the first capacity error, the pod that
///    has a group still gets its containers placed, and one container's failure does not
///    stop the others. (Also: `synchronize` stops creating groups the same way.)
#[test]
fn behaviour_08_retry_all_once_stops_at_capacity_and_still_reconciles_others() {
    let fake = FakeResctrl::builder().num_rmids(2).build();
    let config = PluginConfig::default().with_max_reconcile_passes(2);
    let mut h = Harness::with(fake, config, 64);
    h.plugin.start().expect("start");
    let p = pod("p");
    let full: Vec<PodInfo> = ["f1", "f2", "f3"].into_iter().map(pod).collect();
    // p1 keeps spawning during the first placement: placed partly.
    h.fake.add_threads([801, 802, 803]);
    h.pids.then_threads("p1", [801, 802]);
    h.pids.then_threads("p1", [801, 802, 803]);
    // p2's cgroup is gone; p3's cannot be read yet.
    h.pids.vanish("p2");
    let mut pods = vec![p.clone()];
    pods.extend(full.iter().cloned());
    let containers = [
        ctr("p1", &p, Running),
        ctr("p2", &p, Running),
        ctr("p3", &p, Running),
    ];
    let summary = h.plugin.synchronize(&pods, &containers);
    assert_eq!(
        summary.groups,
        GroupTally {
            created: 1,
            failed: 1,
            skipped: 2,
            capacity_exhausted: true
        }
    );
    assert_eq!(h.fake.counters().mkdir_calls, 2, "p, then f1 only");
    assert_eq!(
        (
            summary.containers.partial,
            summary.containers.failed,
            summary.containers.reconciled
        ),
        (1, 2, 0)
    );
    assert_eq!(h.counts(&p.uid), (3, 0));
    h.events();

    h.threads("p3", [811, 812]);
    let mkdirs = h.fake.counters().mkdir_calls;
    let summary = h.plugin.retry_all_once();
    assert_eq!(
        h.fake.counters().mkdir_calls - mkdirs,
        1,
        "f1 tried, f2 and f3 not"
    );
    assert_eq!(
        summary.groups,
        GroupTally {
            created: 0,
            failed: 1,
            skipped: 2,
            capacity_exhausted: true
        }
    );
    assert_eq!(
        (
            summary.containers.reconciled,
            summary.containers.failed,
            summary.containers.partial
        ),
        (2, 1, 0),
        "p1 and p3 placed although p2 (ordered between them) failed"
    );
    let events = h.events();
    assert_eq!(
        events,
        vec![exists(&h, &p, 3, 2)],
        "nothing for the full pods"
    );
    assert_eq!(h.members(&p.uid), BTreeSet::from([801, 802, 803, 811, 812]));
    for f in &full {
        assert_eq!(h.counts(&f.uid), (0, 0));
        assert!(!h.fake.group_exists(&h.group(&f.uid)));
    }
}

/// 9. Startup cleanup (after making sure resctrl is mounted) removes only prefixed groups
///    at the root and in the root's `mon_groups`, emits no pod event, and logs its
///    counters.
#[test]
fn behaviour_09_cleanup_on_start_removes_only_prefixed_groups_and_logs_counters() {
    let fake = FakeResctrl::new();
    for rel in [
        "mon_groups/pod_old1",
        "mon_groups/pod_old2",
        "mon_groups/other",
        "pod_ctrl",
        "keep_ctrl",
        "keep_ctrl/mon_groups/pod_deep",
    ] {
        fake.create_dir(&Path::new(ROOT).join(rel)).expect(rel);
    }
    let mut h = Harness::with(fake, PluginConfig::default(), 16);
    let log = LogCapture::default();
    let report =
        tracing::subscriber::with_default(log.clone(), || h.plugin.start()).expect("start");
    assert_eq!(report.mount, MountOutcome::AlreadyMounted);
    assert_eq!(
        report.cleanup,
        Some(CleanupSummary {
            removed: 3,
            removal_failures: 0,
            removal_race: 0,
            non_prefix_groups: 2,
        })
    );
    let mut left = h.fake.groups();
    left.sort();
    let want: Vec<PathBuf> = [
        "keep_ctrl",
        "keep_ctrl/mon_groups/pod_deep",
        "mon_groups/other",
    ]
    .iter()
    .map(|rel| Path::new(ROOT).join(rel))
    .collect();
    assert_eq!(left, want);
    assert!(h.events().is_empty());
    let lines = log.lines();
    assert!(
        lines.iter().any(|l| {
            l.contains("removed stale resctrl groups at startup")
                && l.contains("removed=3")
                && l.contains("removal_failures=0")
                && l.contains("removal_race=0")
                && l.contains("non_prefix_groups=2")
        }),
        "{lines:#?}"
    );
}

/// 9 (mount). Cleanup runs only once resctrl is mounted: mounted on demand with
/// `auto_mount`, an error without it.
#[test]
fn behaviour_09_start_mounts_with_auto_mount_and_fails_without() {
    let fake = FakeResctrl::builder().mounted(false).build();
    let mut h = Harness::with(fake.clone(), PluginConfig::default(), 16);
    let err = h.plugin.start().expect_err("not mounted");
    assert!(
        matches!(err, PluginError::Resctrl(resctrl::Error::NotMounted { .. })),
        "{err:?}"
    );
    assert_eq!(fake.counters().mount_calls, 0);

    let mut h = Harness::with(
        fake.clone(),
        PluginConfig::default().with_auto_mount(true),
        16,
    );
    let report = h.plugin.start().expect("mounts, then cleans up");
    assert_eq!(report.mount, MountOutcome::Mounted);
    assert_eq!(report.cleanup, Some(CleanupSummary::default()));
    assert!(fake.is_mounted());
}

/// 9 (option). With `cleanup_on_start` off, prefixed groups stay.
#[test]
fn behaviour_09_cleanup_can_be_turned_off() {
    let fake = FakeResctrl::new();
    let stale = Path::new(ROOT).join("mon_groups/pod_old");
    fake.create_dir(&stale).expect("stale group");
    let mut h = Harness::with(
        fake,
        PluginConfig::default().with_cleanup_on_start(false),
        16,
    );
    let report = h.plugin.start().expect("start");
    assert_eq!(report.cleanup, None);
    assert!(h.fake.group_exists(&stale));
}

/// 9 (guard). Cleaning up after pods are tracked would remove their live groups.
#[test]
fn behaviour_09_start_refuses_to_clean_up_once_pods_are_tracked() {
    let mut h = Harness::started();
    let a = pod("a");
    h.plugin.run_pod_sandbox(&a).expect("run");
    let err = h.plugin.start().expect_err("pods are tracked");
    assert!(matches!(err, PluginError::StartAfterPods), "{err:?}");
    assert!(h.fake.group_exists(&h.group(&a.uid)));
}

/// 10. Every thread of every process of a container ends up in the group, not only the
///     processes' main threads.
#[test]
fn behaviour_10_all_threads_of_all_processes_are_placed() {
    let mut h = Harness::started();
    let a = pod("a");
    // Two processes (1000 and 2000) of four threads each, and a second container.
    h.threads("a1", [1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003]);
    h.threads("a2", [3000, 3001, 3002]);
    h.plugin.synchronize(
        slice::from_ref(&a),
        &[ctr("a1", &a, Running), ctr("a2", &a, Running)],
    );
    assert_eq!(h.counts(&a.uid), (2, 2));
    assert_eq!(
        h.members(&a.uid),
        BTreeSet::from([
            1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, 3000, 3001, 3002
        ])
    );
}

/// 10 (real source). The real `CgroupPidSource` on fixture cgroup trees (v1 cgroupfs with
/// a nested cgroup, v2 systemd): every thread listed ends up in the group.
#[test]
fn behaviour_10_cgroup_source_places_every_listed_thread_from_fixture_cgroups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    // v1, cgroupfs: `tasks` lists threads, `cgroup.procs` only the processes.
    let v1_ctr = "pids/kubepods/besteffort/poda/a1";
    write(&format!("{v1_ctr}/tasks"), "1000\n1001\n1002\n2000\n2001\n");
    write(&format!("{v1_ctr}/cgroup.procs"), "1000\n2000\n");
    write(&format!("{v1_ctr}/inner/tasks"), "3000\n");
    // v2, systemd driver.
    let slice = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podb.slice";
    write(
        &format!("{slice}/cri-containerd-b1.scope/cgroup.threads"),
        "4000\n4001\n4002\n",
    );
    write(
        &format!("{slice}/cri-containerd-b1.scope/cgroup.procs"),
        "4000\n",
    );

    let a = pod("a").with_cgroup_parent("/kubepods/besteffort/poda");
    let b = pod("b").with_cgroup_parent("kubepods-burstable-podb.slice");
    let cases = [
        (
            CgroupPidSource::v1(dir.path().join("pids")),
            a.clone(),
            ContainerInfo::new("a1", &a.id, Running)
                .with_cgroups_path("/kubepods/besteffort/poda/a1"),
            BTreeSet::from([1000, 1001, 1002, 2000, 2001, 3000]),
        ),
        (
            CgroupPidSource::v2(dir.path()),
            b.clone(),
            ContainerInfo::new("b1", &b.id, Running)
                .with_cgroups_path("kubepods-burstable-podb.slice:cri-containerd:b1"),
            BTreeSet::from([4000, 4001, 4002]),
        ),
    ];
    for (source, pod, container, want) in cases {
        let fake = FakeResctrl::new();
        fake.add_threads(want.iter().copied());
        let (tx, _rx) = events::channel(16);
        let mut plugin = ResctrlPlugin::with_provider(
            fake.clone(),
            PluginConfig::default(),
            fake.config(),
            source,
            tx,
        )
        .expect("plugin");
        plugin.start().expect("start");
        let summary = plugin.synchronize(slice::from_ref(&pod), &[container]);
        assert_eq!(summary.containers.reconciled, 1, "{summary:?}");
        let group = plugin.resctrl().group_path(&pod.uid).expect("path");
        assert_eq!(fake.members(&group), want);
    }
}

/// A pid source whose thread exits right after it was listed.
struct ExitsAfterListing {
    inner: ScriptedPidSource,
    fake: FakeResctrl,
    exiting: u32,
}

impl PidSource for ExitsAfterListing {
    fn thread_ids(&self, pod: &PodInfo, container: &ContainerInfo) -> io::Result<Vec<u32>> {
        let ids = self.inner.thread_ids(pod, container)?;
        self.fake.exit_thread(self.exiting);
        Ok(ids)
    }
}

/// 11. A thread that exits between listing and assignment is counted as missing, not
///     as an error, and does not keep the container from being reconciled.
#[test]
fn behaviour_11_thread_exiting_between_listing_and_assignment_is_missing() {
    let fake = FakeResctrl::new();
    fake.add_threads([1101, 1102, 1103]);
    let scripted = ScriptedPidSource::new();
    // The cgroup still lists the exited thread on later reads (a stale listing).
    scripted.set_threads("a1", [1101, 1102, 1103]);
    let source = ExitsAfterListing {
        inner: scripted,
        fake: fake.clone(),
        exiting: 1103,
    };
    let (tx, mut rx) = events::channel(16);
    let mut plugin = ResctrlPlugin::with_provider(
        fake.clone(),
        PluginConfig::default(),
        fake.config(),
        source,
        tx,
    )
    .expect("plugin");
    plugin.start().expect("start");
    let a = pod("a");
    let summary = plugin.synchronize(slice::from_ref(&a), &[ctr("a1", &a, Running)]);
    assert_eq!(
        (
            summary.containers.assigned,
            summary.containers.missing,
            summary.containers.failed,
            summary.containers.reconciled
        ),
        (2, 1, 0, 1)
    );
    let group = plugin.resctrl().group_path(&a.uid).expect("path");
    assert_eq!(fake.members(&group), BTreeSet::from([1101, 1102]));
    let status = plugin.pod_status(&a.uid).expect("status");
    assert_eq!(
        (status.total_containers, status.reconciled_containers),
        (1, 1)
    );
    assert!(rx.try_recv().is_ok());

    let again = plugin.retry_container_reconcile("a1").expect("retry");
    assert_eq!(
        again,
        ContainerReconcile {
            passes: 2,
            assigned: 0,
            missing: 1,
            converged: true
        }
    );
}

/// A second synchronization (after a reconnect) is the runtime's whole state: what it no
/// longer reports is removed.
#[test]
fn resynchronize_removes_what_the_runtime_no_longer_reports() {
    let mut h = Harness::started();
    let (a, b) = (pod("a"), pod("b"));
    h.threads("a1", [1201]);
    h.threads("b1", [1211]);
    h.plugin.synchronize(
        &[a.clone(), b.clone()],
        &[ctr("a1", &a, Running), ctr("b1", &b, Running)],
    );
    h.events();
    let summary = h.plugin.synchronize(slice::from_ref(&a), &[]);
    assert_eq!((summary.pods_removed, summary.containers_removed), (1, 1));
    let events = h.events();
    assert_eq!(events, vec![removed(&b), exists(&h, &a, 0, 0)]);
    assert!(!h.fake.group_exists(&h.group(&b.uid)));
    assert!(h.fake.group_exists(&h.group(&a.uid)));
}

/// The kubelet may replace a dead sandbox (same uid, new sandbox id) before removing the
/// old one; removing the old sandbox must keep the pod's group.
#[test]
fn removing_a_replaced_sandbox_keeps_the_pods_group() {
    let mut h = Harness::started();
    let old = pod("a");
    let new = PodInfo {
        id: "sb-a-2".into(),
        ..old.clone()
    };
    h.threads("a1", [1301]);
    h.threads("a1-again", [1302]);
    h.plugin
        .synchronize(slice::from_ref(&old), &[ctr("a1", &old, Running)]);
    h.plugin.run_pod_sandbox(&new).expect("new sandbox");
    h.plugin
        .start_container(&new, &ctr("a1-again", &new, Created))
        .expect("start");
    assert_eq!(h.counts(&old.uid), (2, 2));
    h.events();

    assert!(
        !h.plugin
            .remove_pod_sandbox(&old)
            .expect("remove old sandbox")
    );
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &new, 1, 1)]);
    assert!(h.fake.group_exists(&h.group(&old.uid)));
    assert_eq!(h.members(&old.uid), BTreeSet::from([1301, 1302]));
    assert!(h.plugin.remove_pod_sandbox(&new).expect("remove new"));
    assert_eq!(h.events(), vec![removed(&new)]);
}

/// A group removed behind the plugin's back is noticed, reported `Failed`, and
/// recreated with all threads by the next retry round.
#[test]
fn a_vanished_group_is_reported_and_recreated_by_retry() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [1401, 1402]);
    h.plugin
        .synchronize(slice::from_ref(&a), &[ctr("a1", &a, Running)]);
    h.events();
    h.fake
        .remove_dir(&h.group(&a.uid))
        .expect("someone removes it");

    h.threads("a2", [1411]);
    let err = h
        .plugin
        .start_container(&a, &ctr("a2", &a, Created))
        .expect_err("group gone");
    assert!(matches!(err, PluginError::GroupVanished { .. }), "{err:?}");
    let events = h.events();
    assert_eq!(events, vec![failed(&a, 2, 0)]);

    let summary = h.plugin.retry_all_once();
    assert_eq!(
        (summary.groups.created, summary.containers.reconciled),
        (1, 2)
    );
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 2, 2)]);
    assert_eq!(h.members(&a.uid), BTreeSet::from([1401, 1402, 1411]));
}

/// A full channel never blocks the caller: the event is dropped and counted, and the
/// pod's state is sent again the next time the pod is touched.
#[test]
fn a_full_event_channel_counts_drops_and_resends_the_state_later() {
    let mut h = Harness::with(FakeResctrl::new(), PluginConfig::default(), 1);
    h.plugin.start().expect("start");
    let (a, b) = (pod("a"), pod("b"));
    h.plugin.run_pod_sandbox(&a).expect("a");
    h.plugin.run_pod_sandbox(&b).expect("b: event dropped");
    assert_eq!(h.plugin.dropped_events(), 1);
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 0, 0)]);
    h.plugin.run_pod_sandbox(&b).expect("b again");
    let events = h.events();
    assert_eq!(
        events,
        vec![exists(&h, &b, 0, 0)],
        "undelivered state resent"
    );
    h.plugin.run_pod_sandbox(&b).expect("b once more");
    assert!(h.events().is_empty(), "delivered state is not repeated");
    assert_eq!(h.plugin.pod_statuses().len(), 2);
}

/// A group whose deletion failed is deleted by a later retry round.
#[test]
fn a_failed_group_deletion_is_retried() {
    let mut h = Harness::started();
    let a = pod("a");
    h.plugin.run_pod_sandbox(&a).expect("run");
    h.events();
    let group = h.group(&a.uid);
    h.fake.deny_access(group.clone());
    let err = h.plugin.remove_pod_sandbox(&a).expect_err("denied");
    assert!(
        matches!(
            err,
            PluginError::Resctrl(resctrl::Error::NoPermission { .. })
        ),
        "{err:?}"
    );
    assert_eq!(h.events(), vec![removed(&a)], "the pod is gone anyway");
    let summary = h.plugin.retry_all_once();
    assert_eq!(
        (summary.stale_groups_removed, summary.stale_groups_left),
        (0, 1)
    );
    h.fake.allow_access(&group);
    let summary = h.plugin.retry_all_once();
    assert_eq!(
        (summary.stale_groups_removed, summary.stale_groups_left),
        (1, 0)
    );
    assert!(!h.fake.group_exists(&group));
}

/// A stopped container no longer counts; a late start cannot revive it.
#[test]
fn stopped_containers_leave_the_counts() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [1501]);
    h.plugin.run_pod_sandbox(&a).expect("run");
    let a1 = ctr("a1", &a, Created);
    h.plugin.start_container(&a, &a1).expect("start");
    h.plugin.stop_container(&a, &a1).expect("stop");
    h.plugin.start_container(&a, &a1).expect("late start event");
    let events = h.events();
    assert_eq!(
        events,
        vec![
            exists(&h, &a, 0, 0),
            exists(&h, &a, 1, 1),
            exists(&h, &a, 0, 0)
        ]
    );
    let err = h
        .plugin
        .retry_container_reconcile("a1")
        .expect_err("stopped");
    assert!(matches!(err, PluginError::NotStarted { .. }), "{err:?}");
}

/// Bad input is rejected without touching state; unknown names in retries are errors.
#[test]
fn invalid_input_and_unknown_names_are_errors() {
    let mut h = Harness::started();
    let err = h
        .plugin
        .run_pod_sandbox(&PodInfo::new("sb", ""))
        .expect_err("no uid");
    assert!(matches!(err, PluginError::InvalidInput { .. }), "{err:?}");
    let a = pod("a");
    let err = h
        .plugin
        .create_container(&a, &ContainerInfo::new("", &a.id, Created))
        .expect_err("no id");
    assert!(matches!(err, PluginError::InvalidInput { .. }), "{err:?}");
    assert!(h.plugin.pod_statuses().is_empty());
    let summary = h.plugin.synchronize(
        &[PodInfo::new("", "uid-x")],
        &[ContainerInfo::new("c", "", Running)],
    );
    assert_eq!(summary.invalid_inputs, 2);
    assert!(matches!(
        h.plugin.retry_group_creation("nope"),
        Err(PluginError::UnknownPod { .. })
    ));
    assert!(matches!(
        h.plugin.retry_container_reconcile("nope"),
        Err(PluginError::UnknownContainer { .. })
    ));
    assert!(!h.plugin.remove_container("nope"));
    assert_eq!(h.fake.counters().mkdir_calls, 0);
    assert!(h.events().is_empty());
}

/// The configured prefix names the groups and bounds the cleanup.
#[test]
fn the_group_prefix_names_groups_and_bounds_cleanup() {
    let fake = FakeResctrl::new();
    let other = Path::new(ROOT).join("mon_groups/pod_someone_else");
    fake.create_dir(&other).expect("foreign group");
    let mut h = Harness::with(fake, PluginConfig::default().with_group_prefix("nri_"), 16);
    h.plugin.start().expect("start");
    assert!(h.fake.group_exists(&other), "not our prefix");
    let a = pod("a");
    h.plugin.run_pod_sandbox(&a).expect("run");
    assert_eq!(
        h.group(&a.uid),
        Path::new(ROOT).join("mon_groups/nri_uid-a")
    );
    assert!(h.fake.group_exists(&h.group(&a.uid)));
}

/// Containers that arrived before their pod are placed by the first event that brings
/// the pod, even when that event is about another container; one that has not started
/// yet is adopted without being placed.
#[test]
fn waiting_containers_are_placed_when_a_later_container_event_brings_their_pod() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [1601, 1602]);
    let summary = h
        .plugin
        .synchronize(&[], &[ctr("a1", &a, Running), ctr("a3", &a, Created)]);
    assert_eq!(summary.waiting_containers, 2);
    assert!(h.events().is_empty());

    h.threads("a2", [1611]);
    h.plugin
        .start_container(&a, &ctr("a2", &a, Created))
        .expect("the pod arrives with a2");
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 3, 2)]);
    assert_eq!(h.members(&a.uid), BTreeSet::from([1601, 1602, 1611]));
}

/// A pod coming back with the uid of a removed pod whose group could not be deleted
/// keeps that group as its own; other such groups are still deleted by a retry.
#[test]
fn a_returning_pod_keeps_its_stale_group_and_other_stale_groups_are_still_deleted() {
    let mut h = Harness::started();
    let (a, b) = (pod("a"), pod("b"));
    h.plugin.run_pod_sandbox(&a).expect("run a");
    h.plugin.run_pod_sandbox(&b).expect("run b");
    let (group_a, group_b) = (h.group(&a.uid), h.group(&b.uid));
    h.fake.deny_access(group_a.clone());
    h.fake.deny_access(group_b.clone());
    h.plugin
        .remove_pod_sandbox(&a)
        .expect_err("a's group is kept");
    h.plugin
        .remove_pod_sandbox(&b)
        .expect_err("b's group is kept");
    h.fake.allow_access(&group_a);
    h.fake.allow_access(&group_b);
    h.events();

    let again = PodInfo::new("sb-a-2", a.uid.clone())
        .with_name("default", "pod-a")
        .with_cgroup_parent("/kubepods/besteffort/poda");
    h.plugin.run_pod_sandbox(&again).expect("a returns");
    assert_eq!(h.events(), vec![exists(&h, &again, 0, 0)]);

    let summary = h.plugin.retry_all_once();
    assert_eq!(
        (summary.stale_groups_removed, summary.stale_groups_left),
        (1, 0)
    );
    assert!(
        h.fake.group_exists(&group_a),
        "the returned pod's group is live"
    );
    assert!(!h.fake.group_exists(&group_b));
    assert_eq!(
        h.plugin.pod_status(&a.uid).map(|s| s.group_state),
        Some(events::ResctrlGroupState::Exists(
            group_a.to_string_lossy().into_owned()
        ))
    );
}

/// A placement error other than a vanished group (here EACCES on `tasks`) is the
/// container's problem: the group stays, the container is not reconciled, no `Failed`
/// goes out, and a later retry places it.
#[test]
fn a_denied_tasks_file_leaves_the_group_and_the_container_unreconciled() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [1701, 1702]);
    h.plugin.run_pod_sandbox(&a).expect("run");
    h.events();
    let tasks = h.group(&a.uid).join("tasks");
    h.fake.deny_access(tasks.clone());
    let err = h
        .plugin
        .start_container(&a, &ctr("a1", &a, Created))
        .expect_err("tasks denied");
    assert!(
        matches!(
            &err,
            PluginError::Resctrl(resctrl::Error::NoPermission { path, .. }) if *path == tasks
        ),
        "{err:?}"
    );
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 1, 0)]);
    assert!(h.fake.group_exists(&h.group(&a.uid)));
    assert!(h.members(&a.uid).is_empty());

    h.fake.allow_access(&tasks);
    let summary = h.plugin.retry_all_once();
    assert_eq!(
        (summary.groups.created, summary.containers.reconciled),
        (0, 1)
    );
    let events = h.events();
    assert_eq!(events, vec![exists(&h, &a, 1, 1)]);
}

/// Bulk calls count every container that could not be placed: each one of a pod whose
/// group vanished, and each failing one of a pod whose other containers succeed.
#[test]
fn bulk_calls_count_each_container_that_could_not_be_placed() {
    let mut h = Harness::started();
    let (a, b) = (pod("a"), pod("b"));
    for (id, tid) in [("a1", 1801), ("a2", 1802), ("a3", 1803)] {
        h.threads(id, [tid]);
    }
    for (id, tid) in [("b1", 1811), ("b2", 1812), ("b3", 1813), ("b4", 1814)] {
        h.threads(id, [tid]);
    }
    let containers: Vec<ContainerInfo> = ["a1", "a2", "a3"]
        .iter()
        .map(|id| ctr(id, &a, Running))
        .chain(
            ["b1", "b2", "b3", "b4"]
                .iter()
                .map(|id| ctr(id, &b, Running)),
        )
        .collect();
    let summary = h.plugin.synchronize(&[a.clone(), b.clone()], &containers);
    assert_eq!(
        (summary.containers.reconciled, summary.containers.failed),
        (7, 0)
    );

    h.fake.remove_dir(&h.group(&a.uid)).expect("a's group goes");
    h.pids.vanish("b2");
    h.pids.vanish("b4");
    let tally = h.plugin.recheck_reconciled_containers();
    assert_eq!((tally.failed, tally.reconciled), (3 + 2, 2));
}

/// Every event the channel could not take is counted, from none to each one lost.
#[test]
fn dropped_events_counts_every_event_the_full_channel_refused() {
    let mut h = Harness::with(FakeResctrl::new(), PluginConfig::default(), 1);
    h.plugin.start().expect("start");
    assert_eq!(h.plugin.dropped_events(), 0);
    h.plugin.run_pod_sandbox(&pod("a")).expect("a fits");
    assert_eq!(h.plugin.dropped_events(), 0);
    for n in ["b", "c", "d"] {
        h.plugin.run_pod_sandbox(&pod(n)).expect("dropped");
    }
    assert_eq!(h.plugin.dropped_events(), 3);
}

/// A `Removed` refused by the full channel is not lost: the next retry round sends it,
/// once, and keeps it while the channel is still full.
#[test]
fn a_removal_the_full_channel_refused_is_sent_by_a_later_retry_round() {
    let mut h = Harness::with(FakeResctrl::new(), PluginConfig::default(), 1);
    h.plugin.start().expect("start");
    let a = pod("a");
    h.plugin.run_pod_sandbox(&a).expect("a fits");
    assert!(h.plugin.remove_pod_sandbox(&a).expect("remove a"));
    assert_eq!(
        h.plugin.dropped_events(),
        1,
        "the channel still holds a's update"
    );

    h.plugin.retry_all_once();
    assert_eq!(h.plugin.dropped_events(), 2, "refused again: still full");
    assert_eq!(h.events(), vec![exists(&h, &a, 0, 0)]);

    h.plugin.retry_all_once();
    assert_eq!(h.events(), vec![removed(&a)], "sent once there is room");
    h.plugin.retry_all_once();
    assert_eq!(h.events(), vec![], "and only once");
}

/// A pod that comes back before its refused `Removed` was sent again gets no late
/// removal: its new update stands.
#[test]
fn a_pod_back_before_its_refused_removal_is_resent_is_not_removed_late() {
    let mut h = Harness::with(FakeResctrl::new(), PluginConfig::default(), 1);
    h.plugin.start().expect("start");
    let (a, b) = (pod("a"), pod("b"));
    h.plugin.run_pod_sandbox(&a).expect("a fits");
    h.plugin.run_pod_sandbox(&b).expect("b's update is refused");
    assert!(h.plugin.remove_pod_sandbox(&a).expect("remove a"));
    assert!(h.plugin.remove_pod_sandbox(&b).expect("remove b"));
    assert_eq!(h.events(), vec![exists(&h, &a, 0, 0)]);
    h.plugin.run_pod_sandbox(&a).expect("a is back");
    assert_eq!(h.events(), vec![exists(&h, &a, 0, 0)]);

    h.plugin.retry_all_once();
    assert_eq!(
        h.events(),
        vec![removed(&b)],
        "b's removal is sent again, a's is not"
    );
    assert!(h.plugin.pod_status(&a.uid).is_some());
}

/// On hardware a removed pod's monitoring ID stays in limbo while the cache still holds
/// lines tagged with it: a new pod meanwhile is `Failed` with a capacity error, retries
/// during limbo change nothing, and the first retry after it creates the group and
/// places the threads.
#[test]
fn a_pod_waiting_for_an_rmid_in_limbo_gets_its_group_once_limbo_ends() {
    let fake = FakeResctrl::builder()
        .num_rmids(2)
        .rmid_limbo(std::time::Duration::from_secs(3600))
        .build();
    let mut h = Harness::with(fake, PluginConfig::default(), 64);
    h.plugin.start().expect("start");
    let (a, b) = (pod("a"), pod("b"));
    h.plugin.run_pod_sandbox(&a).expect("a takes the last RMID");
    assert!(h.plugin.remove_pod_sandbox(&a).expect("remove a"));
    assert_eq!(h.fake.rmids_in_limbo(), 1);
    h.events();

    h.threads("b1", [1901, 1902]);
    let err = h
        .plugin
        .run_pod_sandbox(&b)
        .expect_err("the only RMID is in limbo");
    assert!(err.is_capacity(), "{err:?}");
    h.plugin
        .start_container(&b, &ctr("b1", &b, Created))
        .expect("counted; nothing to place without a group");
    assert_eq!(h.events(), vec![failed(&b, 0, 0), failed(&b, 1, 0)]);
    let summary = h.plugin.retry_all_once();
    assert_eq!((summary.groups.created, summary.groups.failed), (0, 1));
    assert!(h.events().is_empty());

    h.fake.end_limbo();
    let summary = h.plugin.retry_all_once();
    assert_eq!(
        (summary.groups.created, summary.containers.reconciled),
        (1, 1)
    );
    assert_eq!(h.events(), vec![exists(&h, &b, 1, 1)]);
    assert_eq!(h.members(&b.uid), BTreeSet::from([1901, 1902]));
}

#[test]
fn the_core_reports_the_configuration_it_was_built_with() {
    let config = PluginConfig::default()
        .with_group_prefix("mut_")
        .with_max_reconcile_passes(7);
    let h = Harness::with(FakeResctrl::new(), config.clone(), 16);
    assert_eq!(h.plugin.config(), &config);
}

#[test]
fn a_container_still_spawning_after_the_last_pass_is_logged_as_left_for_a_retry() {
    let left_for_retry = |passes: u32| {
        let config = PluginConfig::default().with_max_reconcile_passes(passes);
        let mut h = Harness::with(FakeResctrl::new(), config, 16);
        h.plugin.start().expect("start");
        let a = pod("a");
        h.threads("a1", [701, 702]);
        let log = LogCapture::default();
        let summary = tracing::subscriber::with_default(log.clone(), || {
            h.plugin
                .synchronize(slice::from_ref(&a), &[ctr("a1", &a, Running)])
        });
        assert_eq!(summary.containers.assigned, 2);
        log.lines()
            .iter()
            .filter(|l| l.contains("left for a retry"))
            .count()
    };
    // One pass places the threads but cannot tell whether more appeared meanwhile.
    assert_eq!(left_for_retry(1), 1);
    // A second pass finds nothing new: converged, nothing to say.
    assert_eq!(left_for_retry(2), 0);
}
