//! `cargo xtask bench`: the hot paths' instruction counts under callgrind against a baseline
//! in the repository, and the runner's own figures (`bench runner`).
//!
//! Instructions, not seconds, are the gate: on a shared 2-core VM wall time varies by 10-15%
//! from run to run, instruction counts by well under 0.1%. Wall time is measured beside them
//! for information. The cases live in `crates/benches` (one binary per area, see its
//! crate doc); [`build`] compiles them for a tree (this checkout, or another revision in a
//! git worktree), [`measure`] runs them under callgrind and natively, [`gate`] compares two
//! measurements and renders the verdict, [`baseline`] is the file the gate compares against
//! by default, and [`runner`] times `ci fast` against the same commands run by hand.

pub mod baseline;
pub mod build;
pub mod callgrind;
pub mod gate;
pub mod measure;
pub mod runner;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The tools a count depends on: a different compiler or valgrind changes every count, so
/// counts are only compared between measurements with the same versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    /// `rustc -V`.
    pub toolchain: String,
    /// `valgrind --version`.
    pub valgrind: String,
}

impl std::fmt::Display for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {}", self.toolchain, self.valgrind)
    }
}

/// One case measured once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The case, `area/what`.
    pub case: String,
    /// Growth in percent the gate accepts for it.
    pub threshold: f64,
    /// Instructions executed (callgrind's `Ir`): what the gate compares.
    pub instructions: u64,
    /// Cycles estimated from the cache simulation, for information.
    pub estimated_cycles: Option<u64>,
    /// Median wall time in nanoseconds of a few native runs, for information.
    pub wall_ns: Option<u64>,
}

/// All cases of one tree, and what they were measured with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The tree's commit (`git rev-parse --short HEAD`; `+dirty` with local changes).
    pub rev: String,
    /// Compiler and valgrind.
    pub versions: Versions,
    /// The cases, in the order they ran.
    pub cases: Vec<Measurement>,
}

impl Measured {
    /// Instructions per case.
    pub fn instructions(&self) -> BTreeMap<String, u64> {
        self.cases
            .iter()
            .map(|m| (m.case.clone(), m.instructions))
            .collect()
    }

    /// Reads a measurement written by [`Measured::write`].
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Writes it as JSON, for the next step.
    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).context("serialising a measurement")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// Where a bench run keeps its files (measurements, the other tree, JUnit).
pub fn run_dir() -> PathBuf {
    crate::project::xtask_dir().join("bench")
}

/// The measurement of this checkout.
pub fn now_path() -> PathBuf {
    run_dir().join("now.json")
}

/// The measurement of the revision compared against, when there is one.
pub fn reference_path() -> PathBuf {
    run_dir().join("reference.json")
}

/// The gate's JUnit cases.
pub fn junit_path() -> PathBuf {
    run_dir().join("junit.xml")
}
