//! `kernel-matrix-init`: PID 1 of a kernel-matrix guest. `cargo xtask kernel-matrix` packs
//! it with the test binaries into an initramfs and reads what it prints on the serial
//! console.

mod boot;
mod run;

use std::process::ExitCode;

fn main() -> ExitCode {
    let pid1 = std::process::id() == 1;
    let verdict = match boot::run_guest() {
        Ok(verdict) => verdict,
        Err(err) => {
            kernel_matrix_guest::say(&format!("error {err}"));
            kernel_matrix_guest::Verdict::Fail
        }
    };
    kernel_matrix_guest::say(&format!("verdict {}", verdict.word()));
    if pid1 {
        boot::power_off();
    }
    // Run by hand outside a guest (for a look at what it would do), exit like a test.
    match verdict {
        kernel_matrix_guest::Verdict::Pass => ExitCode::SUCCESS,
        kernel_matrix_guest::Verdict::Fail => ExitCode::FAILURE,
    }
}
