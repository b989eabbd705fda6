//! Placing one container's threads in its pod's group, with as few file operations as
//! the kernel allows.
//!
//! # Cost model
//!
//! - Reading a group's `tasks` is the expensive step: the kernel builds the list by
//!   walking every thread of the system. It is read at most once per pod per call, shared
//!   by all the pod's containers ([`GroupMembers`]), and not at all for a group this
//!   process just created (known empty).
//! - Each thread id is written once; resctrl parses one id per write, so one write per
//!   thread is the floor.
//! - The container's thread list is read once per pass. The first pass places what it
//!   finds; a later pass that finds nothing new proves convergence: every thread that
//!   existed then is in the group, and threads created afterwards inherit their creator's
//!   group. So a quiet container costs two listings.

use std::collections::HashSet;
use std::path::Path;

use resctrl::{FsProvider, Resctrl};

use crate::error::PluginError;
use crate::info::{ContainerInfo, PodInfo};
use crate::pid_source::PidSource;

/// Thread ids known to be in a group, loaded lazily from its `tasks` file.
#[derive(Debug)]
pub(crate) struct GroupMembers {
    known: Option<HashSet<u32>>,
}

impl GroupMembers {
    /// Members of a group; `fresh` means it was just created and is empty, so nothing
    /// needs to be read.
    pub(crate) fn new(fresh: bool) -> Self {
        GroupMembers {
            known: fresh.then(HashSet::new),
        }
    }

    fn get<P: FsProvider>(
        &mut self,
        rc: &Resctrl<P>,
        group: &Path,
    ) -> Result<&mut HashSet<u32>, resctrl::Error> {
        if self.known.is_none() {
            self.known = Some(rc.list_group_tasks(group)?.into_iter().collect());
        }
        Ok(self.known.get_or_insert_with(HashSet::new))
    }
}

/// The outcome of placing one container's threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerReconcile {
    /// Thread listings read.
    pub passes: u32,
    /// Thread ids written to the group.
    pub assigned: usize,
    /// Thread ids that exited between listing and writing (ESRCH): not errors.
    pub missing: usize,
    /// Whether a listing found nothing left to place: the container is reconciled.
    pub converged: bool,
}

