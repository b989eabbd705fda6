//! The FUSE side: kernel requests by inode turned into path operations on the [`Tree`].
//!
//! Nothing is cached by the kernel: entries and attributes have a zero lifetime and files
//! are opened with direct I/O, because the test changes the model behind the kernel's back
//! (readings, groups removed through the fake, threads exiting) and every read must see
//! the model as it is now. A file's contents are generated on a read from offset 0 and
//! kept for the rest of that open file, as kernfs does, so a reader in small pieces sees
//! one consistent text.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use resctrl::fake::FakeEntry;

use crate::inodes::Inodes;
use crate::tree::Tree;

/// Lifetime of entries and attributes in the kernel's caches (see the module docs).
const NO_CACHE: Duration = Duration::ZERO;

/// An open file or directory.
#[derive(Debug)]
enum Open {
    /// A file and, after the first read, the contents that read generated.
    File {
        path: PathBuf,
        contents: Option<Vec<u8>>,
    },
    /// A directory's entries as they were at `opendir`, `.` and `..` included.
    Dir(Vec<(INodeNo, FileType, std::ffi::OsString)>),
}

/// The FUSE file system of one stand-in mount.
#[derive(Debug)]
pub(crate) struct ModelFs {
    tree: Tree,
    inodes: Mutex<Inodes>,
    open: Mutex<HashMap<u64, Open>>,
    next_handle: AtomicU64,
    /// Owner of every entry: whoever mounted it (root, in practice).
    uid: u32,
    gid: u32,
    /// Every entry's timestamps: the model keeps none.
    since: SystemTime,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one request must not take the mount down for the test's other threads.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn fuse_errno(e: resctrl::fake::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

impl ModelFs {
    pub(crate) fn new(tree: Tree) -> Self {
        let inodes = Inodes::new(tree.layout().mount_point());
        ModelFs {
            tree,
            inodes: Mutex::new(inodes),
            open: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            since: SystemTime::now(),
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        lock(&self.inodes)
            .path(ino)
            .map(Path::to_path_buf)
            .ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    fn attr(&self, ino: INodeNo, entry: FakeEntry) -> FileAttr {
        let (kind, perm, nlink) = match entry {
            FakeEntry::Dir => (FileType::Directory, 0o755, 2),
            FakeEntry::File { writable: true } => (FileType::RegularFile, 0o644, 1),
            FakeEntry::File { writable: false } => (FileType::RegularFile, 0o444, 1),
        };
        FileAttr {
            ino,
            // Like kernfs: the size is unknown until read; direct I/O reads to the end.
            size: 0,
            blocks: 0,
            atime: self.since,
            mtime: self.since,
            ctime: self.since,
            crtime: self.since,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// The attributes of `path` under its (possibly new) inode number.
    fn attr_of(&self, path: &Path) -> Result<FileAttr, Errno> {
        let entry = self.tree.stat(path).ok_or(Errno::ENOENT)?;
        let ino = lock(&self.inodes).number(path);
        Ok(self.attr(ino, entry))
    }

    fn remember(&self, open: Open) -> FileHandle {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.open).insert(fh, open);
        FileHandle(fh)
    }

    fn open_dir(&self, ino: INodeNo) -> Result<FileHandle, Errno> {
        let path = self.path(ino)?;
        match self.tree.stat(&path) {
            None => return Err(Errno::ENOENT),
            Some(FakeEntry::File { .. }) => return Err(Errno::ENOTDIR),
            Some(FakeEntry::Dir) => {}
        }
        let listed = self.tree.list(&path).map_err(fuse_errno)?;
        let mut inodes = lock(&self.inodes);
        let parent = path
            .parent()
            .filter(|_| ino != INodeNo::ROOT)
            .map_or(ino, |p| inodes.number(p));
        let mut entries = vec![
            (ino, FileType::Directory, ".".into()),
            (parent, FileType::Directory, "..".into()),
        ];
        for entry in listed {
            let kind = if entry.is_dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            entries.push((inodes.number(&path.join(&entry.name)), kind, entry.name));
        }
        drop(inodes);
        Ok(self.remember(Open::Dir(entries)))
    }

    fn open_file(&self, ino: INodeNo, flags: OpenFlags) -> Result<FileHandle, Errno> {
        let path = self.path(ino)?;
        let writable = match self.tree.stat(&path) {
            None => return Err(Errno::ENOENT),
            Some(FakeEntry::Dir) => return Err(Errno::EISDIR),
            Some(FakeEntry::File { writable }) => writable,
        };
        let writing = !matches!(flags.acc_mode(), OpenAccMode::O_RDONLY);
        if writing && !writable {
            // kernfs refuses to open a 0444 file for writing, even for root.
            return Err(Errno::EACCES);
        }
        Ok(self.remember(Open::File {
            path,
            contents: None,
        }))
    }

    fn read_at(&self, fh: FileHandle, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let path = match lock(&self.open).get(&fh.0) {
            Some(Open::File { path, contents }) => {
                if offset > 0
                    && let Some(contents) = contents
                {
                    return Ok(slice(contents, offset, size));
                }
                path.clone()
            }
            Some(Open::Dir(_)) => return Err(Errno::EISDIR),
            None => return Err(Errno::EBADF),
        };
        // Generated without holding the table's lock: a tasks read takes a census of
        // the host's threads.
        let contents = self.tree.read(&path).map_err(fuse_errno)?;
        let piece = slice(&contents, offset, size);
        if let Some(Open::File { contents: kept, .. }) = lock(&self.open).get_mut(&fh.0) {
            *kept = Some(contents);
        }
        Ok(piece)
    }
}

fn slice(contents: &[u8], offset: u64, size: u32) -> Vec<u8> {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(contents.len());
    let end = start
        .saturating_add(usize::try_from(size).unwrap_or(usize::MAX))
        .min(contents.len());
    contents[start..end].to_vec()
}

impl Filesystem for ModelFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.child(parent, name).and_then(|p| self.attr_of(&p)) {
            Ok(attr) => reply.entry(&NO_CACHE, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.path(ino).and_then(|p| self.attr_of(&p)) {
            Ok(attr) => reply.attr(&NO_CACHE, &attr),
            Err(e) => reply.error(e),
        }
    }

    /// Accepted and ignored, as kernfs ignores the truncation of `echo 1 > tasks`; the
    /// attributes are the model's.
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.path(ino).and_then(|p| self.attr_of(&p)) {
            Ok(attr) => reply.attr(&NO_CACHE, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let made = self.child(parent, name).and_then(|path| {
            self.tree.mkdir(&path).map_err(fuse_errno)?;
            self.attr_of(&path)
        });
        match made {
            Ok(attr) => reply.entry(&NO_CACHE, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .child(parent, name)
            .and_then(|path| self.tree.rmdir(&path).map_err(fuse_errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// kernfs has no unlink: EPERM.
    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    /// Moving a monitoring group between control groups is not modelled: EPERM, as
    /// kernels before 6.2 answer.
    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EPERM);
    }

    /// kernfs has no create: EACCES, as the VFS answers for it.
    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EACCES);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.open_file(ino, flags) {
            Ok(fh) => reply.opened(fh, FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.read_at(fh, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    /// Each `write(2)` goes to the model whole, whatever the offset: resctrl parses every
    /// write on its own.
    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self
            .path(ino)
            .and_then(|path| self.tree.write(&path, data).map_err(fuse_errno));
        match written {
            Ok(()) => reply.written(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(e) => reply.error(e),
        }
    }

    /// Not needed (every write is done when it returns): ENOSYS tells the kernel to stop
    /// sending one per `close(2)`, a sixth of the requests of a file read.
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.open).remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.open_dir(ino) {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let open = lock(&self.open);
        let Some(Open::Dir(entries)) = open.get(&fh.0) else {
            drop(open);
            reply.error(Errno::EBADF);
            return;
        };
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (index, (ino, kind, name)) in entries.iter().enumerate().skip(skip) {
            // The offset of an entry is where the next call resumes.
            let next = u64::try_from(index + 1).unwrap_or(u64::MAX);
            if reply.add(*ino, next, *kind, name) {
                break;
            }
        }
        drop(open);
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.open).remove(&fh.0);
        reply.ok();
    }

    /// `access(2)`: existence, and for `W_OK` the model's answer (which a denied path
    /// turns into "no").
    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let allowed = self.path(ino).and_then(|path| {
            if self.tree.stat(&path).is_none() {
                return Err(Errno::ENOENT);
            }
            if !mask.contains(AccessFlags::W_OK) {
                return Ok(true);
            }
            self.tree.is_writable(&path).map_err(fuse_errno)
        });
        match allowed {
            Ok(true) => reply.ok(),
            Ok(false) => reply.error(Errno::EACCES),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_in_pieces_slices_one_text() {
        assert_eq!(slice(b"12345\n", 0, 4), b"1234");
        assert_eq!(slice(b"12345\n", 4, 4), b"5\n");
        assert_eq!(slice(b"12345\n", 6, 4), b"");
        assert_eq!(slice(b"12345\n", 60, 4), b"");
    }
}
