//! Output files: names, visibility, rotation, metadata, and recovery after a crash.

use std::fs;
use std::time::Duration;

use super::*;
use crate::schema::{
    META_INTERVAL_NS, META_NODE, META_SCHEMA_VERSION, SCHEMA_VERSION, to_record_batch,
};
use crate::test_support::{read_parquet, rows, totals};

const SEC: i64 = 1_000_000_000;
/// 2026-12-01T08:00:00Z.
const T0: i64 = 1_796_112_000 * SEC;

fn config(dir: &Path) -> OutputConfig {
    OutputConfig::new(dir, "node-a", Duration::from_secs(1))
}

fn batch(output: &Output, tick: i64, n: usize) -> RecordBatch {
    to_record_batch(output.schema(), &rows(tick, n)).expect("batch")
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    names(dir)
        .into_iter()
        .filter(|n| n.ends_with(".parquet") && !n.starts_with('.'))
        .map(|n| dir.join(n))
        .collect()
}

/// A scratch directory on tmpfs where there is one: the test below recovers hundreds of
/// spools, and each recovery syncs files and directories, which a loaded disk makes slow.
fn scratch_in_memory() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    }
}

/// Simulates SIGKILL: nothing is completed, the spool and partial file stay.
fn crash(output: Output) {
    std::mem::forget(output);
}

#[test]
fn utc_stamps_are_compact_iso_8601() {
    assert_eq!(utc_stamp(T0), "20261201T080000Z");
    assert_eq!(utc_stamp(T0 + 59 * SEC + 999_999_999), "20261201T080059Z");
    assert_eq!(utc_stamp(0), "19700101T000000Z");
}

#[test]
fn files_are_named_prefix_node_utc_time_and_eight_hex_digits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    c.prefix = "rdt-".into();
    let (mut out, _) = Output::open(c).expect("open");
    out.write(&batch(&out, 1, 1), T0 + 5 * SEC).expect("write");
    let done = out.rotate().expect("rotate").expect("a file");
    let name = done.file_name().and_then(|n| n.to_str()).expect("name");
    let hex = name
        .strip_prefix("rdt-node-a-20261201T080005Z-")
        .and_then(|rest| rest.strip_suffix(".parquet"))
        .unwrap_or_else(|| panic!("unexpected name {name}"));
    assert_eq!(hex.len(), 8, "{name}");
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{name}"
    );
}

#[test]
fn a_file_is_visible_under_its_final_name_only_once_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut out, recovery) = Output::open(config(dir.path())).expect("open");
    assert_eq!(recovery, Recovery::default());
    out.write(&batch(&out, 1, 2), T0).expect("write");
    out.write(&batch(&out, 2, 2), T0 + SEC).expect("write");
    assert!(
        parquet_files(dir.path()).is_empty(),
        "{:?}",
        names(dir.path())
    );
    let hidden = names(dir.path());
    assert_eq!(hidden.len(), 2, "{hidden:?}");
    assert!(
        hidden.iter().all(|n| n.starts_with(".node-a-")),
        "{hidden:?}"
    );
    assert!(
        hidden.iter().any(|n| n.ends_with(".parquet.partial")),
        "{hidden:?}"
    );
    assert!(
        hidden.iter().any(|n| n.ends_with(".parquet.spool")),
        "{hidden:?}"
    );
    let done = out.close().expect("close").expect("a file");
    assert_eq!(
        names(dir.path()),
        [done.file_name().and_then(|n| n.to_str()).expect("name")]
    );
    let (batches, _) = read_parquet(&done);
    assert_eq!(totals(&batches), [1000, 1001, 2000, 2001]);
}

