//! Which workspace packages a set of changed files affects: each file belongs to the package
//! whose directory holds it (the deepest one), and a package is affected when one of its
//! files changed or when it depends on an affected package (normal, build or dev
//! dependency, transitively). A file outside every package affects everything, unless it
//! is known to be inert (see [`INERT`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use anyhow::Context;

/// Files outside every package that no build, test or lint of `ci fast` reads, so a change
/// to them affects nothing. Kept short on purpose: a file wrongly listed here gives a false
/// green, one missing from it only a slower run.
pub const INERT: &[&str] = &["README.md", "LICENSE", "CHANGELOG.md", "CONTRIBUTING.md"];

/// Files of one package that another package's tests read without depending on it:
/// `(reader, which files)`. A change to such a file affects the reader too (xtask's plan
/// snapshots list the deploy manifests that `lint-deploy` validates).
pub const READS: &[(&str, FileTest)] = &[("xtask", is_deploy_manifest)];

/// Whether a path (relative to the workspace root) is one of a set of files.
pub type FileTest = fn(&str) -> bool;

/// `crates/<crate>/deploy/*.yaml` (or `.yml`), as `lint-deploy` finds them.
pub fn is_deploy_manifest(file: &str) -> bool {
    let parts: Vec<&str> = file.split('/').collect();
    matches!(parts.as_slice(), ["crates", _, "deploy", name] if name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// One workspace member, as far as selection needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Its name, as `cargo -p` takes it.
    pub name: String,
    /// Its directory relative to the workspace root, `/`-separated (`crates/nri`).
    pub dir: String,
    /// Whether it has a library target (only those have doctests).
    pub has_lib: bool,
    /// The workspace members it depends on, of any kind.
    pub depends_on: BTreeSet<String>,
}

/// The workspace's members and the dependencies between them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workspace {
    /// Every member, sorted by name.
    pub packages: Vec<Package>,
}

/// Why a package is affected, for the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Files of its own changed (the first few, and how many).
    Changed {
        /// Up to three of them.
        files: Vec<String>,
        /// How many changed in all.
        count: usize,
    },
    /// It depends on this affected package.
    DependsOn(String),
}

/// The changed files, sorted by what they touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classified {
    /// Changed files per package that holds them.
    pub by_package: BTreeMap<String, Vec<String>>,
    /// Changed files outside every package and not inert: each affects everything.
    pub global: Vec<String>,
    /// Changed files known to affect nothing.
    pub inert: Vec<String>,
}

impl Workspace {
    /// The members of the workspace at `root`, from `cargo metadata --no-deps`.
    ///
    /// # Errors
    /// cargo metadata fails (a broken manifest, no cargo).
    pub fn load(root: &Path) -> anyhow::Result<Self> {
        let meta = cargo_metadata::MetadataCommand::new()
            .no_deps()
            .current_dir(root)
            .exec()
            .with_context(|| format!("running cargo metadata in {}", root.display()))?;
        let root = meta.workspace_root.clone();
        let relative = |dir: &cargo_metadata::camino::Utf8Path| {
            dir.strip_prefix(&root)
                .map(|d| d.as_str().to_string())
                .unwrap_or_else(|_| dir.as_str().to_string())
        };
        let members = meta.workspace_packages();
        let by_dir: BTreeMap<_, String> = members
            .iter()
            .filter_map(|p| Some((p.manifest_path.parent()?.to_path_buf(), p.name.to_string())))
            .collect();
        let mut packages: Vec<Package> = members
            .iter()
            .map(|p| Package {
                name: p.name.to_string(),
                dir: p.manifest_path.parent().map(&relative).unwrap_or_default(),
                has_lib: p
                    .targets
                    .iter()
                    .any(|t| t.is_lib() || t.is_rlib() || t.is_proc_macro()),
                depends_on: p
                    .dependencies
                    .iter()
                    .filter_map(|d| by_dir.get(d.path.as_ref()?.as_path()).cloned())
                    .collect(),
            })
            .collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Workspace { packages })
    }

    /// The package whose directory holds `file` (relative to the root); the deepest one
    /// when packages nest. `None` for a file outside every package.
    pub fn owner(&self, file: &str) -> Option<&Package> {
        self.packages
            .iter()
            .filter(|p| p.dir.is_empty() || file.starts_with(&format!("{}/", p.dir)))
            .max_by_key(|p| p.dir.len())
    }

    /// Sorts changed files (relative to the root) by package, outside, or inert.
    pub fn classify<'f>(&self, files: impl IntoIterator<Item = &'f str>) -> Classified {
        let mut out = Classified::default();
        for file in files {
            match self.owner(file) {
                Some(package) => {
                    out.by_package
                        .entry(package.name.clone())
                        .or_default()
                        .push(file.to_string());
                    for (reader, _) in READS
                        .iter()
                        .filter(|(reader, reads)| *reader != package.name && reads(file))
                    {
                        if self.packages.iter().any(|p| p.name == *reader) {
                            out.by_package
                                .entry((*reader).to_string())
                                .or_default()
                                .push(file.to_string());
                        }
                    }
                }
                None if INERT.contains(&file) => out.inert.push(file.to_string()),
                None => out.global.push(file.to_string()),
            }
        }
        out
    }

    /// The packages whose files changed and every package that depends on one of them,
    /// with the reason for each (the first reason found, nearest the change).
    pub fn affected(&self, changed: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Why> {
        let mut affected: BTreeMap<String, Why> = BTreeMap::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        for (package, files) in changed {
            affected.insert(
                package.clone(),
                Why::Changed {
                    files: files.iter().take(3).cloned().collect(),
                    count: files.len(),
                },
            );
            queue.push_back(package.clone());
        }
        while let Some(done) = queue.pop_front() {
            for dependent in self
                .packages
                .iter()
                .filter(|p| p.depends_on.contains(&done))
            {
                if !affected.contains_key(&dependent.name) {
                    affected.insert(dependent.name.clone(), Why::DependsOn(done.clone()));
                    queue.push_back(dependent.name.clone());
                }
            }
        }
        affected
    }

    /// Whether `name` has a library target (unknown packages count as having none).
    pub fn has_lib(&self, name: &str) -> bool {
        self.packages.iter().any(|p| p.name == name && p.has_lib)
    }
}

