//! Hardware suite: the real kernel through `RealFs`, at `/sys/fs/resctrl`.
//!
//! Every test is ignored by default and run by `cargo xtask resctrl-e2e` on hosts whose
//! capability probe found root and resctrl monitoring. On any other host they FAIL with
//! a message saying what is missing; they never pass by returning early.
//!
//! Each test uses its own group prefix (process id + test name) and a guard that removes
//! its groups on drop, also when an assertion fails. The tests take a cross-process lock
//! because they share the kernel's RMIDs (the capacity test uses them all) and nextest
//! runs each test in its own process. If resctrl was not mounted, the smoke test mounts
//! it and leaves it mounted (it is how the collector runs anyway).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use resctrl::{Config, Error, MountOutcome, Resctrl};
use rustix::fs::{FlockOperation, flock};

/// How long a freed RMID may stay in the kernel's limbo list (it is reused only after its
/// cache occupancy drains below `max_threshold_occupancy`).
const LIMBO_WAIT: Duration = Duration::from_secs(30);

/// Serialises the hardware tests across processes; released when the file is closed.
fn exclusive_lock() -> File {
    let path = std::env::temp_dir().join("resctrl-hardware-tests.lock");
    let file = File::create(&path)
        .unwrap_or_else(|e| panic!("cannot create the lock file {}: {e}", path.display()));
    flock(&file, FlockOperation::LockExclusive)
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

/// A prefix no other test (nor the production `pod_`) shares.
fn unique_prefix(test: &str) -> String {
    format!("rctest{}_{test}_", std::process::id())
}

fn handle(prefix: &str) -> Resctrl {
    Resctrl::new(Config::default().with_group_prefix(prefix))
        .unwrap_or_else(|e| panic!("invalid test configuration: {}", cause_chain::render(&e)))
}

/// Fails the test with everything known about why this host cannot run the suite.
fn cannot_run(rc: &Resctrl, what: &str, err: &Error) -> ! {
    let support = match rc.detect_support() {
        Ok(s) if !s.problems().is_empty() => s.problems().join("; "),
        Ok(_) => "detection found no problem".to_owned(),
        Err(e) => format!("support detection failed too: {}", cause_chain::render(&e)),
    };
    panic!(
        "resctrl hardware suite cannot run on this host: {what}: {}. Host: {support}. \
         This suite needs root and resctrl monitoring (RDT CMT/MBM); run it through \
         `cargo xtask resctrl-e2e`, which probes the host first.",
        cause_chain::render(err)
    );
}

/// Mounts resctrl if needed and checks that monitoring groups can be used.
fn require_monitoring(rc: &Resctrl) {
    if let Err(e) = rc.ensure_mounted(true) {
        cannot_run(rc, "resctrl is not mounted and mounting it failed", &e);
    }
    match rc.detect_support() {
        Ok(s) if s.can_monitor() => {}
        Ok(s) => panic!(
            "resctrl hardware suite cannot run on this host: {}",
            s.problems().join("; ")
        ),
        Err(e) => cannot_run(rc, "cannot detect resctrl support", &e),
    }
}

/// This thread's kernel id (what goes into `tasks`).
fn this_thread_id() -> u32 {
    u32::try_from(rustix::thread::gettid().as_raw_nonzero().get())
        .unwrap_or_else(|_| panic!("gettid returned a negative id"))
}

/// Removes every group of the given handles' prefixes on drop, after moving `tid` (if
/// any) back to the root group.
struct Guard {
    handles: Vec<Resctrl>,
    tid: Option<u32>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Nothing can have been created if resctrl is not mounted (e.g. on a host that
        // cannot run the suite); the test's own failure says why.
        if !self
            .handles
            .first()
            .is_some_and(|rc| rc.is_mounted().unwrap_or(false))
        {
            return;
        }
        if let (Some(tid), Some(rc)) = (self.tid, self.handles.first())
            && let Err(e) = rc.assign_tasks(rc.root(), [tid])
        {
            eprintln!(
                "guard: cannot move thread {tid} back to the root group: {}",
                cause_chain::render(&e)
            );
        }
        for rc in &self.handles {
            match rc.cleanup_prefix() {
                Ok(s) if s.removal_failures > 0 => eprintln!(
                    "guard: {} group(s) of prefix {} could not be removed",
                    s.removal_failures,
                    rc.config().group_prefix
                ),
                Ok(_) => {}
                Err(e) => eprintln!(
                    "guard: cleanup of prefix {} failed: {}",
                    rc.config().group_prefix,
                    cause_chain::render(&e)
                ),
            }
        }
    }
}

fn tasks_of(rc: &Resctrl, group: &Path) -> BTreeSet<u32> {
    rc.list_group_tasks(group).unwrap_or_else(|e| {
        panic!(
            "cannot list tasks of {}: {}",
            group.display(),
            cause_chain::render(&e)
        )
    })
}

#[test]
#[ignore = "needs root and resctrl monitoring hardware; run by `cargo xtask resctrl-e2e`"]
fn smoke_create_assign_list_move_back_delete() {
    let _lock = exclusive_lock();
    let rc = handle(&unique_prefix("smoke"));
    let tid = this_thread_id();
    let _guard = Guard {
        handles: vec![rc.clone()],
        tid: Some(tid),
    };

    let was_mounted = rc
        .is_mounted()
        .unwrap_or_else(|e| cannot_run(&rc, "cannot read the mount table", &e));
    if !was_mounted {
        match rc.ensure_mounted(false) {
            Err(Error::NotMounted { root }) => assert_eq!(root, rc.root()),
            other => panic!(
                "ensure_mounted(false) on an unmounted host: expected NotMounted, got {other:?}"
            ),
        }
    }
    let outcome = rc
        .ensure_mounted(true)
        .unwrap_or_else(|e| cannot_run(&rc, "resctrl is not mounted and mounting it failed", &e));
    let expected = if was_mounted {
        MountOutcome::AlreadyMounted
    } else {
        MountOutcome::Mounted
    };
    assert_eq!(outcome, expected);
    require_monitoring(&rc);

    let group = rc
        .create_group("smoke")
        .unwrap_or_else(|e| panic!("create_group: {}", cause_chain::render(&e)));
    assert!(
        group.join("tasks").is_file(),
        "the kernel creates {}/tasks",
        group.display()
    );
    assert_eq!(
        rc.create_group("smoke")
            .map_err(|e| cause_chain::render(&e)),
        Ok(group.clone()),
        "creating an existing group is success"
    );

    let summary = rc
        .assign_tasks(&group, [tid])
        .unwrap_or_else(|e| panic!("assign_tasks: {}", cause_chain::render(&e)));
    assert_eq!((summary.assigned, summary.missing), (1, 0));
    assert!(
        tasks_of(&rc, &group).contains(&tid),
        "thread {tid} listed in its group"
    );

    let readings = rc
        .read_group_monitoring(&group)
        .unwrap_or_else(|e| panic!("read_group_monitoring: {}", cause_chain::render(&e)));
    assert!(
        !readings.domains.is_empty(),
        "at least one L3 domain: {readings:?}"
    );

    let back = rc
        .assign_tasks(rc.root(), [tid])
        .unwrap_or_else(|e| panic!("moving back to the root group: {}", cause_chain::render(&e)));
    assert_eq!(back.assigned, 1);
    assert!(
        !tasks_of(&rc, &group).contains(&tid),
        "thread {tid} left the group"
    );

    rc.delete_group(&group)
        .unwrap_or_else(|e| panic!("delete_group: {}", cause_chain::render(&e)));
    assert!(!group.exists(), "{} removed", group.display());
    rc.delete_group(&group).unwrap_or_else(|e| {
        panic!(
            "deleting a missing group must succeed: {}",
            cause_chain::render(&e)
        )
    });
}

#[test]
#[ignore = "needs root and resctrl monitoring hardware; run by `cargo xtask resctrl-e2e`"]
fn rmid_exhaustion_is_reported_as_capacity() {
    let _lock = exclusive_lock();
    let rc = handle(&unique_prefix("cap"));
    let _guard = Guard {
        handles: vec![rc.clone()],
        tid: None,
    };
    require_monitoring(&rc);
    let num_rmids = rc
        .detect_support()
        .ok()
        .and_then(|s| s.num_rmids)
        .unwrap_or_else(|| panic!("info/L3_MON/num_rmids is unreadable"));
    // Other users' groups may hold some RMIDs; none can exceed the total.
    let limit = usize::try_from(num_rmids)
        .unwrap_or(usize::MAX)
        .saturating_add(1);

    let mut created: Vec<PathBuf> = Vec::new();
    let err = loop {
        assert!(
            created.len() <= limit,
            "created {} groups without a Capacity error although num_rmids is {num_rmids}",
            created.len()
        );
        match rc.create_group(&created.len().to_string()) {
            Ok(path) => created.push(path),
            Err(e) => break e,
        }
    };
    assert!(
        err.is_capacity(),
        "expected Capacity, got: {}",
        cause_chain::render(&err)
    );
    assert!(err.to_string().contains("no free RMIDs"), "{err}");
    let last = created.pop().unwrap_or_else(|| {
        panic!(
            "no RMID was free when the test started, so none can be freed: {}",
            cause_chain::render(&err)
        )
    });

    rc.delete_group(&last)
        .unwrap_or_else(|e| panic!("delete_group: {}", cause_chain::render(&e)));
    // The freed RMID may sit in limbo until its cache occupancy drains.
    let deadline = Instant::now() + LIMBO_WAIT;
    loop {
        match rc.create_group("after_free") {
            Ok(_) => break,
            Err(e) if e.is_capacity() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!(
                "creating a group after freeing one failed (waited up to {LIMBO_WAIT:?}): {}",
                cause_chain::render(&e)
            ),
        }
    }
}

#[test]
#[ignore = "needs root and resctrl monitoring hardware; run by `cargo xtask resctrl-e2e`"]
fn cleanup_removes_only_its_prefix() {
    let _lock = exclusive_lock();
    let mine = handle(&unique_prefix("clean_a"));
    let other = handle(&unique_prefix("clean_b"));
    let _guard = Guard {
        handles: vec![mine.clone(), other.clone()],
        tid: None,
    };
    require_monitoring(&mine);

    let create = |rc: &Resctrl, uid: &str| {
        rc.create_group(uid)
            .unwrap_or_else(|e| panic!("create_group({uid}): {}", cause_chain::render(&e)))
    };
    let a1 = create(&mine, "1");
    let a2 = create(&mine, "2");
    let b1 = create(&other, "1");

    let summary = mine
        .cleanup_prefix()
        .unwrap_or_else(|e| panic!("cleanup_prefix: {}", cause_chain::render(&e)));
    assert_eq!(summary.removed, 2, "{summary:?}");
    assert_eq!(summary.removal_failures, 0, "{summary:?}");
    assert!(
        summary.non_prefix_groups >= 1,
        "the other prefix's group is counted: {summary:?}"
    );
    assert!(!a1.exists() && !a2.exists(), "own groups removed");
    assert!(b1.exists(), "{} of another prefix survives", b1.display());

    let others = other
        .list_groups()
        .unwrap_or_else(|e| panic!("list_groups: {}", cause_chain::render(&e)));
    assert!(others.iter().any(|g| g.path == b1 && g.owned), "{others:?}");
}
