//! The result cache of `ci fast`: what a step's result depends on, fingerprinted, and the
//! record of its last green run in this checkout.
//!
//! A step's result depends on its [`Key`] (its own command line, the toolchain's version,
//! the environment variables that change a build, the tools it runs) and on the contents of
//! the checkout's files ([`Snapshot`]: every tracked and untracked, not ignored file, hashed,
//! plus the user's cargo, nextest and rustfmt configuration). A [`Record`] keeps both for a
//! step that passed; the next run compares them with the present ones and reruns only what
//! a difference can affect (`crate::incremental` decides that).
//!
//! Records live under `<target>/xtask/results/<checkout>/`, one directory per checkout
//! root path: clones sharing one `CARGO_TARGET_DIR` each have their own green runs.
//!
//! Hashes are of file contents. A file's hash is reused from the last snapshot without
//! reading it only when its size, inode, mtime and ctime are the same and its ctime was at
//! least [`RACY_MARGIN`] older than the moment that snapshot was hashed: a write after that
//! moment would have moved its ctime, which no user can set back.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// How much older than its hashing a file's ctime must be for its hash to be reused
/// without reading the file (coarse file-system timestamps are 1-2 s).
pub const RACY_MARGIN: Duration = Duration::from_secs(2);

/// The hash of a deleted file (a tracked file missing from the working tree).
const DELETED: &str = "deleted";

/// Bumped when the meaning of a record changes, so older records are not trusted.
const FORMAT: u32 = 1;

/// 128-bit FNV-1a of `bytes`, as 32 hex digits.
pub fn hash(bytes: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    for &b in bytes {
        h = (h ^ u128::from(b)).wrapping_mul(PRIME);
    }
    format!("{h:032x}")
}

/// What a file looked like when it was hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// The content hash, or `deleted`.
    pub hash: String,
    /// Size, inode, mtime and ctime (ns), for reusing the hash without reading the file.
    pub stat: [i64; 4],
}

/// The contents of a checkout's files at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Path relative to the root (`/`-separated; files outside the checkout start with
    /// `~`) to its state.
    pub files: BTreeMap<String, FileState>,
    /// When hashing began, in ns since the epoch.
    pub hashed_at: i128,
}

impl Snapshot {
    /// Hashes every file git lists in the checkout at `root` (tracked, and untracked but not
    /// ignored: uncommitted work counts) plus `extra` files outside it, reusing `known`
    /// hashes where that is safe (see the module doc).
    ///
    /// # Errors
    /// git is missing or `root` is no git checkout.
    pub fn take(
        root: &Path,
        extra: &[(String, PathBuf)],
        known: &Snapshot,
    ) -> anyhow::Result<Self> {
        let listed = std::process::Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(root)
            .output()
            .with_context(|| format!("running git ls-files in {}", root.display()))?;
        anyhow::ensure!(
            listed.status.success(),
            "git ls-files failed in {} ({}): is it a git checkout?",
            root.display(),
            String::from_utf8_lossy(&listed.stderr).trim()
        );
        let mut paths: Vec<(String, PathBuf)> = listed
            .stdout
            .split(|&b| b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let name = String::from_utf8_lossy(f).into_owned();
                let path = root.join(&name);
                (name, path)
            })
            .collect();
        paths.extend(extra.iter().cloned());
        Ok(Self::of(paths, known))
    }

    /// Hashes the given files (name, path), reusing `known` hashes where safe.
    pub fn of(paths: impl IntoIterator<Item = (String, PathBuf)>, known: &Snapshot) -> Self {
        let hashed_at = now_ns();
        let files = paths
            .into_iter()
            .map(|(name, path)| {
                let state = file_state(&path, known.reusable(&name));
                (name, state)
            })
            .collect();
        Snapshot { files, hashed_at }
    }

    /// The hash of `name` from this snapshot, if it may be trusted for a file that still has
    /// the same stat (see the module doc).
    fn reusable(&self, name: &str) -> Option<&FileState> {
        let state = self.files.get(name)?;
        let ctime = i128::from(state.stat[3]);
        (ctime + RACY_MARGIN.as_nanos() as i128 <= self.hashed_at).then_some(state)
    }

    /// The files whose contents differ from `old`'s (added, removed or changed), sorted.
    pub fn changed_since(&self, old: &BTreeMap<String, String>) -> Vec<String> {
        let mut changed: Vec<String> = self
            .files
            .iter()
            .filter(|(name, state)| old.get(*name) != Some(&state.hash))
            .map(|(name, _)| name.clone())
            .collect();
        changed.extend(
            old.keys()
                .filter(|name| !self.files.contains_key(*name))
                .cloned(),
        );
        changed.sort();
        changed
    }

    /// Path to content hash, as records keep it.
    pub fn hashes(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|(name, state)| (name.clone(), state.hash.clone()))
            .collect()
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// A file's state: its stat, and its hash (reused from `known` when the stat matches).
fn file_state(path: &Path, known: Option<&FileState>) -> FileState {
    let Ok(meta) = std::fs::metadata(path) else {
        return FileState {
            hash: DELETED.to_string(),
            stat: [0; 4],
        };
    };
    let stat = [
        meta.size() as i64,
        meta.ino() as i64,
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
    ];
    if let Some(known) = known.filter(|k| k.stat == stat) {
        return known.clone();
    }
    let hash = match std::fs::read(path) {
        Ok(bytes) => hash(&bytes),
        // Unreadable now (no content hashes to this): a change to a readable file and back
        // both count; the step that reads it will say what is wrong with it.
        Err(err) => format!("unreadable: {}", err.kind()),
    };
    FileState { hash, stat }
}

