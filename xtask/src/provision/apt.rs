//! Debian packages: installing host packages, and fetching single packages from any Debian
//! suite with a private apt state that never touches the system's apt configuration.
//!
//! The private state trusts only Debian's archive keys, shipped in `xtask/keys/` and named by
//! `signed-by=` in its sources list: an Ubuntu host (GitHub's runners) has no Debian keys in
//! its own trust store, and a Debian host's trust store may hold third-party keys that have no
//! business vouching for Debian packages.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::cmd;

use crate::plan::Exec;
use crate::plan::StepIo;
use crate::probe::HostRoot;
use crate::project;

/// The Debian archive used when the system's sources name none.
const DEFAULT_ARCHIVE: &str = "http://deb.debian.org/debian";

/// Debian's archive signing keys: `usr/share/keyrings/debian-archive-keyring.pgp` of Debian's
/// `debian-archive-keyring` package (provenance and refresh in `xtask/keys/README.md`).
const DEBIAN_ARCHIVE_KEYRING: &[u8] = include_bytes!("../../keys/debian-archive-keyring.pgp");

/// The keyring's file name inside a private state directory.
const KEYRING_FILE: &str = "debian-archive-keyring.pgp";

/// The archive URI the system uses for Debian itself (not security or third parties), from
/// `/etc/apt/sources.list.d/debian.sources` (deb822) or `/etc/apt/sources.list`; Debian's
/// own archive on any other distribution, whose mirrors do not carry Debian.
pub fn archive_uri(root: &HostRoot) -> String {
    if !is_debian(root) {
        return DEFAULT_ARCHIVE.to_string();
    }
    let deb822 = root
        .read("/etc/apt/sources.list.d/debian.sources")
        .ok()
        .and_then(|text| uri_from_deb822(&text));
    let legacy = || {
        root.read("/etc/apt/sources.list")
            .ok()
            .and_then(|text| uri_from_sources_list(&text))
    };
    deb822
        .or_else(legacy)
        .unwrap_or_else(|| DEFAULT_ARCHIVE.to_string())
}

/// Whether `/etc/os-release` says Debian (a missing file counts as Debian: the sources then
/// decide, as before os-release existed).
fn is_debian(root: &HostRoot) -> bool {
    let Ok(text) = root.read("/etc/os-release") else {
        return true;
    };
    text.lines()
        .find_map(|line| line.strip_prefix("ID="))
        .is_none_or(|id| id.trim_matches('"') == "debian")
}

/// The first stanza's URI whose suites are not the security archive.
fn uri_from_deb822(text: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_string())
            })
        };
        let suites = field("Suites")?;
        let uri = field("URIs")?;
        (!suites.contains("security"))
            .then(|| uri.split_whitespace().next().unwrap_or("").to_string())
    })
}

fn uri_from_sources_list(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next()? != "deb" {
            return None;
        }
        let uri = words.find(|w| !w.starts_with('['))?;
        let suite = words.next()?;
        (!suite.contains("security")).then(|| uri.to_string())
    })
}

/// apt with its own sources list, package lists and caches under a directory of ours.
pub struct PrivateApt {
    dir: PathBuf,
    suite: String,
    uri: String,
    updated: bool,
}

impl PrivateApt {
    /// A private apt for `suite` (e.g. `sid`) of the archive at `uri`, keeping its state in
    /// `dir`.
    pub fn new(dir: PathBuf, suite: &str, uri: &str) -> Self {
        PrivateApt {
            dir,
            suite: suite.to_string(),
            uri: uri.to_string(),
            updated: false,
        }
    }

