//! `resctrl-e2e`: the resctrl crate against the real kernel's /sys/fs/resctrl.
//!
//! The tests live in `crates/resctrl/tests/hardware.rs`, marked `#[ignore]` so ordinary unit
//! runs list them as skipped; this suite runs exactly those, only on hosts that have resctrl
//! monitoring, where each test must pass (never return early).

use super::{Suite, SuiteCtx};
use crate::capability::Capability;
use crate::level::{Duration, Level};
use crate::plan::Step;
use crate::test_run::TestRun;

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "resctrl-e2e",
    about: "Suite: the resctrl crate against real resctrl hardware (needs root and RDT \
            monitoring).",
    min_level: Level::FullShort,
    needs: &[Capability::Root, Capability::ResctrlMonitoring],
    duration: Duration::Short,
    paths: &["crates/resctrl/", "xtask/src/suites/resctrl_e2e.rs"],
    args: None,
    steps,
};

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let run = TestRun {
        packages: vec!["resctrl".to_string()],
        filter: Some("package(resctrl) & binary(hardware)".to_string()),
        ignored_only: true,
        archive: ctx.archive.clone(),
        ..TestRun::default()
    };
    Ok(vec![run.step(ctx.ctx, "resctrl-e2e")?])
}
