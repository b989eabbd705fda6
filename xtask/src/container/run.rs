//! `cargo xtask --container <command...>`: the same xtask command inside the builder image.
//!
//! The repository is mounted at its own path (so paths in output, `--junit` files and
//! archives land where they would natively), the cargo registry and the target directory
//! are named volumes (kept between runs, first filled from the image's pre-compiled
//! dependencies), stdio is inherited, and the container's exit code is the runner's.

use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::Target;
use super::engine::Engine;
use crate::exec::Interrupt;
use crate::project;

/// Set inside the builder image, so `--container` there runs natively instead of nesting.
pub const IN_CONTAINER: &str = "XTASK_IN_CONTAINER";

/// Environment passed through to the container when set: CI context and output settings.
const PASSTHROUGH: [&str; 14] = [
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_NAME",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_HEAD_REF",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "XTASK_DISPATCH_LEVEL",
    "CARGO_TERM_COLOR",
    "NO_COLOR",
    "TERM",
    "RUST_BACKTRACE",
    "RUST_LOG",
];

/// Gives what the run wrote through the checkout's mount (`paths`, recursively) to the
/// checkout's owner. Inside a container of a rootful engine the runner is root, and files
/// it leaves in the caller's checkout (`target/nextest`, `--junit`, `--archive`, logs) would
/// be root's; with a rootless engine, or outside one, ownership already matches and nothing
/// changes. Errors are reported, never fatal: the run's result stands.
pub fn hand_back(root: &Path, paths: &[std::path::PathBuf]) {
    use std::os::unix::fs::MetadataExt;
    let Ok(owner) = std::fs::metadata(root) else {
        return;
    };
    for path in paths.iter().filter(|path| path.starts_with(root)) {
        if let Err(err) = chown_tree(path, owner.uid(), owner.gid()) {
            eprintln!(
                "warning: could not give {} back to uid {}: {err}",
                path.display(),
                owner.uid()
            );
        }
    }
}

/// `chown -R uid:gid path`, not following symlinks; a missing path is nothing to do.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Whether we are already inside the builder image.
pub fn inside() -> bool {
    std::env::var_os(IN_CONTAINER).is_some()
}

/// What `--container` finds of the builder image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageState {
    /// Not on this host.
    Missing,
    /// Built from another `Containerfile` or `Cargo.lock` (its recipe label, if any).
    Stale(Option<String>),
    /// Built from this checkout's recipe.
    Current,
}

/// Whether `--container` must build the image first, and why (`None`: use it as it is).
/// Under CI a missing or stale image is an error: a job that silently builds the image
/// itself (tens of minutes) hides a broken hand-over from the build job.
///
/// # Errors
/// When `ci` is set and the image is missing or stale, naming what to do instead.
pub fn build_reason(
    state: &ImageState,
    ci: bool,
    image: &str,
    wanted: &str,
) -> anyhow::Result<Option<&'static str>> {
    match state {
        ImageState::Current => Ok(None),
        ImageState::Missing if ci => anyhow::bail!(
            "{image} is not on this host and CI=true: CI jobs load the image the build job made (`cargo xtask container load --input <tar>`) instead of building it; build it here with `cargo xtask container build --target builder`"
        ),
        ImageState::Missing => Ok(Some("is not on this host yet")),
        ImageState::Stale(label) if ci => anyhow::bail!(
            "{image} was built from another Containerfile or Cargo.lock than this checkout's (label {}={}, this checkout's is {wanted}) and CI=true: load the image the build job made from this commit (`cargo xtask container load --input <tar>`), or build it with `cargo xtask container build`",
            super::build::RECIPE_LABEL,
            label.as_deref().unwrap_or("none"),
        ),
        ImageState::Stale(_) => Ok(Some("was built from an older Containerfile or Cargo.lock")),
    }
}

