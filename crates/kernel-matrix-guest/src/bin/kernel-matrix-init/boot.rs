//! The guest's life: mount what a test needs, run every test binary of the manifest, and
//! power off. Nothing here is retried: a guest is booted fresh for every run.

use std::ffi::CString;
use std::path::Path;

use crate::run;
use kernel_matrix_guest::{CgroupMode, Settings, expect_var, parse_cmdline};
use kernel_matrix_guest::{Outcome, Verdict, say};

/// Where the runner puts the manifest of test binaries in the initramfs.
pub const MANIFEST: &str = "/kmatrix/tests";
/// Where cgroups are mounted, as on a distribution.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Mounts, runs the tests and returns the verdict.
pub fn run_guest() -> Result<Verdict, String> {
    if std::process::id() == 1 {
        mount_kernel_filesystems()?;
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline")
        .map_err(|e| format!("reading /proc/cmdline: {e}"))?;
    let settings = parse_cmdline(&cmdline)?;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("reading the kernel release: {e}"))?;
    let release = release.trim();
    say(&format!(
        "start kernel={release} cgroup={}",
        settings.cgroup.name()
    ));
    if settings.hang {
        say("hanging as asked (kmatrix.hang)");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    if settings.probe {
        return Ok(Verdict::Pass);
    }
    if std::process::id() == 1 {
        mount_cgroups(settings.cgroup);
    }
    let manifest = std::fs::read_to_string(MANIFEST)
        .map_err(|e| format!("reading the manifest {MANIFEST}: {e}"))?;
    let binaries = run::parse_manifest(&manifest)?;
    let env = test_env(&settings, release);
    let mut verdict = Verdict::Pass;
    for binary in &binaries {
        match run::run_binary(binary, &env) {
            Ok(outcome) => {
                let all_passed = !outcome.results.is_empty()
                    && outcome.results.iter().all(|(_, o)| *o == Outcome::Pass);
                if !outcome.success || !all_passed {
                    verdict = Verdict::Fail;
                }
            }
            Err(err) => {
                say(&format!("error {err}"));
                verdict = Verdict::Fail;
            }
        }
    }
    Ok(verdict)
}

/// What every test binary is told: the mode, the kernel, and each expected outcome.
fn test_env(settings: &Settings, release: &str) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "KMATRIX_CGROUP".to_string(),
            settings.cgroup.name().to_string(),
        ),
        ("KMATRIX_KERNEL".to_string(), release.to_string()),
        ("PATH".to_string(), "/bin".to_string()),
        // libtest prints results only; a failing test's backtrace helps on the console.
        ("RUST_BACKTRACE".to_string(), "1".to_string()),
    ];
    for (key, value) in &settings.expect {
        env.push((expect_var(key), value.clone()));
    }
    env
}

fn mount_kernel_filesystems() -> Result<(), String> {
    for (fs_type, target) in [
        ("proc", "/proc"),
        ("sysfs", "/sys"),
        ("devtmpfs", "/dev"),
        ("tmpfs", "/tmp"),
        ("tmpfs", "/run"),
    ] {
        mount(fs_type, target, fs_type, "")
            .map_err(|e| format!("mounting {fs_type} on {target}: {e}"))?;
    }
    Ok(())
}

/// Mounts the cgroup hierarchies of `mode` and reports what it got; a v1 controller the
/// kernel will not mount (built without its v1 interface) is reported, not fatal, since
/// that is one of the facts the matrix records.
fn mount_cgroups(mode: CgroupMode) {
    match mode {
        CgroupMode::V2 => match mount("cgroup2", CGROUP_ROOT, "cgroup2", "") {
            Ok(()) => say("cgroup v2 mounted"),
            Err(e) => say(&format!("error mounting cgroup2 on {CGROUP_ROOT}: {e}")),
        },
        CgroupMode::V1 => {
            if let Err(e) = mount("tmpfs", CGROUP_ROOT, "tmpfs", "mode=755") {
                say(&format!("error mounting tmpfs on {CGROUP_ROOT}: {e}"));
                return;
            }
            let controllers = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
            let mut mounted = Vec::new();
            let mut refused = Vec::new();
            let named = [("systemd".to_string(), "none,name=systemd".to_string())];
            let hierarchies = enabled_controllers(&controllers)
                .into_iter()
                .map(|c| (c.clone(), c))
                .chain(named);
            for (dir, options) in hierarchies {
                let target = format!("{CGROUP_ROOT}/{dir}");
                match mount("cgroup", &target, "cgroup", &options) {
                    Ok(()) => mounted.push(dir),
                    Err(e) => refused.push(format!("{dir}({e})")),
                }
            }
            say(&format!(
                "cgroup v1 mounted={} refused={}",
                mounted.join(","),
                refused.join(",")
            ));
        }
    }
}

/// The enabled controllers of `/proc/cgroups` (`#subsys_name hierarchy num_cgroups enabled`).
pub fn enabled_controllers(proc_cgroups: &str) -> Vec<String> {
    proc_cgroups
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 4 && fields[3] == "1").then(|| fields[0].to_string())
        })
        .collect()
}

/// mount(2), creating the target directory first.
fn mount(source: &str, target: &str, fs_type: &str, data: &str) -> Result<(), String> {
    std::fs::create_dir_all(Path::new(target)).map_err(|e| format!("mkdir {target}: {e}"))?;
    let cstr = |s: &str| CString::new(s).map_err(|_| format!("`{s}` holds a NUL byte"));
    let (source, target_c, fs_type, data) =
        (cstr(source)?, cstr(target)?, cstr(fs_type)?, cstr(data)?);
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            fs_type.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

/// Flushes and powers the machine off (QEMU then exits).
pub fn power_off() -> ! {
    // SAFETY: sync(2) and reboot(2) take no pointers; as PID 1 we may power off.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    // reboot(2) does not return on success; if it failed, exiting PID 1 panics the kernel,
    // which `panic=-1` turns into a reset that QEMU's `-no-reboot` ends.
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_enabled_controllers_are_mounted() {
        let table = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\nmemory\t0\t1\t0\npids\t0\t1\t1\n";
        assert_eq!(enabled_controllers(table), ["cpuset", "pids"]);
    }

    #[test]
    fn tests_learn_the_mode_the_kernel_and_each_expectation() {
        let settings = Settings {
            cgroup: CgroupMode::V1,
            expect: vec![("cgroup-kill".into(), "absent".into())],
            hang: false,
            probe: false,
        };
        let env = test_env(&settings, "6.1.0-50-cloud-amd64");
        assert!(env.contains(&("KMATRIX_CGROUP".into(), "v1".into())));
        assert!(env.contains(&("KMATRIX_KERNEL".into(), "6.1.0-50-cloud-amd64".into())));
        assert!(env.contains(&("KMATRIX_EXPECT_CGROUP_KILL".into(), "absent".into())));
    }
}
