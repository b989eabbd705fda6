//! Running one test binary: its output goes to the console as it comes, and every libtest
//! result line (`test <name> ... ok`) becomes a protocol result line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use kernel_matrix_guest::{Outcome, result_line, say};

/// One entry of the manifest (`/kmatrix/tests`): a name for the reports, the binary, and
/// its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestBinary {
    /// The name results are reported under, e.g. `resctrl`.
    pub name: String,
    /// The binary's path in the guest.
    pub path: String,
    /// Its arguments (libtest's, e.g. `--ignored --test-threads=1`).
    pub args: Vec<String>,
}

/// Parses the manifest: one `<name> <path> [args...]` per line; blank lines and `#` comments
/// are skipped.
pub fn parse_manifest(text: &str) -> Result<Vec<TestBinary>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace().map(str::to_string);
            match (words.next(), words.next()) {
                (Some(name), Some(path)) => Ok(TestBinary {
                    name,
                    path,
                    args: words.collect(),
                }),
                _ => Err(format!(
                    "manifest line `{line}` is not `<name> <path> [args...]`"
                )),
            }
        })
        .collect()
}

/// A libtest result line: `test <name> ... ok|FAILED|ignored[, reason]`.
pub fn parse_result(line: &str) -> Option<(&str, Outcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, result) = rest.rsplit_once(" ... ")?;
    let outcome = match result.split(',').next()?.trim() {
        "ok" => Outcome::Pass,
        "FAILED" => Outcome::Fail,
        "ignored" => Outcome::Ignored,
        _ => return None,
    };
    Some((name, outcome))
}

/// What one binary's run showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinaryRun {
    /// Results per test, in the order they finished.
    pub results: Vec<(String, Outcome)>,
    /// Whether the binary exited successfully.
    pub success: bool,
}

/// Runs `binary` with `env`, echoing its output and reporting each result.
pub fn run_binary(binary: &TestBinary, env: &[(String, String)]) -> Result<BinaryRun, String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("creating a pipe: {e}"))?;
    let stderr = writer
        .try_clone()
        .map_err(|e| format!("duplicating a pipe: {e}"))?;
    let mut command = Command::new(&binary.path);
    command
        .args(&binary.args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr);
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.path))?;
    // Our copies of the write end must go, or the read below never sees EOF.
    drop(command);
    let mut run = BinaryRun::default();
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        println!("{line}");
        if let Some((test, outcome)) = parse_result(&line) {
            say(&result_line(&binary.name, test, outcome));
            run.results.push((test.to_string(), outcome));
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {}: {e}", binary.path))?;
    run.success = status.success();
    say(&format!("binary {} exit {status}", binary.name));
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_result_lines_are_recognised() {
        assert_eq!(
            parse_result("test cgroups::threads_are_listed ... ok"),
            Some(("cgroups::threads_are_listed", Outcome::Pass))
        );
        assert_eq!(
            parse_result("test a ... FAILED"),
            Some(("a", Outcome::Fail))
        );
        assert_eq!(
            parse_result("test b ... ignored, needs a guest"),
            Some(("b", Outcome::Ignored))
        );
        assert_eq!(parse_result("test result: ok. 3 passed; 0 failed"), None);
        assert_eq!(parse_result("running 3 tests"), None);
    }

    #[test]
    fn the_manifest_names_binaries_and_their_arguments() {
        let manifest = "# tests\nresctrl /bin/resctrl-kernel --ignored --test-threads=1\n\n";
        assert_eq!(
            parse_manifest(manifest).expect("valid manifest"),
            [TestBinary {
                name: "resctrl".into(),
                path: "/bin/resctrl-kernel".into(),
                args: vec!["--ignored".into(), "--test-threads=1".into()],
            }]
        );
        let err = parse_manifest("lonely\n").unwrap_err();
        assert!(err.contains("`lonely`"), "{err}");
    }

    #[test]
    fn a_binary_run_reports_every_result_and_its_exit() {
        let script = TestBinary {
            name: "sh".into(),
            path: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "echo 'test one ... ok'; echo 'test two ... FAILED' >&2; exit 101".into(),
            ],
        };
        let run = run_binary(&script, &[]).expect("sh runs");
        assert_eq!(
            run.results,
            [
                ("one".to_string(), Outcome::Pass),
                ("two".to_string(), Outcome::Fail)
            ]
        );
        assert!(!run.success);
    }
}
