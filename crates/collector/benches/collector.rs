//! The collector's hot paths: a sampling round of 1,000 pod groups x 2 domains (on the
//! fake and on a tmpfs tree read with real system calls), rows into Parquet, memory over
//! an hour of simulated ticks, and what the upstream collector's rules would lose on the
//! same input.
//!
//! Run with `cargo bench -p collector` (`-- --quick` skips the simulated hour, which
//! runs as a child process so its peak RSS is its own). Prints
//! figures; exits non-zero if a round does not produce the expected rows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use collector::schema::{schema, to_record_batch};
use collector::{Output, OutputConfig, PodTable, Row, SampleTime, Sampler, Status};
use nri_resctrl_plugin::{PodResctrlAddOrUpdate, PodResctrlEvent, ResctrlGroupState};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use resctrl::MonEvent::{LlcOccupancy, MbmLocalBytes, MbmTotalBytes};
use resctrl::fake::{FakeReading, FakeResctrl};
use resctrl::{FsProvider, RealFs, Resctrl};

const PODS: usize = 1_000;
const DOMAINS: u32 = 2;
const ROUNDS: usize = 50;
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_796_112_000 * SEC;

/// CPU time of this thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn uid(p: usize) -> String {
    format!("00000000-0000-4000-8000-{p:012}")
}

/// The pods, as the plugin would report them, each with a group at `group(p)`.
fn pod_table(group: impl Fn(usize) -> PathBuf) -> PodTable {
    let mut pods = PodTable::new();
    for p in 0..PODS {
        pods.apply(PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
            pod_uid: uid(p),
            pod_namespace: "bench".into(),
            pod_name: format!("pod-{p}"),
            group_state: ResctrlGroupState::Exists(group(p).to_string_lossy().into_owned()),
            total_containers: 4,
            reconciled_containers: 4,
        }));
    }
    pods
}

struct RoundCost {
    wall: Duration,
    cpu: Duration,
}

fn rounds<P: FsProvider>(
    sampler: &mut Sampler<P>,
    pods: &PodTable,
    mut before: impl FnMut(usize),
) -> Result<RoundCost, String> {
    let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        before(round);
        let at = T0 + i64::try_from(round).unwrap_or(0) * SEC;
        let (w0, c0) = (Instant::now(), thread_cpu());
        let rows = sampler.sample(
            pods,
            SampleTime {
                timestamp_ns: at,
                interval_ns: SEC,
                read_at_ns: at,
            },
        );
        let (c1, w1) = (thread_cpu(), Instant::now());
        let expected = (PODS + 1) * DOMAINS as usize;
        if rows.len() != expected || rows.iter().any(|r| r.status == Status::ReadFailed) {
            return Err(format!(
                "round {round}: {} rows, expected {expected} all read",
                rows.len()
            ));
        }
        if round > 0 {
            wall += w1 - w0;
            cpu += c1 - c0;
        }
    }
    let n = u32::try_from(ROUNDS - 1).unwrap_or(1);
    Ok(RoundCost {
        wall: wall / n,
        cpu: cpu / n,
    })
}

fn report_round(what: &str, cost: &RoundCost) {
    println!(
        "sampling round, {what}: {:.2} ms CPU ({:.2} us per group), {:.2} ms wall; {:.2}% of one core at 1 Hz",
        cost.cpu.as_secs_f64() * 1e3,
        cost.cpu.as_secs_f64() * 1e6 / (PODS + 1) as f64,
        cost.wall.as_secs_f64() * 1e3,
        cost.cpu.as_secs_f64() * 100.0,
    );
}

