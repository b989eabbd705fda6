//! One run of nri-init: find the runtime and the file, edit, prove containerd accepts the
//! result, install it, restart and verify, and roll back when that fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::containerd::{self, Candidate};
use crate::diff;
use crate::edit::{self, NriView, Settings, nri_view};

use crate::error::{Error, Result};
use crate::install::{Installed, Staged};
use crate::keys::DEFAULT_SOCKET_PATH;
use crate::plan::{Plan, binary, plan_containerd, plan_k3s, runtime};
use crate::report::{Report, Runtime};
use crate::restart::{Restart, restart};
use crate::version::ContainerdVersion;

/// Which runtime's configuration is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// k3s when `--containerd-config` is a directory, or when none is given and k3s's
    /// directory exists; containerd otherwise.
    Auto,
    /// containerd's own `config.toml`.
    Containerd,
    /// k3s's template directory.
    K3s,
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which runtime.
    pub mode: Mode,
    /// The configuration file (containerd) or template directory (k3s); `None`: the
    /// runtime's default.
    pub config: Option<PathBuf>,
    /// containerd's version, when stated.
    pub containerd_version: Option<ContainerdVersion>,
    /// The containerd binary to ask; `None`: `containerd` on `PATH` (k3s: its own).
    pub containerd_binary: Option<PathBuf>,
    /// What NRI's table must say.
    pub settings: Settings,
    /// Print the diff and change nothing.
    pub dry_run: bool,
    /// Restart containerd after installing, and how.
    pub restart: Option<Restart>,
    /// How long the restart and the NRI socket may take.
    pub timeout: Duration,
    /// Where processes are looked up (`/proc`).
    pub proc: PathBuf,
    /// Look for a containerd binary when none is given (off: only `containerd_binary`).
    pub find_binary: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mode: Mode::Auto,
            config: None,
            containerd_version: None,
            containerd_binary: None,
            settings: Settings::default(),
            dry_run: false,
            restart: None,
            timeout: Duration::from_secs(60),
            proc: PathBuf::from("/proc"),
            find_binary: true,
        }
    }
}

/// Runs nri-init.
///
/// # Errors
/// Every [`Error`]; [`Error::class`] says whether anything was changed.
pub fn run(options: &Options) -> Result<Report> {
    let runtime = runtime(options);
    let binary = binary(options, runtime);
    let containerd = match (options.containerd_version, &binary) {
        (Some(version), _) => Some(version),
        (None, Some(binary)) => Some(containerd::version(binary)?),
        (None, None) => None,
    };
    if let Some(version) = containerd
        && !version.has_nri()
    {
        return Err(Error::ContainerdTooOld { version });
    }
    let plan = match runtime {
        Runtime::Containerd => plan_containerd(options, containerd)?,
        Runtime::K3s => plan_k3s(options, containerd)?,
    };
    let name = plan.target.display().to_string();
    let mut report = Report {
        runtime,
        file: plan.target.clone(),
        containerd,
        table: plan.table.clone(),
        changes: plan.edited.changes.clone(),
        diff: if plan.edited.is_unchanged() {
            String::new()
        } else {
            diff::unified(
                name.trim_start_matches('/'),
                &plan.target_text,
                &plan.edited.text,
            )
        },
        dry_run: options.dry_run,
        validated: false,
        backup: None,
        restarted: None,
        notes: plan.notes.clone(),
    };
    if options.dry_run {
        return Ok(report);
    }
    if report.is_unchanged() {
        return restart_if_not_serving(options, &plan, report);
    }

    // A symlinked file is replaced where it points, so the link stays.
    let write_to = std::fs::canonicalize(&plan.target).unwrap_or_else(|_| plan.target.clone());
    let staged = Staged::write(&write_to, &plan.edited.text)?;
    if runtime == Runtime::Containerd
        && let Some(binary) = &binary
    {
        let main_text = if plan.target == plan.main {
            plan.edited.text.as_str()
        } else {
            plan.main_text.as_deref().unwrap_or_default()
        };
        let view = containerd::effective_nri(
            binary,
            &Candidate {
                main: &plan.main,
                main_text,
                imports: &plan.imports,
                target: &plan.target,
                staged: staged.path(),
            },
        )?;
        check_effective(&plan.main, &view, &options.settings)?;
        report.validated = true;
    } else if runtime == Runtime::K3s {
        report.notes.push(
            "a k3s template is not a configuration containerd can load; k3s renders and loads it when restarted".into(),
        );
    } else {
        report.notes.push(
            "no containerd binary found: the new file was not loaded by containerd before it was installed (pass --containerd-binary)".into(),
        );
    }
    let installed = staged.install()?;
    report.backup = installed.backup.clone();

    let Some(how) = &options.restart else {
        report
            .notes
            .push("restart containerd for NRI to take effect (or pass --restart)".into());
        return Ok(report);
    };
    let socket = socket_of(&plan, &options.settings);
    match restart(
        how,
        &options.proc,
        &plan.served_config,
        Some(&socket),
        options.timeout,
    ) {
        Ok(restarted) => {
            report.restarted = Some(restarted);
            Ok(report)
        }
        Err(cause) => Err(roll_back(options, how, &plan, &installed, cause)),
    }
}

