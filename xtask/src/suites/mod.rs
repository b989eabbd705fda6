//! The registry of heavy suites.
//!
//! A suite declares the lowest level it runs at, the host capabilities it needs and how long
//! it takes; `e2e --level L` decides from those alone whether it runs, and each suite's own
//! command (`cargo xtask <name>`) is made from its entry, so adding a suite is one entry in
//! [`registry`] plus its module.

mod bench;
mod collector_e2e;
mod collector_image;
mod collector_s3;
mod kernel_matrix;
mod mutants;
mod mutants_diff;
mod nri_e2e;
mod nri_init_e2e;
mod resctrl_e2e;

use std::fmt::Write;
use std::path::PathBuf;

use crate::ctx::Ctx;

use crate::capability::{Capability, Host};
use crate::level::{Duration, Level};
use crate::plan::Step;

/// A heavy test suite.
pub struct Suite {
    /// Its name: the `--suite` value and its own `cargo xtask <name>` command.
    pub name: &'static str,
    /// One sentence for its command's `--help`: what it proves and what it needs.
    pub about: &'static str,
    /// The cheapest level that includes it.
    pub min_level: Level,
    /// What the host must offer.
    pub needs: &'static [Capability],
    /// How long it runs.
    pub duration: Duration,
    /// The paths it tests, for suites of kernel-facing code: CI runs it only when one of
    /// them changed (and always on the default branch). Empty: whatever changed.
    pub paths: &'static [&'static str],
    /// Options of its own command beyond [`SuiteArgs`](crate::commands::e2e::SuiteArgs)
    /// (e.g. which kernels), added to `cargo xtask <name>`; the steps read them from
    /// [`SuiteCtx::matches`], and a run through `e2e` gets their defaults.
    pub args: Option<fn(clap::Command) -> clap::Command>,
    /// Its steps, when it runs.
    pub steps: fn(&SuiteCtx<'_>) -> anyhow::Result<Vec<Step>>,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a suite's steps are built from.
pub struct SuiteCtx<'a> {
    /// The command context (shell, nextest, colour, CI).
    pub ctx: &'a Ctx,
    /// Run tests from this nextest archive instead of building them.
    pub archive: Option<PathBuf>,
    /// The suite's own command line, when it was run as `cargo xtask <name>`.
    pub matches: Option<&'a clap::ArgMatches>,
    /// `ci fast`'s plan, for suites that measure it (`bench runner`); handed in by the
    /// e2e command, since suites do not depend on the commands.
    pub fast_tier: fn(&Ctx) -> anyhow::Result<crate::plan::Plan>,
}

/// Every registered suite, cheapest level first.
pub fn registry() -> &'static [Suite] {
    static SUITES: &[Suite] = &[
        nri_e2e::SUITE,
        nri_init_e2e::SUITE,
        collector_e2e::SUITE,
        collector_s3::SUITE,
        kernel_matrix::SUITE,
        bench::SUITE,
        mutants_diff::SUITE,
        collector_image::SUITE,
        resctrl_e2e::SUITE,
        mutants::SUITE,
    ];
    SUITES
}

/// The suite called `name`, or an error listing the valid names.
pub fn find(name: &str) -> anyhow::Result<&'static Suite> {
    registry().iter().find(|s| s.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown suite `{name}`; valid suites: {}",
            names().join(", ")
        )
    })
}

/// The names of all suites, for `--suite` validation and messages.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name).collect()
}

/// Whether a suite runs at a level on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It runs.
    Run,
    /// The run's level is below the suite's minimum (or too short for a long suite).
    NotAtLevel(String),
    /// Capabilities are missing: each with the reason.
    Missing(Vec<(Capability, String)>),
}

impl Decision {
    /// The reason a suite does not run, as shown in plans and reports.
    pub fn reason(&self) -> Option<String> {
        match self {
            Decision::Run => None,
            Decision::NotAtLevel(why) => Some(why.clone()),
            Decision::Missing(missing) => Some(
                missing
                    .iter()
                    .map(|(capability, why)| format!("missing {capability}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

impl Suite {
    /// Decides whether this suite runs at `level` on `host`. Capabilities are only probed
    /// when the level admits the suite.
    pub fn decide(&self, level: Level, host: &Host) -> Decision {
        if level < self.min_level {
            return Decision::NotAtLevel(format!(
                "needs level {} or higher (this run: {level})",
                self.min_level
            ));
        }
        if !level.admits(self.duration) {
            return Decision::NotAtLevel(format!(
                "a {} suite, run only at level {}",
                self.duration,
                Level::FullLong
            ));
        }
        let missing: Vec<(Capability, String)> = self
            .needs
            .iter()
            .filter_map(|&capability| host.check(capability).err().map(|why| (capability, why)))
            .collect();
        if missing.is_empty() {
            Decision::Run
        } else {
            Decision::Missing(missing)
        }
    }
}

/// The suite table printed with `--plan`: every suite, its requirements and the decision
/// (under `strict`, a suite missing a capability fails instead of skipping).
pub fn render_decisions(decisions: &[(&Suite, Decision)], strict: bool) -> String {
    let rows: Vec<[String; 5]> = decisions
        .iter()
        .map(|(suite, decision)| {
            let needs = suite
                .needs
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ");
            // Under --strict a missing capability fails the run (a level skip never does),
            // and the table says so rather than promising a skip.
            let verdict = match (decision, decision.reason()) {
                (_, None) => "run".to_string(),
                (Decision::Missing(_), Some(why)) if strict => format!("fail (strict): {why}"),
                (_, Some(why)) => format!("skip: {why}"),
            };
            [
                suite.name.to_string(),
                suite.min_level.to_string(),
                suite.duration.to_string(),
                needs,
                verdict,
            ]
        })
        .collect();
    let header = ["suite", "level", "duration", "needs", "decision"].map(String::from);
    let mut widths = [0usize; 4];
    for row in rows.iter().chain([&header]) {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in [&header].into_iter().chain(rows.iter()) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_findable() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for name in names {
            assert_eq!(find(name).unwrap().name, name);
        }
    }

    #[test]
    fn unknown_suite_lists_valid_names() {
        let err = find("nope").err().unwrap().to_string();
        assert!(
            err.starts_with("unknown suite `nope`; valid suites: "),
            "{err}"
        );
        for name in names() {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn registry_is_ordered_by_level() {
        let levels: Vec<Level> = registry().iter().map(|s| s.min_level).collect();
        let mut sorted = levels.clone();
        sorted.sort();
        assert_eq!(levels, sorted);
    }
}
