//! The `collector` binary uploading to a real S3-compatible server on loopback (`s3s-fs`,
//! file-backed, so a restart keeps its objects), read back with independent clients
//! (boto3 lists and fetches, pyarrow reads the rows), with the store stopped mid-run,
//! wrong credentials, and a full spool.
//!
//! Ignored in unit runs; `cargo xtask collector-s3` installs the tools into
//! `target/xtask/tools` and runs these. Without them each test fails naming the command
//! that installs them.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PYARROW_EXIT, tools_dir, tools_python};

const LIMIT: Duration = Duration::from_secs(30);
const BUCKET: &str = "rdt";
const ACCESS_KEY: &str = "collector";
const SECRET_KEY: &str = "collector-secret";

fn s3s_fs() -> PathBuf {
    let bin = tools_dir().join("s3s-fs/bin/s3s-fs");
    assert!(
        bin.is_file(),
        "s3s-fs is missing at {}: run `cargo xtask collector-s3`, or `cargo install --locked s3s-fs --version 0.14.1 --features binary --root {}`",
        bin.display(),
        tools_dir().join("s3s-fs").display()
    );
    bin
}

fn python() -> PathBuf {
    tools_python(
        "collector-s3",
        "boto3, pyarrow.parquet, prometheus_client",
        "boto3, pyarrow or prometheus_client",
        "run `cargo xtask collector-s3`",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An `s3s-fs` server on a loopback port, its objects under `root`.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &Path, port: u16) -> Self {
        std::fs::create_dir_all(root).expect("the server's root");
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s3s-fs");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for("s3s-fs to listen", || TcpStream::connect(addr).is_ok());
        Server { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` with the tools' Python, credentials and endpoint in its environment;
/// returns its stdout.
fn py(endpoint: &str, script: &str) -> String {
    let output = Command::new(python())
        .args(["-c", script])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("ENDPOINT", endpoint)
        .env("BUCKET", BUCKET)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

const BOTO: &str = "
import os, io, json, boto3, botocore.config
s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'],
    config=botocore.config.Config(s3={'addressing_style': 'path'}))
bucket = os.environ['BUCKET']
";

fn create_bucket(endpoint: &str) {
    py(endpoint, &format!("{BOTO}s3.create_bucket(Bucket=bucket)"));
}

/// Every object in the bucket: key, its rows (read by pyarrow) and the nodes in them.
fn objects(endpoint: &str) -> Vec<(String, u64, Vec<String>)> {
    let out = py(
        endpoint,
        &format!(
            "{BOTO}
import pyarrow.parquet as pq
found = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket):
    for o in page.get('Contents', []):
        body = s3.get_object(Bucket=bucket, Key=o['Key'])['Body'].read()
        table = pq.read_table(io.BytesIO(body))
        found.append([o['Key'], table.num_rows, sorted(set(table.column('node').to_pylist()))])
print(json.dumps(found))
{PYARROW_EXIT}"
        ),
    );
    let value: serde_json::Value = serde_json::from_str(&out).expect("json from python");
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            (
                o[0].as_str().expect("key").to_owned(),
                o[1].as_u64().expect("rows"),
                o[2].as_array()
                    .expect("nodes")
                    .iter()
                    .map(|n| n.as_str().expect("node").to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// A scratch node: a resctrl tree of plain files (as in `tests/binary.rs`), the spool,
/// and a running collector whose stderr is collected.
struct Node {
    dir: tempfile::TempDir,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Node {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("resctrl");
        for (rel, text) in [
            ("info/L3_MON/num_rmids", "64\n"),
            (
                "info/L3_MON/mon_features",
                "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
            ),
            ("tasks", ""),
            ("mon_data/mon_L3_00/llc_occupancy", "4096\n"),
            ("mon_data/mon_L3_00/mbm_total_bytes", "1000\n"),
            ("mon_data/mon_L3_00/mbm_local_bytes", "2000\n"),
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir -p");
            std::fs::write(path, text).expect("write");
        }
        std::fs::create_dir_all(root.join("mon_groups")).expect("mon_groups");
        std::fs::write(
            dir.path().join("mounts"),
            format!("resctrl {} resctrl rw 0 0\n", root.display()),
        )
        .expect("mounts");
        std::fs::write(
            dir.path().join("cpuinfo"),
            "flags\t\t: rdt_a cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local\n",
        )
        .expect("cpuinfo");
        std::fs::create_dir_all(dir.path().join("cgroup")).expect("cgroup");
        std::fs::write(dir.path().join("cgroup/cgroup.controllers"), "cpu\n").expect("cgroup");
        Node {
            dir,
            child: None,
            log: Arc::default(),
        }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// Starts the collector uploading to `endpoint` with `secret`, plus `extra` flags.
    fn start(&mut self, endpoint: &str, secret: &str, extra: &[&str]) {
        let p = |rel: &str| self.dir.path().join(rel);
        let mut child = Command::new(env!("CARGO_BIN_EXE_collector"))
            .env("COLLECTOR_NODE", "node-1")
            .env("COLLECTOR_INTERVAL", "100ms")
            .env("COLLECTOR_MAX_FILE_AGE", "300ms")
            .env("COLLECTOR_OUTPUT", format!("s3://{BUCKET}/metrics/node-1"))
            .env("COLLECTOR_SPOOL_DIR", self.spool())
            .env("COLLECTOR_LISTEN", "127.0.0.1:0")
            .env("COLLECTOR_RESCTRL_ROOT", p("resctrl"))
            .env("COLLECTOR_MOUNTS_FILE", p("mounts"))
            .env("COLLECTOR_CPUINFO_FILE", p("cpuinfo"))
            .env("COLLECTOR_CGROUP_ROOT", p("cgroup"))
            .env("COLLECTOR_NRI_SOCKET", p("no-runtime/nri.sock"))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env_remove("NRI_PLUGIN_SOCKET")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the collector");
        let stderr = child.stderr.take().expect("piped");
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = log.lock().expect("not poisoned");
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.child = Some(child);
    }

    fn log(&self) -> String {
        self.log.lock().expect("not poisoned").clone()
    }

    /// Completed files waiting in the spool, oldest first.
    fn spooled(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.spool())
            .map(|d| {
                d.map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
                    .filter(|n| n.ends_with(".parquet") && !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn metrics_addr(&self) -> SocketAddr {
        let mut found = None;
        wait_for("the collector's HTTP address in its log", || {
            found = self.log().lines().find_map(|l| {
                l.contains("serving /healthz")
                    .then(|| l.split("addr=").nth(1))
                    .flatten()
                    .and_then(|a| a.split_whitespace().next())
                    .and_then(|a| a.parse().ok())
            });
            found.is_some()
        });
        found.expect("found above")
    }

    /// SIGTERM; waits for the exit and returns the rows the collector says it wrote.
    fn stop(&mut self) -> u64 {
        let mut child = self.child.take().expect("running");
        let pid = i32::try_from(child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = child.wait().expect("wait");
        wait_for("the log's last line", || self.log().contains(" stopped "));
        assert!(status.success(), "exit {status}: {}", self.log());
        let log = self.log();
        let line = log
            .lines()
            .rfind(|l| l.contains(" stopped "))
            .expect("a stopped line");
        line.split("rows=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no rows= in {line:?}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
}

fn scrape(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).expect("connect to /metrics");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .expect("a body")
}

#[test]
#[ignore = "needs s3s-fs and the Python tools: cargo xtask collector-s3"]
fn every_file_reaches_the_bucket_once_under_its_name_and_reads_back_whole() {
    let store = tempfile::tempdir().expect("tempdir");
    let server = Server::start(store.path(), free_port());
    create_bucket(&server.endpoint());
    let mut node = Node::new();
    node.start(&server.endpoint(), SECRET_KEY, &[]);
    wait_for("three objects in the bucket", || {
        objects(&server.endpoint()).len() >= 3
    });
    let rows = node.stop();
    let found = objects(&server.endpoint());
    assert!(
        node.spooled().is_empty(),
        "left in the spool: {:?}",
        node.spooled()
    );
    let stored: u64 = found.iter().map(|o| o.1).sum();
    assert_eq!(
        stored, rows,
        "every row written is in the bucket: {found:?}"
    );
    for (key, rows, nodes) in &found {
        assert!(
            key.starts_with("metrics/node-1/node-1-") && key.ends_with(".parquet"),
            "{key}"
        );
        assert!(*rows > 0, "{key} is empty");
        assert_eq!(nodes, &["node-1"], "{key}");
    }
    server.stop();
}

#[test]
#[ignore = "needs s3s-fs and the Python tools: cargo xtask collector-s3"]
fn a_store_stopped_mid_run_gets_every_held_file_once_it_is_back() {
    let store = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = Server::start(store.path(), port);
    create_bucket(&server.endpoint());
    let endpoint = server.endpoint();
    let mut node = Node::new();
    node.start(&endpoint, SECRET_KEY, &[]);
    wait_for("a first object", || !objects(&endpoint).is_empty());
    server.stop();
    wait_for("two files held in the spool", || node.spooled().len() >= 2);
    assert!(
        node.log().contains("the files stay spooled"),
        "{}",
        node.log()
    );
    let server = Server::start(store.path(), port);
    wait_for("the spool to drain", || node.spooled().is_empty());
    let rows = node.stop();
    let found = objects(&endpoint);
    let stored: u64 = found.iter().map(|o| o.1).sum();
    assert_eq!(stored, rows, "nothing lost: {found:?}");
    let failures = node
        .log()
        .matches("upload failed; the files stay spooled")
        .count();
    assert!(failures > 0, "{}", node.log());
    server.stop();
}

#[test]
#[ignore = "needs s3s-fs and the Python tools: cargo xtask collector-s3"]
fn wrong_credentials_are_a_clear_error_and_the_files_stay() {
    let store = tempfile::tempdir().expect("tempdir");
    let server = Server::start(store.path(), free_port());
    create_bucket(&server.endpoint());
    let mut node = Node::new();
    node.start(&server.endpoint(), "not-the-secret", &[]);
    wait_for("the credentials error", || {
        node.log().contains("the store refused the credentials")
    });
    wait_for("two files held in the spool", || node.spooled().len() >= 2);
    let log = node.log();
    assert!(log.contains("AWS_SECRET_ACCESS_KEY"), "{log}");
    node.stop();
    assert!(!node.spooled().is_empty(), "the files stay");
    assert!(objects(&server.endpoint()).is_empty(), "nothing was stored");
    server.stop();
}

#[test]
#[ignore = "needs s3s-fs and the Python tools: cargo xtask collector-s3"]
fn past_the_spool_quota_the_oldest_files_are_dropped_counted_and_the_rest_sent_later() {
    let store = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = Server::start(store.path(), port);
    let endpoint = server.endpoint();
    create_bucket(&endpoint);
    // Nothing listens on the port now: the store is unreachable.
    server.stop();
    let mut node = Node::new();
    node.start(&endpoint, SECRET_KEY, &["--max-spool-bytes", "12KiB"]);
    let addr = node.metrics_addr();
    wait_for("two files dropped", || {
        metric(&scrape(addr), "collector_spool_dropped_files_total") >= 2.0
    });
    let text = scrape(addr);
    let spool_bytes = metric(&text, "collector_spool_bytes");
    assert!(spool_bytes <= 12.0 * 1024.0, "{text}");
    let dropped: Vec<String> = node
        .log()
        .lines()
        .filter(|l| l.contains("dropped the oldest file unsent"))
        .filter_map(|l| {
            l.split("file=")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert!(dropped.len() >= 2, "{}", node.log());
    let kept = node.spooled();
    assert!(!kept.is_empty());
    for name in &dropped {
        assert!(
            !kept.contains(name),
            "{name} was dropped but is still there"
        );
        assert!(
            kept.iter().all(|k| k > name),
            "a file newer than {name} was dropped before it: kept {kept:?}"
        );
    }
    let server = Server::start(store.path(), port);
    wait_for("the kept files to be sent", || node.spooled().is_empty());
    node.stop();
    let keys: Vec<String> = objects(&endpoint).into_iter().map(|o| o.0).collect();
    for name in &dropped {
        assert!(
            !keys.iter().any(|k| k.ends_with(name.as_str())),
            "{name} was dropped, yet stored"
        );
    }
    assert!(!keys.is_empty());
    server.stop();
}
