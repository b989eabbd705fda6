//! What the `nri-e2e` suite needs on the host: runc, a containerd >= 1.7 (with its shim and
//! `ctr`), and a static busybox to build images from. Each ends up behind a stable symlink,
//! so the test step's environment is fixed when the plan is made.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::apt::{self, PrivateApt};
use super::{cache_dir, replace_symlink};
use crate::plan::StepIo;
use crate::probe::containerd::{Version, parse_version};
use crate::probe::{HostRoot, tools};
use crate::project;

/// The Debian suite containerd 2.x and busybox are fetched from.
const SUITE: &str = "sid";
/// The oldest containerd with NRI.
const MIN_CONTAINERD: Version = (1, 7, 0);
/// What a containerd directory must hold.
const CONTAINERD_BINARIES: [&str; 3] = ["containerd", "containerd-shim-runc-v2", "ctr"];

/// Where the provisioned programs are found, and where suite runs keep their files.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout in this workspace's cache.
    pub fn new() -> Self {
        Layout {
            root: cache_dir().join("nri-e2e"),
        }
    }

    /// A link to the directory holding containerd, its runc shim and `ctr`.
    pub fn containerd_dir(&self) -> PathBuf {
        self.root.join("containerd")
    }

    /// A link to runc.
    pub fn runc(&self) -> PathBuf {
        self.root.join("runc")
    }

    /// A link to a static busybox.
    pub fn busybox(&self) -> PathBuf {
        self.root.join("busybox")
    }

    /// The multi-threaded workload program the suite builds (see
    /// `crates/containerd-harness/workloads/threads.rs`).
    pub fn threads_workload(&self) -> PathBuf {
        self.root.join("threads")
    }

    /// Where each run of the suite creates its private containerd directories, so leftovers
    /// of a crashed run can be found.
    pub fn run_dir(&self) -> PathBuf {
        project::xtask_dir().join("nri-e2e").join("runs")
    }

    /// The environment the suite's tests read (see `containerd-harness`'s `Assets`).
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("NRI_E2E_CONTAINERD_DIR", self.containerd_dir()),
            ("NRI_E2E_RUNC", self.runc()),
            ("NRI_E2E_BUSYBOX", self.busybox()),
            ("NRI_E2E_RUN_DIR", self.run_dir()),
        ]
    }
}

/// Provisions everything, saying what it does.
pub fn provision(io: &mut dyn StepIo, layout: &Layout) -> anyhow::Result<()> {
    let mut apt = PrivateApt::new(
        layout.root.join(format!("apt-{SUITE}")),
        SUITE,
        &apt::archive_uri(&HostRoot::system()),
    );
    runc(io, layout)?;
    io.check_interrupted()?;
    containerd(io, layout, &mut apt)?;
    io.check_interrupted()?;
    busybox(io, layout, &mut apt)?;
    std::fs::create_dir_all(layout.run_dir())
        .with_context(|| format!("creating {}", layout.run_dir().display()))?;
    Ok(())
}

/// runc from the host; installed with apt when missing.
fn runc(io: &mut dyn StepIo, layout: &Layout) -> anyhow::Result<()> {
    let found = || {
        which::which("runc")
            .ok()
            .or_else(|| Some(PathBuf::from("/usr/sbin/runc")).filter(|p| p.is_file()))
    };
    let path = match found() {
        Some(path) => path,
        None => {
            io.line("runc is missing (containerd runs containers with it)");
            apt::install(io, &["runc"])?;
            found().context("apt-get installed runc, yet it is not on PATH or at /usr/sbin/runc")?
        }
    };
    let version = tools::version(&path.to_string_lossy(), &["--version"])
        .map(|t| t.version)
        .unwrap_or_else(|why| why);
    io.line(&format!("runc: {} ({version})", path.display()));
    replace_symlink(&path, &layout.runc())
}

/// The host's containerd when it is new enough, else the newest cached, else fetched.
fn containerd(io: &mut dyn StepIo, layout: &Layout, apt: &mut PrivateApt) -> anyhow::Result<()> {
    if let Some((dir, version)) = host_containerd() {
        io.line(&format!(
            "containerd: using the host's {} in {}",
            show(version),
            dir.display()
        ));
        return replace_symlink(&dir, &layout.containerd_dir());
    }
    if let Some((dir, version)) = newest_cached(&layout.root, "containerd-", "usr/bin/containerd") {
        io.line(&format!(
            "containerd: using cached {version} ({})",
            dir.display()
        ));
        return replace_symlink(&dir.join("usr/bin"), &layout.containerd_dir());
    }
    let version = apt.candidate(io, "containerd")?;
    if parse_version(&version).is_none_or(|v| v < (2, 0, 0)) {
        bail!("Debian {SUITE} offers containerd {version}; the suite needs 2.x");
    }
    io.line(&format!(
        "containerd: fetching {version} from Debian {SUITE}"
    ));
    let dest = layout
        .root
        .join(format!("containerd-{}", file_safe(&version)));
    fetch_and_extract(io, apt, "containerd", &dest)?;
    for binary in CONTAINERD_BINARIES {
        let path = dest.join("usr/bin").join(binary);
        if !path.is_file() {
            bail!("the containerd package has no {}", path.display());
        }
    }
    replace_symlink(&dest.join("usr/bin"), &layout.containerd_dir())
}

