//! `synchronize` of 1,000 pods with 4 containers of 8 threads each, on the fake resctrl.
//!
//! Run with `cargo bench -p nri-resctrl-plugin`. Prints the wall time of each run and the
//! file operations per assigned thread; one write per thread is the floor, since resctrl
//! takes one thread id per write. Exits non-zero if a run does not place every thread.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use nri_resctrl_plugin::{
    ContainerInfo, ContainerState, PluginConfig, PodInfo, ResctrlPlugin, ScriptedPidSource, events,
};
use resctrl::fake::FakeResctrl;

const PODS: u32 = 1_000;
const CONTAINERS_PER_POD: u32 = 4;
const THREADS_PER_CONTAINER: u32 = 8;
const RUNS: usize = 5;

struct Run {
    elapsed: Duration,
    assigned: usize,
    tasks_writes: usize,
    reads: usize,
    mkdirs: usize,
    listings: usize,
    events: usize,
}

fn one_run() -> Result<Run, String> {
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
        pids.clone(),
        tx,
    )
    .map_err(|e| e.display_chain())?;
    plugin.start().map_err(|e| e.display_chain())?;
    fake.reset_counters();

    let start = Instant::now();
    let summary = plugin.synchronize(&pods, &containers);
    let elapsed = start.elapsed();

    let counters = fake.counters();
    let mut events = 0;
    while rx.try_recv().is_ok() {
        events += 1;
    }
    let want = (PODS * CONTAINERS_PER_POD * THREADS_PER_CONTAINER) as usize;
    let reconciled = (PODS * CONTAINERS_PER_POD) as usize;
    if summary.containers.assigned != want || summary.containers.reconciled != reconciled {
        return Err(format!(
            "expected {want} threads in {reconciled} reconciled containers, got {summary:?}"
        ));
    }
    Ok(Run {
        elapsed,
        assigned: summary.containers.assigned,
        tasks_writes: counters.tasks_writes,
        reads: counters.reads,
        mkdirs: counters.mkdir_calls,
        listings: pids.total_calls(),
        events,
    })
}

fn main() -> ExitCode {
    println!(
        "synchronize: {PODS} pods x {CONTAINERS_PER_POD} containers x {THREADS_PER_CONTAINER} threads, fake resctrl, {RUNS} runs"
    );
    let mut times = Vec::new();
    for i in 1..=RUNS {
        let run = match one_run() {
            Ok(run) => run,
            Err(e) => {
                eprintln!("run {i} failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let per_thread = run.tasks_writes as f64 / run.assigned as f64;
        println!(
            "run {i}: {:>8.2} ms | {} threads assigned | tasks writes/thread {per_thread:.3} | tasks reads {} | mkdir {} | cgroup listings {} ({:.1}/container) | events {}",
            run.elapsed.as_secs_f64() * 1e3,
            run.assigned,
            run.reads,
            run.mkdirs,
            run.listings,
            run.listings as f64 / f64::from(PODS * CONTAINERS_PER_POD),
            run.events,
        );
        times.push(run.elapsed);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "median {:.2} ms, min {:.2} ms, per pod {:.1} us",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6 / f64::from(PODS),
    );
    ExitCode::SUCCESS
}
