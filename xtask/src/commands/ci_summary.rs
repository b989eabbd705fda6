//! `cargo xtask ci summary --junit-dir DIR --job NAME=RESULT...`: the one result of a CI run.
//!
//! The final job of `ci.yaml` (`if: always()`, needing every other job) downloads every
//! job's JUnit file, and this merges them into one markdown summary (a table of jobs, a
//! table of test suites, the failed cases by name) in `$GITHUB_STEP_SUMMARY`. It fails when
//! a needed job failed or was cancelled, or a JUnit file records a failure, so it can be the
//! single check branch protection requires.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Arguments of `ci summary`.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct CiSummaryArgs {
    /// A directory holding the runs' JUnit files (searched recursively for `*.xml`).
    #[arg(long, value_name = "DIR")]
    pub junit_dir: PathBuf,
    /// A needed job and its result (`success`, `failure`, `cancelled` or `skipped`), e.g.
    /// `--job build=${{ needs.build.result }}`; repeat per job.
    #[arg(long = "job", value_name = "NAME=RESULT", value_parser = parse_job)]
    pub jobs: Vec<(String, String)>,
}

/// One `<testsuite>` of a JUnit file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteTotals {
    /// The file it came from, relative to the JUnit directory.
    pub file: String,
    /// The suite's name.
    pub name: String,
    /// Test cases.
    pub tests: u64,
    /// Failed or errored cases.
    pub failures: u64,
    /// Skipped cases.
    pub skipped: u64,
    /// Seconds.
    pub time: String,
    /// The names of the failed cases.
    pub failed: Vec<String>,
}

/// Accepts `NAME=RESULT` with one of GitHub's four job results.
pub fn parse_job(value: &str) -> Result<(String, String), String> {
    let (name, result) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not NAME=RESULT"))?;
    if !matches!(result, "success" | "failure" | "cancelled" | "skipped") {
        return Err(format!(
            "job `{name}` has result `{result}`; expected success, failure, cancelled or skipped"
        ));
    }
    Ok((name.to_string(), result.to_string()))
}

/// Writes the summary (stdout, and `$GITHUB_STEP_SUMMARY` when set) and fails on a failed
/// or cancelled job or a failed test.
pub fn run(args: &CiSummaryArgs) -> anyhow::Result<()> {
    let mut suites = Vec::new();
    if args.junit_dir.is_dir() {
        for file in xml_files(&args.junit_dir)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading JUnit file {}", file.display()))?;
            let name = file
                .strip_prefix(&args.junit_dir)
                .unwrap_or(&file)
                .display()
                .to_string();
            suites.extend(parse_junit(&name, &text));
        }
    }
    let markdown = render(&args.jobs, &suites);
    print!("{markdown}");
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening GITHUB_STEP_SUMMARY ({})", path.display()))?;
        file.write_all(markdown.as_bytes())
            .with_context(|| format!("writing GITHUB_STEP_SUMMARY ({})", path.display()))?;
    }
    verdict(&args.jobs, &suites)
}

/// Every `*.xml` under `dir`, sorted so the summary is stable.
fn xml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry
                .with_context(|| format!("listing {}", dir.display()))?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "xml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The `<testsuite>` elements of a JUnit document (ours and nextest's: attributes in double
/// quotes, one element per start tag).
pub fn parse_junit(file: &str, xml: &str) -> Vec<SuiteTotals> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<testsuite ") {
        rest = &rest[start..];
        let end = rest.find("</testsuite>").unwrap_or(rest.len());
        let body = &rest[..end];
        let tag = &body[..body.find('>').unwrap_or(body.len())];
        let number = |name: &str| attribute(tag, name).and_then(|v| v.parse().ok());
        let failed = cases(body)
            .filter(|(_, case)| case.contains("<failure") || case.contains("<error"))
            .map(|(name, _)| name)
            .collect();
        out.push(SuiteTotals {
            file: file.to_string(),
            name: attribute(tag, "name").unwrap_or_default(),
            tests: number("tests").unwrap_or(0),
            failures: number("failures").unwrap_or(0) + number("errors").unwrap_or(0),
            skipped: number("skipped").unwrap_or(0),
            time: attribute(tag, "time").unwrap_or_default(),
            failed,
        });
        rest = &rest[end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    out
}

/// Each `<testcase>`'s name (with its classname) and its text up to the next case.
fn cases(body: &str) -> impl Iterator<Item = (String, &str)> {
    body.split("<testcase ").skip(1).map(|case| {
        // The split ate the space `attribute` looks for before the first name.
        let tag = format!(" {}", &case[..case.find('>').unwrap_or(case.len())]);
        let tag = tag.as_str();
        let name = attribute(tag, "name").unwrap_or_default();
        let name = match attribute(tag, "classname") {
            Some(class) if !class.is_empty() => format!("{class}::{name}"),
            _ => name,
        };
        (name, case)
    })
}

