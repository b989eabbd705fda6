//! Command line of the stand-in binary.

use std::path::PathBuf;

use clap::Parser;
use resctrl::fake::FakeResctrlBuilder;
use resctrl_standin::Standin;

/// Mounts a stand-in for Linux resctrl (Intel RDT / AMD PQoS monitoring) on a host without
/// it, so the collector and nri-resctrl-plugin can be tried by hand.
///
/// Serves the resctrl fake's kernel semantics as a FUSE file system until SIGINT (Ctrl-C)
/// or SIGTERM, then unmounts. Under DIR: `resctrl/` is the resctrl root, `proc/mounts` the
/// mount table that shows it mounted, `proc/cpuinfo` an RDT-capable CPU. `mkdir
/// DIR/resctrl/mon_groups/x` creates a group with `tasks` and `mon_data/mon_L3_NN/*`;
/// writing a host thread id to `tasks` moves it; past the RMID limit mkdir fails with
/// ENOSPC; every reading is 0. Needs root and /dev/fuse.
#[derive(Debug, Parser)]
#[command(name = "resctrl-standin", version)]
pub struct Args {
    /// The mount point: an existing directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub mount: PathBuf,

    /// The L3 monitoring domain ids, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub domains: Vec<u32>,

    /// Number of RMIDs, the root group's included (so N-1 monitoring groups fit).
    #[arg(long, default_value_t = 64)]
    pub rmids: u32,

    /// Sub-NUMA clustering: NUMA nodes per L3 domain, each shown as
    /// `mon_L3_NN/mon_sub_L3_YY` (1: off).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sub_numa_nodes: u32,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "RESCTRL_STANDIN_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,
}

impl Args {
    /// The fake to serve: host threads, and the domains and limits asked for.
    pub fn builder(&self) -> FakeResctrlBuilder {
        Standin::builder()
            .l3_domains(self.domains.iter().copied())
            .num_rmids(self.rmids)
            .sub_numa_nodes_per_l3(self.sub_numa_nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_have_the_fakes_defaults_and_take_lists() {
        let args = Args::try_parse_from(["resctrl-standin", "--mount", "/mnt/s"]).expect("valid");
        assert_eq!(args.mount, PathBuf::from("/mnt/s"));
        assert_eq!(args.domains, [0, 1]);
        assert_eq!(args.rmids, 64);
        assert_eq!(args.sub_numa_nodes, 1);
        let args = Args::try_parse_from([
            "resctrl-standin",
            "--mount",
            "/mnt/s",
            "--domains",
            "0,1,2,3",
            "--rmids",
            "8",
            "--sub-numa-nodes",
            "2",
        ])
        .expect("valid");
        assert_eq!(args.domains, [0, 1, 2, 3]);
        assert_eq!(args.rmids, 8);
        assert!(
            Args::try_parse_from(["resctrl-standin"]).is_err(),
            "--mount is required"
        );
        assert!(
            Args::try_parse_from(["resctrl-standin", "--mount", "/m", "--domains", "a"]).is_err()
        );
    }
}
