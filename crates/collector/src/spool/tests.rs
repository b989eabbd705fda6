//! The spool's crash bound: a cut anywhere loses at most the message being written.

use std::fs;

use super::*;
use crate::schema::{schema, to_record_batch};
use crate::test_support::{rows, totals};

/// A spool of `sizes.len()` rounds; returns its bytes and the offset each round ends at.
fn spool_of(dir: &Path, sizes: &[usize]) -> (Vec<u8>, Vec<u64>) {
    let path = dir.join("s.spool");
    let schema = schema("node-a", 1_000_000_000);
    let mut spool = Spool::create(&path, &schema).expect("create");
    let mut ends = vec![fs::metadata(&path).expect("stat").len()];
    for (tick, &n) in sizes.iter().enumerate() {
        let batch = to_record_batch(&schema, &rows(tick as i64, n)).expect("batch");
        spool.append(&batch).expect("append");
        ends.push(fs::metadata(&path).expect("stat").len());
    }
    (fs::read(&path).expect("read"), ends)
}

fn read_cut(dir: &Path, bytes: &[u8], cut: usize) -> (SpoolContents, Vec<u64>) {
    let path = dir.join(format!("cut-{cut}.spool"));
    fs::write(&path, &bytes[..cut]).expect("write the cut copy");
    let mut batches = Vec::new();
    let contents = read_spool(&path, |_, b| {
        batches.push(b);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
    fs::remove_file(&path).expect("remove");
    (contents, totals(&batches))
}

#[test]
fn every_round_appended_is_on_disk_when_append_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, ends) = spool_of(dir.path(), &[3, 1, 2]);
    assert_eq!(bytes.len() as u64, *ends.last().expect("an end"));
    let (contents, values) = read_cut(dir.path(), &bytes, bytes.len());
    assert_eq!(
        (contents.batches, contents.rows, contents.truncated),
        (3, 6, false)
    );
    assert_eq!(values, [0, 1, 2, 1000, 2000, 2001]);
    assert_eq!(
        contents
            .schema
            .expect("schema")
            .metadata()
            .get(crate::schema::META_NODE)
            .map(String::as_str),
        Some("node-a"),
        "the metadata survives in the spool"
    );
}

#[test]
fn a_spool_cut_at_every_byte_of_its_last_round_keeps_every_earlier_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, ends) = spool_of(dir.path(), &[2, 3, 4]);
    let last_start = usize::try_from(ends[2]).expect("fits");
    assert!(
        bytes.len() - last_start > 100,
        "the last round is a real message"
    );
    for cut in last_start..bytes.len() {
        let (contents, values) = read_cut(dir.path(), &bytes, cut);
        assert_eq!(contents.batches, 2, "cut at {cut}");
        assert_eq!(values, [0, 1, 1000, 1001, 1002], "cut at {cut}");
    }
}

#[test]
fn a_spool_cut_in_any_earlier_round_keeps_the_rounds_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bytes, ends) = spool_of(dir.path(), &[1, 1, 1]);
    for cut in 0..bytes.len() {
        let whole = ends.iter().skip(1).filter(|&&e| e <= cut as u64).count();
        let (contents, values) = read_cut(dir.path(), &bytes, cut);
        assert_eq!(contents.batches, whole, "cut at {cut}");
        assert_eq!(values, [0, 1000, 2000][..whole], "cut at {cut}");
        assert_eq!(
            contents.schema.is_some(),
            cut as u64 >= ends[0] || whole > 0,
            "cut at {cut}"
        );
    }
}

#[test]
fn a_spool_shows_its_file_when_debug_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.spool");
    let spool = Spool::create(&path, &schema("node-a", 1_000_000_000)).expect("create");
    let shown = format!("{spool:?}");
    assert!(
        shown.starts_with("Spool") && shown.contains(&format!("{path:?}")),
        "{shown}"
    );
}
