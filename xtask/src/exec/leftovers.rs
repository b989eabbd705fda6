//! Processes a step left running after it ended, found by a marker in their environment.
//!
//! Killing a step's process group is not enough for programs whose descendants start
//! groups or sessions of their own: cargo-mutants kills a timed-out test, but a mutated
//! `xtask run-steps` the test started had put its own steps in their own groups, and those
//! spun on both cores for half an hour. Every descendant inherits the environment, whatever
//! group it moved to and whoever adopted it, so a variable unique to one run names them all.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::plan::Exec;

/// The variable holding the marker.
const KEY: &str = "XTASK_RUN_MARKER";
/// Rounds of scan-and-kill: a process forked between a scan and the kill shows up in the
/// next scan, and a killed process forks no more.
const ROUNDS: usize = 10;

/// A marker unique to one run of one program; see the module documentation.
#[derive(Clone, Debug)]
pub struct Marker {
    value: String,
}

/// A process found carrying the marker and killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// Its process id.
    pub pid: i32,
    /// Its command line, space-separated (empty if it was already gone).
    pub command: String,
}

impl Marker {
    /// A marker no other run of this or another runner carries.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Marker {
            value: format!("{}-{nanos}", std::process::id()),
        }
    }

    /// `exec` with the marker in its environment.
    pub fn mark(&self, exec: &Exec) -> Exec {
        exec.clone().env(KEY, &self.value)
    }

    /// Kills (SIGKILL) every process still carrying the marker and returns them.
    ///
    /// Call it after the marked program ended: anything marked that is still running was
    /// left behind.
    pub fn kill_leftovers(&self) -> Vec<Leftover> {
        let needle = format!("{KEY}={}", self.value);
        let mut killed: Vec<Leftover> = Vec::new();
        for _ in 0..ROUNDS {
            let found = marked_processes(&needle);
            if found.is_empty() {
                break;
            }
            for leftover in found {
                // SAFETY: kill(2) with a pid read from /proc and a valid signal number has
                // no memory-safety preconditions; a pid that exited meanwhile gives ESRCH.
                unsafe { libc::kill(leftover.pid, libc::SIGKILL) };
                if !killed.iter().any(|k| k.pid == leftover.pid) {
                    killed.push(leftover);
                }
            }
            // Give the kernel a moment to deliver before the next scan.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        killed
    }
}

impl Default for Marker {
    fn default() -> Self {
        Marker::new()
    }
}

/// Live processes (not zombies, whose environment reads empty) whose environment holds
/// `needle` as a whole `KEY=VALUE` entry.
fn marked_processes(needle: &str) -> Vec<Leftover> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Unreadable (exited meanwhile, or another user's): not ours to kill.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_bytes())
        {
            continue;
        }
        let command = std::fs::read(entry.path().join("cmdline"))
            .map(|raw| {
                raw.split(|&b| b == 0)
                    .filter(|word| !word.is_empty())
                    .map(|word| String::from_utf8_lossy(word).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        found.push(Leftover {
            pid: pid as i32,
            command,
        });
    }
    found
}

/// One line naming what was killed, for the step's log; `None` when nothing was left.
pub fn describe(leftovers: &[Leftover]) -> Option<String> {
    const SHOWN: usize = 5;
    if leftovers.is_empty() {
        return None;
    }
    let mut names: Vec<String> = leftovers
        .iter()
        .take(SHOWN)
        .map(|l| format!("{} `{}`", l.pid, l.command))
        .collect();
    if leftovers.len() > SHOWN {
        names.push(format!("and {} more", leftovers.len() - SHOWN));
    }
    Some(format!(
        "killed {} process{} left running: {}",
        leftovers.len(),
        if leftovers.len() == 1 { "" } else { "es" },
        names.join(", ")
    ))
}

/// `pid`'s `/proc/<pid>/stat` line while it still runs after waiting up to `wait` (for a
/// signal to land); `None` once it is gone or a zombie.
#[cfg(test)]
pub(crate) fn still_running(pid: i32, wait: std::time::Duration) -> Option<String> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z") {
            return None;
        }
        if std::time::Instant::now() >= deadline {
            return Some(stat);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use xshell::cmd;

    use super::*;
    use crate::exec::Interrupt;
    use crate::exec::child;

    #[test]
    fn a_process_that_left_the_steps_session_is_found_and_killed_after_the_step() {
        let sh = crate::project::shell().expect("shell");
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("escaped.pid");
        // The step exits at once; its child has its own session, so killing the step's
        // process group would miss it.
        let script = format!(
            "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > {}",
            pidfile.display()
        );
        let marker = Marker::new();
        let exec = marker.mark(&Exec::from(cmd!(sh, "sh -c {script}")));
        child::run(&exec, &Interrupt::default(), &mut |_| {}).expect("the step succeeds");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid");
        assert!(
            still_running(pid, Duration::ZERO).is_some(),
            "the escaped process should still run"
        );

        let killed = marker.kill_leftovers();

        assert_eq!(
            killed.iter().map(|l| l.pid).collect::<Vec<_>>(),
            vec![pid],
            "{killed:?}"
        );
        assert!(killed[0].command.contains("sleep 1000"), "{killed:?}");
        if let Some(state) = still_running(pid, Duration::from_secs(5)) {
            panic!("{pid} still running after kill_leftovers: {state}");
        }
        assert_eq!(
            marker.kill_leftovers(),
            Vec::new(),
            "nothing left the second time"
        );
    }

    #[test]
    fn processes_without_this_runs_marker_are_left_alone() {
        let sh = crate::project::shell().expect("shell");
        let other = Marker::new();
        let mut unmarked = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let mut other_run = other
            .mark(&Exec::from(cmd!(sh, "sleep 1000")))
            .to_command()
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn marked sleep");
        let marker = Marker::new();

        let killed = marker.kill_leftovers();

        let alive = |pid: u32| still_running(pid as i32, Duration::ZERO).is_some();
        let (a, b) = (alive(unmarked.id()), alive(other_run.id()));
        let _ = unmarked.kill();
        let _ = unmarked.wait();
        let _ = other_run.kill();
        let _ = other_run.wait();
        assert_eq!(killed, Vec::new());
        assert!(a, "the unmarked process was killed");
        assert!(b, "another run's process was killed");
    }

    #[test]
    fn the_description_names_the_first_few_and_counts_the_rest() {
        let leftovers: Vec<Leftover> = (1..=7)
            .map(|pid| Leftover {
                pid,
                command: format!("sleep {pid}"),
            })
            .collect();
        assert_eq!(describe(&[]), None);
        assert_eq!(
            describe(&leftovers[..1]).as_deref(),
            Some("killed 1 process left running: 1 `sleep 1`")
        );
        assert_eq!(
            describe(&leftovers).as_deref(),
            Some(
                "killed 7 processes left running: 1 `sleep 1`, 2 `sleep 2`, 3 `sleep 3`, \
                 4 `sleep 4`, 5 `sleep 5`, and 2 more"
            )
        );
    }
}
