//! `resctrl-e2e`: the resctrl crate and the collector against the real kernel's
//! /sys/fs/resctrl.
//!
//! The tests live in `crates/resctrl/tests/hardware.rs` and `crates/collector/tests/hardware.rs`
//! (a container streaming memory, seen by the collector binary over a real containerd),
//! marked `#[ignore]` so ordinary unit runs list them as skipped; this suite provisions what
//! the collector's test needs (as collector-e2e does) and runs exactly those, only on hosts
//! that have resctrl monitoring, where each test must pass (never return early).

use super::nri_e2e::with_assets;
use super::{Suite, SuiteCtx};
use crate::capability::Capability;
use crate::level::{Duration, Level};
use crate::plan::Step;
use crate::provision::nri_e2e::Layout;
use crate::test_run::TestRun;

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "resctrl-e2e",
    about: "Suite: the resctrl crate against real resctrl hardware (needs root and RDT \
            monitoring).",
    min_level: Level::FullShort,
    needs: &[Capability::Root, Capability::ResctrlMonitoring],
    duration: Duration::Short,
    paths: &[
        "crates/resctrl/",
        "crates/collector/",
        "xtask/src/suites/resctrl_e2e.rs",
    ],
    args: None,
    steps,
};

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let layout = Layout::new();
    let provision = super::collector_e2e::provision_step("resctrl-e2e: provision", &layout);
    let run = TestRun {
        packages: vec!["resctrl".to_string(), "collector".to_string()],
        filter: Some("binary(hardware) & (package(resctrl) | package(collector))".to_string()),
        ignored_only: true,
        archive: ctx.archive.clone(),
        ..TestRun::default()
    };
    let tests = with_assets(run.step(ctx.ctx, "resctrl-e2e: tests")?, &layout);
    Ok(vec![provision, tests])
}
