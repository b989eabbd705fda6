//! The gate: each case's instructions against a reference (the baseline file, or another
//! revision measured in the same run), and the verdict as a terminal table, markdown for
//! the job summary, JSON for tools and JUnit cases.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::Measurement;
use crate::report::junit::escape;

/// What became of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within its threshold either way.
    Within,
    /// Grew by more than its threshold: the gate fails.
    Regressed,
    /// Shrank by more than its threshold: worth saving as the new baseline.
    Improved,
    /// The reference has no count for it.
    New,
    /// The reference has a count, this run did not measure it.
    NotMeasured,
}

/// One case's line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The case.
    pub case: String,
    /// Growth in percent it accepts.
    pub threshold: f64,
    /// The reference's instructions.
    pub reference: Option<u64>,
    /// This run's instructions.
    pub now: Option<u64>,
    /// The change in percent of the reference.
    pub change_percent: Option<f64>,
    /// This run's estimated cycles.
    pub estimated_cycles: Option<u64>,
    /// This run's median wall time.
    pub wall_ns: Option<u64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// What the counts were compared against, e.g. `the baseline file` or `main (abc1234)
    /// measured in this run`.
    pub against: String,
    /// Why that reference was chosen, when it was not the baseline file.
    pub notes: Vec<String>,
    /// One row per case, measured ones first in the order they ran.
    pub rows: Vec<Row>,
}

/// Compares `now` with the instructions per case of the reference.
pub fn compare(reference: &BTreeMap<String, u64>, now: &[Measurement]) -> Vec<Row> {
    let mut rows: Vec<Row> = now
        .iter()
        .map(|m| {
            let before = reference.get(&m.case).copied();
            let change_percent = before.map(|before| percent(before, m.instructions));
            let verdict = match change_percent {
                None => Verdict::New,
                Some(change) if change > m.threshold => Verdict::Regressed,
                Some(change) if change < -m.threshold => Verdict::Improved,
                Some(_) => Verdict::Within,
            };
            Row {
                case: m.case.clone(),
                threshold: m.threshold,
                reference: before,
                now: Some(m.instructions),
                change_percent,
                estimated_cycles: m.estimated_cycles,
                wall_ns: m.wall_ns,
                verdict,
            }
        })
        .collect();
    for (case, before) in reference {
        if !now.iter().any(|m| &m.case == case) {
            rows.push(Row {
                case: case.clone(),
                threshold: 0.0,
                reference: Some(*before),
                now: None,
                change_percent: None,
                estimated_cycles: None,
                wall_ns: None,
                verdict: Verdict::NotMeasured,
            });
        }
    }
    rows
}

fn percent(before: u64, now: u64) -> f64 {
    if before == 0 {
        return if now == 0 { 0.0 } else { f64::INFINITY };
    }
    (now as f64 - before as f64) * 100.0 / before as f64
}

