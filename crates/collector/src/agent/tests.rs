//! The loop over the fake resctrl with an injected clock: tick alignment, skipped
//! ticks, rotation and shutdown.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType};
use nri_resctrl_plugin::{PodResctrlAddOrUpdate, PodResctrlEvent, ResctrlGroupState, events};
use resctrl::fake::FakeResctrl;
use resctrl::{FsProvider, Resctrl};

use super::*;
use crate::output::OutputConfig;
use crate::schema::META_SKIPPED_TICKS;
use crate::test_support::read_parquet;
use crate::tick::SystemClock;

const SEC: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
/// 2026-12-01T08:00:00Z.
const T0: i64 = 1_796_112_000 * SEC;

#[derive(Debug, Default)]
struct ClockState {
    now: i64,
    /// How long each round takes, in order (0 once used up).
    work: VecDeque<i64>,
    /// Work of the round in progress, added at its second clock read.
    pending: Option<i64>,
    /// Controls delivered at these times.
    controls: VecDeque<(i64, Control)>,
    /// Past this, waiting means shutdown.
    end: i64,
    /// The last deadline a wait reached (not cut short by a control).
    reached: Option<i64>,
}

/// Time moves only when the loop waits (to the deadline) or works (as scripted).
#[derive(Debug, Clone, Default)]
struct ManualClock(Arc<Mutex<ClockState>>);

