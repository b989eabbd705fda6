//! Suite `mutants`: mutation testing of the whole core (the `mutants` command with its
//! defaults). Long: every core file's mutants are built and tested, one at a time.

use super::{Suite, SuiteCtx};
use crate::level::{Duration, Level};
use crate::mutants::{self, MutantsArgs};
use crate::plan::Step;

/// The registry entry.
pub const SUITE: Suite = Suite {
    name: "mutants",
    about: "Suite: cargo-mutants over the core files; every survivor not accepted in \
            .config/mutants-allowed.txt fails (long: runs only at full-long).",
    min_level: Level::FullLong,
    needs: &[],
    duration: Duration::Long,
    paths: &[],
    args: None,
    steps,
};

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let args = MutantsArgs {
        timeout: 300,
        jobs: 1,
        ..MutantsArgs::default()
    };
    Ok(mutants::plan(ctx.ctx, &args)?.steps)
}
