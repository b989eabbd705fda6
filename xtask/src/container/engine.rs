//! The container engine: podman or docker, whichever is present and answers, with the
//! settings this host needs.
//!
//! podman needs two adjustments on some hosts, detected here rather than configured by
//! hand: without CAP_SYS_RESOURCE (containers, some VMs) it cannot raise rlimits to its
//! defaults, so ulimits are lowered; and crun does not support a hybrid cgroup v1 layout, so
//! runc is used there. They go into a `containers.conf` of the runner's own, passed with
//! `CONTAINERS_CONF`, leaving the system's configuration untouched (a `CONTAINERS_CONF` the
//! user set wins).

use std::path::PathBuf;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::probe::cgroups::{self, CgroupLayout};
use crate::probe::{HostRoot, tools};
use crate::project;

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// podman.
    Podman,
    /// docker.
    Docker,
}

impl Kind {
    /// The program name.
    pub fn program(self) -> &'static str {
        match self {
            Kind::Podman => "podman",
            Kind::Docker => "docker",
        }
    }
}

/// An engine ready to run commands.
#[derive(Clone, Debug)]
pub struct Engine {
    /// Which one.
    pub kind: Kind,
    /// Environment every command of it needs (e.g. `CONTAINERS_CONF`).
    pub env: Vec<(String, String)>,
}

/// What podman must be told on this host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodmanSettings {
    /// Use runc instead of crun.
    pub runc: bool,
    /// Lower the default ulimits (no CAP_SYS_RESOURCE to raise them).
    pub lower_ulimits: bool,
}

impl PodmanSettings {
    /// Detects what this host needs, from files under `root`.
    pub fn detect(root: &HostRoot) -> Self {
        let hybrid = matches!(cgroups::layout(root), CgroupLayout::V1 { .. });
        let crun_missing = which::which("crun").is_err();
        PodmanSettings {
            runc: hybrid || crun_missing,
            lower_ulimits: !has_capability(root, CAP_SYS_RESOURCE),
        }
    }

    /// Fails naming runc and its install command when these settings need it and
    /// `runc_found` says it is not installed: podman's own error would not say so.
    pub fn check_runtime(&self, runc_found: bool) -> anyhow::Result<()> {
        if self.runc && !runc_found {
            bail!(
                "podman on this host needs runc (crun is missing or cannot run on a hybrid cgroup v1 layout), and runc is not installed: install it with `apt-get install runc`"
            );
        }
        Ok(())
    }

    /// The `containers.conf` that applies these settings, if any are needed.
    pub fn containers_conf(&self) -> Option<String> {
        if *self == PodmanSettings::default() {
            return None;
        }
        let mut conf =
            String::from("# Written by `cargo xtask`; see xtask/src/container/engine.rs.\n");
        if self.lower_ulimits {
            conf.push_str(
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
            );
        }
        if self.runc {
            conf.push_str("[engine]\nruntime = \"runc\"\n");
        }
        Some(conf)
    }
}

/// CAP_SYS_RESOURCE's bit in the capability sets.
const CAP_SYS_RESOURCE: u32 = 24;

/// Whether the runner's effective capabilities include `bit`.
fn has_capability(root: &HostRoot, bit: u32) -> bool {
    let Ok(status) = root.read("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << bit) != 0)
}

impl Engine {
    /// Finds an engine: podman if installed, else docker if its daemon answers.
    pub fn detect() -> anyhow::Result<Engine> {
        if tools::version("podman", &["--version"]).is_ok() {
            return Ok(Engine {
                kind: Kind::Podman,
                env: podman_env()?,
            });
        }
        if tools::version("docker", &["--version"]).is_ok() {
            let sh = Shell::new()?;
            if cmd!(sh, "docker info")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run()
                .is_ok()
            {
                return Ok(Engine {
                    kind: Kind::Docker,
                    env: Vec::new(),
                });
            }
            bail!(
                "docker is installed but its daemon does not answer (`docker info` fails), and podman is not installed; install podman with `apt-get install podman runc`"
            );
        }
        bail!("no container engine: install podman with `apt-get install podman runc` (or docker)")
    }

    /// For `--plan`, which must not need a working engine: the one found, or podman as
    /// the one that would be used.
    pub fn detect_for_plan() -> Engine {
        Engine::detect().unwrap_or(Engine {
            kind: Kind::Podman,
            env: Vec::new(),
        })
    }

    /// A command of this engine, with its environment.
    pub fn cmd<'a>(&self, sh: &'a Shell) -> xshell::Cmd<'a> {
        let mut command = sh.cmd(self.kind.program());
        for (key, value) in &self.env {
            command = command.env(key, value);
        }
        command
    }
}

/// `CONTAINERS_CONF` for podman when this host needs settings and the user set none.
pub fn podman_env() -> anyhow::Result<Vec<(String, String)>> {
    if std::env::var_os("CONTAINERS_CONF").is_some() {
        return Ok(Vec::new());
    }
    let settings = PodmanSettings::detect(&HostRoot::system());
    settings.check_runtime(which::which("runc").is_ok())?;
    let Some(conf) = settings.containers_conf() else {
        return Ok(Vec::new());
    };
    let path: PathBuf = project::xtask_dir().join("podman").join("containers.conf");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(conf.as_str()) {
        std::fs::create_dir_all(path.parent().expect("has a parent"))
            .with_context(|| format!("creating {}", path.display()))?;
        std::fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(vec![(
        "CONTAINERS_CONF".to_string(),
        path.display().to_string(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn hybrid_host_without_sys_resource_gets_runc_and_low_ulimits() {
        let fx = FixtureRoot::new();
        fx.file("/proc/self/status", "CapEff:\t000001fffeffffff\n").file(
            "/proc/mounts",
            "cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n",
        );
        let settings = PodmanSettings::detect(&fx.root());
        assert!(settings.runc && settings.lower_ulimits);
        let conf = settings.containers_conf().unwrap();
        assert!(conf.contains("runtime = \"runc\""), "{conf}");
        assert!(conf.contains("nofile=1024:1024"), "{conf}");
    }

    #[test]
    fn a_host_needing_runc_without_it_is_told_to_install_it() {
        let settings = PodmanSettings {
            runc: true,
            lower_ulimits: false,
        };
        let err = settings.check_runtime(false).unwrap_err().to_string();
        assert!(err.contains("`apt-get install runc`"), "{err}");
        assert!(settings.check_runtime(true).is_ok());
        assert!(PodmanSettings::default().check_runtime(false).is_ok());
    }

    #[test]
    fn capability_bits() {
        let fx = FixtureRoot::new();
        fx.file("/proc/self/status", "CapEff:\t000001ffffffffff\n");
        assert!(has_capability(&fx.root(), CAP_SYS_RESOURCE));
        fx.file("/proc/self/status", "CapEff:\t000001fffeffffff\n");
        assert!(!has_capability(&fx.root(), CAP_SYS_RESOURCE));
        assert!(!has_capability(
            &FixtureRoot::new().root(),
            CAP_SYS_RESOURCE
        ));
    }

    #[test]
    fn nothing_to_configure_on_a_capable_v2_host() {
        let settings = PodmanSettings {
            runc: false,
            lower_ulimits: false,
        };
        assert_eq!(settings.containers_conf(), None);
    }
}
