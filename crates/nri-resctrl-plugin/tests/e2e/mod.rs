//! Support for the scenarios against a real containerd: the resctrl backend, the plugin
//! under test, and the checks.

pub mod backend;
pub mod observe;
pub mod plugin;

use cause_chain::Chain;
use std::time::Duration;

use containerd_harness::{Assets, Containerd, Options};

/// Upper bound for anything the scenarios wait for; generous for a loaded 2-core host.
pub const WAIT: Duration = Duration::from_secs(30);

/// A workload of three processes (a shell and two sleeps) that lives until killed.
pub const WORKLOAD: &[&str] = &["sh", "-c", "sleep 600 & sleep 600 & wait"];
/// Processes (single-threaded each) of [`WORKLOAD`].
pub const WORKLOAD_THREADS: usize = 3;

/// Starts a private containerd, failing with a clear message when this host cannot.
pub async fn containerd() -> Containerd {
    let assets = Assets::from_env()
        .unwrap_or_else(|e| panic!("cannot run the NRI end-to-end scenarios: {}", Chain(&e)));
    Containerd::start(&assets, Options::default())
        .await
        .unwrap_or_else(|e| panic!("cannot start the private containerd: {}", Chain(&e)))
}