/// What a step's result depends on besides the files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// The step's command line (or a task's description), colour options left out.
    pub command: String,
    /// `rustc -vV`.
    pub toolchain: String,
    /// The environment variables that change a build or a test run.
    pub env: BTreeMap<String, String>,
    /// The programs the step runs: path, size and mtime of each.
    pub tools: BTreeMap<String, String>,
}

impl Key {
    /// What differs from `old`, in words (`RUSTFLAGS changed`), or `None` when nothing does.
    pub fn difference(&self, old: &Key) -> Option<String> {
        if self.command != old.command {
            return Some("its command line changed".to_string());
        }
        if self.toolchain != old.toolchain {
            let release = |t: &str| t.lines().next().unwrap_or_default().to_string();
            return Some(format!(
                "the toolchain changed ({} -> {})",
                release(&old.toolchain),
                release(&self.toolchain)
            ));
        }
        let names: std::collections::BTreeSet<&String> =
            self.env.keys().chain(old.env.keys()).collect();
        let env: Vec<&str> = names
            .into_iter()
            .filter(|name| self.env.get(*name) != old.env.get(*name))
            .map(String::as_str)
            .collect();
        if !env.is_empty() {
            return Some(format!("{} changed", env.join(", ")));
        }
        if self.tools != old.tools {
            let names: std::collections::BTreeSet<&String> =
                self.tools.keys().chain(old.tools.keys()).collect();
            let tools: Vec<&str> = names
                .into_iter()
                .filter(|t| self.tools.get(*t) != old.tools.get(*t))
                .map(String::as_str)
                .collect();
            return Some(format!("{} changed", tools.join(", ")));
        }
        None
    }
}

