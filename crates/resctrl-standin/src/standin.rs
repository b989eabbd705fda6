//! Mounting and unmounting: [`Standin::mount`] and the [`StandinHandle`] that unmounts on
//! drop.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use fuser::{BackgroundSession, MountOption};
use resctrl::fake::{FakeResctrl, FakeResctrlBuilder};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::serve::ModelFs;
use crate::tree::Tree;

/// The FUSE device.
pub const FUSE_DEVICE: &str = "/dev/fuse";

/// Entry point: mounts a fake resctrl as a FUSE file system.
#[derive(Debug, Clone, Copy)]
pub struct Standin;

impl Standin {
    /// A fake builder in host mode (the live threads are the host's, so real processes'
    /// ids can be written to `tasks`) with the fake's other defaults: 64 RMIDs, 16
    /// CLOSIDs, L3 domains 0 and 1, all three events, an RDT-capable CPU.
    pub fn builder() -> FakeResctrlBuilder {
        FakeResctrl::builder().host_threads()
    }

    /// Mounts the fake that `builder` describes at `dir`, an existing directory, with the
    /// paths of [`Layout`]: the builder's root, mount-table and CPU-description paths are
    /// replaced by the layout's. The mount is served by a thread of this process until
    /// the handle is dropped or [`StandinHandle::unmount`] is called.
    ///
    /// Use [`Standin::builder`] (host mode) unless the test adds thread ids by hand.
    ///
    /// # Errors
    /// [`Error::FuseDevice`] without a usable `/dev/fuse`, [`Error::MountPoint`] if `dir`
    /// is not an existing directory, [`Error::Mount`] if the kernel refuses the mount
    /// (not root).
    pub fn mount(dir: impl AsRef<Path>, builder: FakeResctrlBuilder) -> Result<StandinHandle> {
        open_fuse_device(Path::new(FUSE_DEVICE))?;
        let dir = dir.as_ref();
        let mount_point = mount_point(dir)?;
        let layout = Layout::new(&mount_point);
        let fake = builder
            .root(layout.root())
            .mounts_path(layout.mounts_path())
            .cpuinfo_path(layout.cpuinfo_path())
            .build();
        let fs = ModelFs::new(Tree::new(fake.clone(), layout.clone()));
        let mut options = fuser::Config::default();
        options.mount_options = vec![
            MountOption::FSName("resctrl-standin".to_owned()),
            MountOption::Subtype("resctrl-standin".to_owned()),
            MountOption::RW,
            MountOption::NoSuid,
            MountOption::NoDev,
            MountOption::NoExec,
            MountOption::NoAtime,
        ];
        let session =
            fuser::spawn_mount(fs, &mount_point, &options).map_err(|source| Error::Mount {
                mount_point: mount_point.clone(),
                source,
            })?;
        tracing::debug!(mount_point = %mount_point.display(), "resctrl stand-in mounted");
        Ok(StandinHandle {
            fake,
            layout,
            session: Some(session),
        })
    }
}

/// Fails naming the device when FUSE cannot be used, before anything is mounted.
fn open_fuse_device(path: &Path) -> Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|source| Error::FuseDevice {
            path: path.to_path_buf(),
            source,
        })
}

/// The canonical path of `dir`, which the model compares lexically with what clients use.
fn mount_point(dir: &Path) -> Result<PathBuf> {
    let invalid = |source| Error::MountPoint {
        path: dir.to_path_buf(),
        source,
    };
    let canonical = fs::canonicalize(dir).map_err(invalid)?;
    if !canonical.is_dir() {
        return Err(invalid(io::Error::from(io::ErrorKind::NotADirectory)));
    }
    Ok(canonical)
}

/// A mounted stand-in. Unmounts when dropped, also while a test unwinds from a panic.
///
/// # Concurrency
/// The handle may be used from any thread; [`StandinHandle::fake`] is a clone sharing the
/// served state, so readings set through it are what the next read through the mount
/// sees. Requests are served one at a time by the session's thread.
#[derive(Debug)]
pub struct StandinHandle {
    fake: FakeResctrl,
    layout: Layout,
    session: Option<BackgroundSession>,
}

impl StandinHandle {
    /// The served model: set readings, add or remove groups and inspect threads here.
    pub fn fake(&self) -> &FakeResctrl {
        &self.fake
    }

    /// The paths of this mount.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The resctrl root (`<mount point>/resctrl`).
    pub fn root(&self) -> PathBuf {
        self.layout.root()
    }

    /// A resctrl configuration pointing at this mount's root, mount table and CPU
    /// description.
    pub fn config(&self) -> resctrl::Config {
        self.layout.config()
    }

    /// Unmounts now and waits for the serving thread.
    ///
    /// A mount still in use (a process has a file open or its working directory inside)
    /// is detached instead: it disappears from the namespace at once and its thread ends
    /// when the last user lets go.
    ///
    /// # Errors
    /// [`Error::Unmount`] if neither worked; the mount may then be left behind.
    pub fn unmount(mut self) -> Result<()> {
        self.unmount_now()
    }

    fn unmount_now(&mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let mount_point = self.layout.mount_point();
        let Err(plain) = session.umount_and_join() else {
            return Ok(());
        };
        if !is_mounted(mount_point) {
            // Unmounted, but the serving thread ended badly: nothing is left behind.
            tracing::warn!(error = %plain, "the resctrl stand-in's thread ended with an error");
            return Ok(());
        }
        match rustix::mount::unmount(mount_point, rustix::mount::UnmountFlags::DETACH) {
            Ok(()) => {
                tracing::warn!(
                    mount_point = %mount_point.display(),
                    error = %plain,
                    "the resctrl stand-in was busy; detached it"
                );
                Ok(())
            }
            Err(_) => Err(Error::Unmount {
                mount_point: mount_point.to_path_buf(),
                source: plain,
            }),
        }
    }
}

impl Drop for StandinHandle {
    fn drop(&mut self) {
        if let Err(e) = self.unmount_now() {
            tracing::error!(error = %e, "leaving a resctrl stand-in mounted");
        }
    }
}

/// Whether this mount namespace has a mount at `path`.
fn is_mounted(path: &Path) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .map(|text| {
            resctrl::parse_mounts(&text)
                .iter()
                .any(|m| m.mount_point == path)
        })
        // Unknown: try the lazy unmount, which fails harmlessly on a path not mounted.
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_fuse_device_is_named_before_anything_is_mounted() {
        let err = open_fuse_device(Path::new("/nonexistent/fuse")).expect_err("no device");
        assert!(matches!(err, Error::FuseDevice { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/fuse"), "{err}");
    }

    #[test]
    fn a_mount_point_must_be_an_existing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        fs::write(&file, "").expect("write");
        for bad in [dir.path().join("missing"), file] {
            let err = mount_point(&bad).expect_err("not a directory");
            assert!(matches!(err, Error::MountPoint { .. }), "{err:?}");
        }
        assert_eq!(
            mount_point(dir.path()).expect("a directory"),
            fs::canonicalize(dir.path()).expect("canonical")
        );
    }
}
