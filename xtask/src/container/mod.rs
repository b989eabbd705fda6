//! Containers: the builder image from the Containerfile, a local stand-in for the public
//! Rust image on hosts that cannot pull, and running any xtask command inside the builder
//! image (`cargo xtask --container ...`).

pub mod base;
pub mod build;
pub mod engine;
pub mod run;

use std::path::PathBuf;

/// `container` subcommands.
#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
pub enum ContainerCommand {
    /// Build a local stand-in for the public Rust image (Debian bookworm made with
    /// debootstrap, plus this machine's Rust toolchain), for hosts that cannot pull images.
    /// Later builds use it automatically. Needs root.
    Base,
    /// Build an image from the Containerfile with podman or docker.
    Build(build::BuildArgs),
    /// Load an image saved with `container build --save` (e.g. a CI artifact).
    Load(LoadArgs),
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
        format!("localhost/resctrl-collector/{}:dev", self.stage())
    }
}
