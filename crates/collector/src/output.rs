//! [`Output`]: the files rows go to. Each round is appended to a synced spool and to a
//! Parquet file in progress; on rotation (size, age, or on request) the Parquet file is
//! completed under its final name and the spool removed. A spool left by a run that died
//! is turned into its Parquet file when the next run opens the directory.
//!
//! # Names
//!
//! A complete file is `<prefix><node>-<UTC yyyymmddThhmmssZ>-<8 hex>.parquet` (the time
//! the file was started). While it is written, the directory holds
//! `.<that name>.partial` and its spool `.<that name>.spool`; neither ends in
//! `.parquet`, and both are hidden, so readers that list `*.parquet` see complete files
//! only.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::file::metadata::KeyValue;

use crate::error::{Error, Result};
use crate::parquet_file::{DEFAULT_ROW_GROUP_ROWS, ParquetFile, sync_dir};
use crate::schema::{self, META_RECOVERED, META_SKIPPED_TICKS};
use crate::spool::{Spool, read_spool};

/// Default [`OutputConfig::max_file_bytes`]: 256 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Default [`OutputConfig::max_file_age`]: 10 minutes.
pub const DEFAULT_MAX_FILE_AGE: Duration = Duration::from_secs(600);

const SPOOL_SUFFIX: &str = ".spool";
const PARTIAL_SUFFIX: &str = ".partial";
const PARQUET_SUFFIX: &str = ".parquet";

/// Where and how files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// The directory (created if missing).
    pub dir: PathBuf,
    /// Prefix of every file name (may be empty).
    pub prefix: String,
    /// The node name: in every file name and row.
    pub node: String,
    /// The sampling interval, recorded in each file's metadata.
    pub interval: Duration,
    /// A file is completed once it reaches this size (estimated while it is written).
    pub max_file_bytes: u64,
    /// A file is completed once it is this old.
    pub max_file_age: Duration,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl OutputConfig {
    /// The defaults, for `node` writing to `dir` with `interval`.
    pub fn new(dir: impl Into<PathBuf>, node: impl Into<String>, interval: Duration) -> Self {
        OutputConfig {
            dir: dir.into(),
            prefix: String::new(),
            node: node.into(),
            interval,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_age: DEFAULT_MAX_FILE_AGE,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
        }
    }

    /// Checks the values that end up in file names.
    ///
    /// Fails with [`Error::InvalidConfig`].
    pub fn validate(&self) -> Result<()> {
        let name_safe = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if self.node.is_empty() || !name_safe(&self.node) || self.node.starts_with('.') {
            return Err(Error::InvalidConfig {
                name: "--node",
                value: self.node.clone(),
                expected: "a non-empty name of [A-Za-z0-9._-] not starting with '.' (it is part of file names)",
            });
        }
        if !name_safe(&self.prefix) || self.prefix.starts_with('.') {
            return Err(Error::InvalidConfig {
                name: "--file-prefix",
                value: self.prefix.clone(),
                expected: "only [A-Za-z0-9._-], not starting with '.'",
            });
        }
        if self.max_file_bytes == 0 {
            return Err(Error::InvalidConfig {
                name: "--max-file-size",
                value: "0".into(),
                expected: "at least 1 byte",
            });
        }
        if self.max_file_age.is_zero() {
            return Err(Error::InvalidConfig {
                name: "--max-file-age",
                value: "0s".into(),
                expected: "longer than zero",
            });
        }
        Ok(())
    }

    fn interval_ns(&self) -> i64 {
        i64::try_from(self.interval.as_nanos()).unwrap_or(i64::MAX)
    }

    /// The start of this collector's file names: `<prefix><node>-`.
    fn stem_prefix(&self) -> String {
        format!("{}{}-", self.prefix, self.node)
    }
}

/// What opening the directory recovered from a previous run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Parquet files rebuilt from spools.
    pub files: Vec<PathBuf>,
    /// Rows in them.
    pub rows: usize,
    /// Spools whose last round was cut (and dropped).
    pub truncated_spools: usize,
}

/// The file being written.
#[derive(Debug)]
struct Segment {
    final_path: PathBuf,
    spool: Spool,
    parquet: ParquetFile,
    opened_ns: i64,
    skipped_ticks: u64,
}

