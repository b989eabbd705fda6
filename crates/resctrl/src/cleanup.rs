//! Listing groups and removing this crate's stale groups (e.g. at plugin startup, after a
//! crash left groups of pods that no longer exist).
//!
//! Only two levels are looked at: control groups directly under the root and
//! monitoring groups directly under `<root>/mon_groups`. Groups deeper down belong to
//! someone else's control group and are never touched.

use std::path::PathBuf;

use rustix::io::Errno;

use crate::error::{Error, Op, Result, errno};
use crate::fs::FsProvider;
use crate::{MON_DATA_DIR, MON_GROUPS_DIR, Resctrl};

/// Directories in the root that are kernel interfaces, not groups.
pub const RESERVED_ROOT_NAMES: [&str; 3] = ["info", MON_DATA_DIR, MON_GROUPS_DIR];

/// The kind of a resctrl group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// A control group (`CTRL_MON`), directly under the root; has its own CLOSID.
    Control,
    /// A monitoring group (`MON`), under a `mon_groups` directory; has only an RMID.
    Monitor,
}

/// A group found by [`Resctrl::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The directory name (lossily decoded if not UTF-8).
    pub name: String,
    /// The full path.
    pub path: PathBuf,
    /// Control or monitoring group.
    pub kind: GroupKind,
    /// Whether the name starts with the configured prefix (a group this crate manages).
    pub owned: bool,
}

/// Result of [`Resctrl::cleanup_prefix`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupSummary {
    /// Prefixed groups removed.
    pub removed: usize,
    /// Prefixed groups whose removal failed (logged with the error).
    pub removal_failures: usize,
    /// Prefixed groups that vanished between listing and removal (ENOENT on rmdir).
    pub removal_race: usize,
    /// Groups left alone because their name lacks the prefix.
    pub non_prefix_groups: usize,
}

impl<P: FsProvider> Resctrl<P> {
    /// All groups at the two managed levels: control groups directly under the root
    /// (never `info`, `mon_data`, `mon_groups`, nor files) and monitoring groups directly
    /// under `<root>/mon_groups`. Monitoring groups come first.
    ///
    /// A missing `mon_groups` (no monitoring support) just contributes nothing; failing
    /// to list the root is an error.
    pub fn list_groups(&self) -> Result<Vec<GroupEntry>> {
        let root = &self.config.root;
        let mon_groups = self.mon_groups_dir();
        let mut groups = Vec::new();
        match self.fs.read_dir(&mon_groups) {
            Ok(entries) => {
                for entry in entries.into_iter().filter(|e| e.is_dir) {
                    groups.push(self.entry(mon_groups.join(&entry.name), GroupKind::Monitor));
                }
            }
            Err(e) if errno(&e) == Some(Errno::NOENT) => {}
            Err(e) => return Err(Error::classify(Op::ListDir, &mon_groups, e)),
        }
        let entries = self
            .fs
            .read_dir(root)
            .map_err(|e| Error::classify(Op::ListDir, root, e))?;
        for entry in entries.into_iter().filter(|e| e.is_dir) {
            let reserved = entry
                .name
                .to_str()
                .is_some_and(|n| RESERVED_ROOT_NAMES.contains(&n));
            if !reserved {
                groups.push(self.entry(root.join(&entry.name), GroupKind::Control));
            }
        }
        Ok(groups)
    }

    fn entry(&self, path: PathBuf, kind: GroupKind) -> GroupEntry {
        let raw = path.file_name().unwrap_or_default();
        // A non-UTF-8 name cannot be one of ours: ours are sanitised ASCII.
        let owned = raw
            .to_str()
            .is_some_and(|n| n.starts_with(&self.config.group_prefix));
        GroupEntry {
            name: raw.to_string_lossy().into_owned(),
            path,
            kind,
            owned,
        }
    }

