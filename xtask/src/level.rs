//! Test levels and suite duration classes.
//!
//! A level is the knob CI turns to match machine size and time budget. Levels are ordered:
//! a run at level `L` includes every suite whose minimum level is at or below `L`.

use std::fmt;

/// How much a run may demand of the machine and the clock, cheapest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Level {
    /// Any machine, short suites only: what every pull request can afford.
    CheapShort,
    /// Machines with performance counters; short suites.
    PerfShort,
    /// Fully equipped machines (resctrl hardware, KVM...); short suites.
    FullShort,
    /// Fully equipped machines; long-running suites too.
    FullLong,
}

impl Level {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Level::CheapShort => "cheap-short",
            Level::PerfShort => "perf-short",
            Level::FullShort => "full-short",
            Level::FullLong => "full-long",
        }
    }

    /// Whether suites of this duration class fit in a run at this level.
    pub fn admits(self, duration: Duration) -> bool {
        match duration {
            Duration::Short | Duration::Medium => true,
            Duration::Long => self == Level::FullLong,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a suite takes on a machine of its level; `Long` suites only run at `full-long`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duration {
    /// Under about five minutes.
    Short,
    /// Under about thirty minutes.
    Medium,
    /// Longer than thirty minutes.
    Long,
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Duration::Short => "short",
            Duration::Medium => "medium",
            Duration::Long => "long",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn levels_are_ordered_cheapest_first() {
        let mut sorted = Level::value_variants().to_vec();
        sorted.sort();
        assert_eq!(sorted, Level::value_variants());
        assert!(Level::CheapShort < Level::PerfShort);
        assert!(Level::FullShort < Level::FullLong);
    }

    #[test]
    fn names_round_trip_through_clap() {
        for &level in Level::value_variants() {
            let parsed = Level::from_str(level.name(), false).unwrap();
            assert_eq!(parsed, level);
            assert_eq!(level.to_possible_value().unwrap().get_name(), level.name());
        }
        assert!(Level::from_str("cheap", false).is_err());
    }

    #[test]
    fn long_suites_need_full_long() {
        assert!(!Level::FullShort.admits(Duration::Long));
        assert!(Level::FullLong.admits(Duration::Long));
        assert!(Level::CheapShort.admits(Duration::Medium));
    }
}
