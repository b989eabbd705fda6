//! The fake's own tests: it must behave like the kernel, or every test built on it lies.

use super::*;

const ROOT: &str = "/sys/fs/resctrl";

fn p(rel: &str) -> PathBuf {
    Path::new(ROOT).join(rel)
}

fn errno_of<T: std::fmt::Debug>(r: io::Result<T>) -> Option<Errno> {
    r.err().as_ref().and_then(Errno::from_io_error)
}

fn names(fake: &FakeResctrl, path: &Path) -> Vec<String> {
    let mut names: Vec<String> = fake
        .read_dir(path)
        .expect("list")
        .into_iter()
        .filter_map(|e| e.name.into_string().ok())
        .collect();
    names.sort();
    names
}

#[test]
fn root_has_the_kernel_layout() {
    let fake = FakeResctrl::new();
    assert_eq!(
        names(&fake, Path::new(ROOT)),
        vec![
            "cpus",
            "cpus_list",
            "info",
            "mode",
            "mon_data",
            "mon_groups",
            "schemata",
            "size",
            "tasks"
        ]
    );
    assert_eq!(
        names(&fake, &p("info")),
        vec!["L3", "L3_MON", "last_cmd_status"]
    );
    assert_eq!(
        fake.read_to_string(&p("info/L3_MON/num_rmids"))
            .expect("read"),
        "64\n"
    );
    assert_eq!(
        fake.read_to_string(&p("info/L3/num_closids"))
            .expect("read"),
        "16\n"
    );
    assert_eq!(
        fake.read_to_string(&p("info/L3_MON/mon_features"))
            .expect("read"),
        "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n"
    );
    assert_eq!(names(&fake, &p("mon_data")), vec!["mon_L3_00", "mon_L3_01"]);
    assert!(names(&fake, &p("mon_groups")).is_empty());
}

#[test]
fn a_group_s_interface_files_read_like_the_kernel_s() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("c")).expect("a control group");
    fake.create_dir(&p("c/mon_groups/m"))
        .expect("a monitoring group in it");
    let cbm = "    L3:0=fff;1=fff\n";
    for (file, want) in [
        ("c/cpus", "ff\n"),
        ("c/cpus_list", "0-7\n"),
        ("c/mode", "shareable\n"),
        ("c/schemata", cbm),
        ("c/size", cbm),
        ("c/mon_groups/m/cpus", "ff\n"),
        ("c/mon_groups/m/cpus_list", "0-7\n"),
    ] {
        assert_eq!(fake.read_to_string(&p(file)).expect(file), want, "{file}");
    }
}

#[test]
fn mkdir_under_mon_groups_creates_a_monitoring_group() {
    let fake = FakeResctrl::builder().l3_domains([0, 1, 2]).build();
    fake.create_dir(&p("mon_groups/m")).expect("mkdir");
    assert_eq!(
        names(&fake, &p("mon_groups/m")),
        vec!["cpus", "cpus_list", "mon_data", "tasks"]
    );
    assert_eq!(
        names(&fake, &p("mon_groups/m/mon_data")),
        vec!["mon_L3_00", "mon_L3_01", "mon_L3_02"]
    );
    assert_eq!(
        names(&fake, &p("mon_groups/m/mon_data/mon_L3_02")),
        vec!["llc_occupancy", "mbm_local_bytes", "mbm_total_bytes"]
    );
    assert_eq!(
        fake.read_to_string(&p("mon_groups/m/tasks")).expect("read"),
        ""
    );
    assert_eq!(fake.rmids_in_use(), 2);
    assert_eq!(fake.closids_in_use(), 1);
}

#[test]
fn mkdir_under_the_root_creates_a_control_group() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("c")).expect("mkdir");
    assert_eq!(
        names(&fake, &p("c")),
        vec![
            "cpus",
            "cpus_list",
            "mode",
            "mon_data",
            "mon_groups",
            "schemata",
            "size",
            "tasks"
        ]
    );
    assert_eq!(fake.closids_in_use(), 2);
    assert_eq!(fake.rmids_in_use(), 2);
    fake.create_dir(&p("c/mon_groups/m"))
        .expect("nested monitoring group");
    assert_eq!(names(&fake, &p("c/mon_groups")), vec!["m"]);
    assert_eq!(fake.rmids_in_use(), 3);
    assert_eq!(fake.closids_in_use(), 2);
}

