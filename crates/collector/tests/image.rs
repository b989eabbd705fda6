//! The shipped `collector` image, run by a container engine as the DaemonSet in
//! `crates/collector/deploy` runs it: host network and PID namespace, a read-only root file
//! system, every capability dropped, and from the host the NRI socket, the resctrl file
//! system (here the FUSE stand-in) and the cgroup tree. Against the harness's real
//! containerd with real pods; the Parquet files it wrote are read back by pyarrow and its
//! `/metrics` is scraped for each pod's series.
//!
//! It needs root, `/dev/fuse`, the assets `cargo xtask collector-image` provisions, pyarrow,
//! an engine and the image named by `COLLECTOR_IMAGE`; that command skips it, naming what
//! is missing, on a host without the engine or the image.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Node, Row, WAIT, python, read_rows, rounds, series};
use resctrl::MonEvent::{LlcOccupancy, MbmLocalBytes, MbmTotalBytes};
use resctrl::fake::FakeReading;

/// The engine the runner found (podman preferred, as `cargo xtask` does), with the runner's
/// podman settings for this host when it wrote any.
struct Engine {
    program: &'static str,
    containers_conf: Option<PathBuf>,
}

impl Engine {
    fn detect() -> Engine {
        let works = |program: &str| {
            Command::new(program)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let program = ["podman", "docker"]
            .into_iter()
            .find(|p| works(p))
            .expect("no container engine (podman or docker) on PATH: install podman with `apt-get install podman runc`");
        let containers_conf = std::env::var_os("COLLECTOR_IMAGE_CONTAINERS_CONF")
            .map(PathBuf::from)
            .filter(|path| std::env::var_os("CONTAINERS_CONF").is_none() && path.is_file());
        Engine {
            program,
            containers_conf,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(self.program);
        if let Some(conf) = &self.containers_conf {
            command.env("CONTAINERS_CONF", conf);
        }
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.program))
    }
}

/// The collector's container; removed however the test ends.
struct Running<'a> {
    engine: &'a Engine,
    name: String,
}

impl Running<'_> {
    /// SIGTERM through the engine (as the kubelet stops a pod); the exit code and the
    /// container's log.
    fn stop(&self) -> (i64, String) {
        let stop = self.engine.output(&["stop", "--time", "10", &self.name]);
        assert!(stop.status.success(), "stopping {}: {stop:?}", self.name);
        let code = self
            .engine
            .output(&["inspect", "--format", "{{.State.ExitCode}}", &self.name]);
        let code = String::from_utf8_lossy(&code.stdout)
            .trim()
            .parse()
            .expect("an exit code");
        (code, self.logs())
    }

    fn logs(&self) -> String {
        let out = self.engine.output(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the collector container's log:\n{}", self.logs());
        }
        let _ = self.engine.output(&["rm", "--force", &self.name]);
    }
}

