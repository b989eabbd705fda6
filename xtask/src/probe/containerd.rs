//! containerd on the host: version and NRI socket.

use super::HostRoot;
use super::tools::{self, ToolVersion};
use std::os::unix::fs::FileTypeExt;

/// A `major.minor.patch` version.
pub type Version = (u32, u32, u32);

/// containerd's default NRI socket.
pub const DEFAULT_NRI_SOCKET: &str = "/var/run/nri/nri.sock";

/// What the host's own containerd looks like.
#[derive(Clone, Debug)]
pub struct ContainerdFacts {
    /// `containerd --version`, or why not.
    pub binary: Result<ToolVersion, String>,
    /// The semantic version parsed from that line, e.g. `(2, 1, 9)`.
    pub version: Option<Version>,
    /// Whether the default NRI socket exists and is a socket (NRI enabled and running).
    pub nri_socket: bool,
}

/// Probes the containerd on `PATH` and the default NRI socket under `root`.
pub fn probe(root: &HostRoot) -> ContainerdFacts {
    let binary = tools::version("containerd", &["--version"]);
    let version = binary
        .as_ref()
        .ok()
        .and_then(|tool| parse_version(&tool.version));
    ContainerdFacts {
        binary,
        version,
        nri_socket: nri_socket_present(root),
    }
}

/// Whether the default NRI socket exists and is a socket.
pub fn nri_socket_present(root: &HostRoot) -> bool {
    std::fs::metadata(root.path(DEFAULT_NRI_SOCKET))
        .map(|meta| meta.file_type().is_socket())
        .unwrap_or(false)
}

/// Finds `vX.Y.Z` (or `X.Y.Z`) in a `containerd --version` line such as
/// `containerd github.com/containerd/containerd/v2 v2.1.9 <commit>` or the Debian build's
/// `containerd containerd.io 1.7.24 <commit>`.
pub fn parse_version(line: &str) -> Option<Version> {
    line.split_whitespace().find_map(|word| {
        let word = word.strip_prefix('v').unwrap_or(word);
        let core = word.split(['-', '+', '~']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((major, minor, patch))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_and_distro_version_lines() {
        assert_eq!(
            parse_version("containerd github.com/containerd/containerd/v2 v2.1.9 abcdef"),
            Some((2, 1, 9))
        );
        assert_eq!(
            parse_version("containerd containerd.io 1.7.24~ds1-1 deadbeef"),
            Some((1, 7, 24))
        );
        assert_eq!(parse_version("containerd dev"), None);
    }
}
