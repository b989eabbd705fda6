//! Probes of what this host can do.
//!
//! Every file-based probe reads through a [`HostRoot`], so tests point it at a directory of
//! fixture files instead of the real `/`. Tool versions come from running the tools. The
//! kernel's text formats (mount table, cgroup layout) are parsed by `kernel-formats`.

pub mod cgroups;
pub mod containerd;
pub mod engine;
pub mod identity;
pub mod kvm;
pub mod perf;
pub mod resctrl;
pub mod tools;

pub use kernel_formats::HostRoot;
use kernel_formats::MountEntry;

/// Reads and parses the mount table under `root`; an unreadable table is an empty one.
pub fn mounts(root: &HostRoot) -> Vec<MountEntry> {
    root.mounts().unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A fixture host root built in a temporary directory.

    use super::HostRoot;

    /// A temporary directory standing in for `/`.
    pub struct FixtureRoot {
        dir: tempfile::TempDir,
    }

    impl FixtureRoot {
        pub fn new() -> Self {
            FixtureRoot {
                dir: tempfile::tempdir().expect("create fixture dir"),
            }
        }

        /// Writes `contents` at the absolute host path `path` under the fixture.
        pub fn file(&self, path: &str, contents: &str) -> &Self {
            let full = self.dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, contents).unwrap();
            self
        }

        /// Creates the directory `path` under the fixture.
        pub fn dir(&self, path: &str) -> &Self {
            std::fs::create_dir_all(self.dir.path().join(path.trim_start_matches('/'))).unwrap();
            self
        }

        pub fn root(&self) -> HostRoot {
            HostRoot::at(self.dir.path())
        }

        pub fn path(&self) -> &std::path::Path {
            self.dir.path()
        }
    }
}