#[test]
fn mkdir_errors_match_the_kernel() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("mon_groups/m")).expect("mkdir");
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/m"))),
        Some(Errno::EXIST)
    );
    assert_eq!(errno_of(fake.create_dir(&p("info"))), Some(Errno::EXIST));
    // Only the root and mon_groups directories accept mkdir.
    for rel in [
        "info/x",
        "mon_data/x",
        "mon_groups/m/x",
        "mon_groups/m/mon_data/x",
    ] {
        assert_eq!(
            errno_of(fake.create_dir(&p(rel))),
            Some(Errno::PERM),
            "{rel}"
        );
    }
    assert_eq!(
        errno_of(fake.create_dir(&p("nope/mon_groups/x"))),
        Some(Errno::NOENT)
    );
    assert_eq!(
        errno_of(fake.create_dir(&p("tasks/x"))),
        Some(Errno::NOTDIR)
    );
    assert_eq!(
        errno_of(fake.create_dir(Path::new("/elsewhere/x"))),
        Some(Errno::NOENT)
    );
}

#[test]
fn rmids_run_out_and_rmdir_frees_them() {
    let fake = FakeResctrl::builder().num_rmids(3).build();
    fake.create_dir(&p("mon_groups/a")).expect("2 of 3");
    fake.create_dir(&p("c"))
        .expect("3 of 3, a control group needs one too");
    assert_eq!(fake.free_rmids(), 0);
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/b"))),
        Some(Errno::NOSPC)
    );
    assert_eq!(errno_of(fake.create_dir(&p("d"))), Some(Errno::NOSPC));
    assert_eq!(fake.last_cmd_status(), "Out of RMIDs\n");
    fake.remove_dir(&p("mon_groups/a")).expect("rmdir");
    assert_eq!(fake.free_rmids(), 1);
    fake.create_dir(&p("mon_groups/b")).expect("freed RMID");
}

#[test]
fn closids_run_out() {
    let fake = FakeResctrl::builder().num_closids(Some(2)).build();
    fake.create_dir(&p("c1")).expect("CLOSID 2 of 2");
    assert_eq!(errno_of(fake.create_dir(&p("c2"))), Some(Errno::NOSPC));
    assert_eq!(fake.last_cmd_status(), "Out of CLOSIDs\n");
    fake.create_dir(&p("mon_groups/m"))
        .expect("monitoring groups need no CLOSID");

    // Without an allocation resource the kernel's default of 32 applies.
    let fake = FakeResctrl::builder().num_closids(None).build();
    assert_eq!(names(&fake, &p("info")), vec!["L3_MON", "last_cmd_status"]);
    // Not listed, and not there when asked for by name either.
    assert_eq!(errno_of(fake.read_dir(&p("info/L3"))), Some(Errno::NOENT));
    for i in 1..32 {
        fake.create_dir(&p(&format!("c{i}"))).expect("within 32");
    }
    assert_eq!(errno_of(fake.create_dir(&p("c32"))), Some(Errno::NOSPC));
}

