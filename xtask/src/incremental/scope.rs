//! What each step of `ci fast` depends on ([`Scope`]), and what a set of changed files
//! leaves of it to run ([`select`]).

use std::collections::BTreeMap;

use crate::affected::{self, Classified, Workspace};
use crate::plan::Step;

/// What a step depends on, for deciding what a change reruns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// fmt: the packages whose Rust sources (or rustfmt configuration) changed.
    RustSources,
    /// clippy: any file of any package.
    Workspace,
    /// unit tests: the affected packages.
    Tests,
    /// doctests: the affected packages that have a library.
    Doctests,
    /// The workflow linters: files under `.github/`.
    Workflows,
    /// The manifest validator: `crates/*/deploy/*.yaml`.
    Manifests,
    /// Anything else: always runs, never recorded.
    Uncached,
}

pub(super) fn scope(step: &Step) -> Scope {
    if !step.action.runs() {
        return Scope::Uncached;
    }
    match (step.name.as_str(), step.chain.as_deref()) {
        ("fmt", _) => Scope::RustSources,
        ("clippy", _) => Scope::Workspace,
        ("unit", _) => Scope::Tests,
        ("doctests", _) => Scope::Doctests,
        (_, Some("lint-ci")) => Scope::Workflows,
        (_, Some("lint-deploy")) => Scope::Manifests,
        _ => Scope::Uncached,
    }
}

/// What the changed files leave of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Selection {
    /// Nothing changed that it depends on.
    Untouched,
    /// It runs whole, for this reason.
    All(String),
    /// For these packages, for this reason.
    Packages(Vec<String>, String),
    /// Only packages without a library are affected (doctests).
    NoLibrary(String),
}

/// Up to three names, and how many more.
fn some_of(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    match names.len().saturating_sub(3) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What `changed` (relative paths) leaves of a step of `scope`.
pub(super) fn select(scope: Scope, ws: &Workspace, changed: &[String]) -> Selection {
    let sorted: Classified = ws.classify(changed.iter().map(String::as_str));
    if !sorted.global.is_empty() {
        return Selection::All(format!(
            "{} changed, outside every package",
            some_of(&sorted.global)
        ));
    }
    let by_package = &sorted.by_package;
    let files_where = |keep: fn(&str) -> bool| -> Vec<String> {
        by_package
            .values()
            .flatten()
            .filter(|f| keep(f))
            .cloned()
            .collect()
    };
    match scope {
        Scope::Uncached => Selection::All("not cached".to_string()),
        Scope::Workspace => match files_where(|_| true) {
            files if files.is_empty() => Selection::Untouched,
            files => Selection::All(format!("{} changed", some_of(&files))),
        },
        Scope::Workflows => match files_where(|f| f.starts_with(".github/")) {
            files if files.is_empty() => Selection::Untouched,
            files => Selection::All(format!("{} changed", some_of(&files))),
        },
        Scope::Manifests => match files_where(affected::is_deploy_manifest) {
            files if files.is_empty() => Selection::Untouched,
            files => Selection::All(format!("{} changed", some_of(&files))),
        },
        Scope::RustSources => {
            let packages: BTreeMap<String, Vec<String>> = by_package
                .iter()
                .map(|(p, files)| {
                    let rust: Vec<String> = files
                        .iter()
                        .filter(|f| is_rust_source(f))
                        .cloned()
                        .collect();
                    (p.clone(), rust)
                })
                .filter(|(_, files)| !files.is_empty())
                .collect();
            if packages.is_empty() {
                return Selection::Untouched;
            }
            let names: Vec<String> = packages.keys().cloned().collect();
            let files: Vec<String> = packages.into_values().flatten().collect();
            Selection::Packages(names, format!("{} changed", some_of(&files)))
        }
        Scope::Tests | Scope::Doctests => {
            let affected = ws.affected(by_package);
            if affected.is_empty() {
                return Selection::Untouched;
            }
            let why = affected::explain(&affected).join("; ");
            let mut names: Vec<String> = affected.into_keys().collect();
            if scope == Scope::Doctests {
                names.retain(|p| ws.has_lib(p));
                if names.is_empty() {
                    return Selection::NoLibrary(format!(
                        "no affected package has a library, so there are no doctests to run ({why})"
                    ));
                }
            }
            Selection::Packages(names, why)
        }
    }
}

fn is_rust_source(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    file.ends_with(".rs") || name == "rustfmt.toml" || name == ".rustfmt.toml"
}
