//! Bandwidth deltas and rates: the previous value of each counter per group and domain,
//! and what a new reading means against it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::schema::Status;

/// A counter's last value and when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Last {
    value: u64,
    at_ns: i64,
}

/// What a counter value means against the series' previous one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// No previous value: a series starts.
    Start,
    /// Lower than the previous value: the counter was reset; a new series starts.
    Reset,
    /// Continues the series.
    Delta {
        /// Bytes since the previous value.
        delta: u64,
        /// Bytes per second since the previous value; `None` if no time passed (a clock
        /// step backwards).
        rate: Option<f64>,
    },
}

impl Step {
    /// The delta, if the series continues.
    pub fn delta(self) -> Option<u64> {
        match self {
            Step::Delta { delta, .. } => Some(delta),
            Step::Start | Step::Reset => None,
        }
    }

    /// The rate, if the series continues and time passed.
    pub fn rate(self) -> Option<f64> {
        match self {
            Step::Delta { rate, .. } => rate,
            Step::Start | Step::Reset => None,
        }
    }

    /// The row status this step implies.
    pub fn status(self) -> Status {
        match self {
            Step::Start => Status::Start,
            Step::Reset => Status::Reset,
            Step::Delta { .. } => Status::Ok,
        }
    }
}

/// The two cumulative counters of one group and domain.
#[derive(Debug, Default)]
pub struct Series {
    total: Option<Last>,
    local: Option<Last>,
    seen_round: u64,
}

impl Series {
    /// A new `mbm_total_bytes` value read at `at_ns`.
    pub fn total(&mut self, value: u64, at_ns: i64) -> Step {
        step(&mut self.total, value, at_ns)
    }

    /// A new `mbm_local_bytes` value read at `at_ns`.
    pub fn local(&mut self, value: u64, at_ns: i64) -> Step {
        step(&mut self.local, value, at_ns)
    }
}

fn step(last: &mut Option<Last>, value: u64, at_ns: i64) -> Step {
    let previous = last.replace(Last { value, at_ns });
    let Some(previous) = previous else {
        return Step::Start;
    };
    if value < previous.value {
        return Step::Reset;
    }
    let delta = value - previous.value;
    let elapsed = at_ns.saturating_sub(previous.at_ns);
    #[expect(
        clippy::cast_precision_loss,
        reason = "rates are approximate by nature"
    )]
    let rate = (elapsed > 0).then(|| delta as f64 * 1e9 / elapsed as f64);
    Step::Delta { delta, rate }
}

/// Every series, by group path and domain.
///
/// A series not touched during a round is dropped at [`Self::end_round`] (its group or
/// domain is gone), so memory follows the pods that exist.
#[derive(Debug, Default)]
pub struct SeriesTracker {
    series: HashMap<(Arc<str>, Arc<str>), Series>,
    round: u64,
}

impl SeriesTracker {
    /// No series yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The series of `group` and `domain`, created empty if new, marked as seen.
    pub fn series(&mut self, group: &Arc<str>, domain: &Arc<str>) -> &mut Series {
        let round = self.round;
        let series = self
            .series
            .entry((group.clone(), domain.clone()))
            .or_default();
        series.seen_round = round;
        series
    }

    /// Ends every series of `group` (removed, failed or re-created).
    pub fn forget_group(&mut self, group: &Path) {
        self.series.retain(|(g, _), _| Path::new(&**g) != group);
    }

    /// Drops the series not seen since the last call, and starts a new round.
    pub fn end_round(&mut self) {
        let round = self.round;
        self.series.retain(|_, s| s.seen_round == round);
        self.round += 1;
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn the_first_value_starts_a_series_without_a_delta() {
        let mut s = Series::default();
        let first = s.total(1000, 0);
        assert_eq!(first, Step::Start);
        assert_eq!(
            (first.delta(), first.rate(), first.status()),
            (None, None, Status::Start)
        );
    }

    #[test]
    fn a_growing_counter_gives_its_delta_and_rate_per_second() {
        let mut s = Series::default();
        s.total(1000, 0);
        let next = s.total(3000, 2 * SEC);
        assert_eq!(
            next,
            Step::Delta {
                delta: 2000,
                rate: Some(1000.0)
            }
        );
        assert_eq!(next.status(), Status::Ok);
        let same = s.total(3000, 3 * SEC);
        assert_eq!(
            same,
            Step::Delta {
                delta: 0,
                rate: Some(0.0)
            }
        );
    }

    #[test]
    fn a_counter_that_goes_backwards_starts_a_new_series() {
        let mut s = Series::default();
        s.local(u64::MAX - 5, 0);
        let reset = s.local(10, SEC);
        assert_eq!(reset, Step::Reset);
        assert_eq!(
            (reset.delta(), reset.rate(), reset.status()),
            (None, None, Status::Reset)
        );
        assert_eq!(
            s.local(110, 2 * SEC),
            Step::Delta {
                delta: 100,
                rate: Some(100.0)
            },
            "the new series continues from the reset value"
        );
    }

    #[test]
    fn no_elapsed_time_gives_a_delta_without_a_rate() {
        let mut s = Series::default();
        s.total(5, SEC);
        assert_eq!(
            s.total(9, SEC),
            Step::Delta {
                delta: 4,
                rate: None
            }
        );
        assert_eq!(
            s.total(12, 0),
            Step::Delta {
                delta: 3,
                rate: None
            },
            "clock stepped back"
        );
    }

    #[test]
    fn total_and_local_are_separate_series() {
        let mut s = Series::default();
        s.total(100, 0);
        assert_eq!(s.local(7, SEC), Step::Start);
        assert_eq!(s.total(150, SEC).delta(), Some(50));
    }

    #[test]
    fn series_not_seen_in_a_round_are_dropped() {
        let mut t = SeriesTracker::new();
        let (a, b, d0): (Arc<str>, Arc<str>, Arc<str>) =
            ("/r/a".into(), "/r/b".into(), "mon_L3_00".into());
        t.series(&a, &d0).total(1, 0);
        t.series(&b, &d0).total(1, 0);
        t.end_round();
        t.series(&a, &d0).total(2, SEC);
        t.end_round();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.series(&b, &d0).total(5, 2 * SEC),
            Step::Start,
            "b's series ended"
        );
    }

    #[test]
    fn a_tracker_is_empty_exactly_when_it_holds_no_series() {
        let mut t = SeriesTracker::new();
        assert!(t.is_empty(), "new");
        let (a, d0): (Arc<str>, Arc<str>) = ("/r/a".into(), "mon_L3_00".into());
        t.series(&a, &d0);
        assert!(!t.is_empty(), "one series");
        t.end_round();
        t.end_round();
        assert!(t.is_empty(), "not seen in the last round");
    }

    #[test]
    fn forgetting_a_group_ends_all_its_domains() {
        let mut t = SeriesTracker::new();
        let (a, b): (Arc<str>, Arc<str>) = ("/r/a".into(), "/r/b".into());
        for d in ["mon_L3_00", "mon_L3_01"] {
            t.series(&a, &d.into()).total(100, 0);
        }
        t.series(&b, &"mon_L3_00".into()).total(100, 0);
        t.forget_group(Path::new("/r/a"));
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.series(&a, &"mon_L3_00".into()).total(200, SEC),
            Step::Start
        );
    }
}
