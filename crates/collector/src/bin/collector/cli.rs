//! Command line and environment of the collector binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use collector::{Backoff, DEFAULT_ROW_GROUP_ROWS, Destination, NodeConfig, OutputConfig};
use nri_resctrl_plugin::PluginConfig;

/// Samples every pod's last-level-cache occupancy and memory bandwidth per resctrl
/// monitoring domain into Parquet files, running the resctrl NRI plugin in-process so
/// every pod has a monitoring group.
///
/// Every flag can also be set by the environment variable shown with it. Files appear in
/// the output directory as <prefix><node>-<UTC time>-<8 hex>.parquet once complete (with
/// an s3:// output they are written to the spool directory, uploaded, then removed);
/// SIGUSR1 completes the current file, SIGTERM completes it and exits. S3 settings come
/// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL.
#[derive(Debug, Parser)]
#[command(name = "collector", version)]
pub struct Args {
    /// Node name, written into every row and file name [default: the host name].
    #[arg(long, env = "COLLECTOR_NODE")]
    pub node: Option<String>,

    /// Where completed Parquet files go: a directory (`file:///dir` or a path, created if
    /// missing) or `s3://bucket/prefix` (uploaded from --spool-dir; bucket addressed by
    /// path, as S3-compatible servers expect).
    #[arg(
        long,
        env = "COLLECTOR_OUTPUT",
        value_name = "URL",
        default_value = "file:///var/lib/collector"
    )]
    pub output: String,

    /// With an s3:// output: the local directory files are written to and held in until
    /// uploaded.
    #[arg(
        long,
        env = "COLLECTOR_SPOOL_DIR",
        value_name = "DIR",
        default_value = "/var/lib/collector"
    )]
    pub spool_dir: PathBuf,

    /// With an s3:// output: completed files waiting for upload may take this much of the
    /// spool; past it the oldest are dropped (counted and logged).
    #[arg(long, env = "COLLECTOR_MAX_SPOOL_BYTES", default_value = "1GiB", value_parser = cli_units::parse_size)]
    pub max_spool_bytes: u64,

    /// With an s3:// output: the wait before retrying after a failed upload (`1s`,
    /// `500ms`); doubled after each further failure up to --upload-backoff-max, and back to
    /// this after a success. Files are never given up on: they stay spooled until sent.
    #[arg(long, env = "COLLECTOR_UPLOAD_BACKOFF_INITIAL", value_name = "DURATION", default_value = "1s", value_parser = cli_units::parse_duration)]
    pub upload_backoff_initial: Duration,

    /// With an s3:// output: the longest wait between upload attempts (`1m`, `5m`); at
    /// least --upload-backoff-initial.
    #[arg(long, env = "COLLECTOR_UPLOAD_BACKOFF_MAX", value_name = "DURATION", default_value = "1m", value_parser = cli_units::parse_duration)]
    pub upload_backoff_max: Duration,

    /// Address of /healthz, /readyz and /metrics; `none` serves nothing.
    #[arg(long, env = "COLLECTOR_LISTEN", value_name = "ADDR", default_value = collector::DEFAULT_LISTEN, value_parser = parse_listen)]
    pub listen: Listen,

    /// Prefix of every output file name.
    #[arg(long, env = "COLLECTOR_FILE_PREFIX", default_value = "")]
    pub file_prefix: String,

    /// Sampling interval, aligned to wall-clock multiples of it: `1s`, `500ms`, `1m`; a
    /// bare number is seconds.
    #[arg(long, env = "COLLECTOR_INTERVAL", default_value = "1s", value_parser = cli_units::parse_duration)]
    pub interval: Duration,

    /// Complete a file once it reaches this size: `256MiB`, `1GiB`, `500KiB`; a bare
    /// number is bytes.
    #[arg(long, env = "COLLECTOR_MAX_FILE_SIZE", default_value = "256MiB", value_parser = cli_units::parse_size)]
    pub max_file_size: u64,

    /// Complete a file once it is this old: `10m`, `30s`.
    #[arg(long, env = "COLLECTOR_MAX_FILE_AGE", default_value = "10m", value_parser = cli_units::parse_duration)]
    pub max_file_age: Duration,

    /// Where resctrl is mounted (or a stand-in of it).
    #[arg(long, env = "COLLECTOR_RESCTRL_ROOT", default_value = resctrl::DEFAULT_ROOT)]
    pub resctrl_root: PathBuf,

    /// The mount table used to check that resctrl is mounted at the resctrl root.
    #[arg(long, env = "COLLECTOR_MOUNTS_FILE", default_value = resctrl::DEFAULT_MOUNTS_PATH)]
    pub mounts_file: PathBuf,

    /// The CPU description used to explain missing RDT support.
    #[arg(long, env = "COLLECTOR_CPUINFO_FILE", default_value = resctrl::DEFAULT_CPUINFO_PATH)]
    pub cpuinfo_file: PathBuf,

    /// Mount resctrl at the resctrl root if it is not mounted.
    #[arg(long, env = "COLLECTOR_AUTO_MOUNT")]
    pub auto_mount: bool,

    /// Prefix of the per-pod group names; startup cleanup removes every group with it.
    #[arg(long, env = "COLLECTOR_GROUP_PREFIX", default_value = resctrl::DEFAULT_GROUP_PREFIX)]
    pub group_prefix: String,

    /// Remove the groups a previous run left (every group with the prefix) at startup.
    #[arg(
        long,
        env = "COLLECTOR_CLEANUP_ON_START",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub cleanup_on_start: bool,

    /// Where the cgroup file systems are mounted (v2, or the v1 hierarchies); container
    /// threads are read from there.
    #[arg(long, env = "COLLECTOR_CGROUP_ROOT", default_value = nri_resctrl_plugin::pid_source::DEFAULT_CGROUP_ROOT)]
    pub cgroup_root: PathBuf,

    /// The runtime's NRI socket; the collector reconnects when the runtime restarts.
    #[arg(long, env = "COLLECTOR_NRI_SOCKET", default_value = nri::stub::DEFAULT_SOCKET_PATH)]
    pub nri_socket: PathBuf,

    /// The plugin's NRI name.
    #[arg(
        long,
        env = "COLLECTOR_PLUGIN_NAME",
        default_value = "resctrl-collector"
    )]
    pub plugin_name: String,

    /// The plugin's NRI index, two digits: the order among plugins.
    #[arg(long, env = "COLLECTOR_PLUGIN_INDEX", default_value = "10")]
    pub plugin_index: String,

    /// How often the plugin re-checks containers for processes started into them later
    /// and retries pending work.
    #[arg(long, env = "COLLECTOR_RETRY_INTERVAL", default_value = "10s", value_parser = cli_units::parse_duration)]
    pub retry_interval: Duration,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "COLLECTOR_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,
}

