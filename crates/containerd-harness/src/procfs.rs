//! Reading `/proc`: processes (command line, cgroups, state) and the mount table.
//!
//! The root is a parameter so that teardown and leak logic can be tested on fixture
//! directories; [`Proc::system`] reads the real `/proc`.

use std::io;
use std::path::{Path, PathBuf};

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

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Major:minor of the file system (one per cgroup hierarchy).
    pub device: String,
    /// The root of the mount within its file system.
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// File-system type (`cgroup`, `cgroup2`, `overlay`, ...).
    pub fs_type: String,
    /// Per-superblock options (for cgroup v1: the controllers, e.g. `rw,cpu`).
    pub super_options: String,
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let fields: Vec<&str> = line.split(' ').collect();
    // id parent major:minor root mount-point options [optional...] - fstype source super
    let separator = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let fs_type = fields.get(separator + 1)?;
    let super_options = fields.get(separator + 3).copied().unwrap_or("");
    Some(MountEntry {
        device: (*fields.get(2)?).to_string(),
        // The kernel writes spaces, tabs, newlines and backslashes as `\ooo`.
        root: resctrl::unescape(fields.get(3)?)
            .to_string_lossy()
            .into_owned(),
        mount_point: PathBuf::from(resctrl::unescape(fields.get(4)?)),
        fs_type: (*fs_type).to_string(),
        super_options: super_options.to_string(),
    })
}

/// Mount points at or below `dir`, deepest first (the order to unmount them in).
pub fn mounts_under(entries: &[MountEntry], dir: &Path) -> Vec<PathBuf> {
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

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMembership {
    /// Hierarchy id (0 for cgroup v2).
    pub hierarchy_id: u32,
    /// Controllers (cgroup v1), including `name=...` for named hierarchies; empty for v2.
    pub controllers: Vec<String>,
    /// The cgroup path relative to the hierarchy's root.
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup`; malformed lines are skipped.
pub fn parse_proc_cgroup(text: &str) -> Vec<CgroupMembership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?.to_string();
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect();
            Some(CgroupMembership {
                hierarchy_id,
                controllers,
                path,
            })
        })
        .collect()
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
    fn mountinfo_parses_escapes_and_optional_fields() {
        let text = "\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
900 27 0:90 / /run/e2e/ctrd\\0401/state/rootfs rw master:1 shared:2 - overlay overlay rw,lowerdir=/a
bogus line
";
        let entries = parse_mountinfo(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].fs_type, "cgroup2");
        assert_eq!(entries[0].device, "0:38");
        assert_eq!(entries[1].super_options, "rw,cpu");
        assert_eq!(
            entries[2].mount_point,
            Path::new("/run/e2e/ctrd 1/state/rootfs")
        );
        assert_eq!(entries[2].fs_type, "overlay");
        // Escaped backslash and tab in a root; a cut-short escape stays as it is.
        let odd = parse_mountinfo("1 2 0:1 /a\\134b\\011 /trailing\\04 rw - tmpfs tmpfs rw\n");
        assert_eq!(odd[0].root, "/a\\b\t");
        assert_eq!(odd[0].mount_point, Path::new("/trailing\\04"));
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
        let found = mounts_under(&parse_mountinfo(text), Path::new("/run/e2e/ctrd-1-0"));
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
    fn proc_cgroup_parses_v1_and_v2() {
        let text = "9:name=systemd:/\n4:cpu,cpuacct:/nri-e2e/r/pod1/abc\n0::/nri-e2e/r/pod1/abc\n";
        let lines = parse_proc_cgroup(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].controllers, ["name=systemd"]);
        assert_eq!(lines[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[2].hierarchy_id, 0);
        assert!(lines[2].controllers.is_empty());
        assert_eq!(lines[2].path, "/nri-e2e/r/pod1/abc");
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
