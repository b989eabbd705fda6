//! The plugin against a real containerd 2.1 with real pods and containers (through
//! `containerd-harness`): every scenario checks the plugin's events and the pod group's
//! `tasks` against the thread ids read from the containers' cgroups.
//!
//! They need root and the assets `cargo xtask nri-e2e` provisions (`NRI_E2E_*`), and
//! fail with the reason when either is missing. resctrl: the real `/sys/fs/resctrl` when
//! this host can monitor (with a group prefix of the test's own, removed afterwards),
//! otherwise the fake in host mode; the output says which.

mod e2e;

use cause_chain::Chain;
use std::time::{Duration, Instant};

use containerd_harness::ContainerId;
use e2e::backend::ResctrlUnderTest;
use e2e::observe::{Latencies, assert_group_deleted, assert_group_holds, start_and_time_placement};
use e2e::plugin::PluginUnderTest;
use e2e::{WORKLOAD, WORKLOAD_THREADS, containerd};

/// Extra containers started only to sample the start-to-placement latency.
const LATENCY_SAMPLES: usize = 5;

/// Scenarios a–d: a pod that ran before the plugin, a pod started after it, a debug
/// container added to a running pod, the removal of both pods; plus the latency from a
/// container's start to its threads being in the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and provisioned containerd; run by cargo xtask nri-e2e"]
async fn pods_before_and_after_start_debug_container_and_removal() {
    let wall = Instant::now();
    let rut = ResctrlUnderTest::select("life");
    let ctrd = containerd().await;
    let cri = ctrd.cri();
    let image = ctrd.busybox_image();

    // a. A pod running before the plugin starts is picked up at synchronize.
    let (pre_uid, new_uid) = ("e2e-pre-0001", "e2e-new-0002");
    let pre = cri
        .run_pod("pre", "default", pre_uid)
        .await
        .expect("run pod");
    let pre_app = cri
        .run_container(&pre, "app", image, WORKLOAD)
        .await
        .expect("run container");
    cri.wait_cgroup_threads(&pre_app, WORKLOAD_THREADS, e2e::WAIT)
        .await
        .expect("the workload's processes");
    let mut plugin = PluginUnderTest::start(&rut, &ctrd.nri_socket()).await;
    let reported = plugin.expect_pod(pre_uid, 1, 1).await;
    assert_eq!(reported, rut.group(pre_uid).to_string_lossy());
    let threads = assert_group_holds(&rut, cri, pre_uid, &[&pre_app]).await;
    println!("a. pre-existing pod {pre_uid}: group holds {threads:?}");

    // b. A new pod and container after the start.
    let mut latency = Latencies::default();
    let new = cri
        .run_pod("new", "default", new_uid)
        .await
        .expect("run pod");
    plugin.expect_pod(new_uid, 0, 0).await;
    let app = cri
        .create_container(&new, "app", image, WORKLOAD)
        .await
        .expect("create container");
    plugin.expect_pod(new_uid, 1, 0).await;
    latency.push(start_and_time_placement(&rut, cri, new_uid, &app, WORKLOAD_THREADS).await);
    plugin.expect_pod(new_uid, 1, 1).await;
    let threads = assert_group_holds(&rut, cri, new_uid, &[&app]).await;
    println!("b. new pod {new_uid}: group holds {threads:?}");

    // c. A container added to the running pod, the way `kubectl debug --target` does.
    let config = cri
        .debug_container_config(&app, "debugger", image, &["sh", "-c", "sleep 600 & wait"])
        .expect("debug container config");
    let debug = cri
        .create_container_with(&new, config)
        .await
        .expect("create debug container");
    latency.push(start_and_time_placement(&rut, cri, new_uid, &debug, 2).await);
    plugin.expect_pod(new_uid, 2, 2).await;
    let threads = assert_group_holds(&rut, cri, new_uid, &[&app, &debug]).await;
    println!("c. debug container added to {new_uid}: group holds {threads:?}");

    // More start-to-placement samples: short-lived containers in the same pod.
    for n in 0..LATENCY_SAMPLES {
        let id = cri
            .create_container(&new, &format!("sample-{n}"), image, WORKLOAD)
            .await
            .expect("create sample container");
        latency.push(start_and_time_placement(&rut, cri, new_uid, &id, WORKLOAD_THREADS).await);
        plugin.expect_pod(new_uid, 3, 3).await;
        remove_container(cri, &id).await;
        plugin.expect_pod(new_uid, 2, 2).await;
    }
    assert_group_holds(&rut, cri, new_uid, &[&app, &debug]).await;

    // d. Removal of the pre-existing pod and of the new pod.
    for (pod, uid, containers) in [
        (&pre, pre_uid, vec![&pre_app]),
        (&new, new_uid, vec![&debug, &app]),
    ] {
        for id in containers {
            remove_container(cri, id).await;
        }
        cri.stop_pod(pod).await.expect("stop pod");
        cri.remove_pod(pod).await.expect("remove pod");
        plugin.expect_removed(uid).await;
        assert_group_deleted(&rut, uid).await;
        println!("d. pod {uid} removed: Removed event, group deleted");
    }

    plugin.stop().await;
    let report = ctrd
        .shutdown()
        .await
        .expect("containerd teardown without leaks");
    println!("{report}");
    println!("resctrl backend: {}", rut.description);
    println!("{}", latency.report());
    // Placement is event-driven: far below the periodic round (10 s) that would
    // otherwise catch it.
    let (_, _, max) = latency.summary();
    assert!(
        max < Duration::from_secs(2),
        "a container took {max:?} to be placed: {}",
        latency.report()
    );
    println!("wall time: {:?}", wall.elapsed());
}

