//! [`ScriptedPidSource`]: scripted thread ids, for tests of the core and of adapters.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::PidSource;
use crate::info::{ContainerInfo, PodInfo};

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Threads(Vec<u32>),
    Vanished,
}

/// Per container: answers still queued, then the one that repeats.
#[derive(Debug, Default)]
struct Script {
    queued: VecDeque<Answer>,
    repeat: Option<Answer>,
}

#[derive(Debug, Default)]
struct Inner {
    scripts: HashMap<String, Script>,
    calls: HashMap<String, usize>,
}

/// Thread ids per container id, as a test scripts them.
///
/// Each container has a queue of answers followed by one that repeats forever: a call
/// takes the next queued answer, or the repeating one when the queue is empty. So a test
/// can make threads appear between two reads of the same reconciliation
/// ([`ScriptedPidSource::then_threads`]) or make a cgroup vanish
/// ([`ScriptedPidSource::vanish`]). A container without any script is reported as a
/// missing cgroup (`NotFound`), as the real source does for a container not created yet.
///
/// Clones share the script, so a test keeps one clone to steer the source the core owns.
#[derive(Debug, Clone, Default)]
pub struct ScriptedPidSource {
    inner: Arc<Mutex<Inner>>,
}

impl ScriptedPidSource {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the script from the others.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, container_id: &str, answer: Answer) {
        let mut inner = self.lock();
        let script = inner.scripts.entry(container_id.to_owned()).or_default();
        script.queued.clear();
        script.repeat = Some(answer);
    }

    /// From now on, every call for `container_id` answers `ids` (queued answers dropped).
    pub fn set_threads(&self, container_id: &str, ids: impl IntoIterator<Item = u32>) {
        self.set(container_id, Answer::Threads(ids.into_iter().collect()));
    }

    /// Queues `ids` as an answer for `container_id`, after those already queued; it also
    /// becomes the answer that repeats once the queue is used up.
    ///
    /// For a container whose threads change *during* one reconciliation: `then_threads(c,
    /// [1, 2])` then `then_threads(c, [1, 2, 3])` answers `[1, 2]` once, then `[1, 2, 3]`.
    pub fn then_threads(&self, container_id: &str, ids: impl IntoIterator<Item = u32>) {
        let answer = Answer::Threads(ids.into_iter().collect());
        let mut inner = self.lock();
        let script = inner.scripts.entry(container_id.to_owned()).or_default();
        script.queued.push_back(answer.clone());
        script.repeat = Some(answer);
    }

    /// From now on, calls for `container_id` fail with `NotFound` ("cgroup vanished").
    pub fn vanish(&self, container_id: &str) {
        self.set(container_id, Answer::Vanished);
    }

    /// How many times the source was asked about `container_id`.
    pub fn calls(&self, container_id: &str) -> usize {
        self.lock().calls.get(container_id).copied().unwrap_or(0)
    }

    /// How many times the source was asked, over all containers.
    pub fn total_calls(&self) -> usize {
        self.lock().calls.values().sum()
    }
}

impl PidSource for ScriptedPidSource {
    fn thread_ids(&self, _pod: &PodInfo, container: &ContainerInfo) -> io::Result<Vec<u32>> {
        let mut inner = self.lock();
        *inner.calls.entry(container.id.clone()).or_default() += 1;
        let answer = inner
            .scripts
            .get_mut(&container.id)
            .and_then(|script| script.queued.pop_front().or_else(|| script.repeat.clone()));
        match answer {
            Some(Answer::Threads(ids)) => Ok(ids),
            Some(Answer::Vanished) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("cgroup of container {} vanished", container.id),
            )),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no cgroup scripted for container {}", container.id),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::ContainerState;

    fn ask(src: &ScriptedPidSource, id: &str) -> io::Result<Vec<u32>> {
        let pod = PodInfo::new("sb", "uid");
        src.thread_ids(&pod, &ContainerInfo::new(id, "sb", ContainerState::Running))
    }

    #[test]
    fn queued_answers_come_first_and_the_last_repeats() {
        let src = ScriptedPidSource::new();
        src.then_threads("c", [1]);
        src.then_threads("c", [1, 2]);
        assert_eq!(ask(&src, "c").expect("first"), vec![1]);
        assert_eq!(ask(&src, "c").expect("second"), vec![1, 2]);
        assert_eq!(ask(&src, "c").expect("repeat"), vec![1, 2]);
        assert_eq!(src.calls("c"), 3);
    }

    #[test]
    fn set_replaces_the_script_and_vanish_fails_with_not_found() {
        let src = ScriptedPidSource::new();
        let steer = src.clone();
        steer.then_threads("c", [1]);
        steer.then_threads("c", [2]);
        steer.set_threads("c", [3, 4]);
        assert_eq!(ask(&src, "c").expect("set"), vec![3, 4]);
        steer.vanish("c");
        assert_eq!(
            ask(&src, "c").expect_err("vanished").kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            ask(&src, "unknown").expect_err("unscripted").kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(steer.total_calls(), 3);
    }
}
