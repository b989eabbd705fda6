//! Kernels for the kernel matrix: Debian's cloud kernel of each suite, resolved through a
//! private apt state (kept, and refreshed at most daily), fetched once per exact package
//! version, and kept as a bare `vmlinuz` with its checksum under the cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use xshell::cmd;

use super::apt::{self, PrivateApt};
use super::{cache_dir, sibling};
use crate::plan::StepIo;
use crate::probe::HostRoot;
use crate::project;

/// A kernel the matrix can run: a name for `--kernel` and the Debian suite it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelChoice {
    /// `5.10`, `6.1`, `6.12` or `newest`.
    pub name: &'static str,
    /// The Debian suite whose cloud kernel it is.
    pub suite: &'static str,
}

/// Every kernel of the matrix, oldest first.
pub const KERNELS: &[KernelChoice] = &[
    KernelChoice {
        name: "5.10",
        suite: "bullseye",
    },
    KernelChoice {
        name: "6.1",
        suite: "bookworm",
    },
    KernelChoice {
        name: "6.12",
        suite: "trixie",
    },
    KernelChoice {
        name: "newest",
        suite: "sid",
    },
];

/// The metapackage naming each suite's current cloud kernel.
const META: &str = "linux-image-cloud-amd64";
/// How long fetched package lists count as current.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A kernel ready to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// The choice's name (`6.1`).
    pub name: String,
    /// The kernel release (`6.1.0-50-cloud-amd64`).
    pub release: String,
    /// The package the image came from and its version.
    pub package: String,
    /// The package version.
    pub version: String,
    /// The kernel image.
    pub vmlinuz: PathBuf,
}

fn kernels_dir() -> PathBuf {
    cache_dir().join("kernel-matrix")
}

/// Resolves and (unless cached) fetches the kernel of `choice`.
pub fn fetch(io: &mut dyn StepIo, choice: KernelChoice) -> anyhow::Result<Kernel> {
    let uri = apt::archive_uri(&HostRoot::system());
    let mut apt = PrivateApt::new(
        kernels_dir().join(format!("apt-{}", choice.suite)),
        choice.suite,
        &uri,
    );
    apt.assume_fresh_within(LISTS_MAX_AGE);
    let image = apt
        .depends(io, META)?
        .into_iter()
        .find(|dep| dep.starts_with("linux-image-"))
        .with_context(|| {
            format!(
                "{META} in Debian {} names no versioned linux-image",
                choice.suite
            )
        })?;
    let version = apt.candidate(io, &image)?;
    // Newer suites split the image out of the versioned package into linux-binary-*.
    let package = apt
        .depends(io, &image)?
        .into_iter()
        .find(|dep| dep.starts_with("linux-binary-") && !dep.contains("unsigned"))
        .unwrap_or_else(|| image.clone());
    let release = image["linux-image-".len()..].to_string();
    let dir = kernels_dir()
        .join("kernels")
        .join(format!("{package}_{version}"));
    let vmlinuz = dir.join("vmlinuz");
    if verified(&dir)? {
        io.line(&format!("{}: {package} {version} (cached)", choice.name));
    } else {
        io.line(&format!(
            "{}: fetching {package} {version} from Debian {}",
            choice.name, choice.suite
        ));
        let partial = sibling(&dir, ".partial");
        let _ = std::fs::remove_dir_all(&partial);
        let deb = apt.download(io, &package, &partial.join("deb"))?;
        let tree = partial.join("tree");
        apt::extract(io, &deb, &tree)?;
        let found = find_vmlinuz(&tree)?;
        std::fs::copy(&found, partial.join("vmlinuz"))
            .with_context(|| format!("copying {}", found.display()))?;
        let sum = sha256(&partial.join("vmlinuz"))?;
        std::fs::write(partial.join("vmlinuz.sha256"), &sum).context("writing the checksum")?;
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
        std::fs::remove_dir_all(partial.join("deb")).context("removing the downloaded package")?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir)
            .with_context(|| format!("moving {} to {}", partial.display(), dir.display()))?;
    }
    Ok(Kernel {
        name: choice.name.to_string(),
        release,
        package,
        version,
        vmlinuz,
    })
}

