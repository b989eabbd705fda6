//! The final table: step, status, wall time, and a one-line total.

use std::fmt::Write;
use std::time::Duration;

use super::format_duration;
use crate::record::{Status, StepResult};

/// Renders the summary table of a run that took `wall`.
pub fn render(results: &[StepResult], wall: Duration) -> String {
    let rows: Vec<(String, String, String)> = results
        .iter()
        .map(|r| {
            let time = match r.status {
                Status::Skipped(_) => "-".to_string(),
                _ => format_duration(r.elapsed),
            };
            (r.name.clone(), r.status.describe(), time)
        })
        .collect();
    let name_width = rows.iter().map(|r| r.0.len()).chain([4]).max().unwrap_or(4);
    let status_width = rows.iter().map(|r| r.1.len()).chain([6]).max().unwrap_or(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_width$}  {:<status_width$}  {:>5}",
        "step", "status", "time"
    );
    for (name, status, time) in &rows {
        let _ = writeln!(
            out,
            "{name:<name_width$}  {status:<status_width$}  {time:>5}"
        );
    }
    out.push_str(&totals(results, wall));
    out.push('\n');
    out
}

/// "3 ok, 1 failed, 2 skipped in 41.0s" (wall time: steps may have overlapped).
pub fn totals(results: &[StepResult], wall: Duration) -> String {
    let count = |f: fn(&Status) -> bool| results.iter().filter(|r| f(&r.status)).count();
    let ok = count(|s| *s == Status::Ok);
    let failed = count(|s| matches!(s, Status::Failed(_)));
    let skipped = count(|s| matches!(s, Status::Skipped(_)));
    let interrupted = count(|s| *s == Status::Interrupted);
    let mut out = format!("{ok} ok, {failed} failed, {skipped} skipped");
    if interrupted > 0 {
        let _ = write!(out, ", {interrupted} interrupted");
    }
    let _ = write!(out, " in {}", format_duration(wall));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Vec<StepResult> {
        let result = |name: &str, status, ms| StepResult {
            name: name.to_string(),
            status,
            elapsed: Duration::from_millis(ms),
            log: None,
            junit: None,
        };
        vec![
            result("fmt", Status::Ok, 400),
            result(
                "clippy",
                Status::Failed("`cargo clippy` failed: exit status 101".into()),
                12_300,
            ),
            result(
                "resctrl-e2e",
                Status::Skipped("needs level full-short".into()),
                0,
            ),
        ]
    }

    #[test]
    fn table_lists_every_step_with_status_and_time() {
        let expected = "\
step         status                                           time
fmt          ok                                               0.4s
clippy       failed: `cargo clippy` failed: exit status 101  12.3s
resctrl-e2e  skipped: needs level full-short                     -
1 ok, 1 failed, 1 skipped in 9.9s
";
        // Steps ran partly at once: the total is the wall time, not the steps' sum (12.7s).
        assert_eq!(render(&sample(), Duration::from_millis(9_900)), expected);
    }
}