impl Args {
    /// The library's configuration; `host_name` is the node name when none was given.
    pub fn node_config(
        &self,
        host_name: impl FnOnce() -> std::io::Result<String>,
    ) -> anyhow::Result<NodeConfig> {
        use anyhow::Context as _;
        let node = match &self.node {
            Some(node) => node.clone(),
            None => {
                host_name().context("reading the host name for the node name (or pass --node)")?
            }
        };
        let nri = nri::stub::PluginConfig::new(&self.plugin_name, &self.plugin_index)
            .context("invalid --plugin-name or --plugin-index")?
            .with_socket_path(&self.nri_socket);
        let destination = Destination::parse(&self.output).context("invalid --output")?;
        let upload_backoff = Backoff::new(
            self.upload_backoff_initial,
            self.upload_backoff_max,
            "--upload-backoff-max",
        )?;
        let dir = match &destination {
            Destination::Directory(dir) => dir.clone(),
            Destination::S3 { .. } => self.spool_dir.clone(),
        };
        Ok(NodeConfig {
            output: OutputConfig {
                dir,
                prefix: self.file_prefix.clone(),
                node,
                interval: self.interval,
                max_file_bytes: self.max_file_size,
                max_file_age: self.max_file_age,
                row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            },
            resctrl: resctrl::Config::default()
                .with_root(&self.resctrl_root)
                .with_mounts_path(&self.mounts_file)
                .with_cpuinfo_path(&self.cpuinfo_file),
            plugin: PluginConfig::default()
                .with_group_prefix(&self.group_prefix)
                .with_cleanup_on_start(self.cleanup_on_start)
                .with_auto_mount(self.auto_mount),
            cgroup_root: self.cgroup_root.clone(),
            nri,
            retry_interval: self.retry_interval,
            destination,
            max_spool_bytes: self.max_spool_bytes,
            upload_backoff,
            listen: self.listen.0,
        })
    }
}