    /// Removes every group whose name starts with the configured prefix, at the two
    /// levels of [`Self::list_groups`] and never deeper. Removal failures are counted and
    /// logged, not returned: one stuck group must not stop the rest. Fails only if the
    /// groups cannot be listed.
    pub fn cleanup_prefix(&self) -> Result<CleanupSummary> {
        let mut summary = CleanupSummary::default();
        for group in self.list_groups()? {
            if !group.owned {
                summary.non_prefix_groups += 1;
                continue;
            }
            match self.fs.remove_dir(&group.path) {
                Ok(()) => {
                    tracing::info!(path = %group.path.display(), "removed stale resctrl group");
                    summary.removed += 1;
                }
                Err(e) if errno(&e) == Some(Errno::NOENT) => summary.removal_race += 1,
                Err(e) => {
                    tracing::warn!(
                        path = %group.path.display(),
                        error = %e,
                        "cannot remove stale resctrl group"
                    );
                    summary.removal_failures += 1;
                }
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fake::FakeResctrl;

    const ROOT: &str = "/sys/fs/resctrl";

    fn handle(fake: &FakeResctrl) -> Resctrl<FakeResctrl> {
        Resctrl::with_provider(fake.clone(), fake.config()).expect("valid config")
    }

    fn p(rel: &str) -> PathBuf {
        Path::new(ROOT).join(rel)
    }

    /// Prefixed and other groups at both levels, one level deeper, and a stray file.
    fn populated() -> FakeResctrl {
        let fake = FakeResctrl::new();
        for rel in [
            "mon_groups/pod_a",
            "mon_groups/pod_b",
            "mon_groups/other",
            "pod_ctrl",
            "keep_ctrl",
            "keep_ctrl/mon_groups/pod_deep",
            "pod_ctrl/mon_groups/pod_inner",
        ] {
            fake.create_dir(&p(rel)).expect(rel);
        }
        fake.add_file(p("pod_file"), "");
        fake
    }

    #[test]
    fn list_groups_reports_both_levels_with_kind_and_ownership() {
        let fake = populated();
        let mut groups = handle(&fake).list_groups().expect("list");
        groups.sort_by(|a, b| a.path.cmp(&b.path));
        let got: Vec<(&str, GroupKind, bool)> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.kind, g.owned))
            .collect();
        assert_eq!(
            got,
            vec![
                ("keep_ctrl", GroupKind::Control, false),
                ("other", GroupKind::Monitor, false),
                ("pod_a", GroupKind::Monitor, true),
                ("pod_b", GroupKind::Monitor, true),
                ("pod_ctrl", GroupKind::Control, true),
            ]
        );
    }

    #[test]
    fn cleanup_removes_only_prefixed_groups_at_two_levels() {
        let fake = populated();
        let s = handle(&fake).cleanup_prefix().expect("cleanup");
        assert_eq!(
            s,
            CleanupSummary {
                removed: 3,
                removal_failures: 0,
                removal_race: 0,
                non_prefix_groups: 2,
            }
        );
        let mut left = fake.groups();
        left.sort();
        assert_eq!(
            left,
            vec![
                p("keep_ctrl"),
                p("keep_ctrl/mon_groups/pod_deep"),
                p("mon_groups/other"),
            ],
            "the deeper prefixed group survives"
        );
        assert_eq!(fake.counters().rmdir_calls, 3);
        // The stray file was neither removed nor counted.
        assert!(fake.read_to_string(&p("pod_file")).is_ok());
    }

    #[test]
    fn cleanup_counts_races_and_failures_and_goes_on() {
        let fake = populated();
        for rel in ["mon_groups/pod_c", "mon_groups/pod_d", "mon_groups/pod_e"] {
            fake.create_dir(&p(rel)).expect(rel);
        }
        // Unequal counts, so a count credited to the wrong field shows.
        for rel in ["mon_groups/pod_a", "mon_groups/pod_c", "mon_groups/pod_d"] {
            fake.vanish_on_rmdir(p(rel));
        }
        fake.deny_access(p("mon_groups/pod_b"));
        let s = handle(&fake).cleanup_prefix().expect("cleanup");
        assert_eq!(
            s,
            CleanupSummary {
                removed: 2,
                removal_failures: 1,
                removal_race: 3,
                non_prefix_groups: 2,
            }
        );
        for gone in ["mon_groups/pod_a", "mon_groups/pod_e", "pod_ctrl"] {
            assert!(!fake.group_exists(&p(gone)), "{gone}");
        }
        assert!(fake.group_exists(&p("mon_groups/pod_b")));
    }

    #[test]
    fn an_unlistable_mon_groups_fails_cleanup_naming_it() {
        let fake = populated();
        fake.deny_access(p("mon_groups"));
        let err = handle(&fake).cleanup_prefix().expect_err("denied");
        assert!(
            matches!(
                &err,
                Error::NoPermission {
                    op: Op::ListDir,
                    path,
                    ..
                } if *path == p("mon_groups")
            ),
            "{err:?}"
        );
        assert_eq!(fake.counters().rmdir_calls, 0, "nothing removed");
    }

    #[test]
    fn cleanup_never_touches_kernel_directories() {
        for prefix in ["mon_", "in", "m"] {
            let fake = populated();
            let cfg = fake.config().with_group_prefix(prefix);
            let rc = Resctrl::with_provider(fake.clone(), cfg).expect("config");
            let s = rc.cleanup_prefix().expect("cleanup");
            assert_eq!(s.removed, 0, "{prefix}");
            assert_eq!(s.removal_failures, 0, "{prefix}");
            assert_eq!(fake.counters().rmdir_calls, 0, "{prefix}");
            let names: Vec<String> = fake
                .read_dir(Path::new(ROOT))
                .expect("root")
                .into_iter()
                .filter_map(|e| e.name.into_string().ok())
                .collect();
            for kernel in RESERVED_ROOT_NAMES {
                assert!(names.iter().any(|n| n == kernel), "{kernel} with {prefix}");
            }
        }
    }

    #[test]
    fn cleanup_without_monitoring_looks_at_control_groups_only() {
        let fake = FakeResctrl::builder().mon_features([]).build();
        fake.create_dir(&p("pod_ctrl")).expect("control group");
        fake.create_dir(&p("other")).expect("control group");
        let s = handle(&fake).cleanup_prefix().expect("cleanup");
        assert_eq!((s.removed, s.non_prefix_groups), (1, 1));
    }

    #[test]
    fn cleanup_through_real_fs_on_a_plain_directory_tree() {
        // RealFs against an ordinary directory: checks listing (d_type) and rmdir wiring
        // without a kernel. Plain rmdir needs empty directories, so groups here are empty.
        let root = std::env::temp_dir().join(format!("resctrl-cleanup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for rel in [
            "mon_groups/pod_a",
            "mon_groups/other",
            "pod_c",
            "keep/mon_groups/pod_deep",
            "info",
            "mon_data",
        ] {
            std::fs::create_dir_all(root.join(rel)).expect("scratch tree");
        }
        std::fs::write(root.join("pod_file"), "").expect("scratch file");
        let rc = Resctrl::new(crate::Config::default().with_root(&root)).expect("config");
        let s = rc.cleanup_prefix();
        let survivors: Vec<bool> = [
            "keep/mon_groups/pod_deep",
            "mon_groups/other",
            "pod_file",
            "info",
            "mon_data",
        ]
        .iter()
        .map(|rel| root.join(rel).exists())
        .collect();
        let removed: Vec<bool> = ["mon_groups/pod_a", "pod_c"]
            .iter()
            .map(|rel| root.join(rel).exists())
            .collect();
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            s.expect("cleanup"),
            CleanupSummary {
                removed: 2,
                removal_failures: 0,
                removal_race: 0,
                non_prefix_groups: 2,
            }
        );
        assert_eq!(survivors, vec![true; 5]);
        assert_eq!(removed, vec![false; 2]);
    }

    #[test]
    fn cleanup_fails_only_when_groups_cannot_be_listed() {
        let fake = populated();
        fake.deny_access(ROOT);
        let err = handle(&fake).cleanup_prefix().expect_err("denied");
        assert!(
            matches!(
                err,
                Error::NoPermission {
                    op: Op::ListDir,
                    ..
                }
            ),
            "{err:?}"
        );

        let fake = FakeResctrl::builder().mounted(false).build();
        // An unmounted root is an empty directory: nothing to clean.
        let s = handle(&fake).cleanup_prefix().expect("cleanup");
        assert_eq!(s, CleanupSummary::default());
    }
}