/// The plan's lines for an affected set: `nri changed (crates/nri/src/lib.rs)`, `nri-resctrl-plugin depends on nri`.
pub fn explain(affected: &BTreeMap<String, Why>) -> Vec<String> {
    let mut changed: Vec<String> = Vec::new();
    let mut dependents: Vec<String> = Vec::new();
    for (package, why) in affected {
        match why {
            Why::Changed { files, count } => {
                let more = count.saturating_sub(files.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                changed.push(format!("{package} changed ({}{more})", files.join(", ")));
            }
            Why::DependsOn(on) => dependents.push(format!("{package} depends on {on}")),
        }
    }
    changed.into_iter().chain(dependents).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, dir: &str, deps: &[&str]) -> Package {
        Package {
            name: name.to_string(),
            dir: dir.to_string(),
            has_lib: true,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// resctrl <- nri-plugin <- collector, nri <- nri-plugin, and xtask alone; `nested`
    /// lives inside resctrl's directory.
    fn workspace() -> Workspace {
        Workspace {
            packages: vec![
                package("collector", "crates/collector", &["nri-plugin"]),
                package("nested", "crates/resctrl/nested", &[]),
                package("nri", "crates/nri", &[]),
                package("nri-plugin", "crates/nri-plugin", &["nri", "resctrl"]),
                package("resctrl", "crates/resctrl", &[]),
                package("xtask", "xtask", &[]),
            ],
        }
    }

    fn changed(files: &[&str]) -> BTreeMap<String, Vec<String>> {
        workspace().classify(files.iter().copied()).by_package
    }

    fn names(affected: &BTreeMap<String, Why>) -> Vec<&str> {
        affected.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_file_belongs_to_the_deepest_package_holding_it() {
        let ws = workspace();
        assert_eq!(
            ws.owner("crates/resctrl/nested/src/lib.rs")
                .map(|p| &p.name[..]),
            Some("nested")
        );
        assert_eq!(
            ws.owner("crates/resctrl/src/lib.rs").map(|p| &p.name[..]),
            Some("resctrl")
        );
        // A directory whose name only starts like a package's is not in it.
        assert_eq!(
            ws.owner("crates/nri-plugin/src/lib.rs")
                .map(|p| &p.name[..]),
            Some("nri-plugin")
        );
        assert_eq!(ws.owner("crates/nrix/lib.rs"), None);
        assert_eq!(ws.owner("Cargo.lock"), None);
    }

    #[test]
    fn files_outside_every_package_are_global_unless_inert() {
        let sorted = workspace().classify([
            "README.md",
            "Cargo.lock",
            ".github/workflows/ci.yaml",
            "crates/nri/tests/fixtures/a.json",
        ]);
        assert_eq!(sorted.inert, ["README.md"]);
        assert_eq!(sorted.global, ["Cargo.lock", ".github/workflows/ci.yaml"]);
        assert_eq!(
            sorted.by_package["nri"],
            ["crates/nri/tests/fixtures/a.json"]
        );
    }

    #[test]
    fn a_change_affects_its_package_and_every_dependent_transitively() {
        let affected = workspace().affected(&changed(&["crates/resctrl/src/group.rs"]));
        assert_eq!(names(&affected), ["collector", "nri-plugin", "resctrl"]);
        assert_eq!(
            affected["collector"],
            Why::DependsOn("nri-plugin".to_string())
        );
        assert_eq!(
            affected["nri-plugin"],
            Why::DependsOn("resctrl".to_string())
        );
    }

    #[test]
    fn a_leaf_change_affects_only_the_leaf() {
        let affected = workspace().affected(&changed(&["xtask/src/main.rs"]));
        assert_eq!(names(&affected), ["xtask"]);
        let affected = workspace().affected(&changed(&["crates/collector/src/lib.rs"]));
        assert_eq!(names(&affected), ["collector"]);
    }

    #[test]
    fn the_plan_says_what_changed_and_who_depends_on_it() {
        let affected = workspace().affected(&changed(&[
            "crates/nri/src/a.rs",
            "crates/nri/src/b.rs",
            "crates/nri/src/c.rs",
            "crates/nri/src/d.rs",
        ]));
        assert_eq!(
            explain(&affected),
            [
                "nri changed (crates/nri/src/a.rs, crates/nri/src/b.rs, crates/nri/src/c.rs and 1 more)",
                "collector depends on nri-plugin",
                "nri-plugin depends on nri",
            ]
        );
    }

    /// A fixture workspace on disk: `core`, `mid` (depends on core), `top` (dev-depends on
    /// mid), `tool` (a binary, depends on nothing).
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("writing a fixture file");
        };
        write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n",
        );
        let manifest = |name: &str, deps: &str| {
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{deps}"
            )
        };
        write("crates/core/Cargo.toml", &manifest("core", ""));
        write("crates/core/src/lib.rs", "");
        write(
            "crates/mid/Cargo.toml",
            &manifest("mid", "[dependencies]\ncore = { path = \"../core\" }\n"),
        );
        write("crates/mid/src/lib.rs", "");
        write(
            "crates/top/Cargo.toml",
            &manifest("top", "[dev-dependencies]\nmid = { path = \"../mid\" }\n"),
        );
        write("crates/top/src/lib.rs", "");
        write("crates/tool/Cargo.toml", &manifest("tool", ""));
        write("crates/tool/src/main.rs", "fn main() {}\n");
        dir
    }

    #[test]
    fn cargo_metadata_gives_members_dependencies_of_every_kind_and_libraries() {
        let dir = fixture();
        let ws = Workspace::load(dir.path()).expect("cargo metadata of the fixture");
        let names: Vec<&str> = ws.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["core", "mid", "tool", "top"]);
        assert_eq!(
            ws.owner("crates/mid/src/lib.rs").map(|p| &p.dir[..]),
            Some("crates/mid")
        );
        assert!(ws.has_lib("core"));
        assert!(!ws.has_lib("tool"));
        let changed = ws.classify(["crates/core/src/lib.rs"]).by_package;
        let affected = ws.affected(&changed);
        assert_eq!(names_of(&affected), ["core", "mid", "top"]);
    }

    fn names_of(affected: &BTreeMap<String, Why>) -> Vec<&str> {
        names(affected)
    }

    #[test]
    fn a_file_another_package_reads_affects_that_reader_too() {
        let ws = Workspace {
            packages: vec![
                package("collector", "crates/collector", &[]),
                package("xtask", "xtask", &[]),
            ],
        };
        let sorted = ws.classify(["crates/collector/deploy/daemonset.yaml"]);
        assert_eq!(
            sorted.by_package.keys().collect::<Vec<_>>(),
            ["collector", "xtask"],
            "xtask reads the deploy manifests"
        );
        let sorted = ws.classify(["crates/collector/src/lib.rs"]);
        assert_eq!(
            sorted.by_package.keys().collect::<Vec<_>>(),
            ["collector"],
            "but not the sources"
        );
        let sorted = ws.classify(["crates/collector/deploy"]);
        assert_eq!(
            sorted.by_package.keys().collect::<Vec<_>>(),
            ["collector"],
            "nor the directory itself"
        );
    }
}