/// The output directory and the file being written.
///
/// Each round is appended to a synced spool and to a Parquet file in progress; on
/// rotation (size, age, or [`Output::rotate`]) the Parquet file is completed under its
/// final name and the spool removed. A spool left by a run that died is turned into its
/// Parquet file when the next run opens the directory ([`Output::open`]).
///
/// A complete file is `<prefix><node>-<UTC yyyymmddThhmmssZ>-<8 hex>.parquet` (the time
/// the file was started). While it is written, the directory holds
/// `.<that name>.partial` and its spool `.<that name>.spool`; neither ends in
/// `.parquet`, and both are hidden, so readers that list `*.parquet` see complete files
/// only.
///
/// # Concurrency
///
/// One owner (`&mut self`); two collectors must not share a node name in one directory.
#[derive(Debug)]
pub struct Output {
    config: OutputConfig,
    schema: SchemaRef,
    current: Option<Segment>,
    completed: Vec<PathBuf>,
}

impl Output {
    /// Opens `config.dir` (creating it), checks that it can be written, and recovers
    /// what a previous run of this node and prefix left: spools become Parquet files,
    /// temporary files are removed.
    ///
    /// Fails with [`Error::InvalidConfig`], [`Error::OutputDir`] if the directory cannot
    /// be created or written, or the error of a recovery step.
    pub fn open(config: OutputConfig) -> Result<(Self, Recovery)> {
        config.validate()?;
        let dir_error = |source| Error::OutputDir {
            dir: config.dir.clone(),
            source,
        };
        fs::create_dir_all(&config.dir).map_err(dir_error)?;
        let probe = config
            .dir
            .join(format!(".{}probe-{}", config.stem_prefix(), random_hex()));
        fs::write(&probe, b"").map_err(dir_error)?;
        fs::remove_file(&probe).map_err(dir_error)?;
        let schema = schema::schema(&config.node, config.interval_ns());
        let mut output = Output {
            config,
            schema,
            current: None,
            completed: Vec::new(),
        };
        let recovery = output.recover()?;
        Ok((output, recovery))
    }

    /// The rows' schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The configuration.
    pub fn config(&self) -> &OutputConfig {
        &self.config
    }

    /// Every file completed by this `Output` (recovered ones included), oldest first.
    pub fn completed(&self) -> &[PathBuf] {
        &self.completed
    }

    /// Appends one round's rows (`now_ns`: when, for a new file's name and its age),
    /// synced to the spool before returning; then completes the file if it reached its
    /// size or age. Returns the completed file, if any.
    ///
    /// Fails with the error of the spool or the Parquet writer.
    pub fn write(&mut self, batch: &RecordBatch, now_ns: i64) -> Result<Option<PathBuf>> {
        if self.current.is_none() {
            self.current = Some(self.start_segment(now_ns)?);
        }
        let segment = self.current.as_mut().expect("a segment was just started");
        segment.spool.append(batch)?;
        segment.parquet.write(batch)?;
        let full = segment.parquet.estimated_size() >= self.config.max_file_bytes;
        if full || self.is_old(now_ns) {
            return self.rotate();
        }
        Ok(None)
    }

    /// Completes the file if it is older than the maximum age (call it each tick, so a
    /// file ages out even when a round wrote nothing).
    pub fn rotate_if_old(&mut self, now_ns: i64) -> Result<Option<PathBuf>> {
        if self.is_old(now_ns) {
            self.rotate()
        } else {
            Ok(None)
        }
    }

    fn is_old(&self, now_ns: i64) -> bool {
        let age = i64::try_from(self.config.max_file_age.as_nanos()).unwrap_or(i64::MAX);
        self.current
            .as_ref()
            .is_some_and(|s| now_ns.saturating_sub(s.opened_ns) >= age)
    }

    /// Counts ticks a slow round skipped, into the current file's metadata.
    pub fn add_skipped_ticks(&mut self, skipped: u64) {
        if let Some(segment) = &mut self.current {
            segment.skipped_ticks += skipped;
        }
    }

    /// Completes the current file now (e.g. on SIGUSR1); the next write starts a new
    /// one. Returns the completed file, or `None` if none was open.
    ///
    /// Fails with the Parquet writer's or the file system's error; the spool then stays,
    /// so the next start recovers the rows.
    pub fn rotate(&mut self) -> Result<Option<PathBuf>> {
        let Some(segment) = self.current.take() else {
            return Ok(None);
        };
        let skipped = KeyValue::new(
            META_SKIPPED_TICKS.to_owned(),
            segment.skipped_ticks.to_string(),
        );
        let spool_path = segment.spool.path().to_path_buf();
        drop(segment.spool);
        let done = segment.parquet.finish(vec![skipped], &segment.final_path)?;
        remove(&spool_path)?;
        sync_dir(&self.config.dir)?;
        tracing::info!(file = %done.display(), "completed an output file");
        self.completed.push(done.clone());
        Ok(Some(done))
    }

