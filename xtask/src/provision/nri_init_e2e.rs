//! What the `nri-init-e2e` suite needs: containerd 1.7 (Debian trixie) and containerd 2.x
//! (Debian sid), each with `ctr`, fetched once into the cache and reached through stable
//! symlinks; and the cleanup of whatever a crashed run left in the suite's run directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::apt::{self, PrivateApt};
use super::nri_e2e::{fetch_and_extract, file_safe, newest_cached};
use super::{cache_dir, replace_symlink};
use crate::plan::StepIo;
use crate::probe::HostRoot;
use crate::probe::containerd::parse_version;
use crate::project;

/// One containerd release line the suite tests, and where Debian has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The link name and the variable's suffix: `17`, `21`.
    pub tag: &'static str,
    /// The Debian suite to fetch it from.
    pub suite: &'static str,
    /// The accepted versions: this major, and at least this minor.
    pub major: u32,
    /// The lowest accepted minor version.
    pub min_minor: u32,
    /// The highest accepted minor version (the line under test, not a newer one).
    pub max_minor: u32,
}

/// containerd 1.7 from trixie and 2.x (2.1 today) from sid.
pub const RELEASES: [Release; 2] = [
    Release {
        tag: "17",
        suite: "trixie",
        major: 1,
        min_minor: 7,
        max_minor: 7,
    },
    Release {
        tag: "21",
        suite: "sid",
        major: 2,
        min_minor: 1,
        max_minor: u32::MAX,
    },
];

impl Release {
    /// Whether `version` (as Debian writes it, or as a cache directory names it, where
    /// `~` became `_`) is of this release line.
    fn accepts(&self, version: &str) -> bool {
        parse_version(&version.replace('_', "~")).is_some_and(|(major, minor, _)| {
            major == self.major && (self.min_minor..=self.max_minor).contains(&minor)
        })
    }
}

/// Where the provisioned programs are found, and where runs keep their files.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Self::new()
    }
}

impl Layout {
    /// The layout in this workspace's cache.
    pub fn new() -> Self {
        Layout {
            root: cache_dir().join("nri-init-e2e"),
        }
    }

    /// A link to the directory holding `release`'s containerd and `ctr`.
    pub fn containerd_dir(&self, release: &Release) -> PathBuf {
        self.root.join(format!("containerd-{}", release.tag))
    }

    /// Where each test creates its private containerd directory.
    pub fn run_dir(&self) -> PathBuf {
        project::xtask_dir().join("nri-init-e2e").join("runs")
    }

    /// The plugin binary the tests start (built by the suite's build step).
    pub fn plugin(&self) -> PathBuf {
        project::target_dir()
            .join("debug")
            .join("nri-resctrl-plugin")
    }

    /// The environment the suite's tests read (see `crates/nri-init/tests/e2e.rs`).
    pub fn env(&self) -> Vec<(String, PathBuf)> {
        let mut env: Vec<(String, PathBuf)> = RELEASES
            .iter()
            .map(|r| {
                (
                    format!("NRI_INIT_E2E_CONTAINERD_{}", r.tag),
                    self.containerd_dir(r),
                )
            })
            .collect();
        env.push(("NRI_INIT_E2E_PLUGIN".into(), self.plugin()));
        env.push(("NRI_INIT_E2E_RUN_DIR".into(), self.run_dir()));
        env
    }
}

/// Provisions both containerd releases, saying what it does.
pub fn provision(io: &mut dyn StepIo, layout: &Layout) -> anyhow::Result<()> {
    let uri = apt::archive_uri(&HostRoot::system());
    for release in &RELEASES {
        io.check_interrupted()?;
        containerd(io, layout, release, &uri)?;
    }
    for tool in ["unshare", "mount"] {
        which::which(tool).with_context(|| {
            format!("{tool} is missing (the plugin runs in a private mount namespace); apt-get install util-linux mount")
        })?;
    }
    std::fs::create_dir_all(layout.run_dir())
        .with_context(|| format!("creating {}", layout.run_dir().display()))
}