/// `--listen`: an address, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

/// `127.0.0.1:9808`, `[::]:9808`, `0.0.0.0:9808`, or `none`.
fn parse_listen(text: &str) -> Result<Listen, String> {
    if text == "none" {
        return Ok(Listen(None));
    }
    text.parse()
        .map(|addr| Listen(Some(addr)))
        .map_err(|_| format!("{text:?} is not an address: use IP:PORT (e.g. 0.0.0.0:9808) or none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let mut all = vec!["collector"];
        all.extend_from_slice(args);
        Args::try_parse_from(all).expect("valid arguments")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let args = parse(&["--node", "n1"]);
        let config = args
            .node_config(|| unreachable!("a node was given"))
            .expect("config");
        assert_eq!(config.output.node, "n1");
        assert_eq!(config.output.dir, PathBuf::from("/var/lib/collector"));
        assert_eq!(
            config.destination,
            Destination::Directory(PathBuf::from("/var/lib/collector"))
        );
        assert_eq!(
            config.listen,
            Some("127.0.0.1:9808".parse().expect("address"))
        );
        assert_eq!(config.max_spool_bytes, collector::DEFAULT_MAX_SPOOL_BYTES);
        assert_eq!(config.output.interval, Duration::from_secs(1));
        assert_eq!(
            config.output.max_file_bytes,
            collector::DEFAULT_MAX_FILE_BYTES
        );
        assert_eq!(config.output.max_file_age, collector::DEFAULT_MAX_FILE_AGE);
        assert_eq!(config.resctrl, resctrl::Config::default());
        assert_eq!(config.plugin, PluginConfig::default());
        assert_eq!(config.cgroup_root, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(
            config.nri.transport(),
            &nri::stub::Transport::Socket(PathBuf::from(nri::stub::DEFAULT_SOCKET_PATH))
        );
        assert_eq!(config.retry_interval, Duration::from_secs(10));
        assert_eq!(config.upload_backoff, Backoff::default());
        assert_eq!(
            config.upload_backoff,
            Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60)
            },
            "the defaults --help shows"
        );
    }

    #[test]
    fn arguments_reach_every_setting() {
        let args = parse(&[
            "--output",
            "/tmp/out",
            "--file-prefix",
            "rdt-",
            "--interval",
            "250ms",
            "--max-file-size",
            "1MiB",
            "--max-file-age",
            "30s",
            "--resctrl-root",
            "/mnt/r",
            "--mounts-file",
            "/tmp/mounts",
            "--cpuinfo-file",
            "/tmp/cpuinfo",
            "--auto-mount",
            "--group-prefix",
            "t_",
            "--cleanup-on-start",
            "false",
            "--cgroup-root",
            "/mnt/cg",
            "--nri-socket",
            "/run/x/nri.sock",
            "--plugin-index",
            "20",
            "--retry-interval",
            "1s",
        ]);
        let config = args.node_config(|| Ok("host-1".into())).expect("config");
        assert_eq!(
            config.output.node, "host-1",
            "the host name when --node is not given"
        );
        assert_eq!(config.output.prefix, "rdt-");
        assert_eq!(config.output.interval, Duration::from_millis(250));
        assert_eq!(config.output.max_file_bytes, 1 << 20);
        assert_eq!(config.output.max_file_age, Duration::from_secs(30));
        assert_eq!(config.resctrl.root, PathBuf::from("/mnt/r"));
        assert_eq!(config.resctrl.mounts_path, PathBuf::from("/tmp/mounts"));
        assert_eq!(config.resctrl.cpuinfo_path, PathBuf::from("/tmp/cpuinfo"));
        assert!(config.plugin.auto_mount);
        assert!(!config.plugin.cleanup_on_start);
        assert_eq!(config.plugin.group_prefix, "t_");
        assert_eq!(config.cgroup_root, PathBuf::from("/mnt/cg"));
        assert_eq!(config.nri.idx(), "20");
        assert_eq!(
            config.nri.transport(),
            &nri::stub::Transport::Socket(PathBuf::from("/run/x/nri.sock"))
        );
    }

    #[test]
    fn an_s3_output_writes_to_the_spool_directory() {
        let args = parse(&[
            "--node",
            "n",
            "--output",
            "s3://bucket/rdt",
            "--spool-dir",
            "/tmp/spool",
            "--max-spool-bytes",
            "10MiB",
            "--upload-backoff-initial",
            "250ms",
            "--upload-backoff-max",
            "2m",
            "--listen",
            "none",
        ]);
        let config = args.node_config(|| unreachable!()).expect("config");
        assert_eq!(config.output.dir, PathBuf::from("/tmp/spool"));
        assert_eq!(
            config.destination,
            Destination::S3 {
                bucket: "bucket".into(),
                prefix: "rdt".into()
            }
        );
        assert_eq!(config.max_spool_bytes, 10 << 20);
        assert_eq!(
            config.upload_backoff,
            Backoff {
                initial: Duration::from_millis(250),
                max: Duration::from_secs(120)
            }
        );
        assert_eq!(config.listen, None);
    }

    #[test]
    fn a_bad_upload_backoff_names_its_flag() {
        for flag in ["--upload-backoff-initial", "--upload-backoff-max"] {
            let err = Args::try_parse_from(["collector", flag, "later"]).expect_err("bad duration");
            let text = err.to_string();
            assert!(text.contains(flag) && text.contains("later"), "{text}");
        }
        let args = parse(&[
            "--node",
            "n",
            "--upload-backoff-initial",
            "2m",
            "--upload-backoff-max",
            "1m",
        ]);
        let err = args
            .node_config(|| unreachable!())
            .expect_err("a maximum below the initial wait");
        let text = format!("{err:#}");
        assert!(
            text.contains("--upload-backoff-max") && text.contains("initial"),
            "{text}"
        );
    }

    #[test]
    fn help_shows_the_upload_backoff_flags_with_their_defaults() {
        use clap::CommandFactory as _;
        let help = Args::command().render_long_help().to_string();
        for expected in [
            "--upload-backoff-initial <DURATION>",
            "COLLECTOR_UPLOAD_BACKOFF_INITIAL",
            "[default: 1s]",
            "--upload-backoff-max <DURATION>",
            "[default: 1m]",
        ] {
            assert!(help.contains(expected), "no `{expected}` in:\n{help}");
        }
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err =
            Args::try_parse_from(["collector", "--interval", "soon"]).expect_err("bad interval");
        let text = err.to_string();
        assert!(
            text.contains("--interval") && text.contains("soon"),
            "{text}"
        );
        let err =
            Args::try_parse_from(["collector", "--listen", "port 80"]).expect_err("bad address");
        assert!(err.to_string().contains("--listen"), "{err}");
        let args = parse(&["--node", "n", "--output", "gs://b/p"]);
        let err = args.node_config(|| unreachable!()).expect_err("bad output");
        assert!(format!("{err:#}").contains("--output"), "{err:#}");
        let args = parse(&["--node", "n", "--plugin-index", "x"]);
        let err = args.node_config(|| unreachable!()).expect_err("bad index");
        assert!(format!("{err:#}").contains("--plugin-index"), "{err:#}");
    }
}
