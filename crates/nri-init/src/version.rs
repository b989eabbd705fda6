//! Which containerd reads the file, and so which table is NRI's and how a new one is
//! written: the format version rules, checked against containerd 1.7.24 and 2.1.9.
//!
//! | file `version` | containerd 1.7 | containerd 2.x |
//! |---|---|---|
//! | none or 1 | `[plugins.nri]` | `[plugins."io.containerd.nri.v1.nri"]` (`plugins.nri` is another plugin there) |
//! | 2 | `[plugins."io.containerd.nri.v1.nri"]` | the same (migrated on load) |
//! | 3 | refused ("the max version is 2") | `[plugins.'io.containerd.nri.v1.nri']` |
//!
//! A file without `version` keeps having none: adding one would change what every other
//! table in it means.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::keys::{NRI_PLUGIN, NRI_PLUGIN_V1, PLUGINS};

/// The oldest containerd with NRI.
pub const MIN_CONTAINERD: ContainerdVersion = ContainerdVersion {
    major: 1,
    minor: 7,
    patch: 0,
};

/// A containerd release, as `containerd --version` prints it (`1.7.24~ds1`, `v2.1.9`,
/// `2.1.9+unknown`, `v1.7.27-k3s1`) or as a user states it (`1.7`, `2.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerdVersion {
    /// Major release.
    pub major: u32,
    /// Minor release.
    pub minor: u32,
    /// Patch release (0 when not stated).
    pub patch: u32,
}

impl ContainerdVersion {
    /// The version in `containerd --version` output: the first word that parses.
    pub fn from_version_output(output: &str) -> Option<Self> {
        output.split_whitespace().find_map(|word| word.parse().ok())
    }

    /// Whether this containerd has NRI at all.
    pub fn has_nri(self) -> bool {
        self >= MIN_CONTAINERD
    }
}

impl FromStr for ContainerdVersion {
    type Err = ();