#[test]
fn a_thread_lives_in_exactly_one_group() {
    let fake = FakeResctrl::new();
    fake.add_threads([1, 2]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.create_dir(&p("mon_groups/b")).expect("mkdir");
    fake.write(&p("mon_groups/a/tasks"), b"1\n")
        .expect("move to a");
    fake.write(&p("mon_groups/b/tasks"), b"1")
        .expect("move to b");
    assert_eq!(fake.group_of(1), Some(p("mon_groups/b")));
    assert_eq!(
        fake.read_to_string(&p("mon_groups/a/tasks")).expect("read"),
        ""
    );
    assert_eq!(
        fake.read_to_string(&p("mon_groups/b/tasks")).expect("read"),
        "1\n"
    );
    // The root's tasks lists all of its CLOSID, monitoring groups included.
    assert_eq!(fake.read_to_string(&p("tasks")).expect("read"), "1\n2\n");
    assert_eq!(fake.members(Path::new(ROOT)), BTreeSet::from([2]));
}

#[test]
fn task_writes_fail_like_the_kernel() {
    let fake = FakeResctrl::new();
    fake.add_threads([1]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let tasks = p("mon_groups/a/tasks");
    assert_eq!(errno_of(fake.write(&tasks, b"42\n")), Some(Errno::SRCH));
    assert_eq!(fake.last_cmd_status(), "No task 42\n");
    assert_eq!(errno_of(fake.write(&tasks, b"one")), Some(Errno::INVAL));
    assert_eq!(errno_of(fake.write(&tasks, b"-1")), Some(Errno::INVAL));
    // A thread of another control group cannot join this CLOSID's monitoring group.
    fake.create_dir(&p("c")).expect("control group");
    fake.write(&p("c/tasks"), b"1").expect("to c");
    assert_eq!(errno_of(fake.write(&tasks, b"1")), Some(Errno::INVAL));
    assert_eq!(fake.group_of(1), Some(p("c")));
    fake.create_dir(&p("c/mon_groups/m")).expect("mkdir");
    fake.write(&p("c/mon_groups/m/tasks"), b"1")
        .expect("same CLOSID");
    assert_eq!(fake.read_to_string(&p("c/tasks")).expect("read"), "1\n");
}

#[test]
fn comma_separated_ids_stop_at_the_first_error() {
    let fake = FakeResctrl::new();
    fake.add_threads([1, 2, 3]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let tasks = p("mon_groups/a/tasks");
    assert_eq!(errno_of(fake.write(&tasks, b"1,9,2")), Some(Errno::SRCH));
    assert_eq!(fake.members(&p("mon_groups/a")), BTreeSet::from([1]));
    fake.write(&tasks, b"2, 3").expect("list");
    assert_eq!(fake.members(&p("mon_groups/a")), BTreeSet::from([1, 2, 3]));
}

#[test]
fn exiting_a_thread_removes_it_from_its_group() {
    let fake = FakeResctrl::new();
    fake.add_threads([5]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.write(&p("mon_groups/a/tasks"), b"5").expect("move");
    fake.exit_thread(5);
    assert_eq!(
        fake.read_to_string(&p("mon_groups/a/tasks")).expect("read"),
        ""
    );
    assert!(fake.live_threads().is_empty());
    assert_eq!(fake.group_of(5), None);
    assert_eq!(
        errno_of(fake.write(&p("mon_groups/a/tasks"), b"5")),
        Some(Errno::SRCH)
    );
}

#[test]
fn rmdir_moves_tasks_to_the_parent_control_group() {
    let fake = FakeResctrl::new();
    fake.add_threads([1, 2, 3]);
    fake.create_dir(&p("c")).expect("mkdir");
    fake.create_dir(&p("c/mon_groups/m")).expect("mkdir");
    fake.create_dir(&p("mon_groups/r")).expect("mkdir");
    // A thread joins a control group before one of its monitoring groups.
    fake.write(&p("c/tasks"), b"1,2").expect("move");
    fake.write(&p("c/mon_groups/m/tasks"), b"1").expect("move");
    fake.write(&p("mon_groups/r/tasks"), b"3").expect("move");

    fake.remove_dir(&p("c/mon_groups/m")).expect("rmdir");
    assert_eq!(fake.group_of(1), Some(p("c")), "back to its control group");
    fake.remove_dir(&p("mon_groups/r")).expect("rmdir");
    assert_eq!(fake.group_of(3), Some(PathBuf::from(ROOT)));

    fake.create_dir(&p("c/mon_groups/m2")).expect("mkdir");
    fake.write(&p("c/mon_groups/m2/tasks"), b"1").expect("move");
    let before = fake.rmids_in_use();
    fake.remove_dir(&p("c")).expect("rmdir control group");
    assert_eq!(fake.group_of(1), Some(PathBuf::from(ROOT)));
    assert_eq!(fake.group_of(2), Some(PathBuf::from(ROOT)));
    assert!(
        !fake.group_exists(&p("c/mon_groups/m2")),
        "nested groups go too"
    );
    assert_eq!(fake.rmids_in_use(), before - 2);
    assert_eq!(fake.closids_in_use(), 1);
}

#[test]
fn rmdir_errors_match_the_kernel() {
    let fake = FakeResctrl::new();
    assert_eq!(
        errno_of(fake.remove_dir(Path::new(ROOT))),
        Some(Errno::BUSY)
    );
    for rel in [
        "info",
        "mon_groups",
        "mon_data",
        "mon_data/mon_L3_00",
        "info/L3",
    ] {
        assert_eq!(
            errno_of(fake.remove_dir(&p(rel))),
            Some(Errno::PERM),
            "{rel}"
        );
    }
    assert_eq!(errno_of(fake.remove_dir(&p("tasks"))), Some(Errno::NOTDIR));
    assert_eq!(
        errno_of(fake.remove_dir(&p("mon_groups/x"))),
        Some(Errno::NOENT)
    );
}

#[test]
fn other_file_operations_match_the_kernel() {
    let fake = FakeResctrl::new();
    assert_eq!(
        errno_of(fake.read_to_string(&p("info"))),
        Some(Errno::ISDIR)
    );
    assert_eq!(
        errno_of(fake.read_to_string(&p("nothing"))),
        Some(Errno::NOENT)
    );
    assert_eq!(errno_of(fake.read_dir(&p("tasks"))), Some(Errno::NOTDIR));
    assert_eq!(
        errno_of(fake.write(&p("info/L3_MON/num_rmids"), b"1")),
        Some(Errno::ACCESS)
    );
    assert_eq!(
        errno_of(fake.write(&p("nothing"), b"1")),
        Some(Errno::NOENT)
    );
    fake.write(&p("schemata"), b"L3:0=f\n")
        .expect("accepted and ignored");
    assert!(fake.is_writable(Path::new(ROOT)).expect("access"));
    assert_eq!(
        errno_of(fake.is_writable(&p("nothing"))),
        Some(Errno::NOENT)
    );
}

#[test]
fn readings_are_settable_per_group_domain_and_event() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let g = p("mon_groups/a");
    let file = |d: &str, e: &str| g.join("mon_data").join(d).join(e);
    assert_eq!(
        fake.read_to_string(&file("mon_L3_00", "llc_occupancy"))
            .expect("read"),
        "0\n"
    );
    fake.set_reading(&g, 0, MonEvent::LlcOccupancy, FakeReading::Value(123));
    fake.set_reading(&g, 1, MonEvent::LlcOccupancy, FakeReading::Unavailable);
    fake.set_reading(
        &g,
        1,
        MonEvent::MbmTotalBytes,
        FakeReading::ReadError(Errno::IO),
    );
    fake.set_reading(&g, 1, MonEvent::MbmLocalBytes, FakeReading::Absent);
    assert_eq!(
        fake.read_to_string(&file("mon_L3_00", "llc_occupancy"))
            .expect("read"),
        "123\n"
    );
    assert_eq!(
        fake.read_to_string(&file("mon_L3_01", "llc_occupancy"))
            .expect("read"),
        "Unavailable\n"
    );
    assert_eq!(
        errno_of(fake.read_to_string(&file("mon_L3_01", "mbm_total_bytes"))),
        Some(Errno::IO)
    );
    assert_eq!(
        errno_of(fake.read_to_string(&file("mon_L3_01", "mbm_local_bytes"))),
        Some(Errno::NOENT)
    );
    assert_eq!(
        names(&fake, &g.join("mon_data/mon_L3_01")),
        vec!["llc_occupancy", "mbm_total_bytes"]
    );
    // Another group is unaffected.
    fake.create_dir(&p("mon_groups/b")).expect("mkdir");
    assert_eq!(
        fake.read_to_string(&p("mon_groups/b/mon_data/mon_L3_00/llc_occupancy"))
            .expect("read"),
        "0\n"
    );
}

#[test]
fn without_monitoring_there_are_no_mon_directories() {
    let fake = FakeResctrl::builder().mon_features([]).build();
    let root = names(&fake, Path::new(ROOT));
    assert!(!root.contains(&"mon_groups".to_owned()));
    assert!(!root.contains(&"mon_data".to_owned()));
    assert_eq!(names(&fake, &p("info")), vec!["L3", "last_cmd_status"]);
    assert_eq!(
        errno_of(fake.read_dir(&p("info/L3_MON"))),
        Some(Errno::NOENT)
    );
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/a"))),
        Some(Errno::NOENT)
    );
    fake.create_dir(&p("c")).expect("control groups still work");
    assert_eq!(fake.rmids_in_use(), 0);
}

#[test]
fn mounting_is_reflected_in_the_mount_table_and_tree() {
    let fake = FakeResctrl::new();
    fake.add_threads([1]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.write(&p("mon_groups/a/tasks"), b"1").expect("move");
    let table = fake
        .read_to_string(Path::new("/proc/mounts"))
        .expect("mounts");
    assert!(
        table.contains("resctrl /sys/fs/resctrl resctrl rw,relatime 0 0\n"),
        "{table}"
    );

    fake.set_mounted(false);
    let table = fake
        .read_to_string(Path::new("/proc/mounts"))
        .expect("mounts");
    assert!(!table.contains("resctrl"), "{table}");
    assert!(
        fake.read_dir(Path::new(ROOT))
            .expect("empty mount point")
            .is_empty()
    );
    assert_eq!(
        errno_of(fake.read_to_string(&p("tasks"))),
        Some(Errno::NOENT)
    );
    assert_eq!(errno_of(fake.create_dir(&p("x"))), Some(Errno::PERM));

    fake.set_mounted(true);
    assert!(fake.groups().is_empty(), "unmounting dropped the groups");
    assert_eq!(fake.group_of(1), Some(PathBuf::from(ROOT)));
}

#[test]
fn mount_behaviours() {
    let fake = FakeResctrl::builder().mounted(false).build();
    fake.set_mount_behavior(FakeMount::Fail(Errno::PERM));
    assert_eq!(
        errno_of(fake.mount_resctrl(Path::new(ROOT))),
        Some(Errno::PERM)
    );
    fake.set_mount_behavior(FakeMount::NoEffect);
    fake.mount_resctrl(Path::new(ROOT)).expect("no effect");
    assert!(!fake.is_mounted());
    fake.set_mount_behavior(FakeMount::Mount);
    assert_eq!(
        errno_of(fake.mount_resctrl(Path::new("/mnt/x"))),
        Some(Errno::NOENT)
    );
    fake.mount_resctrl(Path::new(ROOT)).expect("mount");
    assert!(fake.is_mounted());
    assert_eq!(
        errno_of(fake.mount_resctrl(Path::new(ROOT))),
        Some(Errno::BUSY)
    );
    assert_eq!(fake.counters().mount_calls, 5);
}

#[test]
fn mount_table_escapes_the_root() {
    let fake = FakeResctrl::builder().root("/run/a b\\c").build();
    let table = fake
        .read_to_string(Path::new("/proc/mounts"))
        .expect("mounts");
    assert!(
        table.contains("resctrl /run/a\\040b\\134c resctrl"),
        "{table}"
    );
}

#[test]
fn cpuinfo_and_paths_are_configurable() {
    let fake = FakeResctrl::builder()
        .mounts_path("/fixture/mounts")
        .cpuinfo_path("/fixture/cpuinfo")
        .cpuinfo(NO_RDT_CPUINFO)
        .build();
    assert_eq!(
        fake.read_to_string(Path::new("/fixture/cpuinfo"))
            .expect("read"),
        NO_RDT_CPUINFO
    );
    assert!(fake.read_to_string(Path::new("/fixture/mounts")).is_ok());
    assert_eq!(
        errno_of(fake.read_to_string(Path::new("/proc/mounts"))),
        Some(Errno::NOENT)
    );
    let cfg = fake.config();
    assert_eq!(cfg.mounts_path, PathBuf::from("/fixture/mounts"));
    assert_eq!(cfg.cpuinfo_path, PathBuf::from("/fixture/cpuinfo"));
    assert_eq!(cfg.root, PathBuf::from(ROOT));
}

#[test]
fn denied_paths_fail_every_operation_below_them() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.deny_access(p("mon_groups/a"));
    assert_eq!(
        errno_of(fake.read_to_string(&p("mon_groups/a/tasks"))),
        Some(Errno::ACCESS)
    );
    assert_eq!(
        errno_of(fake.write(&p("mon_groups/a/tasks"), b"1")),
        Some(Errno::ACCESS)
    );
    assert_eq!(
        errno_of(fake.read_dir(&p("mon_groups/a"))),
        Some(Errno::ACCESS)
    );
    assert_eq!(
        errno_of(fake.remove_dir(&p("mon_groups/a"))),
        Some(Errno::ACCESS)
    );
    assert!(!fake.is_writable(&p("mon_groups/a")).expect("access"));
    // The parent is unaffected.
    assert_eq!(names(&fake, &p("mon_groups")), vec!["a"]);
    fake.allow_access(&p("mon_groups/a"));
    fake.remove_dir(&p("mon_groups/a")).expect("allowed again");
}

#[test]
fn one_shot_faults_fire_once_in_order() {
    let fake = FakeResctrl::new();
    fake.fail_next(FakeOp::Mkdir, Some(p("mon_groups/b")), Errno::IO);
    fake.inject_enospc(1);
    // The path-specific fault does not match `a`; the any-path ENOSPC does.
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/a"))),
        Some(Errno::NOSPC)
    );
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/b"))),
        Some(Errno::IO)
    );
    fake.create_dir(&p("mon_groups/a")).expect("faults used up");
    fake.create_dir(&p("mon_groups/b")).expect("faults used up");
    fake.fail_next(FakeOp::ReadDir, None, Errno::IO);
    assert_eq!(errno_of(fake.read_dir(&p("mon_groups"))), Some(Errno::IO));
    fake.fail_next(FakeOp::Read, None, Errno::IO);
    assert_eq!(errno_of(fake.read_to_string(&p("tasks"))), Some(Errno::IO));
    fake.fail_next(FakeOp::Rmdir, None, Errno::BUSY);
    assert_eq!(
        errno_of(fake.remove_dir(&p("mon_groups/a"))),
        Some(Errno::BUSY)
    );
    fake.fail_next(FakeOp::Access, None, Errno::IO);
    assert_eq!(errno_of(fake.is_writable(Path::new(ROOT))), Some(Errno::IO));
}

