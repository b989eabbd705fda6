//! What the stand-in costs: mounting, and a collector's round over 1,000 groups through
//! FUSE (`Resctrl<RealFs>::read_group_monitoring` of every group, 2 domains x 3 events).
//!
//! Needs root and `/dev/fuse`: `cargo bench -p resctrl-standin`. Prints figures; there is
//! no baseline to compare with yet. Wall time suffers from other load on the host; the CPU
//! time (this process: the reader and the serving thread, kernel time included) less so.

use std::time::{Duration, Instant};

use resctrl::fake::FakeReading;
use resctrl::{MonEvent, Resctrl};
use resctrl_standin::Standin;

const GROUPS: u32 = 1_000;
const ROUNDS: u32 = 5;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary mount point");
    let started = Instant::now();
    let standin = Standin::mount(dir.path(), Standin::builder().num_rmids(GROUPS + 1))
        .unwrap_or_else(|e| panic!("cannot mount the stand-in (needs root and /dev/fuse): {e}"));
    let mount = started.elapsed();
    let rc = Resctrl::new(standin.config()).expect("valid configuration");

    let started = Instant::now();
    let groups: Vec<_> = (0..GROUPS)
        .map(|i| {
            rc.create_group(&format!("pod-{i}"))
                .expect("create a group")
        })
        .collect();
    let create = started.elapsed();
    for (i, group) in groups.iter().enumerate() {
        let value = u64::try_from(i).expect("small") * 4096;
        standin
            .fake()
            .set_reading(group, 0, MonEvent::LlcOccupancy, FakeReading::Value(value));
    }

    let mut best = Duration::MAX;
    let cpu_before = cpu_time();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for group in &groups {
            let readings = rc.read_group_monitoring(group).expect("read a group");
            assert_eq!(readings.domains.len(), 2);
        }
        best = best.min(started.elapsed());
    }
    let cpu_per_round = (cpu_time() - cpu_before) / ROUNDS;

    let started = Instant::now();
    standin.unmount().expect("unmount");
    let unmount = started.elapsed();

    let per_group = best / GROUPS;
    println!("mount:                         {mount:?}");
    println!("create {GROUPS} groups:             {create:?}");
    println!(
        "read {GROUPS} groups (best of {ROUNDS}):  {best:?} ({per_group:?} per group, 6 files each)"
    );
    println!(
        "CPU per read round:            {cpu_per_round:?} ({:?} per group)",
        cpu_per_round / GROUPS
    );
    println!("unmount:                       {unmount:?}");
}

/// User plus system time of this whole process, from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name may contain spaces; the fields after it are fixed.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks = |i: usize| -> u64 { fields[i].parse().expect("a tick count") };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name,
    // counted in USER_HZ, which Linux fixes at 100 for /proc.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
