//! Running one program as a step: own process group, merged output streamed line by line,
//! termination requests forwarded, and the group killed if it will not stop.

use std::io::{self, BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::interrupt::{Interrupt, Interrupted};
use crate::plan::Exec;

/// How long a step gets to stop after its signal before its process group is killed.
const GRACE: Duration = Duration::from_secs(5);
/// How long to keep reading after the program exited, for output its children still write.
const DRAIN: Duration = Duration::from_millis(300);
/// How often to look at the child and the interrupt flag when there is no output.
const POLL: Duration = Duration::from_millis(50);
/// How often to look for the exit once the output is closed.
const EXIT_POLL: Duration = Duration::from_millis(1);

/// Runs `exec`, handing each line of its merged stdout and stderr to `on_line`.
///
/// Returns `Err(Interrupted)` when a termination request stopped it, an error naming the
/// command when it could not be started or exited unsuccessfully, and `Ok` on success.
pub fn run(
    exec: &Exec,
    interrupt: &Interrupt,
    on_line: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let status = run_status(exec, interrupt, on_line)?;
    if status.success() {
        Ok(())
    } else {
        bail!("`{}` failed: {}", exec.short_name(), describe(status))
    }
}

fn run_status(
    exec: &Exec,
    interrupt: &Interrupt,
    on_line: &mut dyn FnMut(&str),
) -> anyhow::Result<ExitStatus> {
    interrupt.check()?;
    for dir in &exec.mkdirs {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (reader, writer) = io::pipe().context("creating an output pipe")?;
    let mut command = exec.to_command();
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().context("duplicating the output pipe")?)
        .stderr(writer)
        // Its own process group: Ctrl-C reaches the runner only, and the runner can signal
        // the step together with everything the step started.
        .process_group(0);
    let mut child = command.spawn().map_err(|err| spawn_error(exec, err))?;
    // Our copies of the pipe's write end live in `command`; drop them so EOF arrives once
    // the child and its descendants are done.
    drop(command);
    let group = child.id() as libc::pid_t;

    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if lines_tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });

    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut signalled: Option<(usize, Instant)> = None;
    let mut output_closed = false;
    loop {
        if output_closed {
            // All output is in; the exit follows at once, so poll it closely rather than
            // adding a poll interval to every step.
            std::thread::sleep(EXIT_POLL);
        } else {
            match lines.recv_timeout(POLL) {
                Ok(line) => on_line(&line),
                Err(RecvTimeoutError::Disconnected) => output_closed = true,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        if exited.is_none()
            && let Some(status) = child.try_wait().context("waiting for the step")?
        {
            exited = Some((status, Instant::now()));
        }
        // Done when the output is closed, or when descendants still hold it open a while
        // after the program itself exited.
        if exited.is_some_and(|(_, at)| output_closed || at.elapsed() > DRAIN) {
            break;
        }
        if interrupt.requested() && exited.is_none() {
            signalled = Some(forward(group, interrupt, signalled));
        }
    }
    // Drain what is already buffered without waiting further.
    while let Ok(line) = lines.try_recv() {
        on_line(&line);
    }
    let (status, _) = exited.expect("loop only ends after the child exited");
    if interrupt.requested() {
        // Whatever the step started in its group goes with it.
        kill_group(group, libc::SIGKILL);
        return Err(Interrupted.into());
    }
    Ok(status)
}

/// Sends the step's group the runner's signal once, then SIGKILL after the grace period or
/// at a second request.
fn forward(
    group: libc::pid_t,
    interrupt: &Interrupt,
    previous: Option<(usize, Instant)>,
) -> (usize, Instant) {
    match previous {
        None => {
            kill_group(group, interrupt.signal());
            (interrupt.count(), Instant::now())
        }
        Some((count, at)) if interrupt.count() > count || at.elapsed() > GRACE => {
            kill_group(group, libc::SIGKILL);
            (interrupt.count(), Instant::now())
        }
        Some(unchanged) => unchanged,
    }
}

fn kill_group(group: libc::pid_t, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; errors (ESRCH when the
    // group is gone) are expected and ignored.
    unsafe {
        libc::kill(-group, signal);
    }
}

fn spawn_error(exec: &Exec, err: io::Error) -> anyhow::Error {
    // A missing working directory also gives ENOENT: name it, not the program.
    if let Some(cwd) = exec.cwd.as_ref().filter(|cwd| !cwd.is_dir()) {
        anyhow::anyhow!(
            "could not start `{exec}`: its working directory {} does not exist",
            cwd.display()
        )
    } else if err.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "`{}` not found on PATH (needed to run `{exec}`)",
            exec.program.to_string_lossy()
        )
    } else {
        anyhow::anyhow!("could not start `{exec}`: {err}")
    }
}