#[test]
fn a_vanishing_entry_is_listed_then_gone_on_rmdir() {
    let fake = FakeResctrl::new();
    fake.add_threads([1]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.write(&p("mon_groups/a/tasks"), b"1").expect("move");
    fake.vanish_on_rmdir(p("mon_groups/a"));
    assert_eq!(names(&fake, &p("mon_groups")), vec!["a"]);
    assert_eq!(
        errno_of(fake.remove_dir(&p("mon_groups/a"))),
        Some(Errno::NOENT)
    );
    assert!(!fake.group_exists(&p("mon_groups/a")));
    assert_eq!(fake.group_of(1), Some(PathBuf::from(ROOT)));
    assert_eq!(fake.rmids_in_use(), 1);
    // Only once: a new group of that name is removed normally.
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.remove_dir(&p("mon_groups/a")).expect("rmdir");
}

#[test]
fn counters_count_calls_including_failures() {
    let fake = FakeResctrl::new();
    fake.add_threads([1]);
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let _ = fake.create_dir(&p("mon_groups/a"));
    fake.write(&p("mon_groups/a/tasks"), b"1").expect("write");
    let _ = fake.write(&p("mon_groups/a/tasks"), b"2");
    fake.write(&p("schemata"), b"x").expect("write");
    fake.remove_dir(&p("mon_groups/a")).expect("rmdir");
    let _ = fake.read_to_string(&p("tasks"));
    assert_eq!(
        fake.counters(),
        FakeCounters {
            mkdir_calls: 2,
            rmdir_calls: 1,
            tasks_writes: 2,
            writes: 3,
            reads: 1,
            mount_calls: 0,
        }
    );
    fake.reset_counters();
    assert_eq!(fake.counters(), FakeCounters::default());
}

#[test]
fn clones_share_state_across_threads() {
    let fake = FakeResctrl::new();
    fake.add_threads(1..=40);
    let workers: Vec<_> = (0..4u32)
        .map(|w| {
            let fake = fake.clone();
            std::thread::spawn(move || {
                let group = p(&format!("mon_groups/w{w}"));
                fake.create_dir(&group).expect("mkdir");
                for id in (w * 10 + 1)..=(w * 10 + 10) {
                    fake.write(&group.join("tasks"), id.to_string().as_bytes())
                        .expect("move");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(fake.groups().len(), 4);
    for w in 0..4u32 {
        let expected: BTreeSet<u32> = ((w * 10 + 1)..=(w * 10 + 10)).collect();
        assert_eq!(fake.members(&p(&format!("mon_groups/w{w}"))), expected);
    }
    assert_eq!(fake.counters().tasks_writes, 40);
}

#[test]
fn added_files_are_listed_and_writable() {
    let fake = FakeResctrl::new();
    fake.add_file(p("stray"), "x");
    let entries = fake.read_dir(Path::new(ROOT)).expect("list");
    assert!(entries.iter().any(|e| e.name == "stray" && !e.is_dir));
    fake.write(&p("stray"), b"y").expect("write");
    assert_eq!(fake.read_to_string(&p("stray")).expect("read"), "y");
}

#[test]
fn error_and_unassigned_readings_show_the_kernels_text() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let g = p("mon_groups/a");
    fake.set_reading(&g, 0, MonEvent::MbmTotalBytes, FakeReading::Error);
    fake.set_reading(&g, 0, MonEvent::MbmLocalBytes, FakeReading::Unassigned);
    let read = |e: &str| {
        fake.read_to_string(&g.join("mon_data/mon_L3_00").join(e))
            .expect("read")
    };
    assert_eq!(read("mbm_total_bytes"), "Error\n");
    assert_eq!(read("mbm_local_bytes"), "Unassigned\n");
}

#[test]
fn sub_numa_clustering_adds_a_directory_per_node_under_each_l3_domain() {
    let fake = FakeResctrl::builder()
        .l3_domains([0, 1])
        .sub_numa_nodes_per_l3(2)
        .build();
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let g = p("mon_groups/a");
    assert_eq!(fake.sub_numa_nodes(0), vec![0, 1]);
    assert_eq!(fake.sub_numa_nodes(1), vec![2, 3]);
    assert_eq!(
        names(&fake, &g.join("mon_data/mon_L3_01")),
        vec![
            "llc_occupancy",
            "mbm_local_bytes",
            "mbm_total_bytes",
            "mon_sub_L3_02",
            "mon_sub_L3_03"
        ]
    );
    assert_eq!(
        names(&fake, &g.join("mon_data/mon_L3_01/mon_sub_L3_03")),
        vec!["llc_occupancy", "mbm_local_bytes", "mbm_total_bytes"]
    );
    assert_eq!(
        fake.stat(&g.join("mon_data/mon_L3_00/mon_sub_L3_02")),
        None,
        "node 2 shares the cache of domain 1, not 0"
    );
    // The root group has them too.
    assert_eq!(
        fake.stat(&p("mon_data/mon_L3_00/mon_sub_L3_01/llc_occupancy")),
        Some(FakeEntry::File { writable: false })
    );
}

#[test]
fn an_l3_domain_split_into_nodes_reads_the_sum_of_the_nodes_that_answer() {
    let fake = FakeResctrl::builder()
        .l3_domains([0])
        .sub_numa_nodes_per_l3(3)
        .build();
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    let g = p("mon_groups/a");
    let read = |rel: &str| {
        fake.read_to_string(&g.join("mon_data/mon_L3_00").join(rel))
            .expect("read")
    };
    let occupancy = MonEvent::LlcOccupancy;
    fake.set_node_reading(&g, 0, occupancy, FakeReading::Value(100));
    fake.set_node_reading(&g, 1, occupancy, FakeReading::Value(20));
    fake.set_node_reading(&g, 2, occupancy, FakeReading::Unavailable);
    assert_eq!(read("mon_sub_L3_00/llc_occupancy"), "100\n");
    assert_eq!(read("mon_sub_L3_02/llc_occupancy"), "Unavailable\n");
    assert_eq!(read("llc_occupancy"), "120\n", "a failing node is left out");

    let total = MonEvent::MbmTotalBytes;
    for node in 0..3 {
        fake.set_node_reading(&g, node, total, FakeReading::Error);
    }
    assert_eq!(read("mbm_total_bytes"), "Error\n", "no node answers");

    fake.set_reading(&g, 0, occupancy, FakeReading::Value(7));
    assert_eq!(
        read("llc_occupancy"),
        "7\n",
        "a reading set on the domain wins"
    );
}

#[test]
fn stat_tells_directories_from_files_without_side_effects() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("mon_groups/a")).expect("mkdir");
    fake.fail_next(FakeOp::Read, None, Errno::IO);
    fake.reset_counters();
    assert_eq!(fake.stat(Path::new(ROOT)), Some(FakeEntry::Dir));
    assert_eq!(fake.stat(&p("mon_groups/a")), Some(FakeEntry::Dir));
    assert_eq!(
        fake.stat(&p("mon_groups/a/tasks")),
        Some(FakeEntry::File { writable: true })
    );
    assert_eq!(
        fake.stat(&p("size")),
        Some(FakeEntry::File { writable: false })
    );
    assert_eq!(
        fake.stat(Path::new("/proc/mounts")),
        Some(FakeEntry::File { writable: false })
    );
    assert_eq!(fake.stat(&p("mon_groups/b")), None);
    assert_eq!(fake.counters(), FakeCounters::default());
    assert_eq!(
        errno_of(fake.read_to_string(&p("tasks"))),
        Some(Errno::IO),
        "the queued fault is still there for the next real read"
    );
    assert_eq!(
        errno_of(fake.write(&p("size"), b"1")),
        Some(Errno::ACCESS),
        "size is read-only, as in the kernel"
    );
}

#[test]
fn unmounting_puts_every_group_s_rmid_in_limbo_but_the_root_s() {
    let fake = FakeResctrl::builder()
        .num_rmids(8)
        .rmid_limbo(std::time::Duration::from_secs(3600))
        .build();
    fake.create_dir(&p("c")).expect("a control group");
    fake.create_dir(&p("c/mon_groups/m"))
        .expect("its monitoring group");
    fake.create_dir(&p("mon_groups/a"))
        .expect("a monitoring group");
    fake.set_mounted(false);
    assert_eq!(fake.rmids_in_limbo(), 3);
    fake.set_mounted(true);
    assert_eq!((fake.rmids_in_use(), fake.free_rmids()), (1, 4));
}

#[test]
fn a_freed_rmid_in_limbo_is_busy_until_limbo_ends() {
    let fake = FakeResctrl::builder()
        .num_rmids(3)
        .rmid_limbo(std::time::Duration::from_secs(3600))
        .build();
    fake.create_dir(&p("mon_groups/a")).expect("2 of 3");
    fake.create_dir(&p("mon_groups/b")).expect("3 of 3");
    fake.remove_dir(&p("mon_groups/a")).expect("rmdir");
    assert_eq!(
        (
            fake.rmids_in_use(),
            fake.rmids_in_limbo(),
            fake.free_rmids()
        ),
        (2, 1, 0)
    );
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/c"))),
        Some(Errno::BUSY),
        "only a dirty RMID is left"
    );
    assert_eq!(fake.last_cmd_status(), "Out of RMIDs\n");
    // A control group and its monitoring groups all go to limbo.
    fake.remove_dir(&p("mon_groups/b")).expect("rmdir");
    assert_eq!(fake.rmids_in_limbo(), 2);
    fake.end_limbo();
    assert_eq!((fake.rmids_in_limbo(), fake.free_rmids()), (0, 2));
    fake.create_dir(&p("mon_groups/c")).expect("clean RMID");
    fake.create_dir(&p("ctrl")).expect("the last one");
    assert_eq!(
        errno_of(fake.create_dir(&p("mon_groups/d"))),
        Some(Errno::NOSPC),
        "none in limbo: plain exhaustion"
    );
}

#[test]
fn a_short_limbo_ends_by_itself() {
    let fake = FakeResctrl::builder()
        .num_rmids(2)
        .rmid_limbo(std::time::Duration::from_millis(1))
        .build();
    fake.create_dir(&p("mon_groups/a")).expect("2 of 2");
    fake.remove_dir(&p("mon_groups/a")).expect("rmdir");
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(fake.rmids_in_limbo(), 0);
    fake.create_dir(&p("mon_groups/b")).expect("limbo over");
}

#[test]
fn without_limbo_a_freed_rmid_is_free_at_once() {
    let fake = FakeResctrl::builder().num_rmids(2).build();
    fake.create_dir(&p("c")).expect("2 of 2");
    fake.remove_dir(&p("c")).expect("rmdir");
    assert_eq!((fake.rmids_in_limbo(), fake.free_rmids()), (0, 1));
    fake.create_dir(&p("mon_groups/a")).expect("free at once");
}

#[test]
fn a_control_group_does_not_resolve_below_a_monitoring_group() {
    let fake = FakeResctrl::new();
    fake.create_dir(&p("ctrl")).expect("control group");
    fake.create_dir(&p("mon_groups/m"))
        .expect("monitoring group");
    fake.create_dir(&p("ctrl/mon_groups/n"))
        .expect("nested monitoring group");
    for rel in [
        "mon_groups/m/ctrl",
        "mon_groups/m/ctrl/tasks",
        "mon_groups/m/mon_groups",
        "ctrl/ctrl/tasks",
        "ctrl/mon_groups/n/ctrl/tasks",
        "mon_groups/m/info",
    ] {
        assert_eq!(fake.stat(&p(rel)), None, "{rel}");
        assert_eq!(
            errno_of(fake.read_to_string(&p(rel))),
            Some(Errno::NOENT),
            "{rel}"
        );
    }
    assert_eq!(
        errno_of(fake.write(&p("mon_groups/m/ctrl/tasks"), b"1")),
        Some(Errno::NOENT)
    );
}

#[test]
fn without_monitoring_no_group_has_mon_data() {
    let fake = FakeResctrl::builder().mon_features([]).build();
    fake.create_dir(&p("c")).expect("control group");
    for rel in [
        "mon_data",
        "c/mon_data",
        "mon_data/mon_L3_00",
        "c/mon_groups",
    ] {
        assert_eq!(fake.stat(&p(rel)), None, "{rel}");
        assert_eq!(
            errno_of(fake.read_dir(&p(rel))),
            Some(Errno::NOENT),
            "{rel}"
        );
    }
    assert!(!names(&fake, &p("c")).contains(&"mon_data".to_owned()));
    assert_eq!(
        errno_of(fake.read_to_string(&p("info/L3_MON/num_rmids"))),
        Some(Errno::NOENT)
    );
}

#[test]
fn every_info_file_reads_what_the_kernel_prints() {
    let fake = FakeResctrl::builder()
        .num_rmids(8)
        .num_closids(Some(4))
        .mon_features([MonEvent::LlcOccupancy, MonEvent::MbmLocalBytes])
        .build();
    let expected = [
        ("info/last_cmd_status", "ok\n"),
        ("info/L3/num_closids", "4\n"),
        ("info/L3/cbm_mask", "fff\n"),
        ("info/L3/min_cbm_bits", "1\n"),
        ("info/L3/shareable_bits", "0\n"),
        ("info/L3_MON/num_rmids", "8\n"),
        (
            "info/L3_MON/mon_features",
            "llc_occupancy\nmbm_local_bytes\n",
        ),
        ("info/L3_MON/max_threshold_occupancy", "270336\n"),
    ];
    for (rel, text) in expected {
        assert_eq!(fake.read_to_string(&p(rel)).expect(rel), text, "{rel}");
        assert_eq!(
            fake.stat(&p(rel)),
            Some(FakeEntry::File { writable: false }),
            "{rel}"
        );
    }
    // The listings name exactly these files.
    let mut listed: Vec<String> = ["info", "info/L3", "info/L3_MON"]
        .iter()
        .flat_map(|dir| {
            names(&fake, &p(dir))
                .into_iter()
                .filter(|n| n != "L3" && n != "L3_MON")
                .map(move |n| format!("{dir}/{n}"))
        })
        .collect();
    listed.sort();
    let mut want: Vec<String> = expected.iter().map(|(rel, _)| (*rel).to_owned()).collect();
    want.sort();
    assert_eq!(listed, want);

    assert!(fake.create_dir(&p("mon_groups/x")).is_ok());
    let _ = fake.write(&p("tasks"), b"424242");
    assert_eq!(
        fake.read_to_string(&p("info/last_cmd_status"))
            .expect("read"),
        "No task 424242\n"
    );
}
