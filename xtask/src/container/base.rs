//! `cargo xtask container base`: a local stand-in for `RUST_IMAGE` on hosts that cannot pull
//! images: a Debian bookworm root file system made with debootstrap, plus this machine's Rust
//! toolchain laid out as the official image lays it out (`RUSTUP_HOME=/usr/local/rustup`,
//! `CARGO_HOME=/usr/local/cargo`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::cmd;

use super::engine::Engine;
use crate::ctx::Ctx;
use crate::plan::StepIo;
use crate::plan::{Exec, Plan, Step};
use crate::probe::HostRoot;
use crate::project;
use crate::provision::apt;

/// The Debian release of the public image the stand-in replaces.
const SUITE: &str = "bookworm";
/// The rustup proxies the official image has in `CARGO_HOME/bin`.
const PROXIES: [&str; 7] = [
    "cargo",
    "rustc",
    "rustdoc",
    "rustfmt",
    "cargo-fmt",
    "cargo-clippy",
    "clippy-driver",
];

/// The stand-in for the runtime images' base (`RUNTIME_IMAGE`): the same bookworm root
/// file system before the toolchain is added.
pub const RUNTIME_STANDIN: &str = "localhost/debian-standin:bookworm-slim";

/// The stand-in's image name for a toolchain version, e.g. `localhost/rust-standin:1.95.0-bookworm`.
pub fn image_name(rust_version: &str) -> String {
    format!("localhost/rust-standin:{rust_version}-{SUITE}")
}

/// The host's rustc version (`1.95.0`).
pub fn host_rust_version() -> anyhow::Result<String> {
    let sh = project::shell()?;
    let line = cmd!(sh, "rustc --version")
        .quiet()
        .read()
        .context("asking rustc for its version")?;
    line.split_whitespace()
        .nth(1)
        .map(str::to_string)
        .with_context(|| format!("unexpected `rustc --version` output: {line}"))
}

/// Where the stand-in's root file system is assembled.
pub fn work_dir() -> PathBuf {
    project::xtask_dir().join("container-base")
}

/// debootstrap, toolchain, import.
pub fn plan(ctx: &Ctx, engine: &Engine) -> anyhow::Result<Plan> {
    let sh = &ctx.sh;
    let version = host_rust_version()?;
    let rootfs = work_dir().join("rootfs");
    let mirror = apt::archive_uri(&HostRoot::system());
    let image = image_name(&version);
    let mut plan = Plan::default();

    let debootstrap_rootfs = rootfs.clone();
    let debootstrap = Exec::from(cmd!(
        sh,
        "debootstrap --variant=minbase --include=ca-certificates {SUITE} {rootfs} {mirror}"
    ));
    plan.push(
        Step::task(
            "base: debootstrap",
            format!("rm -rf {0} && {debootstrap}", rootfs.display()),
            move |io| {
                if which::which("debootstrap").is_err() {
                    apt::install(io, &["debootstrap"])?;
                }
                let _ = std::fs::remove_dir_all(&debootstrap_rootfs);
                io.run(&debootstrap)
            },
        )
        .in_chain("base"),
    );

    let runtime_tarball = work_dir().join("runtime.tar");
    let runtime_tar = Exec::from(cmd!(sh, "tar -C {rootfs} -cf {runtime_tarball} ."));
    let runtime_import = Exec::from(
        engine
            .cmd(sh)
            .args(["import"])
            .args([runtime_tarball.as_os_str(), RUNTIME_STANDIN.as_ref()]),
    );
    plan.push(
        Step::task(
            "base: runtime import",
            format!("{runtime_tar} && {runtime_import}"),
            move |io| {
                io.run(&runtime_tar)?;
                let imported = io.run(&runtime_import);
                let _ = std::fs::remove_file(&runtime_tarball);
                imported
            },
        )
        .in_chain("base"),
    );

    let toolchain_rootfs = rootfs.clone();
    plan.push(
        Step::task(
            "base: toolchain",
            format!("copy this machine's Rust {version} toolchain (rustup, cargo, rustc, rustfmt, clippy) into {}", rootfs.display()),
            move |io| install_toolchain(io, &toolchain_rootfs),
        )
        .in_chain("base"),
    );

    let certs_rootfs = rootfs.clone();
    plan.push(
        Step::task(
            "base: certificates",
            format!(
                "copy {LOCAL_CAS}/*.crt into {} and run update-ca-certificates there",
                rootfs.display()
            ),
            move |io| install_local_cas(io, &certs_rootfs),
        )
        .in_chain("base"),
    );

    let tarball = work_dir().join("rootfs.tar");
    let tar = Exec::from(cmd!(sh, "tar -C {rootfs} -cf {tarball} ."));
    let changes = [
        "ENV RUSTUP_HOME=/usr/local/rustup".to_string(),
        "ENV CARGO_HOME=/usr/local/cargo".to_string(),
        "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("ENV RUST_VERSION={version}"),
    ]
    .iter()
    .flat_map(|change| ["--change".to_string(), change.clone()])
    .collect::<Vec<_>>();
    let import = Exec::from(
        engine
            .cmd(sh)
            .args(["import"])
            .args(&changes)
            .args([tarball.as_os_str(), image.as_ref()]),
    );
    let cleanup_tarball = tarball.clone();
    plan.push(
        Step::task("base: import", format!("{tar} && {import}"), move |io| {
            io.run(&tar)?;
            let imported = io.run(&import);
            let _ = std::fs::remove_file(&cleanup_tarball);
            imported?;
            io.line(&format!(
                "built {image}; `cargo xtask container build` now uses it as RUST_IMAGE"
            ));
            Ok(())
        })
        .in_chain("base"),
    );
    Ok(plan)
}

