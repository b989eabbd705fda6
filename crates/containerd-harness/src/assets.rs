//! The binaries and the run directory the harness needs, as provisioned by the runner.
//!
//! `cargo xtask nri-e2e` downloads containerd and busybox-static, installs runc, and
//! passes their locations in environment variables; [`Assets::from_env`] reads them.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Directory holding `containerd`, `containerd-shim-runc-v2` and `ctr`.
pub const ENV_CONTAINERD_DIR: &str = "NRI_E2E_CONTAINERD_DIR";
/// Path of the `runc` binary.
pub const ENV_RUNC: &str = "NRI_E2E_RUNC";
/// Path of a static busybox binary (the images are built from it).
pub const ENV_BUSYBOX: &str = "NRI_E2E_BUSYBOX";
/// Parent directory of every private containerd directory (`<run dir>/ctrd-<pid>-<n>`).
pub const ENV_RUN_DIR: &str = "NRI_E2E_RUN_DIR";

/// The binaries in [`ENV_CONTAINERD_DIR`] the harness runs.
pub const CONTAINERD_BINARIES: [&str; 3] = ["containerd", "containerd-shim-runc-v2", "ctr"];

/// Locations of the provisioned binaries and of the run directory; all absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// Directory with `containerd`, `containerd-shim-runc-v2` and `ctr`; it goes first on
    /// containerd's PATH because containerd finds the shim there.
    pub containerd_dir: PathBuf,
    /// The runc binary (written into the runtime options as `BinaryName`).
    pub runc: PathBuf,
    /// A static busybox binary.
    pub busybox: PathBuf,
    /// Where private containerd directories are created (created if missing).
    pub run_dir: PathBuf,
}

impl Assets {
    /// Reads and checks the `NRI_E2E_*` variables of the process environment.
    ///
    /// The error names the variable and says to run the suite through
    /// `cargo xtask nri-e2e`.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Like [`Assets::from_env`], with variables from `lookup` (tests use a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self> {
        let containerd_dir = dir_var(&lookup, ENV_CONTAINERD_DIR)?;
        for binary in CONTAINERD_BINARIES {
            let path = containerd_dir.join(binary);
            check_executable(&path).map_err(|reason| Error::Env {
                var: ENV_CONTAINERD_DIR,
                reason: format!(
                    "{} has no usable `{binary}`: {reason}",
                    containerd_dir.display()
                ),
            })?;
        }
        let runc = executable_var(&lookup, ENV_RUNC)?;
        let busybox = executable_var(&lookup, ENV_BUSYBOX)?;
        let run_dir = path_var(&lookup, ENV_RUN_DIR)?;
        match std::fs::metadata(&run_dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::Env {
                    var: ENV_RUN_DIR,
                    reason: format!("{} is not a directory", run_dir.display()),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&run_dir).map_err(|e| Error::Env {
                    var: ENV_RUN_DIR,
                    reason: format!("cannot create {}: {e}", run_dir.display()),
                })?;
            }
            Err(e) => {
                return Err(Error::Env {
                    var: ENV_RUN_DIR,
                    reason: format!("cannot inspect {}: {e}", run_dir.display()),
                });
            }
        }
        Ok(Self {
            containerd_dir,
            runc,
            busybox,
            run_dir,
        })
    }

    /// The `containerd` daemon binary.
    pub fn containerd(&self) -> PathBuf {
        self.containerd_dir.join("containerd")
    }

    /// The `ctr` client binary.
    pub fn ctr(&self) -> PathBuf {
        self.containerd_dir.join("ctr")
    }
}

/// A set, non-empty variable made absolute (relative to the current directory).
fn path_var(lookup: &impl Fn(&str) -> Option<OsString>, var: &'static str) -> Result<PathBuf> {
    let value = lookup(var).ok_or_else(|| Error::Env {
        var,
        reason: "not set".into(),
    })?;
    if value.is_empty() {
        return Err(Error::Env {
            var,
            reason: "set but empty".into(),
        });
    }
    std::path::absolute(Path::new(&value)).map_err(|e| Error::Env {
        var,
        reason: format!("cannot make {value:?} absolute: {e}"),
    })
}

