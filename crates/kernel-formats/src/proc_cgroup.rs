//! `/proc/<pid>/cgroup`: the cgroup of a process in each hierarchy, parsed by
//! `procfs-core`.

use procfs_core::{FromBufRead, ProcessCGroups};

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMembership {
    /// Hierarchy id (0 for cgroup v2).
    pub hierarchy_id: u32,
    /// Controllers (cgroup v1), including `name=...` for named hierarchies; empty for v2.
    pub controllers: Vec<String>,
    /// The cgroup path relative to the hierarchy's top.
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup`; malformed lines are skipped.
pub fn parse_proc_cgroup(text: &str) -> Vec<CgroupMembership> {
    // Line by line: procfs-core fails a whole file on one bad line.
    text.lines()
        .filter_map(|line| ProcessCGroups::from_buf_read(line.as_bytes()).ok())
        .flat_map(|groups| groups.0)
        .map(|group| CgroupMembership {
            hierarchy_id: group.hierarchy,
            controllers: group.controllers,
            path: group.pathname,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_named_and_v2_lines_are_parsed() {
        let text = "9:name=systemd:/\n4:cpu,cpuacct:/nri-e2e/r/pod1/abc\n0::/nri-e2e/r/pod1/abc\n";
        let lines = parse_proc_cgroup(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].controllers, ["name=systemd"]);
        assert_eq!(lines[1].hierarchy_id, 4);
        assert_eq!(lines[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[2].hierarchy_id, 0);
        assert!(lines[2].controllers.is_empty());
        assert_eq!(lines[2].path, "/nri-e2e/r/pod1/abc");
    }

    #[test]
    fn a_path_keeps_its_colons() {
        let lines = parse_proc_cgroup("0::/a:b\n");
        assert_eq!(lines[0].path, "/a:b");
    }

    #[test]
    fn a_malformed_line_is_skipped_and_the_rest_kept() {
        let lines = parse_proc_cgroup("garbage\nx:cpu:/a\n0::/b\n");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].path, "/b");
    }
}