/// Where Debian keeps locally added certificate authorities.
const LOCAL_CAS: &str = "/usr/local/share/ca-certificates";

/// Gives the stand-in the certificate authorities this machine added to Debian's store (a
/// network that inspects TLS has its own CA; without it nothing in the image can reach
/// crates.io). Kept in the same directory, they survive the image's own
/// `update-ca-certificates` runs.
fn install_local_cas(io: &mut dyn StepIo, rootfs: &Path) -> anyhow::Result<()> {
    let cas: Vec<PathBuf> = match std::fs::read_dir(LOCAL_CAS) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect(),
        Err(_) => Vec::new(),
    };
    if cas.is_empty() {
        io.line(&format!("no local certificate authorities in {LOCAL_CAS}"));
        return Ok(());
    }
    let dest = rootfs.join(LOCAL_CAS.trim_start_matches('/'));
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    for ca in &cas {
        let name = ca.file_name().expect("a file");
        std::fs::copy(ca, dest.join(name)).with_context(|| format!("copying {}", ca.display()))?;
        io.line(&format!("added {}", ca.display()));
    }
    let sh = project::shell()?;
    io.run(&Exec::from(cmd!(
        sh,
        "chroot {rootfs} update-ca-certificates"
    )))
}

/// Copies the active toolchain (without its documentation) and rustup with its proxies.
fn install_toolchain(io: &mut dyn StepIo, rootfs: &Path) -> anyhow::Result<()> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")?;
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".rustup"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cargo"));
    let sh = project::shell()?;
    let active = cmd!(sh, "rustup show active-toolchain")
        .quiet()
        .read()
        .context("asking rustup for the active toolchain")?;
    let toolchain = active
        .split_whitespace()
        .next()
        .context("rustup named no active toolchain")?
        .to_string();
    let source = rustup_home.join("toolchains").join(&toolchain);
    if !source.is_dir() {
        bail!(
            "the active toolchain {toolchain} is not at {}",
            source.display()
        );
    }
    let dest_home = rootfs.join("usr/local/rustup");
    let dest = dest_home.join("toolchains").join(&toolchain);
    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
    io.line(&format!("copying {} (without share/doc)", source.display()));
    io.run(&Exec::from(cmd!(sh, "cp -a {source} {dest}")))?;
    let _ = std::fs::remove_dir_all(dest.join("share/doc"));
    std::fs::write(
        dest_home.join("settings.toml"),
        format!("version = \"12\"\ndefault_toolchain = \"{toolchain}\"\nprofile = \"minimal\"\n"),
    )
    .context("writing rustup's settings")?;

    let bin = rootfs.join("usr/local/cargo/bin");
    std::fs::create_dir_all(&bin)?;
    let rustup = cargo_home.join("bin/rustup");
    std::fs::copy(&rustup, bin.join("rustup"))
        .with_context(|| format!("copying {}", rustup.display()))?;
    for proxy in PROXIES {
        let link = bin.join(proxy);
        let _ = std::fs::remove_file(&link);
        std::fs::hard_link(bin.join("rustup"), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    io.line(&format!(
        "toolchain {toolchain} installed under /usr/local/rustup, proxies in /usr/local/cargo/bin"
    ));
    // Compiling cargo-nextest is most of a first image build; the Containerfile skips it
    // when the base already has the pinned version.
    if let Ok(nextest) = which::which("cargo-nextest") {
        std::fs::copy(&nextest, bin.join("cargo-nextest"))
            .with_context(|| format!("copying {}", nextest.display()))?;
        io.line(&format!(
            "copied {} (the image build keeps it if it is the pinned version)",
            nextest.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_in_is_named_by_version_and_release() {
        assert_eq!(
            image_name("1.95.0"),
            "localhost/rust-standin:1.95.0-bookworm"
        );
    }

    #[test]
    fn host_version_is_read_from_rustc() {
        let version = host_rust_version().unwrap();
        assert!(version.split('.').count() == 3, "{version}");
    }
}
