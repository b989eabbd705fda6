//! `cargo xtask container build`: an image from the Containerfile; `--save` writes it to an
//! archive (the CI artifact downstream jobs load instead of rebuilding).

use std::path::PathBuf;

use super::engine::{Engine, Kind};
use super::{Target, base};
use crate::ctx::Ctx;
use crate::plan::{Exec, Plan, Step};
use crate::project;

/// The public base image, as the Containerfile's `RUST_IMAGE` default names it.
pub const PUBLIC_RUST_IMAGE: &str = "docker.io/library/rust:1.95.0-slim-bookworm";

/// Arguments of `container build`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct BuildArgs {
    /// The Containerfile target.
    #[arg(long, value_enum, default_value_t = Target::Builder)]
    pub target: Target,
    /// Also save the image to this archive (load it elsewhere with `container load`).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// The base image (`RUST_IMAGE`). Default: the stand-in from `container base` if this
    /// host has one for its Rust version, else the public image the Containerfile names.
    #[arg(long, value_name = "IMAGE")]
    pub rust_image: Option<String>,
    /// Also tag the image with the immutable CI tags of `cargo xtask image-tag`
    /// (`pr-<N>-<head sha7>`, `<branch>-<sha7>`, `sha-<sha7>` + `latest`), saved with it.
    #[arg(long)]
    pub ci_tags: bool,
    /// Reuse the layers of this image (e.g. the registry's `…/builder:latest`, pushed by
    /// CI on main): an unchanged dependency recipe then skips compiling the dependencies.
    /// A missing or unreadable image only costs the cache.
    #[arg(long, value_name = "IMAGE")]
    pub cache_from: Option<String>,
}

/// The label carrying the hash of what an image was built from.
pub const RECIPE_LABEL: &str = "xtask.recipe";

/// The build argument the builder stage turns into [`RECIPE_LABEL`].
pub const RECIPE_ARG: &str = "XTASK_RECIPE";

/// The files an image's content follows from: a change to either makes it stale.
const RECIPE_FILES: [&str; 2] = ["Containerfile", "Cargo.lock"];

/// A hash of the recipe files under `root` (FNV-1a: stable across runs and Rust versions).
pub fn recipe_hash(root: &std::path::Path) -> String {
    let hash = RECIPE_FILES
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, name| {
            let content = std::fs::read(root.join(name)).unwrap_or_default();
            // The name too, so moving bytes between the files changes the hash.
            name.bytes()
                .chain([0])
                .chain(content)
                .chain([0])
                .fold(hash, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                })
        });
    format!("{hash:016x}")
}

/// The recipe hash `image` was labelled with, if it exists and has one.
pub fn image_recipe(engine: &Engine, image: &str) -> Option<String> {
    let sh = project::shell().ok()?;
    let format = format!("{{{{ index .Config.Labels \"{RECIPE_LABEL}\" }}}}");
    let label = engine
        .cmd(&sh)
        .args(["image", "inspect", "--format", &format, image])
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    let label = label.trim();
    (!label.is_empty() && label != "<no value>").then(|| label.to_string())
}

