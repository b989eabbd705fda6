//! The containerd process and the `ctr` and busybox helper commands.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::assets::Assets;
use crate::config::Layout;
use crate::error::{Error, Result, io_err};

/// How long one `ctr` or busybox invocation may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// PATH for containerd and ctr: the containerd dir first (containerd finds the shim on
/// PATH), then the inherited PATH (the shim finds nothing else there: runc is configured
/// by absolute path).
pub(crate) fn path_env(assets: &Assets) -> OsString {
    let mut path = assets.containerd_dir.clone().into_os_string();
    if let Some(inherited) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(inherited);
    } else {
        path.push(":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    }
    path
}

/// Starts containerd with the layout's configuration, in its own process group (so a
/// Ctrl-C aimed at the test does not kill it before teardown removed the pods), with
/// stdout and stderr appended to the layout's log.
pub(crate) fn spawn(assets: &Assets, layout: &Layout) -> Result<Child> {
    let log_path = layout.log();
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err(format!("opening {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io_err("duplicating the log file handle"))?;
    Command::new(assets.containerd())
        .arg("--config")
        .arg(layout.config())
        .env("PATH", path_env(assets))
        .current_dir(layout.dir())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(io_err(format!(
            "starting {}",
            assets.containerd().display()
        )))
}

/// Waits until containerd answers `ctr version` on its socket, or fails with the log's
/// tail if it exits or `timeout` passes.
pub(crate) async fn wait_ready(
    assets: &Assets,
    layout: &Layout,
    child: &mut Child,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let not_ready = |reason: String| Error::NotReady {
        reason,
        log: layout.log(),
        tail: log_tail(&layout.log(), 30),
    };
    loop {
        if let Some(status) = child.try_wait().map_err(io_err("checking on containerd"))? {
            return Err(not_ready(format!(
                "containerd exited during startup ({status})"
            )));
        }
        let last_failure = match ctr(assets, layout, &[OsStr::new("version")], PROBE_TIMEOUT).await
        {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= timeout {
            return Err(not_ready(format!(
                "no answer within {timeout:?}; last probe: {last_failure}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `ctr --address <socket> <args>` and returns its stdout.
pub(crate) async fn ctr(
    assets: &Assets,
    layout: &Layout,
    args: &[&OsStr],
    timeout: Duration,
) -> Result<String> {
    let mut command = tokio::process::Command::new(assets.ctr());
    command
        .arg("--address")
        .arg(layout.grpc_socket())
        .args(args)
        .env("PATH", path_env(assets));
    run(command, timeout).await
}

/// The applet names of a busybox binary (`busybox --list`).
pub(crate) async fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let mut command = tokio::process::Command::new(busybox);
    command.arg("--list");
    let out = run(command, TOOL_TIMEOUT).await?;
    let applets: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if !applets.iter().any(|a| a == "sh") {
        return Err(Error::BusyboxWithoutShell {
            busybox: busybox.to_path_buf(),
        });
    }
    Ok(applets)
}

/// Imports an image archive into the CRI namespace (`k8s.io`), unpacking it for the
/// default snapshotter.
pub(crate) async fn import_images(assets: &Assets, layout: &Layout, archive: &Path) -> Result<()> {
    let args = [
        OsStr::new("--namespace"),
        OsStr::new("k8s.io"),
        OsStr::new("images"),
        OsStr::new("import"),
        archive.as_os_str(),
    ];
    ctr(assets, layout, &args, TOOL_TIMEOUT).await.map(drop)
}

/// Names of the images in the CRI namespace.
pub(crate) async fn image_names(assets: &Assets, layout: &Layout) -> Result<Vec<String>> {
    let args = [
        OsStr::new("--namespace"),
        OsStr::new("k8s.io"),
        OsStr::new("images"),
        OsStr::new("ls"),
        OsStr::new("-q"),
    ];
    let out = ctr(assets, layout, &args, TOOL_TIMEOUT).await?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Runs a command to completion (killed after `timeout`), failing on a non-zero exit with
/// the end of its stderr.
async fn run(mut command: tokio::process::Command, timeout: Duration) -> Result<String> {
    let std_command = command.as_std();
    let line = std::iter::once(std_command.get_program())
        .chain(std_command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    command.stdin(Stdio::null()).kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Ok(result) => result.map_err(io_err(format!("running `{line}`")))?,
        Err(_) => {
            return Err(Error::Command {
                command: line,
                detail: format!("no result within {timeout:?}"),
            });
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Command {
            command: line,
            detail: format!("{}: {}", output.status, tail.join("\n")),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// How containerd itself ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running (it had exited, or this is a crash cleanup and none was found).
    NotRunning,
    /// It exited after SIGTERM.
    Terminated,
    /// It ignored SIGTERM for the grace period and was killed.
    Killed,
}

/// Stops our containerd child: SIGTERM, then SIGKILL after `grace`; always reaps it.
pub(crate) fn stop(child: &mut Child, grace: Duration) -> Result<Stopped> {
    if child
        .try_wait()
        .map_err(io_err("checking on containerd"))?
        .is_some()
    {
        return Ok(Stopped::NotRunning);
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    if let Some(pid) = pid {
        // ESRCH only means it exited meanwhile; try_wait below sees that.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child
            .try_wait()
            .map_err(io_err("waiting for containerd"))?
            .is_some()
        {
            return Ok(Stopped::Terminated);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().map_err(io_err("killing containerd"))?;
    child.wait().map_err(io_err("reaping containerd"))?;
    Ok(Stopped::Killed)
}

/// The last `lines` lines of a log file (at most its last 64 KiB), for error messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).unwrap();
        assert_eq!(log_tail(&log, 3), "line 98\nline 99\nline 100");
        assert!(log_tail(&tmp.path().join("missing"), 3).starts_with("(cannot read"));
    }

    #[tokio::test]
    async fn failing_commands_name_the_command_and_stderr() {
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "echo doomed >&2; exit 3"]);
        let err = run(command, Duration::from_secs(10))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sh -c echo doomed >&2; exit 3`"), "{err}");
        assert!(err.contains("doomed"), "{err}");

        let mut command = tokio::process::Command::new("sleep");
        command.arg("10");
        let err = run(command, Duration::from_millis(100))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no result within"), "{err}");
    }
}
