//! Facts about this workspace: where it is, where build output goes, whether we are in CI.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use xshell::Shell;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
///
/// Found at run time, never fixed when xtask is built: with a shared `CARGO_TARGET_DIR`
/// one xtask binary serves several checkouts, and each run must test its own.
///
/// # Panics
/// If no workspace can be found; `main` calls [`locate`] first to report that as an error.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| locate().unwrap_or_else(|err| panic!("{err:#}")))
}

/// Finds the workspace root: the parent of the package directory cargo ran xtask for
/// (`cargo run` sets `CARGO_MANIFEST_DIR` at run time), or else the nearest directory at or
/// above the current one whose `Cargo.toml` declares a `[workspace]`.
pub fn locate() -> anyhow::Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let cwd = std::env::current_dir();
    locate_from(manifest_dir.as_deref(), cwd.as_deref().ok()).with_context(|| match &cwd {
        Ok(cwd) => format!(
            "no Cargo workspace at or above {}; run `cargo xtask` inside a checkout of this project",
            cwd.display()
        ),
        Err(err) => format!(
            "the current directory cannot be read ({err}); it may have been deleted: cd into a \
             checkout of this project and rerun"
        ),
    })
}

fn locate_from(manifest_dir: Option<&Path>, cwd: Option<&Path>) -> Option<PathBuf> {
    let from_cargo = manifest_dir
        .and_then(Path::parent)
        .filter(|dir| is_workspace_root(dir));
    from_cargo.map(Path::to_path_buf).or_else(|| {
        cwd?.ancestors()
            .find(|dir| is_workspace_root(dir))
            .map(Path::to_path_buf)
    })
}

fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.lines().any(|line| line.trim() == "[workspace]"))
}

/// A shell whose current directory is the workspace root.
pub fn shell() -> anyhow::Result<Shell> {
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(root());
    Ok(sh)
}

/// Cargo's target directory for this workspace (honours `CARGO_TARGET_DIR` and config).
pub fn target_dir() -> &'static Path {
    static TARGET: OnceLock<PathBuf> = OnceLock::new();
    TARGET.get_or_init(|| {
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            // Like cargo, a relative CARGO_TARGET_DIR is relative to where we were started.
            return std::env::current_dir().unwrap_or_default().join(dir);
        }
        // `cargo xtask` runs the binary from `<target>/<profile>/xtask`, and cargo marks its
        // target directories with CACHEDIR.TAG: that answers without spawning cargo.
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
            .filter(|dir| dir.join("CACHEDIR.TAG").is_file())
        {
            return dir;
        }
        cargo_metadata::MetadataCommand::new()
            .no_deps()
            .current_dir(root())
            .exec()
            .map(|meta| meta.target_directory.into_std_path_buf())
            .unwrap_or_else(|_| root().join("target"))
    })
}

/// Where the runner keeps its own files (logs, caches, archives) inside the target dir.
pub fn xtask_dir() -> PathBuf {
    target_dir().join("xtask")
}

/// Names the directory for step logs, when not `<target>/xtask/logs` (`--container` points
/// the runner inside at the host's, so logs land where the README says).
pub const LOG_DIR_ENV: &str = "XTASK_LOG_DIR";

/// Where every step's full output goes: `<target>/xtask/logs`, or `$XTASK_LOG_DIR`.
pub fn log_dir() -> PathBuf {
    std::env::var_os(LOG_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask_dir().join("logs"))
}

/// Whether we run under CI (`CI=true` or `CI=1`, as GitHub Actions and most CIs set it).
pub fn in_ci() -> bool {
    is_truthy(std::env::var("CI").ok().as_deref())
}

fn is_truthy(value: Option<&str>) -> bool {
    matches!(
        value.map(str::to_ascii_lowercase).as_deref(),
        Some("true" | "1" | "yes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    /// A workspace `<dir>/ws` with an `xtask` member, and a plain package beside it.
    fn workspaces() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("xtask/src")).unwrap();
        std::fs::write(
            ws.join("Cargo.toml"),
            "[workspace]\nmembers = [\"xtask\"]\n",
        )
        .unwrap();
        std::fs::write(ws.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\n").unwrap();
        std::fs::create_dir_all(dir.path().join("other")).unwrap();
        std::fs::write(
            dir.path().join("other/Cargo.toml"),
            "[package]\nname = \"other\"\n# [workspace] in a comment is not one\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn the_package_cargo_ran_us_for_wins_over_the_current_directory() {
        let dir = workspaces();
        let ws = dir.path().join("ws");
        let found = locate_from(Some(&ws.join("xtask")), Some(dir.path()));
        assert_eq!(found, Some(ws));
    }

    #[test]
    fn without_cargo_the_nearest_workspace_above_the_current_directory_is_the_root() {
        let dir = workspaces();
        let ws = dir.path().join("ws");
        assert_eq!(
            locate_from(None, Some(&ws.join("xtask/src"))),
            Some(ws.clone())
        );
        // A manifest dir that is not below a workspace (a deleted or foreign checkout) is
        // not trusted.
        let gone = dir.path().join("deleted/xtask");
        assert_eq!(locate_from(Some(&gone), Some(&ws)), Some(ws));
    }

    #[test]
    fn a_package_that_is_not_a_workspace_is_not_a_root() {
        let dir = workspaces();
        assert_eq!(locate_from(None, Some(&dir.path().join("other"))), None);
    }

    #[test]
    fn target_dir_is_cargos() {
        // Tests run from `<target>/debug/deps/`, so the answer comes from cargo metadata
        // here; it must be the directory cargo itself reports (whether or not cargo tagged
        // it: a tree copied by cargo-mutants has no CACHEDIR.TAG).
        let cargo = cargo_metadata::MetadataCommand::new()
            .no_deps()
            .current_dir(root())
            .exec()
            .expect("cargo metadata")
            .target_directory
            .into_std_path_buf();
        assert_eq!(target_dir(), cargo);
    }

    #[test]
    fn ci_values() {
        assert!(is_truthy(Some("true")));
        assert!(is_truthy(Some("TRUE")));
        assert!(is_truthy(Some("1")));
        assert!(!is_truthy(Some("false")));
        assert!(!is_truthy(Some("")));
        assert!(!is_truthy(None));
    }
}
