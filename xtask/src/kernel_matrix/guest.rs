//! Booting one guest: QEMU with the console on a pipe, every line kept in a log and read
//! for results and trouble, a hard deadline, and the guest killed when it hangs, panics or
//! the run is interrupted.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::console::{self, Line};

/// How many console lines a failure report shows.
const TAIL: usize = 40;
/// How long a guest that gave its verdict gets to power off.
const POWER_OFF: Duration = Duration::from_secs(15);

/// How a guest's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The init gave its verdict (`true`: every test passed).
    Verdict(bool),
    /// The kernel panicked, oopsed, stalled or locked up (the line that showed it).
    Trouble(String),
    /// Nothing ended it before the deadline.
    Hung(Duration),
    /// The console stayed empty this long (a guest that never started).
    Silent(Duration),
    /// QEMU exited before any verdict (its exit status).
    Exited(String),
    /// The run was interrupted.
    Interrupted,
}

/// What a guest showed.
#[derive(Clone, Debug)]
pub struct GuestRun {
    /// `(binary::test, outcome)` in the order reported.
    pub results: Vec<(String, String)>,
    /// Errors the init reported.
    pub errors: Vec<String>,
    /// How it ended.
    pub end: End,
    /// The last console lines, for failure reports.
    pub tail: Vec<String>,
    /// Wall time from start to exit.
    pub elapsed: Duration,
}

/// How long a guest may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From start to verdict.
    pub total: Duration,
    /// From start to the first console line, if shorter than `total`.
    pub first_line: Option<Duration>,
}

impl Limits {
    /// At most `total` from start to verdict.
    pub fn total(total: Duration) -> Self {
        Limits {
            total,
            first_line: None,
        }
    }

    /// And at most `first_line` until the console says anything.
    pub fn first_line_within(self, first_line: Duration) -> Self {
        Limits {
            first_line: Some(first_line),
            ..self
        }
    }
}