/// Whether an environment variable can change what a step builds or how its tests run.
/// Everything cargo, rustc, rustdoc, nextest, the tests and build scripts read by prefix,
/// less what cargo sets for the runner itself and what only colours output.
pub fn is_relevant_env(name: &str) -> bool {
    const PREFIXES: &[&str] = &["CARGO", "RUST", "NEXTEST", "XTASK"];
    const NAMES: &[&str] = &[
        "CC",
        "CXX",
        "AR",
        "CFLAGS",
        "CXXFLAGS",
        "LDFLAGS",
        "PKG_CONFIG_PATH",
        "PROTOC",
        "TMPDIR",
    ];
    // Set by `cargo run` and rustup for the runner, identical for every run of one checkout
    // through cargo but absent when the binary runs directly, or counting how deeply
    // `cargo xtask` is nested; the toolchain is in the key. (`cargo run` also prepends its
    // library directories to LD_LIBRARY_PATH once per nesting, so that is not kept either.)
    const IGNORED: &[&str] = &[
        "CARGO",
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "RUST_RECURSION_COUNT",
    ];
    const IGNORED_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_TERM_", "RUSTUP_"];
    if IGNORED.contains(&name) || IGNORED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return false;
    }
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The relevant variables of this process's environment.
pub fn relevant_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| is_relevant_env(k))
        .collect()
}

/// `rustc -vV`, or why it could not be asked (a value no toolchain prints, so a record
/// made with it never matches one made with a working toolchain).
pub fn toolchain() -> String {
    match std::process::Command::new("rustc").arg("-vV").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => format!("rustc -vV failed: {}", out.status),
        Err(err) => format!("rustc -vV did not start: {err}"),
    }
}

/// `program` as found on `PATH`: its path, size and mtime (`missing` when not found).
pub fn tool_identity(program: &str) -> String {
    let Ok(path) = which::which(program) else {
        return "missing".to_string();
    };
    match std::fs::metadata(&path) {
        Ok(meta) => format!(
            "{} {} {}.{}",
            path.display(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec()
        ),
        Err(_) => format!("{} unreadable", path.display()),
    }
}

/// The user's configuration files that change a build, a test run or formatting, named for
/// the snapshot (`~cargo/config.toml`): outside every package, so a change reruns all.
pub fn user_config_files() -> Vec<(String, PathBuf)> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".cargo")));
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files = Vec::new();
    if let Some(dir) = cargo_home {
        for name in ["config", "config.toml"] {
            files.push((format!("~cargo/{name}"), dir.join(name)));
        }
    }
    if let Some(dir) = config {
        for name in [
            "nextest/config.toml",
            "rustfmt/rustfmt.toml",
            "rustfmt/.rustfmt.toml",
        ] {
            files.push((format!("~config/{name}"), dir.join(name)));
        }
    }
    files
}

/// A step's last green run: its key, the file hashes it passed with, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// What the result depended on besides files.
    pub key: Key,
    /// Path to content hash of every file at the time the step was planned.
    pub files: BTreeMap<String, String>,
    /// When the step finished, in seconds since the epoch.
    pub at: u64,
}

