//! Debian packages: the archive the system uses, and installing host packages.

use anyhow::{Context, bail};
use xshell::cmd;

use crate::exec::StepIo;
use crate::plan::Exec;
use crate::probe::HostRoot;
use crate::project;

/// The Debian archive used when the system's sources name none.
const DEFAULT_ARCHIVE: &str = "http://deb.debian.org/debian";

/// The archive URI the system uses for Debian itself (not security or third parties), from
/// `/etc/apt/sources.list.d/debian.sources` (deb822) or `/etc/apt/sources.list`.
pub fn archive_uri(root: &HostRoot) -> String {
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

/// Installs packages on the host with the system's apt (updating its lists first).
pub fn install(io: &mut StepIo<'_>, packages: &[&str]) -> anyhow::Result<()> {
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
}
