//! `collector-s3`: the collector binary uploading to a real S3-compatible server on
//! loopback, and its `/metrics` read by an independent parser.
//!
//! Steps: the Python tools (boto3, pyarrow, prometheus_client) into a venv, `s3s-fs` built
//! from crates.io (both under `target/xtask/tools`, kept between runs), then the tests in
//! `crates/collector/tests/{s3,metrics}.rs`, `#[ignore]`d in unit runs. Each test starts
//! and stops its own server and collector; nothing outlives it.

use super::{Suite, SuiteCtx};
use crate::level::{Duration, Level};
use crate::plan::Step;
use crate::provision::{python, s3s_fs};
use crate::test_run::TestRun;

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "collector-s3",
    about: "Suite: the collector's uploads to an S3-compatible server on loopback (s3s-fs) with \
            the store stopped, wrong credentials and a full spool, read back with boto3 and \
            pyarrow; /metrics parsed by prometheus_client (installs its tools itself).",
    min_level: Level::CheapShort,
    needs: &[],
    duration: Duration::Short,
    paths: &[],
    args: None,
    steps,
};

/// The independent clients, pinned.
const REQUIREMENTS: [&str; 3] = [
    "boto3==1.44.8",
    "pyarrow==26.0.1",
    "prometheus_client==0.26.0",
];

fn steps(ctx: &SuiteCtx<'_>) -> anyhow::Result<Vec<Step>> {
    let venv = python::venv("collector-s3");
    let tools = Step::task(
        "collector-s3: python tools",
        format!(
            "pip install {} into {}",
            REQUIREMENTS.join(" "),
            venv.display()
        ),
        move |io| python::ensure(io, &venv, &REQUIREMENTS, "the collector's S3 test clients"),
    )
    .in_chain("collector-s3");
    let server = Step::task(
        "collector-s3: s3s-fs",
        format!(
            "cargo install s3s-fs {} into {} (if missing)",
            s3s_fs::VERSION,
            s3s_fs::root().display()
        ),
        s3s_fs::ensure,
    )
    .in_chain("collector-s3");
    let tests = TestRun {
        packages: vec!["collector".to_string()],
        filter: Some("package(collector) & (binary(s3) | binary(metrics))".to_string()),
        ignored_only: true,
        archive: ctx.archive.clone(),
        ..TestRun::default()
    }
    .step(ctx.ctx, "collector-s3: tests")?
    .in_chain("collector-s3");
    Ok(vec![tools, server, tests])
}
