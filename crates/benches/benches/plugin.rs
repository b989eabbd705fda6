//! The plugin's cases: `synchronize` of 1,000 pods with 4 containers of 8 threads each, on
//! the fake resctrl (the startup of a plugin on a full node).
//!
//! `cargo bench -p benches --bench plugin` prints its wall time; `cargo xtask bench` counts
//! its instructions. The case fails if a thread is left unplaced.

use std::process::ExitCode;

use benches::{Case, Measure};
use nri_resctrl_plugin::{
    ContainerInfo, ContainerState, PluginConfig, PodInfo, ResctrlPlugin, ScriptedPidSource, events,
};
use resctrl::fake::FakeResctrl;

const PODS: u32 = 1_000;
const CONTAINERS_PER_POD: u32 = 4;
const THREADS_PER_CONTAINER: u32 = 8;

const CASES: &[Case] = &[Case::new("plugin/synchronize-1000-pods", synchronize)];

fn synchronize(measure: &mut Measure) -> Result<(), String> {
    let fake = FakeResctrl::builder().num_rmids(PODS + 1).build();
    let pids = ScriptedPidSource::new();
    let mut pods = Vec::new();
    let mut containers = Vec::new();
    let mut next_tid = 1_000;
    for p in 0..PODS {
        let pod = PodInfo::new(
            format!("sandbox-{p}"),
            format!("00000000-0000-4000-8000-{p:012}"),
        )
        .with_cgroup_parent(format!("/kubepods/besteffort/pod{p}"));
        for c in 0..CONTAINERS_PER_POD {
            let id = format!("ctr-{p}-{c}");
            let tids: Vec<u32> = (next_tid..next_tid + THREADS_PER_CONTAINER).collect();
            next_tid += THREADS_PER_CONTAINER;
            fake.add_threads(tids.iter().copied());
            pids.set_threads(&id, tids);
            containers.push(ContainerInfo::new(id, &pod.id, ContainerState::Running));
        }
        pods.push(pod);
    }
    let (tx, mut rx) = events::channel(2 * PODS as usize);
    let mut plugin = ResctrlPlugin::with_provider(
        fake.clone(),
        PluginConfig::default(),
        fake.config(),
        pids,
        tx,
    )
    .map_err(|e| e.display_chain())?;
    plugin.start().map_err(|e| e.display_chain())?;

    let summary = measure.measure(|| plugin.synchronize(&pods, &containers));

    while rx.try_recv().is_ok() {}
    let want = (PODS * CONTAINERS_PER_POD * THREADS_PER_CONTAINER) as usize;
    let reconciled = (PODS * CONTAINERS_PER_POD) as usize;
    if summary.containers.assigned != want || summary.containers.reconciled != reconciled {
        return Err(format!(
            "expected {want} threads in {reconciled} reconciled containers, got {summary:?}"
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    benches::main(CASES)
}
