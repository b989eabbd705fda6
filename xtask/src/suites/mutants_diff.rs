//! Suite `mutants-diff`: mutation testing of what a pull request changed (`mutants --changed`
//! against the merge-base with `origin/main`), cheap enough for perf-short; the whole core
//! is the `mutants` suite's, at full-long.

use super::{Suite, SuiteCtx};
use crate::level::{Duration, Level};
use crate::mutants::{self, MutantsArgs};
use crate::plan::Step;

/// The registry entry.
pub const SUITE: Suite = Suite {
    name: "mutants-diff",
    about: "Suite: cargo-mutants over the code changed since the merge-base with origin/main \
            (what a pull request runs); every survivor not accepted in \
            .config/mutants-allowed.txt fails.",
    min_level: Level::PerfShort,
    needs: &[],
    duration: Duration::Medium,
    paths: &[],
    args: None,
    steps,
};

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let args = MutantsArgs {
        changed: true,
        base: "origin/main".to_string(),
        timeout: 300,
        jobs: 1,
        ..MutantsArgs::default()
    };
    Ok(mutants::plan(ctx.ctx, &args)?.steps)
}
