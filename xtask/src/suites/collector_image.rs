//! Suite `collector-image`: the shipped `collector` image run by podman (or docker) as the
//! DaemonSet runs it (host network and PID namespace, read-only root, no capabilities, the
//! NRI socket, the resctrl file system and the cgroup tree mounted from the host), against
//! the harness's real containerd with NRI and the FUSE resctrl stand-in; its Parquet files
//! are read back with pyarrow and `/metrics` scraped for each pod's series.
//!
//! Steps: `provision` (as collector-e2e), `tests` (`crates/collector/tests/image.rs`), and
//! the always-run cleanup of collector-e2e. The image is not built here (a release build
//! takes minutes): without it the suite is skipped, naming the command that builds it.

use super::collector_e2e::{TEST_PACKAGES, cleanup_steps, provision_step};
use super::nri_e2e::with_assets;
use super::{Suite, SuiteCtx};
use crate::capability::Capability;
use crate::container::Target;
use crate::level::{Duration, Level};
use crate::plan::{Action, Step};
use crate::project;
use crate::provision::nri_e2e::Layout;
use crate::test_run::TestRun;

/// The registry entry.
pub const SUITE: Suite = Suite {
    name: "collector-image",
    about: "Suite: the collector image (`container build --target collector`) run by podman as \
            the DaemonSet runs it, against a real containerd with NRI and the resctrl stand-in; \
            its Parquet read back by pyarrow and /metrics scraped (needs root, /dev/fuse, and the \
            image on an engine that runs containers).",
    min_level: Level::FullShort,
    needs: &[
        Capability::Root,
        Capability::Cgroups,
        Capability::Fuse,
        Capability::CollectorImage,
    ],
    duration: Duration::Short,
    paths: &[],
    args: None,
    steps,
};

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let layout = Layout::new();
    let provision = provision_step("collector-image: provision", &layout);
    let mut tests = with_assets(
        TestRun {
            // The cleanup's packages, so cargo builds once for both.
            packages: TEST_PACKAGES.map(String::from).to_vec(),
            filter: Some("package(collector) & binary(image)".into()),
            ignored_only: true,
            archive: ctx.archive.clone(),
            // What the image wrote and served is the point of the run: show it.
            extra: vec!["--success-output".into(), "final".into()],
            ..TestRun::default()
        }
        .step(ctx.ctx, "collector-image: tests")?,
        &layout,
    );
    if let Action::Exec(exec) = &mut tests.action {
        *exec = exec
            .clone()
            .env("COLLECTOR_IMAGE", Target::Collector.image())
            // The runner's podman settings for this host (runc, ulimits), written when
            // the capability check probed the engine.
            .env(
                "COLLECTOR_IMAGE_CONTAINERS_CONF",
                project::xtask_dir().join("podman/containers.conf"),
            );
    }
    let [harness_cleanup, mounts] = cleanup_steps(ctx, &layout, "collector-image")?;
    Ok(vec![provision, tests, harness_cleanup, mounts])
}
