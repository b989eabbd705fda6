//! The baseline file in the repository (`crates/benches/baseline.json`): instructions per
//! case, and the compiler and valgrind they were counted with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::{Measured, Versions};

/// The file, relative to the workspace root.
pub const FILE: &str = "crates/benches/baseline.json";

/// The baseline's path in this checkout.
pub fn path() -> PathBuf {
    crate::project::root().join(FILE)
}

/// What the gate compares against when the versions match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// What the counts were measured with.
    #[serde(flatten)]
    pub versions: Versions,
    /// Instructions per case.
    pub cases: BTreeMap<String, u64>,
}

impl Baseline {
    /// Parses the file's text.
    ///
    /// # Errors
    /// Not JSON of this shape.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let baseline: Baseline = serde_json::from_str(text).context(
            "expected {\"toolchain\": .., \"valgrind\": .., \"cases\": {NAME: INSTRUCTIONS}}",
        )?;
        if baseline.versions.toolchain.is_empty() || baseline.versions.valgrind.is_empty() {
            bail!("the toolchain and valgrind versions must not be empty");
        }
        Ok(baseline)
    }

    /// Reads the file at `path`; `None` if there is none yet.
    ///
    /// # Errors
    /// An unreadable or malformed file (with what to do about it).
    pub fn read(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map(Some).with_context(|| {
                format!(
                    "parsing {}; fix it or rewrite it with `cargo xtask bench --save-baseline`",
                    path.display()
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The baseline `measured` gives. Cases measured replace theirs; cases of `previous`
    /// not measured (a run of some cases only) stay, so `--case X --save-baseline` updates
    /// one case. The versions are the new ones.
    pub fn updated(previous: Option<&Baseline>, measured: &Measured, only_some: bool) -> Self {
        let mut cases = match previous {
            Some(previous) if only_some => previous.cases.clone(),
            _ => BTreeMap::new(),
        };
        cases.extend(measured.instructions());
        Baseline {
            versions: measured.versions.clone(),
            cases,
        }
    }

    /// The file's text: stable key order, one case per line, so diffs show what moved.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Measurement;

    const FILE_TEXT: &str = r#"{
  "toolchain": "rustc 1.95.0 (59807616e 2026-04-14)",
  "valgrind": "valgrind-3.19.0",
  "cases": {
    "nri/mux-4mib": 10657585,
    "plugin/synchronize-1000-pods": 520136252
  }
}
"#;

    fn measured(cases: &[(&str, u64)]) -> Measured {
        Measured {
            rev: "abc1234".into(),
            versions: Versions {
                toolchain: "rustc 1.96.0".into(),
                valgrind: "valgrind-3.24.0".into(),
            },
            cases: cases
                .iter()
                .map(|(case, instructions)| Measurement {
                    case: case.to_string(),
                    threshold: 2.0,
                    instructions: *instructions,
                    estimated_cycles: None,
                    wall_ns: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_file_gives_versions_and_instructions_per_case() {
        let baseline = Baseline::parse(FILE_TEXT).expect("the documented shape");
        assert_eq!(
            baseline.versions.toolchain,
            "rustc 1.95.0 (59807616e 2026-04-14)"
        );
        assert_eq!(baseline.versions.valgrind, "valgrind-3.19.0");
        assert_eq!(baseline.cases["plugin/synchronize-1000-pods"], 520_136_252);
    }

    #[test]
    fn rendering_gives_back_the_same_file() {
        let baseline = Baseline::parse(FILE_TEXT).expect("the documented shape");
        assert_eq!(baseline.render(), FILE_TEXT);
    }

    #[test]
    fn a_baseline_without_versions_is_refused() {
        let err = Baseline::parse(r#"{"toolchain": "", "valgrind": "v", "cases": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not be empty"), "{err}");
        let err = format!("{:#}", Baseline::parse(r#"{"cases": []}"#).unwrap_err());
        assert!(err.contains("expected {\"toolchain\""), "{err}");
    }

    #[test]
    fn saving_all_cases_drops_cases_no_longer_measured() {
        let old = Baseline::parse(FILE_TEXT).expect("the documented shape");
        let new = Baseline::updated(Some(&old), &measured(&[("nri/mux-4mib", 7)]), false);
        assert_eq!(new.cases, BTreeMap::from([("nri/mux-4mib".to_string(), 7)]));
        assert_eq!(new.versions.valgrind, "valgrind-3.24.0");
    }

    #[test]
    fn saving_some_cases_keeps_the_others() {
        let old = Baseline::parse(FILE_TEXT).expect("the documented shape");
        let new = Baseline::updated(Some(&old), &measured(&[("nri/mux-4mib", 7)]), true);
        assert_eq!(new.cases["nri/mux-4mib"], 7);
        assert_eq!(new.cases["plugin/synchronize-1000-pods"], 520_136_252);
    }

    #[test]
    fn a_missing_file_is_no_baseline_yet() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        assert_eq!(
            Baseline::read(&dir.path().join("none.json")).expect("absent is fine"),
            None
        );
    }
}
