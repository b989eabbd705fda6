//! Monitoring groups: naming, creation, removal, and placing thread ids in them.
//!
//! # Threads, not processes
//!
//! resctrl tracks *threads*. Writing an id to a group's `tasks` file moves exactly that
//! thread; writing a process id moves only its main thread, not the others. A thread
//! created later (clone/fork) starts in the group of its creator. So callers pass every
//! thread id (e.g. from a cgroup's `cgroup.threads`) and re-run
//! [`Resctrl::reconcile_group`] to catch threads created in the meantime.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::error::{Error, Op, Result, errno};
use crate::fs::FsProvider;
use crate::{Resctrl, TASKS_FILE};

/// Longest group name this crate creates (prefix + sanitised uid).
pub const MAX_GROUP_NAME_LEN: usize = 63;

/// Characters allowed in group names; everything else becomes `_`.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The group name for `uid` under `prefix`: every character outside `[A-Za-z0-9_-]`
/// (including each non-ASCII character) becomes `_`, and the result is cut to
/// [`MAX_GROUP_NAME_LEN`] characters.
///
/// Fails with [`Error::InvalidArgument`] for an empty uid, so a group name is never just
/// the prefix. (Pod uids are 36 characters, so cutting does not make them collide.)
pub fn sanitize_group_name(prefix: &str, uid: &str) -> Result<String> {
    if uid.is_empty() {
        return Err(Error::InvalidArgument {
            reason: "pod uid is empty; a group needs a non-empty uid".into(),
        });
    }
    let mut name: String = prefix
        .chars()
        .chain(uid.chars())
        .map(|c| if is_name_char(c) { c } else { '_' })
        .collect();
    // All characters are ASCII now, so byte length is character count.
    name.truncate(MAX_GROUP_NAME_LEN);
    Ok(name)
}

/// Result of [`Resctrl::assign_tasks`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssignSummary {
    /// Ids written successfully.
    pub assigned: usize,
    /// Ids the kernel did not know (ESRCH: the thread exited).
    pub missing: usize,
}

/// Result of [`Resctrl::ensure_group`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsuredGroup {
    /// The group's path.
    pub path: PathBuf,
    /// Whether this call created it (so it is empty); false if it already existed.
    pub created: bool,
}

/// Result of [`Resctrl::reconcile_group`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileSummary {
    /// Passes run (each asks the id source once).
    pub passes: u32,
    /// Ids written, over all passes.
    pub assigned: usize,
    /// Ids that had exited by the time they were written (ESRCH), over all passes.
    pub missing: usize,
    /// Whether the last pass found every wanted id already in the group.
    pub converged: bool,
}

/// Supplies the thread ids that should currently be in a group (for
/// [`Resctrl::reconcile_group`]). Implemented for closures returning
/// `io::Result<Vec<u32>>`.
pub trait TaskIdSource {
    /// The current thread ids.
    fn task_ids(&mut self) -> io::Result<Vec<u32>>;
}

impl<F> TaskIdSource for F
where
    F: FnMut() -> io::Result<Vec<u32>>,
{
    fn task_ids(&mut self) -> io::Result<Vec<u32>> {
        self()
    }
}

impl<P: FsProvider> Resctrl<P> {
    /// The group name for `uid` with the configured prefix (see [`sanitize_group_name`]).
    pub fn group_name(&self, uid: &str) -> Result<String> {
        sanitize_group_name(&self.config.group_prefix, uid)
    }

    /// The path of the monitoring group for `uid`: `<root>/mon_groups/<prefix><uid>`.
    pub fn group_path(&self, uid: &str) -> Result<PathBuf> {
        Ok(self.mon_groups_dir().join(self.group_name(uid)?))
    }

