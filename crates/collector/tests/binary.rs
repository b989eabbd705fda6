//! The `collector` binary as deployed, on a resctrl tree in a scratch directory (plain
//! files, read through `RealFs`) with no runtime listening: signals, exit codes, and the
//! errors a person meets first.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const LIMIT: Duration = Duration::from_secs(20);

/// A scratch host: resctrl root, its mount table and CPU description, a cgroup v2 root.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let host = Host {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let root = host.resctrl();
        for (rel, text) in [
            ("info/L3_MON/num_rmids", "64\n"),
            (
                "info/L3_MON/mon_features",
                "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
            ),
            ("tasks", ""),
            ("mon_data/mon_L3_00/llc_occupancy", "4096\n"),
            ("mon_data/mon_L3_00/mbm_total_bytes", "1000\n"),
            ("mon_data/mon_L3_00/mbm_local_bytes", "Unavailable\n"),
        ] {
            write(&root.join(rel), text);
        }
        fs::create_dir_all(root.join("mon_groups")).expect("mkdir mon_groups");
        write(
            &host.path("mounts"),
            &format!(
                "proc /proc proc rw 0 0\nresctrl {} resctrl rw,relatime 0 0\n",
                root.display()
            ),
        );
        write(
            &host.path("cpuinfo"),
            "flags\t\t: fpu rdt_a cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local\n",
        );
        write(&host.path("cgroup/cgroup.controllers"), "cpu memory\n");
        host
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn resctrl(&self) -> PathBuf {
        self.path("resctrl")
    }

    fn out(&self) -> PathBuf {
        self.path("out")
    }

    fn command(&self) -> Command {
        // The environment carries the settings, so a test's flag overrides one of them.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_collector"));
        cmd.env("COLLECTOR_NODE", "node-1")
            .env("COLLECTOR_INTERVAL", "100ms")
            .env("COLLECTOR_OUTPUT", self.out())
            .env("COLLECTOR_RESCTRL_ROOT", self.resctrl())
            .env("COLLECTOR_MOUNTS_FILE", self.path("mounts"))
            .env("COLLECTOR_CPUINFO_FILE", self.path("cpuinfo"))
            .env("COLLECTOR_CGROUP_ROOT", self.path("cgroup"))
            .env("COLLECTOR_NRI_SOCKET", self.path("no-runtime/nri.sock"))
            // Tests run side by side: each server on a port of its own.
            .env("COLLECTOR_LISTEN", "127.0.0.1:0")
            .env_remove("NRI_PLUGIN_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir -p");
    fs::write(path, text).expect("write");
}

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
    files.sort();
    files
}

fn rows_in(file: &Path) -> usize {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(file).expect("open"))
        .expect("readable Parquet")
        .build()
        .expect("reader");
    reader.map(|b| b.expect("batch").num_rows()).sum()
}

fn finish(child: Child) -> (Output, String) {
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

#[test]
fn sigusr1_completes_a_file_and_sigterm_completes_the_last_and_exits_zero() {
    let host = Host::new();
    let child = host.command().spawn().expect("spawn the collector");
    wait_for("the first round to be spooled", || {
        spools(&host.out()).iter().any(|(_, n)| *n >= 1)
    });
    let first = spools(&host.out());
    signal(&child, libc::SIGUSR1);
    wait_for("SIGUSR1 to complete a file", || {
        parquet_files(&host.out()).len() == 1
    });
    // The first file's spool goes just after the file appears; wait for the next one's.
    wait_for("a round in the next file", || {
        spools(&host.out())
            .iter()
            .any(|(p, n)| *n >= 1 && first.iter().all(|(old, _)| old != p))
    });
    let asked = Instant::now();
    signal(&child, libc::SIGTERM);
    let (output, stderr) = finish(child);
    let took = asked.elapsed();
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    eprintln!("SIGTERM to exit: {took:?}");
    let files = parquet_files(&host.out());
    assert_eq!(files.len(), 2, "{files:?}: {stderr}");
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(
            name.starts_with("node-1-")
                && name.len() == "node-1-20261201T080000Z-0123abcd.parquet".len(),
            "{name}"
        );
        assert!(rows_in(file) >= 1, "{name} has rows");
    }
    let left: Vec<_> = fs::read_dir(host.out()).expect("list").collect();
    assert_eq!(left.len(), 2, "no spool or partial file is left");
}

/// The spools in `dir` and the rounds each holds right now.
fn spools(dir: &Path) -> Vec<(PathBuf, usize)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".spool"))
        .map(|p| {
            let rounds = collector::read_spool(&p, |_, _| Ok(())).map_or(0, |c| c.batches);
            (p, rounds)
        })
        .collect()
}