/// Runs `qemu` (a full command line) until the guest powers off, writing the console to
/// `log`. `stop` is polled for interruption.
pub fn run(
    mut qemu: Command,
    limits: Limits,
    log: &Path,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<GuestRun> {
    let mut log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let (reader, writer) = std::io::pipe().context("creating the console pipe")?;
    qemu.stdin(Stdio::null())
        .stdout(writer.try_clone().context("duplicating the console pipe")?)
        .stderr(writer)
        // Its own process group: a Ctrl-C reaches the runner, which decides.
        .process_group(0);
    let program = qemu.get_program().to_string_lossy().into_owned();
    let mut child = qemu.spawn().with_context(|| {
        format!("starting {program} (install it with `apt-get install qemu-system-x86`)")
    })?;
    drop(qemu);
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let mut run = GuestRun {
        results: Vec::new(),
        errors: Vec::new(),
        end: End::Hung(limits.total),
        tail: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut tail = VecDeque::with_capacity(TAIL);
    let mut verdict_at: Option<Instant> = None;
    let end = loop {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let _ = writeln!(log_file, "{line}");
                if tail.len() == TAIL {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                match console::classify(&line) {
                    Line::Result { test, outcome } => run.results.push((test, outcome)),
                    Line::Error(err) => run.errors.push(err),
                    Line::Verdict(pass) => {
                        run.end = End::Verdict(pass);
                        verdict_at = Some(Instant::now());
                    }
                    Line::Trouble(sign) => break Some(End::Trouble(sign)),
                    Line::Other => {}
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("waiting for QEMU")?;
                break match verdict_at {
                    Some(_) => None,
                    None => Some(End::Exited(status.to_string())),
                };
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if stop() {
            break Some(End::Interrupted);
        }
        if started.elapsed() > limits.total {
            break Some(End::Hung(limits.total));
        }
        if let Some(first_line) = limits.first_line
            && tail.is_empty()
            && started.elapsed() > first_line
        {
            break Some(End::Silent(first_line));
        }
        if verdict_at.is_some_and(|at| at.elapsed() > POWER_OFF) {
            // The verdict is in; a guest that will not power off is not a test failure.
            break None;
        }
    };
    kill(&mut child);
    if let Some(end) = end {
        run.end = end;
    }
    run.tail = tail.into();
    run.elapsed = started.elapsed();
    Ok(run)
}

/// Kills QEMU (and anything in its group) and reaps it.
fn kill(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let group = libc::pid_t::try_from(child.id()).expect("pids fit pid_t");
    // SAFETY: kill(2) on the process group of our own child.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for QEMU: a shell script printing what a guest would.
    fn fake_qemu(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    fn run_fake(script: &str, limits: Limits) -> (GuestRun, String) {
        let dir = tempfile::tempdir().expect("scratch dir");
        let log = dir.path().join("console.log");
        let run = run(fake_qemu(script), limits, &log, &|| false).expect("the script runs");
        (run, std::fs::read_to_string(&log).expect("the console log"))
    }

    #[test]
    fn a_guest_that_reports_and_powers_off_is_read_in_full() {
        let (run, log) = run_fake(
            "echo '[0.0] Linux version 6.1'; echo 'kmatrix: result a::one pass'; \
             echo 'kmatrix: result a::two fail'; echo 'kmatrix: verdict fail'",
            Limits::total(Duration::from_secs(30)),
        );
        assert_eq!(run.end, End::Verdict(false));
        assert_eq!(
            run.results,
            [
                ("a::one".to_string(), "pass".to_string()),
                ("a::two".to_string(), "fail".to_string())
            ]
        );
        assert!(log.starts_with("[0.0] Linux version 6.1\n"), "{log}");
    }

    #[test]
    fn a_hung_guest_is_killed_at_the_deadline_with_its_console_tail() {
        let started = Instant::now();
        let (run, _) = run_fake(
            "echo 'kmatrix: hanging as asked'; exec sleep 600",
            Limits::total(Duration::from_secs(1)),
        );
        assert_eq!(run.end, End::Hung(Duration::from_secs(1)));
        assert_eq!(run.tail, ["kmatrix: hanging as asked"]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_kernel_panic_ends_the_guest_at_once() {
        let (run, _) = run_fake(
            "echo 'kmatrix: result a::one pass'; echo '[1.0] Kernel panic - not syncing: x'; exec sleep 600",
            Limits::total(Duration::from_secs(60)),
        );
        assert_eq!(
            run.end,
            End::Trouble("[1.0] Kernel panic - not syncing: x".into())
        );
        assert_eq!(run.results.len(), 1);
    }

    #[test]
    fn qemu_exiting_without_a_verdict_is_reported_with_its_status() {
        let (run, _) = run_fake(
            "echo 'qemu: could not load kernel'; exit 1",
            Limits::total(Duration::from_secs(30)),
        );
        assert_eq!(run.end, End::Exited("exit status: 1".into()));
        assert_eq!(run.tail, ["qemu: could not load kernel"]);
    }

    #[test]
    fn an_interrupt_stops_the_guest() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let run = run(
            fake_qemu("exec sleep 600"),
            Limits::total(Duration::from_secs(60)),
            &dir.path().join("console.log"),
            &|| true,
        )
        .expect("the script runs");
        assert_eq!(run.end, End::Interrupted);
    }

    #[test]
    fn a_guest_whose_console_stays_empty_is_given_up_at_the_first_line_limit() {
        let started = Instant::now();
        let (run, _) = run_fake(
            "exec sleep 600",
            Limits::total(Duration::from_secs(60)).first_line_within(Duration::from_millis(300)),
        );
        assert_eq!(run.end, End::Silent(Duration::from_millis(300)));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_guest_that_spoke_is_not_silent_however_long_it_takes() {
        let (run, _) = run_fake(
            "echo '[0.0] Linux version 6.1'; sleep 1; echo 'kmatrix: verdict pass'",
            Limits::total(Duration::from_secs(60)).first_line_within(Duration::from_millis(300)),
        );
        assert_eq!(run.end, End::Verdict(true));
    }
}