/// The named volume holding this checkout's target directory inside containers (one per
/// checkout path, so two clones do not share build output).
pub fn target_volume(root: &Path) -> String {
    // FNV-1a: stable across runs and Rust versions, unlike `DefaultHasher`.
    let hash = root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("xtask-target-{hash:016x}")
}

/// The `run` arguments for `args` (the xtask arguments, without `--container`); step logs
/// go to the host's `logs` directory, not into the target volume.
pub fn run_args(
    root: &Path,
    image: &str,
    args: &[String],
    tty: bool,
    env: &[(String, String)],
    logs: &Path,
) -> Vec<String> {
    let root = root.display().to_string();
    let mut out: Vec<String> = vec!["run".into(), "--rm".into(), "--init".into()];
    if tty {
        out.extend(["--tty".into(), "--interactive".into()]);
    }
    out.extend([
        "--network=host".into(),
        "--security-opt=label=disable".into(),
        format!("--volume={root}:{root}"),
        format!("--workdir={root}"),
        "--volume=xtask-cargo-registry:/usr/local/cargo/registry".into(),
        format!(
            "--volume={}:/var/cache/xtask/target",
            target_volume(Path::new(&root))
        ),
    ]);
    out.push(format!("--env={}={}", project::LOG_DIR_ENV, logs.display()));
    // Inside the checkout the repository mount already shows it; elsewhere it needs its own.
    if !logs.starts_with(&root) {
        out.push(format!("--volume={0}:{0}", logs.display()));
    }
    for (key, value) in env {
        out.push(format!("--env={key}={value}"));
        // Files GitHub hands over by path must exist inside too.
        if (key == "GITHUB_OUTPUT" || key == "GITHUB_STEP_SUMMARY")
            && let Some(dir) = Path::new(value).parent().filter(|d| !d.starts_with(&root))
        {
            out.push(format!("--volume={0}:{0}", dir.display()));
        }
    }
    out.push(image.to_string());
    out.extend(["cargo".into(), "xtask".into()]);
    out.extend(args.iter().cloned());
    out
}