    /// Completes the current file (see [`Self::rotate`]) and closes the output.
    pub fn close(mut self) -> Result<Option<PathBuf>> {
        self.rotate()
    }

    fn start_segment(&self, now_ns: i64) -> Result<Segment> {
        let name = self.file_name(now_ns);
        let final_path = self.config.dir.join(&name);
        let spool = Spool::create(
            &self.config.dir.join(format!(".{name}{SPOOL_SUFFIX}")),
            &self.schema,
        )?;
        let parquet = ParquetFile::create(
            &self.config.dir.join(format!(".{name}{PARTIAL_SUFFIX}")),
            &self.schema,
            self.config.row_group_rows,
        )?;
        sync_dir(&self.config.dir)?;
        Ok(Segment {
            final_path,
            spool,
            parquet,
            opened_ns: now_ns,
            skipped_ticks: 0,
        })
    }

    /// `<prefix><node>-<yyyymmddThhmmssZ>-<8 hex>.parquet`.
    fn file_name(&self, now_ns: i64) -> String {
        format!(
            "{}{}-{}{PARQUET_SUFFIX}",
            self.config.stem_prefix(),
            utc_stamp(now_ns),
            random_hex()
        )
    }

    /// Turns this node's leftover spools into Parquet files and removes leftover
    /// temporary files.
    fn recover(&mut self) -> Result<Recovery> {
        let mut recovery = Recovery::default();
        let ours = format!(".{}", self.config.stem_prefix());
        let entries = fs::read_dir(&self.config.dir).map_err(|source| Error::OutputDir {
            dir: self.config.dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&ours))
            .collect();
        names.sort();
        for name in &names {
            if let Some(stem) = name.strip_suffix(PARTIAL_SUFFIX) {
                // Rebuilt from its spool below, if there is one.
                tracing::debug!(file = stem, "removing an incomplete Parquet file");
                remove(&self.config.dir.join(name))?;
            }
        }
        for name in &names {
            let Some(final_name) = name
                .strip_suffix(SPOOL_SUFFIX)
                .and_then(|n| n.strip_prefix('.'))
            else {
                continue;
            };
            let spool = self.config.dir.join(name);
            let final_path = self.config.dir.join(final_name);
            if final_path.exists() {
                // The run died between completing the file and removing its spool.
                remove(&spool)?;
                continue;
            }
            if let Some(done) = self.rebuild(&spool, &final_path, &mut recovery)? {
                recovery.files.push(done.clone());
                self.completed.push(done);
            }
            remove(&spool)?;
        }
        sync_dir(&self.config.dir)?;
        Ok(recovery)
    }

    /// One spool to its Parquet file; `None` if it holds no complete round.
    fn rebuild(
        &self,
        spool: &Path,
        final_path: &Path,
        recovery: &mut Recovery,
    ) -> Result<Option<PathBuf>> {
        let temp = self.config.dir.join(format!(
            ".{}{PARTIAL_SUFFIX}",
            final_path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("recovered")
        ));
        let mut parquet: Option<ParquetFile> = None;
        let row_group_rows = self.config.row_group_rows;
        let contents = read_spool(spool, |schema, batch| {
            if parquet.is_none() {
                parquet = Some(ParquetFile::create(&temp, schema, row_group_rows)?);
            }
            parquet.as_mut().expect("created above").write(&batch)
        })?;
        if contents.truncated {
            recovery.truncated_spools += 1;
        }
        let Some(parquet) = parquet else {
            tracing::info!(spool = %spool.display(), "a previous run's spool held no complete round");
            return Ok(None);
        };
        recovery.rows += contents.rows;
        let recovered = KeyValue::new(META_RECOVERED.to_owned(), "true".to_owned());
        let done = parquet.finish(vec![recovered], final_path)?;
        tracing::info!(file = %done.display(), rows = contents.rows, "recovered a previous run's rows");
        Ok(Some(done))
    }
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `yyyymmddThhmmssZ` of a time in ns since the epoch.
pub(crate) fn utc_stamp(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// 8 random hex digits, so two files started in the same second get distinct names.
fn random_hex() -> String {
    // RandomState is seeded from the OS once per process and advanced per instance.
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests;