/// `name="value"` of a start tag, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The markdown summary.
pub fn render(jobs: &[(String, String)], suites: &[SuiteTotals]) -> String {
    let mut out = String::from("## CI result\n\n| job | result |\n|---|---|\n");
    for (name, result) in jobs {
        let mark = match result.as_str() {
            "success" => "✅",
            "skipped" => "⏭️",
            _ => "❌",
        };
        let _ = writeln!(out, "| {name} | {mark} {result} |");
    }
    out.push_str(
        "\n| file | suite | tests | failed | skipped | time (s) |\n|---|---|---|---|---|---|\n",
    );
    for s in suites {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.file, s.name, s.tests, s.failures, s.skipped, s.time
        );
    }
    if suites.is_empty() {
        out.push_str("| (no JUnit files) | | | | | |\n");
    }
    let failed: Vec<String> = suites
        .iter()
        .flat_map(|s| {
            s.failed
                .iter()
                .map(move |case| format!("{} {case}", s.file))
        })
        .collect();
    if !failed.is_empty() {
        out.push_str("\n### Failed\n\n");
        for case in failed {
            let _ = writeln!(out, "- {case}");
        }
    }
    out
}

/// Success only when every job succeeded or was skipped and no test failed.
fn verdict(jobs: &[(String, String)], suites: &[SuiteTotals]) -> anyhow::Result<()> {
    let bad: Vec<String> = jobs
        .iter()
        .filter(|(_, result)| !matches!(result.as_str(), "success" | "skipped"))
        .map(|(name, result)| format!("{name} ({result})"))
        .collect();
    let failures: u64 = suites.iter().map(|s| s.failures).sum();
    if !bad.is_empty() {
        bail!(
            "CI failed: {}; see the jobs' logs and the summary above",
            bad.join(", ")
        );
    }
    if failures > 0 {
        bail!("CI failed: {failures} failed test(s) or step(s) in the JUnit files");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = r#"<?xml version="1.0"?>
<testsuites name="ci fast">
  <testsuite name="xtask steps" tests="3" failures="1" errors="0" skipped="1" time="12.700">
    <testcase classname="xtask" name="fmt" time="0.400"/>
    <testcase classname="xtask" name="clippy" time="12.300">
      <failure message="exit 101"/>
    </testcase>
    <testcase classname="xtask" name="resctrl-e2e" time="0.000"><skipped/></testcase>
  </testsuite>
<testsuite name="resctrl" tests="2" failures="0" errors="0" skipped="0" time="0.5"><testcase classname="resctrl" name="a &amp; b"/><testcase name="c"/></testsuite>
</testsuites>
"#;

    fn jobs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_testsuite_of_a_file_is_counted_with_its_failed_cases() {
        let suites = parse_junit("fast/fast.xml", OURS);
        assert_eq!(suites.len(), 2);
        assert_eq!(
            (suites[0].tests, suites[0].failures, suites[0].skipped),
            (3, 1, 1)
        );
        assert_eq!(suites[0].failed, ["xtask::clippy"]);
        assert_eq!(suites[1].name, "resctrl");
        assert_eq!(suites[1].tests, 2);
        assert!(suites[1].failed.is_empty());
    }

    #[test]
    fn the_summary_lists_jobs_suites_and_failed_cases() {
        let md = render(
            &jobs(&[("build", "success"), ("e2e", "skipped")]),
            &parse_junit("fast.xml", OURS),
        );
        assert!(md.contains("| build | ✅ success |"), "{md}");
        assert!(md.contains("| e2e | ⏭️ skipped |"), "{md}");
        assert!(
            md.contains("| fast.xml | resctrl | 2 | 0 | 0 | 0.5 |"),
            "{md}"
        );
        assert!(md.contains("- fast.xml xtask::clippy"), "{md}");
    }

    #[test]
    fn a_failed_or_cancelled_job_fails_the_summary_and_a_skipped_one_does_not() {
        assert!(verdict(&jobs(&[("a", "success"), ("b", "skipped")]), &[]).is_ok());
        let err =
            verdict(&jobs(&[("a", "cancelled"), ("b", "failure")]), &[]).expect_err("bad jobs");
        assert!(
            err.to_string().contains("a (cancelled), b (failure)"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_test_fails_the_summary_even_when_every_job_succeeded() {
        let suites = parse_junit("fast.xml", OURS);
        let err = verdict(&jobs(&[("fast", "success")]), &suites).expect_err("a failure");
        assert!(err.to_string().contains("1 failed"), "{err}");
    }

    #[test]
    fn job_results_are_checked_when_parsed() {
        assert_eq!(
            parse_job("build=success"),
            Ok(("build".into(), "success".into()))
        );
        assert!(parse_job("build").is_err());
        assert!(
            parse_job("build=")
                .unwrap_err()
                .contains("expected success")
        );
    }

    #[test]
    fn files_are_found_recursively_and_in_order() {
        let dir = tempfile::tempdir().expect("a scratch dir");
        for file in ["b/x.xml", "a/y.xml", "a/z.txt"] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, OURS).expect("write");
        }
        let found = xml_files(dir.path()).expect("listing");
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/y.xml", "b/x.xml"]);
    }
}