    /// The `-o` options that redirect every piece of state apt would otherwise share with
    /// the system.
    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oDir::Etc::SourceList={d}/sources.list"),
            "-oDir::Etc::SourceParts=/dev/null".to_string(),
            "-oDir::Etc::Preferences=/dev/null".to_string(),
            "-oDir::Etc::PreferencesParts=/dev/null".to_string(),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache={d}/cache"),
            "-oAPT::Get::List-Cleanup=false".to_string(),
            // Root downloads into our cache, which apt's `_apt` user cannot write.
            "-oAPT::Sandbox::User=root".to_string(),
        ]
    }

    /// Takes the package lists already in the state directory as current when they were
    /// fetched less than `age` ago, so warm runs need no network.
    pub fn assume_fresh_within(&mut self, age: std::time::Duration) {
        let fresh = std::fs::read_dir(self.dir.join("lists"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().contains("_Packages"))
            .filter_map(|entry| entry.metadata().ok()?.modified().ok())
            .any(|modified| modified.elapsed().is_ok_and(|elapsed| elapsed < age));
        if fresh {
            self.updated = true;
        }
    }

    /// The packages `package`'s candidate depends on (the first of each alternative).
    pub fn depends(&mut self, io: &mut dyn StepIo, package: &str) -> anyhow::Result<Vec<String>> {
        self.update(io)?;
        let sh = project::shell()?;
        let options = self.options();
        let show = cmd!(
            sh,
            "apt-cache {options...} show --no-all-versions {package}"
        )
        .quiet()
        .read()
        .with_context(|| format!("asking apt what {package} depends on"))?;
        Ok(parse_depends(&show))
    }

    /// Downloads the package lists of the suite (once per run).
    pub fn update(&mut self, io: &mut dyn StepIo) -> anyhow::Result<()> {
        if self.updated {
            return Ok(());
        }
        for sub in ["lists/partial", "cache/archives/partial"] {
            let path = self.dir.join(sub);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("creating {}", path.display()))?;
        }
        let keyring = self.dir.join(KEYRING_FILE);
        std::fs::write(&keyring, DEBIAN_ARCHIVE_KEYRING)
            .with_context(|| format!("writing {}", keyring.display()))?;
        let list = self.dir.join("sources.list");
        std::fs::write(&list, sources_line(&self.uri, &self.suite, &keyring))
            .with_context(|| format!("writing {}", list.display()))?;
        io.line(&format!(
            "fetching the package lists of Debian {} from {}",
            self.suite, self.uri
        ));
        let sh = project::shell()?;
        let options = self.options();
        io.run(&Exec::from(cmd!(sh, "apt-get {options...} -q update")))
            .with_context(|| {
                format!(
                    "updating the package lists of Debian {} (is {} reachable?)",
                    self.suite, self.uri
                )
            })?;
        self.updated = true;
        Ok(())
    }

    /// The version apt would fetch for `package`.
    pub fn candidate(&mut self, io: &mut dyn StepIo, package: &str) -> anyhow::Result<String> {
        self.update(io)?;
        let sh = project::shell()?;
        let options = self.options();
        let policy = cmd!(sh, "apt-cache {options...} policy {package}")
            .quiet()
            .read()
            .with_context(|| format!("asking apt for the version of {package}"))?;
        match parse_candidate(&policy) {
            Some(version) => Ok(version),
            None => bail!("Debian {} has no candidate for {package}", self.suite),
        }
    }

    /// Downloads `package` into `dest` and returns the `.deb` file.
    pub fn download(
        &mut self,
        io: &mut dyn StepIo,
        package: &str,
        dest: &Path,
    ) -> anyhow::Result<PathBuf> {
        self.update(io)?;
        std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        let sh = project::shell()?;
        sh.change_dir(dest);
        let options = self.options();
        io.run(&Exec::from(cmd!(
            sh,
            "apt-get {options...} -q download {package}"
        )))
        .with_context(|| format!("downloading {package} from Debian {}", self.suite))?;
        let prefix = format!("{package}_");
        std::fs::read_dir(dest)
            .with_context(|| format!("listing {}", dest.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.starts_with(&prefix) && name.ends_with(".deb")
            })
            .with_context(|| {
                format!(
                    "apt-get download left no {package}_*.deb in {}",
                    dest.display()
                )
            })
    }
}

/// The private sources list: one suite, trusted only through Debian's keyring.
fn sources_line(uri: &str, suite: &str, keyring: &Path) -> String {
    format!("deb [signed-by={}] {uri} {suite} main\n", keyring.display())
}

/// `Candidate: 2.1.9~ds1-1` from `apt-cache policy`.
fn parse_candidate(policy: &str) -> Option<String> {
    policy.lines().find_map(|line| {
        let version = line.trim().strip_prefix("Candidate:")?.trim();
        (version != "(none)" && !version.is_empty()).then(|| version.to_string())
    })
}

