//! [`Containerd`]: one private containerd from start to teardown.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cause_chain::Chain;

use crate::assets::Assets;
use crate::cgroups::run_subtree;
use crate::config::{ConfigParams, Layout, render};
use crate::cri::types::{
    ImageSpec as CriImageSpec, ImageStatusRequest, ListContainersRequest, ListPodSandboxRequest,
};
use crate::cri::{Cri, CriClient};
use crate::daemon;
use crate::error::{Error, Result, io_err};
use crate::images::{BUSYBOX_IMAGE, ExtraBinary, ImageSpec, PAUSE_IMAGE, build_archive};
use crate::teardown::{
    PRIVATE_DIR_PREFIX, TeardownReport, remove_all_via_cri, teardown_blocking, teardown_host,
};

/// Tunables of a private containerd.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long containerd may take to answer after it was started.
    pub ready_timeout: Duration,
    /// How long containerd gets to exit after SIGTERM before it is killed.
    pub stop_grace: Duration,
    /// Bound on connecting to CRI and on each CRI call.
    pub cri_timeout: Duration,
    /// NRI `plugin_registration_timeout` (containerd's default: 5 s).
    pub nri_registration_timeout: Duration,
    /// NRI `plugin_request_timeout` (containerd's default: 2 s).
    pub nri_request_timeout: Duration,
    /// containerd's log level (`info`, `debug`, `trace`).
    pub log_level: String,
    /// Static programs added to the workload image as `/bin/<name>` (name, host path),
    /// for workloads busybox cannot run (e.g. one with many threads).
    pub workload_binaries: Vec<(String, PathBuf)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ready_timeout: Duration::from_secs(20),
            stop_grace: Duration::from_secs(10),
            cri_timeout: Duration::from_secs(60),
            nri_registration_timeout: Duration::from_secs(5),
            nri_request_timeout: Duration::from_secs(2),
            log_level: "info".into(),
            workload_binaries: Vec::new(),
        }
    }
}

/// A running private containerd with NRI enabled and the harness's images imported.
///
/// Dropping it tears everything down (best effort, also during a panic) and prints the
/// teardown report to stderr if something was left; [`Containerd::shutdown`] does the same
/// and returns the report, or an error if anything leaked.
#[derive(Debug)]
pub struct Containerd {
    inner: Option<Running>,
}

#[derive(Debug)]
struct Running {
    layout: Layout,
    run_name: String,
    child: Child,
    options: Options,
    cri: Cri,
    startup: Duration,
}

/// Names the directory where `cargo xtask` collects a failed suite's debugging material.
pub const ARTIFACTS_ENV: &str = "XTASK_ARTIFACTS_DIR";

/// Keeps containerd's log of a failed run (`log`, read before teardown removed it) under
/// `$XTASK_ARTIFACTS_DIR/<run name>/`, with why it was kept, so the failure can be debugged
/// after every process and file of the run is gone. Does nothing outside the runner.
fn keep_for_debugging(run_name: &str, log: &[u8], why: &str) {
    if let Some(dir) = std::env::var_os(ARTIFACTS_ENV) {
        keep_in(&PathBuf::from(dir).join(run_name), log, why);
    }
}

/// Keeps what CRI lists (pods and containers with their states) at the moment of a
/// failure, next to the log [`keep_for_debugging`] keeps; asked on a connection of its own,
/// since the caller's runtime may be the one that is stuck.
fn keep_cri_listing(run_name: &str, socket: &Path, timeout: Duration) {
    let Some(dir) = std::env::var_os(ARTIFACTS_ENV) else {
        return;
    };
    let text = cri_listing(socket, timeout);
    let dir = PathBuf::from(dir).join(run_name);
    if let Err(err) =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("cri.txt"), text))
    {
        eprintln!(
            "containerd-harness: could not keep the CRI listing in {}: {err}",
            dir.display()
        );
    }
}

