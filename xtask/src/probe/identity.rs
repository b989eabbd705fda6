//! Who the runner runs as.

use super::HostRoot;

/// The effective user id from `/proc/self/status` (`Uid:` real, effective, saved, fs).
pub fn effective_uid(root: &HostRoot) -> Option<u32> {
    let status = root.read("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fixture::FixtureRoot;

    #[test]
    fn reads_effective_uid() {
        let fx = FixtureRoot::new();
        fx.file(
            "/proc/self/status",
            "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n",
        );
        assert_eq!(effective_uid(&fx.root()), Some(0));
    }

    #[test]
    fn missing_status_is_unknown() {
        let fx = FixtureRoot::new();
        assert_eq!(effective_uid(&fx.root()), None);
        assert_eq!(parse_effective_uid("Uid:\n"), None);
    }
}
