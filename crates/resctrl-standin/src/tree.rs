//! What the mount shows, path by path: the fake's model wherever it serves a path, the
//! layout's own directories elsewhere. Every kernel semantic (groups, RMIDs, tasks,
//! readings, errnos) is the fake's; this only routes absolute paths to it.

use std::io;
use std::path::Path;

use resctrl::fake::{Errno, FakeEntry, FakeResctrl};
use resctrl::{DirEntry, FsProvider};

use crate::layout::Layout;

/// The served tree of one mount.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    fake: FakeResctrl,
    layout: Layout,
}

/// The errno of a failed fake operation (an error without one would be a fake bug; EIO
/// keeps the mount answering).
fn errno(e: &io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

impl Tree {
    /// Serves `fake`, whose root, mount table and CPU description are the layout's.
    pub(crate) fn new(fake: FakeResctrl, layout: Layout) -> Self {
        Tree { fake, layout }
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What `path` is, without side effects.
    pub(crate) fn stat(&self, path: &Path) -> Option<FakeEntry> {
        if self.layout.own_dir(path).is_some() {
            return Some(FakeEntry::Dir);
        }
        // The fake also answers for its configured mount table and CPU description, which
        // the layout placed under the mount point; outside it the kernel never asks.
        self.fake.stat(path)
    }

    /// The entries of a directory.
    pub(crate) fn list(&self, path: &Path) -> Result<Vec<DirEntry>, Errno> {
        if let Some(entries) = self.layout.own_dir(path) {
            return Ok(entries
                .iter()
                .map(|&(name, is_dir)| DirEntry {
                    name: name.into(),
                    is_dir,
                })
                .collect());
        }
        self.fake.read_dir(path).map_err(|e| errno(&e))
    }

    /// A file's whole contents, generated now (like kernfs on a read from offset 0).
    pub(crate) fn read(&self, path: &Path) -> Result<Vec<u8>, Errno> {
        if self.layout.own_dir(path).is_some() {
            return Err(Errno::ISDIR);
        }
        self.fake
            .read_to_string(path)
            .map(String::into_bytes)
            .map_err(|e| errno(&e))
    }

    /// One `write(2)`, handed to the model whole (a `tasks` write moves one thread).
    pub(crate) fn write(&self, path: &Path, data: &[u8]) -> Result<(), Errno> {
        if self.layout.own_dir(path).is_some() {
            return Err(Errno::ISDIR);
        }
        self.fake.write(path, data).map_err(|e| errno(&e))
    }

    /// `mkdir(2)`: a group where the model allows one.
    pub(crate) fn mkdir(&self, path: &Path) -> Result<(), Errno> {
        if self.stat(path).is_some() {
            return Err(Errno::EXIST);
        }
        if path
            .parent()
            .is_some_and(|p| self.layout.own_dir(p).is_some())
        {
            // The stand-in's own directories are fixed, like sysfs.
            return Err(Errno::PERM);
        }
        self.fake.create_dir(path).map_err(|e| errno(&e))
    }

    /// `rmdir(2)`: a group, with the kernel's side effects.
    pub(crate) fn rmdir(&self, path: &Path) -> Result<(), Errno> {
        if self.layout.own_dir(path).is_some() {
            return Err(Errno::BUSY);
        }
        self.fake.remove_dir(path).map_err(|e| errno(&e))
    }

    /// Whether `access(2)` with `W_OK` succeeds.
    pub(crate) fn is_writable(&self, path: &Path) -> Result<bool, Errno> {
        if self.layout.own_dir(path).is_some() {
            return Ok(false);
        }
        self.fake.is_writable(path).map_err(|e| errno(&e))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use resctrl::MonEvent;
    use resctrl::fake::FakeReading;

    use super::*;

    const MOUNT: &str = "/mnt/standin";

    fn tree() -> (Tree, FakeResctrl) {
        let layout = Layout::new(MOUNT);
        let fake = FakeResctrl::builder()
            .root(layout.root())
            .mounts_path(layout.mounts_path())
            .cpuinfo_path(layout.cpuinfo_path())
            .build();
        (Tree::new(fake.clone(), layout), fake)
    }

    fn at(rel: &str) -> PathBuf {
        Path::new(MOUNT).join(rel)
    }

    fn names(tree: &Tree, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = tree
            .list(&at(rel))
            .expect("list")
            .into_iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_mount_point_holds_the_resctrl_root_and_the_proc_files() {
        let (tree, _) = tree();
        assert_eq!(names(&tree, ""), ["proc", "resctrl"]);
        assert_eq!(names(&tree, "proc"), ["cpuinfo", "mounts"]);
        assert_eq!(tree.stat(&at("resctrl")), Some(FakeEntry::Dir));
        assert!(names(&tree, "resctrl").contains(&"mon_groups".to_owned()));
    }

    #[test]
    fn the_mount_table_is_the_models_and_names_the_resctrl_root() {
        let (tree, fake) = tree();
        let table = String::from_utf8(tree.read(&at("proc/mounts")).expect("read")).expect("text");
        assert!(
            table.contains("resctrl /mnt/standin/resctrl resctrl rw,relatime 0 0\n"),
            "{table}"
        );
        fake.set_mounted(false);
        let table = String::from_utf8(tree.read(&at("proc/mounts")).expect("read")).expect("text");
        assert!(!table.contains("resctrl /mnt"), "{table}");
        assert!(
            names(&tree, "resctrl").is_empty(),
            "an unmounted root is empty"
        );
    }

    #[test]
    fn groups_tasks_and_readings_are_the_fakes() {
        let (tree, fake) = tree();
        let group = at("resctrl/mon_groups/g");
        tree.mkdir(&group).expect("mkdir");
        assert!(fake.group_exists(&group));
        fake.add_thread(42);
        tree.write(&group.join("tasks"), b"42").expect("move");
        assert_eq!(fake.group_of(42), Some(group.clone()));
        assert_eq!(tree.write(&group.join("tasks"), b"43"), Err(Errno::SRCH));
        fake.set_reading(&group, 1, MonEvent::LlcOccupancy, FakeReading::Value(9));
        assert_eq!(
            tree.read(&group.join("mon_data/mon_L3_01/llc_occupancy")),
            Ok(b"9\n".to_vec())
        );
        tree.rmdir(&group).expect("rmdir");
        assert!(!fake.group_exists(&group));
    }

    #[test]
    fn the_stand_ins_own_directories_cannot_be_changed() {
        let (tree, _) = tree();
        assert_eq!(tree.mkdir(&at("extra")), Err(Errno::PERM));
        assert_eq!(tree.mkdir(&at("proc/extra")), Err(Errno::PERM));
        assert_eq!(tree.mkdir(&at("resctrl")), Err(Errno::EXIST));
        assert_eq!(tree.rmdir(&at("proc")), Err(Errno::BUSY));
        assert_eq!(tree.rmdir(&at("resctrl")), Err(Errno::BUSY));
        assert_eq!(tree.read(&at("proc")), Err(Errno::ISDIR));
        assert_eq!(tree.write(&at("proc/mounts"), b"x"), Err(Errno::ACCESS));
        assert_eq!(tree.is_writable(&at("")), Ok(false));
        assert_eq!(tree.is_writable(&at("resctrl")), Ok(true));
        assert_eq!(tree.stat(&at("nothing")), None);
    }
}