/// The pods and containers CRI on `socket` lists, or why there is no listing.
fn cri_listing(socket: &Path, timeout: Duration) -> String {
    let listing = std::thread::scope(|scope| {
        scope
            .spawn(|| -> std::result::Result<String, String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("no runtime to ask CRI with: {e}"))?;
                runtime.block_on(async {
                    let client = CriClient::connect(socket, timeout)
                        .await
                        .map_err(|e| format!("CRI did not answer: {}", Chain(&e)))?;
                    let pods = client
                        .list_pod_sandbox(ListPodSandboxRequest::default())
                        .await
                        .map_err(|e| format!("ListPodSandbox failed: {}", Chain(&e)))?;
                    let containers = client
                        .list_containers(ListContainersRequest::default())
                        .await
                        .map_err(|e| format!("ListContainers failed: {}", Chain(&e)))?;
                    Ok(format!("{pods:#?}\n\n{containers:#?}\n"))
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the CRI listing thread panicked".to_string()))
    });
    listing.unwrap_or_else(|why| format!("no CRI listing: {why}\n"))
}

fn keep_in(dir: &Path, log: &[u8], why: &str) {
    // Debugging material must never turn a test's failure into a different one.
    let kept = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join("containerd.log"), log))
        .and_then(|()| std::fs::write(dir.join("why.txt"), format!("{why}\n")));
    match kept {
        Ok(()) => eprintln!(
            "containerd-harness: kept containerd's log in {}",
            dir.display()
        ),
        Err(err) => eprintln!(
            "containerd-harness: could not keep containerd's log in {}: {err}",
            dir.display()
        ),
    }
}

/// Distinguishes the private directories of one process.
static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(0);

impl Containerd {
    /// Starts a private containerd under `assets.run_dir` and waits until it is ready:
    /// creates `<run dir>/ctrd-<pid>-<n>` with containerd's root, state, sockets, runc
    /// root and NRI directories, builds and imports the pause and busybox images, and
    /// connects a CRI client. On failure everything created so far is removed again.
    pub async fn start(assets: &Assets, options: Options) -> Result<Self> {
        let started = Instant::now();
        // containerd would fail later and only say why in its log.
        if !rustix::process::geteuid().is_root() {
            return Err(Error::NotRoot);
        }
        let dir = allocate_dir(&assets.run_dir)?;
        // Torn down if start fails, panics or is cancelled part-way.
        let mut guard = StartGuard {
            dir: Some(dir.clone()),
            child: None,
            grace: options.stop_grace,
        };
        let cri = start_in(assets, &options, &dir, &mut guard.child).await?;
        let child = guard.child.take().ok_or(Error::NotRunning)?;
        guard.dir = None;
        let run_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            inner: Some(Running {
                layout: Layout::new(dir),
                run_name,
                child,
                options,
                cri,
                startup: started.elapsed(),
            }),
        })
    }

    fn running(&self) -> &Running {
        // `inner` is only taken by `shutdown` (which consumes self) and `drop`.
        self.inner.as_ref().expect("Containerd used after shutdown")
    }

    /// The private directory (`<run dir>/ctrd-<pid>-<n>`).
    pub fn dir(&self) -> &Path {
        self.running().layout.dir()
    }

    /// All paths of the private directory (NRI plugin directories, runc root, ...).
    pub fn layout(&self) -> &Layout {
        &self.running().layout
    }

    /// The run name: the private directory's name, also the name of its cgroup subtree.
    pub fn run_name(&self) -> &str {
        &self.running().run_name
    }

    /// containerd's gRPC (and CRI) socket.
    pub fn grpc_socket(&self) -> PathBuf {
        self.running().layout.grpc_socket()
    }

    /// The NRI socket for plugins.
    pub fn nri_socket(&self) -> PathBuf {
        self.running().layout.nri_socket()
    }

    /// containerd's log file (stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.running().layout.log()
    }

    /// The last `lines` lines of containerd's log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        daemon::log_tail(&self.log_path(), lines)
    }

    /// The cgroup every pod of this containerd is placed under: `/nri-e2e/<run name>`
    /// (each pod in `<this>/pod<uid>`, each container in `<pod parent>/<container id>`).
    pub fn cgroup_parent(&self) -> String {
        run_subtree(self.run_name())
    }

    /// containerd's process id.
    pub fn pid(&self) -> u32 {
        self.running().child.id()
    }

    /// How long [`Containerd::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.running().startup
    }

    /// The workload image (busybox applets in `/bin`, default command `sh`).
    pub fn busybox_image(&self) -> &'static str {
        BUSYBOX_IMAGE
    }

    /// The pinned sandbox image.
    pub fn pause_image(&self) -> &'static str {
        PAUSE_IMAGE
    }

    /// Pod and container operations through CRI.
    pub fn cri(&self) -> &Cri {
        &self.running().cri
    }

    /// Removes all pods and containers, stops containerd, cleans up every process, mount,
    /// cgroup and the private directory, and checks for leaks. Anything left behind, or
    /// any failed step, is an [`Error::Teardown`] carrying the report.
    pub async fn shutdown(mut self) -> Result<TeardownReport> {
        let running = self.inner.take().ok_or(Error::NotRunning)?;
        let run_name = running.run_name.clone();
        let log = std::fs::read(running.layout.log()).unwrap_or_default();
        let report = running.teardown().await;
        if report.is_clean() {
            Ok(report)
        } else {
            keep_for_debugging(
                &run_name,
                &log,
                &format!("teardown was incomplete:\n{report}"),
            );
            Err(Error::Teardown {
                report: report.to_string(),
            })
        }
    }
}

