//! `s3s-fs`, a file-backed S3-compatible server, built from crates.io into
//! `target/xtask/tools/s3s-fs` for the collector's object-storage tests (0.14.x: the newest
//! series that builds on the workspace's Rust).

use std::path::PathBuf;

use anyhow::Context;
use xshell::cmd;

use crate::plan::{Exec, StepIo};
use crate::project;

/// The pinned version.
pub const VERSION: &str = "0.14.1";

/// Where it is installed (`bin/s3s-fs` below it).
pub fn root() -> PathBuf {
    project::xtask_dir().join("tools").join("s3s-fs")
}

/// The server binary.
pub fn binary() -> PathBuf {
    root().join("bin/s3s-fs")
}

/// Installs the pinned version unless it is there already (a few minutes the first time).
pub fn ensure(io: &mut dyn StepIo) -> anyhow::Result<()> {
    let root = root();
    let stamp = root.join("version");
    if binary().is_file() && std::fs::read_to_string(&stamp).is_ok_and(|v| v.trim() == VERSION) {
        io.line(&format!(
            "s3s-fs {VERSION} already installed in {}",
            root.display()
        ));
        return Ok(());
    }
    let sh = project::shell()?;
    let build = root.join("build");
    io.run(&Exec::from(cmd!(
        sh,
        "cargo install --locked --quiet s3s-fs --version {VERSION} --features binary --root {root} --target-dir {build}"
    )))
    .context("building s3s-fs from crates.io (needs network access to crates.io)")?;
    std::fs::write(&stamp, VERSION).with_context(|| format!("writing {}", stamp.display()))
}
