//! The uploader against an in-memory store that can be made to fail (the real S3 server is
//! in `tests/s3.rs`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, ObjectMeta, PutMultipartOptions, PutOptions,
    PutResult, UploadPart,
};

use super::*;

/// An in-memory store that refuses everything while `down`, and fails a multipart
/// upload's part number `fail_part` (counting from 0).
#[derive(Debug, Default)]
struct Flaky {
    inner: InMemory,
    down: AtomicBool,
    fail_part: Mutex<Option<usize>>,
    aborted: Arc<AtomicUsize>,
    puts: AtomicUsize,
}

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flaky")
    }
}

fn refused() -> object_store::Error {
    object_store::Error::Generic {
        store: "Flaky",
        source: "connection refused".into(),
    }
}

impl Flaky {
    fn check(&self) -> object_store::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(refused())
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
struct FlakyUpload {
    inner: Box<dyn MultipartUpload>,
    part: usize,
    fail_part: Option<usize>,
    aborted: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl MultipartUpload for FlakyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let n = self.part;
        self.part += 1;
        if self.fail_part == Some(n) {
            return Box::pin(async { Err(refused()) });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.aborted.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}

#[async_trait::async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check()?;
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        Ok(Box::new(FlakyUpload {
            inner: self.inner.put_multipart_opts(location, opts).await?,
            part: 0,
            fail_part: *self.fail_part.lock().expect("not poisoned"),
            aborted: self.aborted.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    spool: PathBuf,
    store: Arc<Flaky>,
    metrics: Arc<Metrics>,
    uploader: Uploader,
}

fn fixture(tune: impl FnOnce(&mut UploadConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().to_path_buf();
    let store = Arc::new(Flaky::default());
    let metrics = Arc::new(Metrics::new());
    let mut config = UploadConfig::new(&spool, "node-a-");
    tune(&mut config);
    let uploader = Uploader::with_store(
        store.clone(),
        "mem://test/rdt",
        "rdt",
        config,
        metrics.clone(),
    );
    Fixture {
        _dir: dir,
        spool,
        store,
        metrics,
        uploader,
    }
}

fn complete(spool: &Path, name: &str, bytes: usize) {
    std::fs::write(spool.join(name), vec![7u8; bytes]).expect("write a completed file");
}

async fn stored(store: &Flaky) -> Vec<(String, u64)> {
    let mut objects: Vec<(String, u64)> = store
        .list(None)
        .map(|m| {
            let m = m.expect("listing");
            (m.location.to_string(), m.size)
        })
        .collect()
        .await;
    objects.sort();
    objects
}

fn local(spool: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(spool)
        .expect("spool")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn completed_files_are_uploaded_under_their_own_name_then_removed() {
    let f = fixture(|_| {});
    complete(&f.spool, "node-a-20261201T080000Z-0000000a.parquet", 10);
    complete(
        &f.spool,
        ".node-a-20261201T080100Z-0000000b.parquet.partial",
        10,
    );
    complete(&f.spool, "node-b-20261201T080000Z-0000000c.parquet", 10);
    let report = f.uploader.pass().await.expect("pass");
    assert_eq!(
        report.uploaded,
        ["node-a-20261201T080000Z-0000000a.parquet"]
    );
    assert_eq!(
        stored(&f.store).await,
        [(
            "rdt/node-a-20261201T080000Z-0000000a.parquet".to_owned(),
            10
        )]
    );
    assert_eq!(
        local(&f.spool),
        [
            ".node-a-20261201T080100Z-0000000b.parquet.partial",
            "node-b-20261201T080000Z-0000000c.parquet"
        ],
        "a file being written and another node's file stay"
    );
    assert_eq!(f.metrics.uploads(), 1);
}

#[tokio::test]
async fn an_unreachable_store_keeps_the_files_and_a_later_pass_sends_each_once() {
    let f = fixture(|_| {});
    complete(&f.spool, "node-a-20261201T080000Z-0000000a.parquet", 10);
    complete(&f.spool, "node-a-20261201T080100Z-0000000b.parquet", 10);
    f.store.down.store(true, Ordering::SeqCst);
    let err = f.uploader.pass().await.expect_err("the store is down");
    assert!(
        matches!(err, Error::Upload { .. }) && err.to_string().contains("AWS_ENDPOINT_URL"),
        "{err}"
    );
    assert_eq!(local(&f.spool).len(), 2, "both files kept");
    assert_eq!(
        f.metrics.upload_failures(),
        1,
        "one attempt, stopped at the first failure"
    );
    f.store.down.store(false, Ordering::SeqCst);
    f.uploader.pass().await.expect("the store is back");
    assert!(local(&f.spool).is_empty());
    assert_eq!(stored(&f.store).await.len(), 2);
    assert_eq!(f.store.puts.load(Ordering::SeqCst), 2, "no file sent twice");
}

#[tokio::test]
async fn past_the_quota_the_oldest_files_are_dropped_and_counted() {
    let f = fixture(|c| c.max_spool_bytes = 25);
    f.store.down.store(true, Ordering::SeqCst);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        complete(
            &f.spool,
            &format!("node-a-20261201T08000{i}Z-0000000{name}.parquet"),
            10,
        );
    }
    f.uploader.pass().await.expect_err("the store is down");
    assert_eq!(
        local(&f.spool),
        [
            "node-a-20261201T080001Z-0000000b.parquet",
            "node-a-20261201T080002Z-0000000c.parquet"
        ],
        "the oldest dropped, the newest kept"
    );
    assert_eq!(f.metrics.spool_dropped_files(), 1);
    assert!(f.metrics.encode().contains("collector_spool_bytes 20"));
}

#[tokio::test]
async fn a_failed_multipart_upload_is_aborted_and_leaves_no_object() {
    let f = fixture(|c| c.part_size = 4);
    *f.store.fail_part.lock().expect("not poisoned") = Some(1);
    complete(&f.spool, "node-a-20261201T080000Z-0000000a.parquet", 10);
    f.uploader.pass().await.expect_err("the second part fails");
    assert_eq!(f.store.aborted.load(Ordering::SeqCst), 1, "aborted");
    assert!(stored(&f.store).await.is_empty(), "nothing visible");
    assert_eq!(local(&f.spool).len(), 1, "the file kept");
    *f.store.fail_part.lock().expect("not poisoned") = None;
    f.uploader.pass().await.expect("retry");
    assert_eq!(
        stored(&f.store).await,
        [(
            "rdt/node-a-20261201T080000Z-0000000a.parquet".to_owned(),
            10
        )],
        "three parts of 4, 4 and 2 bytes, whole"
    );
}

#[tokio::test]
async fn run_sends_a_file_when_woken_and_stops_with_a_last_pass() {
    let f = fixture(|c| c.rescan = Duration::from_secs(3600));
    let wake = f.uploader.wake_handle();
    let (stop_tx, stop) = watch::channel(false);
    let spool = f.spool.clone();
    let task = tokio::spawn(f.uploader.run(stop));
    complete(&spool, "node-a-20261201T080000Z-0000000a.parquet", 10);
    wake.notify_one();
    for _ in 0..200 {
        if local(&spool).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(local(&spool).is_empty(), "sent after the wake-up");
    complete(&spool, "node-a-20261201T080100Z-0000000b.parquet", 10);
    stop_tx.send(true).expect("the uploader listens");
    task.await.expect("the uploader ends");
    assert!(
        local(&spool).is_empty(),
        "the last pass sent the second file"
    );
    assert_eq!(stored(&f.store).await.len(), 2);
}

#[tokio::test]
async fn an_upload_error_says_the_stores_cause_once() {
    let f = fixture(|_| {});
    complete(&f.spool, "node-a-20261201T080000Z-0000000a.parquet", 10);
    f.store.down.store(true, Ordering::SeqCst);
    let err = f.uploader.pass().await.expect_err("the store is down");
    let text = cause_chain::render(&err);
    assert_eq!(text.matches("connection refused").count(), 1, "{text}");
}

#[test]
fn the_backoff_doubles_from_its_initial_wait_up_to_its_maximum() {
    let backoff = Backoff::new(Duration::from_millis(300), Duration::from_secs(2), "--max")
        .expect("a valid schedule");
    let waits: Vec<Duration> = backoff.schedule().take(6).collect();
    assert_eq!(
        waits,
        [300, 600, 1200, 2000, 2000, 2000].map(Duration::from_millis)
    );
}

#[test]
fn the_default_backoff_reaches_a_minute_after_seven_failures() {
    let waits: Vec<u64> = Backoff::default()
        .schedule()
        .take(8)
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
}

#[test]
fn a_backoff_whose_maximum_is_below_its_initial_wait_is_refused_naming_the_flag() {
    let err = Backoff::new(
        Duration::from_secs(10),
        Duration::from_secs(1),
        "--upload-backoff-max",
    )
    .expect_err("max < initial");
    assert!(err.to_string().contains("--upload-backoff-max"), "{err}");
    let equal = Backoff::new(Duration::from_secs(1), Duration::from_secs(1), "--max")
        .expect("a constant wait is fine");
    assert_eq!(
        equal.schedule().take(3).collect::<Vec<_>>(),
        [Duration::from_secs(1); 3]
    );
}