/// Whether an image exists locally.
pub fn image_exists(engine: &Engine, image: &str) -> bool {
    let Ok(sh) = project::shell() else {
        return false;
    };
    let args: &[&str] = match engine.kind {
        Kind::Podman => &["image", "exists", image],
        Kind::Docker => &["image", "inspect", image],
    };
    engine
        .cmd(&sh)
        .args(args)
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

/// The base image to build on (see [`BuildArgs::rust_image`]).
pub fn rust_image(engine: &Engine, chosen: Option<&str>) -> String {
    if let Some(image) = chosen {
        return image.to_string();
    }
    base::host_rust_version()
        .ok()
        .map(|version| base::image_name(&version))
        .filter(|standin| image_exists(engine, standin))
        .unwrap_or_else(|| PUBLIC_RUST_IMAGE.to_string())
}

/// The public base of the runtime images, as the Containerfile's `RUNTIME_IMAGE` names it.
pub const PUBLIC_RUNTIME_IMAGE: &str = "docker.io/library/debian:bookworm-slim";

/// Build arguments of the shipped images: their base (the stand-in from `container base`
/// if this host has it) and the commit they are built from, for their labels.
fn runtime_args(engine: &Engine, target: Target) -> Vec<String> {
    if target == Target::Builder {
        return Vec::new();
    }
    let runtime = Some(base::RUNTIME_STANDIN)
        .filter(|standin| image_exists(engine, standin))
        .unwrap_or(PUBLIC_RUNTIME_IMAGE);
    let mut args = vec![
        "--build-arg".to_string(),
        format!("RUNTIME_IMAGE={runtime}"),
    ];
    let revision = project::shell().ok().and_then(|sh| {
        xshell::cmd!(sh, "git rev-parse HEAD")
            .quiet()
            .ignore_stderr()
            .read()
            .ok()
    });
    if let Some(revision) = revision {
        args.extend(["--build-arg".to_string(), format!("REVISION={revision}")]);
    }
    args
}

/// Build, tag with `ci_tags` (what `image-tag` gives, when `--ci-tags` asked for them), and
/// save.
pub fn plan(ctx: &Ctx, engine: &Engine, args: &BuildArgs, ci_tags: &[String]) -> Plan {
    let tags = ci_tags;
    let sh = &ctx.sh;
    let image = args.target.image();
    let stage = args.target.stage();
    let rust_image = format!(
        "RUST_IMAGE={}",
        rust_image(engine, args.rust_image.as_deref())
    );
    let root = project::root();
    let mut plan = Plan::default();
    let build = engine
        .cmd(sh)
        .args([
            "build",
            "--file",
            "Containerfile",
            "--target",
            stage,
            "--tag",
            &image,
            "--build-arg",
            &rust_image,
            "--label",
            &format!("{RECIPE_LABEL}={}", recipe_hash(root)),
            // The builder stage writes it in a RUN, so the layer cache cannot keep an
            // older build's label (see the Containerfile).
            "--build-arg",
            &format!("{RECIPE_ARG}={}", recipe_hash(root)),
        ])
        .args(cache_args(engine.kind, args))
        .args(runtime_args(engine, args.target))
        // podman pulls only what is missing; with a local stand-in nothing is pulled.
        .arg(root);
    plan.push(
        Step::exec(format!("container build {stage}"), Exec::from(build))
            .in_chain("container")
            .parsed_by(crate::output::image_build::parser),
    );
    let mut names = vec![image.clone()];
    for tag in tags {
        let tagged = args.target.image_tagged(tag);
        plan.push(
            Step::exec(
                format!("container tag {tag}"),
                Exec::from(engine.cmd(sh).args(["tag", &image, &tagged])),
            )
            .in_chain("container"),
        );
        names.push(tagged);
    }
    if let Some(archive) = &args.save {
        let format: &[&str] = match engine.kind {
            Kind::Podman => &["--format", "oci-archive"],
            Kind::Docker => &[],
        };
        let mut save = Exec::from(
            engine
                .cmd(sh)
                .arg("save")
                .args(format)
                .arg("--output")
                .arg(archive)
                .args(&names),
        );
        if let Some(dir) = sh.current_dir().join(archive).parent() {
            save = save.creating_dir(dir);
        }
        plan.push(Step::exec(format!("container save {stage}"), save).in_chain("container"));
    }
    plan
}

/// The arguments that make a build reuse `--cache-from`'s layers and, for CI builds, make
/// the image serve as a cache itself.
fn cache_args(kind: Kind, args: &BuildArgs) -> Vec<String> {
    let mut out = Vec::new();
    // docker's BuildKit reads a registry image's layers as cache only when the image
    // carries inline cache metadata, which it writes only when asked.
    if kind == Kind::Docker && (args.ci_tags || args.cache_from.is_some()) {
        out.extend([
            "--build-arg".to_string(),
            "BUILDKIT_INLINE_CACHE=1".to_string(),
        ]);
    }
    if let Some(image) = &args.cache_from {
        let image = image.to_ascii_lowercase();
        match kind {
            Kind::Docker => out.extend(["--cache-from".to_string(), image]),
            // podman's cache is a repository (tags are its own), used with --layers.
            Kind::Podman => {
                let repository = match image.rsplit_once(':') {
                    Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
                    _ => image,
                };
                out.extend([
                    "--layers".to_string(),
                    "--cache-from".to_string(),
                    repository,
                ]);
            }
        }
    }
    out
}

/// Load a saved image.
pub fn load_plan(ctx: &Ctx, engine: &Engine, input: &std::path::Path) -> Plan {
    let mut plan = Plan::default();
    plan.push(Step::exec(
        "container load",
        Exec::from(engine.cmd(&ctx.sh).args(["load", "--input"]).arg(input)),
    ));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_tags_are_added_after_the_build_and_saved_with_the_image() {
        let engine = Engine {
            kind: Kind::Docker,
            env: Vec::new(),
        };
        let args = BuildArgs {
            target: Target::Builder,
            save: Some("target/xtask/images/builder.tar".into()),
            rust_image: Some("rust:x".into()),
            ci_tags: true,
            cache_from: None,
        };
        let tags = ["pr-7-0123456".to_string()];
        let plan = plan(&Ctx::for_tests(true), &engine, &args, &tags);
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "container build builder",
                "container tag pr-7-0123456",
                "container save builder"
            ]
        );
        let rendered = plan.render();
        assert!(rendered.contains("BUILDKIT_INLINE_CACHE=1"), "{rendered}");
        assert!(
            rendered.contains(
                "docker save --output target/xtask/images/builder.tar localhost/resctrl-collector/builder:dev localhost/resctrl-collector/builder:pr-7-0123456"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn a_cache_image_is_passed_in_each_engines_form() {
        let args = BuildArgs {
            target: Target::Builder,
            save: None,
            rust_image: None,
            ci_tags: false,
            cache_from: Some("ghcr.io/Owner/Repo/builder:latest".into()),
        };
        assert_eq!(
            cache_args(Kind::Docker, &args),
            [
                "--build-arg",
                "BUILDKIT_INLINE_CACHE=1",
                "--cache-from",
                "ghcr.io/owner/repo/builder:latest"
            ]
        );
        assert_eq!(
            cache_args(Kind::Podman, &args),
            ["--layers", "--cache-from", "ghcr.io/owner/repo/builder"]
        );
        let local = BuildArgs {
            cache_from: None,
            ..args
        };
        assert!(
            cache_args(Kind::Docker, &local).is_empty(),
            "local builds unchanged"
        );
    }

    #[test]
    fn the_recipe_hash_follows_the_containerfile_and_the_lock_file() {
        let dir = tempfile::tempdir().expect("a scratch checkout");
        std::fs::write(dir.path().join("Containerfile"), "FROM x\n").expect("Containerfile");
        std::fs::write(dir.path().join("Cargo.lock"), "version = 4\n").expect("Cargo.lock");
        let before = recipe_hash(dir.path());
        assert_eq!(before, recipe_hash(dir.path()), "stable");
        std::fs::write(dir.path().join("Cargo.lock"), "version = 4\n# bumped\n")
            .expect("Cargo.lock");
        assert_ne!(before, recipe_hash(dir.path()));
    }

    /// The engine command line that builds the builder image with podman.
    fn builder_build_line() -> String {
        let engine = Engine {
            kind: Kind::Podman,
            env: Vec::new(),
        };
        let args = BuildArgs {
            target: Target::Builder,
            save: None,
            rust_image: Some("rust:local".into()),
            ci_tags: false,
            cache_from: None,
        };
        plan(&Ctx::for_tests(true), &engine, &args, &[]).steps[0].command_line()
    }

    #[test]
    fn built_images_carry_their_recipe() {
        let line = builder_build_line();
        assert!(
            line.contains(&format!(
                "--label {RECIPE_LABEL}={}",
                recipe_hash(project::root())
            )),
            "{line}"
        );
    }

    #[test]
    fn the_builder_stage_labels_its_recipe_through_a_run_the_cache_keys_on() {
        let containerfile = std::fs::read_to_string(project::root().join("Containerfile"))
            .expect("the Containerfile");
        let stage = containerfile
            .split("\nFROM ")
            .find(|stage| stage.starts_with("cook AS builder"))
            .expect("a builder stage");
        let arg = stage
            .find(&format!("ARG {RECIPE_ARG}="))
            .expect("the argument");
        let run = stage
            .find(&format!("RUN echo \"${{{RECIPE_ARG}}}\""))
            .expect("a RUN using it");
        let label = stage
            .find(&format!("LABEL {RECIPE_LABEL}=\"${{{RECIPE_ARG}}}\""))
            .expect("the label from it");
        assert!(arg < run && run < label, "{stage}");
        let line = builder_build_line();
        assert!(
            line.contains(&format!(
                "--build-arg {RECIPE_ARG}={}",
                recipe_hash(project::root())
            )),
            "{line}"
        );
    }

    fn docker() -> Engine {
        Engine {
            kind: Kind::Docker,
            env: Vec::new(),
        }
    }

    #[test]
    fn a_shipped_image_gets_its_runtime_base_and_revision() {
        let args = BuildArgs {
            target: Target::Collector,
            save: None,
            rust_image: Some("rust:x".into()),
            ci_tags: false,
            cache_from: None,
        };
        let plan = plan(&Ctx::for_tests(false), &docker(), &args, &[]);
        let line = plan.steps[0].command_line();
        for part in [
            "--target collector",
            "--tag localhost/resctrl-collector/collector:dev",
            "RUNTIME_IMAGE=",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }

    #[test]
    fn the_builder_image_has_no_runtime_arguments() {
        let args = BuildArgs {
            target: Target::Builder,
            save: None,
            rust_image: Some("rust:x".into()),
            ci_tags: false,
            cache_from: None,
        };
        let line = plan(&Ctx::for_tests(false), &docker(), &args, &[]).steps[0].command_line();
        assert!(!line.contains("RUNTIME_IMAGE"), "{line}");
        assert!(!line.contains("REVISION"), "{line}");
    }
}
