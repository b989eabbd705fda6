//! Sampling ticks aligned to wall-clock multiples of the interval, and the clock they
//! are read from (injectable, so tests control time).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::agent::Control;

/// Where the time comes from, and how a round waits for its tick.
pub trait Clock {
    /// Now, in ns since the Unix epoch.
    fn now_ns(&self) -> i64;

    /// Waits until `deadline_ns` (ns since the epoch) or until a message arrives on
    /// `inbox`, whichever is first; returns the message, or `None` at the deadline. A
    /// closed inbox means [`Control::Shutdown`]: nobody can stop the loop otherwise.
    fn wait_until(&self, deadline_ns: i64, inbox: &Receiver<Control>) -> Option<Control>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    }

    fn wait_until(&self, deadline_ns: i64, inbox: &Receiver<Control>) -> Option<Control> {
        // Re-reads the clock after each wake-up, so a wall-clock step is followed.
        loop {
            let left = deadline_ns.saturating_sub(self.now_ns());
            if left <= 0 {
                return inbox.try_recv().ok();
            }
            let left = Duration::from_nanos(u64::try_from(left).unwrap_or(0));
            match inbox.recv_timeout(left) {
                Ok(message) => return Some(message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Some(Control::Shutdown),
            }
        }
    }
}

/// The schedule of sampling rounds: every multiple of the interval since the epoch.
///
/// A round that ends after one or more later ticks skips them (they are counted) and the
/// next round starts at the first tick not yet passed, so rounds never drift from the
/// wall-clock grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticker {
    interval_ns: i64,
}

impl Ticker {
    /// Ticks every `interval` (at least 1 ns; longer intervals than ~292 years are cut).
    pub fn new(interval: Duration) -> Self {
        let ns = i64::try_from(interval.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        Ticker { interval_ns: ns }
    }

    /// The interval in ns.
    pub fn interval_ns(&self) -> i64 {
        self.interval_ns
    }

    /// The first tick at or after `now_ns`.
    pub fn first(&self, now_ns: i64) -> i64 {
        let i = self.interval_ns;
        now_ns
            .div_euclid(i)
            .saturating_add(i64::from(now_ns.rem_euclid(i) != 0))
            .saturating_mul(i)
    }

    /// After the round of tick `tick_ns` finished at `done_ns`: the next tick to sample,
    /// and how many ticks in between were skipped because the round overran them.
    pub fn next(&self, tick_ns: i64, done_ns: i64) -> (i64, u64) {
        let i = self.interval_ns;
        let following = tick_ns.saturating_add(i);
        if done_ns <= following {
            return (following, 0);
        }
        let next = self.first(done_ns);
        let skipped = (next - tick_ns) / i - 1;
        (next, u64::try_from(skipped).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    const MS: i64 = 1_000_000;
    const SEC: i64 = 1_000 * MS;

    #[test]
    fn the_first_tick_is_the_next_multiple_of_the_interval() {
        let t = Ticker::new(Duration::from_secs(1));
        assert_eq!(t.first(10 * SEC), 10 * SEC, "on a tick");
        assert_eq!(t.first(10 * SEC + 1), 11 * SEC);
        assert_eq!(t.first(10 * SEC + 999 * MS), 11 * SEC);
        let t = Ticker::new(Duration::from_millis(250));
        assert_eq!(t.first(10 * SEC + 300 * MS), 10 * SEC + 500 * MS);
    }

    #[test]
    fn a_round_that_ends_in_time_takes_the_following_tick() {
        let t = Ticker::new(Duration::from_secs(1));
        assert_eq!(t.next(10 * SEC, 10 * SEC + 20 * MS), (11 * SEC, 0));
        assert_eq!(
            t.next(10 * SEC, 11 * SEC),
            (11 * SEC, 0),
            "exactly on the next tick"
        );
    }

    #[test]
    fn a_slow_round_skips_the_ticks_it_overran_and_counts_them() {
        let t = Ticker::new(Duration::from_secs(1));
        assert_eq!(t.next(10 * SEC, 11 * SEC + 1), (12 * SEC, 1));
        assert_eq!(t.next(10 * SEC, 13 * SEC + 500 * MS), (14 * SEC, 3));
        assert_eq!(t.next(10 * SEC, 14 * SEC), (14 * SEC, 3));
    }

    #[test]
    fn ticks_never_drift_from_the_grid() {
        // Rounds of varying lateness and length: every tick stays a multiple of 1 s.
        let t = Ticker::new(Duration::from_secs(1));
        let mut tick = t.first(5 * SEC + 123);
        let mut skipped = 0;
        for work in [10 * MS, 990 * MS, 1_500 * MS, 0, 2_000 * MS + 1, 300 * MS] {
            let (next, s) = t.next(tick, tick + 7 * MS + work);
            assert_eq!(next % SEC, 0, "tick {next} is off the grid");
            assert!(next > tick);
            skipped += s;
            tick = next;
        }
        assert_eq!(tick, 15 * SEC);
        assert_eq!(skipped, 3, "a 1.5 s round skips one tick, a 2 s one two");
    }

    #[test]
    fn the_system_clock_reads_nanoseconds_since_the_epoch() {
        let since_epoch = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("the test host's clock is past 1970")
                .as_nanos()
        };
        let before = since_epoch();
        let now = u128::try_from(SystemClock.now_ns()).expect("not before the epoch");
        let after = since_epoch();
        assert!(
            (before..=after).contains(&now),
            "{before} <= {now} <= {after}"
        );
    }

    #[test]
    fn the_system_clock_returns_a_message_before_the_deadline() {
        let (tx, rx) = mpsc::channel();
        tx.send(Control::Rotate).expect("send");
        let clock = SystemClock;
        let far = clock.now_ns() + 3_600 * SEC;
        assert_eq!(clock.wait_until(far, &rx), Some(Control::Rotate));
        drop(tx);
        assert_eq!(
            clock.wait_until(far, &rx),
            Some(Control::Shutdown),
            "closed inbox"
        );
        let (_tx, rx) = mpsc::channel();
        assert_eq!(clock.wait_until(clock.now_ns() + MS, &rx), None, "deadline");
    }
}
