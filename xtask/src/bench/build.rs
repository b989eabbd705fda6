//! The trees a bench run measures, and building their bench binaries: this checkout, or
//! another revision checked out in a git worktree for the run, with a target directory of
//! its own that is kept (so a later comparison compiles only the workspace's own crates).

use std::path::PathBuf;

use anyhow::{Context, bail};
use cargo_metadata::Message;

use super::Versions;
use crate::plan::{Exec, StepIo};
use crate::project;

/// The package holding every case.
pub const PACKAGE: &str = "benches";

/// A tree to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    /// Its workspace root.
    pub root: PathBuf,
    /// Its own target directory; `None` for this checkout's.
    pub target_dir: Option<PathBuf>,
}

/// What a tree's build gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The bench binaries, one per area.
    pub benches: Vec<PathBuf>,
    /// The runner binary, for its own per-step case.
    pub xtask: PathBuf,
}

impl Tree {
    /// This checkout.
    pub fn this() -> Self {
        Tree {
            root: project::root().to_path_buf(),
            target_dir: None,
        }
    }

    /// A program run in this tree (with its target directory).
    fn exec(&self, program: &str, args: &[&str]) -> Exec {
        let mut exec = Exec {
            program: program.into(),
            args: args.iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: Some(self.root.clone()),
            mkdirs: Vec::new(),
        };
        if let Some(dir) = &self.target_dir {
            exec = exec.env("CARGO_TARGET_DIR", dir);
        }
        exec
    }