impl Running {
    async fn teardown(self) -> TeardownReport {
        let started = Instant::now();
        let Running {
            layout,
            mut child,
            options,
            cri,
            ..
        } = self;
        let timeout = options.cri_timeout;
        // The existing connection first; a fresh one if containerd stopped answering on it.
        let outcome = match tokio::time::timeout(timeout * 2, cri.remove_all()).await {
            Ok(outcome) => Some(outcome),
            Err(_) => remove_all_via_cri(layout.dir(), &layout.grpc_socket(), timeout).await,
        };
        drop(cri);
        let dir = layout.dir().to_path_buf();
        let grace = options.stop_grace;
        let host_step = tokio::task::spawn_blocking(move || {
            let mut report = TeardownReport::new_for(&dir);
            teardown_host(&dir, Some(&mut child), grace, &mut report);
            report
        })
        .await;
        let mut report = match host_step {
            Ok(report) => report,
            Err(e) => {
                let mut report = TeardownReport::new_for(layout.dir());
                report
                    .errors
                    .push(format!("teardown task failed: {}", Chain(&e)));
                report
            }
        };
        report.cri = outcome;
        report.duration = started.elapsed();
        report
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let Some(running) = self.inner.take() else {
            return;
        };
        let Running {
            layout,
            mut child,
            options,
            cri,
            run_name,
            ..
        } = running;
        if std::thread::panicking() {
            keep_cri_listing(&run_name, &layout.grpc_socket(), options.cri_timeout);
            let log = std::fs::read(layout.log()).unwrap_or_default();
            keep_for_debugging(&run_name, &log, "a test panicked while this containerd ran");
        }
        // The CRI client's connection lives on the caller's runtime, which may be blocked
        // right here; teardown_blocking uses a fresh one on a thread of its own.
        drop(cri);
        let report = teardown_blocking(
            layout.dir(),
            Some(&mut child),
            options.stop_grace,
            options.cri_timeout,
        );
        if !report.is_clean() {
            eprintln!("containerd-harness: teardown in Drop was incomplete:\n{report}");
        }
    }
}