#[test]
fn files_carry_the_schema_version_node_interval_and_skipped_ticks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut out, _) = Output::open(config(dir.path())).expect("open");
    out.write(&batch(&out, 1, 1), T0).expect("write");
    out.add_skipped_ticks(2);
    out.add_skipped_ticks(1);
    let done = out.rotate().expect("rotate").expect("a file");
    let (batches, meta) = read_parquet(&done);
    assert_eq!(
        meta.get(META_SCHEMA_VERSION).map(String::as_str),
        Some(SCHEMA_VERSION)
    );
    assert_eq!(meta.get(META_NODE).map(String::as_str), Some("node-a"));
    assert_eq!(
        meta.get(META_INTERVAL_NS).map(String::as_str),
        Some("1000000000")
    );
    assert_eq!(meta.get(META_SKIPPED_TICKS).map(String::as_str), Some("3"));
    assert_eq!(meta.get(META_RECOVERED), None);
    assert_eq!(
        batches[0].schema().fields().len(),
        crate::schema::COLUMNS.len()
    );
}

#[test]
fn a_file_that_reaches_its_size_limit_is_completed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    c.max_file_bytes = 4_000;
    let (mut out, _) = Output::open(c).expect("open");
    let mut completed = Vec::new();
    for tick in 0..40 {
        completed.extend(
            out.write(&batch(&out, tick, 20), T0 + tick * SEC)
                .expect("write"),
        );
    }
    completed.extend(out.close().expect("close"));
    assert!(completed.len() >= 2, "{completed:?}");
    let mut all = Vec::new();
    for file in &completed {
        let (batches, _) = read_parquet(file);
        all.extend(totals(&batches));
    }
    assert_eq!(all.len(), 40 * 20, "every row is in exactly one file");
    for file in &completed[..completed.len() - 1] {
        let size = fs::metadata(file).expect("stat").len();
        assert!(size < 2 * 4_000, "{} is {size} bytes", file.display());
    }
}

#[test]
fn a_file_that_reaches_its_age_limit_is_completed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    c.max_file_age = Duration::from_secs(10);
    let (mut out, _) = Output::open(c).expect("open");
    assert_eq!(out.write(&batch(&out, 0, 1), T0).expect("write"), None);
    assert_eq!(
        out.write(&batch(&out, 9, 1), T0 + 9 * SEC).expect("write"),
        None
    );
    assert_eq!(out.rotate_if_old(T0 + 10 * SEC - 1).expect("not yet"), None);
    let done = out
        .rotate_if_old(T0 + 10 * SEC)
        .expect("rotate")
        .expect("aged out");
    assert_eq!(totals(&read_parquet(&done).0), [0, 9000]);
    let next = out
        .write(&batch(&out, 20, 1), T0 + 20 * SEC)
        .expect("write");
    assert_eq!(next, None, "a new file started");
    assert_eq!(out.completed().len(), 1);
}

#[test]
fn rotating_with_no_file_open_does_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut out, _) = Output::open(config(dir.path())).expect("open");
    assert_eq!(out.rotate().expect("rotate"), None);
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_crashed_runs_spool_becomes_its_parquet_file_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut out, _) = Output::open(config(dir.path())).expect("open");
    for tick in 1..=3 {
        out.write(&batch(&out, tick, 2), T0 + tick * SEC)
            .expect("write");
    }
    crash(out);
    let (out, recovery) = Output::open(config(dir.path())).expect("reopen");
    assert_eq!(recovery.rows, 6);
    assert_eq!(recovery.truncated_spools, 0);
    assert_eq!(recovery.files.len(), 1);
    assert_eq!(
        parquet_files(dir.path()),
        recovery.files,
        "no temporary file is left"
    );
    assert_eq!(names(dir.path()).len(), 1);
    let (batches, meta) = read_parquet(&recovery.files[0]);
    assert_eq!(totals(&batches), [1000, 1001, 2000, 2001, 3000, 3001]);
    assert_eq!(meta.get(META_RECOVERED).map(String::as_str), Some("true"));
    assert_eq!(meta.get(META_NODE).map(String::as_str), Some("node-a"));
    assert_eq!(out.completed(), recovery.files);
}

