//! Which containerd processes serve a configuration file, and their identity (pid and
//! start time), so a restart can be told from a containerd that never went away.

use std::fmt;
use std::path::{Path, PathBuf};

/// The file containerd reads when started without `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";

/// One containerd process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    /// Its pid.
    pub pid: u32,
    /// Its start time (clock ticks since boot, `/proc/<pid>/stat` field 22): a pid reused
    /// by a new process has a different one.
    pub start_time: u64,
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} (started at tick {})", self.pid, self.start_time)
    }
}

/// Renders a list of processes for messages.
pub fn show(processes: &[ProcessId]) -> String {
    if processes.is_empty() {
        return "none".into();
    }
    processes
        .iter()
        .map(ProcessId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The containerd processes (in `proc`, normally `/proc`) started with `config`.
///
/// The file is compared by device and inode, seen through each process's own root
/// (`/proc/<pid>/root`), so it matches when nri-init runs in a container that has the
/// host's configuration directory mounted elsewhere; by path when that cannot be seen.
pub fn containerd_serving(proc: &Path, config: &Path) -> Vec<ProcessId> {
    let wanted = canonical(config);
    let wanted_id = file_id(config);
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut found: Vec<ProcessId> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let dir = proc.join(pid.to_string());
            let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
            let args = split_cmdline(&cmdline);
            let used = config_argument(&args)?;
            let used = if used.is_relative() {
                std::fs::read_link(dir.join("cwd")).ok()?.join(used)
            } else {
                used
            };
            let through_root = dir
                .join("root")
                .join(used.strip_prefix("/").unwrap_or(&used));
            let same = match (wanted_id, file_id(&through_root)) {
                (Some(a), Some(b)) => a == b,
                _ => canonical(&used) == wanted,
            };
            if !same {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            Some(ProcessId {
                pid,
                start_time: start_time(&stat)?,
            })
        })
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// containerd's subcommands: a command line with one is not the daemon.
const SUBCOMMANDS: [&str; 5] = ["config", "publish", "oci-hook", "help", "h"];

/// The configuration a containerd command line uses (`None`: not the containerd daemon).
fn config_argument(args: &[String]) -> Option<PathBuf> {
    let program = Path::new(args.first()?).file_name()?.to_str()?;
    if program != "containerd" || args.iter().any(|a| SUBCOMMANDS.contains(&a.as_str())) {
        return None;
    }
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--config" || arg == "-c" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(value) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    Some(PathBuf::from(DEFAULT_CONFIG))
}

/// Field 22 of `/proc/<pid>/stat`, counted after the command name (which may hold spaces
/// and parentheses, so the split is at the last `)`).
fn start_time(stat: &str) -> Option<u64> {
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn the_config_comes_from_the_flag_or_is_the_default() {
        assert_eq!(
            config_argument(&args("/usr/bin/containerd --config /x/c.toml")),
            Some(PathBuf::from("/x/c.toml"))
        );
        assert_eq!(
            config_argument(&args("containerd -l debug -c /k3s/config.toml -a /s")),
            Some(PathBuf::from("/k3s/config.toml"))
        );
        assert_eq!(
            config_argument(&args("containerd --config=/y.toml")),
            Some(PathBuf::from("/y.toml"))
        );
        assert_eq!(
            config_argument(&args("/usr/bin/containerd")),
            Some(PathBuf::from(DEFAULT_CONFIG))
        );
    }

    #[test]
    fn other_programs_and_subcommands_are_not_daemons() {
        assert_eq!(
            config_argument(&args("containerd-shim-runc-v2 -id x")),
            None
        );
        assert_eq!(
            config_argument(&args("containerd --config /c.toml config dump")),
            None
        );
        assert_eq!(config_argument(&args("containerd config dump")), None);
    }

    #[test]
    fn start_time_is_read_after_a_command_name_with_spaces() {
        let stat = "4242 (contai) nerd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 12 0 98765 1000 10";
        assert_eq!(start_time(stat), Some(98765));
    }

    #[test]
    fn the_file_is_matched_through_the_process_root_when_paths_differ() {
        // As in a container: containerd names /etc/containerd/config.toml in its own root;
        // nri-init sees the same file at another path.
        let scratch = tempfile::tempdir().expect("scratch");
        let ours = scratch.path().join("host-etc/config.toml");
        std::fs::create_dir_all(ours.parent().expect("parent")).expect("dirs");
        std::fs::write(&ours, "version = 2\n").expect("config");
        let host_root = scratch.path().join("host-root");
        std::fs::create_dir_all(host_root.join("etc/containerd")).expect("dirs");
        std::fs::hard_link(&ours, host_root.join("etc/containerd/config.toml")).expect("link");
        let proc = scratch.path().join("proc");
        let pid = proc.join("7");
        std::fs::create_dir_all(&pid).expect("pid dir");
        std::fs::write(pid.join("cmdline"), "/usr/bin/containerd\0").expect("cmdline");
        std::fs::write(
            pid.join("stat"),
            "7 (containerd) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0",
        )
        .expect("stat");
        std::os::unix::fs::symlink(&host_root, pid.join("root")).expect("root link");
        let found = containerd_serving(&proc, &ours);
        assert_eq!(
            found,
            [ProcessId {
                pid: 7,
                start_time: 555
            }]
        );
        let other = scratch.path().join("other.toml");
        std::fs::write(&other, "").expect("other");
        assert!(containerd_serving(&proc, &other).is_empty());
    }
}
