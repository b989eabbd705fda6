//! Container engines: which are installed, does the engine answer, can it run a container.

use super::tools::{self, ToolVersion};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Engines the runner can drive, in order of preference.
pub const ENGINES: [&str; 2] = ["podman", "docker"];

/// What one installed engine can do.
#[derive(Clone, Debug)]
pub struct EngineFacts {
    /// `podman` or `docker`.
    pub name: &'static str,
    /// Its client version line.
    pub client: ToolVersion,
    /// `Ok` when `<engine> info` succeeds; otherwise its error (e.g. no Docker daemon).
    pub answers: Result<(), String>,
    /// `Ok(Some(image))` when a container ran from a local image, `Ok(None)` when the engine
    /// answers but has no image to try yet (nothing can be pulled on an offline host, and an
    /// engine is not broken for lacking images); otherwise why it cannot run one.
    pub runs_containers: Result<Option<String>, String>,
}

/// Probes every installed engine. An engine that is not installed is left out.
///
/// `configure` adds whatever the runner needs for that engine on this host (e.g. podman's
/// runtime and ulimit settings) to each command before it runs.
pub fn probe(configure: &dyn Fn(&str, &mut Command)) -> Vec<EngineFacts> {
    ENGINES
        .iter()
        .filter_map(|&name| {
            let client = tools::version(name, &["--version"]).ok()?;
            let answers = run(name, &["info"], configure).map(drop);
            let runs_containers = match &answers {
                Ok(()) => try_run_container(name, configure),
                Err(_) => Err("the engine does not answer".to_string()),
            };
            Some(EngineFacts {
                name,
                client,
                answers,
                runs_containers,
            })
        })
        .collect()
}

/// Runs `true` in the first local image, whatever its entrypoint; nothing can be pulled on an
/// offline host.
fn try_run_container(
    name: &str,
    configure: &dyn Fn(&str, &mut Command),
) -> Result<Option<String>, String> {
    let images = run(
        name,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        configure,
    )?;
    let Some(image) = images
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.contains("<none>"))
    else {
        return Ok(None);
    };
    // `--entrypoint`: the image may be a shipped one whose entrypoint is its program (the
    // collector's), which would take `true` as an argument and fail.
    run(
        name,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "true",
            image,
        ],
        configure,
    )
    .map(|_| Some(image.to_string()))
}

/// `Ok` when engine `name` holds `image` locally; otherwise that it does not (or why it
/// could not tell).
pub fn image_present(
    name: &str,
    image: &str,
    configure: &dyn Fn(&str, &mut Command),
) -> Result<(), String> {
    run(
        name,
        &["image", "inspect", "--format", "{{.Id}}", image],
        configure,
    )
    .map(drop)
    .map_err(|why| format!("{image} is not on this host ({why})"))
}

/// How long an engine command may take before the probe gives up on it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

fn run(
    name: &str,
    args: &[&str],
    configure: &dyn Fn(&str, &mut Command),
) -> Result<String, String> {
    let mut command = Command::new(name);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(name, &mut command);
    let shown = format!("{name} {}", args.join(" "));
    let mut child = command
        .spawn()
        .map_err(|err| format!("could not run `{shown}`: {err}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{shown}` did not finish within {PROBE_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => return Err(format!("waiting for `{shown}`: {err}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|err| format!("reading `{shown}`: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no error output");
        Err(format!("`{shown}` failed: {last}"))
    }
}
