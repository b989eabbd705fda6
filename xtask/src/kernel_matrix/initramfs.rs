//! The guest's initramfs: the `kernel-matrix-init` binary as `/init` and the workspace's
//! kernel-facing test binaries, all linked statically, plus the manifest the init reads.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cargo_metadata::Message;
use xshell::cmd;

use super::cpio::{self, Entry};
use crate::plan::{Exec, StepIo};
use crate::project;

/// The guest's target: QEMU boots x86-64 kernels.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The packages whose `tests/kernel.rs` run in the guests.
pub const TEST_PACKAGES: [&str; 2] = ["resctrl", "nri-resctrl-plugin"];
/// The init's package and binary.
const INIT: (&str, &str) = ("kernel-matrix-guest", "kernel-matrix-init");

/// The cargo build of the guest's binaries: static (the initramfs has no libc), debug info
/// stripped (it would triple the archive and the guest's memory use).
fn build_command(json: bool) -> anyhow::Result<Exec> {
    let sh = project::shell()?;
    let packages: Vec<String> = TEST_PACKAGES
        .iter()
        .chain([&INIT.0])
        .flat_map(|p| ["-p".to_string(), p.to_string()])
        .collect();
    let format = json.then_some("--message-format=json-render-diagnostics");
    let (_, init) = INIT;
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    flags.push_str(" -C target-feature=+crt-static -C strip=debuginfo");
    Ok(Exec::from(cmd!(
        sh,
        "cargo build --locked --target {TARGET} {packages...} --bin {init} --test kernel {format...}"
    ))
    .env("RUSTFLAGS", flags.trim()))
}

/// What `--plan` shows for the build.
pub fn describe() -> String {
    build_command(false)
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// Builds the binaries (output streamed to the step) and writes the initramfs to `out`.
pub fn build(io: &mut dyn StepIo, out: &Path) -> anyhow::Result<()> {
    io.run(&build_command(false)?)
        .with_context(|| format!("building the guest's binaries (the {TARGET} target must be installed: rustup target add {TARGET})"))?;
    // The same build again only reports its artifacts (nothing is compiled twice).
    let json = build_command(true)?
        .to_command()
        .output()
        .context("asking cargo for the built binaries")?;
    if !json.status.success() {
        bail!(
            "cargo build --message-format=json failed: {}",
            String::from_utf8_lossy(&json.stderr)
        );
    }
    let mut init = None;
    let mut tests = Vec::new();
    for message in Message::parse_stream(json.stdout.as_slice()) {
        let Message::CompilerArtifact(artifact) = message.context("reading cargo's output")? else {
            continue;
        };
        let Some(executable) = artifact.executable else {
            continue;
        };
        let package = artifact
            .manifest_path
            .parent()
            .and_then(|dir| dir.file_name())
            .unwrap_or_default()
            .to_string();
        let is_test = artifact.target.kind.iter().any(|k| k.to_string() == "test");
        if artifact.target.name == INIT.1 {
            init = Some(executable.into_std_path_buf());
        } else if is_test && artifact.target.name == "kernel" {
            tests.push((package, executable.into_std_path_buf()));
        }
    }
    let init = init.context("cargo built no kernel-matrix-init")?;
    tests.sort();
    if tests.len() != TEST_PACKAGES.len() {
        bail!("expected the kernel tests of {TEST_PACKAGES:?}, cargo built {tests:?}");
    }
    write(out, &init, &tests)?;
    io.line(&format!(
        "initramfs {} ({} MiB): init + {}",
        out.display(),
        std::fs::metadata(out).map_or(0, |m| m.len() >> 20),
        tests
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

/// The manifest line of each test binary: libtest runs the ignored (guest-only) tests one
/// at a time, since they move this process between cgroups.
fn manifest(tests: &[(String, PathBuf)]) -> String {
    tests
        .iter()
        .map(|(package, _)| format!("{package} /bin/{package}-kernel --ignored --test-threads=1\n"))
        .collect()
}

/// Writes the archive: directories, the console device, `/init`, the binaries, the manifest.
fn write(out: &Path, init: &Path, tests: &[(String, PathBuf)]) -> anyhow::Result<()> {
    let read =
        |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let init_bytes = read(init)?;
    let binaries: Vec<(String, Vec<u8>)> = tests
        .iter()
        .map(|(package, path)| Ok((format!("bin/{package}-kernel"), read(path)?)))
        .collect::<anyhow::Result<_>>()?;
    let manifest = manifest(tests);
    let mut entries = vec![
        Entry::Dir("dev"),
        Entry::CharDevice("dev/console", 5, 1),
        Entry::Dir("proc"),
        Entry::Dir("sys"),
        Entry::Dir("tmp"),
        Entry::Dir("run"),
        Entry::Dir("bin"),
        Entry::Dir("kmatrix"),
        Entry::File("init", 0o755, &init_bytes),
        Entry::File("kmatrix/tests", 0o644, manifest.as_bytes()),
    ];
    entries.extend(
        binaries
            .iter()
            .map(|(name, bytes)| Entry::File(name, 0o755, bytes)),
    );
    let partial = crate::provision::sibling(out, ".partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?,
    );
    cpio::write(&mut file, &entries).with_context(|| format!("writing {}", partial.display()))?;
    drop(file);
    std::fs::rename(&partial, out)
        .with_context(|| format!("moving the initramfs to {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_binary_runs_its_ignored_tests_one_at_a_time() {
        let tests = [("resctrl".to_string(), PathBuf::from("/t/kernel-1"))];
        assert_eq!(
            manifest(&tests),
            "resctrl /bin/resctrl-kernel --ignored --test-threads=1\n"
        );
    }

    #[test]
    fn the_build_is_static_for_the_guest_target() {
        let line = describe();
        assert!(line.contains("--target x86_64-unknown-linux-gnu"), "{line}");
        assert!(line.contains("+crt-static"), "{line}");
        assert!(
            line.contains("--bin kernel-matrix-init --test kernel"),
            "{line}"
        );
    }
}
