//! One kernel of the matrix: booted once per cgroup mode with the expectations for it, its
//! results recorded for the combined table and as JUnit (one case per mode and test, plus
//! one per guest boot), and a failure that names the kernel, the mode and the test.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::accel::{self, Accel};
use super::guest::{self, End, GuestRun};
use super::{Mode, Slots, expected, run_dir};
use crate::plan::StepIo;
use crate::report::junit::escape;

/// A kernel ready to boot, as the provision step recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootable {
    /// The name in reports (`6.1`, `newest`, `custom`).
    pub name: String,
    /// Its release (`6.1.0-50-cloud-amd64`).
    pub release: String,
    /// The image.
    pub vmlinuz: PathBuf,
}

/// Where the provision step records a kernel for its step.
pub fn record_path(name: &str) -> PathBuf {
    run_dir().join("kernels").join(format!("{name}.txt"))
}

/// Records a kernel (`release` and image path, one per line).
pub fn record(kernel: &Bootable) -> anyhow::Result<()> {
    let path = record_path(&kernel.name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(
        &path,
        format!("{}\n{}\n", kernel.release, kernel.vmlinuz.display()),
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// Reads what [`record`] wrote.
pub fn recorded(name: &str) -> anyhow::Result<Bootable> {
    let path = record_path(name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (written by the provision step)", path.display()))?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(release), Some(vmlinuz)) => Ok(Bootable {
            name: name.to_string(),
            release: release.to_string(),
            vmlinuz: PathBuf::from(vmlinuz),
        }),
        _ => bail!("{} is not `release\\nimage path`", path.display()),
    }
}

/// Where the build step leaves the initramfs.
pub fn initramfs_path() -> PathBuf {
    run_dir().join("initramfs.cpio")
}

/// Where the accelerator decision is kept for the kernel steps.
pub fn accel_path() -> PathBuf {
    run_dir().join("accel.txt")
}

/// The results file of a kernel, read by the table step: `mode\ttest\toutcome` per line.
pub fn results_path(name: &str) -> PathBuf {
    run_dir().join("results").join(format!("{name}.tsv"))
}

/// The JUnit file a kernel's step writes.
pub fn junit_path(name: &str) -> PathBuf {
    run_dir().join("junit").join(format!("{name}.xml"))
}

/// How guests run.
#[derive(Clone, Debug)]
pub struct GuestSettings {
    /// The deadline of one guest, boot to power-off.
    pub timeout: Duration,
    /// Make the init hang (to see the timeout work).
    pub hang: bool,
}

/// What one mode's guest showed, for the report.
struct ModeRun {
    mode: Mode,
    run: GuestRun,
    log: PathBuf,
}

/// Boots `name`'s kernel in every mode and fails naming each failed kernel, mode and test.
pub fn run(io: &mut dyn StepIo, name: &str, settings: &GuestSettings) -> anyhow::Result<()> {
    let kernel = recorded(name)?;
    let accel = std::fs::read_to_string(accel_path())
        .ok()
        .and_then(|text| Accel::parse(&text))
        .context("no accelerator decided (the build step writes it)")?;
    let initramfs = initramfs_path();
    let logs = crate::project::log_dir();
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut runs = Vec::new();
    for mode in Mode::ALL {
        io.check_interrupted()?;
        let mut append = format!("kmatrix.cgroup={}", mode.name());
        for (key, value) in expected::for_guest(expected::TABLE, &kernel.release, mode)? {
            let _ = write!(append, " kmatrix.expect.{key}={value}");
        }
        if settings.hang {
            append.push_str(" kmatrix.hang");
        }
        let log = logs.join(format!("kernel-matrix-{name}-{}.console.log", mode.name()));
        let slot = Slots::per_cpu().take();
        io.line(&format!(
            "{name} ({}) {}: booting ({})",
            kernel.release,
            mode.name(),
            accel.name()
        ));
        let run = guest::run(
            accel::qemu(accel, &kernel.vmlinuz, &initramfs, &append),
            guest::Limits::total(settings.timeout),
            &log,
            &|| io.check_interrupted().is_err(),
        )?;
        drop(slot);
        if run.end == End::Interrupted {
            io.check_interrupted()?;
        }
        io.line(&format!(
            "{name} {}: {} in {:.1}s, {} tests ({} failed)",
            mode.name(),
            describe_end(&run),
            run.elapsed.as_secs_f64(),
            run.results.len(),
            run.results.iter().filter(|(_, o)| o != "pass").count()
        ));
        runs.push(ModeRun { mode, run, log });
    }
    write_results(name, &runs)?;
    write_junit(&kernel, &runs)?;
    for line in table_lines(&runs) {
        io.line(&line);
    }
    let failures = failures(&kernel, &runs);
    for failure in &failures {
        io.line(failure);
    }
    match summary(&runs) {
        None => Ok(()),
        Some(summary) => bail!("{summary}"),
    }
}

/// A short reason for the step's row in the final table (the details are in its output):
/// per failed mode, how it failed.
fn summary(runs: &[ModeRun]) -> Option<String> {
    let parts: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let failed = r.run.results.iter().filter(|(_, o)| o != "pass").count();
            let what = match &r.run.end {
                End::Verdict(_) if r.run.results.is_empty() => "no test ran".to_string(),
                End::Verdict(_) if failed > 0 => {
                    format!("{failed} test{} failed", if failed == 1 { "" } else { "s" })
                }
                End::Verdict(_) if !r.run.errors.is_empty() => {
                    "the init reported errors".to_string()
                }
                End::Verdict(_) => return None,
                End::Trouble(_) => "kernel trouble".to_string(),
                End::Hung(after) => format!("hung, killed after {} s", after.as_secs()),
                End::Silent(after) => format!("no console output in {} s", after.as_secs()),
                End::Exited(_) => "QEMU exited early".to_string(),
                End::Interrupted => "interrupted".to_string(),
            };
            Some(format!("{}: {what}", r.mode.name()))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn describe_end(run: &GuestRun) -> String {
    match &run.end {
        End::Verdict(true) => "passed".to_string(),
        End::Verdict(false) => "failed".to_string(),
        End::Trouble(sign) => format!("kernel trouble: {sign}"),
        End::Hung(after) => format!("hung, killed after {} s", after.as_secs()),
        End::Silent(after) => format!(
            "silent, killed after {} s without console output",
            after.as_secs()
        ),
        End::Exited(status) => format!("QEMU exited without a verdict ({status})"),
        End::Interrupted => "interrupted".to_string(),
    }
}

/// One line per failure: the kernel, the mode, and the test or what went wrong, with the
/// console tail of a guest that did not finish.
fn failures(kernel: &Bootable, runs: &[ModeRun]) -> Vec<String> {
    let mut out = Vec::new();
    for ModeRun { mode, run, log } in runs {
        let at = format!(
            "kernel {} ({}) cgroup {}",
            kernel.name,
            kernel.release,
            mode.name()
        );
        for (test, outcome) in run.results.iter().filter(|(_, o)| o != "pass") {
            out.push(format!(
                "{at}: {test} {outcome} (console: {})",
                log.display()
            ));
        }
        for error in &run.errors {
            out.push(format!("{at}: the init reported: {error}"));
        }
        match &run.end {
            End::Verdict(_) if !run.results.is_empty() => {}
            End::Verdict(_) => out.push(format!(
                "{at}: the guest ran no test (console: {})",
                log.display()
            )),
            _ => out.push(format!(
                "{at}: {}; console tail:\n    {}",
                describe_end(run),
                run.tail.join("\n    ")
            )),
        }
    }
    out
}

/// This kernel's part of the matrix: each test's outcome per mode.
fn table_lines(runs: &[ModeRun]) -> Vec<String> {
    let mut tests: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.run.results.iter().map(|(t, _)| t.as_str()))
        .collect();
    tests.sort();
    tests.dedup();
    let width = tests.iter().map(|t| t.len()).max().unwrap_or(4).max(4);
    let mut lines = vec![format!(
        "{:<width$}  {}",
        "test",
        runs.iter()
            .map(|r| format!("{:<6}", r.mode.name()))
            .collect::<Vec<_>>()
            .join("  ")
    )];
    for test in tests {
        let cells: Vec<String> = runs
            .iter()
            .map(|r| {
                let outcome = r
                    .run
                    .results
                    .iter()
                    .find(|(t, _)| t == test)
                    .map_or("-", |(_, o)| o.as_str());
                format!("{outcome:<6}")
            })
            .collect();
        lines.push(format!("{test:<width$}  {}", cells.join("  ")));
    }
    lines
}

fn write_results(name: &str, runs: &[ModeRun]) -> anyhow::Result<()> {
    let mut text = String::new();
    for r in runs {
        for (test, outcome) in &r.run.results {
            let _ = writeln!(text, "{}\t{test}\t{outcome}", r.mode.name());
        }
        if !matches!(r.run.end, End::Verdict(_)) {
            let _ = writeln!(
                text,
                "{}\t(guest)\t{}",
                r.mode.name(),
                describe_end(&r.run).replace('\t', " ")
            );
        }
    }
    write_file(&results_path(name), &text)
}

fn write_junit(kernel: &Bootable, runs: &[ModeRun]) -> anyhow::Result<()> {
    let mut cases = String::new();
    let (mut tests, mut failed) = (0, 0);
    for r in runs {
        let class = escape(&format!("kernel-matrix.{}.{}", kernel.name, r.mode.name()));
        tests += 1;
        let boot_ok = matches!(r.run.end, End::Verdict(_));
        let _ = write!(
            cases,
            "    <testcase classname=\"{class}\" name=\"boot\" time=\"{:.3}\"",
            r.run.elapsed.as_secs_f64()
        );
        if boot_ok {
            cases.push_str("/>\n");
        } else {
            failed += 1;
            let _ = writeln!(
                cases,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                escape(&describe_end(&r.run)),
                escape(&r.run.tail.join("\n"))
            );
        }
        for (test, outcome) in &r.run.results {
            tests += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{class}\" name=\"{}\"",
                escape(test)
            );
            if outcome == "pass" {
                cases.push_str("/>\n");
            } else {
                failed += 1;
                let _ = writeln!(
                    cases,
                    ">\n      <failure message=\"{}\">console: {}</failure>\n    </testcase>",
                    escape(outcome),
                    escape(&r.log.display().to_string())
                );
            }
        }
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n</testsuites>\n",
        escape(&format!(
            "kernel-matrix {} ({})",
            kernel.name, kernel.release
        ))
    );
    write_file(&junit_path(&kernel.name), &xml)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_run(mode: Mode, end: End, results: &[(&str, &str)]) -> ModeRun {
        ModeRun {
            mode,
            run: GuestRun {
                results: results
                    .iter()
                    .map(|(t, o)| (t.to_string(), o.to_string()))
                    .collect(),
                errors: Vec::new(),
                end,
                tail: vec!["last line".into()],
                elapsed: Duration::from_secs(5),
            },
            log: PathBuf::from("/logs/console.log"),
        }
    }

    fn kernel() -> Bootable {
        Bootable {
            name: "6.1".into(),
            release: "6.1.0-50-cloud-amd64".into(),
            vmlinuz: "/k".into(),
        }
    }

    #[test]
    fn a_failed_test_is_named_with_its_kernel_and_mode() {
        let runs = [
            mode_run(Mode::V2, End::Verdict(true), &[("plugin::a", "pass")]),
            mode_run(Mode::V1, End::Verdict(false), &[("plugin::a", "fail")]),
        ];
        let failures = failures(&kernel(), &runs);
        assert_eq!(
            failures,
            [
                "kernel 6.1 (6.1.0-50-cloud-amd64) cgroup v1: plugin::a fail (console: /logs/console.log)"
            ]
        );
    }

    #[test]
    fn the_step_reason_says_per_mode_how_it_failed() {
        let runs = [
            mode_run(Mode::V2, End::Verdict(true), &[("a", "pass")]),
            mode_run(
                Mode::V1,
                End::Verdict(false),
                &[("a", "fail"), ("b", "fail")],
            ),
        ];
        assert_eq!(summary(&runs).as_deref(), Some("v1: 2 tests failed"));
        let hung = [mode_run(Mode::V2, End::Hung(Duration::from_secs(9)), &[])];
        assert_eq!(
            summary(&hung).as_deref(),
            Some("v2: hung, killed after 9 s")
        );
        assert_eq!(summary(&runs[..1]), None);
    }

    #[test]
    fn a_hung_guest_is_a_failure_with_its_console_tail() {
        let runs = [mode_run(Mode::V2, End::Hung(Duration::from_secs(9)), &[])];
        let failures = failures(&kernel(), &runs);
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].contains("cgroup v2: hung, killed after 9 s"),
            "{failures:?}"
        );
        assert!(
            failures[0].ends_with("console tail:\n    last line"),
            "{failures:?}"
        );
    }

    #[test]
    fn a_guest_that_ran_no_test_fails() {
        let runs = [mode_run(Mode::V2, End::Verdict(true), &[])];
        assert!(failures(&kernel(), &runs)[0].contains("ran no test"));
    }

    #[test]
    fn the_kernel_table_has_a_column_per_mode() {
        let runs = [
            mode_run(Mode::V2, End::Verdict(true), &[("r::x", "pass")]),
            mode_run(
                Mode::V1,
                End::Verdict(false),
                &[("r::x", "fail"), ("r::y", "pass")],
            ),
        ];
        assert_eq!(
            table_lines(&runs),
            [
                "test  v2      v1    ",
                "r::x  pass    fail  ",
                "r::y  -       pass  "
            ]
        );
    }
}
