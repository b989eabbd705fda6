//! Tool presence and versions, by running the tools themselves.

use std::path::PathBuf;

/// A tool found on `PATH` and what it says its version is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolVersion {
    /// Where the binary was found.
    pub path: PathBuf,
    /// The first non-empty line it printed for its version flag.
    pub version: String,
}

/// Finds `program` on `PATH` and asks it for its version with `args` (e.g. `--version`).
///
/// `Err` says why there is no answer: not installed, or the tool failed to report.
pub fn version(program: &str, args: &[&str]) -> Result<ToolVersion, String> {
    let path = which::which(program).map_err(|_| format!("{program} not found on PATH"))?;
    let output = std::process::Command::new(&path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("could not run {}: {err}", path.display()))?;
    let text = if output.stdout.is_empty() {
        String::from_utf8_lossy(&output.stderr).into_owned()
    } else {
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    if !output.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            first_line(&text)
        ));
    }
    Ok(ToolVersion {
        path,
        version: first_line(&text).to_string(),
    })
}

/// Whether `cargo nextest` is installed (as the `cargo-nextest` binary cargo dispatches to).
pub fn nextest_installed() -> bool {
    which::which("cargo-nextest").is_ok()
}

/// The first non-empty line of a tool's output, trimmed.
pub fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_skips_blank_lines() {
        assert_eq!(
            first_line("\n  \ncargo-nextest 0.9.1\nrelease: x\n"),
            "cargo-nextest 0.9.1"
        );
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn missing_tool_says_so() {
        let err = version("xtask-no-such-tool-anywhere", &["--version"]).unwrap_err();
        assert!(err.contains("not found on PATH"), "{err}");
    }

    #[test]
    fn reports_version_of_a_real_tool() {
        // `cargo` is always present where the runner runs: it built the runner.
        let cargo = version("cargo", &["--version"]).unwrap();
        assert!(cargo.version.starts_with("cargo "), "{}", cargo.version);
    }
}
