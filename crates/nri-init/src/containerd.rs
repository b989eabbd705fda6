//! Asking a containerd binary: its version, and whether it accepts a configuration
//! (`containerd --config F config dump`, which loads the file and its imports the way
//! the daemon does and prints the effective result).

use std::path::{Path, PathBuf};
use std::process::Command;

use toml_edit::{Array, DocumentMut, Item, Value};

use crate::edit::{NriView, nri_view, parse};
use crate::error::{Error, Result, io_err};
use crate::keys::{NRI_PLUGIN, PLUGINS};
use crate::version::ContainerdVersion;

/// `name` on `PATH`, if it is there.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `binary --version`, parsed.
///
/// # Errors
/// [`Error::Spawn`] when it cannot run, [`Error::VersionOutput`] when it prints no
/// version.
pub fn version(binary: &Path) -> Result<ContainerdVersion> {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|source| Error::Spawn {
            program: binary.display().to_string(),
            source,
        })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    ContainerdVersion::from_version_output(&text).ok_or_else(|| Error::VersionOutput {
        binary: binary.to_path_buf(),
        output: text.trim().to_owned(),
    })
}

/// What is checked: the main file's text to load, the imports it resolves to, and which
/// of the files is replaced by a staged one.
#[derive(Debug)]
pub struct Candidate<'a> {
    /// The main configuration file (names the errors; its directory holds the check file).
    pub main: &'a Path,
    /// The main file's text as it would be installed.
    pub main_text: &'a str,
    /// The resolved imports, in order.
    pub imports: &'a [PathBuf],
    /// The file the edit replaces.
    pub target: &'a Path,
    /// The staged new text of `target`.
    pub staged: &'a Path,
}

/// Has `binary` load the candidate configuration and returns NRI's effective settings.
///
/// Without imports and with the main file as the target, the staged file itself is
/// loaded. Otherwise a check file beside the main file (removed afterwards) holds the
/// main text with `imports` spelled out, the staged file in the target's place.
///
/// # Errors
/// [`Error::Rejected`] when containerd refuses it, [`Error::Spawn`], [`Error::Io`].
pub fn effective_nri(binary: &Path, candidate: &Candidate<'_>) -> Result<NriView> {
    let check_file;
    let load = if candidate.imports.is_empty() && candidate.target == candidate.main {
        candidate.staged
    } else {
        let mut doc = parse(candidate.main, candidate.main_text)?;
        if !candidate.imports.is_empty() {
            let mut imports = Array::new();
            for import in candidate.imports {
                let path = if import == candidate.target {
                    candidate.staged
                } else {
                    import
                };
                imports.push(path.to_string_lossy().as_ref());
            }
            doc["imports"] = Item::Value(Value::Array(imports));
        }
        let name = candidate
            .main
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = candidate
            .main
            .with_file_name(format!(".{name}.nri-init-check"));
        std::fs::write(&path, doc.to_string()).map_err(io_err("writing", &path))?;
        check_file = RemoveOnDrop(path);
        check_file.0.as_path()
    };
    let output = Command::new(binary)
        .arg("--config")
        .arg(load)
        .args(["config", "dump"])
        .output()
        .map_err(|source| Error::Spawn {
            program: binary.display().to_string(),
            source,
        })?;
    let rejected = |stderr: String| Error::Rejected {
        path: candidate.target.to_path_buf(),
        stderr,
    };
    if !output.status.success() {
        return Err(rejected(last_lines(&output.stderr)));
    }
    let dump = String::from_utf8_lossy(&output.stdout);
    let doc: DocumentMut = dump
        .parse()
        .map_err(|e| rejected(format!("its dump is not TOML: {e}")))?;
    // containerd dumps version 2 (1.7) or 3 (2.x), both with the full plugin id.
    Ok(nri_view(&doc, [PLUGINS, NRI_PLUGIN]).unwrap_or_default())
}

fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