/// Scenario e: the plugin restarts while pods run. The new instance removes the old
/// instance's groups at startup, then the runtime's state rebuilds them; what changed
/// while it was down (a pod gone, a pod new) is reconciled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and provisioned containerd; run by cargo xtask nri-e2e"]
async fn plugin_restart_while_pods_run_cleans_up_and_reconciles_again() {
    let wall = Instant::now();
    let rut = ResctrlUnderTest::select("restart");
    let ctrd = containerd().await;
    let cri = ctrd.cri();
    let image = ctrd.busybox_image();
    let (gone_uid, kept_uid, later_uid) = ("e2e-gone-0001", "e2e-kept-0002", "e2e-later-0003");

    let mut first = PluginUnderTest::start(&rut, &ctrd.nri_socket()).await;
    let gone = cri
        .run_pod("gone", "default", gone_uid)
        .await
        .expect("run pod");
    let gone_app = cri
        .run_container(&gone, "app", image, WORKLOAD)
        .await
        .expect("run container");
    let kept = cri
        .run_pod("kept", "default", kept_uid)
        .await
        .expect("run pod");
    let kept_a = cri
        .run_container(&kept, "a", image, WORKLOAD)
        .await
        .expect("run container");
    let kept_b = cri
        .run_container(&kept, "b", image, WORKLOAD)
        .await
        .expect("run container");
    first.expect_pod(gone_uid, 1, 1).await;
    first.expect_pod(kept_uid, 2, 2).await;
    assert_group_holds(&rut, cri, gone_uid, &[&gone_app]).await;
    assert_group_holds(&rut, cri, kept_uid, &[&kept_a, &kept_b]).await;

    // The plugin goes away (its groups stay, as after a crash); meanwhile one pod ends
    // and another starts.
    first.stop().await;
    remove_container(cri, &gone_app).await;
    cri.stop_pod(&gone).await.expect("stop pod");
    cri.remove_pod(&gone).await.expect("remove pod");
    let later = cri
        .run_pod("later", "default", later_uid)
        .await
        .expect("run pod");
    let later_app = cri
        .run_container(&later, "app", image, WORKLOAD)
        .await
        .expect("run container");
    cri.wait_cgroup_threads(&later_app, WORKLOAD_THREADS, e2e::WAIT)
        .await
        .expect("the workload's processes");
    assert!(
        rut.tasks(gone_uid).is_some(),
        "the stopped plugin left its groups"
    );

    let mut second = PluginUnderTest::start(&rut, &ctrd.nri_socket()).await;
    let cleanup = second.startup().cleanup.expect("cleanup on start ran");
    assert_eq!(
        (cleanup.removed, cleanup.removal_failures),
        (2, 0),
        "the previous instance's two groups: {cleanup:?}"
    );
    second.expect_pod(kept_uid, 2, 2).await;
    second.expect_pod(later_uid, 1, 1).await;
    assert_group_holds(&rut, cri, kept_uid, &[&kept_a, &kept_b]).await;
    assert_group_holds(&rut, cri, later_uid, &[&later_app]).await;
    assert_group_deleted(&rut, gone_uid).await;
    assert!(
        !second.saw(gone_uid),
        "the pod that ended meanwhile is unknown to the new instance: {:#?}",
        second.history
    );
    println!(
        "e. restart: {} stale groups removed at startup, {kept_uid} and {later_uid} reconciled",
        cleanup.removed
    );

    second.stop().await;
    let report = ctrd
        .shutdown()
        .await
        .expect("containerd teardown without leaks");
    println!("{report}");
    println!("resctrl backend: {}", rut.description);
    println!("wall time: {:?}", wall.elapsed());
}

/// Stops a container at once (`sleep` ignores SIGTERM) and removes it.
async fn remove_container(cri: &containerd_harness::Cri, id: &ContainerId) {
    cri.stop_container(id, Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("StopContainer {id}: {}", Chain(&e)));
    cri.remove_container(id)
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer {id}: {}", Chain(&e)));
}
