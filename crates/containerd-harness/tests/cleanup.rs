//! Removes everything private containerd instances left under the run directory, and fails
//! if anything remains. Not a test of behaviour but the suite's final cleanup: `cargo xtask
//! nri-e2e` runs it in an always-run step (after failures and Ctrl-C too), so it runs the
//! same way from a source build or from a nextest archive.

use containerd_harness::ENV_RUN_DIR;

#[test]
#[ignore = "cleans leftovers of the nri-e2e suite; run by `cargo xtask nri-e2e`"]
fn cleanup_leftovers_of_the_suite() {
    let run_dir = std::env::var_os(ENV_RUN_DIR).unwrap_or_else(|| {
        panic!("{ENV_RUN_DIR} is not set; run this through `cargo xtask nri-e2e`")
    });
    let reports = containerd_harness::cleanup_run_dir(std::path::Path::new(&run_dir))
        .unwrap_or_else(|e| {
            panic!(
                "leftovers under {} could not all be removed: {}",
                run_dir.to_string_lossy(),
                cause_chain::Chain(&e)
            )
        });
    for report in &reports {
        println!("{report}");
    }
    println!(
        "{} leftover private containerd director(ies) under {} cleaned",
        reports.len(),
        run_dir.to_string_lossy()
    );
}
