//! [`Uploader`]: completed Parquet files from the local spool directory to an object
//! store, oldest first; each removed locally once the store has it.
//!
//! A file's key is `<prefix>/<its file name>`, fixed by the name the file was completed
//! under, so a retry (or a run that died between uploading and removing) writes the same
//! object again, never a second copy under another name. A file up to
//! [`UploadConfig::part_size`] goes in one `PUT` (atomic); a larger one as a multipart
//! upload, aborted when any part fails, so no half-written object stays visible.
//!
//! While the store cannot be reached, files stay in the spool, retried with exponential
//! backoff ([`Backoff`]); when they exceed [`UploadConfig::max_spool_bytes`], the oldest are dropped,
//! each counted ([`Metrics`]) and logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cause_chain::Chain;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{Notify, watch};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Default [`UploadConfig::max_spool_bytes`]: 1 GiB.
pub const DEFAULT_MAX_SPOOL_BYTES: u64 = 1 << 30;
/// Default [`UploadConfig::part_size`]: 16 MiB (S3 wants at least 5 MiB per part).
pub const DEFAULT_PART_SIZE: usize = 16 << 20;

/// How completed files are found, uploaded and retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// The directory files are completed in (the output's directory).
    pub spool_dir: PathBuf,
    /// Only files whose names start with this are ours (`<prefix><node>-`).
    pub name_prefix: String,
    /// Completed files waiting may take this much; past it the oldest are dropped.
    pub max_spool_bytes: u64,
    /// Files larger than this are sent as multipart uploads of parts this size.
    pub part_size: usize,
    /// The waits between attempts while uploads fail.
    pub backoff: Backoff,
    /// Rescan the spool this often even without news (files left by another run).
    pub rescan: Duration,
    /// At shutdown, the last attempt to send what is left gives up after this long (the
    /// files stay for the next start).
    pub final_pass: Duration,
}

impl UploadConfig {
    /// The defaults for files named `<name_prefix>...` in `spool_dir`.
    pub fn new(spool_dir: impl Into<PathBuf>, name_prefix: impl Into<String>) -> Self {
        UploadConfig {
            spool_dir: spool_dir.into(),
            name_prefix: name_prefix.into(),
            max_spool_bytes: DEFAULT_MAX_SPOOL_BYTES,
            part_size: DEFAULT_PART_SIZE,
            backoff: Backoff::default(),
            rescan: Duration::from_secs(30),
            final_pass: Duration::from_secs(1),
        }
    }
}

/// Default [`Backoff::initial`]: 1 s.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Default [`Backoff::max`]: 1 min.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The waits between upload attempts while the store fails: `initial` after the first
/// failure, doubled after each further one up to `max`; a success starts over. Files are
/// never given up on: they stay spooled (within the quota) until an attempt succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: DEFAULT_BACKOFF_INITIAL,
            max: DEFAULT_BACKOFF_MAX,
        }
    }
}

impl Backoff {
    /// A schedule from `initial` to `max`.
    ///
    /// Fails with [`Error::InvalidConfig`] (naming `max_flag`) when `max` is below
    /// `initial`, which would make the first wait the longest.
    pub fn new(initial: Duration, max: Duration, max_flag: &'static str) -> Result<Self> {
        if max < initial {
            return Err(Error::InvalidConfig {
                name: max_flag,
                value: format!("{max:?}, below the initial {initial:?}"),
                expected: "a duration at least the initial backoff",
            });
        }
        Ok(Backoff { initial, max })
    }

    /// The wait after `wait`: twice as long, at most [`Self::max`].
    pub fn after(&self, wait: Duration) -> Duration {
        wait.saturating_mul(2).min(self.max)
    }

    /// The waits after the first, second, ... consecutive failure.
    pub fn schedule(&self) -> impl Iterator<Item = Duration> + '_ {
        std::iter::successors(Some(self.initial.min(self.max)), |wait| {
            Some(self.after(*wait))
        })
    }
}

/// What one pass over the spool did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Files uploaded (and removed locally).
    pub uploaded: Vec<String>,
    /// Files dropped unsent because the spool was over its quota.
    pub dropped: Vec<String>,
}

/// A completed file waiting in the spool.
#[derive(Debug, Clone)]
struct Waiting {
    name: String,
    path: PathBuf,
    bytes: u64,
}