impl Comparison {
    /// One line per regressed case, naming it and its change; empty when the gate passes.
    pub fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regressed)
            .map(failure)
            .collect()
    }

    /// Each regressed case with its change, short: `a +2.10%`.
    pub fn grown(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regressed)
            .map(|r| {
                let change = r.change_percent.map(signed_percent).unwrap_or_default();
                format!("{} {change}", r.case)
            })
            .collect()
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let header = [
            "case",
            "baseline",
            "now",
            "change",
            "threshold",
            "est. cycles",
            "wall",
            "",
        ]
        .map(String::from);
        let rows: Vec<[String; 8]> = self.rows.iter().map(cells).collect();
        let mut widths = [0; 8];
        for row in rows.iter().chain([&header]) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = self.heading();
        for row in [&header].into_iter().chain(&rows) {
            let mut line = format!("{:<w$}", row[0], w = widths[0]);
            for (cell, width) in row[1..7].iter().zip(&widths[1..7]) {
                let _ = write!(line, "  {cell:>width$}");
            }
            let _ = write!(line, "  {}", row[7]);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The job summary's section.
    pub fn markdown(&self) -> String {
        let mut out = String::from("### Benchmarks (instructions under callgrind)\n\n");
        for line in self.heading().lines() {
            let _ = writeln!(out, "{line}  ");
        }
        out.push_str(
            "\n| case | baseline | now | change | threshold | est. cycles | wall | |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        for row in &self.rows {
            let mut cells = cells(row);
            cells[7] = match row.verdict {
                Verdict::Regressed => format!("❌ {}", cells[7]),
                _ => cells[7].clone(),
            };
            let _ = writeln!(out, "| {} |", cells.join(" | ").replace('\n', " "));
        }
        out
    }

    /// The JSON for `--json`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// JUnit: one test case per bench case, failed when it regressed.
    pub fn junit(&self) -> String {
        let failed = self.failures().len();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
        let _ = writeln!(
            out,
            "  <testsuite name=\"bench\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
            self.rows.len()
        );
        for row in &self.rows {
            let name = escape(&row.case);
            match row.verdict {
                Verdict::Regressed => {
                    let _ = writeln!(
                        out,
                        "    <testcase classname=\"bench\" name=\"{name}\">\n      \
                         <failure message=\"{}\"/>\n    </testcase>",
                        escape(&failure(row))
                    );
                }
                _ => {
                    let _ = writeln!(out, "    <testcase classname=\"bench\" name=\"{name}\"/>");
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    fn heading(&self) -> String {
        let mut out = format!("compared against {}\n", self.against);
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

fn failure(row: &Row) -> String {
    format!(
        "{}: {} instructions, {} -> {} (threshold {}%)",
        row.case,
        row.change_percent.map(signed_percent).unwrap_or_default(),
        row.reference.map(thousands).unwrap_or_default(),
        row.now.map(thousands).unwrap_or_default(),
        row.threshold
    )
}

fn cells(row: &Row) -> [String; 8] {
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let verdict = match row.verdict {
        Verdict::Within => String::new(),
        Verdict::Regressed => format!("REGRESSED (over {}%)", row.threshold),
        Verdict::Improved => "improved: save it with --save-baseline".to_string(),
        Verdict::New => "new: not in the reference".to_string(),
        Verdict::NotMeasured => "not measured".to_string(),
    };
    [
        row.case.clone(),
        or_dash(row.reference.map(thousands)),
        or_dash(row.now.map(thousands)),
        or_dash(row.change_percent.map(signed_percent)),
        if row.verdict == Verdict::NotMeasured {
            "-".to_string()
        } else {
            format!("{}%", row.threshold)
        },
        or_dash(row.estimated_cycles.map(thousands)),
        or_dash(row.wall_ns.map(wall)),
        verdict,
    ]
}

/// `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signed_percent(change: f64) -> String {
    format!("{change:+.2}%")
}

/// A wall time in the unit that keeps it readable.
pub fn wall(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(case: &str, instructions: u64, threshold: f64) -> Measurement {
        Measurement {
            case: case.to_string(),
            threshold,
            instructions,
            estimated_cycles: Some(instructions * 2),
            wall_ns: Some(1_500_000),
        }
    }

    fn reference(cases: &[(&str, u64)]) -> BTreeMap<String, u64> {
        cases.iter().map(|(c, n)| (c.to_string(), *n)).collect()
    }

    fn comparison(rows: Vec<Row>) -> Comparison {
        Comparison {
            against: "the baseline file".to_string(),
            notes: Vec::new(),
            rows,
        }
    }

    #[test]
    fn growth_up_to_the_threshold_passes() {
        let rows = compare(&reference(&[("a", 1000)]), &[measurement("a", 1020, 2.0)]);
        assert_eq!(rows[0].verdict, Verdict::Within);
        assert!(comparison(rows).failures().is_empty());
    }

    #[test]
    fn growth_past_the_threshold_fails_naming_the_case_and_percent() {
        let rows = compare(&reference(&[("a", 1000)]), &[measurement("a", 1021, 2.0)]);
        assert_eq!(rows[0].verdict, Verdict::Regressed);
        let comparison = comparison(rows);
        assert_eq!(
            comparison.failures(),
            ["a: +2.10% instructions, 1,000 -> 1,021 (threshold 2%)"]
        );
        assert_eq!(comparison.grown(), ["a +2.10%"]);
    }

    #[test]
    fn each_case_is_judged_by_its_own_threshold() {
        let rows = compare(
            &reference(&[("a", 1000), ("b", 1000)]),
            &[measurement("a", 1040, 5.0), measurement("b", 1040, 2.0)],
        );
        let verdicts: Vec<Verdict> = rows.iter().map(|r| r.verdict).collect();
        assert_eq!(verdicts, [Verdict::Within, Verdict::Regressed]);
    }

    #[test]
    fn shrinking_past_the_threshold_is_an_improvement_not_a_failure() {
        let rows = compare(&reference(&[("a", 1000)]), &[measurement("a", 900, 2.0)]);
        assert_eq!(rows[0].verdict, Verdict::Improved);
        assert_eq!(rows[0].change_percent, Some(-10.0));
        assert!(comparison(rows).failures().is_empty());
    }

    #[test]
    fn cases_on_one_side_only_are_shown_and_do_not_fail() {
        let rows = compare(&reference(&[("gone", 5)]), &[measurement("new", 7, 2.0)]);
        let verdicts: Vec<(&str, Verdict)> =
            rows.iter().map(|r| (r.case.as_str(), r.verdict)).collect();
        assert_eq!(
            verdicts,
            [("new", Verdict::New), ("gone", Verdict::NotMeasured)]
        );
        assert!(comparison(rows).failures().is_empty());
    }

    #[test]
    fn the_table_shows_baseline_now_and_change_per_case() {
        let rows = compare(
            &reference(&[("nri/mux-4mib", 10_000_000), ("a", 1000)]),
            &[
                measurement("nri/mux-4mib", 10_001_000, 2.0),
                measurement("a", 1100, 2.0),
            ],
        );
        assert_eq!(
            comparison(rows).table(),
            "compared against the baseline file\n\
             case            baseline         now   change  threshold  est. cycles    wall\n\
             nri/mux-4mib  10,000,000  10,001,000   +0.01%         2%   20,002,000  1.5 ms\n\
             a                  1,000       1,100  +10.00%         2%        2,200  1.5 ms  REGRESSED (over 2%)\n"
        );
    }

    #[test]
    fn markdown_marks_a_regression() {
        let rows = compare(&reference(&[("a", 1000)]), &[measurement("a", 1100, 2.0)]);
        let markdown = comparison(rows).markdown();
        assert!(
            markdown.contains(
                "| a | 1,000 | 1,100 | +10.00% | 2% | 2,200 | 1.5 ms | ❌ REGRESSED (over 2%) |"
            ),
            "{markdown}"
        );
    }

    #[test]
    fn junit_fails_the_regressed_case_only() {
        let rows = compare(
            &reference(&[("a", 1000), ("b", 1000)]),
            &[measurement("a", 1100, 2.0), measurement("b", 1000, 2.0)],
        );
        let xml = comparison(rows).junit();
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"a\">\n      <failure message=\"a: +10.00% instructions"),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"bench\" name=\"b\"/>"),
            "{xml}"
        );
    }

    #[test]
    fn json_carries_every_row() {
        let rows = compare(&reference(&[("a", 1000)]), &[measurement("a", 1000, 2.0)]);
        let json: serde_json::Value =
            serde_json::from_str(&comparison(rows).json()).expect("valid JSON");
        assert_eq!(json["rows"][0]["case"], "a");
        assert_eq!(json["rows"][0]["verdict"], "within");
        assert_eq!(json["rows"][0]["change_percent"], 0.0);
    }

    #[test]
    fn numbers_read_at_a_glance() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(520_136_252), "520,136,252");
        assert_eq!(wall(950), "950 ns");
        assert_eq!(wall(48_200_000), "48.2 ms");
        assert_eq!(wall(4_500_000_000), "4.50 s");
    }
}