    /// Its commit, short, with `+dirty` when files differ from it.
    pub fn rev(&self) -> String {
        let out = |args: &[&str]| {
            self.exec("git", args)
                .to_command()
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let rev = out(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        match out(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{rev}+dirty"),
            _ => rev,
        }
    }

    /// The compiler (as this tree's toolchain file, if any, chooses it) and valgrind.
    ///
    /// # Errors
    /// Either tool cannot be run.
    pub fn versions(&self) -> anyhow::Result<Versions> {
        let version = |program: &str, arg: &str| -> anyhow::Result<String> {
            let out = self
                .exec(program, &[arg])
                .to_command()
                .output()
                .with_context(|| format!("running `{program} {arg}`"))?;
            if !out.status.success() {
                bail!(
                    "`{program} {arg}` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        Ok(Versions {
            toolchain: version("rustc", "-V")?,
            valgrind: version("valgrind", "--version")?,
        })
    }

    /// Builds the bench binaries (output streamed to the step) and, for another tree, its
    /// runner; this checkout's runner is the one running.
    ///
    /// # Errors
    /// The tree has no bench cases, or a build fails.
    pub fn build(&self, io: &mut dyn StepIo) -> anyhow::Result<Built> {
        if !self
            .root
            .join("crates")
            .join(PACKAGE)
            .join("Cargo.toml")
            .is_file()
        {
            bail!(
                "{} has no crates/{PACKAGE}: the revision predates `cargo xtask bench`; compare \
                 with one that has its cases (--compare REV)",
                self.root.display()
            );
        }
        let build = ["bench", "--no-run", "--locked", "-p", PACKAGE];
        io.run(&self.exec("cargo", &build))
            .context("building the bench binaries")?;
        // The same build again only reports its artifacts (nothing is compiled twice).
        let json = self
            .exec(
                "cargo",
                &[&build[..], &["--message-format=json-render-diagnostics"]].concat(),
            )
            .to_command()
            .output()
            .context("asking cargo for the bench binaries")?;
        if !json.status.success() {
            bail!(
                "cargo bench --no-run --message-format=json failed: {}",
                String::from_utf8_lossy(&json.stderr)
            );
        }
        let benches = bench_executables(&json.stdout)?;
        if benches.is_empty() {
            bail!("cargo built no bench binary of {PACKAGE}");
        }
        io.run(&self.exec("cargo", &["build", "--locked", "-p", "xtask"]))
            .context("building the runner")?;
        let built = self
            .target_dir
            .clone()
            .unwrap_or_else(|| crate::project::target_dir().to_path_buf())
            .join("debug")
            .join("xtask");
        // A copy of its own: a later build in the same target directory (the unit tests'
        // feature set) replaces `debug/xtask`, and the measured binary must not vanish.
        let xtask = crate::project::xtask_dir()
            .join("bench")
            .join(if self.target_dir.is_some() {
                "xtask-reference"
            } else {
                "xtask-this-tree"
            });
        if let Some(dir) = xtask.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::copy(&built, &xtask)
            .with_context(|| format!("copying {} to {}", built.display(), xtask.display()))?;
        Ok(Built { benches, xtask })
    }
}

/// The executables of bench targets in cargo's JSON messages.
fn bench_executables(json: &[u8]) -> anyhow::Result<Vec<PathBuf>> {
    let mut benches = Vec::new();
    for message in Message::parse_stream(json) {
        let Message::CompilerArtifact(artifact) = message.context("reading cargo's output")? else {
            continue;
        };
        let is_bench = artifact
            .target
            .kind
            .iter()
            .any(|k| k.to_string() == "bench");
        if let (true, Some(executable)) = (is_bench, artifact.executable) {
            benches.push(executable.into_std_path_buf());
        }
    }
    benches.sort();
    Ok(benches)
}

/// Where the other revision is checked out, and its target directory.
fn worktree_dirs() -> (PathBuf, PathBuf) {
    let dir = super::run_dir();
    (dir.join("worktree"), dir.join("worktree-target"))
}

/// Checks out `rev` in the bench worktree (replacing what was there).
///
/// # Errors
/// `rev` names no commit, or git fails.
pub fn worktree(io: &mut dyn StepIo, rev: &str) -> anyhow::Result<Tree> {
    let (dir, target) = worktree_dirs();
    let this = Tree::this();
    if dir.exists() {
        io.run(&this.exec(
            "git",
            &["worktree", "remove", "--force", &dir.to_string_lossy()],
        ))
        .or_else(|_| std::fs::remove_dir_all(&dir).context("removing the old worktree"))?;
    }
    // `--force` also takes over the path when its directory was deleted by hand (a
    // `cargo clean`) but git still lists it; no prune, which would touch other worktrees'
    // records.
    io.run(&this.exec(
        "git",
        &[
            "worktree",
            "add",
            "--detach",
            "--force",
            &dir.to_string_lossy(),
            rev,
        ],
    ))
    .with_context(|| format!("checking out `{rev}` in a worktree"))?;
    Ok(Tree {
        root: dir,
        target_dir: Some(target),
    })
}

/// Removes the bench worktree, so git's list of worktrees does not keep it; its target
/// directory stays, so the next comparison rebuilds only the workspace's own crates.
///
/// # Errors
/// git cannot remove it.
pub fn remove_worktree(io: &mut dyn StepIo) -> anyhow::Result<()> {
    let (dir, _) = worktree_dirs();
    io.run(&Tree::this().exec(
        "git",
        &["worktree", "remove", "--force", &dir.to_string_lossy()],
    ))
    .context("removing the bench worktree")
}

/// The commit this checkout branched from: the merge-base of `HEAD` and the branch it will
/// merge into (`origin/$GITHUB_BASE_REF` in a pull request, else `origin/main` or `main`).
///
/// # Errors
/// None of those branches exists.
pub fn merge_base() -> anyhow::Result<String> {
    let this = Tree::this();
    let mut candidates = Vec::new();
    if let Ok(base) = std::env::var("GITHUB_BASE_REF")
        && !base.is_empty()
    {
        candidates.push(format!("origin/{base}"));
    }
    candidates.extend(["origin/main".to_string(), "main".to_string()]);
    for branch in &candidates {
        let out = this
            .exec("git", &["merge-base", "HEAD", branch])
            .to_command()
            .output()
            .context("running git merge-base")?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }
    bail!(
        "no merge-base of HEAD with any of {}; pass the revision to compare with: --compare REV",
        candidates.join(", ")
    )
}

/// Whether `rev` is the commit this checkout is at, with no local changes.
pub fn is_this_checkout(rev: &str) -> bool {
    let this = Tree::this();
    let head = this
        .exec("git", &["rev-parse", "HEAD"])
        .to_command()
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    head.as_deref() == Some(rev) && !this.rev().ends_with("+dirty")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bench_targets_are_measured() {
        let lib = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/benches#0.1.0","manifest_path":"/w/crates/benches/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"benches","src_path":"/w/crates/benches/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/w/target/release/deps/libbenches.rlib"],"executable":null,"fresh":true}"#;
        let bench = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/benches#0.1.0","manifest_path":"/w/crates/benches/Cargo.toml","target":{"kind":["bench"],"crate_types":["bin"],"name":"nri","src_path":"/w/crates/benches/benches/nri.rs","edition":"2024","doc":false,"doctest":false,"test":false},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":true},"features":[],"filenames":["/w/target/release/deps/nri-8648"],"executable":"/w/target/release/deps/nri-8648","fresh":true}"#;
        let done = r#"{"reason":"build-finished","success":true}"#;
        let json = format!("{lib}\n{bench}\n{done}\n");
        assert_eq!(
            bench_executables(json.as_bytes()).expect("cargo's messages"),
            [PathBuf::from("/w/target/release/deps/nri-8648")]
        );
    }
}
