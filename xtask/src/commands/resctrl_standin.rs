//! `cargo xtask resctrl-standin --mount DIR [--domains 0,1] [--rmids N] [--sub-numa-nodes N]`:
//! a resctrl stand-in (the fake served over FUSE) mounted for a person to try by hand, until
//! Ctrl-C. Needs root and /dev/fuse.

use std::path::PathBuf;

use anyhow::Context;
use xshell::cmd;

use crate::ctx::Ctx;

use crate::plan::{Plan, Step};

/// Arguments of `resctrl-standin`. Unset options are left to the binary, so its defaults
/// (`resctrl-standin --help`) live in one place.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct ResctrlStandinArgs {
    /// The mount point (created if missing); `DIR/resctrl` is the resctrl root,
    /// `DIR/proc/mounts` the mount table to point binaries at.
    #[arg(long, value_name = "DIR")]
    pub mount: PathBuf,
    /// The L3 monitoring domain ids, comma-separated (the binary's default: 0,1).
    #[arg(long, value_name = "IDS")]
    pub domains: Option<String>,
    /// Number of RMIDs, the root group's included (the binary's default: 64).
    #[arg(long, value_name = "N")]
    pub rmids: Option<u32>,
    /// Sub-NUMA clustering: NUMA nodes per L3 domain (the binary's default: 1, off).
    #[arg(long, value_name = "N")]
    pub sub_numa_nodes: Option<u32>,
}

/// One step: `cargo run -p resctrl-standin -- --mount DIR ...`. The runner forwards Ctrl-C
/// to it, and the stand-in unmounts on SIGINT. A relative DIR is made absolute here,
/// because steps run in the workspace root rather than where the command was typed.
pub fn plan(ctx: &Ctx, args: &ResctrlStandinArgs) -> anyhow::Result<Plan> {
    let sh = &ctx.sh;
    let mount = std::path::absolute(&args.mount)
        .with_context(|| format!("making the mount point {} absolute", args.mount.display()))?;
    let mut options: Vec<String> = Vec::new();
    if let Some(domains) = &args.domains {
        options.extend(["--domains".to_owned(), domains.clone()]);
    }
    if let Some(rmids) = args.rmids {
        options.extend(["--rmids".to_owned(), rmids.to_string()]);
    }
    if let Some(nodes) = args.sub_numa_nodes {
        options.extend(["--sub-numa-nodes".to_owned(), nodes.to_string()]);
    }
    let mut plan = Plan::default();
    plan.push(Step::exec(
        "resctrl-standin",
        cmd!(
            sh,
            "cargo run --locked -p resctrl-standin -- --mount {mount} {options...}"
        )
        .into(),
    ));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn command_line(plan: &Plan) -> String {
        assert_eq!(plan.steps.len(), 1, "one step");
        match &plan.steps[0].action {
            Action::Exec(exec) => exec.to_string(),
            _ => panic!("not an exec step"),
        }
    }

    #[test]
    fn the_binary_gets_the_mount_point_and_only_the_options_given() {
        let ctx = Ctx::for_tests(false);
        let args = ResctrlStandinArgs {
            mount: PathBuf::from("/mnt/standin"),
            ..ResctrlStandinArgs::default()
        };
        assert_eq!(
            command_line(&plan(&ctx, &args).expect("plan")),
            "cargo run --locked -p resctrl-standin -- --mount /mnt/standin"
        );
        let args = ResctrlStandinArgs {
            mount: PathBuf::from("/mnt/standin"),
            domains: Some("0,1,2,3".into()),
            rmids: Some(8),
            sub_numa_nodes: Some(2),
        };
        assert_eq!(
            command_line(&plan(&ctx, &args).expect("plan")),
            "cargo run --locked -p resctrl-standin -- --mount /mnt/standin --domains 0,1,2,3 --rmids 8 --sub-numa-nodes 2"
        );
    }

    #[test]
    fn a_relative_mount_point_is_where_the_command_was_typed() {
        let ctx = Ctx::for_tests(false);
        let args = ResctrlStandinArgs {
            mount: PathBuf::from("standin"),
            ..ResctrlStandinArgs::default()
        };
        let here = std::env::current_dir().expect("the working directory");
        assert_eq!(
            command_line(&plan(&ctx, &args).expect("plan")),
            format!(
                "cargo run --locked -p resctrl-standin -- --mount {}",
                here.join("standin").display()
            )
        );
    }
}