/// "exit status 101" or "killed by signal 9".
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell::cmd;

    fn capture(exec: &Exec, interrupt: &Interrupt) -> (anyhow::Result<()>, Vec<String>) {
        let mut lines = Vec::new();
        let result = run(exec, interrupt, &mut |line| lines.push(line.to_string()));
        (result, lines)
    }

    #[test]
    fn a_forwarded_request_escalates_to_sigkill_only_at_a_second_request_or_after_the_grace() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("starting sleep");
        let group = sleeper.id() as libc::pid_t;
        let interrupt = Interrupt::default();
        interrupt.trigger(libc::SIGTERM);
        let first = forward(group, &interrupt, None);
        assert_eq!(first.0, 1);
        assert_eq!(
            forward(group, &interrupt, Some(first)),
            first,
            "no new request within the grace period: nothing more is sent"
        );
        let long_ago = Instant::now()
            .checked_sub(GRACE + Duration::from_secs(1))
            .expect("an instant before the grace period");
        let overdue = forward(group, &interrupt, Some((1, long_ago)));
        assert!(overdue.1 > long_ago, "after the grace period it escalates");
        interrupt.trigger(libc::SIGINT);
        assert_eq!(forward(group, &interrupt, Some(first)).0, 2);
        let status = sleeper.wait().expect("waiting for sleep");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGTERM),
            "the first request forwards the runner's own signal"
        );
    }

    #[test]
    fn merges_stdout_and_stderr_in_order() {
        let sh = crate::project::shell().unwrap();
        let exec = Exec::from(cmd!(sh, "sh -c 'echo one; echo two >&2; echo three'"));
        let (result, lines) = capture(&exec, &Interrupt::default());
        result.unwrap();
        assert_eq!(lines, ["one", "two", "three"]);
    }

    #[test]
    fn failure_names_the_command_and_status() {
        let sh = crate::project::shell().unwrap();
        let exec = Exec::from(cmd!(sh, "sh -c 'exit 3'"));
        let err = capture(&exec, &Interrupt::default()).0.unwrap_err();
        assert_eq!(err.to_string(), "`sh` failed: exit status 3");
    }

    #[test]
    fn missing_program_is_named() {
        let sh = crate::project::shell().unwrap();
        let exec = Exec::from(cmd!(sh, "xtask-no-such-program --flag"));
        let err = capture(&exec, &Interrupt::default()).0.unwrap_err();
        assert!(
            err.to_string()
                .contains("`xtask-no-such-program` not found on PATH"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_working_directory_is_named_as_such() {
        let sh = crate::project::shell().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("deleted-checkout");
        let mut exec = Exec::from(cmd!(sh, "true"));
        exec.cwd = Some(gone.clone());
        let err = capture(&exec, &Interrupt::default()).0.unwrap_err();
        let message = err.to_string();
        assert!(
            message.ends_with(&format!(
                "its working directory {} does not exist",
                gone.display()
            )),
            "{message}"
        );
        assert!(!message.contains("not found on PATH"), "{message}");
    }

    #[test]
    fn interrupt_stops_the_step_and_its_children() {
        let sh = crate::project::shell().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!(
            "sleep 1000 & echo $! > {}; echo started; wait",
            pidfile.display()
        );
        let exec = Exec::from(cmd!(sh, "sh -c {script}"));
        let interrupt = Interrupt::default();
        let trigger = interrupt.clone();
        let mut lines = Vec::new();
        let started = Instant::now();
        let result = run(&exec, &interrupt, &mut |line| {
            lines.push(line.to_string());
            if line == "started" {
                trigger.trigger(libc::SIGTERM);
            }
        });
        assert!(result.unwrap_err().is::<Interrupted>());
        assert!(started.elapsed() < GRACE + Duration::from_secs(5));
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild was in the step's process group, which got SIGKILL; delivery is
        // asynchronous, so give it a moment to die (gone, or a zombie awaiting init).
        if let Some(state) =
            crate::exec::leftovers::still_running(grandchild, Duration::from_secs(5))
        {
            panic!("grandchild {grandchild} still running: {state}");
        }
    }

    #[test]
    fn does_not_start_after_an_interrupt() {
        let sh = crate::project::shell().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let exec = Exec::from(cmd!(sh, "touch {marker}"));
        let interrupt = Interrupt::default();
        interrupt.trigger(libc::SIGINT);
        assert!(
            capture(&exec, &interrupt)
                .0
                .unwrap_err()
                .is::<Interrupted>()
        );
        assert!(!marker.exists());
    }
}