#[test]
fn after_sigkill_the_next_start_recovers_every_synced_round_into_a_readable_file() {
    let host = Host::new();
    let mut child = host.command().spawn().expect("spawn the collector");
    wait_for("three rounds in the spool", || {
        spools(&host.out()).iter().any(|(_, n)| *n >= 3)
    });
    let first = spools(&host.out());
    let synced: usize = first.iter().map(|(_, n)| n).sum();
    child.kill().expect("SIGKILL");
    let (_, stderr) = finish(child);
    assert!(
        parquet_files(&host.out()).is_empty(),
        "nothing was completed before the kill: {stderr}"
    );
    // The next start turns the spool into a file before it samples anything.
    let restarted = host.command().spawn().expect("spawn again");
    wait_for("the recovered file", || {
        !parquet_files(&host.out()).is_empty()
    });
    wait_for("a round of the second run", || {
        spools(&host.out())
            .iter()
            .any(|(p, n)| *n >= 1 && first.iter().all(|(old, _)| old != p))
    });
    signal(&restarted, libc::SIGTERM);
    let (output, stderr) = finish(restarted);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    let files = parquet_files(&host.out());
    assert_eq!(
        files.len(),
        2,
        "the recovered file and the second run's: {files:?}"
    );
    let recovered = files.iter().map(|f| rows_in(f)).max().expect("files");
    assert!(
        recovered >= synced,
        "{recovered} rows recovered, {synced} rounds of one row were synced before the kill"
    );
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let host = Host::new();
    let (output, stderr) = finish(
        host.command()
            .args(["--interval", "soon"])
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--interval") && stderr.contains("soon"),
        "{stderr}"
    );
}

#[test]
fn environment_variables_stand_in_for_flags() {
    let host = Host::new();
    let (output, stderr) = finish(
        host.command()
            .env("COLLECTOR_MAX_FILE_AGE", "never")
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-file-age") && stderr.contains("never"),
        "{stderr}"
    );
}

#[test]
fn an_output_directory_that_cannot_be_written_is_a_clear_error() {
    let host = Host::new();
    write(&host.path("a-file"), "");
    let bad = host.path("a-file/out");
    let (output, stderr) = finish(
        host.command()
            .arg("--output")
            .arg(&bad)
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot write to the output directory {}",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--output"), "{stderr}");
}

#[test]
fn resctrl_that_is_not_mounted_is_a_clear_error() {
    let host = Host::new();
    write(&host.path("mounts"), "proc /proc proc rw 0 0\n");
    let (output, stderr) = finish(host.command().spawn().expect("spawn"));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let root = host.resctrl().display().to_string();
    assert!(
        stderr.contains(&format!("resctrl at {root} cannot be used")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("mount -t resctrl resctrl {root}")),
        "{stderr}"
    );
}

#[test]
fn a_cgroup_root_without_cgroups_is_a_clear_error() {
    let host = Host::new();
    let empty = host.path("empty");
    fs::create_dir(&empty).expect("mkdir");
    let (output, stderr) = finish(
        host.command()
            .arg("--cgroup-root")
            .arg(&empty)
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("no cgroup hierarchy under {}", empty.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--cgroup-root"), "{stderr}");
}

#[test]
fn help_lists_every_flag_with_its_environment_variable_and_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_collector"))
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for (flag, env, default) in [
        ("--interval", "COLLECTOR_INTERVAL", "[default: 1s]"),
        (
            "--max-file-size",
            "COLLECTOR_MAX_FILE_SIZE",
            "[default: 256MiB]",
        ),
        ("--max-file-age", "COLLECTOR_MAX_FILE_AGE", "[default: 10m]"),
        (
            "--output",
            "COLLECTOR_OUTPUT",
            "[default: file:///var/lib/collector]",
        ),
        (
            "--spool-dir",
            "COLLECTOR_SPOOL_DIR",
            "[default: /var/lib/collector]",
        ),
        (
            "--max-spool-bytes",
            "COLLECTOR_MAX_SPOOL_BYTES",
            "[default: 1GiB]",
        ),
        ("--listen", "COLLECTOR_LISTEN", "[default: 127.0.0.1:9808]"),
        (
            "--resctrl-root",
            "COLLECTOR_RESCTRL_ROOT",
            "[default: /sys/fs/resctrl]",
        ),
        (
            "--nri-socket",
            "COLLECTOR_NRI_SOCKET",
            "[default: /var/run/nri/nri.sock]",
        ),
        (
            "--cgroup-root",
            "COLLECTOR_CGROUP_ROOT",
            "[default: /sys/fs/cgroup]",
        ),
    ] {
        let line = help
            .split("\n\n")
            .find(|block| block.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} is not in --help:\n{help}"));
        assert!(
            line.contains(env) && line.contains(default),
            "{flag}: {line}"
        );
    }
    assert!(help.contains("COLLECTOR_NODE"), "{help}");
}