/// Starts the image as the DaemonSet does, listening on `port` of the host's loopback.
fn run_image<'a>(engine: &'a Engine, image: &str, node: &Node, port: u16) -> Running<'a> {
    let name = format!("collector-image-test-{}", std::process::id());
    let out = node.out();
    std::fs::create_dir_all(&out).expect("the output directory");
    let standin = node.standin_mount_point();
    let nri_dir = node
        .ctrd
        .nri_socket()
        .parent()
        .expect("the socket has a directory")
        .to_path_buf();
    let same = |path: &Path, mode: &str| format!("--volume={0}:{0}{mode}", path.display());
    let layout = resctrl_standin::Layout::new(&standin);
    let mut args: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        format!("--name={name}"),
        // The DaemonSet's pod: hostNetwork for /metrics on the node, hostPID so the pids
        // NRI reports are the ones the collector moves into groups.
        "--network=host".into(),
        "--pid=host".into(),
        "--read-only".into(),
        "--cap-drop=ALL".into(),
        "--security-opt=no-new-privileges".into(),
        "--security-opt=label=disable".into(),
        same(&nri_dir, ""),
        // The stand-in stands for /sys/fs/resctrl: mounted at its own path, with the
        // collector pointed at it as the tests of the binary point it.
        same(&standin, ""),
        "--volume=/sys/fs/cgroup:/sys/fs/cgroup:ro".into(),
        format!("--volume={}:/var/lib/collector", out.display()),
    ];
    let env = [
        ("COLLECTOR_NODE", "image-node".to_string()),
        ("COLLECTOR_OUTPUT", "file:///var/lib/collector".to_string()),
        ("COLLECTOR_SPOOL_DIR", "/var/lib/collector".to_string()),
        (
            "COLLECTOR_INTERVAL",
            format!("{}ms", common::INTERVAL.as_millis()),
        ),
        (
            "COLLECTOR_NRI_SOCKET",
            node.ctrd.nri_socket().display().to_string(),
        ),
        ("COLLECTOR_RETRY_INTERVAL", "1s".to_string()),
        (
            "COLLECTOR_RESCTRL_ROOT",
            layout.root().display().to_string(),
        ),
        (
            "COLLECTOR_MOUNTS_FILE",
            layout.mounts_path().display().to_string(),
        ),
        (
            "COLLECTOR_CPUINFO_FILE",
            layout.cpuinfo_path().display().to_string(),
        ),
    ];
    args.extend(
        env.iter()
            .map(|(key, value)| format!("--env={key}={value}")),
    );
    args.push(image.to_string());
    args.push(format!("--listen=127.0.0.1:{port}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    println!("{} {}", engine.program, args.join(" "));
    let started = engine.output(&args);
    assert!(
        started.status.success(),
        "{} run failed: {}",
        engine.program,
        String::from_utf8_lossy(&started.stderr)
    );
    Running { engine, name }
}

/// A port on loopback that nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on the collector; the status and body, or `None` while nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Waits until `path` answers 200.
async fn wait_ok(port: u16, path: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((200, body)) = get(port, path) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never answered 200");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, /dev/fuse, provisioned containerd, pyarrow, a container engine and the collector image; run by cargo xtask collector-image"]
async fn the_image_run_as_the_daemonset_writes_each_pods_rows_and_serves_their_metrics() {
    python();
    let image = std::env::var("COLLECTOR_IMAGE").expect(
        "COLLECTOR_IMAGE names no image: run `cargo xtask collector-image` (the image comes from `cargo xtask container build --target collector`)",
    );
    let engine = Engine::detect();
    let revision = engine.output(&[
        "image",
        "inspect",
        "--format",
        "{{ index .Config.Labels \"org.opencontainers.image.revision\" }}",
        &image,
    ]);
    println!(
        "image {image}, revision {}",
        String::from_utf8_lossy(&revision.stdout).trim()
    );
    let node = Node::with_standin().await;

    // A pod that runs before the collector starts, and one after.
    let (pre_uid, new_uid) = ("img-pre-0001", "img-new-0002");
    let (pre, pre_app) = node.pod("pre", pre_uid).await;
    let port = free_port();
    let container = run_image(&engine, &image, &node, port);
    node.wait_group(pre_uid, true).await;
    node.wait_tasks(pre_uid, &[&pre_app]).await;
    node.set(pre_uid, 0, LlcOccupancy, FakeReading::Value(8192));
    node.set(pre_uid, 0, MbmTotalBytes, FakeReading::Value(1_000_000));
    node.set(pre_uid, 0, MbmLocalBytes, FakeReading::Value(250_000));
    let (new, new_app) = node.pod("new", new_uid).await;
    node.wait_group(new_uid, true).await;
    node.wait_tasks(new_uid, &[&new_app]).await;
    node.set(new_uid, 0, LlcOccupancy, FakeReading::Value(4096));
    node.set(new_uid, 0, MbmTotalBytes, FakeReading::Value(70_000));
    rounds(4).await;

    wait_ok(port, "/readyz").await;
    let metrics = wait_ok(port, "/metrics").await;
    let pod_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("resctrl_pod_") && l.contains("domain=\"mon_L3_00\""))
        .collect();
    println!("/metrics, domain mon_L3_00 of each pod:");
    for line in &pod_lines {
        println!("  {line}");
    }
    for (name, uid, llc, total) in [
        ("pre", pre_uid, 8192, 1_000_000),
        ("new", new_uid, 4096, 70_000),
    ] {
        let labels = format!(r#"{{namespace="shop",pod="{name}",uid="{uid}",domain="mon_L3_00"}}"#);
        for wanted in [
            format!("resctrl_pod_llc_occupancy_bytes{labels} {llc}"),
            format!("resctrl_pod_mbm_total_bytes_total{labels} {total}"),
        ] {
            assert!(
                pod_lines.contains(&wanted.as_str()),
                "{wanted} missing from /metrics:\n{metrics}"
            );
        }
    }

    let (code, log) = container.stop();
    println!("the collector's log:\n{log}");
    assert_eq!(code, 0, "the collector exited with {code} on SIGTERM");

    let mut files: Vec<(String, u64)> = std::fs::read_dir(node.out())
        .expect("the output directory")
        .map(|e| {
            let e = e.expect("an entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().expect("its size").len(),
            )
        })
        .collect();
    files.sort();
    println!("files in {}:", node.out().display());
    for (name, size) in &files {
        println!("  {name} ({size} bytes)");
    }
    assert!(
        !files.is_empty() && files.iter().all(|(n, _)| n.ends_with(".parquet")),
        "{files:?}"
    );
    let rows = read_rows(&node.out());
    for (name, uid, llc, total) in [
        ("pre", pre_uid, 8192, 1_000_000),
        ("new", new_uid, 4096, 70_000),
    ] {
        let pod: Vec<&Row> = series(&rows, Some(uid), "mon_L3_00");
        assert!(!pod.is_empty(), "no rows for {uid}");
        assert!(
            pod.iter().all(|r| r.str("pod_name") == Some(name)
                && r.str("pod_namespace") == Some("shop")
                && r.str("node") == Some("image-node")),
            "{pod:#?}"
        );
        let last = pod.last().expect("rows");
        assert_eq!(last.opt("llc_occupancy_bytes"), Some(llc), "{last:?}");
        assert_eq!(last.opt("mbm_total_bytes"), Some(total), "{last:?}");
        println!("{} rows for pod {name}; the last: {}", pod.len(), last.0);
    }

    node.remove_pod(&pre, &[&pre_app]).await;
    node.remove_pod(&new, &[&new_app]).await;
    node.shutdown().await;
}
