//! Command line and environment of the plugin binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use nri::stub::{PluginConfig as NriConfig, Transport};
use nri_resctrl_plugin::{AdapterOptions, HostConfig, PluginConfig};

/// Puts every pod's containers into a resctrl monitoring group of their own, through
/// containerd's NRI.
///
/// Connects to the runtime's NRI socket and reconnects when the runtime restarts. When
/// the runtime launched it (from its NRI plugin directory, with NRI_PLUGIN_SOCKET,
/// NRI_PLUGIN_NAME and NRI_PLUGIN_IDX set), it uses the socket passed to it and the name
/// and index the runtime gave it. The runtime passes no arguments and no other
/// environment, so launched that way the plugin runs with the defaults below; to change
/// them, put a wrapper script in the plugin directory that passes arguments.
#[derive(Debug, Parser)]
#[command(name = "nri-resctrl-plugin", version)]
pub struct Args {
    /// The runtime's NRI socket (ignored when the runtime launched the plugin).
    #[arg(long, env = "NRI_RESCTRL_SOCKET", default_value = nri::stub::DEFAULT_SOCKET_PATH)]
    pub socket_path: PathBuf,

    /// Plugin name (NRI_PLUGIN_NAME, set by the runtime, takes precedence).
    #[arg(long, default_value = "resctrl")]
    pub plugin_name: String,

    /// Plugin index, two digits: the order among plugins (NRI_PLUGIN_IDX takes
    /// precedence).
    #[arg(long, default_value = "10")]
    pub plugin_index: String,

    /// Prefix of the per-pod group names (`<prefix><pod uid>`); startup cleanup removes
    /// every group with it.
    #[arg(long, env = "NRI_RESCTRL_GROUP_PREFIX", default_value = resctrl::DEFAULT_GROUP_PREFIX)]
    pub group_prefix: String,

    /// Remove the groups a previous run left (every group with the prefix) at startup.
    #[arg(
        long,
        env = "NRI_RESCTRL_CLEANUP_ON_START",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub cleanup_on_start: bool,

    /// Mount resctrl at the resctrl root if it is not mounted.
    #[arg(long, env = "NRI_RESCTRL_AUTO_MOUNT")]
    pub auto_mount: bool,

    /// Where resctrl is (or is to be) mounted.
    #[arg(long, env = "NRI_RESCTRL_ROOT", default_value = resctrl::DEFAULT_ROOT)]
    pub resctrl_root: PathBuf,

    /// Where the cgroup file systems are mounted (v2, or the v1 hierarchies).
    #[arg(long, env = "NRI_RESCTRL_CGROUP_ROOT", default_value = nri_resctrl_plugin::pid_source::DEFAULT_CGROUP_ROOT)]
    pub cgroup_root: PathBuf,

    /// How often to re-check containers for processes started into them later (e.g. by
    /// `kubectl exec`) and retry pending work: `10s`, `500ms`, `1m`; a bare number is
    /// seconds.
    #[arg(long, env = "NRI_RESCTRL_RETRY_INTERVAL", default_value = "10s", value_parser = cli_units::parse_duration)]
    pub retry_interval: Duration,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "NRI_RESCTRL_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,
}

impl Args {
    /// The adapter's options: name, index and transport from the runtime's variables
    /// when it launched the plugin, else from the arguments.
    pub fn adapter_options(&self) -> Result<AdapterOptions, nri::ConfigError> {
        let mut nri = NriConfig::from_env(&self.plugin_name, &self.plugin_index)?;
        if matches!(nri.transport(), Transport::Socket(_)) {
            nri = nri.with_socket_path(&self.socket_path);
        }
        Ok(AdapterOptions::new(nri).with_retry_interval(self.retry_interval))
    }

    /// The core on this host.
    pub fn host_config(&self) -> HostConfig {
        HostConfig {
            plugin: PluginConfig::default()
                .with_group_prefix(&self.group_prefix)
                .with_cleanup_on_start(self.cleanup_on_start)
                .with_auto_mount(self.auto_mount),
            resctrl: resctrl::Config::default().with_root(&self.resctrl_root),
            cgroup_root: self.cgroup_root.clone(),
            ..HostConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_become_the_core_and_adapter_settings() {
        let args = Args::try_parse_from([
            "nri-resctrl-plugin",
            "--socket-path",
            "/run/test/nri.sock",
            "--group-prefix",
            "t_",
            "--cleanup-on-start",
            "false",
            "--auto-mount",
            "--resctrl-root",
            "/mnt/resctrl",
            "--cgroup-root",
            "/mnt/cgroup",
            "--retry-interval",
            "500ms",
        ])
        .expect("valid arguments");
        let host = args.host_config();
        assert_eq!(host.plugin.group_prefix, "t_");
        assert!(!host.plugin.cleanup_on_start);
        assert!(host.plugin.auto_mount);
        assert_eq!(host.resctrl.root, PathBuf::from("/mnt/resctrl"));
        assert_eq!(host.cgroup_root, PathBuf::from("/mnt/cgroup"));
        assert_eq!(args.retry_interval, Duration::from_millis(500));
        assert_eq!(args.log_level, tracing::Level::INFO);
        // Not launched by a runtime here (no NRI_PLUGIN_SOCKET): the socket argument.
        let options = args.adapter_options().expect("valid name and index");
        assert_eq!(
            options.nri.transport(),
            &Transport::Socket(PathBuf::from("/run/test/nri.sock"))
        );
        assert_eq!(options.retry_interval, Duration::from_millis(500));
        let defaults = Args::try_parse_from(["nri-resctrl-plugin"]).expect("defaults");
        assert!(defaults.cleanup_on_start);
        assert!(!defaults.auto_mount);
        assert_eq!(defaults.plugin_index, "10");
        assert!(Args::try_parse_from(["x", "--retry-interval", "soon"]).is_err());
    }
}
