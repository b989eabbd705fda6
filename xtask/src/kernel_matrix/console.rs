//! Reading a guest's serial console: the init's protocol lines (`kmatrix: ...`, written by
//! `crates/kernel-matrix-guest`) and the kernel's own signs of trouble.

/// The prefix of the init's protocol lines.
const PREFIX: &str = "kmatrix: ";

/// What one console line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A test's result: `binary::test` and whether it passed.
    Result {
        /// `<binary>::<test path>`.
        test: String,
        /// `pass`, `fail` or `ignored`.
        outcome: String,
    },
    /// The init's final verdict: whether every test passed.
    Verdict(bool),
    /// The init could not do something (mount, read the manifest, start a binary).
    Error(String),
    /// The kernel is in trouble: the guest will not finish properly.
    Trouble(String),
    /// Anything else.
    Other,
}

/// What the kernel prints when it panics, oopses, stalls or locks up.
const TROUBLE: &[&str] = &[
    "Kernel panic",
    "Oops:",
    "BUG: ",
    "detected stalls on CPUs",
    "self-detected stall",
    "soft lockup",
    "hard LOCKUP",
    "general protection fault",
];

/// Classifies one console line.
pub fn classify(line: &str) -> Line {
    if let Some(rest) = line.strip_prefix(PREFIX) {
        let mut words = rest.split_whitespace();
        return match words.next() {
            Some("result") => match (words.next(), words.next()) {
                (Some(test), Some(outcome)) => Line::Result {
                    test: test.to_string(),
                    outcome: outcome.to_string(),
                },
                _ => Line::Error(format!("malformed result line `{line}`")),
            },
            Some("verdict") => Line::Verdict(words.next() == Some("pass")),
            Some("error") => Line::Error(rest["error".len()..].trim().to_string()),
            _ => Line::Other,
        };
    }
    match TROUBLE.iter().find(|sign| line.contains(*sign)) {
        Some(_) => Line::Trouble(line.trim().to_string()),
        None => Line::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines_are_understood() {
        assert_eq!(
            classify("kmatrix: result resctrl::mounting_elsewhere_fails pass"),
            Line::Result {
                test: "resctrl::mounting_elsewhere_fails".into(),
                outcome: "pass".into()
            }
        );
        assert_eq!(classify("kmatrix: verdict pass"), Line::Verdict(true));
        assert_eq!(classify("kmatrix: verdict fail"), Line::Verdict(false));
        assert_eq!(
            classify("kmatrix: error reading the manifest /kmatrix/tests: not found"),
            Line::Error("reading the manifest /kmatrix/tests: not found".into())
        );
        assert_eq!(classify("kmatrix: start kernel=6.1 cgroup=v2"), Line::Other);
    }

    #[test]
    fn kernel_trouble_is_recognised_and_ordinary_lines_are_not() {
        for line in [
            "[    2.1] Kernel panic - not syncing: Attempted to kill init!",
            "[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!",
            "[   60.0] rcu: INFO: rcu_sched self-detected stall on CPU",
            "[    1.0] Oops: 0000 [#1] SMP",
        ] {
            assert!(matches!(classify(line), Line::Trouble(_)), "{line}");
        }
        assert_eq!(classify("[    0.0] Linux version 6.1.0"), Line::Other);
        assert_eq!(classify("test foo ... ok"), Line::Other);
    }
}
