//! Restarting containerd and proving it came back with NRI: a new process (pid and start
//! time differ from every one seen before) serving the same configuration, then an NRI
//! socket that accepts a connection.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{ProcessId, containerd_serving, show};

/// How containerd is restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// `systemctl restart <unit>`.
    Systemd {
        /// The unit (`containerd`, `k3s`, `k3s-agent`).
        unit: String,
    },
    /// A shell command (`sh -c`), for containerd not run by systemd.
    Command(String),
}

impl Restart {
    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        match self {
            Restart::Systemd { unit } => format!("systemctl restart {unit}"),
            Restart::Command(command) => command.clone(),
        }
    }

    fn run(&self) -> Result<()> {
        let (program, mut command) = match self {
            Restart::Systemd { unit } => {
                let mut c = Command::new("systemctl");
                c.args(["restart", unit]);
                ("systemctl", c)
            }
            Restart::Command(line) => {
                let mut c = Command::new("sh");
                c.args(["-c", line]);
                ("sh", c)
            }
        };
        // Output is inherited, not captured: a command that starts containerd in the
        // background would otherwise keep our pipe open and never seem to finish.
        let status = command.status().map_err(|source| Error::Spawn {
            program: program.into(),
            source,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::RestartCommand {
                command: self.command_line(),
                status: status.to_string(),
            })
        }
    }
}

/// What a successful restart looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restarted {
    /// containerd before.
    pub before: Vec<ProcessId>,
    /// The new containerd.
    pub after: ProcessId,
    /// The NRI socket that accepted a connection (`None`: not waited for).
    pub socket: Option<PathBuf>,
    /// From the restart command to the end of the wait.
    pub took: Duration,
}

/// Restarts containerd (started with `config`, its processes looked up in `proc`),
/// waits up to `timeout` for a new process, and for `socket` to accept a connection.
///
/// # Errors
/// [`Error::Spawn`] or [`Error::RestartCommand`] when the command fails,
/// [`Error::RestartNotSeen`] when no new process appears, [`Error::SocketTimeout`] when
/// the socket does not accept a connection in time.
pub fn restart(
    how: &Restart,
    proc: &Path,
    config: &Path,
    socket: Option<&Path>,
    timeout: Duration,
) -> Result<Restarted> {
    let before = containerd_serving(proc, config);
    let started = Instant::now();
    how.run()?;
    let deadline = started + timeout;
    let after = loop {
        let now = containerd_serving(proc, config);
        if let Some(new) = now.iter().find(|p| !before.contains(p)) {
            break *new;
        }
        if Instant::now() >= deadline {
            return Err(Error::RestartNotSeen {
                command: how.command_line(),
                config: config.to_path_buf(),
                timeout,
                before: show(&before),
                after: show(&now),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if let Some(socket) = socket {
        wait_for_socket(socket, deadline, timeout)?;
    }
    Ok(Restarted {
        before,
        after,
        socket: socket.map(Path::to_path_buf),
        took: started.elapsed(),
    })
}

fn wait_for_socket(socket: &Path, deadline: Instant, timeout: Duration) -> Result<()> {
    loop {
        let last = match UnixStream::connect(socket) {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(Error::SocketTimeout {
                socket: socket.to_path_buf(),
                timeout,
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
