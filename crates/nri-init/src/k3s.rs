//! k3s: it writes containerd's `config.toml` itself on every start, from a Go template in
//! the same directory when one exists (`config-v3.toml.tmpl` for containerd 2.x,
//! `config.toml.tmpl` for 1.7). `{{ template "base" . }}` in a template includes k3s's
//! own default, so a template made of that line plus NRI's table enables NRI and keeps
//! everything else k3s generates.
//!
//! Template lines (those holding `{{`) are hidden in comments while the rest is edited as
//! TOML, and restored afterwards, byte for byte.

use std::path::{Path, PathBuf};

use crate::edit::{self, Change, Edited, Settings};
use crate::error::{Error, Result};
use crate::version::{ContainerdVersion, Dialect, dialect};

/// k3s's containerd directory.
pub const DEFAULT_DIR: &str = "/var/lib/rancher/k3s/agent/etc/containerd";
/// The containerd binary k3s unpacks (a link to its multi-call binary).
pub const DEFAULT_BINARY: &str = "/var/lib/rancher/k3s/data/current/bin/containerd";
/// The template for containerd 2.x (config version 3).
pub const TEMPLATE_V3: &str = "config-v3.toml.tmpl";
/// The template for containerd 1.7 (config version 2).
pub const TEMPLATE_V2: &str = "config.toml.tmpl";
/// The file k3s generates.
pub const GENERATED: &str = "config.toml";
/// What a new template starts with: k3s's whole default.
pub const BASE: &str = "{{ template \"base\" . }}\n";

/// Marks a hidden template line; chosen to never occur in a real file.
const HIDDEN: &str = "#nri-init:template#";

/// The template nri-init edits in `dir`: the existing one for this containerd, or the
/// name a new one gets. The generated file's `version` decides when containerd's version
/// is unknown.
pub fn template_path(dir: &Path, containerd: Option<ContainerdVersion>) -> PathBuf {
    let v3 = dir.join(TEMPLATE_V3);
    let v2 = dir.join(TEMPLATE_V2);
    let wants_v3 = match containerd {
        Some(version) => version.major >= 2,
        None => generated_version(dir) == Some(3) || (v3.exists() && !v2.exists()),
    };
    if wants_v3 { v3 } else { v2 }
}

/// The `version` of the file k3s generated last (`None`: absent or unreadable).
pub fn generated_version(dir: &Path) -> Option<i64> {
    let path = dir.join(GENERATED);
    let text = std::fs::read_to_string(&path).ok()?;
    edit::file_version(&path, &edit::parse(&path, &text).ok()?).ok()?
}

/// The dialect of `template`: its own `version`, else the one the base it includes has
/// (3 in `config-v3.toml.tmpl`, 2 otherwise).
///
/// # Errors
/// As [`edit::parse`] and [`dialect`].
pub fn template_dialect(
    template: &Path,
    text: &str,
    containerd: Option<ContainerdVersion>,
) -> Result<Dialect> {
    let masked = mask(text);
    let own = edit::file_version(template, &edit::parse(template, &masked)?)?;
    let version = own.or_else(|| {
        let v3 = template.file_name().is_some_and(|n| n == TEMPLATE_V3);
        Some(if v3 { 3 } else { 2 })
    });
    dialect(template, version, containerd)
}

/// [`edit::enable`] on a template.
///
/// # Errors
/// As [`edit::enable`].
pub fn enable(
    template: &Path,
    text: &str,
    dialect: &Dialect,
    settings: &Settings,
) -> Result<Edited> {
    let masked = mask(text);
    let edited = edit::enable(template, &masked, dialect, settings)?;
    let inserts = edited
        .changes
        .iter()
        .any(|c| matches!(c, Change::Set { old: None, .. }));
    // A key appended to a table with directives in it could land inside an `{{ if }}`.
    if inserts && nri_table_has_directives(&masked, dialect) {
        return Err(Error::DirectivesInNriTable {
            path: template.to_path_buf(),
        });
    }
    if edited.is_unchanged() {
        return Ok(Edited {
            text: text.to_owned(),
            ..edited
        });
    }
    Ok(Edited {
        text: unmask(&edited.text),
        ..edited
    })
}

/// Whether a hidden template line sits between NRI's table header and the next header.
fn nri_table_has_directives(masked: &str, dialect: &Dialect) -> bool {
    let [plugins, id] = dialect.table;
    let wanted = format!("[{plugins}.{id}]");
    let mut inside = false;
    for line in masked.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let normalized: String = trimmed
                .split('#')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !matches!(c, '\'' | '"' | ' ' | '\t'))
                .collect();
            inside = normalized == wanted;
        } else if inside && line.starts_with(HIDDEN) {
            return true;
        }
    }
    false
}

fn mask(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.contains("{{") {
                format!("{HIDDEN}{line}")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

fn unmask(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| line.strip_prefix(HIDDEN).unwrap_or(line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::NRI_PLUGIN;

    #[test]
    fn a_base_only_template_gets_nri_s_table_after_the_base() {
        let path = Path::new("/k/config-v3.toml.tmpl");
        let d = template_dialect(path, BASE, None).expect("dialect");
        assert_eq!(d.table, ["plugins", NRI_PLUGIN]);
        let edited = enable(path, BASE, &d, &Settings::default()).expect("edited");
        assert_eq!(
            edited.text,
            "{{ template \"base\" . }}\n\n[plugins.'io.containerd.nri.v1.nri']\ndisable = false\ndisable_connections = false\n"
        );
    }

    #[test]
    fn template_lines_inside_nri_s_table_survive_an_in_place_edit() {
        let text = "{{ template \"base\" . }}\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n  disable_connections = false\n{{- if .X }}\n  socket_path = \"{{ .Socket }}\"\n{{ end -}}\n";
        let path = Path::new("/k/config.toml.tmpl");
        let d = template_dialect(path, text, None).expect("dialect");
        let edited = enable(path, text, &d, &Settings::default()).expect("edited");
        assert_eq!(
            edited.text,
            text.replace("disable = true", "disable = false")
        );
    }

    #[test]
    fn a_key_that_would_land_among_template_lines_is_refused() {
        let text = "[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n{{- if .X }}\n  socket_path = \"/s\"\n{{ end -}}\n";
        let path = Path::new("/k/config.toml.tmpl");
        let d = template_dialect(path, text, None).expect("dialect");
        let err = enable(path, text, &d, &Settings::default()).expect_err("refused");
        assert!(matches!(err, Error::DirectivesInNriTable { .. }), "{err}");
    }

    #[test]
    fn the_template_follows_containerd_s_version() {
        let dir = tempfile::tempdir().expect("scratch");
        let two: ContainerdVersion = "2.0".parse().expect("version");
        let one: ContainerdVersion = "1.7".parse().expect("version");
        assert_eq!(
            template_path(dir.path(), Some(two)),
            dir.path().join(TEMPLATE_V3)
        );
        assert_eq!(
            template_path(dir.path(), Some(one)),
            dir.path().join(TEMPLATE_V2)
        );
        std::fs::write(dir.path().join(GENERATED), "version = 3\n").expect("generated");
        assert_eq!(
            template_path(dir.path(), None),
            dir.path().join(TEMPLATE_V3)
        );
    }
}