fn sampling_on_the_fake() -> Result<(), String> {
    let fake = FakeResctrl::builder()
        .l3_domains(0..DOMAINS)
        .num_rmids(PODS as u32 + 1)
        .build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).map_err(|e| e.to_string())?;
    let groups: Vec<PathBuf> = (0..PODS)
        .map(|p| rc.create_group(&uid(p)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let pods = pod_table(|p| groups[p].clone());
    let mut sampler = Sampler::new(rc, "node-a");
    let cost = rounds(&mut sampler, &pods, |round| {
        for g in &groups {
            fake.set_reading(
                g,
                0,
                MbmTotalBytes,
                FakeReading::Value(round as u64 * 1_000_000),
            );
        }
    })?;
    report_round("1,000 groups x 2 domains, fake", &cost);
    Ok(())
}

/// The same tree as plain files on tmpfs (or the temp directory), read through `RealFs`.
fn sampling_on_tmpfs() -> Result<(), String> {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::tempdir_in(&base).map_err(|e| e.to_string())?;
    let root = dir.path();
    let write_group = |group: &Path, value: u64| -> std::io::Result<()> {
        for d in 0..DOMAINS {
            let domain = group.join(format!("mon_data/mon_L3_{d:02}"));
            fs::create_dir_all(&domain)?;
            fs::write(domain.join("llc_occupancy"), format!("{}\n", 65_536))?;
            fs::write(domain.join("mbm_total_bytes"), format!("{value}\n"))?;
            fs::write(domain.join("mbm_local_bytes"), format!("{value}\n"))?;
        }
        Ok(())
    };
    write_group(root, 0).map_err(|e| e.to_string())?;
    let groups: Vec<PathBuf> = (0..PODS)
        .map(|p| root.join(format!("mon_groups/pod_{}", uid(p))))
        .collect();
    for g in &groups {
        write_group(g, 0).map_err(|e| e.to_string())?;
    }
    let rc = Resctrl::with_provider(RealFs, resctrl::Config::default().with_root(root))
        .map_err(|e| e.to_string())?;
    let pods = pod_table(|p| groups[p].clone());
    let mut sampler = Sampler::new(rc, "node-a");
    let cost = rounds(&mut sampler, &pods, |_| {})?;
    report_round(
        &format!("1,000 groups x 2 domains, files on {}", base.display()),
        &cost,
    );
    Ok(())
}

fn one_round_of_rows(tick: i64) -> Vec<Row> {
    let node: Arc<str> = "node-a".into();
    let mut rows = Vec::with_capacity(PODS * DOMAINS as usize);
    for p in 0..PODS {
        let (uid, name, group): (Arc<str>, Arc<str>, Arc<str>) = (
            uid(p).into(),
            format!("pod-{p}").into(),
            format!("/sys/fs/resctrl/mon_groups/pod_{}", uid(p)).into(),
        );
        for d in 0..DOMAINS {
            let v = (tick as u64) * 1_000_000 + p as u64 * 7 + u64::from(d);
            rows.push(Row {
                timestamp_ns: T0 + tick * SEC,
                interval_ns: SEC,
                node: node.clone(),
                pod_uid: Some(uid.clone()),
                pod_namespace: Some("bench".into()),
                pod_name: Some(name.clone()),
                resctrl_group: Some(group.clone()),
                total_containers: Some(4),
                reconciled_containers: Some(4),
                domain: Some(if d == 0 {
                    "mon_L3_00".into()
                } else {
                    "mon_L3_01".into()
                }),
                llc_occupancy_bytes: Some(65_536 + p as u64),
                mbm_total_bytes: Some(v),
                mbm_local_bytes: Some(v / 2),
                mbm_total_bytes_delta: Some(1_000_000),
                mbm_local_bytes_delta: Some(500_000),
                mbm_total_bytes_per_sec: Some(1e6),
                mbm_local_bytes_per_sec: Some(5e5),
                status: Status::Ok,
            });
        }
    }
    rows
}

fn parquet_throughput() -> Result<(), String> {
    const TICKS: i64 = 500;
    let s = schema("node-a", SEC);
    let rounds: Vec<Vec<Row>> = (0..TICKS).map(one_round_of_rows).collect();
    let total: usize = rounds.iter().map(Vec::len).sum();

    let t = Instant::now();
    let batches: Vec<RecordBatch> = rounds
        .iter()
        .map(|r| to_record_batch(&s, r).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let to_arrow = t.elapsed();

    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(collector::DEFAULT_ROW_GROUP_ROWS)
        .build();
    let (c0, t) = (thread_cpu(), Instant::now());
    let mut writer =
        ArrowWriter::try_new(std::io::sink(), s.clone(), Some(props)).map_err(|e| e.to_string())?;
    for b in &batches {
        writer.write(b).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    let (encode, encode_cpu) = (t.elapsed(), thread_cpu() - c0);

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = OutputConfig::new(dir.path(), "node-a", Duration::from_secs(1));
    config.max_file_age = Duration::from_secs(3_600);
    let (mut output, _) = Output::open(config).map_err(|e| e.to_string())?;
    let (c0, t) = (thread_cpu(), Instant::now());
    for (i, b) in batches.iter().enumerate() {
        output
            .write(b, T0 + i as i64 * SEC)
            .map_err(|e| e.to_string())?;
    }
    let file = output
        .close()
        .map_err(|e| e.to_string())?
        .ok_or("no file")?;
    let (full, full_cpu) = (t.elapsed(), thread_cpu() - c0);
    let size = fs::metadata(&file).map_err(|e| e.to_string())?.len();

    let per_sec = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "rows to Arrow: {:.2} M rows/s ({total} rows)",
        per_sec(to_arrow) / 1e6
    );
    println!(
        "Parquet encode (snappy, one core): {:.2} M rows/s wall, {:.2} M rows/s per CPU second",
        per_sec(encode) / 1e6,
        per_sec(encode_cpu) / 1e6
    );
    println!(
        "Output::write, one synced spool append + Parquet per round of {} rows: {:.2} M rows/s wall (each round waits for its fsync), {:.2} M rows/s per CPU second; file {:.1} bytes/row",
        rounds[0].len(),
        per_sec(full) / 1e6,
        per_sec(full_cpu) / 1e6,
        size as f64 / total as f64
    );
    Ok(())
}

fn vm_hwm_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// An hour of 1 Hz rounds of 1,000 pods on the fake, through the whole write path.
fn an_hour_of_ticks() -> Result<(), String> {
    let fake = FakeResctrl::builder()
        .l3_domains(0..DOMAINS)
        .num_rmids(PODS as u32 + 1)
        .build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).map_err(|e| e.to_string())?;
    let groups: Vec<PathBuf> = (0..PODS)
        .map(|p| rc.create_group(&uid(p)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let pods = pod_table(|p| groups[p].clone());
    let mut sampler = Sampler::new(rc, "node-a");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut output, _) = Output::open(OutputConfig::new(
        dir.path(),
        "node-a",
        Duration::from_secs(1),
    ))
    .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut rows_total = 0;
    for tick in 0..3_600_i64 {
        for g in groups.iter().step_by(10) {
            fake.set_reading(g, 0, MbmTotalBytes, FakeReading::Value(tick as u64 * 4096));
        }
        let at = T0 + tick * SEC;
        let rows = sampler.sample(
            &pods,
            SampleTime {
                timestamp_ns: at,
                interval_ns: SEC,
                read_at_ns: at,
            },
        );
        rows_total += rows.len();
        let batch = to_record_batch(output.schema(), &rows).map_err(|e| e.to_string())?;
        output.write(&batch, at).map_err(|e| e.to_string())?;
    }
    output.close().map_err(|e| e.to_string())?;
    println!(
        "an hour of 1 Hz ticks, 1,000 pods x 2 domains: {rows_total} rows, {} files, in {:.1} s; peak RSS {:.1} MiB",
        output_files(dir.path()),
        t.elapsed().as_secs_f64(),
        vm_hwm_kib().ok_or("no VmHWM in /proc/self/status")? as f64 / 1024.0,
    );
    Ok(())
}

fn output_files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// 1,000 pods x 2 domains for 600 rounds, each domain's occupancy `Unavailable` with
/// probability 1% per round (a fixed pseudo-random sequence): what the upstream rules
/// (occupancy only, domains summed, row dropped on any `Unavailable`) keep against ours.
fn against_upstream() -> Result<(), String> {
    const ROUNDS: usize = 600;
    let fake = FakeResctrl::builder()
        .l3_domains(0..DOMAINS)
        .num_rmids(PODS as u32 + 1)
        .build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).map_err(|e| e.to_string())?;
    let groups: Vec<PathBuf> = (0..PODS)
        .map(|p| rc.create_group(&uid(p)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let pods = pod_table(|p| groups[p].clone());
    let mut sampler = Sampler::new(rc, "node-a");
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut upstream_rows, mut upstream_values, mut our_occupancy, mut our_bandwidth) =
        (0u64, 0u64, 0u64, 0u64);
    for round in 0..ROUNDS {
        for g in &groups {
            for d in 0..DOMAINS {
                let unavailable = next() % 100 == 0;
                let reading = if unavailable {
                    FakeReading::Unavailable
                } else {
                    FakeReading::Value(65_536)
                };
                fake.set_reading(g, d, LlcOccupancy, reading);
                fake.set_reading(
                    g,
                    d,
                    MbmTotalBytes,
                    FakeReading::Value(round as u64 * 1_000),
                );
                fake.set_reading(g, d, MbmLocalBytes, FakeReading::Value(round as u64 * 500));
            }
        }
        let at = T0 + round as i64 * SEC;
        let rows = sampler.sample(
            &pods,
            SampleTime {
                timestamp_ns: at,
                interval_ns: SEC,
                read_at_ns: at,
            },
        );
        for pod_rows in rows
            .iter()
            .filter(|r| r.pod_uid.is_some())
            .collect::<Vec<_>>()
            .chunks(DOMAINS as usize)
        {
            if pod_rows.iter().all(|r| r.llc_occupancy_bytes.is_some()) {
                upstream_rows += 1;
                upstream_values += DOMAINS as u64;
            }
            for r in pod_rows {
                our_occupancy += u64::from(r.llc_occupancy_bytes.is_some());
                our_bandwidth += u64::from(r.mbm_total_bytes_delta.is_some())
                    + u64::from(r.mbm_local_bytes_delta.is_some());
            }
        }
    }
    let pod_rounds = (PODS * ROUNDS) as u64;
    let domain_values = pod_rounds * u64::from(DOMAINS);
    println!(
        "against upstream, {PODS} pods x {DOMAINS} domains x {ROUNDS} rounds, 1% Unavailable per domain: upstream keeps {upstream_rows} of {pod_rounds} pod rows ({:.2}% lost) = {upstream_values} of {domain_values} per-domain occupancy readings; ours keeps {our_occupancy} ({:.2}% lost, only the unavailable ones) plus {our_bandwidth} bandwidth deltas upstream never reads",
        100.0 * (pod_rounds - upstream_rows) as f64 / pod_rounds as f64,
        100.0 * (domain_values - our_occupancy) as f64 / domain_values as f64,
    );
    Ok(())
}

/// One part of the benchmark.
type Step = fn() -> Result<(), String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // The simulated hour runs in a process of its own, so its peak RSS is its own.
    if args.iter().any(|a| a == "--hour") {
        return match an_hour_of_ticks() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("an hour of ticks: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let steps: [(&str, Step); 4] = [
        ("sampling on the fake", sampling_on_the_fake),
        ("sampling on tmpfs", sampling_on_tmpfs),
        ("Parquet throughput", parquet_throughput),
        ("against upstream", against_upstream),
    ];
    for (name, step) in steps {
        if let Err(e) = step() {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if args.iter().any(|a| a == "--quick") {
        return ExitCode::SUCCESS;
    }
    let hour = std::env::current_exe()
        .and_then(|exe| std::process::Command::new(exe).arg("--hour").status());
    match hour {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("an hour of ticks: the child process ended with {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("an hour of ticks: cannot run this benchmark again as a child: {e}");
            ExitCode::FAILURE
        }
    }
}