/// Sends completed files to an object store; see the module documentation.
///
/// # Concurrency
///
/// One task runs it ([`Self::run`]); the sampling loop says a file is complete through the
/// [`Notify`] of [`Self::wake_handle`]. It only reads complete files (`*.parquet`, never
/// the hidden ones being written), so it needs no lock with the writer.
#[derive(Debug)]
pub struct Uploader {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix`, for messages.
    url: String,
    prefix: ObjectPath,
    config: UploadConfig,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

impl Uploader {
    /// An uploader to an S3 bucket, configured from the standard AWS environment
    /// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, ...), addressing buckets by path (`<endpoint>/<bucket>/<key>`),
    /// as S3-compatible servers expect. Plain `http://` endpoints are allowed.
    ///
    /// Fails with [`Error::ObjectStore`] when the settings are unusable.
    pub fn s3(
        bucket: &str,
        prefix: &str,
        config: UploadConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default();
        let client = ClientOptions::new()
            .with_allow_http(endpoint.starts_with("http://"))
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        // Our own loop retries with a long backoff; the client's retries only ride out a
        // short hiccup, so a dead store is reported within seconds.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
        };
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(false)
            .with_client_options(client)
            .with_retry(retry)
            .build()
            .map_err(|source| Error::ObjectStore {
                url: url.clone(),
                source: source.into(),
            })?;
        Ok(Self::with_store(
            Arc::new(store),
            url,
            prefix,
            config,
            metrics,
        ))
    }

    /// An uploader to any store (an in-memory one in tests); `url` names it in messages.
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        url: impl Into<String>,
        prefix: &str,
        config: UploadConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Uploader {
            store,
            url: url.into(),
            prefix: ObjectPath::from(prefix),
            config,
            metrics,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notify this when a file was completed, so it is sent without waiting for a rescan.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The key a file of this name is stored under.
    pub fn key(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    /// One pass: drops the oldest files past the quota, then uploads the others oldest
    /// first, stopping at the first failure (the store is then likely unreachable, and
    /// the order kept).
    ///
    /// Fails with [`Error::OutputDir`] if the spool cannot be listed, or the failed
    /// upload's [`Error::Upload`] (its file stays in the spool); what was uploaded before
    /// is still removed locally.
    pub async fn pass(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        let waiting = self.enforce_quota(&mut report)?;
        for file in waiting {
            match self.upload(&file).await {
                Ok(()) => {
                    self.metrics.record_upload();
                    remove_uploaded(&file.path)?;
                    tracing::info!(file = %file.name, store = %self.url, "uploaded");
                    report.uploaded.push(file.name);
                }
                Err(e) => {
                    self.metrics.record_upload_failure();
                    self.refresh_spool_bytes();
                    return Err(e);
                }
            }
        }
        self.refresh_spool_bytes();
        Ok(report)
    }

    /// Runs passes until `stop` turns true (or its sender is gone): after each completed
    /// file, every [`UploadConfig::rescan`], and after a failure with exponential backoff
    /// (the quota is still enforced when files complete meanwhile). Then, within
    /// [`UploadConfig::final_pass`] in all, the pass under way and one last pass; what
    /// they cannot send stays spooled (a multipart upload cut by that deadline is left to
    /// the bucket's lifecycle rule).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = self.config.backoff.initial;
        let mut failing = false;
        loop {
            let result = {
                let pass = self.pass();
                tokio::pin!(pass);
                tokio::select! {
                    result = &mut pass => result,
                    () = stopped(&mut stop) => {
                        self.final_pass(async {
                            let _ = (&mut pass).await;
                            self.pass().await
                        })
                        .await;
                        return;
                    }
                }
            };
            let wait = match result {
                Ok(_) => {
                    if failing {
                        tracing::info!(store = %self.url, "uploads work again");
                        failing = false;
                    }
                    backoff = self.config.backoff.initial;
                    self.config.rescan
                }
                Err(e) => {
                    tracing::error!(error = %Chain(&e), retry_in = ?backoff, "upload failed; the files stay spooled");
                    failing = true;
                    let wait = backoff;
                    backoff = self.config.backoff.after(backoff);
                    wait
                }
            };
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => break,
                    () = self.wake.notified() => {
                        if !failing {
                            break;
                        }
                        // While the store is down a new file only counts against the quota.
                        if let Err(e) = self.enforce_quota(&mut PassReport::default()) {
                            tracing::error!(error = %Chain(&e), "cannot check the spool's quota");
                        }
                    }
                    () = stopped(&mut stop) => {
                        self.final_pass(self.pass()).await;
                        return;
                    }
                }
            }
        }
    }

    async fn final_pass(&self, pass: impl std::future::Future<Output = Result<PassReport>>) {
        match tokio::time::timeout(self.config.final_pass, pass).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %Chain(&e), "the last upload before stopping failed; the next start sends the spooled files")
            }
            Err(_) => tracing::warn!(
                "the last upload before stopping ran out of time; the next start sends the spooled files"
            ),
        }
    }

    /// Completed files of ours, oldest first (names begin with their start time).
    fn waiting(&self) -> Result<Vec<Waiting>> {
        let dir_error = |source| Error::OutputDir {
            dir: self.config.spool_dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.config.spool_dir).map_err(dir_error)? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !name.starts_with(&self.config.name_prefix) || !name.ends_with(".parquet") {
                continue;
            }
            // Gone meanwhile (uploaded by a pass that raced a listing): skip it.
            let Ok(meta) = entry.metadata() else { continue };
            files.push(Waiting {
                path: entry.path(),
                name,
                bytes: meta.len(),
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// Drops the oldest files while the spool exceeds its quota; returns the rest.
    fn enforce_quota(&self, report: &mut PassReport) -> Result<Vec<Waiting>> {
        let mut files = self.waiting()?;
        let mut total: u64 = files.iter().map(|f| f.bytes).sum();
        let mut keep_from = 0;
        while total > self.config.max_spool_bytes && keep_from < files.len() {
            let oldest = &files[keep_from];
            remove_uploaded(&oldest.path)?;
            total -= oldest.bytes;
            self.metrics.record_spool_drop();
            tracing::warn!(
                file = %oldest.name,
                bytes = oldest.bytes,
                max_spool_bytes = self.config.max_spool_bytes,
                dropped_total = self.metrics.spool_dropped_files(),
                "the spool is over its quota while the store cannot be reached: dropped the oldest file unsent"
            );
            report.dropped.push(oldest.name.clone());
            keep_from += 1;
        }
        self.metrics.set_spool_bytes(total);
        Ok(files.split_off(keep_from))
    }

    fn refresh_spool_bytes(&self) {
        if let Ok(files) = self.waiting() {
            self.metrics
                .set_spool_bytes(files.iter().map(|f| f.bytes).sum());
        }
    }

    async fn upload(&self, file: &Waiting) -> Result<()> {
        let key = self.key(&file.name);
        let fail = |source| Error::Upload {
            file: file.path.clone(),
            url: self.url.clone(),
            hint: hint(&source),
            source: source.into(),
        };
        let read_error = |source| Error::Io {
            action: "read",
            path: file.path.clone(),
            source,
        };
        if file.bytes <= self.config.part_size as u64 {
            let data = tokio::fs::read(&file.path).await.map_err(read_error)?;
            self.store
                .put(&key, PutPayload::from(data))
                .await
                .map_err(fail)?;
            return Ok(());
        }
        let mut upload = self.store.put_multipart(&key).await.map_err(fail)?;
        match self.send_parts(&file.path, upload.as_mut()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(key = %key, error = %Chain(&abort), "could not abort a failed multipart upload; its parts stay until the bucket's lifecycle rule removes them");
                }
                Err(match e {
                    PartError::Read(source) => read_error(source),
                    PartError::Store(source) => fail(source),
                })
            }
        }
    }

    async fn send_parts(
        &self,
        path: &Path,
        upload: &mut dyn MultipartUpload,
    ) -> std::result::Result<(), PartError> {
        let mut file = tokio::fs::File::open(path).await.map_err(PartError::Read)?;
        loop {
            let mut part = Vec::with_capacity(self.config.part_size);
            let mut limited = (&mut file).take(self.config.part_size as u64);
            limited
                .read_to_end(&mut part)
                .await
                .map_err(PartError::Read)?;
            if part.is_empty() {
                break;
            }
            upload
                .put_part(PutPayload::from(part))
                .await
                .map_err(PartError::Store)?;
        }
        upload.complete().await.map_err(PartError::Store)?;
        Ok(())
    }
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

enum PartError {
    Read(std::io::Error),
    Store(object_store::Error),
}

/// What to check, by what the store answered.
fn hint(error: &object_store::Error) -> &'static str {
    match error {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            "the store refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and the bucket's policy)"
        }
        object_store::Error::NotFound { .. } => {
            "the bucket was not found: create it, or fix the bucket in --output"
        }
        _ => "is the store reachable at AWS_ENDPOINT_URL (or AWS's default endpoint)?",
    }
}

fn remove_uploaded(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
