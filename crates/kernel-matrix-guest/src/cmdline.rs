//! The run's settings, from the kernel command line (`/proc/cmdline`): `kmatrix.cgroup=v1|v2`,
//! `kmatrix.expect.<key>=<value>` for the tests, `kmatrix.hang` to test the runner's timeout,
//! `kmatrix.probe` for a boot that only proves the guest starts (the runner's KVM probe).

/// The cgroup layout the init mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CgroupMode {
    /// One unified hierarchy at `/sys/fs/cgroup`.
    V2,
    /// A tmpfs at `/sys/fs/cgroup` with one hierarchy per v1 controller below it.
    V1,
}

impl CgroupMode {
    /// `v1` or `v2`, as on the command line and in the tests' environment.
    pub fn name(self) -> &'static str {
        match self {
            CgroupMode::V2 => "v2",
            CgroupMode::V1 => "v1",
        }
    }
}

/// Everything the command line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The cgroup mode (v2 unless told otherwise).
    pub cgroup: CgroupMode,
    /// Expected outcomes for the tests: `(key, value)`, in command-line order.
    pub expect: Vec<(String, String)>,
    /// Sleep forever instead of running anything.
    pub hang: bool,
    /// Run nothing: report a passing verdict as soon as the init runs.
    pub probe: bool,
}

/// Parses the command line; unknown words (the kernel's own) are ignored, a bad `kmatrix.`
/// word is an error naming it.
pub fn parse(cmdline: &str) -> Result<Settings, String> {
    let mut settings = Settings {
        cgroup: CgroupMode::V2,
        expect: Vec::new(),
        hang: false,
        probe: false,
    };
    for word in cmdline.split_whitespace() {
        let Some(ours) = word.strip_prefix("kmatrix.") else {
            continue;
        };
        match ours.split_once('=') {
            Some(("cgroup", "v2")) => settings.cgroup = CgroupMode::V2,
            Some(("cgroup", "v1")) => settings.cgroup = CgroupMode::V1,
            Some((key, value)) if key.starts_with("expect.") && key.len() > "expect.".len() => {
                let key = &key["expect.".len()..];
                settings.expect.push((key.to_string(), value.to_string()));
            }
            None if ours == "hang" => settings.hang = true,
            None if ours == "probe" => settings.probe = true,
            _ => return Err(format!("unknown kernel command line word `{word}`")),
        }
    }
    Ok(settings)
}

/// The environment variable a test reads an expectation from: `KMATRIX_EXPECT_<KEY>`, the
/// key upper-cased with `-` and `.` as `_`.
pub fn expect_var(key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("KMATRIX_EXPECT_{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_kmatrix_words_only() {
        let settings = parse(
            "console=ttyS0 panic=-1 kmatrix.cgroup=v1 kmatrix.expect.cgroup-kill=absent quiet",
        )
        .expect("valid command line");
        assert_eq!(settings.cgroup, CgroupMode::V1);
        assert_eq!(
            settings.expect,
            [("cgroup-kill".to_string(), "absent".to_string())]
        );
        assert!(!settings.hang);
    }

    #[test]
    fn v2_is_the_default_and_hang_is_a_flag() {
        let settings = parse("console=ttyS0 kmatrix.hang").expect("valid command line");
        assert_eq!(settings.cgroup, CgroupMode::V2);
        assert!(settings.hang);
        assert!(!settings.probe);
        assert!(parse("kmatrix.probe").expect("valid command line").probe);
    }

    #[test]
    fn a_bad_kmatrix_word_is_named() {
        for word in [
            "kmatrix.cgroup=v3",
            "kmatrix.expect.=x",
            "kmatrix.speed=fast",
        ] {
            let err = parse(&format!("quiet {word}")).unwrap_err();
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn expectation_keys_become_variable_names() {
        assert_eq!(expect_var("cgroup-kill"), "KMATRIX_EXPECT_CGROUP_KILL");
        assert_eq!(expect_var("resctrl.mount"), "KMATRIX_EXPECT_RESCTRL_MOUNT");
    }
}
