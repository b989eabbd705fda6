//! `CgroupPidSource` on this machine's real cgroup file system: the test process is the
//! "container", found through the cgroup path `/proc/self/cgroup` gives for the
//! hierarchy in use. These run on any Linux host with cgroups mounted at
//! `/sys/fs/cgroup` (v1, hybrid or v2); no privileges needed, nothing is written.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nri_resctrl_plugin::pid_source::{
    CgroupVersion, DEFAULT_CGROUP_ROOT, V1_CONTROLLERS, mount_root,
};
use nri_resctrl_plugin::{CgroupPidSource, ContainerInfo, ContainerState, PidSource, PodInfo};

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
struct Membership {
    controllers: Vec<String>,
    path: String,
}

fn memberships() -> Vec<Membership> {
    let text = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Membership {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// This process's cgroup path in the hierarchy `source` reads.
fn own_path(source: &CgroupPidSource) -> String {
    let name = source
        .hierarchy()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    memberships()
        .into_iter()
        .find(|m| match source.version() {
            // The v2 line has no controllers.
            CgroupVersion::V2 => m.controllers.is_empty(),
            // A v1 hierarchy directory is named after its controller (`systemd` after
            // `name=systemd`); co-mounted ones like `cpu,cpuacct` list several.
            CgroupVersion::V1 => m
                .controllers
                .iter()
                .any(|c| *c == name || c.strip_prefix("name=") == Some(name.as_str())),
        })
        .map(|m| m.path)
        .unwrap_or_else(|| {
            panic!(
                "no /proc/self/cgroup line for {}",
                source.hierarchy().display()
            )
        })
}

/// The "container": this process, by its cgroup path (cgroupfs form).
fn this_process(cgroup_path: &str) -> (PodInfo, ContainerInfo) {
    let pod = PodInfo::new("test-sandbox", "test-uid");
    let container = ContainerInfo::new("test-process", "test-sandbox", ContainerState::Running)
        .with_cgroups_path(cgroup_path)
        .with_pid(std::process::id());
    (pod, container)
}

/// This process's thread ids, from procfs.
/// This process's threads, each with its start time (clock ticks since boot), so a
/// thread id reused by a newer thread does not pass for the same thread. A thread that
/// exits while it is listed is left out.
fn own_threads() -> BTreeSet<(u32, u64)> {
    fs::read_dir("/proc/self/task")
        .expect("list /proc/self/task")
        .filter_map(|e| {
            let tid: u32 = e
                .expect("task entry")
                .file_name()
                .to_str()
                .and_then(|n| n.parse().ok())
                .expect("numeric tid");
            let stat = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
            // Field 22, counted after the parenthesised command name, which may hold spaces.
            let after_name = &stat[stat.rfind(')')? + 1..];
            let start = after_name.split_whitespace().nth(19)?.parse().ok()?;
            Some((tid, start))
        })
        .collect()
}

fn current_tid() -> u32 {
    let link = fs::read_link("/proc/thread-self").expect("read /proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("tid in /proc/thread-self")
}

/// Every thread of this process is listed; a new thread is listed while it runs and
/// gone after it exits.
fn check_source_sees_this_process(source: &CgroupPidSource) {
    let path = own_path(source);
    let (pod, container) = this_process(&path);
    // Inside a container the hierarchy may be mounted from a subtree; /proc/self/cgroup
    // paths are from the top either way.
    let below_root = Path::new(&path)
        .strip_prefix(source.mount_root())
        .expect("this process's cgroup lies in the mounted subtree");
    let dir = source.cgroup_dir(&pod, &container).expect("dir");
    assert_eq!(dir, source.hierarchy().join(below_root));
    assert!(dir.is_dir(), "{} exists", dir.display());

    let (tid_tx, tid_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let worker = thread::spawn(move || {
        tid_tx.send(current_tid()).expect("send tid");
        // Stay alive until told to stop.
        let _ = stop_rx.recv();
    });
    let tid = tid_rx.recv().expect("worker tid");

    // Other tests of this process (plain `cargo test` runs them as threads) start and
    // end threads meanwhile: only a thread alive both before and after the listing was
    // alive throughout it, so only those must be listed. (Reading /proc/self/task while
    // threads exit may also skip live ones, which only weakens this check.)
    let before = own_threads();
    let listed: BTreeSet<u32> = source
        .thread_ids(&pod, &container)
        .expect("list threads")
        .into_iter()
        .collect();
    let own: BTreeSet<u32> = before
        .intersection(&own_threads())
        .map(|(tid, _)| *tid)
        .collect();
    assert!(
        listed.contains(&current_tid()) && listed.contains(&tid),
        "this thread and the worker {tid} are listed: {listed:?}"
    );
    assert!(
        own.is_subset(&listed),
        "threads {:?} of this process are missing from {}",
        own.difference(&listed).collect::<Vec<_>>(),
        dir.display()
    );

    stop_tx.send(()).expect("stop worker");
    worker.join().expect("worker exits");
    // `join` returns when the thread's exit has begun; it leaves its cgroup a little
    // later (and its id may then be reused by a thread another test starts).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after: BTreeSet<u32> = source
            .thread_ids(&pod, &container)
            .expect("list threads again")
            .into_iter()
            .collect();
        assert!(
            after.contains(&current_tid()),
            "this thread is still listed"
        );
        if !after.contains(&tid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the exited thread {tid} is still listed after 10 s"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn detected_hierarchy_lists_every_thread_of_this_process() {
    let root = Path::new(DEFAULT_CGROUP_ROOT);
    let source = CgroupPidSource::detect(root).expect("a cgroup hierarchy");
    // Pure v2: the root. Otherwise the first v1 controller mounted, else `unified`.
    let expected = if root.join("cgroup.controllers").is_file() {
        root.to_path_buf()
    } else {
        V1_CONTROLLERS
            .iter()
            .map(|c| root.join(c))
            .find(|dir| dir.join("tasks").is_file())
            .unwrap_or_else(|| root.join("unified"))
    };
    assert_eq!(source.hierarchy(), expected, "{source:?}");
    check_source_sees_this_process(&source);
}

#[test]
fn every_mounted_hierarchy_lists_every_thread_of_this_process() {
    // Each hierarchy this process belongs to, in its own cgroup (on this hybrid machine
    // e.g. `memory` has a per-session cgroup while `pids` has `/`), plus the v2 one.
    let root = Path::new(DEFAULT_CGROUP_ROOT);
    let mut sources = Vec::new();
    if root.join("cgroup.controllers").is_file() {
        sources.push(CgroupPidSource::v2(root));
    } else if root.join("unified/cgroup.controllers").is_file() {
        sources.push(CgroupPidSource::v2(root.join("unified")));
    }
    for m in memberships() {
        for controller in &m.controllers {
            let name = controller.strip_prefix("name=").unwrap_or(controller);
            let dir = root.join(name);
            if dir.join("tasks").is_file() {
                sources.push(CgroupPidSource::v1(dir));
            }
        }
    }
    assert!(
        !sources.is_empty(),
        "no cgroup hierarchy under {}",
        root.display()
    );
    // As `detect` does: each hierarchy may be mounted from a subtree (in a container).
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    for source in sources {
        let source = match mount_root(&mountinfo, source.hierarchy()) {
            Some(root) => source.with_mount_root(root),
            None => source,
        };
        check_source_sees_this_process(&source);
    }
}
