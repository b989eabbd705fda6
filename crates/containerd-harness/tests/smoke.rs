//! End-to-end checks of the harness against a real containerd. They need root and the
//! assets `cargo xtask nri-e2e` provisions (`NRI_E2E_*` variables); without them they fail,
//! naming the missing variable.

use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};

use containerd_harness::cri_types::ContainerState;
use containerd_harness::{Assets, Containerd, Options, cleanup_private_dir, leak_check};

/// How long a workload's processes may take to appear in its cgroup.
const WAIT: Duration = Duration::from_secs(10);

fn assets() -> Assets {
    match Assets::from_env() {
        Ok(assets) => assets,
        Err(e) => panic!(
            "cannot run the containerd end-to-end tests: {}",
            cause_chain::Chain(&e)
        ),
    }
}

fn pid_namespace(pid: u32) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).expect("reading a pid namespace link")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and provisioned containerd; run by cargo xtask nri-e2e"]
async fn pod_container_and_debug_container_then_clean_teardown() {
    let wall = Instant::now();
    let assets = assets();
    let ctrd = Containerd::start(&assets, Options::default())
        .await
        .expect("starting containerd");
    let dir = ctrd.dir().to_path_buf();
    println!(
        "containerd ready in {:?} at {}",
        ctrd.startup_time(),
        dir.display()
    );
    let nri = std::fs::metadata(ctrd.nri_socket()).expect("NRI socket exists");
    assert!(
        nri.file_type().is_socket(),
        "{} is not a socket",
        ctrd.nri_socket().display()
    );

    let cri = ctrd.cri();
    let version = cri.version().await.expect("CRI Version");
    assert_eq!(version.runtime_name, "containerd");
    assert_eq!(version.runtime_api_version, "v1");

    let pod = cri
        .run_pod("smoke", "default", "smoke-uid-1")
        .await
        .expect("RunPodSandbox");

    let t = Instant::now();
    let app = cri
        .create_container(
            &pod,
            "app",
            ctrd.busybox_image(),
            &["sh", "-c", "sleep 600 & sleep 600 & wait"],
        )
        .await
        .expect("CreateContainer");
    cri.start_container(&app).await.expect("StartContainer");
    let create_start = t.elapsed();
    println!("create+start of a container: {create_start:?}");

    let app_pid = cri.container_pid(&app).await.expect("container pid");
    let app_threads = cri
        .wait_cgroup_threads(&app, 3, WAIT)
        .await
        .expect("app threads");
    assert!(
        app_threads.len() >= 3,
        "sh and two sleeps expected, got {app_threads:?}"
    );
    assert!(
        app_threads.contains(&app_pid),
        "{app_pid} not among {app_threads:?}"
    );
    let cgroup = cri.container_cgroup(&app).await.expect("container cgroup");
    let expected_suffix = format!("{}/podsmoke-uid-1/{}", ctrd.cgroup_parent(), app);
    assert!(
        cgroup.cgroup.to_string_lossy().ends_with(&expected_suffix),
        "{} does not end with {expected_suffix}",
        cgroup.cgroup.display()
    );

    let debug = cri
        .add_debug_container(
            &pod,
            &app,
            "debugger",
            ctrd.busybox_image(),
            &["sh", "-c", "sleep 600 & wait"],
        )
        .await
        .expect("adding a debug container");
    let debug_pid = cri
        .container_pid(&debug)
        .await
        .expect("debug container pid");
    let debug_threads = cri
        .wait_cgroup_threads(&debug, 2, WAIT)
        .await
        .expect("debug threads");
    assert!(debug_threads.len() >= 2, "{debug_threads:?}");
    assert!(
        debug_threads.iter().all(|t| !app_threads.contains(t)),
        "cgroups overlap"
    );
    assert_eq!(
        pid_namespace(debug_pid),
        pid_namespace(app_pid),
        "debug container must share the target's PID namespace"
    );
    println!("app threads {app_threads:?}, debug threads {debug_threads:?}");

    let listed = cri.list_containers().await.expect("ListContainers");
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|c| c.state() == ContainerState::ContainerRunning)
    );

    for id in [&debug, &app] {
        cri.stop_container(id, Duration::ZERO)
            .await
            .expect("StopContainer");
        cri.remove_container(id).await.expect("RemoveContainer");
    }
    cri.stop_pod(&pod).await.expect("StopPodSandbox");
    cri.remove_pod(&pod).await.expect("RemovePodSandbox");
    assert!(
        !cgroup.cgroup.exists(),
        "container cgroup {} left after remove_pod",
        cgroup.cgroup.display()
    );

    let report = ctrd.shutdown().await.expect("clean teardown");
    println!("{report}");
    assert!(report.dir_removed);
    assert!(
        report.processes_killed.is_empty(),
        "everything should have exited on its own"
    );
    leak_check(&dir).expect("no leaks after shutdown");
    println!("wall time: {:?}", wall.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and provisioned containerd; run by cargo xtask nri-e2e"]
async fn drop_tears_down_running_pods() {
    let assets = assets();
    let ctrd = Containerd::start(&assets, Options::default())
        .await
        .expect("starting containerd");
    let dir = ctrd.dir().to_path_buf();
    let pod = ctrd
        .cri()
        .run_pod("dropped", "default", "drop-uid-1")
        .await
        .expect("RunPodSandbox");
    let app = ctrd
        .cri()
        .run_container(&pod, "app", ctrd.busybox_image(), &["sleep", "600"])
        .await
        .expect("running a container");
    ctrd.cri()
        .wait_cgroup_threads(&app, 1, WAIT)
        .await
        .expect("app threads");
    drop(ctrd);
    leak_check(&dir).expect("no leaks after Drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and provisioned containerd; run by cargo xtask nri-e2e"]
async fn crash_cleanup_after_containerd_was_killed() {
    let assets = assets();
    let ctrd = Containerd::start(&assets, Options::default())
        .await
        .expect("starting containerd");
    let dir = ctrd.dir().to_path_buf();
    let pod = ctrd
        .cri()
        .run_pod("crashed", "default", "crash-uid-1")
        .await
        .expect("RunPodSandbox");
    let app = ctrd
        .cri()
        .run_container(
            &pod,
            "app",
            ctrd.busybox_image(),
            &["sh", "-c", "sleep 600 & sleep 600 & wait"],
        )
        .await
        .expect("running a container");
    ctrd.cri()
        .wait_cgroup_threads(&app, 3, WAIT)
        .await
        .expect("app threads");

    // The worst case: the test process's harness is gone without Drop and containerd died
    // too, leaving shims, container processes, mounts and cgroups.
    let pid = ctrd.pid();
    std::mem::forget(ctrd);
    let raw = rustix::process::Pid::from_raw(pid as i32).expect("containerd pid");
    rustix::process::kill_process(raw, rustix::process::Signal::KILL).expect("killing containerd");
    // Wait until it is really gone: its socket refuses connections. (Its state turns to
    // zombie as soon as the main thread exits, while other threads may still hold the
    // listening socket open for a moment.)
    let socket = dir.join("containerd.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        assert!(
            Instant::now() < deadline,
            "containerd {pid} survived SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = tokio::task::spawn_blocking(move || cleanup_private_dir(&dir))
        .await
        .unwrap();
    println!("{report}");
    assert!(report.is_clean(), "{report}");
    assert!(report.cri.is_none(), "containerd was dead");
    assert!(
        !report.processes_killed.is_empty(),
        "the shim and container processes had to be killed"
    );
    assert!(
        !report.shim_sockets_removed.is_empty(),
        "the killed shim's socket had to be removed"
    );
    assert!(
        !report.unmounted.is_empty(),
        "the container's rootfs had to be unmounted"
    );
    assert!(!report.cgroups_removed.is_empty());
    assert!(report.dir_removed);
}
