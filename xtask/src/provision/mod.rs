//! Provisioning for suites: host packages, and programs fetched from Debian's archive into a
//! cache that is kept between runs (under `target/xtask/cache`; `cargo clean` empties it).

pub mod apt;
pub mod kernels;
pub mod nri_e2e;
pub mod nri_init_e2e;
pub mod python;
pub mod s3s_fs;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::project;

/// Where fetched programs are kept.
pub fn cache_dir() -> PathBuf {
    project::xtask_dir().join("cache")
}

/// `path` with `suffix` appended to its last component: `containerd-2.1.9+ds1` becomes
/// `containerd-2.1.9+ds1.partial` (where `with_extension` would cut the version at its dot).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Points `link` at `target`, replacing what was there in one step (a reader never sees the
/// link missing).
pub fn replace_symlink(target: &Path, link: &Path) -> anyhow::Result<()> {
    let parent = link
        .parent()
        .with_context(|| format!("{} has no parent directory", link.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let temporary = parent.join(format!(
        ".{}.tmp",
        link.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_file(&temporary);
    std::os::unix::fs::symlink(target, &temporary)
        .with_context(|| format!("linking {} to {}", temporary.display(), target.display()))?;
    std::fs::rename(&temporary, link).with_context(|| format!("replacing {}", link.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_keep_versions_whole() {
        assert_eq!(
            sibling(Path::new("/c/containerd-2.1.9+ds1-5"), ".partial"),
            Path::new("/c/containerd-2.1.9+ds1-5.partial")
        );
    }

    #[test]
    fn symlinks_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("sub/current");
        replace_symlink(Path::new("/first"), &link).unwrap();
        replace_symlink(Path::new("/second"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/second"));
    }
}