/// Creates `<run dir>/ctrd-<pid>-<n>` (skipping names a crashed earlier process with the
/// same pid left behind).
fn allocate_dir(run_dir: &Path) -> Result<PathBuf> {
    let pid = std::process::id();
    loop {
        let n = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir = run_dir.join(format!("{PRIVATE_DIR_PREFIX}{pid}-{n}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(format!("creating {}", dir.display()))(e)),
        }
    }
}

/// Everything of `start` after the directory exists; the child goes into `child` as soon
/// as it is spawned, so the guard can stop it.
async fn start_in(
    assets: &Assets,
    options: &Options,
    dir: &Path,
    child: &mut Option<Child>,
) -> Result<Cri> {
    let layout = Layout::new(dir);
    layout.check_socket_paths()?;
    layout.create_dirs()?;

    let applets = daemon::busybox_applets(&assets.busybox).await?;
    let busybox = std::fs::read(&assets.busybox)
        .map_err(io_err(format!("reading {}", assets.busybox.display())))?;
    let mut extra = Vec::new();
    for (name, path) in &options.workload_binaries {
        let bytes = std::fs::read(path).map_err(io_err(format!("reading {}", path.display())))?;
        extra.push(ExtraBinary {
            name: name.clone(),
            bytes,
        });
    }
    let archive = build_archive(
        &busybox,
        &applets,
        &extra,
        &[ImageSpec::pause(), ImageSpec::busybox()],
    )?;
    let archive_path = layout.images().join("images.tar");
    std::fs::write(&archive_path, &archive.bytes)
        .map_err(io_err(format!("writing {}", archive_path.display())))?;

    let config = render(
        &layout,
        &ConfigParams {
            runc: &assets.runc,
            sandbox_image: PAUSE_IMAGE,
            nri_registration_timeout: options.nri_registration_timeout,
            nri_request_timeout: options.nri_request_timeout,
            log_level: &options.log_level,
        },
    )?;
    std::fs::write(layout.config(), config)
        .map_err(io_err(format!("writing {}", layout.config().display())))?;

    let spawned = child.insert(daemon::spawn(assets, &layout)?);
    daemon::wait_ready(assets, &layout, spawned, options.ready_timeout).await?;

    daemon::import_images(assets, &layout, &archive_path).await?;
    let names = daemon::image_names(assets, &layout).await?;
    for image in &archive.images {
        if !names.contains(&image.name) {
            return Err(Error::ImageMissing {
                image: image.name.clone(),
                present: names,
            });
        }
    }

    let client = CriClient::connect(&layout.grpc_socket(), options.cri_timeout).await?;
    // CRI learns about imported images from events, asynchronously: wait until it sees
    // both, or the first RunPodSandbox could fail to find the sandbox image.
    let deadline = Instant::now() + options.ready_timeout;
    for image in &archive.images {
        loop {
            let request = ImageStatusRequest {
                image: Some(CriImageSpec {
                    image: image.name.clone(),
                    ..Default::default()
                }),
                verbose: false,
            };
            if client.image_status(request).await?.image.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    reason: format!("CRI does not see the imported image {}", image.name),
                    log: layout.log(),
                    tail: daemon::log_tail(&layout.log(), 30),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let run_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Cri::new(client, run_name, layout.pod_logs()))
}

/// Tears down a partly started instance unless disarmed (by clearing `dir`).
struct StartGuard {
    dir: Option<PathBuf>,
    child: Option<Child>,
    grace: Duration,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let report = teardown_blocking(
                &dir,
                self.child.as_mut(),
                self.grace,
                Duration::from_secs(10),
            );
            if !report.is_clean() {
                eprintln!(
                    "containerd-harness: cleanup after a failed start was incomplete:\n{report}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_containerd_the_listing_says_why_there_is_none() {
        let tmp = tempfile::tempdir().expect("a scratch dir");
        let text = cri_listing(&tmp.path().join("no.sock"), Duration::from_millis(200));
        assert!(
            text.starts_with("no CRI listing: CRI did not answer"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_runs_log_is_kept_with_the_reason() {
        let tmp = tempfile::tempdir().expect("a scratch dir");
        let dir = tmp.path().join("ctrd-1-0");
        keep_in(&dir, b"level=error msg=\"shim died\"\n", "a test panicked");
        assert_eq!(
            std::fs::read_to_string(dir.join("containerd.log")).expect("the kept log"),
            "level=error msg=\"shim died\"\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("why.txt")).expect("the reason"),
            "a test panicked\n"
        );
    }
}