/// Places `container`'s threads in `group`, in at most `max_passes` listings.
///
/// Errors: [`PluginError::PidSource`] if a listing fails, [`PluginError::NoThreads`] if
/// the first one is empty, [`PluginError::Resctrl`] for a failed `tasks` read or write
/// (ESRCH excepted).
pub(crate) fn place_container<P: FsProvider, S: PidSource + ?Sized>(
    rc: &Resctrl<P>,
    pids: &S,
    group: &Path,
    members: &mut GroupMembers,
    (pod, container): (&PodInfo, &ContainerInfo),
    max_passes: u32,
) -> Result<ContainerReconcile, PluginError> {
    let mut outcome = ContainerReconcile::default();
    // Ids the kernel said are gone; a stale listing may still show them.
    let mut gone = HashSet::new();
    while outcome.passes < max_passes {
        outcome.passes += 1;
        let listed = pids
            .thread_ids(pod, container)
            .map_err(|source| PluginError::PidSource {
                container_id: container.id.clone(),
                source,
            })?;
        if listed.is_empty() {
            if outcome.passes == 1 {
                return Err(PluginError::NoThreads {
                    container_id: container.id.clone(),
                });
            }
            // Everything exited after the previous pass: nothing is left outside.
            outcome.converged = true;
            break;
        }
        let known = members.get(rc, group)?;
        let mut todo: Vec<u32> = listed
            .into_iter()
            .filter(|id| !known.contains(id) && !gone.contains(id))
            .collect();
        if todo.is_empty() {
            outcome.converged = true;
            break;
        }
        todo.sort_unstable();
        todo.dedup();
        for id in todo {
            // One id per call, to learn which ids exited (the summary only counts them).
            let written = rc.assign_tasks(group, [id])?;
            if written.assigned == 1 {
                known.insert(id);
                outcome.assigned += 1;
            } else {
                gone.insert(id);
                outcome.missing += 1;
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use resctrl::fake::FakeResctrl;

    use super::*;
    use crate::info::ContainerState;
    use crate::pid_source::ScriptedPidSource;

    struct Setup {
        fake: FakeResctrl,
        rc: Resctrl<FakeResctrl>,
        pids: ScriptedPidSource,
        pod: PodInfo,
        container: ContainerInfo,
    }

    fn setup() -> Setup {
        let fake = FakeResctrl::new();
        let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("config");
        Setup {
            fake,
            rc,
            pids: ScriptedPidSource::new(),
            pod: PodInfo::new("sb", "uid"),
            container: ContainerInfo::new("c", "sb", ContainerState::Running),
        }
    }

    impl Setup {
        fn place(
            &self,
            members: &mut GroupMembers,
            passes: u32,
        ) -> Result<ContainerReconcile, PluginError> {
            let group = self.rc.group_path("uid").expect("path");
            place_container(
                &self.rc,
                &self.pids,
                &group,
                members,
                (&self.pod, &self.container),
                passes,
            )
        }
    }

    #[test]
    fn a_fresh_group_costs_one_write_per_thread_and_no_tasks_read() {
        let s = setup();
        s.fake.add_threads([1, 2, 3]);
        s.pids.set_threads("c", [3, 1, 2, 2]);
        let group = s.rc.create_group("uid").expect("group");
        s.fake.reset_counters();
        let out = s.place(&mut GroupMembers::new(true), 3).expect("place");
        assert_eq!(
            out,
            ContainerReconcile {
                passes: 2,
                assigned: 3,
                missing: 0,
                converged: true
            }
        );
        assert_eq!(s.fake.counters().tasks_writes, 3, "duplicates written once");
        assert_eq!(s.fake.counters().reads, 0, "fresh group: no tasks read");
        assert_eq!(s.fake.members(&group), [1, 2, 3].into());
    }

    #[test]
    fn an_existing_group_is_read_once_and_present_threads_are_not_rewritten() {
        let s = setup();
        s.fake.add_threads([1, 2, 3]);
        let group = s.rc.create_group("uid").expect("group");
        s.rc.assign_tasks(&group, [1, 2]).expect("seed");
        s.pids.set_threads("c", [1, 2, 3]);
        s.fake.reset_counters();
        let out = s.place(&mut GroupMembers::new(false), 3).expect("place");
        assert_eq!((out.assigned, out.converged), (1, true));
        assert_eq!(s.fake.counters().tasks_writes, 1);
        assert_eq!(s.fake.counters().reads, 1);
    }

    #[test]
    fn threads_created_during_a_pass_are_caught_by_the_next() {
        let s = setup();
        s.fake.add_threads([1, 2, 3]);
        s.rc.create_group("uid").expect("group");
        s.pids.then_threads("c", [1, 2]);
        s.pids.then_threads("c", [1, 2, 3]);
        let out = s.place(&mut GroupMembers::new(true), 3).expect("place");
        assert_eq!(
            (out.passes, out.assigned, out.converged),
            (3, 3, true),
            "pass 3 finds nothing new"
        );
        // With two passes the new thread is placed but convergence is not proven.
        let s = setup();
        s.fake.add_threads([1, 2, 3]);
        s.rc.create_group("uid").expect("group");
        s.pids.then_threads("c", [1, 2]);
        s.pids.then_threads("c", [1, 2, 3]);
        let out = s.place(&mut GroupMembers::new(true), 2).expect("place");
        assert_eq!((out.passes, out.assigned, out.converged), (2, 3, false));
    }

    #[test]
    fn an_exited_thread_is_missing_not_an_error_even_if_still_listed() {
        let s = setup();
        s.fake.add_threads([1]);
        s.rc.create_group("uid").expect("group");
        s.pids.set_threads("c", [1, 99]);
        let out = s.place(&mut GroupMembers::new(true), 3).expect("place");
        assert_eq!(
            out,
            ContainerReconcile {
                passes: 2,
                assigned: 1,
                missing: 1,
                converged: true
            }
        );
    }

    #[test]
    fn listing_failures_and_empty_containers_are_errors() {
        let s = setup();
        s.rc.create_group("uid").expect("group");
        s.pids.vanish("c");
        let err = s
            .place(&mut GroupMembers::new(true), 3)
            .expect_err("vanished");
        assert!(matches!(err, PluginError::PidSource { .. }), "{err:?}");
        s.pids.set_threads("c", []);
        let err = s.place(&mut GroupMembers::new(true), 3).expect_err("empty");
        assert!(matches!(err, PluginError::NoThreads { .. }), "{err:?}");
        s.fake.add_threads([1]);
        s.pids.then_threads("c", [1]);
        s.pids.then_threads("c", []);
        let out = s
            .place(&mut GroupMembers::new(true), 3)
            .expect("exited after the first pass");
        assert_eq!((out.assigned, out.converged), (1, true));
    }

    #[test]
    fn a_missing_group_is_a_not_found_resctrl_error() {
        let s = setup();
        s.fake.add_threads([1]);
        s.pids.set_threads("c", [1]);
        let err = s
            .place(&mut GroupMembers::new(false), 3)
            .expect_err("no group");
        assert!(
            matches!(&err, PluginError::Resctrl(e) if e.is_not_found()),
            "{err:?}"
        );
        let err = s
            .place(&mut GroupMembers::new(true), 3)
            .expect_err("no group to write to");
        assert!(
            matches!(&err, PluginError::Resctrl(e) if e.is_not_found()),
            "{err:?}"
        );
    }
}
