//! Under `sudo`, what a run creates (nextest's extracted archive, caches, logs, JUnit files)
//! belongs to root, and the next `cargo build` or `actions/checkout` as the invoking user
//! fails on it. So a run started through sudo hands every root-owned file under the target
//! directory (and the JUnit file) back to `SUDO_UID:SUDO_GID` when it ends.
//!
//! CI compiles as the runner's user first (the test archive comes prebuilt, and `cargo
//! xtask doctor` builds the runner itself), so only the suite runs as root.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// The user who ran `sudo`, when this process is root through sudo.
pub fn sudo_invoker() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    invoker(euid, &|name| std::env::var(name).ok())
}

/// [`sudo_invoker`] for a given effective uid and environment.
fn invoker(euid: u32, env: &dyn Fn(&str) -> Option<String>) -> Option<(u32, u32)> {
    if euid != 0 {
        return None;
    }
    let uid: u32 = env("SUDO_UID")?.parse().ok()?;
    let gid: u32 = env("SUDO_GID")?.parse().ok()?;
    (uid != 0).then_some((uid, gid))
}

/// Gives every entry under `dir` owned by `from` (not following symlinks, not crossing into
/// other file systems, such as a test's leftover mount) to `uid:gid`; returns how many
/// changed and how many could not be (those are left as they are).
pub fn hand_back(dir: &Path, from: u32, uid: u32, gid: u32) -> (usize, usize) {
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return (0, 0);
    };
    let device = top.dev();
    let (mut changed, mut failed) = (0, 0);
    let mut pending = vec![(dir.to_path_buf(), top)];
    while let Some((path, meta)) = pending.pop() {
        if meta.uid() == from {
            match std::os::unix::fs::lchown(&path, Some(uid), Some(gid)) {
                Ok(()) => changed += 1,
                Err(_) => failed += 1,
            }
        }
        if meta.is_dir() && meta.dev() == device {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                if let Ok(meta) = entry.metadata() {
                    pending.push((entry.path(), meta));
                }
            }
        }
    }
    (changed, failed)
}

/// At the end of a run: hand the target directory and `extra` (the JUnit file) back to the
/// sudo invoker, if there is one; says so on stderr when anything changed.
pub fn hand_back_after_sudo(extra: Option<&Path>) {
    let Some((uid, gid)) = sudo_invoker() else {
        return;
    };
    let (mut changed, mut failed) = hand_back(crate::project::target_dir(), 0, uid, gid);
    if let Some(path) = extra {
        let (c, f) = hand_back(path, 0, uid, gid);
        changed += c;
        failed += f;
    }
    if changed > 0 || failed > 0 {
        eprintln!(
            "gave {changed} root-owned file(s) under {} back to uid {uid}{}",
            crate::project::target_dir().display(),
            if failed > 0 {
                format!("; {failed} could not be changed")
            } else {
                String::new()
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_through_sudo_has_an_invoker() {
        let env = |name: &str| match name {
            "SUDO_UID" => Some("1001".to_string()),
            "SUDO_GID" => Some("118".to_string()),
            _ => None,
        };
        assert_eq!(invoker(0, &env), Some((1001, 118)));
        assert_eq!(invoker(1001, &env), None, "not root");
        assert_eq!(invoker(0, &|_| None), None, "root, not through sudo");
        let root_sudo = |_: &str| Some("0".to_string());
        assert_eq!(invoker(0, &root_sudo), None, "root running sudo as root");
    }

    #[test]
    fn every_entry_of_the_owner_is_handed_over_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().expect("a scratch dir");
        let outside = tempfile::tempdir().expect("a second dir");
        std::fs::write(outside.path().join("not-ours"), "x").expect("write");
        std::fs::create_dir_all(dir.path().join("a/b")).expect("mkdir");
        std::fs::write(dir.path().join("a/b/file"), "x").expect("write");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
        let meta = std::fs::metadata(dir.path()).expect("stat");
        // Handing our own files to ourselves needs no privileges and counts what is walked.
        let (changed, failed) = hand_back(dir.path(), meta.uid(), meta.uid(), meta.gid());
        assert_eq!(
            (changed, failed),
            (5, 0),
            "the dir, a, a/b, a/b/file and the link itself, not what it points to"
        );
        let nobody_owns = meta.uid().wrapping_add(4242);
        assert_eq!(
            hand_back(dir.path(), nobody_owns, meta.uid(), meta.gid()),
            (0, 0),
            "entries of other owners stay as they are"
        );
    }
}