impl ManualClock {
    fn new(start: i64, end: i64) -> Self {
        let clock = ManualClock::default();
        {
            let mut s = clock.lock();
            s.now = start;
            s.end = end;
        }
        clock
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work(self, rounds: impl IntoIterator<Item = i64>) -> Self {
        self.lock().work.extend(rounds);
        self
    }

    fn control_at(self, at: i64, control: Control) -> Self {
        self.lock().controls.push_back((at, control));
        self
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> i64 {
        let mut s = self.lock();
        let now = s.now;
        if let Some(work) = s.pending.take() {
            s.now += work;
        }
        now
    }

    fn wait_until(&self, deadline_ns: i64, inbox: &Receiver<Control>) -> Option<Control> {
        let mut s = self.lock();
        // Waiting again for a tick already reached would repeat it forever (this clock
        // reaches `end` only through the deadlines): fail instead of hanging.
        if let Some(reached) = s.reached {
            assert!(
                deadline_ns > reached,
                "the loop waits for tick {deadline_ns}, after it reached tick {reached}"
            );
        }
        if let Ok(control) = inbox.try_recv() {
            return Some(control);
        }
        if let Some(&(at, control)) = s.controls.front()
            && at <= deadline_ns
        {
            s.controls.pop_front();
            s.now = s.now.max(at);
            return Some(control);
        }
        if deadline_ns > s.end {
            return Some(Control::Shutdown);
        }
        s.now = s.now.max(deadline_ns);
        s.reached = Some(deadline_ns);
        s.pending = Some(s.work.pop_front().unwrap_or(0));
        None
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    fake: FakeResctrl,
    tx: nri_resctrl_plugin::EventSender,
    sampling: Option<SamplingLoop<FakeResctrl, ManualClock>>,
}

fn setup(clock: ManualClock, interval: Duration) -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let fake = FakeResctrl::builder().l3_domains([0, 1]).build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("handle");
    let (tx, rx) = events::channel(16);
    let (output, _) = Output::open(OutputConfig::new(&dir, "node-a", interval)).expect("output");
    let sampling = SamplingLoop::new(
        Sampler::new(rc, "node-a"),
        rx,
        output,
        Ticker::new(interval),
        clock,
    );
    Setup {
        _dir: tmp,
        fake,
        tx,
        sampling: Some(sampling),
    }
}

impl Setup {
    fn run(&mut self) -> LoopReport {
        let (_control, inbox) = ControlHandle::new();
        self.sampling
            .take()
            .expect("runs once")
            .run(&inbox)
            .expect("the loop ends cleanly")
    }
}

fn timestamps(report: &LoopReport) -> Vec<i64> {
    let mut all = Vec::new();
    for file in &report.files {
        let (batches, _) = read_parquet(file);
        for b in batches {
            let ts = b
                .column_by_name("timestamp")
                .expect("column")
                .as_primitive::<TimestampNanosecondType>();
            all.extend(ts.values().iter().copied());
        }
    }
    all.dedup();
    all
}

#[test]
fn rounds_are_sampled_at_wall_clock_aligned_ticks() {
    let mut s = setup(
        ManualClock::new(T0 + 300 * MS, T0 + 5 * SEC + 500 * MS),
        Duration::from_secs(1),
    );
    let report = s.run();
    assert_eq!(report.rounds, 5);
    assert_eq!(report.skipped_ticks, 0);
    assert_eq!(report.rows, 10, "the default group in two domains");
    assert_eq!(
        timestamps(&report),
        (1..=5).map(|k| T0 + k * SEC).collect::<Vec<_>>()
    );
}

#[test]
fn every_row_carries_the_sampling_interval() {
    let interval = Duration::from_millis(250);
    let mut s = setup(ManualClock::new(T0, T0 + 750 * MS), interval);
    let report = s.run();
    assert_eq!(report.rounds, 4);
    let (batches, _) = read_parquet(&report.files[0]);
    let intervals: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("interval_ns")
                .expect("column")
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(intervals, [250 * MS; 8], "two domains, four rounds");
}

#[test]
fn a_slow_round_skips_the_ticks_it_overran_and_counts_them() {
    let clock = ManualClock::new(T0, T0 + 7 * SEC).work([10 * MS, 2_500 * MS, 10 * MS]);
    let mut s = setup(clock, Duration::from_secs(1));
    let report = s.run();
    assert_eq!(
        report.skipped_ticks, 2,
        "ticks 2 and 3 fell inside the slow round"
    );
    assert_eq!(
        timestamps(&report),
        [0, 1, 4, 5, 6, 7].map(|k| T0 + k * SEC),
        "no drift after the skip"
    );
    assert_eq!(report.files.len(), 1);
    let (_, meta) = read_parquet(&report.files[0]);
    assert_eq!(meta.get(META_SKIPPED_TICKS).map(String::as_str), Some("2"));
}

#[test]
fn a_rotation_request_completes_the_file_between_rounds() {
    let clock =
        ManualClock::new(T0, T0 + 4 * SEC).control_at(T0 + 2 * SEC + 500 * MS, Control::Rotate);
    let mut s = setup(clock, Duration::from_secs(1));
    let report = s.run();
    assert_eq!(report.files.len(), 2);
    assert_eq!(
        timestamps(&LoopReport {
            files: report.files[..1].to_vec(),
            ..LoopReport::default()
        }),
        [0, 1, 2].map(|k| T0 + k * SEC)
    );
    assert_eq!(
        timestamps(&LoopReport {
            files: report.files[1..].to_vec(),
            ..LoopReport::default()
        }),
        [3, 4].map(|k| T0 + k * SEC)
    );
}

#[test]
fn pod_events_are_applied_before_each_round() {
    let mut s = setup(ManualClock::new(T0, T0 + SEC), Duration::from_secs(1));
    let group = s.fake.root().join("mon_groups/pod_uid-1");
    s.fake.create_dir(&group).expect("mkdir the pod group");
    assert!(
        s.tx.try_emit(PodResctrlEvent::AddOrUpdate(PodResctrlAddOrUpdate {
            pod_uid: "uid-1".into(),
            pod_namespace: "default".into(),
            pod_name: "web".into(),
            group_state: ResctrlGroupState::Exists(group.to_string_lossy().into_owned()),
            total_containers: 1,
            reconciled_containers: 1,
        }))
    );
    let report = s.run();
    assert_eq!(report.rounds, 2);
    assert_eq!(
        report.rows, 8,
        "default group and the pod, two domains, two rounds"
    );
    let (batches, _) = read_parquet(&report.files[0]);
    let names = batches[0]
        .column_by_name("pod_name")
        .expect("column")
        .as_string::<i32>()
        .clone();
    assert_eq!(
        names.iter().flatten().collect::<Vec<_>>(),
        ["web"; 4],
        "two domains, two rounds"
    );
}

#[test]
fn shutdown_completes_the_current_file_with_every_round_sampled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = FakeResctrl::new();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).expect("handle");
    let (_tx, rx) = events::channel(4);
    let interval = Duration::from_millis(20);
    let (output, _) =
        Output::open(OutputConfig::new(tmp.path(), "node-a", interval)).expect("output");
    let metrics = Arc::new(Metrics::new());
    let sampling = SamplingLoop::new(
        Sampler::new(rc, "node-a"),
        rx,
        output,
        Ticker::new(interval),
        SystemClock,
    )
    .with_metrics(metrics.clone());
    let (control, inbox) = ControlHandle::new();
    let thread = std::thread::spawn(move || sampling.run(&inbox));
    // Stop once rounds were sampled, however long a loaded machine takes to get there (a
    // fixed sleep let the stop arrive before the first tick).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while metrics.rounds() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no two rounds in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(control.shutdown());
    let report = thread.join().expect("no panic").expect("clean stop");
    assert!(report.rounds >= 1, "{report:?}");
    assert_eq!(report.files.len(), 1);
    let (batches, _) = read_parquet(&report.files[0]);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        rows as u64, report.rows,
        "every sampled row is in the completed file"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").collect();
    assert_eq!(left.len(), 1, "no spool or partial file is left");
}
