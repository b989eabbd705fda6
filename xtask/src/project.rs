//! Facts about this workspace: where it is, where build output goes, whether we are in CI.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use xshell::Shell;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn root() -> &'static Path {
    // xtask lives one level below the root; the path is fixed when xtask is built.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
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

    #[test]
    fn target_dir_is_cargos() {
        // Tests run from `<target>/debug/deps/`, so the answer comes from cargo metadata
        // here; either way it must be the directory cargo tagged.
        assert!(
            target_dir().join("CACHEDIR.TAG").is_file(),
            "{}",
            target_dir().display()
        );
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
