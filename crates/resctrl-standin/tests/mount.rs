//! The stand-in mounted for real: a FUSE mount in a temporary directory, driven through
//! `std::fs` and through `resctrl::Resctrl<RealFs>` as the collector and plugin drive it.
//!
//! Every test needs root and `/dev/fuse`, so each is ignored in unit runs (which run
//! without privileges) and run with `cargo test -p resctrl-standin -- --ignored`. On a
//! host without them the tests FAIL with the stand-in's error naming what is missing; they
//! never pass by returning early.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use resctrl::fake::{FakeReading, FakeResctrlBuilder};
use resctrl::{Error, FsProvider, MonEvent, Reading, RealFs, Resctrl};
use resctrl_standin::{Standin, StandinHandle};
use rustix::io::Errno;

/// A mounted stand-in in its own temporary directory; unmounts before the directory goes.
struct Mounted {
    standin: StandinHandle,
    _dir: tempfile::TempDir,
}

impl Mounted {
    fn new(builder: FakeResctrlBuilder) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the mount point");
        let standin = Standin::mount(dir.path(), builder).unwrap_or_else(|e| {
            panic!("cannot run the stand-in's mount tests: {}", chain(&e));
        });
        Mounted { standin, _dir: dir }
    }

    fn root(&self) -> PathBuf {
        self.standin.root()
    }

    fn group(&self, name: &str) -> PathBuf {
        self.root().join("mon_groups").join(name)
    }

    fn resctrl(&self) -> Resctrl {
        Resctrl::new(self.standin.config()).expect("the stand-in's configuration is valid")
    }
}

/// An error with its sources, e.g. "cannot open the FUSE device ...: No such file".
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn errno<T: std::fmt::Debug>(result: io::Result<T>) -> Option<Errno> {
    result.err().as_ref().and_then(Errno::from_io_error)
}

/// One `write(2)` to an existing file, like `RealFs` and the kernel's tasks file expect.
fn write_once(path: &Path, data: &str) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(data.as_bytes())
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn this_thread_id() -> u32 {
    u32::try_from(rustix::thread::gettid().as_raw_nonzero().get()).expect("a positive id")
}

