//! One run of nri-init: find the runtime and the file, edit, prove containerd accepts the
//! result, install it, restart and verify, and roll back when that fails.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::containerd::{self, Candidate};
use crate::diff;
use crate::edit::{self, Change, Edited, NriView, Settings, nri_view};
use crate::error::{Error, Result, io_err, render_chain};
use crate::imports;
use crate::install::{Installed, Staged};
use crate::k3s;
use crate::keys::{DEFAULT_SOCKET_PATH, NRI_PLUGIN, PLUGINS};
use crate::process::DEFAULT_CONFIG;
use crate::restart::{Restart, Restarted, restart};
use crate::version::{ContainerdVersion, dialect, version_for_new_file};

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

/// The runtime a run worked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// containerd, configured by its own file.
    Containerd,
    /// k3s, configured by a template.
    K3s,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The runtime.
    pub runtime: Runtime,
    /// The file edited (or that would be).
    pub file: PathBuf,
    /// The containerd version the edit was made for (`None`: unknown; the file's own
    /// version decided).
    pub containerd: Option<ContainerdVersion>,
    /// NRI's table, as named in the file.
    pub table: String,
    /// What changed; empty: NRI was already enabled as asked, nothing was written.
    pub changes: Vec<Change>,
    /// The diff (also when not a dry run), empty when nothing changed.
    pub diff: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Whether containerd loaded the new file before it was installed.
    pub validated: bool,
    /// The backup of the previous file (`None`: nothing installed, or there was none).
    pub backup: Option<PathBuf>,
    /// The restart, when one was asked for and needed.
    pub restarted: Option<Restarted>,
    /// Something the admin should know (e.g. that no restart was asked for).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the file was already as asked.
    pub fn is_unchanged(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runtime = match self.runtime {
            Runtime::Containerd => "containerd",
            Runtime::K3s => "k3s",
        };
        let version = self
            .containerd
            .map_or_else(|| "version unknown".to_owned(), |v| v.to_string());
        writeln!(
            f,
            "{runtime} ({version}): {} [{}]",
            self.file.display(),
            self.table
        )?;
        if self.is_unchanged() {
            writeln!(f, "NRI is already enabled; nothing changed")?;
        } else {
            let verb = if self.dry_run {
                "would change"
            } else {
                "changed"
            };
            for change in &self.changes {
                writeln!(f, "{verb}: {change}")?;
            }
            if self.dry_run {
                write!(f, "{}", self.diff)?;
                writeln!(f, "dry run: nothing was written")?;
            } else {
                if self.validated {
                    writeln!(f, "containerd accepted the new configuration")?;
                }
                if let Some(backup) = &self.backup {
                    writeln!(f, "backup: {}", backup.display())?;
                }
            }
        }
        if let Some(r) = &self.restarted {
            write!(
                f,
                "restarted containerd: {} -> {}",
                crate::process::show(&r.before),
                r.after
            )?;
            if let Some(socket) = &r.socket {
                write!(f, "; NRI socket {} accepts connections", socket.display())?;
            }
            writeln!(f, " ({} ms)", r.took.as_millis())?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// The file to edit and how, before any change.
struct Plan {
    /// The file containerd is started with (for finding its process).
    served_config: PathBuf,
    /// The main file (containerd) or the template (k3s).
    main: PathBuf,
    main_text: Option<String>,
    imports: Vec<PathBuf>,
    target: PathBuf,
    target_text: String,
    edited: Edited,
    table: String,
    nri_table: [&'static str; 2],
    notes: Vec<String>,
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
    if report.is_unchanged() || options.dry_run {
        return Ok(report);
    }

    let staged = Staged::write(&plan.target, &plan.edited.text)?;
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
    } else if runtime == Runtime::Containerd {
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

fn roll_back(
    options: &Options,
    how: &Restart,
    plan: &Plan,
    installed: &Installed,
    cause: Error,
) -> Error {
    tracing::warn!(error = %render_chain(&cause), "enabling NRI failed; rolling back");
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
            rollback: render_chain(&rollback),
            cause: Box::new(cause),
        },
    }
}

fn runtime(options: &Options) -> Runtime {
    match options.mode {
        Mode::Containerd => Runtime::Containerd,
        Mode::K3s => Runtime::K3s,
        Mode::Auto => match &options.config {
            Some(path) if path.is_dir() => Runtime::K3s,
            Some(_) => Runtime::Containerd,
            None if Path::new(k3s::DEFAULT_DIR).is_dir() => Runtime::K3s,
            None => Runtime::Containerd,
        },
    }
}

fn binary(options: &Options, runtime: Runtime) -> Option<PathBuf> {
    if let Some(binary) = &options.containerd_binary {
        return Some(binary.clone());
    }
    if !options.find_binary {
        return None;
    }
    match runtime {
        Runtime::Containerd => containerd::on_path("containerd"),
        Runtime::K3s => Some(PathBuf::from(k3s::DEFAULT_BINARY)).filter(|p| p.exists()),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

fn plan_containerd(options: &Options, containerd: Option<ContainerdVersion>) -> Result<Plan> {
    let main = options
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let main_text = read_optional(&main)?;
    let mut notes = Vec::new();
    let (text, file_version) = match &main_text {
        Some(text) => {
            let doc = edit::parse(&main, text)?;
            (text.clone(), edit::file_version(&main, &doc)?)
        }
        None => {
            let version = containerd
                .map(version_for_new_file)
                .ok_or_else(|| Error::AmbiguousVersion { path: main.clone() })?;
            notes.push(format!("{} did not exist; it is created", main.display()));
            (format!("version = {version}\n"), Some(version))
        }
    };
    let dialect = dialect(&main, file_version, containerd)?;
    let imports = imports::resolve(&main, &edit::parse(&main, &text)?)?;
    let target = imports::target(&main, &imports, &dialect)?;
    let target_text = if target == main {
        main_text.clone().unwrap_or_default()
    } else {
        std::fs::read_to_string(&target).map_err(io_err("reading", &target))?
    };
    let source = if target == main { &text } else { &target_text };
    let edited = edit::enable(&target, source, &dialect, &options.settings)?;
    Ok(Plan {
        served_config: main.clone(),
        main,
        main_text,
        imports,
        target,
        target_text,
        edited,
        table: dialect.table_name(),
        nri_table: dialect.table,
        notes,
    })
}

fn plan_k3s(options: &Options, containerd: Option<ContainerdVersion>) -> Result<Plan> {
    let dir = options
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(k3s::DEFAULT_DIR));
    let generated = dir.join(k3s::GENERATED);
    let template = k3s::template_path(&dir, containerd);
    let existing = read_optional(&template)?;
    let mut notes = Vec::new();
    if existing.is_none()
        && let Some(text) = read_optional(&generated)?
    {
        let doc = edit::parse(&generated, &text)?;
        if let Some(view) = nri_view(&doc, [PLUGINS, NRI_PLUGIN]) {
            if view.disable == Some(false) && view.disable_connections != Some(true) {
                notes.push(format!(
                    "k3s already enables NRI in {}; no template written",
                    generated.display()
                ));
                return Ok(Plan {
                    served_config: generated,
                    main: template.clone(),
                    main_text: None,
                    imports: Vec::new(),
                    target: template,
                    target_text: String::new(),
                    edited: Edited {
                        text: String::new(),
                        changes: Vec::new(),
                    },
                    table: format!("{PLUGINS}.\"{NRI_PLUGIN}\""),
                    nri_table: [PLUGINS, NRI_PLUGIN],
                    notes,
                });
            }
            return Err(Error::K3sBaseHasNri { dir, generated });
        }
    }
    let text = existing.clone().unwrap_or_else(|| {
        notes.push(format!(
            "{} is new: k3s's default ({}) plus NRI's table",
            template.display(),
            k3s::BASE.trim()
        ));
        k3s::BASE.to_owned()
    });
    let dialect = k3s::template_dialect(&template, &text, containerd)?;
    let edited = k3s::enable(&template, &text, &dialect, &options.settings)?;
    Ok(Plan {
        served_config: generated,
        main: template.clone(),
        main_text: existing.clone(),
        imports: Vec::new(),
        target: template,
        target_text: existing.unwrap_or_default(),
        edited,
        table: dialect.table_name(),
        nri_table: dialect.table,
        notes,
    })
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
