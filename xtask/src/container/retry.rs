//! Registry operations retried with exponential backoff: registries answer 5xx, rate-limit
//! and time out now and then, and one such answer must not fail a CI job.

use std::time::Duration;

use anyhow::Context;

use crate::plan::{Exec, StepIo};

/// The waits between `attempts` tries: `first`, then twice as long each time (e.g. 2 s,
/// 4 s, 8 s for four attempts); one fewer than the attempts, none for a single try.
pub fn backoff(attempts: u32, first: Duration) -> Vec<Duration> {
    (1..attempts)
        .scan(first, |wait, _| {
            let this = *wait;
            *wait = wait.saturating_mul(2);
            Some(this)
        })
        .collect()
}

/// Runs `exec` until it succeeds, at most `attempts` times, waiting as [`backoff`] says
/// before each retry; the last failure is returned.
pub fn with_retries(
    io: &mut dyn StepIo,
    exec: &Exec,
    attempts: u32,
    first: Duration,
) -> anyhow::Result<()> {
    let waits = backoff(attempts, first);
    let mut attempt = 1;
    loop {
        match io.run(exec) {
            Ok(()) => return Ok(()),
            Err(err) => {
                let Some(wait) = waits.get(attempt as usize - 1) else {
                    return Err(err)
                        .with_context(|| format!("giving up after {attempts} attempts"));
                };
                io.line(&format!(
                    "attempt {attempt} of {attempts} failed ({err:#}); retrying in {}s",
                    wait.as_secs_f32()
                ));
                sleep_interruptibly(io, *wait)?;
                attempt += 1;
            }
        }
    }
}

/// Sleeps `total`, returning early with an error when the run is interrupted.
fn sleep_interruptibly(io: &dyn StepIo, total: Duration) -> anyhow::Result<()> {
    let tick = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < total {
        io.check_interrupted()?;
        let step = tick.min(total - slept);
        std::thread::sleep(step);
        slept += step;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A StepIo whose runs fail a number of times, then succeed.
    pub(crate) struct Flaky {
        pub failures_left: u32,
        pub runs: u32,
        pub lines: Vec<String>,
    }

    impl Flaky {
        pub fn failing(times: u32) -> Flaky {
            Flaky {
                failures_left: times,
                runs: 0,
                lines: Vec::new(),
            }
        }
    }

    impl StepIo for Flaky {
        fn line(&mut self, text: &str) {
            self.lines.push(text.to_string());
        }
        fn check_interrupted(&self) -> anyhow::Result<()> {
            Ok(())
        }
        fn run(&mut self, _: &Exec) -> anyhow::Result<()> {
            self.runs += 1;
            if self.failures_left > 0 {
                self.failures_left -= 1;
                anyhow::bail!("503 Service Unavailable");
            }
            Ok(())
        }
    }

    pub(crate) fn exec() -> Exec {
        let sh = xshell::Shell::new().expect("a shell");
        Exec::from(xshell::cmd!(sh, "podman pull x"))
    }

    #[test]
    fn the_waits_double_from_the_first_and_number_one_fewer_than_the_attempts() {
        let secs = |attempts| {
            backoff(attempts, Duration::from_secs(2))
                .iter()
                .map(Duration::as_secs)
                .collect::<Vec<_>>()
        };
        assert_eq!(secs(4), [2, 4, 8]);
        assert_eq!(secs(3), [2, 4]);
        assert_eq!(secs(1), Vec::<u64>::new());
        assert_eq!(secs(0), Vec::<u64>::new());
    }

    #[test]
    fn an_operation_that_fails_twice_succeeds_on_the_third_attempt() {
        let mut io = Flaky::failing(2);
        with_retries(&mut io, &exec(), 4, Duration::from_millis(1)).expect("third attempt");
        assert_eq!(io.runs, 3);
        assert_eq!(io.lines.len(), 2, "{:?}", io.lines);
        assert!(
            io.lines[0].contains("attempt 1 of 4 failed"),
            "{:?}",
            io.lines
        );
    }

    #[test]
    fn an_operation_that_keeps_failing_gives_up_after_its_attempts() {
        let mut io = Flaky::failing(10);
        let err = with_retries(&mut io, &exec(), 3, Duration::from_millis(1)).expect_err("fails");
        assert_eq!(io.runs, 3);
        assert_eq!(io.lines.len(), 2, "no wait after the last: {:?}", io.lines);
        assert!(
            format!("{err:#}").contains("giving up after 3 attempts"),
            "{err:#}"
        );
    }

    #[test]
    fn a_single_attempt_is_not_retried() {
        let mut io = Flaky::failing(1);
        with_retries(&mut io, &exec(), 1, Duration::from_millis(1)).expect_err("fails");
        assert_eq!(io.runs, 1);
        assert!(io.lines.is_empty());
    }
}
