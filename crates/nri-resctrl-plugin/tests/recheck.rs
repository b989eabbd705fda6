//! The periodic re-check of reconciled containers: processes that joined a container
//! from outside (`kubectl exec`) after it was reconciled are placed.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{Harness, LogCapture, ROOT, ctr, exists, pod};
use nri_resctrl_plugin::ContainerState::{Created, Running};

#[test]
fn recheck_places_processes_that_joined_a_reconciled_container_later() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [301, 302]);
    h.threads("a2", [311]);
    h.plugin.run_pod_sandbox(&a).expect("run");
    for id in ["a1", "a2"] {
        h.plugin
            .create_container(&a, &ctr(id, &a, Created))
            .expect("create");
        h.plugin
            .start_container(&a, &ctr(id, &a, Running))
            .expect("start");
    }
    h.events();
    assert_eq!(h.counts(&a.uid), (2, 2));

    // An exec'd process joins a1's cgroup but stays in the root group, like a process
    // the runtime spawns into a running container.
    h.threads("a1", [301, 302, 303]);
    assert_eq!(h.fake.group_of(303), Some(PathBuf::from(ROOT)));
    let tally = h.plugin.recheck_reconciled_containers();
    assert_eq!((tally.assigned, tally.reconciled, tally.failed), (1, 2, 0));
    assert_eq!(h.members(&a.uid), BTreeSet::from([301, 302, 303, 311]));
    assert!(h.events().is_empty(), "the counts did not change");

    // Nothing new: no write, one read of the pod's tasks.
    h.fake.reset_counters();
    let tally = h.plugin.recheck_reconciled_containers();
    assert_eq!((tally.assigned, tally.reconciled), (0, 2));
    assert_eq!(h.fake.counters().tasks_writes, 0);
    assert_eq!(h.fake.counters().reads, 1);
}

#[test]
fn a_failed_recheck_unreconciles_the_container_until_a_retry_succeeds() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [401]);
    h.threads("a2", [411]);
    h.plugin.run_pod_sandbox(&a).expect("run");
    for id in ["a1", "a2"] {
        h.plugin
            .start_container(&a, &ctr(id, &a, Running))
            .expect("start");
    }
    h.events();

    h.pids.vanish("a2");
    let tally = h.plugin.recheck_reconciled_containers();
    assert_eq!((tally.reconciled, tally.failed), (1, 1));
    assert_eq!(h.events(), vec![exists(&h, &a, 2, 1)]);

    // Not reconciled now: the re-check leaves it to retry_all_once.
    let calls = h.pids.calls("a2");
    let tally = h.plugin.recheck_reconciled_containers();
    assert_eq!((tally.reconciled, tally.failed), (1, 0));
    assert_eq!(h.pids.calls("a2"), calls);
    h.threads("a2", [411, 412]);
    h.plugin.retry_all_once();
    assert_eq!(h.events(), vec![exists(&h, &a, 2, 2)]);
    assert_eq!(h.members(&a.uid), BTreeSet::from([401, 411, 412]));
}

#[test]
fn a_recheck_logs_its_summary_only_when_it_placed_threads_or_failed() {
    let mut h = Harness::started();
    let a = pod("a");
    h.threads("a1", [501]);
    h.plugin.run_pod_sandbox(&a).expect("run");
    h.plugin
        .start_container(&a, &ctr("a1", &a, Running))
        .expect("start");
    let summaries = |h: &mut Harness| {
        let log = LogCapture::default();
        tracing::subscriber::with_default(log.clone(), || h.plugin.recheck_reconciled_containers());
        log.lines()
            .iter()
            .filter(|l| l.contains("re-checked reconciled containers"))
            .count()
    };
    assert_eq!(
        summaries(&mut h),
        0,
        "nothing new: a periodic call stays quiet"
    );
    h.threads("a1", [501, 502]);
    assert_eq!(summaries(&mut h), 1, "a thread was placed");
    h.pids.vanish("a1");
    assert_eq!(summaries(&mut h), 1, "a container failed");
}

#[test]
fn a_retry_with_nothing_pending_says_so_and_one_with_work_reports_what_it_did() {
    let mut h = Harness::started();
    let a = pod("a");
    h.plugin.run_pod_sandbox(&a).expect("run");
    h.threads("a1", [801]);
    h.pids.vanish("a1");
    h.plugin
        .start_container(&a, &ctr("a1", &a, Running))
        .expect_err("its cgroup is gone");
    let messages = |h: &mut Harness| {
        let log = LogCapture::default();
        tracing::subscriber::with_default(log.clone(), || h.plugin.retry_all_once());
        log.lines()
    };
    h.threads("a1", [801]);
    let lines = messages(&mut h);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("retried pending resctrl work")
                && l.contains("containers_reconciled=1")),
        "{lines:#?}"
    );
    let lines = messages(&mut h);
    assert!(
        lines.iter().any(|l| l.contains("nothing was pending"))
            && !lines.iter().any(|l| l.contains("stale_groups_left=")),
        "{lines:#?}"
    );
}
