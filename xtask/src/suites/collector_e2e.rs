//! Suite `collector-e2e`: the `collector` binary as deployed, against a real containerd,
//! the resctrl stand-in (FUSE) and pyarrow reading its files back. Steps: `provision`
//! (nri-e2e's runc, containerd and busybox; pyarrow), `tests` (the stand-in's mount tests,
//! the collector's scenarios, pyarrow on a library-written file), and
//! an always-run `cleanup` (the harness's leftover check, then any stand-in mount a killed
//! run left, unmounted and reported).

use std::path::PathBuf;

use anyhow::bail;
use xshell::cmd;

use super::nri_e2e::with_assets;
use super::{Suite, SuiteCtx};
use crate::capability::Capability;
use crate::level::{Duration, Level};
use crate::plan::{Exec, Step, StepIo};
use crate::probe::HostRoot;
use crate::provision::nri_e2e::{self, Layout};
use crate::provision::python;
use crate::test_run::TestRun;

/// The registry entry.
pub const SUITE: Suite = Suite {
    name: "collector-e2e",
    about: "Suite: the collector binary against a real containerd and the resctrl stand-in, \
            its Parquet read back by pyarrow (needs root and /dev/fuse; provisions \
            containerd, runc, busybox and pyarrow itself).",
    min_level: Level::CheapShort,
    needs: &[Capability::Root, Capability::Cgroups, Capability::Fuse],
    duration: Duration::Short,
    paths: &[],
    args: None,
    steps,
};

/// The pinned independent reader (the tests name the same pin).
pub const PYARROW: &str = "pyarrow==26.0.1";
/// The stand-in's own mount tests, then the scenarios, and pyarrow reading a file the
/// library wrote.
const TESTS: &str = "(package(resctrl-standin) & binary(mount)) | (package(collector) & (binary(e2e) | binary(pyarrow)))";
/// The packages holding them (the cleanup step names the same, so cargo reuses the build).
pub(super) const TEST_PACKAGES: [&str; 3] = ["collector", "containerd-harness", "resctrl-standin"];
/// The harness's leftover check.
const CLEANUP: &str = "package(containerd-harness) & binary(cleanup)";
/// The stand-in's file-system name in the mount table.
const STANDIN_SOURCE: &str = "resctrl-standin";

/// What the collector's end-to-end tests need: nri-e2e's runc, containerd and busybox,
/// and pyarrow (also the hardware suite's provisioning).
pub(super) fn provision_step(name: &str, layout: &Layout) -> Step {
    let layout = layout.clone();
    let venv = python::venv("pyarrow");
    Step::task(
        name,
        format!(
            "runc, containerd >= 1.7 and busybox-static (as nri-e2e); {PYARROW} into {}",
            venv.display()
        ),
        move |io| {
            nri_e2e::provision(io, &layout)?;
            python::ensure(
                io,
                &venv,
                &[PYARROW],
                "pyarrow (the independent Parquet reader)",
            )
        },
    )
}

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let layout = Layout::new();
    let provision = provision_step("collector-e2e: provision", &layout);
    let tests = with_assets(
        TestRun {
            packages: TEST_PACKAGES.map(String::from).to_vec(),
            filter: Some(TESTS.into()),
            ignored_only: true,
            archive: ctx.archive.clone(),
            ..TestRun::default()
        }
        .step(ctx.ctx, "collector-e2e: tests")?,
        &layout,
    );
    let [harness_cleanup, mounts] = cleanup_steps(ctx, &layout, "collector-e2e")?;
    Ok(vec![provision, tests, harness_cleanup, mounts])
}

/// The always-run cleanup of a suite on the harness and the stand-in: the harness's leftover
/// check, then any stand-in mount a killed run left (unmounted, and the step fails).
pub(super) fn cleanup_steps(
    ctx: &SuiteCtx<'_>,
    layout: &Layout,
    suite: &str,
) -> anyhow::Result<[Step; 2]> {
    let harness_cleanup = with_assets(
        TestRun {
            packages: TEST_PACKAGES.map(String::from).to_vec(),
            filter: Some(CLEANUP.into()),
            ignored_only: true,
            archive: ctx.archive.clone(),
            ..TestRun::default()
        }
        .step(ctx.ctx, &format!("{suite}: cleanup"))?,
        layout,
    )
    .always();
    let mounts = Step::task(
        format!("{suite}: stand-in mounts"),
        "unmount any resctrl stand-in a killed run left; fail if one was left",
        |io| unmount_leftovers(io, &HostRoot::system()),
    )
    .always();
    Ok([harness_cleanup, mounts])
}

/// Lazily unmounts every stand-in mount in the mount table; errors when there was one, since
/// a passing run unmounts its own.
fn unmount_leftovers(io: &mut dyn StepIo, root: &HostRoot) -> anyhow::Result<()> {
    let leftovers = standin_mounts(root.mounts()?);
    if leftovers.is_empty() {
        io.line("no stand-in mount left");
        return Ok(());
    }
    let sh = crate::project::shell()?;
    for point in &leftovers {
        io.line(&format!(
            "unmounting a leftover stand-in at {}",
            point.display()
        ));
        io.run(&Exec::from(cmd!(sh, "umount -l {point}")))?;
    }
    bail!(
        "{} stand-in mount(s) were left behind (now unmounted): {}",
        leftovers.len(),
        leftovers
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The mount points of the stand-in's mounts in a mount table.
fn standin_mounts(table: Vec<kernel_formats::MountEntry>) -> Vec<PathBuf> {
    table
        .into_iter()
        .filter(|m| m.source == STANDIN_SOURCE)
        .map(|m| m.mount_point)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stand_in_mounts_are_leftovers() {
        let table = "proc /proc proc rw 0 0\n\
                     resctrl-standin /tmp/.tmpX/standin fuse.resctrl-standin rw,nosuid 0 0\n\
                     fuse /mnt/other fuse rw 0 0\n";
        assert_eq!(
            standin_mounts(kernel_formats::parse_mounts(table)),
            [PathBuf::from("/tmp/.tmpX/standin")]
        );
    }

    #[test]
    fn the_tests_run_with_the_provisioned_assets() {
        let ctx = crate::ctx::Ctx::for_tests(true);
        let steps = steps(&SuiteCtx {
            ctx: &ctx,
            archive: None,
            matches: None,
            fast_tier: |_| Ok(crate::plan::Plan::default()),
        })
        .expect("steps");
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "collector-e2e: provision",
                "collector-e2e: tests",
                "collector-e2e: cleanup",
                "collector-e2e: stand-in mounts"
            ]
        );
        let line = steps[1].command_line();
        assert!(line.contains("NRI_E2E_CONTAINERD_DIR="), "{line}");
        assert!(line.contains("--run-ignored only"), "{line}");
        assert!(steps[2].always && steps[3].always);
    }
}