/// The `Depends:` of an `apt-cache show` record: each alternative's first package name.
fn parse_depends(show: &str) -> Vec<String> {
    show.lines()
        .find_map(|line| line.strip_prefix("Depends:"))
        .map(|deps| {
            deps.split(',')
                .filter_map(|alternatives| {
                    alternatives.split('|').next()?.split_whitespace().next()
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Unpacks a `.deb` into `dest` (replaced whole, so a half-extracted tree never stays).
pub fn extract(io: &mut dyn StepIo, deb: &Path, dest: &Path) -> anyhow::Result<()> {
    let partial = super::sibling(dest, ".partial");
    let _ = std::fs::remove_dir_all(&partial);
    let sh = project::shell()?;
    io.run(&Exec::from(cmd!(sh, "dpkg-deb -x {deb} {partial}")))?;
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&partial, dest)
        .with_context(|| format!("moving {} to {}", partial.display(), dest.display()))
}

/// Installs packages on the host with the system's apt (updating its lists first).
pub fn install(io: &mut dyn StepIo, packages: &[&str]) -> anyhow::Result<()> {
    let sh = project::shell()?;
    let hint = format!(
        "install them yourself: apt-get update && apt-get install -y {}",
        packages.join(" ")
    );
    if which::which("apt-get").is_err() {
        bail!(
            "apt-get is not available to install {}; {hint}",
            packages.join(", ")
        );
    }
    io.line(&format!("installing {} with apt-get", packages.join(", ")));
    io.run(&Exec::from(cmd!(sh, "apt-get -q update")).env("DEBIAN_FRONTEND", "noninteractive"))
        .with_context(|| format!("updating apt's package lists; {hint}"))?;
    io.run(
        &Exec::from(cmd!(
            sh,
            "apt-get -q install -y --no-install-recommends {packages...}"
        ))
        .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| format!("installing {}; {hint}", packages.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn archive_from_deb822_skips_security() {
        let fx = FixtureRoot::new();
        fx.file(
            "/etc/apt/sources.list.d/debian.sources",
            "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
             Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
        );
        assert_eq!(archive_uri(&fx.root()), "http://mirror.example/debian");
    }

    #[test]
    fn archive_from_sources_list_or_default() {
        let fx = FixtureRoot::new();
        fx.file(
            "/etc/apt/sources.list",
            "# comment\ndeb [arch=amd64] http://legacy.example/debian bookworm main\n",
        );
        assert_eq!(archive_uri(&fx.root()), "http://legacy.example/debian");
        assert_eq!(archive_uri(&FixtureRoot::new().root()), DEFAULT_ARCHIVE);
    }

    #[test]
    fn an_ubuntu_host_fetches_from_debians_archive_not_its_own_mirror() {
        let fx = FixtureRoot::new();
        fx.file(
            "/etc/os-release",
            "PRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nID=ubuntu\nID_LIKE=debian\n",
        );
        fx.file(
            "/etc/apt/sources.list",
            "deb http://azure.archive.ubuntu.com/ubuntu/ noble main\n",
        );
        assert_eq!(archive_uri(&fx.root()), DEFAULT_ARCHIVE);
        let debian = FixtureRoot::new();
        debian.file("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
        debian.file(
            "/etc/apt/sources.list",
            "deb http://mirror.example/debian bookworm main\n",
        );
        assert_eq!(archive_uri(&debian.root()), "http://mirror.example/debian");
    }

    #[test]
    fn the_private_sources_trust_only_the_shipped_debian_keyring() {
        let line = sources_line(
            DEFAULT_ARCHIVE,
            "sid",
            Path::new("/cache/apt-sid/debian-archive-keyring.pgp"),
        );
        assert_eq!(
            line,
            "deb [signed-by=/cache/apt-sid/debian-archive-keyring.pgp] http://deb.debian.org/debian sid main\n"
        );
        // A binary OpenPGP keyring starts with a public-key packet (old format tag 6).
        assert_eq!(
            DEBIAN_ARCHIVE_KEYRING.first().map(|b| b & 0xfc),
            Some(0x98),
            "xtask/keys/debian-archive-keyring.pgp is not a binary keyring"
        );
    }

    #[test]
    fn candidate_version() {
        let policy =
            "containerd:\n  Installed: (none)\n  Candidate: 2.1.9~ds1-1\n  Version table:\n";
        assert_eq!(parse_candidate(policy).as_deref(), Some("2.1.9~ds1-1"));
        assert_eq!(parse_candidate("x:\n  Candidate: (none)\n"), None);
    }

    #[test]
    fn depends_lists_the_first_of_each_alternative() {
        let show = "Package: linux-image-7.2.13+deb14-cloud-amd64\nVersion: 7.2.13-1\n\
                    Depends: dracut | initramfs-tools (>= 0.120), linux-binary-7.2.13+deb14-cloud-amd64 (= 7.2.13-1)\n";
        assert_eq!(
            parse_depends(show),
            ["dracut", "linux-binary-7.2.13+deb14-cloud-amd64"]
        );
        assert!(parse_depends("Package: x\n").is_empty());
    }

    #[test]
    fn private_state_never_points_at_system_paths() {
        let apt = PrivateApt::new(PathBuf::from("/cache/apt-sid"), "sid", DEFAULT_ARCHIVE);
        let options = apt.options();
        assert!(
            options.contains(&"-oDir::Etc::SourceList=/cache/apt-sid/sources.list".to_string())
        );
        assert!(options.contains(&"-oDir::State::Lists=/cache/apt-sid/lists".to_string()));
        assert!(options.contains(&"-oDir::Cache=/cache/apt-sid/cache".to_string()));
        assert!(
            options
                .iter()
                .all(|o| !o.contains("/etc/apt/sources") && !o.contains("/var/lib/apt"))
        );
    }
}
