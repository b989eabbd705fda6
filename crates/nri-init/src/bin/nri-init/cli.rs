//! Command line of the `nri-init` binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use nri_init::{ContainerdVersion, Mode, Options, Restart, Settings};

/// Enables NRI in this node's containerd (or k3s) configuration, safely.
///
/// Edits only NRI's table (`disable = false`, `disable_connections = false`, and the
/// paths given), keeping comments, order and quoting; a second run changes nothing. The
/// new file is loaded by containerd (`config dump`) before it replaces the old one, which
/// is kept as a backup beside it. With --restart, containerd is restarted and must come
/// back with its NRI socket accepting connections, or the backup is put back.
///
/// Exit codes: 0 NRI enabled (or already was); 1 other failure; 2 bad arguments;
/// 3 the file cannot be edited safely, nothing changed; 4 containerd refused the edited
/// file, nothing installed; 5 restart or NRI socket failed, the backup was restored;
/// 6 restoring the backup failed too: restore it by hand.
#[derive(Debug, Parser)]
#[command(name = "nri-init", version)]
pub struct Args {
    /// containerd's configuration file (default /etc/containerd/config.toml), or for k3s
    /// its template directory (default /var/lib/rancher/k3s/agent/etc/containerd).
    #[arg(long, value_name = "PATH")]
    pub containerd_config: Option<PathBuf>,

    /// Which runtime's configuration to edit; auto picks k3s for a directory or when
    /// k3s's directory exists.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: ModeArg,

    /// containerd's version (e.g. 1.7 or 2.1), for a machine whose containerd cannot be
    /// asked; otherwise the binary is asked, and without one the file's `version` decides.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub containerd_version: Option<ContainerdVersion>,

    /// The containerd binary to ask for its version and to validate the new file with
    /// (default: `containerd` on PATH; for k3s, its unpacked containerd).
    #[arg(long, value_name = "PATH")]
    pub containerd_binary: Option<PathBuf>,

    /// NRI's socket_path to set.
    #[arg(long, value_name = "PATH")]
    pub socket_path: Option<String>,

    /// NRI's plugin_path to set.
    #[arg(long, value_name = "PATH")]
    pub plugin_path: Option<String>,

    /// Restart containerd with systemd after a change (`systemctl restart UNIT`).
    #[arg(long)]
    pub restart: bool,

    /// The systemd unit --restart restarts (default: containerd; k3s for k3s).
    #[arg(long, value_name = "UNIT")]
    pub unit: Option<String>,

    /// Restart containerd with this shell command instead of systemd (implies --restart).
    #[arg(long, value_name = "COMMAND", conflicts_with = "unit")]
    pub restart_command: Option<String>,

    /// How long containerd may take to come back with its NRI socket: `60s`, `500ms`,
    /// `2m`; a bare number is seconds.
    #[arg(long, default_value = "60s", value_parser = cli_units::parse_duration)]
    pub timeout: Duration,

    /// Print the diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "warn")]
    pub log_level: tracing::Level,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// k3s for a directory or when k3s's directory exists, else containerd.
    Auto,
    /// containerd's own configuration file.
    Containerd,
    /// k3s's template directory.
    K3s,
}

impl Args {
    /// The library's options.
    pub fn options(&self) -> Options {
        let mode = match self.mode {
            ModeArg::Auto => Mode::Auto,
            ModeArg::Containerd => Mode::Containerd,
            ModeArg::K3s => Mode::K3s,
        };
        let restart = match (&self.restart_command, self.restart) {
            (Some(command), _) => Some(Restart::Command(command.clone())),
            (None, true) => Some(Restart::Systemd {
                unit: self
                    .unit
                    .clone()
                    .unwrap_or_else(|| default_unit(mode, &self.containerd_config)),
            }),
            (None, false) => None,
        };
        Options {
            mode,
            config: self.containerd_config.clone(),
            containerd_version: self.containerd_version,
            containerd_binary: self.containerd_binary.clone(),
            settings: Settings {
                socket_path: self.socket_path.clone(),
                plugin_path: self.plugin_path.clone(),
            },
            dry_run: self.dry_run,
            restart,
            timeout: self.timeout,
            ..Options::default()
        }
    }
}

fn default_unit(mode: Mode, config: &Option<PathBuf>) -> String {
    let k3s = match mode {
        Mode::K3s => true,
        Mode::Containerd => false,
        Mode::Auto => config.as_ref().map_or_else(
            || std::path::Path::new("/var/lib/rancher/k3s").is_dir(),
            |c| c.is_dir(),
        ),
    };
    if k3s { "k3s" } else { "containerd" }.to_owned()
}

fn parse_version(text: &str) -> Result<ContainerdVersion, String> {
    text.parse()
        .map_err(|()| format!("{text:?} is not a containerd version such as 1.7 or 2.1.9"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_command_implies_restart() {
        let args = Args::parse_from(["nri-init", "--restart-command", "kill -HUP 1"]);
        assert_eq!(
            args.options().restart,
            Some(Restart::Command("kill -HUP 1".into()))
        );
    }

    #[test]
    fn restart_uses_the_given_unit() {
        let args = Args::parse_from(["nri-init", "--restart", "--unit", "k3s-agent"]);
        assert_eq!(
            args.options().restart,
            Some(Restart::Systemd {
                unit: "k3s-agent".into()
            })
        );
    }

    #[test]
    fn a_version_that_is_not_a_number_is_refused() {
        assert!(parse_version("two").is_err());
    }
}