fn dir_var(lookup: &impl Fn(&str) -> Option<OsString>, var: &'static str) -> Result<PathBuf> {
    let path = path_var(lookup, var)?;
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path),
        Ok(_) => Err(Error::Env {
            var,
            reason: format!("{} is not a directory", path.display()),
        }),
        Err(e) => Err(Error::Env {
            var,
            reason: format!("{}: {e}", path.display()),
        }),
    }
}

fn executable_var(
    lookup: &impl Fn(&str) -> Option<OsString>,
    var: &'static str,
) -> Result<PathBuf> {
    let path = path_var(lookup, var)?;
    check_executable(&path).map_err(|reason| Error::Env { var, reason })?;
    Ok(path)
}

/// `Ok` for a regular file (after symlinks) with an execute bit.
fn check_executable(path: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not executable", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn exe(path: &Path) {
        std::fs::write(path, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A complete, valid provisioning in a temp dir, as a variable map.
    fn provisioned(root: &Path) -> HashMap<&'static str, OsString> {
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        for b in CONTAINERD_BINARIES {
            exe(&bin.join(b));
        }
        exe(&root.join("runc"));
        exe(&root.join("busybox"));
        HashMap::from([
            (ENV_CONTAINERD_DIR, bin.into_os_string()),
            (ENV_RUNC, root.join("runc").into_os_string()),
            (ENV_BUSYBOX, root.join("busybox").into_os_string()),
            (ENV_RUN_DIR, root.join("run").into_os_string()),
        ])
    }

    fn from_map(vars: &HashMap<&'static str, OsString>) -> Result<Assets> {
        Assets::from_lookup(|name| vars.get(name).cloned())
    }

    fn env_error(result: Result<Assets>) -> (&'static str, String) {
        match result {
            Err(e @ Error::Env { var, .. }) => (var, e.to_string()),
            other => panic!("expected an Env error, got {other:?}"),
        }
    }

    #[test]
    fn valid_provisioning_is_accepted_and_run_dir_created() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = provisioned(tmp.path());
        let assets = from_map(&vars).unwrap();
        assert_eq!(assets.ctr(), tmp.path().join("bin/ctr"));
        assert_eq!(assets.containerd(), tmp.path().join("bin/containerd"));
        assert!(assets.run_dir.is_dir());
    }

    #[test]
    fn every_missing_variable_is_named_with_the_xtask_hint() {
        let tmp = tempfile::tempdir().unwrap();
        let full = provisioned(tmp.path());
        for var in [ENV_CONTAINERD_DIR, ENV_RUNC, ENV_BUSYBOX, ENV_RUN_DIR] {
            let mut vars = full.clone();
            vars.remove(var);
            let (named, message) = env_error(from_map(&vars));
            assert_eq!(named, var);
            assert!(message.starts_with(&format!("{var}: not set")), "{message}");
            assert!(message.contains("cargo xtask nri-e2e"), "{message}");
        }
    }

    #[test]
    fn empty_variable_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let mut vars = provisioned(tmp.path());
        vars.insert(ENV_RUNC, OsString::new());
        let (var, message) = env_error(from_map(&vars));
        assert_eq!(var, ENV_RUNC);
        assert!(message.contains("empty"), "{message}");
    }

    #[test]
    fn containerd_dir_without_the_shim_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = provisioned(tmp.path());
        std::fs::remove_file(tmp.path().join("bin/containerd-shim-runc-v2")).unwrap();
        let (var, message) = env_error(from_map(&vars));
        assert_eq!(var, ENV_CONTAINERD_DIR);
        assert!(message.contains("containerd-shim-runc-v2"), "{message}");
    }

    #[test]
    fn non_executable_busybox_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = provisioned(tmp.path());
        std::fs::set_permissions(
            tmp.path().join("busybox"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let (var, message) = env_error(from_map(&vars));
        assert_eq!(var, ENV_BUSYBOX);
        assert!(message.contains("not executable"), "{message}");
    }

    #[test]
    fn run_dir_that_is_a_file_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let mut vars = provisioned(tmp.path());
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        vars.insert(ENV_RUN_DIR, file.into_os_string());
        let (var, message) = env_error(from_map(&vars));
        assert_eq!(var, ENV_RUN_DIR);
        assert!(message.contains("not a directory"), "{message}");
    }
}
