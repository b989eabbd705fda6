//! Before any change: which runtime, which file, what it says now, and the edit to make.

use std::path::{Path, PathBuf};

use crate::apply::{Mode, Options};
use crate::containerd;
use crate::edit::{self, Edited, nri_view};
use crate::error::{Error, Result, io_err};
use crate::imports;
use crate::k3s;
use crate::keys::{NRI_PLUGIN, PLUGINS};
use crate::process::DEFAULT_CONFIG;
use crate::report::Runtime;
use crate::version::{ContainerdVersion, dialect, version_for_new_file};

/// The file to edit and how, before any change.
pub(crate) struct Plan {
    /// The file containerd is started with (for finding its process).
    pub(crate) served_config: PathBuf,
    /// The main file (containerd) or the template (k3s).
    pub(crate) main: PathBuf,
    pub(crate) main_text: Option<String>,
    pub(crate) imports: Vec<PathBuf>,
    pub(crate) target: PathBuf,
    pub(crate) target_text: String,
    pub(crate) edited: Edited,
    pub(crate) table: String,
    pub(crate) nri_table: [&'static str; 2],
    pub(crate) notes: Vec<String>,
}

pub(crate) fn runtime(options: &Options) -> Runtime {
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

pub(crate) fn binary(options: &Options, runtime: Runtime) -> Option<PathBuf> {
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

pub(crate) fn plan_containerd(
    options: &Options,
    containerd: Option<ContainerdVersion>,
) -> Result<Plan> {
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
    let header = edited.header.clone();
    Ok(Plan {
        served_config: main.clone(),
        main,
        main_text,
        imports,
        target,
        target_text,
        edited,
        table: header,
        nri_table: dialect.table,
        notes,
    })
}

pub(crate) fn plan_k3s(options: &Options, containerd: Option<ContainerdVersion>) -> Result<Plan> {
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
                        header: format!("{PLUGINS}.\"{NRI_PLUGIN}\""),
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
    let header = edited.header.clone();
    Ok(Plan {
        served_config: generated,
        main: template.clone(),
        main_text: existing.clone(),
        imports: Vec::new(),
        target: template,
        target_text: existing.unwrap_or_default(),
        edited,
        table: header,
        nri_table: dialect.table,
        notes,
    })
}