/// Whether `dir` holds a kernel whose checksum matches the one recorded when it was fetched.
fn verified(dir: &Path) -> anyhow::Result<bool> {
    let (image, recorded) = (dir.join("vmlinuz"), dir.join("vmlinuz.sha256"));
    let Ok(recorded) = std::fs::read_to_string(&recorded) else {
        return Ok(false);
    };
    Ok(image.is_file() && sha256(&image)? == recorded.trim())
}

/// The image in an unpacked kernel package: `boot/vmlinuz-*` (older layouts) or
/// `usr/lib/modules/<release>/vmlinuz`.
fn find_vmlinuz(tree: &Path) -> anyhow::Result<PathBuf> {
    let boot = std::fs::read_dir(tree.join("boot"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        });
    let modules = || {
        std::fs::read_dir(tree.join("usr/lib/modules"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path().join("vmlinuz"))
            .find(|p| p.is_file())
    };
    match boot.or_else(modules) {
        Some(path) => Ok(path),
        None => bail!(
            "no vmlinuz in the kernel package unpacked at {}",
            tree.display()
        ),
    }
}

/// The SHA-256 of a file, as `sha256sum` prints it.
fn sha256(path: &Path) -> anyhow::Result<String> {
    let sh = project::shell()?;
    let out = cmd!(sh, "sha256sum {path}")
        .quiet()
        .read()
        .with_context(|| format!("checksumming {}", path.display()))?;
    Ok(out
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The kernel release a bzImage announces (its setup header's version string), for a
/// kernel the user built (`--kernel-image`).
pub fn image_release(image: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    let invalid = || anyhow::anyhow!("{} is not a bzImage (no setup header)", image.display());
    if bytes.get(0x202..0x206) != Some(b"HdrS") {
        return Err(invalid());
    }
    let offset = u16::from_le_bytes([bytes[0x20e], bytes[0x20f]]) as usize + 0x200;
    let text = bytes.get(offset..offset + 256).ok_or_else(invalid)?;
    let end = text
        .iter()
        .position(|&b| b == 0 || b == b' ')
        .unwrap_or(text.len());
    Ok(String::from_utf8_lossy(&text[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_found_in_either_package_layout() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let old = dir.path().join("old");
        std::fs::create_dir_all(old.join("boot")).unwrap();
        std::fs::write(old.join("boot/System.map-6.1.0"), "").unwrap();
        std::fs::write(old.join("boot/vmlinuz-6.1.0"), "image").unwrap();
        assert_eq!(find_vmlinuz(&old).unwrap(), old.join("boot/vmlinuz-6.1.0"));
        let new = dir.path().join("new");
        std::fs::create_dir_all(new.join("usr/lib/modules/7.2.13")).unwrap();
        std::fs::write(new.join("usr/lib/modules/7.2.13/vmlinuz"), "image").unwrap();
        assert_eq!(
            find_vmlinuz(&new).unwrap(),
            new.join("usr/lib/modules/7.2.13/vmlinuz")
        );
        let err = find_vmlinuz(&dir.path().join("empty"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no vmlinuz"), "{err}");
    }

    #[test]
    fn a_cached_kernel_counts_only_with_a_matching_checksum() {
        let dir = tempfile::tempdir().expect("scratch dir");
        assert!(!verified(dir.path()).unwrap());
        std::fs::write(dir.path().join("vmlinuz"), "image").unwrap();
        let sum = sha256(&dir.path().join("vmlinuz")).unwrap();
        std::fs::write(dir.path().join("vmlinuz.sha256"), format!("{sum}\n")).unwrap();
        assert!(verified(dir.path()).unwrap());
        std::fs::write(dir.path().join("vmlinuz"), "tampered").unwrap();
        assert!(!verified(dir.path()).unwrap());
    }

    #[test]
    fn a_bzimage_release_comes_from_its_setup_header() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let mut image = vec![0u8; 0x1000];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x20e..0x210].copy_from_slice(&0x0300u16.to_le_bytes());
        let version = b"6.13.0-custom (me@host) #1 SMP";
        image[0x500..0x500 + version.len()].copy_from_slice(version);
        let path = dir.path().join("bzImage");
        std::fs::write(&path, &image).unwrap();
        assert_eq!(image_release(&path).unwrap(), "6.13.0-custom");
        std::fs::write(&path, b"not a kernel").unwrap();
        assert!(image_release(&path).is_err());
    }
}
