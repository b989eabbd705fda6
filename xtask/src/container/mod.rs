//! Containers: the builder image from the Containerfile, a local stand-in for the public
//! Rust image on hosts that cannot pull, and running any xtask command inside the builder
//! image (`cargo xtask --container ...`).

pub mod base;
pub mod build;
pub mod clean;
pub mod engine;
pub mod pull;
pub mod push;
pub mod retry;
pub mod run;

use std::path::PathBuf;

/// `container` subcommands.
#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
pub enum ContainerCommand {
    /// Build a local stand-in for the public Rust image (Debian bookworm made with
    /// debootstrap, plus this machine's Rust toolchain), for hosts that cannot pull images.
    /// Later builds use it automatically. Needs root.
    #[command(
        after_help = "Examples:\n  cargo xtask container base\n  cargo xtask container base --plan"
    )]
    Base,
    /// Build an image from the Containerfile with podman or docker.
    #[command(
        after_help = "Examples:\n  cargo xtask container build\n  cargo xtask container build --save target/xtask/builder.tar"
    )]
    Build(build::BuildArgs),
    /// Load an image saved with `container build --save` (e.g. a CI artifact).
    #[command(
        after_help = "Examples:\n  cargo xtask container load --input target/xtask/builder.tar\n  cargo xtask --container ci fast"
    )]
    Load(LoadArgs),
    /// Remove what the container path keeps for this checkout: its target volume, the
    /// stand-in base's root file system and dangling images (the shared cargo registry
    /// volume stays).
    #[command(
        after_help = "Examples:\n  cargo xtask container clean --plan   # what it would remove\n  cargo xtask container clean"
    )]
    Clean,
    /// Push the builder image to a registry under the CI tags of `image-tag` (retried with
    /// backoff); CI does this on main only.
    #[command(
        after_help = "Examples:\n  cargo xtask container push --registry ghcr.io/acme/repo\n  cargo xtask container push --registry ghcr.io/acme/repo --plan"
    )]
    Push(push::PushArgs),
    /// Pull the builder image from a registry (retried with backoff: 2 s, 4 s, 8 s) and tag
    /// it as the local builder `--container` runs; exits 1 when every attempt fails or the
    /// image was built from another recipe, so CI falls back to the build job's artifact.
    #[command(
        after_help = "Examples:\n  cargo xtask container pull --image ghcr.io/acme/repo/builder:sha-0123456\n  cargo xtask container pull --image ghcr.io/acme/repo/builder:latest --attempts 2\n  cargo xtask container pull --image ghcr.io/acme/repo/builder:latest --plan"
    )]
    Pull(pull::PullArgs),
}

/// Arguments of `container load`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct LoadArgs {
    /// The image archive.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
}

/// Images this project builds, by Containerfile target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Everything `cargo xtask` needs.
    Builder,
    /// The collector's runtime image.
    Collector,
    /// The NRI plugin's runtime image.
    NriResctrlPlugin,
}

impl Target {
    /// The Containerfile stage name.
    pub fn stage(self) -> &'static str {
        match self {
            Target::Builder => "builder",
            Target::Collector => "collector",
            Target::NriResctrlPlugin => "nri-resctrl-plugin",
        }
    }

    /// The local image name.
    pub fn image(self) -> String {
        self.image_tagged("dev")
    }

    /// The local image name with another tag.
    pub fn image_tagged(self, tag: &str) -> String {
        format!("localhost/resctrl-collector/{}:{tag}", self.stage())
    }
}