    fn from_str(text: &str) -> std::result::Result<Self, ()> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let end = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let mut parts = text[..end].split('.');
        let number = |part: Option<&str>| part.and_then(|p| p.parse::<u32>().ok());
        let major = number(parts.next()).ok_or(())?;
        let minor = number(parts.next()).ok_or(())?;
        let patch = match parts.next() {
            None | Some("") => 0,
            Some(p) => p.parse().map_err(|_| ())?,
        };
        Ok(Self {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for ContainerdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// How a new table header's key is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// `'io.containerd.nri.v1.nri'` (containerd 2.x's own output).
    Single,
    /// `"io.containerd.nri.v1.nri"` (containerd 1.7's).
    Double,
}

/// Where NRI's settings live in one file, for the containerd that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    /// The file's `version` (`None`: it has none).
    pub file_version: Option<i64>,
    /// The path of NRI's table: `plugins` and the plugin's id.
    pub table: [&'static str; 2],
    /// Quoting of a table written new, when the file shows no preference.
    pub quote: Quote,
}

impl Dialect {
    /// The table as a header, for messages: `plugins."io.containerd.nri.v1.nri"`.
    pub fn table_name(&self) -> String {
        let [plugins, id] = self.table;
        if id.contains('.') {
            match self.quote {
                Quote::Single => format!("{plugins}.'{id}'"),
                Quote::Double => format!("{plugins}.\"{id}\""),
            }
        } else {
            format!("{plugins}.{id}")
        }
    }
}

/// The dialect of a file with `file_version` read by `containerd` (`None`: unknown).
///
/// # Errors
/// [`Error::ContainerdTooOld`] below 1.7; [`Error::VersionUnsupported`] for a version 3
/// file and containerd 1.x; [`Error::UnknownConfigVersion`] for versions other than 1 to
/// 3; [`Error::AmbiguousVersion`] for a file without version when containerd's version is
/// unknown (1.7 and 2.x read it differently). `path` only names the file in errors.
pub fn dialect(
    path: &std::path::Path,
    file_version: Option<i64>,
    containerd: Option<ContainerdVersion>,
) -> Result<Dialect> {
    if let Some(version) = containerd
        && !version.has_nri()
    {
        return Err(Error::ContainerdTooOld { version });
    }
    let two_or_later = containerd.map(|v| v.major >= 2);
    let (table, quote) = match (file_version, two_or_later) {
        (None | Some(1), None) => {
            return Err(Error::AmbiguousVersion {
                path: path.to_path_buf(),
            });
        }
        (None | Some(1), Some(false)) => ([PLUGINS, NRI_PLUGIN_V1], Quote::Double),
        (None | Some(1), Some(true)) | (Some(2), _) => ([PLUGINS, NRI_PLUGIN], Quote::Double),
        (Some(3), Some(false)) => {
            return Err(Error::VersionUnsupported {
                path: path.to_path_buf(),
                file_version: 3,
                containerd: containerd.unwrap_or(MIN_CONTAINERD),
            });
        }
        (Some(3), _) => ([PLUGINS, NRI_PLUGIN], Quote::Single),
        (Some(other), _) => {
            return Err(Error::UnknownConfigVersion {
                path: path.to_path_buf(),
                version: other,
            });
        }
    };
    Ok(Dialect {
        file_version,
        table,
        quote,
    })
}

/// The `version` a new file gets for `containerd`: what that containerd itself writes.
pub fn version_for_new_file(containerd: ContainerdVersion) -> i64 {
    if containerd.major >= 2 { 3 } else { 2 }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn v(text: &str) -> ContainerdVersion {
        text.parse().expect("a version")
    }

    #[test]
    fn debian_and_k3s_version_lines_parse() {
        let debian17 =
            "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1";
        let debian21 = "containerd github.com/containerd/containerd/v2 2.1.9+unknown ";
        let k3s = "containerd github.com/k3s-io/containerd v1.7.27-k3s1";
        assert_eq!(
            ContainerdVersion::from_version_output(debian17),
            Some(v("1.7.24"))
        );
        assert_eq!(
            ContainerdVersion::from_version_output(debian21),
            Some(v("2.1.9"))
        );
        assert_eq!(
            ContainerdVersion::from_version_output(k3s),
            Some(v("1.7.27"))
        );
        assert_eq!(v("2.1"), v("2.1.0"));
        assert!("containerd".parse::<ContainerdVersion>().is_err());
    }

    #[test]
    fn a_file_without_version_is_version_1_for_containerd_17() {
        let d = dialect(Path::new("c"), None, Some(v("1.7.24"))).expect("a dialect");
        assert_eq!(d.table, ["plugins", "nri"]);
        assert_eq!(d.table_name(), "plugins.nri");
    }

    #[test]
    fn a_file_without_version_uses_the_full_plugin_id_for_containerd_2() {
        let d = dialect(Path::new("c"), Some(1), Some(v("2.1"))).expect("a dialect");
        assert_eq!(d.table, ["plugins", NRI_PLUGIN]);
    }

    #[test]
    fn a_file_without_version_and_no_containerd_version_is_refused() {
        let err = dialect(Path::new("/etc/c.toml"), None, None).expect_err("ambiguous");
        assert!(matches!(err, Error::AmbiguousVersion { .. }), "{err}");
        assert!(err.to_string().contains("--containerd-version"), "{err}");
    }

    #[test]
    fn version_3_is_refused_for_containerd_17_and_single_quoted_for_2() {
        let err = dialect(Path::new("c"), Some(3), Some(v("1.7.24"))).expect_err("refused");
        assert!(matches!(err, Error::VersionUnsupported { .. }), "{err}");
        let d = dialect(Path::new("c"), Some(3), None).expect("version 3 alone decides");
        assert_eq!((d.table, d.quote), (["plugins", NRI_PLUGIN], Quote::Single));
    }

    #[test]
    fn containerd_before_17_is_refused_with_the_reason() {
        let err = dialect(Path::new("c"), Some(2), Some(v("1.6.20"))).expect_err("too old");
        assert!(err.to_string().contains("1.6.20"), "{err}");
        assert!(err.to_string().contains("1.7"), "{err}");
    }

    #[test]
    fn unknown_versions_are_refused() {
        let err = dialect(Path::new("c"), Some(4), None).expect_err("unknown");
        assert!(matches!(
            err,
            Error::UnknownConfigVersion { version: 4, .. }
        ));
    }
}
