//! Reading `/proc`: processes (command line, cgroups, state) and the mounts below a
//! directory (the mountinfo parser is `kernel-formats`'s).
//!
//! The root is a parameter so that teardown and leak logic can be tested on fixture
//! directories; [`Proc::system`] reads the real `/proc`.

use std::io;
use std::path::{Path, PathBuf};

use kernel_formats::MountInfo;

/// A `/proc`-like directory.
#[derive(Debug, Clone)]
pub struct Proc {
    root: PathBuf,
}

/// What teardown needs to know about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Its arguments (empty for kernel threads and zombies).
    pub cmdline: Vec<String>,
    /// The text of `/proc/<pid>/cgroup`.
    pub cgroup: String,
    /// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, ...).
    pub state: char,
}

impl ProcessInfo {
    /// A zombie has exited; only its parent's `wait` removes it, and it holds nothing.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

impl Proc {
    /// A `/proc` rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The real `/proc`.
    pub fn system() -> Self {
        Self::new("/proc")
    }

    /// Ids of all processes.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                pids.push(pid);
            }
        }
        pids.sort_unstable();
        Ok(pids)
    }

    /// One process, or `None` if it has gone (or was never there).
    pub fn process(&self, pid: u32) -> Option<ProcessInfo> {
        let dir = self.root.join(pid.to_string());
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        Some(ProcessInfo {
            pid,
            cmdline: parse_cmdline(&cmdline),
            cgroup,
            state: parse_stat_state(&stat)?,
        })
    }

    /// All processes that are still readable.
    pub fn processes(&self) -> io::Result<Vec<ProcessInfo>> {
        Ok(self
            .pids()?
            .into_iter()
            .filter_map(|pid| self.process(pid))
            .collect())
    }

    /// Whether `pid` exists and is not a zombie.
    pub fn is_alive(&self, pid: u32) -> bool {
        self.process(pid).is_some_and(|p| !p.is_zombie())
    }

    /// The text of `<root>/self/mountinfo`.
    pub fn mountinfo(&self) -> io::Result<String> {
        std::fs::read_to_string(self.root.join("self/mountinfo"))
    }

    /// The text of `<root>/<pid>/cgroup`.
    pub fn cgroup_of(&self, pid: u32) -> io::Result<String> {
        std::fs::read_to_string(self.root.join(pid.to_string()).join("cgroup"))
    }
}

/// Splits `/proc/<pid>/cmdline` (NUL-terminated arguments).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// The state letter from `/proc/<pid>/stat`; the command name in parentheses may itself
/// contain spaces and parentheses, so parse from the last `)`.
pub fn parse_stat_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// Whether an argument names `dir` or something inside it (`<dir>` followed by `/`, the
/// end, or a separator such as `=`); `<dir>-other` or `<dir>0` do not count.
pub fn references_path(cmdline: &[String], dir: &Path) -> bool {
    let Some(dir) = dir.to_str() else {
        return false;
    };
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return false;
    }
    cmdline.iter().any(|arg| {
        arg.match_indices(dir).any(|(at, _)| {
            let starts_cleanly = at == 0 || !is_path_char(arg.as_bytes()[at - 1]);
            let next = arg.as_bytes().get(at + dir.len()).copied();
            starts_cleanly && next.is_none_or(|c| c == b'/' || !is_path_char(c))
        })
    })
}

fn is_path_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/')
}

/// Mount points at or below `dir`, deepest first (the order to unmount them in).
pub fn mounts_under(entries: &[MountInfo], dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = entries
        .iter()
        .filter(|m| m.mount_point.starts_with(dir))
        .map(|m| m.mount_point.clone())
        .collect();
    // Later mounts can stack on earlier ones at the same point: unmount in reverse
    // mount order among equals, and children before parents.
    found.reverse();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_and_stat_parse() {
        assert_eq!(
            parse_cmdline(b"containerd\0--config\0/x/c.toml\0"),
            ["containerd", "--config", "/x/c.toml"]
        );
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(parse_stat_state("42 (a) b) c) S 1 2 3"), Some('S'));
        assert_eq!(parse_stat_state("7 (sh) Z 1"), Some('Z'));
        assert_eq!(parse_stat_state("garbage"), None);
    }

    #[test]
    fn path_references_respect_component_boundaries() {
        let dir = Path::new("/run/e2e/ctrd-5-1");
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(references_path(
            &args(&["shim", "-address", "/run/e2e/ctrd-5-1/containerd.sock"]),
            dir
        ));
        assert!(references_path(
            &args(&["containerd", "--config=/run/e2e/ctrd-5-1/config.toml"]),
            dir
        ));
        assert!(references_path(&args(&["x", "/run/e2e/ctrd-5-1"]), dir));
        assert!(!references_path(
            &args(&["x", "/run/e2e/ctrd-5-10/containerd.sock"]),
            dir
        ));
        assert!(!references_path(
            &args(&["x", "/run/e2e/ctrd-5-1-old"]),
            dir
        ));
        assert!(!references_path(
            &args(&["x", "/other/run/e2e/ctrd-5-1x"]),
            dir
        ));
        assert!(!references_path(
            &args(&["x", "/prefix/run/e2e/ctrd-5-1"]),
            dir
        ));
        assert!(!references_path(&[], dir));
    }

    #[test]
    fn mounts_under_orders_children_first_and_stays_inside() {
        let text = "\
1 0 0:1 / /run/e2e/ctrd-1-0/state rw - tmpfs tmpfs rw
2 1 0:2 / /run/e2e/ctrd-1-0/state/k8s.io/abc/rootfs rw - overlay overlay rw
3 1 0:3 / /run/e2e/ctrd-1-0/state/k8s.io/abc/rootfs rw - tmpfs tmpfs rw
4 0 0:4 / /run/e2e/ctrd-1-01/x rw - tmpfs tmpfs rw
5 0 0:5 / /run rw - tmpfs tmpfs rw
";
        let found = mounts_under(
            &kernel_formats::parse_mountinfo(text),
            Path::new("/run/e2e/ctrd-1-0"),
        );
        assert_eq!(
            found,
            [
                "/run/e2e/ctrd-1-0/state/k8s.io/abc/rootfs",
                "/run/e2e/ctrd-1-0/state/k8s.io/abc/rootfs",
                "/run/e2e/ctrd-1-0/state"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn fixture_proc_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("77");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("stat"), "77 (sleep) S 1 77").unwrap();
        std::fs::write(p.join("cmdline"), b"sleep\x00100\x00").unwrap();
        std::fs::write(p.join("cgroup"), "0::/x\n").unwrap();
        std::fs::create_dir(tmp.path().join("self")).unwrap();
        let proc = Proc::new(tmp.path());
        assert_eq!(proc.pids().unwrap(), [77]);
        let info = proc.process(77).unwrap();
        assert_eq!(info.cmdline, ["sleep", "100"]);
        assert!(proc.is_alive(77));
        assert!(!proc.is_alive(78));
    }
}
