//! The expectation table (`expected.txt` beside this file): what kernel-facing tests must
//! see on each kernel and cgroup mode, so that "5.10 says X" is asserted, not tolerated.
//!
//! One `<kernel> <mode> <key>=<value>` per line: kernel `*` or a release prefix (`6.1`
//! matches `6.1.0-50-cloud-amd64`, not `6.12.117`), mode `*`, `v1` or `v2`. Later lines
//! override earlier ones, so general rules go first.

use anyhow::{Context, bail};

use super::Mode;

/// The table, as written in the repository.
pub const TABLE: &str = include_str!("expected.txt");

/// One rule of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    kernel: String,
    mode: Option<Mode>,
    key: String,
    value: String,
}

/// Parses the table; a malformed line is an error naming its number.
fn parse(text: &str) -> anyhow::Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        let [kernel, mode, assignment] = words[..] else {
            bail!("expected.txt line {line}: `{content}` is not `<kernel> <mode> <key>=<value>`");
        };
        let mode = match mode {
            "*" => None,
            "v1" => Some(Mode::V1),
            "v2" => Some(Mode::V2),
            other => bail!("expected.txt line {line}: mode `{other}` is not *, v1 or v2"),
        };
        let (key, value) = assignment
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .with_context(|| {
                format!("expected.txt line {line}: `{assignment}` is not key=value")
            })?;
        rules.push(Rule {
            kernel: kernel.to_string(),
            mode,
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(rules)
}

/// Whether a kernel pattern matches a release: `*`, the release itself, or a prefix of it
/// ending at a `.`, `-` or `+`.
fn kernel_matches(pattern: &str, release: &str) -> bool {
    pattern == "*"
        || release
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '+']))
}

/// The expectations for `release` in `mode`, as `(key, value)` sorted by key.
pub fn for_guest(text: &str, release: &str, mode: Mode) -> anyhow::Result<Vec<(String, String)>> {
    let mut chosen: std::collections::BTreeMap<String, String> = Default::default();
    for rule in parse(text)? {
        if kernel_matches(&rule.kernel, release) && rule.mode.is_none_or(|m| m == mode) {
            chosen.insert(rule.key, rule.value);
        }
    }
    Ok(chosen.into_iter().collect())
}

/// Checks the repository's table parses (the suite's plan does this before booting).
pub fn check(text: &str) -> anyhow::Result<()> {
    parse(text).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# general first
* * resctrl-cpu=no-rdt
* v2 cgroup-kill=present
5.10 v2 cgroup-kill=absent   # added in 5.14
";

    #[test]
    fn later_and_narrower_rules_override_general_ones() {
        let old = for_guest(SAMPLE, "5.10.0-32-cloud-amd64", Mode::V2).expect("valid table");
        assert_eq!(
            old,
            [
                ("cgroup-kill".to_string(), "absent".to_string()),
                ("resctrl-cpu".to_string(), "no-rdt".to_string())
            ]
        );
        let new = for_guest(SAMPLE, "6.12.117+deb13-cloud-amd64", Mode::V2).expect("valid table");
        assert_eq!(new[0], ("cgroup-kill".to_string(), "present".to_string()));
        let v1 = for_guest(SAMPLE, "5.10.0-32-cloud-amd64", Mode::V1).expect("valid table");
        assert_eq!(v1, [("resctrl-cpu".to_string(), "no-rdt".to_string())]);
    }

    #[test]
    fn a_kernel_prefix_matches_whole_version_parts_only() {
        assert!(kernel_matches("6.1", "6.1.0-50-cloud-amd64"));
        assert!(kernel_matches("7.2.13", "7.2.13+deb14-cloud-amd64"));
        assert!(!kernel_matches("6.1", "6.12.117+deb13-cloud-amd64"));
        assert!(kernel_matches("*", "anything"));
    }

    #[test]
    fn malformed_lines_are_named_by_number() {
        for (text, needle) in [
            ("* * a=b\n* v3 c=d\n", "line 2: mode `v3`"),
            ("5.10 v2\n", "line 1: `5.10 v2` is not"),
            ("* * novalue=\n", "line 1: `novalue=` is not key=value"),
        ] {
            let err = check(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn the_repository_table_parses() {
        check(TABLE).expect("expected.txt is well-formed");
    }
}
