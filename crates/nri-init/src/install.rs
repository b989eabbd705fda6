//! Putting a new file in place: staged next to the original (same directory, same
//! permissions, synced), a backup copy beside it, then one `rename`, so a reader sees the
//! old file or the new one and never half of either.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Result, io_err};

/// A new text written beside its destination, not yet in place. Dropping it removes the
/// staged file.
#[derive(Debug)]
pub struct Staged {
    dest: PathBuf,
    path: Option<PathBuf>,
}

impl Staged {
    /// Writes `text` to `.<name>.nri-init-new` beside `dest`, with `dest`'s permissions
    /// (0644 for a new file).
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub fn write(dest: &Path, text: &str) -> Result<Self> {
        let path = sibling(dest, ".", ".nri-init-new");
        let mode = fs::metadata(dest).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        let _ = fs::remove_file(&path);
        let staged = Staged {
            dest: dest.to_path_buf(),
            path: Some(path.clone()),
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(io_err("creating", &path))?;
        file.write_all(text.as_bytes())
            .map_err(io_err("writing", &path))?;
        file.sync_all().map_err(io_err("syncing", &path))?;
        Ok(staged)
    }

    /// The staged file.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(&self.dest)
    }

    /// Backs the destination up (when it exists) and renames the staged file over it.
    ///
    /// # Errors
    /// [`crate::Error::Io`]; the destination is then unchanged.
    pub fn install(mut self) -> Result<Installed> {
        let staged = self.path.take().unwrap_or_else(|| self.dest.clone());
        let backup = if self.dest.exists() {
            let backup = backup_path(&self.dest);
            fs::copy(&self.dest, &backup).map_err(io_err("backing up", &self.dest))?;
            Some(backup)
        } else {
            None
        };
        fs::rename(&staged, &self.dest).map_err(io_err("replacing", &self.dest))?;
        sync_dir(&self.dest);
        Ok(Installed {
            path: self.dest.clone(),
            backup,
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// A file nri-init put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The file.
    pub path: PathBuf,
    /// Its previous contents (`None`: it did not exist).
    pub backup: Option<PathBuf>,
}

impl Installed {
    /// Puts the previous contents back (atomically again), or removes the file if there
    /// was none. The backup stays.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub fn restore(&self) -> Result<()> {
        let Some(backup) = &self.backup else {
            return fs::remove_file(&self.path).map_err(io_err("removing", &self.path));
        };
        let text = fs::read_to_string(backup).map_err(io_err("reading", backup))?;
        Staged::write(&self.path, &text)?.install_without_backup()
    }
}

impl Staged {
    fn install_without_backup(mut self) -> Result<()> {
        let staged = self.path.take().unwrap_or_else(|| self.dest.clone());
        fs::rename(&staged, &self.dest).map_err(io_err("replacing", &self.dest))?;
        sync_dir(&self.dest);
        Ok(())
    }
}

/// `<name>.nri-init-<unix seconds>.bak` beside `path`, not yet taken.
fn backup_path(path: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut candidate = sibling(path, "", &format!(".nri-init-{secs}.bak"));
    let mut n = 1;
    while candidate.exists() {
        candidate = sibling(path, "", &format!(".nri-init-{secs}-{n}.bak"));
        n += 1;
    }
    candidate
}

fn sibling(path: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{prefix}{name}{suffix}"))
}

/// The rename is durable only once the directory is synced; best effort.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_keeps_a_backup_and_permissions_and_restore_puts_it_back() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let file = dir.path().join("config.toml");
        fs::write(&file, "old\n").expect("original");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
        let installed = Staged::write(&file, "new\n")
            .expect("staged")
            .install()
            .expect("installed");
        assert_eq!(fs::read_to_string(&file).expect("read"), "new\n");
        let mode = fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let backup = installed.backup.clone().expect("a backup");
        assert_eq!(fs::read_to_string(&backup).expect("backup"), "old\n");
        installed.restore().expect("restored");
        assert_eq!(fs::read_to_string(&file).expect("read"), "old\n");
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left.len(), 2, "only the file and its backup: {left:?}");
    }

    #[test]
    fn a_dropped_staged_file_is_removed_and_the_original_untouched() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let file = dir.path().join("config.toml");
        fs::write(&file, "old\n").expect("original");
        let staged = Staged::write(&file, "new\n").expect("staged");
        let path = staged.path().to_path_buf();
        assert!(path.exists());
        drop(staged);
        assert!(!path.exists());
        assert_eq!(fs::read_to_string(&file).expect("read"), "old\n");
    }

    #[test]
    fn restoring_a_file_that_did_not_exist_removes_it() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let file = dir.path().join("config.toml");
        let installed = Staged::write(&file, "new\n")
            .expect("staged")
            .install()
            .expect("installed");
        assert_eq!(installed.backup, None);
        installed.restore().expect("restored");
        assert!(!file.exists());
    }
}