/// Where busybox-static puts the binary (`/usr/bin` since Debian's usrmerge, `/bin` before).
const BUSYBOX_PATHS: [&str; 2] = ["usr/bin/busybox", "bin/busybox"];

/// A static busybox, cached or fetched.
fn busybox(io: &mut dyn StepIo, layout: &Layout, apt: &mut PrivateApt) -> anyhow::Result<()> {
    let cached = BUSYBOX_PATHS.iter().find_map(|file| {
        newest_cached(&layout.root, "busybox-", file).map(|(dir, v)| (dir.join(file), v))
    });
    if let Some((binary, version)) = cached {
        io.line(&format!("busybox: using cached {version}"));
        return replace_symlink(&binary, &layout.busybox());
    }
    let version = apt.candidate(io, "busybox-static")?;
    io.line(&format!(
        "busybox: fetching busybox-static {version} from Debian {SUITE}"
    ));
    let dest = layout.root.join(format!("busybox-{}", file_safe(&version)));
    fetch_and_extract(io, apt, "busybox-static", &dest)?;
    let binary = BUSYBOX_PATHS
        .iter()
        .map(|file| dest.join(file))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "the busybox-static package has no busybox under {}",
                dest.display()
            )
        })?;
    replace_symlink(&binary, &layout.busybox())
}

/// Downloads `package` with `apt` and unpacks it into `dest` (the download is removed).
pub(super) fn fetch_and_extract(
    io: &mut dyn StepIo,
    apt: &mut PrivateApt,
    package: &str,
    dest: &Path,
) -> anyhow::Result<()> {
    let downloads = super::sibling(dest, ".download");
    let _ = std::fs::remove_dir_all(&downloads);
    let deb = apt.download(io, package, &downloads)?;
    io.check_interrupted()?;
    apt::extract(io, &deb, dest)?;
    let _ = std::fs::remove_dir_all(&downloads);
    Ok(())
}

/// The host's containerd, if it is at least 1.7 and its shim and `ctr` sit beside it.
fn host_containerd() -> Option<(PathBuf, Version)> {
    let tool = tools::version("containerd", &["--version"]).ok()?;
    let version = parse_version(&tool.version)?;
    let dir = tool.path.parent()?.to_path_buf();
    let complete = CONTAINERD_BINARIES.iter().all(|b| dir.join(b).is_file());
    (version >= MIN_CONTAINERD && complete).then_some((dir, version))
}

/// The cached `<prefix><version>` directory with the highest version that holds `file`.
pub(super) fn newest_cached(root: &Path, prefix: &str, file: &str) -> Option<(PathBuf, String)> {
    let mut found: Vec<(Option<Version>, PathBuf, String)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix(prefix)?.to_string();
            let path = entry.path();
            (path.join(file).is_file() && !name.ends_with(".partial"))
                .then(|| (parse_version(&version), path, version))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path, version)| (path, version))
}

/// Debian versions hold `:` and `~`; keep directory names plain.
pub(super) fn file_safe(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn show((major, minor, patch): Version) -> String {
    format!("{major}.{minor}.{patch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_cached_version_wins_and_incomplete_dirs_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for (name, complete) in [
            ("containerd-2.1.9_ds1-1", true),
            ("containerd-2.2.0_ds1-1", true),
            ("containerd-2.3.0_ds1-1", false),
        ] {
            let bin = dir.path().join(name).join("usr/bin");
            std::fs::create_dir_all(&bin).unwrap();
            if complete {
                std::fs::write(bin.join("containerd"), "").unwrap();
            }
        }
        let (path, version) =
            newest_cached(dir.path(), "containerd-", "usr/bin/containerd").unwrap();
        assert_eq!(version, "2.2.0_ds1-1");
        assert!(path.ends_with("containerd-2.2.0_ds1-1"));
        assert!(newest_cached(dir.path(), "busybox-", "bin/busybox").is_none());
    }

    #[test]
    fn versions_become_plain_names() {
        assert_eq!(file_safe("1:1.36.1-9"), "1_1.36.1-9");
        assert_eq!(file_safe("2.1.9~ds1-1"), "2.1.9_ds1-1");
    }

    #[test]
    fn env_names_every_asset() {
        let layout = Layout::new();
        let names: Vec<&str> = layout.env().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "NRI_E2E_CONTAINERD_DIR",
                "NRI_E2E_RUNC",
                "NRI_E2E_BUSYBOX",
                "NRI_E2E_RUN_DIR"
            ]
        );
    }
}
