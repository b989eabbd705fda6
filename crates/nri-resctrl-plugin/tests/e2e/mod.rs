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

/// A workload of three processes and nine threads: a shell, and two `threads` processes
/// of 5 and 3 threads. A plugin placing process ids only leaves six of them out.
pub const THREADED_WORKLOAD: &[&str] = &["sh", "-c", "threads 4 & threads 2 & wait"];
/// Threads of [`THREADED_WORKLOAD`].
pub const THREADED_WORKLOAD_THREADS: usize = 9;
/// Processes of [`THREADED_WORKLOAD`].
pub const THREADED_WORKLOAD_PROCESSES: usize = 3;

/// The built `threads` program (`crates/containerd-harness/workloads/threads.rs`), which
/// `cargo xtask nri-e2e` compiles.
pub const ENV_THREADS: &str = "NRI_E2E_THREADS";

/// Starts a private containerd whose workload image has `/bin/threads`, failing with a
/// clear message when this host cannot.
pub async fn containerd() -> Containerd {
    let assets = Assets::from_env()
        .unwrap_or_else(|e| panic!("cannot run the NRI end-to-end scenarios: {}", Chain(&e)));
    let threads = std::env::var_os(ENV_THREADS).unwrap_or_else(|| {
        panic!("{ENV_THREADS} is not set: run the scenarios through `cargo xtask nri-e2e`, which builds the threads workload")
    });
    let options = Options {
        workload_binaries: vec![("threads".into(), threads.into())],
        ..Options::default()
    };
    Containerd::start(&assets, options)
        .await
        .unwrap_or_else(|e| panic!("cannot start the private containerd: {}", Chain(&e)))
}
