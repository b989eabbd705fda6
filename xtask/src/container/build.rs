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
    /// Also tag the image `localhost/resctrl-collector/<target>:<TAG>` (repeatable; e.g.
    /// each line of `cargo xtask image-tag`).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
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

/// Build (and save).
pub fn plan(ctx: &Ctx, engine: &Engine, args: &BuildArgs) -> Plan {
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
        ])
        .args(runtime_args(engine, args.target))
        .args(args.tags.iter().flat_map(|tag| {
            let image = format!("localhost/resctrl-collector/{stage}:{tag}");
            ["--tag".to_string(), image]
        }))
        // podman pulls only what is missing; with a local stand-in nothing is pulled.
        .arg(root);
    plan.push(
        Step::exec(format!("container build {stage}"), Exec::from(build)).in_chain("container"),
    );
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
                .arg(&image),
        );
        if let Some(dir) = sh.current_dir().join(archive).parent() {
            save = save.creating_dir(dir);
        }
        plan.push(Step::exec(format!("container save {stage}"), save).in_chain("container"));
    }
    plan
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

    fn docker() -> Engine {
        Engine {
            kind: Kind::Docker,
            env: Vec::new(),
        }
    }

    #[test]
    fn a_shipped_image_gets_its_runtime_base_revision_and_extra_tags() {
        let args = BuildArgs {
            target: Target::Collector,
            save: None,
            rust_image: Some("rust:x".into()),
            tags: vec!["sha-abc1234".into(), "latest".into()],
        };
        let plan = plan(&Ctx::for_tests(false), &docker(), &args);
        let line = plan.steps[0].command_line();
        for part in [
            "--target collector",
            "--tag localhost/resctrl-collector/collector:dev",
            "--tag localhost/resctrl-collector/collector:sha-abc1234",
            "--tag localhost/resctrl-collector/collector:latest",
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
            tags: Vec::new(),
        };
        let line = plan(&Ctx::for_tests(false), &docker(), &args).steps[0].command_line();
        assert!(!line.contains("RUNTIME_IMAGE"), "{line}");
        assert!(!line.contains("REVISION"), "{line}");
    }
}