    /// Creates the monitoring group for pod `uid` and returns its path. An existing group
    /// is success (idempotent).
    ///
    /// No free RMID gives [`Error::Capacity`]; resctrl not mounted gives
    /// [`Error::NotMounted`]; mounted without monitoring (no `mon_groups`) gives
    /// [`Error::Unsupported`].
    pub fn create_group(&self, uid: &str) -> Result<PathBuf> {
        self.ensure_group(uid).map(|group| group.path)
    }

    /// Like [`Self::create_group`], but also says whether this call created the group.
    ///
    /// A group this call created is known to be empty, so a caller can skip reading its
    /// `tasks` before the first assignment (the kernel builds that list by walking every
    /// thread of the system, so the read is not free on a busy node).
    pub fn ensure_group(&self, uid: &str) -> Result<EnsuredGroup> {
        let path = self.group_path(uid)?;
        match self.fs.create_dir(&path) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "created resctrl group");
                Ok(EnsuredGroup {
                    path,
                    created: true,
                })
            }
            Err(e) if errno(&e) == Some(Errno::EXIST) => Ok(EnsuredGroup {
                path,
                created: false,
            }),
            Err(e) if errno(&e) == Some(Errno::NOENT) => Err(self.explain_missing_parent(&path, e)),
            Err(e) => Err(Error::classify(Op::CreateDir, &path, e)),
        }
    }

    /// ENOENT from mkdir means `mon_groups` is missing: say whether resctrl is unmounted
    /// or mounted without monitoring, which the caller can act on.
    fn explain_missing_parent(&self, path: &Path, e: io::Error) -> Error {
        match self.is_mounted() {
            Ok(false) => Error::NotMounted {
                root: self.config.root.clone(),
            },
            Ok(true) => Error::Unsupported {
                op: Op::CreateDir,
                path: path.to_path_buf(),
                source: e,
            },
            // The mount table is unreadable: report the original failure.
            Err(_) => Error::classify(Op::CreateDir, path, e),
        }
    }

    /// Removes the group at `path`; a missing group is success (idempotent). The kernel
    /// moves the group's threads back to its parent control group and frees its RMID.
    ///
    /// `path` must be under the root and not the root itself.
    pub fn delete_group(&self, path: &Path) -> Result<()> {
        self.check_group_path(path, false)?;
        match self.fs.remove_dir(path) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "removed resctrl group");
                Ok(())
            }
            Err(e) if errno(&e) == Some(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::classify(Op::RemoveDir, path, e)),
        }
    }

    /// Moves each thread id in `ids` into the group at `path` (the root is allowed: that
    /// moves threads back to the default group), one id per write to `tasks` since the
    /// kernel parses one per write.
    ///
    /// An id the kernel does not know (ESRCH: the thread exited) is counted in
    /// [`AssignSummary::missing`] and the loop goes on; any other error stops it and is
    /// returned, classified.
    ///
    /// Pass *thread* ids: resctrl tracks threads, and writing a process id moves only
    /// that process's main thread, not its other threads. Threads created later start in
    /// their creator's group, so threads that already existed elsewhere must each be
    /// written (e.g. every id of a cgroup's `cgroup.threads`); [`Self::reconcile_group`]
    /// re-checks to catch threads created meanwhile.
    pub fn assign_tasks(
        &self,
        path: &Path,
        ids: impl IntoIterator<Item = u32>,
    ) -> Result<AssignSummary> {
        self.check_group_path(path, true)?;
        let tasks = path.join(TASKS_FILE);
        let mut summary = AssignSummary::default();
        for id in ids {
            match self.fs.write(&tasks, format!("{id}\n").as_bytes()) {
                Ok(()) => summary.assigned += 1,
                Err(e) if errno(&e) == Some(Errno::SRCH) => summary.missing += 1,
                Err(e) => return Err(Error::classify(Op::Write, &tasks, e)),
            }
        }
        Ok(summary)
    }

    /// The thread ids listed in the group's `tasks` file.
    ///
    /// As in the kernel, a control group's list (including the root's) also contains the
    /// threads of its monitoring groups; a monitoring group's list contains only its own.
    pub fn list_group_tasks(&self, path: &Path) -> Result<BTreeSet<u32>> {
        self.check_group_path(path, true)?;
        let tasks = path.join(TASKS_FILE);
        let text = self.read_file(&tasks)?;
        text.split_whitespace()
            .map(|word| {
                word.parse().map_err(|_| {
                    Error::classify(
                        Op::Read,
                        &tasks,
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("expected a thread id, found {word:?}"),
                        ),
                    )
                })
            })
            .collect()
    }

    /// Brings the group's threads in line with `source`, in at most `max_passes` passes.
    ///
    /// Each pass asks `source` for the wanted ids, reads `tasks`, and assigns only the
    /// wanted ids not listed yet; it stops early (converged) when a pass finds nothing
    /// missing. Several passes catch threads created while the previous pass ran. Threads
    /// listed but not wanted are left alone (removing means moving them elsewhere, a
    /// policy for the caller).
    ///
    /// Errors: [`Error::InvalidArgument`] if `max_passes` is 0; [`Error::NoTaskIds`] if a
    /// pass gets an empty id set (the pod's threads are gone); [`Error::TaskIdSource`] if
    /// the source fails; otherwise the errors of [`Self::list_group_tasks`] and
    /// [`Self::assign_tasks`].
    pub fn reconcile_group<S>(
        &self,
        path: &Path,
        source: &mut S,
        max_passes: u32,
    ) -> Result<ReconcileSummary>
    where
        S: TaskIdSource + ?Sized,
    {
        if max_passes == 0 {
            return Err(Error::InvalidArgument {
                reason: "reconcile_group needs max_passes >= 1".into(),
            });
        }
        let mut summary = ReconcileSummary::default();
        while summary.passes < max_passes {
            summary.passes += 1;
            let wanted: BTreeSet<u32> = source
                .task_ids()
                .map_err(|e| Error::TaskIdSource {
                    path: path.to_path_buf(),
                    source: e,
                })?
                .into_iter()
                .collect();
            if wanted.is_empty() {
                return Err(Error::NoTaskIds {
                    path: path.to_path_buf(),
                });
            }
            let present = self.list_group_tasks(path)?;
            let todo: Vec<u32> = wanted.difference(&present).copied().collect();
            if todo.is_empty() {
                summary.converged = true;
                break;
            }
            let pass = self.assign_tasks(path, todo)?;
            summary.assigned += pass.assigned;
            summary.missing += pass.missing;
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_allowed_characters() {
        assert_eq!(
            sanitize_group_name("pod_", "3f1c2d4e-aB_9").expect("valid"),
            "pod_3f1c2d4e-aB_9"
        );
    }

    #[test]
    fn sanitize_replaces_each_other_character_with_underscore() {
        assert_eq!(
            sanitize_group_name("pod_", "a/b.c d\n..").expect("valid"),
            "pod_a_b_c_d___"
        );
        // One underscore per character, not per byte.
        assert_eq!(
            sanitize_group_name("pod_", "é😀x").expect("valid"),
            "pod___x"
        );
        // Path-like uids cannot escape mon_groups.
        assert_eq!(sanitize_group_name("pod_", "..").expect("valid"), "pod___");
    }

    #[test]
    fn sanitize_limits_the_name_to_63_characters() {
        let name = sanitize_group_name("pod_", &"x".repeat(200)).expect("valid");
        assert_eq!(name.len(), MAX_GROUP_NAME_LEN);
        assert!(name.starts_with("pod_xxx"));
        // Multi-byte characters become one byte each before cutting.
        let name = sanitize_group_name("pod_", &"ü".repeat(100)).expect("valid");
        assert_eq!(name.len(), MAX_GROUP_NAME_LEN);
        assert_eq!(name, format!("pod_{}", "_".repeat(59)));
        let short = sanitize_group_name("pod_", &"y".repeat(59)).expect("valid");
        assert_eq!(short.len(), 63, "exactly 63 is kept whole");
    }

    #[test]
    fn sanitize_rejects_an_empty_uid() {
        assert!(matches!(
            sanitize_group_name("pod_", ""),
            Err(Error::InvalidArgument { .. })
        ));
    }
}

#[cfg(test)]
mod fake_tests {
    use std::cell::Cell;

    use super::*;
    use crate::fake::{FakeOp, FakeResctrl};

    const UID: &str = "3f1c2d4e-0000-4000-8000-000000000001";

    fn handle(fake: &FakeResctrl) -> Resctrl<FakeResctrl> {
        Resctrl::with_provider(fake.clone(), fake.config()).expect("valid config")
    }

    fn raw(err: &Error) -> Option<i32> {
        err.io_error().and_then(io::Error::raw_os_error)
    }

    #[test]
    fn create_group_makes_a_monitoring_group_under_mon_groups() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        assert_eq!(
            path,
            PathBuf::from(format!("/sys/fs/resctrl/mon_groups/pod_{UID}"))
        );
        assert!(fake.group_exists(&path));
        assert_eq!(fake.rmids_in_use(), 2, "root + the new group");
        assert_eq!(rc.group_path(UID).expect("path"), path);
    }

    #[test]
    fn create_group_is_idempotent() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let first = rc.create_group(UID).expect("create");
        let second = rc.create_group(UID).expect("EEXIST is success");
        assert_eq!(first, second);
        assert_eq!(fake.counters().mkdir_calls, 2);
        assert_eq!(fake.rmids_in_use(), 2, "no second RMID used");
    }

    #[test]
    fn ensure_group_says_whether_it_created_the_group() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let first = rc.ensure_group(UID).expect("create");
        assert!(first.created);
        assert!(fake.group_exists(&first.path));
        let second = rc.ensure_group(UID).expect("EEXIST is success");
        assert_eq!(
            second,
            EnsuredGroup {
                path: first.path,
                created: false
            }
        );
        fake.inject_enospc(1);
        assert!(rc.ensure_group("other").expect_err("ENOSPC").is_capacity());
    }

    #[test]
    fn create_group_sanitises_the_uid() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let path = rc.create_group("ns/pod name✓").expect("create");
        assert_eq!(path.file_name(), Some("pod_ns_pod_name_".as_ref()));
        assert!(fake.group_exists(&path));
        let long = rc.create_group(&"a".repeat(500)).expect("create");
        let name = long.file_name().and_then(|n| n.to_str()).expect("utf-8");
        assert_eq!(name.len(), MAX_GROUP_NAME_LEN);
    }

    #[test]
    fn create_group_rejects_an_empty_uid_without_touching_the_fs() {
        let fake = FakeResctrl::new();
        let err = handle(&fake).create_group("").expect_err("empty uid");
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
        assert_eq!(fake.counters().mkdir_calls, 0);
    }

    #[test]
    fn create_group_reports_exhausted_rmids_as_capacity() {
        let fake = FakeResctrl::builder().num_rmids(3).build();
        let rc = handle(&fake);
        let a = rc.create_group("a").expect("rmid 2 of 3");
        rc.create_group("b").expect("rmid 3 of 3");
        let err = rc.create_group("c").expect_err("no RMID left");
        assert!(err.is_capacity(), "{err:?}");
        assert_eq!(
            err.path(),
            Some(Path::new("/sys/fs/resctrl/mon_groups/pod_c"))
        );
        assert_eq!(raw(&err), Some(Errno::NOSPC.raw_os_error()));
        assert!(err.to_string().contains("no free RMIDs"));
        rc.delete_group(&a).expect("free one");
        rc.create_group("c").expect("a freed RMID is reusable");
    }

    #[test]
    fn injected_enospc_and_ebusy_on_mkdir_are_capacity() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        fake.inject_enospc(1);
        assert!(rc.create_group("a").expect_err("ENOSPC").is_capacity());
        fake.fail_next(FakeOp::Mkdir, None, Errno::BUSY);
        assert!(rc.create_group("a").expect_err("EBUSY").is_capacity());
        rc.create_group("a").expect("faults were one-shot");
    }

    #[test]
    fn create_group_explains_a_missing_mon_groups() {
        let fake = FakeResctrl::builder().mounted(false).build();
        let err = handle(&fake).create_group(UID).expect_err("unmounted");
        assert!(matches!(err, Error::NotMounted { .. }), "{err:?}");

        let fake = FakeResctrl::builder().mon_features([]).build();
        let err = handle(&fake).create_group(UID).expect_err("no monitoring");
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    op: Op::CreateDir,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn create_group_without_permission_is_no_permission() {
        let fake = FakeResctrl::new();
        fake.deny_access("/sys/fs/resctrl/mon_groups");
        let err = handle(&fake).create_group(UID).expect_err("denied");
        assert!(
            matches!(
                err,
                Error::NoPermission {
                    op: Op::CreateDir,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn delete_group_is_idempotent_and_moves_threads_to_the_root() {
        let fake = FakeResctrl::new();
        fake.add_threads([10, 11]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        rc.assign_tasks(&path, [10]).expect("assign");
        rc.delete_group(&path).expect("delete");
        assert!(!fake.group_exists(&path));
        assert_eq!(fake.group_of(10), Some(PathBuf::from("/sys/fs/resctrl")));
        assert_eq!(fake.rmids_in_use(), 1);
        rc.delete_group(&path).expect("a missing group is success");
        assert_eq!(fake.counters().rmdir_calls, 2);
    }

    #[test]
    fn delete_group_refuses_the_root_and_foreign_paths() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        for bad in [
            "/sys/fs/resctrl",
            "/etc",
            "/sys/fs/resctrl/mon_groups/../..",
        ] {
            let err = rc.delete_group(Path::new(bad)).expect_err(bad);
            assert!(
                matches!(err, Error::InvalidArgument { .. }),
                "{bad}: {err:?}"
            );
        }
        assert_eq!(fake.counters().rmdir_calls, 0);
    }

    #[test]
    fn delete_group_classifies_other_errors() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        fake.deny_access(path.clone());
        let err = rc.delete_group(&path).expect_err("denied");
        assert!(
            matches!(
                err,
                Error::NoPermission {
                    op: Op::RemoveDir,
                    ..
                }
            ),
            "{err:?}"
        );
        // The kernel refuses to remove its own directories.
        let err = rc
            .delete_group(Path::new("/sys/fs/resctrl/info"))
            .expect_err("EPERM");
        assert!(matches!(err, Error::NoPermission { .. }), "{err:?}");
    }

    #[test]
    fn assign_tasks_writes_one_id_per_write_and_counts_missing() {
        let fake = FakeResctrl::new();
        fake.add_threads([100, 101, 102]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        fake.reset_counters();
        // 999 does not exist (ESRCH); the ids after it are still written.
        let s = rc
            .assign_tasks(&path, [100, 999, 101, 102])
            .expect("assign");
        assert_eq!(
            s,
            AssignSummary {
                assigned: 3,
                missing: 1
            }
        );
        assert_eq!(fake.counters().tasks_writes, 4);
        assert_eq!(fake.members(&path), BTreeSet::from([100, 101, 102]));
    }

    #[test]
    fn assign_tasks_skips_a_thread_that_exited() {
        let fake = FakeResctrl::new();
        fake.add_threads([1, 2]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        fake.exit_thread(2);
        let s = rc.assign_tasks(&path, [1, 2]).expect("assign");
        assert_eq!(
            s,
            AssignSummary {
                assigned: 1,
                missing: 1
            }
        );
        assert_eq!(fake.members(&path), BTreeSet::from([1]));
    }

    #[test]
    fn assign_tasks_aborts_on_other_errors() {
        let fake = FakeResctrl::new();
        fake.add_threads([1, 2, 3]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        fake.reset_counters();
        fake.fail_next(FakeOp::Write, None, Errno::ACCESS);
        let err = rc.assign_tasks(&path, [1, 2, 3]).expect_err("denied");
        assert!(
            matches!(err, Error::NoPermission { op: Op::Write, .. }),
            "{err:?}"
        );
        assert_eq!(err.path(), Some(path.join("tasks").as_path()));
        assert_eq!(
            fake.counters().tasks_writes,
            1,
            "no write after the failure"
        );
        assert!(fake.members(&path).is_empty());

        // A thread of another control group cannot join a root monitoring group (EINVAL).
        let ctrl = PathBuf::from("/sys/fs/resctrl/ctrl");
        fake.create_dir(&ctrl).expect("control group");
        rc.assign_tasks(&ctrl, [2]).expect("into the control group");
        let err = rc.assign_tasks(&path, [1, 2, 3]).expect_err("EINVAL");
        assert!(matches!(err, Error::Io { op: Op::Write, .. }), "{err:?}");
        assert_eq!(raw(&err), Some(Errno::INVAL.raw_os_error()));
        assert_eq!(fake.members(&path), BTreeSet::from([1]), "stopped at 2");
    }

    #[test]
    fn assign_tasks_to_the_root_moves_threads_back() {
        let fake = FakeResctrl::new();
        fake.add_threads([7]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        rc.assign_tasks(&path, [7]).expect("in");
        rc.assign_tasks(rc.root(), [7]).expect("back");
        assert!(fake.members(&path).is_empty());
        assert_eq!(fake.group_of(7), Some(PathBuf::from("/sys/fs/resctrl")));
    }

    #[test]
    fn list_group_tasks_follows_kernel_listing() {
        let fake = FakeResctrl::new();
        fake.add_threads([1, 2, 3]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        assert!(rc.list_group_tasks(&path).expect("list").is_empty());
        rc.assign_tasks(&path, [3, 1]).expect("assign");
        assert_eq!(
            rc.list_group_tasks(&path).expect("list"),
            BTreeSet::from([1, 3])
        );
        // The root is a control group: its list includes its monitoring groups' threads.
        assert_eq!(
            rc.list_group_tasks(rc.root()).expect("list root"),
            BTreeSet::from([1, 2, 3])
        );
    }

    #[test]
    fn list_group_tasks_reports_missing_groups_and_garbage() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let missing = rc.group_path("gone").expect("path");
        let err = rc.list_group_tasks(&missing).expect_err("no group");
        assert!(err.is_not_found(), "{err:?}");

        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        fake.add_file(path.join("tasks"), "12\nbogus\n");
        let err = rc.list_group_tasks(&path).expect_err("garbage");
        assert!(matches!(err, Error::Io { op: Op::Read, .. }), "{err:?}");
    }

    #[test]
    fn reconcile_converges_after_a_verifying_pass() {
        let fake = FakeResctrl::new();
        fake.add_threads([1, 2, 3]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        let mut source = || Ok(vec![1, 2, 3]);
        let s = rc
            .reconcile_group(&path, &mut source, 5)
            .expect("reconcile");
        assert_eq!(
            s,
            ReconcileSummary {
                passes: 2,
                assigned: 3,
                missing: 0,
                converged: true
            }
        );
        assert_eq!(fake.members(&path), BTreeSet::from([1, 2, 3]));
        // Already in place: one pass, no writes.
        fake.reset_counters();
        let s = rc
            .reconcile_group(&path, &mut source, 5)
            .expect("reconcile");
        assert_eq!((s.passes, s.assigned, s.converged), (1, 0, true));
        assert_eq!(fake.counters().tasks_writes, 0);
    }

    #[test]
    fn reconcile_assigns_only_ids_not_listed_yet() {
        let fake = FakeResctrl::new();
        fake.add_threads([1, 2, 3]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        rc.assign_tasks(&path, [1, 2]).expect("pre-assign");
        fake.reset_counters();
        let s = rc
            .reconcile_group(&path, &mut || Ok(vec![1, 2, 3]), 3)
            .expect("reconcile");
        assert_eq!((s.assigned, s.converged), (1, true));
        assert_eq!(fake.counters().tasks_writes, 1);
    }

    #[test]
    fn reconcile_handles_threads_appearing_and_exiting_between_passes() {
        let fake = FakeResctrl::new();
        fake.add_threads([1, 2, 3]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        let calls = Cell::new(0);
        let steer = fake.clone();
        let mut source = || {
            calls.set(calls.get() + 1);
            match calls.get() {
                // Pass 1 lists 3, which exits before it is written (ESRCH).
                1 => {
                    steer.exit_thread(3);
                    Ok(vec![1, 2, 3])
                }
                // Pass 2: 3 is gone, 4 was created meanwhile (in the root group).
                2 => {
                    steer.add_thread(4);
                    Ok(vec![1, 2, 4])
                }
                _ => Ok(vec![1, 2, 4]),
            }
        };
        let s = rc
            .reconcile_group(&path, &mut source, 5)
            .expect("reconcile");
        assert_eq!(
            s,
            ReconcileSummary {
                passes: 3,
                assigned: 3,
                missing: 1,
                converged: true
            }
        );
        assert_eq!(fake.members(&path), BTreeSet::from([1, 2, 4]));
    }

    #[test]
    fn reconcile_stops_at_max_passes_without_converging() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        // A new thread appears before every pass, so no pass finds nothing to do.
        let next = Cell::new(100);
        let steer = fake.clone();
        let mut source = || {
            next.set(next.get() + 1);
            steer.add_thread(next.get());
            Ok((101..=next.get()).collect())
        };
        let s = rc
            .reconcile_group(&path, &mut source, 3)
            .expect("reconcile");
        assert_eq!(
            s,
            ReconcileSummary {
                passes: 3,
                assigned: 3,
                missing: 0,
                converged: false
            }
        );
    }

    #[test]
    fn reconcile_counts_an_id_that_never_exists_and_does_not_converge() {
        let fake = FakeResctrl::new();
        fake.add_thread(1);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        let s = rc
            .reconcile_group(&path, &mut || Ok(vec![1, 666]), 3)
            .expect("reconcile");
        assert_eq!(
            (s.passes, s.assigned, s.missing, s.converged),
            (3, 1, 3, false)
        );
    }

    #[test]
    fn reconcile_rejects_empty_sets_failed_sources_and_zero_passes() {
        let fake = FakeResctrl::new();
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        let err = rc
            .reconcile_group(&path, &mut || Ok(vec![]), 3)
            .expect_err("empty");
        assert!(matches!(err, Error::NoTaskIds { .. }), "{err:?}");
        let err = rc
            .reconcile_group(
                &path,
                &mut || Err(io::Error::new(io::ErrorKind::NotFound, "cgroup gone")),
                3,
            )
            .expect_err("source fails");
        assert!(matches!(err, Error::TaskIdSource { .. }), "{err:?}");
        assert_eq!(err.path(), Some(path.as_path()));
        let err = rc
            .reconcile_group(&path, &mut || Ok(vec![1]), 0)
            .expect_err("zero passes");
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    }

    #[test]
    fn reconcile_accepts_a_trait_object_source() {
        struct Fixed(Vec<u32>);
        impl TaskIdSource for Fixed {
            fn task_ids(&mut self) -> io::Result<Vec<u32>> {
                Ok(self.0.clone())
            }
        }
        let fake = FakeResctrl::new();
        fake.add_threads([5]);
        let rc = handle(&fake);
        let path = rc.create_group(UID).expect("create");
        let source: &mut dyn TaskIdSource = &mut Fixed(vec![5]);
        let s = rc.reconcile_group(&path, source, 2).expect("reconcile");
        assert!(s.converged);
        assert_eq!(fake.members(&path), BTreeSet::from([5]));
    }
}
