//! The final table: step, status, wall time, and a one-line total, in 80 columns (a
//! reason too long for its column is cut; the digest above the table has it whole).

use std::fmt::Write;
use std::time::Duration;

use super::format_duration;
use crate::record::{Status, StepResult};

/// The width the table fits in.
pub const WIDTH: usize = 80;
/// The time column's width (`12m05s`).
const TIME_WIDTH: usize = 6;
/// The status column is never narrower than this, however long the step names.
const MIN_STATUS_WIDTH: usize = 24;

/// What the status column says of a step: `ok`, `ok: 412 passed, 3 skipped`, `ok (cached,
/// 3 min ago)`, `failed: 2 of 40 tests failed`, `skipped: needs level full-short`.
pub fn status_cell(result: &StepResult) -> String {
    if let (Status::Ok, Some(ago)) = (&result.status, &result.cached) {
        return format!("ok (cached, {ago})");
    }
    match (&result.status, &result.digest.summary) {
        (Status::Ok, Some(summary)) => format!("ok: {summary}"),
        (status, _) => status.describe(),
    }
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Renders the summary table of a run that took `wall`.
pub fn render(results: &[StepResult], wall: Duration) -> String {
    let name_width = results
        .iter()
        .map(|r| r.name.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4);
    let status_budget = WIDTH
        .saturating_sub(name_width + 2 + 2 + TIME_WIDTH)
        .max(MIN_STATUS_WIDTH);
    let rows: Vec<(String, String, String)> = results
        .iter()
        .map(|r| {
            let time = match r.status {
                Status::Skipped(_) => "-".to_string(),
                _ => format_duration(r.elapsed),
            };
            (r.name.clone(), fit(&status_cell(r), status_budget), time)
        })
        .collect();
    let status_width = rows
        .iter()
        .map(|r| r.1.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_width$}  {:<status_width$}  {:>TIME_WIDTH$}",
        "step", "status", "time"
    );
    for (name, status, time) in &rows {
        let _ = writeln!(
            out,
            "{name:<name_width$}  {status:<status_width$}  {time:>TIME_WIDTH$}"
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
            digest: crate::record::Digest::default(),
            artifacts: None,
            cached: None,
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
step         status                                            time
fmt          ok                                                0.4s
clippy       failed: `cargo clippy` failed: exit status 101   12.3s
resctrl-e2e  skipped: needs level full-short                      -
1 ok, 1 failed, 1 skipped in 9.9s
";
        // Steps ran partly at once: the total is the wall time, not the steps' sum (12.7s).
        assert_eq!(render(&sample(), Duration::from_millis(9_900)), expected);
    }

    #[test]
    fn long_reasons_are_cut_to_fit_80_columns() {
        let mut results = sample();
        results[1].status = Status::Failed(format!("strict: missing {}", "root, ".repeat(30)));
        let table = render(&results, Duration::from_secs(1));
        for line in table.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(table.contains("root, root…"), "{table}");
    }

    #[test]
    fn a_passed_step_shows_what_its_tool_counted() {
        let mut results = sample();
        results[0].digest.summary = Some("412 passed, 3 skipped".into());
        let table = render(&results, Duration::from_secs(1));
        assert!(
            table.contains("\nfmt          ok: 412 passed, 3 skipped "),
            "{table}"
        );
    }
}