fn containerd(
    io: &mut dyn StepIo,
    layout: &Layout,
    release: &Release,
    uri: &str,
) -> anyhow::Result<()> {
    let cache = layout.root.join(release.suite);
    let link = layout.containerd_dir(release);
    if let Some((dir, version)) = newest_cached(&cache, "containerd-", "usr/bin/containerd")
        .filter(|(_, version)| release.accepts(version))
    {
        io.line(&format!(
            "containerd {}: using cached {version} ({})",
            release.tag,
            dir.display()
        ));
        return replace_symlink(&dir.join("usr/bin"), &link);
    }
    let mut apt = PrivateApt::new(cache.join("apt"), release.suite, uri);
    let version = apt.candidate(io, "containerd")?;
    if !release.accepts(&version) {
        bail!(
            "Debian {} offers containerd {version}; the suite tests {}.{}",
            release.suite,
            release.major,
            release.min_minor
        );
    }
    io.line(&format!(
        "containerd {}: fetching {version} from Debian {}",
        release.tag, release.suite
    ));
    let dest = cache.join(format!("containerd-{}", file_safe(&version)));
    fetch_and_extract(io, &mut apt, "containerd", &dest)?;
    for binary in ["containerd", "ctr"] {
        let path = dest.join("usr/bin").join(binary);
        if !path.is_file() {
            bail!("the containerd package has no {}", path.display());
        }
    }
    replace_symlink(&dest.join("usr/bin"), &link)
}

/// Removes what crashed runs left in the run directory: stops every process still
/// running from a private directory (TERM, then KILL), then removes it. Fails if anything
/// remains.
pub fn cleanup(io: &mut dyn StepIo, layout: &Layout) -> anyhow::Result<()> {
    cleanup_dir(&layout.run_dir(), &mut |line| io.line(line))
}

fn cleanup_dir(run_dir: &Path, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        say(&format!(
            "{} does not exist: nothing to clean",
            run_dir.display()
        ));
        return Ok(());
    };
    let mut remaining = Vec::new();
    for dir in entries.filter_map(Result::ok).map(|e| e.path()) {
        let pids = processes_in(&dir);
        if !pids.is_empty() {
            say(&format!("{}: stopping {pids:?}", dir.display()));
            signal(&pids, "TERM");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !processes_in(&dir).is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            signal(&processes_in(&dir), "KILL");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        say(&format!("removing {}", dir.display()));
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            remaining.push(format!("{}: {e}", dir.display()));
        }
        let still = processes_in(&dir);
        if !still.is_empty() {
            remaining.push(format!("{}: processes {still:?}", dir.display()));
        }
    }
    if remaining.is_empty() {
        Ok(())
    } else {
        bail!("left behind: {}", remaining.join("; "))
    }
}

fn signal(pids: &[u32], signal: &str) {
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
    }
}

/// Live processes whose command line names `dir`.
fn processes_in(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_release_accepts_only_its_own_line() {
        let [v17, v2] = RELEASES;
        assert!(v17.accepts("1.7.24~ds1-6+deb13u1"));
        assert!(
            v17.accepts("1.7.24_ds1-6+deb13u1"),
            "a cache directory's name"
        );
        assert!(!v17.accepts("1.6.20~ds1-1"));
        assert!(!v17.accepts("2.1.9~ds1-1"));
        assert!(v2.accepts("2.1.9+ds1-5"));
        assert!(v2.accepts("2.2.0~ds1-1"));
        assert!(!v2.accepts("2.0.5~ds1-1"));
    }

    #[test]
    fn env_names_every_asset() {
        let names: Vec<String> = Layout::new().env().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "NRI_INIT_E2E_CONTAINERD_17",
                "NRI_INIT_E2E_CONTAINERD_21",
                "NRI_INIT_E2E_PLUGIN",
                "NRI_INIT_E2E_RUN_DIR"
            ]
        );
    }

    #[test]
    fn cleanup_stops_a_crashed_run_s_processes_and_removes_its_directory() {
        let run = tempfile::tempdir().unwrap();
        let left = run.path().join("n1-0");
        std::fs::create_dir_all(left.join("root")).unwrap();
        // A stand-in for a containerd left running: its command line names the directory.
        let child = std::process::Command::new("sh")
            .args([
                "-c",
                // `ready` once the trap is set: a TERM before it would kill the shell
                // with the default action, not exit 0.
                "trap 'exit 0' TERM; : > \"$1/ready\"; while :; do sleep 0.05; done",
                "sh",
            ])
            .arg(&left)
            .spawn()
            .unwrap();
        // Killed even if an assertion fails, so no test leaves it running.
        struct Reap(std::process::Child);
        impl Drop for Reap {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut child = Reap(child);
        let pid = child.0.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // Forked, not yet exec'd `sleep`s briefly show the shell's command line too.
        while !(processes_in(&left).contains(&pid) && left.join("ready").exists())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(processes_in(&left).contains(&pid));
        let mut lines = Vec::new();
        cleanup_dir(run.path(), &mut |l| lines.push(l.to_owned())).unwrap();
        assert!(child.0.wait().unwrap().success(), "stopped by TERM");
        assert!(!left.exists(), "{lines:?}");
        assert!(processes_in(&left).is_empty());
    }
}
