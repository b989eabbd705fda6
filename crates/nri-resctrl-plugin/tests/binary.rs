//! The `nri-resctrl-plugin` binary as a user meets it: help, and clear failures before it
//! ever connects.

use std::process::{Command, Output};

fn plugin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nri-resctrl-plugin"));
    // Not launched by a runtime, whatever the environment of the test run.
    for var in ["NRI_PLUGIN_SOCKET", "NRI_PLUGIN_NAME", "NRI_PLUGIN_IDX"] {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run the plugin binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_settings() {
    let out = run(plugin().arg("--help"));
    assert!(out.status.success(), "{out:?}");
    let help = text(&out.stdout);
    for flag in [
        "--socket-path",
        "--plugin-name",
        "--plugin-index",
        "--group-prefix",
        "--cleanup-on-start",
        "--auto-mount",
        "--resctrl-root",
        "--cgroup-root",
        "--retry-interval",
        "--log-level",
        "NRI_PLUGIN_SOCKET",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn without_resctrl_it_fails_before_connecting_and_says_why() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = run(plugin()
        .args(["--resctrl-root"])
        .arg(root.path())
        .args(["--socket-path", "/nonexistent/nri.sock"]));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot prepare resctrl"), "{stderr}");
    assert!(stderr.contains("not mounted"), "{stderr}");
    assert!(
        !stderr.contains("nri.sock"),
        "it must not have tried to connect: {stderr}"
    );
}

#[test]
fn an_invalid_runtime_given_identity_is_refused() {
    let out = run(plugin().env("NRI_PLUGIN_IDX", "7"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid plugin identity"), "{stderr}");
    assert!(stderr.contains("two digits"), "{stderr}");
}
