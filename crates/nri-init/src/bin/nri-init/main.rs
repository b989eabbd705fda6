//! `nri-init`: enables NRI in this node's containerd or k3s configuration. See `--help`.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use nri_init::Class;

use cli::Args;

/// NRI is enabled (now, or it already was), or the dry run printed its diff.
const OK: u8 = 0;
/// Any other failure (I/O, a missing program); the message says which.
const FAILURE: u8 = 1;
/// The file cannot be edited safely (malformed, unsupported version, containerd before
/// 1.7, ...); nothing was changed.
const REFUSED: u8 = 3;
/// containerd refused the edited file, or would still not enable NRI; nothing was
/// installed.
const REJECTED: u8 = 4;
/// Installed, but the restart or the NRI socket failed; the backup was put back and
/// containerd restarted with it.
const ROLLED_BACK: u8 = 5;
/// Putting the backup back failed too: restore it by hand and restart containerd.
const ROLLBACK_FAILED: u8 = 6;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .init();
    let options = args.options();
    let target = options.config.as_ref().map_or_else(
        || "the default configuration".to_owned(),
        |p| p.display().to_string(),
    );
    match nri_init::run(&options).with_context(|| format!("enabling NRI in {target}")) {
        Ok(report) => {
            print!("{report}");
            ExitCode::from(OK)
        }
        Err(error) => {
            eprintln!("nri-init: {error:#}");
            let class = error
                .downcast_ref::<nri_init::Error>()
                .map_or(Class::Other, nri_init::Error::class);
            ExitCode::from(match class {
                Class::Refused => REFUSED,
                Class::Rejected => REJECTED,
                Class::RolledBack => ROLLED_BACK,
                Class::RollbackFailed => ROLLBACK_FAILED,
                Class::Other => FAILURE,
            })
        }
    }
}