/// The records of one checkout.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The records of the checkout at `root`, kept under `xtask_dir`.
    pub fn for_checkout(xtask_dir: &Path, root: &Path) -> Self {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = &hash(root.as_os_str().as_encoded_bytes())[..16];
        Store {
            dir: xtask_dir.join("results").join(format!("{name}-{id}")),
        }
    }

    /// Where the records are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, step: &str) -> PathBuf {
        let file: String = step
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{file}.json"))
    }

    /// The last green run of `step`, if one is recorded and readable in this format.
    pub fn read(&self, step: &str) -> Option<Record> {
        let text = std::fs::read_to_string(self.path(step)).ok()?;
        serde_json::from_str::<Record>(&text)
            .ok()
            .filter(|r| r.format == FORMAT)
    }

    /// Records a green run of `step`.
    ///
    /// # Errors
    /// The record cannot be written.
    pub fn write(
        &self,
        step: &str,
        key: &Key,
        files: BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let record = Record {
            format: FORMAT,
            key: key.clone(),
            files,
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let path = self.path(step);
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string(&record).context("serialising a result record")?;
        // Written aside and renamed, so a reader never sees half a record.
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// The stat cache: the last snapshot taken, for reusing hashes.
    pub fn read_snapshot(&self) -> Snapshot {
        std::fs::read_to_string(self.dir.join("snapshot.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Keeps `snapshot` for the next run's hashing.
    ///
    /// # Errors
    /// It cannot be written.
    pub fn write_snapshot(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.dir.join("snapshot.json");
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string(snapshot).context("serialising a snapshot")?;
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))
    }
}

/// `3 min ago`, `12 s ago`, `2 h ago`, `4 days ago`: how long ago `at` (epoch seconds) was.
pub fn ago(at: u64, now: SystemTime) -> String {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(at);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> (String, PathBuf) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("writing a fixture file");
        (name.to_string(), path)
    }

    #[test]
    fn the_hash_is_of_the_contents() {
        assert_eq!(hash(b"abc"), hash(b"abc"));
        assert_ne!(hash(b"abc"), hash(b"abd"));
        assert_ne!(hash(b""), hash(b"\0"));
        assert_eq!(hash(b"").len(), 32);
    }

    #[test]
    fn a_changed_added_or_removed_file_is_a_change_and_a_touch_is_not() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let a = write(dir.path(), "a.rs", "fn a() {}\n");
        let b = write(dir.path(), "b.rs", "fn b() {}\n");
        let before = Snapshot::of([a.clone(), b.clone()], &Snapshot::default());
        // Same contents, new mtime: not a change.
        write(dir.path(), "a.rs", "fn a() {}\n");
        let touched = Snapshot::of([a.clone(), b.clone()], &before);
        assert_eq!(
            touched.changed_since(&before.hashes()),
            Vec::<String>::new()
        );
        write(dir.path(), "b.rs", "fn b() { 1; }\n");
        let c = write(dir.path(), "c.rs", "");
        let after = Snapshot::of([b, c], &touched);
        assert_eq!(
            after.changed_since(&before.hashes()),
            ["a.rs", "b.rs", "c.rs"]
        );
    }

    #[test]
    fn a_deleted_file_is_a_change() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let a = write(dir.path(), "a.rs", "x");
        let before = Snapshot::of([a.clone()], &Snapshot::default());
        std::fs::remove_file(&a.1).expect("deleting");
        let after = Snapshot::of([a], &before);
        assert_eq!(after.files["a.rs"].hash, DELETED);
        assert_eq!(after.changed_since(&before.hashes()), ["a.rs"]);
    }

    #[test]
    fn a_hash_is_reused_only_for_an_unchanged_stat_older_than_its_hashing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let a = write(dir.path(), "a.rs", "real");
        let stat = file_state(&a.1, None).stat;
        let planted = |hashed_at: i128| Snapshot {
            files: BTreeMap::from([(
                "a.rs".to_string(),
                FileState {
                    hash: "planted".to_string(),
                    stat,
                },
            )]),
            hashed_at,
        };
        // Hashed long after the file's last change: the stat is trusted.
        let old = planted(i128::from(stat[3]) + 10_000_000_000);
        assert_eq!(
            Snapshot::of([a.clone()], &old).files["a.rs"].hash,
            "planted"
        );
        // Hashed within the margin of its change: a write right after could keep the stat.
        let racy = planted(i128::from(stat[3]) + 500_000_000);
        assert_eq!(
            Snapshot::of([a.clone()], &racy).files["a.rs"].hash,
            hash(b"real")
        );
        // Another size: read again.
        write(dir.path(), "a.rs", "longer");
        assert_eq!(Snapshot::of([a], &old).files["a.rs"].hash, hash(b"longer"));
    }

    #[test]
    fn a_git_snapshot_counts_untracked_files_and_leaves_ignored_ones_out() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("git runs")
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        write(dir.path(), ".gitignore", "target/\n");
        write(dir.path(), "tracked.rs", "");
        git(&["add", "."]);
        write(dir.path(), "untracked.rs", "");
        write(dir.path(), "target/ignored.rs", "");
        let home = tempfile::tempdir().expect("a directory outside the checkout");
        let outside = write(home.path(), "config.toml", "");
        let extra = [("~cargo/config.toml".to_string(), outside.1)];
        let snapshot =
            Snapshot::take(dir.path(), &extra, &Snapshot::default()).expect("a snapshot");
        let names: Vec<&str> = snapshot.files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                ".gitignore",
                "tracked.rs",
                "untracked.rs",
                "~cargo/config.toml"
            ]
        );
    }

    #[test]
    fn outside_git_there_is_no_snapshot() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let err = Snapshot::take(dir.path(), &[], &Snapshot::default()).expect_err("no git");
        assert!(format!("{err:#}").contains("git checkout"), "{err:#}");
    }

    fn key() -> Key {
        Key {
            command: "cargo clippy".to_string(),
            toolchain: "rustc 1.95.0 (59807616e 2026-04-14)\nrelease: 1.95.0\n".to_string(),
            env: BTreeMap::from([("RUSTFLAGS".to_string(), String::new())]),
            tools: BTreeMap::from([("cargo".to_string(), "/bin/cargo 1 2.3".to_string())]),
        }
    }

    #[test]
    fn every_part_of_the_key_counts() {
        let old = key();
        assert_eq!(key().difference(&old), None);
        let mut k = key();
        k.command.push_str(" --all");
        assert_eq!(
            k.difference(&old).as_deref(),
            Some("its command line changed")
        );
        let mut k = key();
        k.toolchain = "rustc 1.96.0 (aaaa 2026-05-01)\n".to_string();
        assert_eq!(
            k.difference(&old).as_deref(),
            Some(
                "the toolchain changed (rustc 1.95.0 (59807616e 2026-04-14) -> rustc 1.96.0 (aaaa 2026-05-01))"
            )
        );
        let mut k = key();
        k.env
            .insert("RUSTFLAGS".to_string(), "-Cdebuginfo=0".to_string());
        k.env
            .insert("CARGO_BUILD_JOBS".to_string(), "1".to_string());
        assert_eq!(
            k.difference(&old).as_deref(),
            Some("CARGO_BUILD_JOBS, RUSTFLAGS changed")
        );
        let mut k = key();
        k.tools
            .insert("cargo".to_string(), "/bin/cargo 1 9.9".to_string());
        assert_eq!(k.difference(&old).as_deref(), Some("cargo changed"));
    }

    #[test]
    fn build_variables_count_and_the_runners_own_do_not() {
        for name in [
            "RUSTFLAGS",
            "RUSTDOCFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_PROFILE_DEV_OPT_LEVEL",
            "RUSTC_WRAPPER",
            "NEXTEST_PROFILE",
            "CC",
        ] {
            assert!(is_relevant_env(name), "{name}");
        }
        for name in [
            "CARGO_TERM_COLOR",
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "RUSTUP_TOOLCHAIN",
            "RUST_RECURSION_COUNT",
            "LD_LIBRARY_PATH",
            "PATH",
            "HOME",
            "TERM",
        ] {
            assert!(!is_relevant_env(name), "{name}");
        }
    }

    #[test]
    fn records_are_kept_per_checkout_root() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let a = Store::for_checkout(dir.path(), Path::new("/src/a/repo"));
        let b = Store::for_checkout(dir.path(), Path::new("/src/b/repo"));
        assert_ne!(a.dir(), b.dir());
        let files = BTreeMap::from([("x.rs".to_string(), hash(b"x"))]);
        a.write("lint-ci: tools", &key(), files.clone())
            .expect("a record");
        let record = a.read("lint-ci: tools").expect("read back");
        assert_eq!((record.key, record.files), (key(), files));
        assert_eq!(b.read("lint-ci: tools"), None);
        assert_eq!(a.read("clippy"), None);
    }

    #[test]
    fn ages_read_like_a_person_says_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(ago(1_000_000 - 12, now), "12 s ago");
        assert_eq!(ago(1_000_000 - 200, now), "3 min ago");
        assert_eq!(ago(1_000_000 - 7300, now), "2 h ago");
        assert_eq!(ago(1_000_000 - 3 * 86_400, now), "3 days ago");
    }
}
