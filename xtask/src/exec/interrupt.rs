//! Ctrl-C and termination requests.
//!
//! The runner does not die on SIGINT/SIGTERM/SIGHUP: it records the request, forwards it to
//! the running step's process group, and still prints its report. Each step runs in its own
//! process group, so the terminal's Ctrl-C reaches only the runner, which decides what to do.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use anyhow::Context;

/// A shared record of termination requests.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
    /// Requests up to this count happened before this view was made and do not count.
    baseline: usize,
}

#[derive(Debug, Default)]
struct Inner {
    count: AtomicUsize,
    signal: AtomicI32,
}

impl Interrupt {
    /// Installs handlers for SIGINT, SIGTERM and SIGHUP that record the request.
    pub fn install() -> anyhow::Result<Self> {
        let interrupt = Interrupt::default();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let inner = Arc::clone(&interrupt.inner);
            // SAFETY: the handler only performs atomic stores and increments, which are
            // async-signal-safe.
            unsafe {
                signal_hook::low_level::register(signal, move || {
                    inner.signal.store(signal, Ordering::SeqCst);
                    inner.count.fetch_add(1, Ordering::SeqCst);
                })
            }
            .with_context(|| format!("installing a handler for signal {signal}"))?;
        }
        Ok(interrupt)
    }

    /// Whether a termination request arrived (since this view was made).
    pub fn requested(&self) -> bool {
        self.count() > self.baseline
    }

    /// How many requests arrived in all; a further one means "stop now".
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// A view that ignores the requests so far: cleanup steps run after a Ctrl-C, yet a
    /// further Ctrl-C still stops them.
    pub fn fresh(&self) -> Interrupt {
        Interrupt {
            inner: Arc::clone(&self.inner),
            baseline: self.count(),
        }
    }

    /// The signal to forward to children: the last one received (SIGINT if none).
    pub fn signal(&self) -> i32 {
        match self.inner.signal.load(Ordering::SeqCst) {
            0 => libc::SIGINT,
            signal => signal,
        }
    }

    /// Records a request as if `signal` had arrived.
    #[cfg(test)]
    pub fn trigger(&self, signal: i32) {
        self.inner.signal.store(signal, Ordering::SeqCst);
        self.inner.count.fetch_add(1, Ordering::SeqCst);
    }

    /// `Err` once a request arrived, for tasks to bail out between units of work.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.requested() {
            Err(Interrupted.into())
        } else {
            Ok(())
        }
    }
}

/// The error a step ends with when it was stopped by a termination request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_is_recorded() {
        let interrupt = Interrupt::default();
        assert!(!interrupt.requested());
        assert!(interrupt.check().is_ok());
        assert_eq!(interrupt.signal(), libc::SIGINT);
        interrupt.clone().trigger(libc::SIGTERM);
        assert!(interrupt.requested());
        assert_eq!(interrupt.signal(), libc::SIGTERM);
        assert!(interrupt.check().unwrap_err().is::<Interrupted>());
    }

    #[test]
    fn a_step_stopped_by_a_request_reads_interrupted() {
        let interrupt = Interrupt::default();
        interrupt.trigger(libc::SIGINT);
        let err = interrupt.check().expect_err("a request arrived");
        assert_eq!(format!("{err:#}"), "interrupted");
    }

    #[test]
    fn a_fresh_view_sees_only_later_requests() {
        let interrupt = Interrupt::default();
        interrupt.trigger(libc::SIGINT);
        let fresh = interrupt.fresh();
        assert!(!fresh.requested());
        interrupt.trigger(libc::SIGINT);
        assert!(fresh.requested());
    }
}