/// Runs the xtask command `args` in the builder image and returns its exit code.
pub fn run(engine: &Engine, args: &[String]) -> anyhow::Result<i32> {
    let image = Target::Builder.image();
    let env: Vec<(String, String)> = PASSTHROUGH
        .iter()
        .filter_map(|key| {
            std::env::var(key)
                .ok()
                .map(|value| (key.to_string(), value))
        })
        .collect();
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let logs = project::log_dir();
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let sh = project::shell()?;
    let mut command = Command::from(engine.cmd(&sh).args(run_args(
        project::root(),
        &image,
        args,
        tty,
        &env,
        &logs,
    )));
    // Ctrl-C reaches the engine too (same process group), which passes it into the
    // container; the runner only waits, so it must not die first.
    let _interrupt = Interrupt::install()?;
    let status = command
        .status()
        .with_context(|| format!("running {} (is it installed?)", engine.kind.program()))?;
    Ok(status
        .code()
        .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_the_checkout_at_its_own_path_with_cache_volumes() {
        let env = vec![
            ("CI".to_string(), "true".to_string()),
            (
                "GITHUB_STEP_SUMMARY".to_string(),
                "/home/runner/_temp/summary.md".to_string(),
            ),
        ];
        let args = run_args(
            Path::new("/work/repo"),
            "img:dev",
            &["ci".into(), "fast".into()],
            false,
            &env,
            Path::new("/work/repo/target/xtask/logs"),
        );
        let joined = args.join(" ");
        assert!(
            joined.starts_with("run --rm --init --network=host"),
            "{joined}"
        );
        assert!(
            joined.contains("--volume=/work/repo:/work/repo --workdir=/work/repo"),
            "{joined}"
        );
        assert!(
            joined.contains("--volume=xtask-cargo-registry:/usr/local/cargo/registry"),
            "{joined}"
        );
        assert!(
            joined.contains(&format!(
                "--volume={}:/var/cache/xtask/target",
                target_volume(Path::new("/work/repo"))
            )),
            "{joined}"
        );
        assert!(joined.contains("--env=CI=true"), "{joined}");
        // Logs land in the host's target/xtask/logs (visible through the checkout's mount).
        assert!(
            joined.contains("--env=XTASK_LOG_DIR=/work/repo/target/xtask/logs"),
            "{joined}"
        );
        assert!(!joined.contains("--volume=/work/repo/target"), "{joined}");
        assert!(
            joined.contains("--volume=/home/runner/_temp:/home/runner/_temp"),
            "{joined}"
        );
        assert!(joined.ends_with("img:dev cargo xtask ci fast"), "{joined}");
        assert!(!joined.contains("--tty"));
    }

    #[test]
    fn logs_outside_the_checkout_get_a_mount_of_their_own() {
        let args = run_args(
            Path::new("/work/repo"),
            "img:dev",
            &["unit".into()],
            false,
            &[],
            Path::new("/shared/target/xtask/logs"),
        );
        assert!(
            args.contains(
                &"--volume=/shared/target/xtask/logs:/shared/target/xtask/logs".to_string()
            ),
            "{args:?}"
        );
    }

    #[test]
    fn handing_back_leaves_files_owned_as_the_checkout_and_skips_what_is_outside() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().expect("a scratch checkout");
        let out = root.path().join("target/nextest/ci");
        std::fs::create_dir_all(&out).expect("an output dir");
        std::fs::write(out.join("junit.xml"), "<x/>").expect("an output file");
        // Run as the owner (not root), this must be a no-op that succeeds; as root it
        // would chown to the checkout's owner, which is the same here.
        hand_back(
            root.path(),
            &[
                root.path().join("target/nextest"),
                root.path().join("missing"),
            ],
        );
        let owner = std::fs::metadata(root.path()).expect("root").uid();
        assert_eq!(
            std::fs::metadata(out.join("junit.xml"))
                .expect("file")
                .uid(),
            owner
        );
        assert!(chown_tree(&root.path().join("missing"), 0, 0).is_ok());
    }

    #[test]
    fn a_missing_image_is_built_outside_ci_and_an_error_under_it() {
        let err = build_reason(&ImageState::Missing, true, "builder:dev", "abc").expect_err("CI");
        assert!(err.to_string().contains("container load --input"), "{err}");
        assert_eq!(
            build_reason(&ImageState::Missing, false, "builder:dev", "abc").expect("local"),
            Some("is not on this host yet")
        );
    }

    #[test]
    fn a_stale_image_is_rebuilt_outside_ci_and_refused_under_it() {
        let stale = ImageState::Stale(Some("old".into()));
        let err = build_reason(&stale, true, "builder:dev", "abc").expect_err("CI");
        let text = err.to_string();
        assert!(text.contains("xtask.recipe=old"), "{text}");
        assert!(text.contains("this checkout's is abc"), "{text}");
        assert_eq!(
            build_reason(&stale, false, "builder:dev", "abc").expect("local"),
            Some("was built from an older Containerfile or Cargo.lock")
        );
        let unlabelled = build_reason(&ImageState::Stale(None), true, "b", "abc").expect_err("CI");
        assert!(unlabelled.to_string().contains("xtask.recipe=none"));
    }

    #[test]
    fn a_current_image_is_used_as_it_is_under_ci_too() {
        for ci in [false, true] {
            assert_eq!(
                build_reason(&ImageState::Current, ci, "b", "abc").expect("current"),
                None
            );
        }
    }

    #[test]
    fn target_volume_is_per_checkout_and_stable() {
        let a = target_volume(Path::new("/work/a"));
        assert_eq!(a, target_volume(Path::new("/work/a")));
        assert_ne!(a, target_volume(Path::new("/work/b")));
        assert!(a.starts_with("xtask-target-") && a.len() == "xtask-target-".len() + 16);
    }
}