#[test]
fn a_spool_cut_anywhere_in_its_last_round_recovers_every_earlier_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut out, _) = Output::open(config(dir.path())).expect("open");
    out.write(&batch(&out, 1, 2), T0).expect("write");
    let spool_name = names(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".spool"))
        .expect("a spool");
    let spool = dir.path().join(&spool_name);
    let first_end = fs::metadata(&spool).expect("stat").len() as usize;
    out.write(&batch(&out, 2, 3), T0 + SEC).expect("write");
    crash(out);
    let bytes = fs::read(&spool).expect("read the spool");
    assert!(bytes.len() > first_end + 100);
    // Every byte offset is read by `read_spool` in the spool's own test; here each kind
    // of cut goes through the whole recovery: inside the message's length prefix, in its
    // metadata and body (every 7th byte), and just before its end.
    let last = first_end..bytes.len();
    let cuts = last
        .clone()
        .filter(|&c| c < first_end + 16 || (c - first_end).is_multiple_of(7) || c + 16 >= last.end);
    for cut in cuts {
        let run = scratch_in_memory();
        fs::write(run.path().join(&spool_name), &bytes[..cut]).expect("write the cut spool");
        let (_, recovery) = Output::open(config(run.path()))
            .unwrap_or_else(|e| panic!("cut at {cut}: {}", cause_chain::render(&e)));
        assert_eq!(recovery.rows, 2, "cut at {cut}");
        assert_eq!(recovery.files.len(), 1, "cut at {cut}");
        assert_eq!(
            totals(&read_parquet(&recovery.files[0]).0),
            [1000, 1001],
            "cut at {cut}"
        );
        assert_eq!(
            names(run.path()).len(),
            1,
            "cut at {cut}: only the recovered file remains"
        );
    }
}

#[test]
fn a_spool_without_a_complete_round_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path()
            .join(".node-a-20261201T080000Z-0badf00d.parquet.spool"),
        b"\xff\xff\xff\xff\x10",
    )
    .expect("write");
    fs::write(
        dir.path()
            .join(".node-a-20261201T080000Z-0badf00d.parquet.partial"),
        b"PAR1",
    )
    .expect("write");
    let (_, recovery) = Output::open(config(dir.path())).expect("open");
    assert_eq!(
        (
            recovery.files.len(),
            recovery.rows,
            recovery.truncated_spools
        ),
        (0, 0, 1)
    );
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn a_spool_whose_file_was_completed_is_only_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut out, _) = Output::open(config(dir.path())).expect("open");
    out.write(&batch(&out, 1, 1), T0).expect("write");
    let spool = names(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".spool"))
        .expect("a spool");
    let kept = fs::read(dir.path().join(&spool)).expect("read");
    let done = out.close().expect("close").expect("a file");
    // As if the run died between the rename and removing the spool.
    fs::write(dir.path().join(&spool), kept).expect("put the spool back");
    let (_, recovery) = Output::open(config(dir.path())).expect("reopen");
    assert_eq!(recovery, Recovery::default());
    assert_eq!(parquet_files(dir.path()), [done]);
    assert_eq!(names(dir.path()).len(), 1);
}

#[test]
fn other_nodes_files_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let theirs = dir
        .path()
        .join(".node-b-20261201T080000Z-00000000.parquet.spool");
    fs::write(&theirs, b"not ours").expect("write");
    Output::open(config(dir.path())).expect("open");
    assert!(theirs.exists());
}

#[test]
fn an_output_directory_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    fs::write(&file, b"").expect("write");
    let err = Output::open(config(&file.join("out"))).expect_err("below a file");
    assert!(matches!(err, Error::OutputDir { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&file.join("out").display().to_string()),
        "{text}"
    );
    assert!(text.contains("--output"), "{text}");
}

#[test]
fn node_names_and_prefixes_that_would_break_file_names_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    for node in ["", "a/b", ".hidden", "sp ace"] {
        let mut c = config(dir.path());
        c.node = node.into();
        assert!(
            matches!(
                Output::open(c),
                Err(Error::InvalidConfig { name: "--node", .. })
            ),
            "{node:?}"
        );
    }
    let mut c = config(dir.path());
    c.prefix = "../".into();
    assert!(matches!(Output::open(c), Err(Error::InvalidConfig { .. })));
    let mut c = config(dir.path());
    c.max_file_bytes = 0;
    assert!(matches!(Output::open(c), Err(Error::InvalidConfig { .. })));
}
