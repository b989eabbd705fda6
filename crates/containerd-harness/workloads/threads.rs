//! `threads N`: a process of N + 1 threads (itself and N more) that all live until it is
//! killed, for end-to-end tests that must tell threads from processes. Busybox has no
//! applet that starts threads, so the `nri-e2e` suite compiles this file on its own with
//! `rustc -C target-feature=+crt-static` (the images have no libraries) and adds it to
//! the workload image as `/bin/threads`.

use std::process::ExitCode;
use std::thread;

fn main() -> ExitCode {
    let Some(n) = std::env::args().nth(1).and_then(|a| a.parse::<usize>().ok()) else {
        eprintln!("usage: threads N (N: how many threads to start besides the main one)");
        return ExitCode::from(2);
    };
    for _ in 0..n {
        // Parking may wake spuriously; each thread must outlive that.
        thread::spawn(|| {
            loop {
                thread::park();
            }
        });
    }
    loop {
        thread::park();
    }
}
