//! [`SamplingLoop`]: waits for each tick, applies the plugin's pod events, samples, and
//! hands the rows to the [`Output`]; rotation and shutdown arrive as [`Control`]
//! messages.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use nri_resctrl_plugin::EventReceiver;
use resctrl::FsProvider;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::output::Output;
use crate::pods::PodTable;
use crate::sampler::{SampleTime, Sampler};
use crate::schema::to_record_batch;
use crate::tick::{Clock, Ticker};

/// A request to the sampling loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Complete the current file now (SIGUSR1).
    Rotate,
    /// Complete the current file and stop (SIGTERM).
    Shutdown,
}

/// Sends [`Control`]s to a running loop; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct ControlHandle {
    tx: Sender<Control>,
}

impl ControlHandle {
    /// A handle and the inbox a [`SamplingLoop`] reads.
    pub fn new() -> (Self, Receiver<Control>) {
        let (tx, rx) = mpsc::channel();
        (ControlHandle { tx }, rx)
    }

    /// Asks for a rotation; false if the loop is gone.
    pub fn rotate(&self) -> bool {
        self.tx.send(Control::Rotate).is_ok()
    }

    /// Asks the loop to flush and stop; false if it is gone already.
    pub fn shutdown(&self) -> bool {
        self.tx.send(Control::Shutdown).is_ok()
    }
}

/// What a finished loop did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoopReport {
    /// Rounds sampled.
    pub rounds: u64,
    /// Rows written.
    pub rows: u64,
    /// Ticks skipped because a round overran them.
    pub skipped_ticks: u64,
    /// Files completed (recovered ones included), oldest first.
    pub files: Vec<PathBuf>,
}

/// The collector's main loop over any resctrl provider and clock.
///
/// # Concurrency
///
/// Runs on the caller's thread ([`Self::run`] blocks); steer it with a [`ControlHandle`].
#[derive(Debug)]
pub struct SamplingLoop<P: FsProvider, C: Clock> {
    sampler: Sampler<P>,
    pods: PodTable,
    events: EventReceiver,
    output: Output,
    ticker: Ticker,
    clock: C,
    metrics: Arc<Metrics>,
    on_file: Option<Arc<tokio::sync::Notify>>,
}

impl<P: FsProvider, C: Clock> SamplingLoop<P, C> {
    /// A loop sampling through `sampler` the pods `events` describe, every `ticker`
    /// tick of `clock`, into `output`.
    pub fn new(
        sampler: Sampler<P>,
        events: EventReceiver,
        output: Output,
        ticker: Ticker,
        clock: C,
    ) -> Self {
        SamplingLoop {
            sampler,
            pods: PodTable::new(),
            events,
            output,
            ticker,
            clock,
            metrics: Arc::new(Metrics::new()),
            on_file: None,
        }
    }

    /// Records rounds, rows, skipped ticks and completed files in `metrics` (by default
    /// a private set).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Notifies `notify` each time a file is completed (e.g. an [`Uploader`]'s wake-up).
    ///
    /// [`Uploader`]: crate::Uploader
    pub fn with_file_notify(mut self, notify: Arc<tokio::sync::Notify>) -> Self {
        self.on_file = Some(notify);
        self
    }

    /// Samples at every tick until [`Control::Shutdown`] (or the inbox closes), then
    /// completes the current file. A [`Control::Rotate`] completes the current file
    /// between rounds.
    ///
    /// Fails when a round's rows cannot be written; the current file is still
    /// completed where possible, and otherwise its spool stays for the next start.
    pub fn run(mut self, inbox: &Receiver<Control>) -> Result<LoopReport> {
        let mut report = LoopReport::default();
        let result = self.rounds(inbox, &mut report);
        let closed = self.output.rotate().map(|done| self.file_completed(done));
        report.files = self.output.completed().to_vec();
        result?;
        closed?;
        Ok(report)
    }

    fn rounds(&mut self, inbox: &Receiver<Control>, report: &mut LoopReport) -> Result<()> {
        let mut tick = self.ticker.first(self.clock.now_ns());
        loop {
            match self.clock.wait_until(tick, inbox) {
                Some(Control::Shutdown) => return Ok(()),
                Some(Control::Rotate) => {
                    let done = self.output.rotate()?;
                    self.file_completed(done);
                    continue;
                }
                None => {}
            }
            for group in self.pods.drain(&mut self.events) {
                self.sampler.forget_group(&group);
            }
            let read_at_ns = self.clock.now_ns();
            let rows = self.sampler.sample(
                &self.pods,
                SampleTime {
                    timestamp_ns: tick,
                    interval_ns: self.ticker.interval_ns(),
                    read_at_ns,
                },
            );
            let took = self.clock.now_ns().saturating_sub(read_at_ns);
            self.metrics.record_round(
                &rows,
                Duration::from_nanos(u64::try_from(took).unwrap_or(0)),
            );
            let batch =
                to_record_batch(self.output.schema(), &rows).map_err(|source| Error::Arrow {
                    action: "encode",
                    path: self.output.config().dir.clone(),
                    source,
                })?;
            let done = self.output.write(&batch, read_at_ns)?;
            self.file_completed(done);
            report.rounds += 1;
            report.rows += rows.len() as u64;
            let done = self.clock.now_ns();
            let (next, skipped) = self.ticker.next(tick, done);
            if skipped > 0 {
                tracing::warn!(skipped, "a sampling round overran; ticks skipped");
                report.skipped_ticks += skipped;
                self.metrics.record_skipped_ticks(skipped);
                self.output.add_skipped_ticks(skipped);
            }
            let completed = self.output.rotate_if_old(done)?;
            self.file_completed(completed);
            tick = next;
        }
    }

    fn file_completed(&self, done: Option<PathBuf>) {
        if done.is_some() {
            self.metrics.record_file();
            if let Some(notify) = &self.on_file {
                notify.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests;
