//! JUnit XML of a run: one test case per step, plus the per-test suites that steps wrote
//! (nextest's JUnit for unit tests), so CI test views show both.

use std::fmt::Write;

use super::table;
use crate::ansi;
use crate::record::{Status, StepResult, read_log};

/// How much of a failed step's output goes into its `<failure>` element.
const MAX_OUTPUT: usize = 64 * 1024;

/// Renders the JUnit document for `results` of the command named `run_name`.
pub fn render(run_name: &str, results: &[StepResult]) -> String {
    let failures = results.iter().filter(|r| r.status.is_failure()).count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.status, Status::Skipped(_)))
        .count();
    let time: f64 = results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"{}\">", escape(run_name));
    let _ = writeln!(
        out,
        "  <testsuite name=\"xtask steps\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        results.len()
    );
    for r in results {
        let _ = write!(
            out,
            "    <testcase classname=\"xtask\" name=\"{}\" time=\"{:.3}\"",
            escape(&r.name),
            r.elapsed.as_secs_f64()
        );
        match &r.status {
            Status::Ok => match &r.cached {
                // Passed, and says so: CI views show it as a pass that did not run.
                Some(ago) => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>cached: passed {}, nothing it depends on changed since</system-out>\n    </testcase>",
                        escape(ago)
                    );
                }
                None => out.push_str("/>\n"),
            },
            Status::Skipped(reason) => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(reason)
                );
            }
            Status::Failed(_) | Status::Interrupted => {
                let output = ansi::strip(&r.log.as_deref().map(read_log).unwrap_or_default());
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(&table::status_cell(r)),
                    escape(tail(&output, MAX_OUTPUT))
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
    for path in results.iter().filter_map(|r| r.junit.as_ref()) {
        if let Ok(xml) = std::fs::read_to_string(path) {
            // Test output captured with colours would leave escape sequences in the text.
            out.push_str(&inner_suites(&ansi::strip(&xml)));
        }
    }
    out.push_str("</testsuites>\n");
    out
}

/// The `<testsuite>` elements of another JUnit document (its root `<testsuites>` dropped).
fn inner_suites(xml: &str) -> String {
    match (xml.find("<testsuite "), xml.rfind("</testsuite>")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}\n", &xml[start..end + "</testsuite>".len()])
        }
        _ => String::new(),
    }
}

/// The last `max` bytes of `text`, on a character boundary.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// XML attribute and text escaping for every JUnit document the runner writes; control
/// characters XML cannot carry are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::tests::sample;

    #[test]
    fn steps_become_test_cases_and_nextest_suites_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("clippy.log");
        std::fs::write(&log, "error: unused <T> & \u{1b}[0mmore\u{1b}(B\u{1b}[m\n").unwrap();
        let nextest = dir.path().join("junit.xml");
        std::fs::write(
            &nextest,
            "<?xml version=\"1.0\"?>\n<testsuites name=\"nextest-run\" tests=\"1\">\n\
             <testsuite name=\"resctrl\" tests=\"1\"><testcase name=\"a\"/></testsuite>\n</testsuites>\n",
        )
        .unwrap();
        let mut results = sample();
        results[1].log = Some(log);
        results[0].junit = Some(nextest);

        let xml = render("ci fast", &results);
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="ci fast">
  <testsuite name="xtask steps" tests="3" failures="1" errors="0" skipped="1" time="12.700">
    <testcase classname="xtask" name="fmt" time="0.400"/>
    <testcase classname="xtask" name="clippy" time="12.300">
      <failure message="failed: `cargo clippy` failed: exit status 101">error: unused &lt;T&gt; &amp; more
</failure>
    </testcase>
    <testcase classname="xtask" name="resctrl-e2e" time="0.000">
      <skipped message="needs level full-short"/>
    </testcase>
  </testsuite>
<testsuite name="resctrl" tests="1"><testcase name="a"/></testsuite>
</testsuites>
"#;
        assert_eq!(xml, expected);
    }

    #[test]
    fn tail_respects_char_boundaries() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }
}