/// Whether this process's mount namespace has a mount at `path`.
fn mounted_at(path: &Path) -> bool {
    let text = fs::read_to_string("/proc/self/mounts").expect("the mount table");
    resctrl::parse_mounts(&text)
        .iter()
        .any(|m| m.mount_point == path)
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn mkdir_of_a_monitoring_group_creates_tasks_and_mon_data_per_domain() {
    let m = Mounted::new(Standin::builder().l3_domains([0, 1]));
    let group = m.group("g");
    fs::create_dir(&group).expect("mkdir through the mount");
    assert_eq!(
        names(&group),
        set(&["cpus", "cpus_list", "mon_data", "tasks"])
    );
    assert_eq!(
        names(&group.join("mon_data")),
        set(&["mon_L3_00", "mon_L3_01"])
    );
    assert_eq!(
        names(&group.join("mon_data/mon_L3_01")),
        set(&["llc_occupancy", "mbm_local_bytes", "mbm_total_bytes"])
    );
    assert_eq!(
        fs::read_to_string(group.join("mon_data/mon_L3_00/mbm_total_bytes")).expect("read"),
        "0\n"
    );
    assert!(m.standin.fake().group_exists(&group), "the model has it");
    assert_eq!(
        errno(fs::create_dir(&group)),
        Some(Errno::EXIST),
        "a second mkdir"
    );
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn a_thread_id_written_to_tasks_moves_that_real_thread() {
    let m = Mounted::new(Standin::builder());
    let group = m.group("g");
    fs::create_dir(&group).expect("mkdir");
    let tid = this_thread_id();
    write_once(&group.join("tasks"), &tid.to_string()).expect("a live thread of this test");
    assert_eq!(m.standin.fake().group_of(tid), Some(group.clone()));
    let listed = fs::read_to_string(group.join("tasks")).expect("read tasks");
    assert_eq!(listed, format!("{tid}\n"));
    let other = m.group("h");
    fs::create_dir(&other).expect("mkdir");
    write_once(&other.join("tasks"), &tid.to_string()).expect("move on");
    assert_eq!(
        fs::read_to_string(group.join("tasks")).expect("read tasks"),
        "",
        "a thread lives in exactly one group"
    );
    // `echo` opens with O_TRUNC, which the mount accepts like kernfs.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo {tid} > '{}'",
            m.root().join("tasks").display()
        ))
        .status()
        .expect("run sh");
    assert!(status.success(), "echo into the root's tasks: {status}");
    assert_eq!(m.standin.fake().group_of(tid), Some(m.root()));
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn a_thread_id_that_is_not_live_gives_esrch() {
    let m = Mounted::new(Standin::builder());
    let group = m.group("g");
    fs::create_dir(&group).expect("mkdir");
    let mut child = Command::new("true").spawn().expect("spawn true");
    let dead = child.id();
    child.wait().expect("reap true");
    assert_eq!(
        errno(write_once(&group.join("tasks"), &dead.to_string())),
        Some(Errno::SRCH)
    );
    assert_eq!(
        errno(write_once(&group.join("tasks"), "not-a-number")),
        Some(Errno::INVAL)
    );
    assert_eq!(
        fs::read_to_string(m.root().join("info/last_cmd_status")).expect("read"),
        format!("No task {dead}\n")
    );
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn the_rmid_limit_gives_enospc_and_rmdir_frees_one() {
    // Three RMIDs: the root group's and two more.
    let m = Mounted::new(Standin::builder().num_rmids(3));
    fs::create_dir(m.group("a")).expect("first group");
    fs::create_dir(m.group("b")).expect("second group");
    assert_eq!(errno(fs::create_dir(m.group("c"))), Some(Errno::NOSPC));
    fs::remove_dir(m.group("a")).expect("rmdir a group with files, as resctrl allows");
    assert!(!m.group("a").exists());
    fs::create_dir(m.group("c")).expect("the freed RMID is used again");
    assert_eq!(m.standin.fake().free_rmids(), 0);
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn resctrl_over_the_real_file_system_detects_support_and_manages_groups() {
    let m = Mounted::new(Standin::builder().num_rmids(3));
    let rc = m.resctrl();
    let support = rc.detect_support().expect("support detection");
    assert!(support.can_monitor(), "{:?}", support.problems());
    assert_eq!(support.num_rmids, Some(3));
    assert_eq!(support.num_closids, Some(16));
    assert!(support.mon_features.llc_occupancy && support.mon_features.mbm_local_bytes);
    assert!(support.cpu.is_some_and(|c| c.cqm_mbm_total));
    assert_eq!(
        rc.ensure_mounted(false).expect("mounted"),
        resctrl::MountOutcome::AlreadyMounted
    );

    let group = rc.create_group("pod-a").expect("create a group");
    let tid = this_thread_id();
    let summary = rc.assign_tasks(&group, [tid, 0x7fff_fff0]).expect("assign");
    assert_eq!((summary.assigned, summary.missing), (1, 1));
    assert!(m.standin.fake().members(&group).contains(&tid));

    rc.create_group("pod-b").expect("the last RMID");
    let err = rc.create_group("pod-c").expect_err("no RMID left");
    assert!(matches!(err, Error::Capacity { .. }), "{err:?}");
    rc.delete_group(&group).expect("delete");
    assert_eq!(
        m.standin.fake().group_of(tid),
        Some(m.root()),
        "its threads went back to the root group"
    );
    let summary = rc.cleanup_prefix().expect("cleanup");
    assert_eq!(summary.removed, 1, "{summary:?}");
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn readings_set_on_the_fake_are_what_the_reader_sees_per_domain() {
    let m = Mounted::new(Standin::builder().l3_domains([0, 1]));
    let rc = m.resctrl();
    let group = rc.create_group("pod-a").expect("create");
    let fake = m.standin.fake();
    fake.set_reading(
        &group,
        0,
        MonEvent::LlcOccupancy,
        FakeReading::Value(1 << 20),
    );
    fake.set_reading(&group, 0, MonEvent::MbmTotalBytes, FakeReading::Value(5000));
    fake.set_reading(&group, 1, MonEvent::LlcOccupancy, FakeReading::Unavailable);
    fake.set_reading(&group, 1, MonEvent::MbmTotalBytes, FakeReading::Error);
    fake.set_reading(&group, 1, MonEvent::MbmLocalBytes, FakeReading::Unassigned);
    fake.set_reading(&group, 0, MonEvent::MbmLocalBytes, FakeReading::Absent);

    let readings = rc.read_group_monitoring(&group).expect("read");
    let d0 = readings.domain(0).expect("domain 0");
    let d1 = readings.domain(1).expect("domain 1");
    assert_eq!(d0.llc_occupancy, Reading::Value(1 << 20));
    assert_eq!(d0.mbm_total_bytes, Reading::Value(5000));
    assert_eq!(d0.mbm_local_bytes, Reading::Absent);
    assert_eq!(d1.llc_occupancy, Reading::Unavailable);
    assert_eq!(d1.mbm_total_bytes, Reading::Error);
    assert_eq!(d1.mbm_local_bytes, Reading::Unassigned);
    let text = |rel: &str| fs::read_to_string(group.join("mon_data").join(rel)).expect("read");
    assert_eq!(text("mon_L3_01/llc_occupancy"), "Unavailable\n");
    assert_eq!(text("mon_L3_01/mbm_total_bytes"), "Error\n");
    assert_eq!(text("mon_L3_01/mbm_local_bytes"), "Unassigned\n");

    // The kernel's other way to say it: the read fails with EIO.
    fake.set_reading(
        &group,
        0,
        MonEvent::LlcOccupancy,
        FakeReading::ReadError(Errno::IO),
    );
    assert_eq!(
        errno(fs::read_to_string(
            group.join("mon_data/mon_L3_00/llc_occupancy")
        )),
        Some(Errno::IO)
    );
    let readings = rc.read_group_monitoring(&group).expect("read");
    assert_eq!(
        readings.domain(0).expect("domain 0").llc_occupancy,
        Reading::Error
    );
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn a_counter_reset_shows_and_a_recreated_group_starts_from_zero() {
    let m = Mounted::new(Standin::builder());
    let rc = m.resctrl();
    let group = rc.create_group("pod-a").expect("create");
    let fake = m.standin.fake();
    let total = |rc: &Resctrl| {
        rc.read_group_monitoring(&group)
            .expect("read")
            .domain(0)
            .expect("domain 0")
            .mbm_total_bytes
    };
    fake.set_reading(
        &group,
        0,
        MonEvent::MbmTotalBytes,
        FakeReading::Value(9_000),
    );
    assert_eq!(total(&rc), Reading::Value(9_000));
    fake.set_reading(&group, 0, MonEvent::MbmTotalBytes, FakeReading::Value(100));
    assert_eq!(
        total(&rc),
        Reading::Value(100),
        "the counter went backwards"
    );

    rc.delete_group(&group).expect("delete");
    let again = rc.create_group("pod-a").expect("create again");
    assert_eq!(again, group);
    assert_eq!(
        total(&rc),
        Reading::Value(0),
        "a fresh RMID has fresh counters"
    );
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn sub_numa_nodes_appear_below_each_l3_domain_and_sum_into_it() {
    let m = Mounted::new(
        Standin::builder()
            .l3_domains([0, 1])
            .sub_numa_nodes_per_l3(2),
    );
    let group = m.group("g");
    fs::create_dir(&group).expect("mkdir");
    assert_eq!(
        names(&group.join("mon_data/mon_L3_01")),
        set(&[
            "llc_occupancy",
            "mbm_local_bytes",
            "mbm_total_bytes",
            "mon_sub_L3_02",
            "mon_sub_L3_03"
        ])
    );
    let fake = m.standin.fake();
    fake.set_node_reading(&group, 2, MonEvent::LlcOccupancy, FakeReading::Value(300));
    fake.set_node_reading(&group, 3, MonEvent::LlcOccupancy, FakeReading::Value(40));
    let text =
        |rel: &str| fs::read_to_string(group.join("mon_data/mon_L3_01").join(rel)).expect("read");
    assert_eq!(text("mon_sub_L3_03/llc_occupancy"), "40\n");
    assert_eq!(text("llc_occupancy"), "340\n");
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn the_mount_table_follows_the_models_mount_state() {
    let m = Mounted::new(Standin::builder());
    let rc = m.resctrl();
    let table = fs::read_to_string(m.standin.layout().mounts_path()).expect("mount table");
    let mounts = resctrl::parse_mounts(&table);
    assert!(
        mounts
            .iter()
            .any(|e| e.fstype == "resctrl" && e.mount_point == m.root()),
        "{table}"
    );
    rc.create_group("pod-a").expect("create");

    m.standin.fake().set_mounted(false);
    assert!(!rc.is_mounted().expect("mount table"));
    assert!(
        names(&m.root()).is_empty(),
        "an unmounted root is an empty directory"
    );
    let err = rc.ensure_mounted(false).expect_err("not mounted");
    assert!(matches!(err, Error::NotMounted { .. }), "{err:?}");
    m.standin.fake().set_mounted(true);
    assert!(
        !names(&m.root().join("mon_groups")).contains("pod_pod-a"),
        "unmounting dropped every group, as the kernel does"
    );
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn read_only_files_and_the_stand_ins_own_directories_refuse_changes() {
    let m = Mounted::new(Standin::builder());
    let group = m.group("g");
    fs::create_dir(&group).expect("mkdir");
    assert_eq!(
        errno(write_once(
            &group.join("mon_data/mon_L3_00/llc_occupancy"),
            "1"
        )),
        Some(Errno::ACCESS)
    );
    assert_eq!(
        errno(fs::write(group.join("new-file"), "x")),
        Some(Errno::ACCESS)
    );
    assert_eq!(
        errno(fs::remove_file(group.join("tasks"))),
        Some(Errno::PERM)
    );
    assert_eq!(
        errno(fs::create_dir(group.join("mon_data/x"))),
        Some(Errno::PERM),
        "mkdir outside mon_groups and the root"
    );
    let mount_point = m.standin.layout().mount_point().to_path_buf();
    assert_eq!(
        errno(fs::create_dir(mount_point.join("extra"))),
        Some(Errno::PERM)
    );
    assert_eq!(
        errno(fs::read_to_string(group.join("nothing"))),
        Some(Errno::NOENT)
    );
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn the_fakes_fault_injection_reaches_clients_of_the_mount() {
    let m = Mounted::new(Standin::builder());
    let rc = m.resctrl();
    m.standin.fake().deny_access(m.root());
    assert_eq!(errno(fs::create_dir(m.group("g"))), Some(Errno::ACCESS));
    let err = rc
        .detect_support()
        .expect_err("info/ is below the denied root");
    assert!(matches!(err, Error::NoPermission { .. }), "{err:?}");
    m.standin.fake().allow_access(&m.root());

    let mon_groups = m.root().join("mon_groups");
    m.standin.fake().deny_access(mon_groups.clone());
    assert_eq!(
        RealFs.is_writable(&mon_groups).ok(),
        Some(false),
        "access(2), W_OK"
    );
    assert_eq!(RealFs.is_writable(&m.root()).ok(), Some(true));
    m.standin.fake().allow_access(&mon_groups);

    m.standin.fake().inject_enospc(1);
    let err = rc.create_group("pod-a").expect_err("an injected ENOSPC");
    assert!(matches!(err, Error::Capacity { .. }), "{err:?}");
    rc.create_group("pod-a").expect("the fault fired once");
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn a_panicking_test_leaves_nothing_mounted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount_point = fs::canonicalize(dir.path()).expect("canonical");
    let inside = mount_point.clone();
    let outcome = std::panic::catch_unwind(move || {
        let standin = Standin::mount(&inside, Standin::builder())
            .unwrap_or_else(|e| panic!("cannot run the stand-in's mount tests: {}", chain(&e)));
        assert!(mounted_at(&inside), "mounted while the handle lives");
        let _keep = standin;
        panic!("a failing assertion while the stand-in is mounted");
    });
    let message = outcome.expect_err("the closure panics");
    let message = message
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| message.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("a failing assertion"),
        "the closure failed for another reason: {message}"
    );
    assert!(!mounted_at(&mount_point), "the unwinding handle unmounted");
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn a_busy_mount_is_detached_on_unmount() {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Standin::mount(dir.path(), Standin::builder())
        .unwrap_or_else(|e| panic!("cannot run the stand-in's mount tests: {}", chain(&e)));
    let mount_point = standin.layout().mount_point().to_path_buf();
    let held = fs::File::open(standin.root().join("tasks")).expect("hold a file open");
    standin.unmount().expect("a busy mount is detached");
    assert!(!mounted_at(&mount_point));
    drop(held);
}

/// The binary, killed and reaped on drop if a test fails before it exits.
struct Binary(std::process::Child);

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root and /dev/fuse: cargo test -p resctrl-standin -- --ignored"]
fn the_binary_serves_until_sigterm_then_unmounts_and_exits_zero() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().expect("tempdir");
    let mount_point = fs::canonicalize(dir.path()).expect("canonical");
    let mut binary = Binary(
        Command::new(env!("CARGO_BIN_EXE_resctrl-standin"))
            .args(["--mount".as_ref(), mount_point.as_os_str()])
            .args(["--domains", "0,1,2", "--rmids", "2"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start resctrl-standin"),
    );
    let stdout = binary.0.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .expect("a first line")
        .expect("readable stdout");
    assert!(first.contains("mounted at"), "{first}");
    assert!(mounted_at(&mount_point));

    let root = mount_point.join("resctrl");
    let rc = Resctrl::new(resctrl_standin::Layout::new(&mount_point).config())
        .expect("valid configuration");
    assert!(rc.detect_support().expect("support").can_monitor());
    let group = rc
        .create_group("pod-a")
        .expect("the one RMID beyond the root's");
    assert_eq!(
        rc.read_group_monitoring(&group)
            .expect("read")
            .domains
            .len(),
        3
    );
    assert_eq!(
        errno(fs::create_dir(root.join("mon_groups/b"))),
        Some(Errno::NOSPC)
    );

    let pid = rustix::process::Pid::from_child(&binary.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let status = binary.0.wait().expect("wait for resctrl-standin");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(!mounted_at(&mount_point), "unmounted on SIGTERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains(&format!(
            "mount table:  {}",
            mount_point.join("proc/mounts").display()
        ))),
        "the banner names the mount table: {rest:?}"
    );
}
