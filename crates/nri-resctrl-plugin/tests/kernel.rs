//! `CgroupPidSource` on real kernels, run inside `cargo xtask kernel-matrix` guests, once
//! with cgroup v2 and once with the v1 hierarchies: real cgroups created, this process and
//! its threads moved in, every thread id enumerated, threads exiting mid-read, the
//! mountinfo parser on the guest's own mount table. Kernel-dependent facts come from the
//! expectation table. Outside a guest these are ignored; forced to run, they fail naming
//! what is missing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use kernel_matrix_guest::{CgroupMode, cgroup_mode, expected};
use nri_resctrl_plugin::CgroupPidSource;
use nri_resctrl_plugin::pid_source::{
    CgroupVersion, DEFAULT_CGROUP_ROOT, V1_CONTROLLERS, mount_root,
};

fn source() -> CgroupPidSource {
    CgroupPidSource::detect(DEFAULT_CGROUP_ROOT).expect("the init mounted cgroups")
}

/// The thread ids of this process, from `/proc/self/task`.
fn own_threads() -> BTreeSet<u32> {
    fs::read_dir("/proc/self/task")
        .expect("reading /proc/self/task")
        .map(|entry| {
            let name = entry.expect("a task entry").file_name();
            name.to_str()
                .and_then(|n| n.parse().ok())
                .expect("task dirs are thread ids")
        })
        .collect()
}

/// A new cgroup below the hierarchy holding this whole process while it lives; on drop
/// the process goes back to the top and the cgroup is removed.
struct MovedInto {
    dir: PathBuf,
    top: PathBuf,
}

impl MovedInto {
    fn new(source: &CgroupPidSource, name: &str) -> Self {
        let top = source.hierarchy().to_path_buf();
        let dir = top.join(name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        move_process(&dir);
        MovedInto { dir, top }
    }
}

impl Drop for MovedInto {
    fn drop(&mut self) {
        move_process(&self.top);
        let _ = fs::remove_dir(&self.dir);
    }
}

fn move_process(dir: &Path) {
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, std::process::id().to_string())
        .unwrap_or_else(|e| panic!("moving this process into {}: {e}", procs.display()));
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn the_detected_hierarchy_is_the_one_the_mode_mounted() {
    let source = source();
    let (version, hierarchy) = match cgroup_mode() {
        CgroupMode::V2 => (CgroupVersion::V2, PathBuf::from(DEFAULT_CGROUP_ROOT)),
        CgroupMode::V1 => (
            CgroupVersion::V1,
            Path::new(DEFAULT_CGROUP_ROOT).join("pids"),
        ),
    };
    assert_eq!(source.version(), version);
    assert_eq!(source.hierarchy(), hierarchy);
    assert_eq!(source.mount_root(), Path::new("/"));
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn every_thread_of_a_process_moved_into_a_new_cgroup_is_listed() {
    let source = source();
    let barrier = Arc::new(Barrier::new(9));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let moved = MovedInto::new(&source, "kmatrix-threads");
    let listed: BTreeSet<u32> = source
        .threads_in(&moved.dir)
        .expect("listing the new cgroup")
        .into_iter()
        .collect();
    let present = own_threads();
    barrier.wait();
    for worker in workers {
        worker.join().expect("worker thread");
    }
    assert!(present.len() >= 9, "{present:?}");
    assert_eq!(listed, present);
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn threads_below_a_nested_cgroup_are_listed_with_their_parent() {
    let source = source();
    let outer = source.hierarchy().join("kmatrix-outer");
    fs::create_dir(&outer).expect("creating the outer cgroup");
    let moved = MovedInto::new(&source, "kmatrix-outer/inner");
    let listed: BTreeSet<u32> = source
        .threads_in(&outer)
        .expect("listing the outer cgroup")
        .into_iter()
        .collect();
    let present = own_threads();
    drop(moved);
    fs::remove_dir(&outer).expect("removing the outer cgroup");
    assert_eq!(listed, present);
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn threads_exiting_while_the_cgroup_is_read_are_no_error() {
    let source = source();
    let moved = MovedInto::new(&source, "kmatrix-churn");
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut spawned = 0u32;
            while !stop.load(Ordering::Relaxed) {
                thread::spawn(|| {}).join().expect("a short thread");
                spawned += 1;
            }
            spawned
        })
    };
    let me = std::process::id();
    for round in 0..300 {
        let listed = source
            .threads_in(&moved.dir)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(listed.contains(&me), "round {round}: {listed:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let spawned = churn.join().expect("the churning thread");
    assert!(spawned > 0, "no thread came and went during the reads");
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn the_guests_own_mountinfo_gives_each_cgroup_mount_its_root() {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    let source = source();
    assert_eq!(
        mount_root(&mountinfo, source.hierarchy()),
        Some(PathBuf::from("/")),
        "{mountinfo}"
    );
    assert_eq!(mount_root(&mountinfo, Path::new("/no/such/mount")), None);
}

#[test]
#[ignore = "runs in a kernel-matrix guest: cargo xtask kernel-matrix"]
fn the_cgroup_interface_files_are_the_ones_this_kernel_has() {
    match cgroup_mode() {
        CgroupMode::V2 => {
            let top = Path::new(DEFAULT_CGROUP_ROOT);
            assert!(
                top.join("cgroup.threads").is_file(),
                "cgroup.threads is what v2 lists"
            );
            let probe = top.join("kmatrix-kill");
            fs::create_dir(&probe).unwrap_or_else(|e| panic!("creating {}: {e}", probe.display()));
            let kill = probe.join("cgroup.kill").exists();
            fs::remove_dir(&probe).unwrap_or_else(|e| panic!("removing {}: {e}", probe.display()));
            assert_eq!(
                if kill { "present" } else { "absent" },
                expected("cgroup-kill")
            );
        }
        CgroupMode::V1 => {
            let mounted: Vec<&str> = V1_CONTROLLERS
                .into_iter()
                .filter(|c| {
                    Path::new(DEFAULT_CGROUP_ROOT)
                        .join(c)
                        .join("tasks")
                        .is_file()
                })
                .collect();
            assert_eq!(mounted.join(","), expected("v1-controllers"));
        }
    }
}
