//! `cargo xtask bench runner`: the runner's figures side by side in one run, warm:
//! `cargo xtask ci fast` against the same commands one after the other from a shell
//! script, and against the usual `cargo fmt --check && cargo clippy && cargo test`.
//!
//! Wall time only, and for information: the ratios say what the runner costs (its
//! overhead over the same commands, target at most 1.05) and what it saves (against the
//! usual sequence, target at most 0.8). The first runs of each warm its caches, since the
//! three build different feature sets; at least one warm-up of `ci fast` comes first, which
//! also installs the workflow linters the plain script calls.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::plan::{Action, Exec, Plan, StepIo};

/// One way of running the fast tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// How the figures name it.
    pub name: &'static str,
    /// A `sh -c` line.
    pub script: String,
}

/// The three variants, the second made from `ci fast`'s own plan so it stays the same
/// commands (its in-runner tasks, such as installing the linters, are left out: run
/// `cargo xtask lint-ci` once first).
///
/// # Errors
/// `ci fast` cannot be planned.
pub fn variants(fast: &Plan) -> anyhow::Result<Vec<Variant>> {
    let same = fast
        .steps
        .iter()
        .filter_map(|step| match &step.action {
            Action::Exec(exec) => Some(exec.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" && ");
    Ok(vec![
        Variant {
            name: "cargo xtask ci fast",
            script: "cargo xtask ci fast".to_string(),
        },
        Variant {
            name: "same commands, plain script",
            script: format!("CARGO_TERM_COLOR=never {same}"),
        },
        Variant {
            name: "usual sequence",
            script: "cargo fmt --all -- --check && cargo clippy --workspace --all-targets \
                     --all-features -- -D warnings && cargo test --workspace -- --test-threads=1"
                .to_string(),
        },
    ])
}

/// Median and minimum of one variant's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The median run.
    pub median: Duration,
    /// The fastest run.
    pub min: Duration,
}

/// Times `warmup + runs` runs of each variant, reporting each, then the figures.
///
/// # Errors
/// A variant fails (its output is in the step's log) or the run is interrupted.
pub fn run(
    io: &mut dyn StepIo,
    variants: &[Variant],
    runs: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    let mut timings = Vec::new();
    for (index, variant) in variants.iter().enumerate() {
        let exec = shell(&variant.script);
        let warmup = if index == 0 { warmup.max(1) } else { warmup };
        for _ in 0..warmup {
            io.check_interrupted()?;
            io.run(&exec)
                .with_context(|| format!("warming up: {}", variant.name))?;
        }
        let mut times = Vec::new();
        for i in 1..=runs.max(1) {
            io.check_interrupted()?;
            let start = Instant::now();
            io.run(&exec)
                .with_context(|| format!("timing: {}", variant.name))?;
            times.push(start.elapsed());
            io.line(&format!(
                "{}: run {i}: {:.3} s",
                variant.name,
                times[i - 1].as_secs_f64()
            ));
        }
        times.sort();
        timings.push(Timing {
            median: times[times.len() / 2],
            min: times[0],
        });
    }
    for line in figures(variants, &timings, runs.max(1)).lines() {
        io.line(line);
    }
    Ok(())
}

fn shell(script: &str) -> Exec {
    Exec {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        // The nested runs report plainly and to no job summary of ours.
        env: ["GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "CI"]
            .into_iter()
            .map(|key| (key.into(), None))
            .collect(),
        cwd: None,
        mkdirs: Vec::new(),
    }
}

/// The figures: one line per variant, then the two ratios of medians.
pub fn figures(variants: &[Variant], timings: &[Timing], runs: usize) -> String {
    let mut out = String::new();
    for (variant, timing) in variants.iter().zip(timings) {
        out.push_str(&format!(
            "{:<28} median {:>7.3} s  min {:>7.3} s  ({runs} runs)\n",
            variant.name,
            timing.median.as_secs_f64(),
            timing.min.as_secs_f64()
        ));
    }
    if let [xtask, same, usual] = timings {
        let ratio = |a: &Timing, b: &Timing| a.median.as_secs_f64() / b.median.as_secs_f64();
        out.push_str(&format!(
            "runner overhead (xtask / same commands):  {:.3}  (target <= 1.05)\n\
             against usual   (xtask / usual sequence): {:.3}  (target <= 0.8)\n",
            ratio(xtask, same),
            ratio(xtask, usual)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_script_runs_the_commands_of_ci_fast_in_order() {
        let fast =
            crate::commands::ci::fast_plan(&crate::ctx::Ctx::for_tests(true), &Default::default())
                .expect("ci fast plans");
        let variants = variants(&fast).expect("ci fast plans");
        let names: Vec<&str> = variants.iter().map(|v| v.name).collect();
        assert_eq!(
            names,
            [
                "cargo xtask ci fast",
                "same commands, plain script",
                "usual sequence"
            ]
        );
        let same = &variants[1].script;
        let fmt = same.find("cargo fmt --all -- --check").expect("fmt first");
        let clippy = same
            .find("cargo clippy --locked --workspace")
            .expect("clippy");
        let unit = same.find("cargo nextest run").expect("the unit tests");
        assert!(fmt < clippy && clippy < unit, "{same}");
        assert!(
            !same.contains("pip install"),
            "tasks are not commands: {same}"
        );
    }

    #[test]
    fn the_figures_give_each_variant_and_the_two_ratios() {
        let fast =
            crate::commands::ci::fast_plan(&crate::ctx::Ctx::for_tests(true), &Default::default())
                .expect("ci fast plans");
        let variants = variants(&fast).expect("ci fast plans");
        let secs = |s: f64| Timing {
            median: Duration::from_secs_f64(s),
            min: Duration::from_secs_f64(s - 0.5),
        };
        let text = figures(&variants, &[secs(4.5), secs(7.2), secs(6.0)], 5);
        assert_eq!(
            text,
            "cargo xtask ci fast          median   4.500 s  min   4.000 s  (5 runs)\n\
             same commands, plain script  median   7.200 s  min   6.700 s  (5 runs)\n\
             usual sequence               median   6.000 s  min   5.500 s  (5 runs)\n\
             runner overhead (xtask / same commands):  0.625  (target <= 1.05)\n\
             against usual   (xtask / usual sequence): 0.750  (target <= 0.8)\n"
        );
    }
}
