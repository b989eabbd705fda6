//! `cargo xtask container clean`: gives back the disk the container path took for this
//! checkout: its target volume, the stand-in base's root file system, and dangling images.
//! The cargo registry volume is shared by every checkout and stays.

use super::base;
use super::engine::Engine;
use super::run::target_volume;
use crate::ctx::Ctx;
use crate::plan::{Exec, Plan, Step};
use crate::project;

/// The steps: each runs even if another found nothing to remove.
pub fn plan(ctx: &Ctx, engine: &Engine) -> Plan {
    let sh = &ctx.sh;
    let volume = target_volume(project::root());
    let rootfs = base::work_dir();
    let mut plan = Plan::default();
    plan.push(Step::exec(
        "container clean: target volume",
        Exec::from(engine.cmd(sh).args(["volume", "rm", "--force", &volume])),
    ));
    let shown = rootfs.display().to_string();
    plan.push(Step::task(
        "container clean: stand-in base",
        format!("rm -rf {shown}"),
        move |io| {
            if rootfs.exists() {
                std::fs::remove_dir_all(&rootfs)
                    .map_err(|err| anyhow::anyhow!("removing {}: {err}", rootfs.display()))?;
                io.line(&format!("removed {}", rootfs.display()));
            } else {
                io.line(&format!("{} was not there", rootfs.display()));
            }
            Ok(())
        },
    ));
    plan.push(Step::exec(
        "container clean: dangling images",
        Exec::from(engine.cmd(sh).args(["image", "prune", "--force"])),
    ));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::engine::Kind;

    #[test]
    fn clean_removes_this_checkouts_volume_the_stand_in_and_dangling_images() {
        let engine = Engine {
            kind: Kind::Podman,
            env: Vec::new(),
        };
        let text = plan(&Ctx::for_tests(true), &engine).render();
        let volume = target_volume(project::root());
        assert!(
            text.contains(&format!("run: podman volume rm --force {volume}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("task: rm -rf {}", base::work_dir().display())),
            "{text}"
        );
        assert!(text.contains("run: podman image prune --force"), "{text}");
        assert!(!text.contains("xtask-cargo-registry"), "{text}");
    }
}