/// A file that already enables NRI, on a containerd that does not serve NRI yet (it was
/// not restarted since): restarts it when asked, as a changed file would.
fn restart_if_not_serving(options: &Options, plan: &Plan, mut report: Report) -> Result<Report> {
    let Some(how) = &options.restart else {
        return Ok(report);
    };
    let socket = socket_of(plan, &options.settings);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Ok(report);
    }
    report.notes.push(format!(
        "the file already enables NRI but {} does not accept connections: restarting",
        socket.display()
    ));
    report.restarted = Some(restart(
        how,
        &options.proc,
        &plan.served_config,
        Some(&socket),
        options.timeout,
    )?);
    Ok(report)
}

fn roll_back(
    options: &Options,
    how: &Restart,
    plan: &Plan,
    installed: &Installed,
    cause: Error,
) -> Error {
    tracing::warn!(error = %cause_chain::render(&cause), "enabling NRI failed; rolling back");
    let rollback = match installed.restore() {
        Err(e) => Some(e),
        Ok(()) => restart(
            how,
            &options.proc,
            &plan.served_config,
            None,
            options.timeout,
        )
        .err(),
    };
    match rollback {
        None => Error::RolledBack {
            path: installed.path.clone(),
            cause: Box::new(cause),
        },
        Some(rollback) => Error::RollbackFailed {
            path: installed.path.clone(),
            backup: installed.backup.as_ref().map_or_else(
                || "(none: the file was new)".into(),
                |b| b.display().to_string(),
            ),
            rollback: cause_chain::render(&rollback),
            cause: Box::new(cause),
        },
    }
}

/// Whether containerd's effective configuration enables NRI as asked.
fn check_effective(main: &Path, view: &NriView, settings: &Settings) -> Result<()> {
    let not = |detail: String| Error::NotEffective {
        path: main.to_path_buf(),
        detail,
    };
    if view.disable != Some(false) {
        return Err(not(format!("NRI disabled (disable = {:?})", view.disable)));
    }
    if view.disable_connections == Some(true) {
        return Err(not("disable_connections = true".into()));
    }
    if let Some(wanted) = &settings.socket_path
        && view.socket_path.as_deref() != Some(wanted)
    {
        return Err(not(format!("socket_path = {:?}", view.socket_path)));
    }
    if let Some(wanted) = &settings.plugin_path
        && view.plugin_path.as_deref() != Some(wanted)
    {
        return Err(not(format!("plugin_path = {:?}", view.plugin_path)));
    }
    Ok(())
}

/// The NRI socket the restarted containerd must serve: the one asked for, else the
/// file's, else containerd's default.
fn socket_of(plan: &Plan, settings: &Settings) -> PathBuf {
    if let Some(socket) = &settings.socket_path {
        return PathBuf::from(socket);
    }
    let from_file = edit::parse(&plan.target, &plan.edited.text)
        .ok()
        .and_then(|doc| nri_view(&doc, plan.nri_table)?.socket_path);
    PathBuf::from(from_file.unwrap_or_else(|| DEFAULT_SOCKET_PATH.to_owned()))
}
