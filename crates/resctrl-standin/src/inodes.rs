//! Inode numbers for paths: FUSE names files by number, the model by path.
//!
//! A path keeps its number for the life of the mount, also after it disappears and when it
//! comes back (a group removed and created again). That is safe because every entry and
//! attribute is served with a zero cache lifetime, so the kernel asks again each time, and
//! a path is always the same kind of thing (resctrl has no path that is a file at one time
//! and a directory at another). The table grows with the distinct paths ever looked up,
//! which is bounded by the groups a test creates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fuser::INodeNo;

/// The path of each inode number handed out, and back.
#[derive(Debug)]
pub(crate) struct Inodes {
    paths: Vec<PathBuf>,
    numbers: HashMap<PathBuf, u64>,
}

impl Inodes {
    /// A table whose root inode ([`INodeNo::ROOT`]) is `mount_point`.
    pub(crate) fn new(mount_point: &Path) -> Self {
        let mut table = Inodes {
            paths: Vec::new(),
            numbers: HashMap::new(),
        };
        let root = table.number(mount_point);
        debug_assert_eq!(root, INodeNo::ROOT);
        table
    }

    /// The number of `path`, handing out the next one for a path not seen before.
    pub(crate) fn number(&mut self, path: &Path) -> INodeNo {
        if let Some(&n) = self.numbers.get(path) {
            return INodeNo(n);
        }
        self.paths.push(path.to_path_buf());
        // Inode 0 is invalid in FUSE, so numbers start at 1 (the root).
        let n = u64::try_from(self.paths.len()).unwrap_or(u64::MAX);
        self.numbers.insert(path.to_path_buf(), n);
        INodeNo(n)
    }

    /// The path of inode `ino`, if this table handed it out.
    pub(crate) fn path(&self, ino: INodeNo) -> Option<&Path> {
        let index = usize::try_from(ino.0.checked_sub(1)?).ok()?;
        self.paths.get(index).map(PathBuf::as_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_keeps_its_number_and_the_mount_point_is_the_root() {
        let mut inodes = Inodes::new(Path::new("/m"));
        assert_eq!(inodes.path(INodeNo::ROOT), Some(Path::new("/m")));
        let a = inodes.number(Path::new("/m/a"));
        let b = inodes.number(Path::new("/m/b"));
        assert_ne!(a, b);
        assert_eq!(inodes.number(Path::new("/m/a")), a);
        assert_eq!(inodes.path(b), Some(Path::new("/m/b")));
        assert_eq!(inodes.path(INodeNo(0)), None);
        assert_eq!(inodes.path(INodeNo(99)), None);
    }
}
