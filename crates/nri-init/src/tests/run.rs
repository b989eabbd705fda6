//! Whole runs in scratch directories: what is written, what is kept, what is refused. A
//! fake `/proc` and a shell "restart" stand in for containerd (the real one is in the
//! e2e suite).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Class, Error, Options, Restart, Settings, run};

const V2_DISABLED: &str =
    "version = 2\n\n# NRI off for now.\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n";

fn options(config: &Path) -> Options {
    Options {
        config: Some(config.to_path_buf()),
        mode: crate::Mode::Containerd,
        containerd_version: Some("1.7.24".parse().expect("version")),
        find_binary: false,
        timeout: Duration::from_secs(3),
        ..Options::default()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn malformed_toml_is_reported_with_line_and_column_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    let text = "version = 2\n[plugins\n  disable = true\n";
    std::fs::write(&config, text).expect("config");
    let err = run(&options(&config)).expect_err("malformed");
    match &err {
        Error::Malformed { line, column, .. } => assert_eq!((*line, *column), (2, 9), "{err}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(err.to_string().contains("line 2, column 9"), "{err}");
    assert_eq!(err.class(), Class::Refused);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), text);
    assert_eq!(names(dir.path()), ["config.toml"]);
}

#[test]
fn a_second_run_changes_nothing_and_says_so() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let first = run(&options(&config)).expect("first run");
    assert_eq!(first.changes.len(), 2, "{first}");
    let backup = first.backup.clone().expect("a backup");
    assert_eq!(
        std::fs::read_to_string(&backup).expect("backup"),
        V2_DISABLED
    );
    let after_first = std::fs::read(&config).expect("read");
    let second = run(&options(&config)).expect("second run");
    assert!(second.is_unchanged(), "{second}");
    assert!(second.to_string().contains("nothing changed"), "{second}");
    assert_eq!(std::fs::read(&config).expect("read"), after_first);
    assert_eq!(
        names(dir.path()).len(),
        2,
        "config and one backup: {:?}",
        names(dir.path())
    );
}

#[test]
fn a_dry_run_prints_the_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let report = run(&Options {
        dry_run: true,
        ..options(&config)
    })
    .expect("dry run");
    assert!(
        report
            .diff
            .contains("-  disable = true\n+  disable = false\n+  disable_connections = false\n"),
        "{}",
        report.diff
    );
    assert!(
        report.to_string().contains("nothing was written"),
        "{report}"
    );
    assert_eq!(std::fs::read_to_string(&config).expect("read"), V2_DISABLED);
    assert_eq!(names(dir.path()), ["config.toml"]);
}

#[test]
fn a_config_containerd_refuses_is_never_installed() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let bin = tempfile::tempdir().expect("bin dir");
    let containerd = script(
        bin.path(),
        "containerd",
        "case \"$1\" in --version) echo 'containerd x 1.7.24';; *) echo 'containerd: failed to unmarshal TOML: (2, 1): bad' >&2; exit 1;; esac",
    );
    let err = run(&Options {
        containerd_version: None,
        containerd_binary: Some(containerd),
        ..options(&config)
    })
    .expect_err("rejected");
    assert!(matches!(err, Error::Rejected { .. }), "{err}");
    assert!(
        err.to_string().contains("failed to unmarshal TOML"),
        "{err}"
    );
    assert_eq!(err.class(), Class::Rejected);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), V2_DISABLED);
    assert_eq!(names(dir.path()), ["config.toml"]);
}

#[test]
fn an_override_containerd_reports_stops_the_install() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let bin = tempfile::tempdir().expect("bin dir");
    let containerd = script(
        bin.path(),
        "containerd",
        "case \"$1\" in --version) echo 'containerd x 1.7.24';; *) printf 'version = 2\\n[plugins.\"io.containerd.nri.v1.nri\"]\\n  disable = true\\n';; esac",
    );
    let err = run(&Options {
        containerd_binary: Some(containerd),
        ..options(&config)
    })
    .expect_err("not effective");
    assert!(matches!(err, Error::NotEffective { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), V2_DISABLED);
}

#[test]
fn the_drop_in_holding_nri_s_table_is_the_file_edited() {
    let dir = tempfile::tempdir().expect("scratch");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dropins");
    std::fs::create_dir(dir.path().join("conf.d")).expect("conf.d");
    for file in [
        "config.toml",
        "conf.d/10-nri.toml",
        "conf.d/20-registry.toml",
    ] {
        std::fs::copy(fixtures.join(file), dir.path().join(file)).expect("copy fixture");
    }
    let config = dir.path().join("config.toml");
    let report = run(&options(&config)).expect("run");
    assert_eq!(report.file, dir.path().join("conf.d/10-nri.toml"));
    let main = std::fs::read_to_string(&config).expect("main");
    assert_eq!(
        main,
        std::fs::read_to_string(fixtures.join("config.toml")).expect("fixture")
    );
    let drop_in = std::fs::read_to_string(&report.file).expect("drop-in");
    assert!(drop_in.contains("  disable = false\n"), "{drop_in}");
}

#[test]
fn a_missing_file_is_created_in_the_version_containerd_writes() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    let report = run(&Options {
        containerd_version: Some("2.1.9".parse().expect("version")),
        ..options(&config)
    })
    .expect("run");
    assert_eq!(report.backup, None);
    assert_eq!(
        std::fs::read_to_string(&config).expect("created"),
        "version = 3\n\n[plugins.'io.containerd.nri.v1.nri']\ndisable = false\ndisable_connections = false\n"
    );
}

/// A fake `/proc` whose "containerd" is replaced by a new pid on every "restart", as
/// the shell command the test passes does.
struct FakeProc {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl FakeProc {
    fn new(config: &Path) -> Self {
        let fake = FakeProc {
            dir: tempfile::tempdir().expect("fake proc"),
            config: config.to_path_buf(),
        };
        std::fs::write(fake.dir.path().join("counter"), "100").expect("counter");
        std::fs::create_dir(fake.proc()).expect("proc");
        let status = std::process::Command::new("sh")
            .args(["-c", &fake.restart_command()])
            .status()
            .expect("first containerd");
        assert!(status.success());
        fake
    }

    fn proc(&self) -> PathBuf {
        self.dir.path().join("proc")
    }

    fn restart_command(&self) -> String {
        let d = self.dir.path().display();
        let c = self.config.display();
        format!(
            "n=$(($(cat {d}/counter)+1)); echo $n > {d}/counter; rm -rf {d}/proc/*; mkdir {d}/proc/$n; \
             printf 'containerd\\0--config\\0{c}\\0' > {d}/proc/$n/cmdline; \
             echo \"$n (containerd) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 $n 0 0\" > {d}/proc/$n/stat"
        )
    }
}

#[test]
fn a_restart_is_proven_by_a_new_process_and_the_nri_socket() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let socket = dir.path().join("nri.sock");
    let _listener = UnixListener::bind(&socket).expect("socket");
    let fake = FakeProc::new(&config);
    let report = run(&Options {
        restart: Some(Restart::Command(fake.restart_command())),
        proc: fake.proc(),
        settings: Settings {
            socket_path: Some(socket.display().to_string()),
            plugin_path: None,
        },
        ..options(&config)
    })
    .expect("restarted");
    let restarted = report.restarted.expect("a restart");
    assert_eq!(
        restarted.before.iter().map(|p| p.pid).collect::<Vec<_>>(),
        [101]
    );
    assert_eq!(restarted.after.pid, 102);
    assert_eq!(restarted.socket.as_deref(), Some(socket.as_path()));
}

#[test]
fn a_socket_that_never_answers_puts_the_backup_back() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let fake = FakeProc::new(&config);
    let err = run(&Options {
        restart: Some(Restart::Command(fake.restart_command())),
        proc: fake.proc(),
        timeout: Duration::from_millis(500),
        settings: Settings {
            socket_path: Some(dir.path().join("absent.sock").display().to_string()),
            plugin_path: None,
        },
        ..options(&config)
    })
    .expect_err("rolled back");
    assert_eq!(err.class(), Class::RolledBack, "{err}");
    let chain = cause_chain::render(&err);
    assert!(chain.contains("did not accept a connection"), "{chain}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), V2_DISABLED);
    // Restarted twice: with the new file, then with the backup.
    assert_eq!(
        std::fs::read_to_string(fake.dir.path().join("counter"))
            .expect("n")
            .trim(),
        "103"
    );
}

#[test]
fn a_restart_that_brings_no_new_containerd_is_reported_with_what_was_seen() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, V2_DISABLED).expect("config");
    let fake = FakeProc::new(&config);
    let err = run(&Options {
        restart: Some(Restart::Command("true".into())),
        proc: fake.proc(),
        timeout: Duration::from_millis(300),
        ..options(&config)
    })
    .expect_err("no restart seen");
    // The rollback's restart sees no new containerd either.
    assert_eq!(err.class(), Class::RollbackFailed, "{err}");
    let chain = cause_chain::render(&err);
    assert!(chain.contains("no new containerd"), "{chain}");
    assert!(chain.contains("pid 101"), "{chain}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), V2_DISABLED);
}

#[test]
fn an_enabled_file_whose_containerd_serves_no_nri_yet_is_restarted_when_asked() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    let socket = dir.path().join("nri.sock");
    let enabled = format!(
        "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = false\n  disable_connections = false\n  socket_path = \"{}\"\n",
        socket.display()
    );
    std::fs::write(&config, &enabled).expect("config");
    let fake = FakeProc::new(&config);
    // The "restart" brings NRI up: the socket appears once the new process does.
    let counter = fake.dir.path().join("counter");
    let bind_to = socket.clone();
    let nri_up = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::fs::read_to_string(&counter).unwrap_or_default().trim() != "102" {
            assert!(std::time::Instant::now() < deadline, "no restart");
            std::thread::sleep(Duration::from_millis(10));
        }
        UnixListener::bind(&bind_to).expect("socket")
    });
    let report = run(&Options {
        restart: Some(Restart::Command(fake.restart_command())),
        proc: fake.proc(),
        ..options(&config)
    })
    .expect("restarted");
    let _listener = nri_up.join().expect("the socket came up");
    assert!(report.is_unchanged(), "{report}");
    assert_eq!(report.restarted.expect("a restart").after.pid, 102);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), enabled);
}

#[test]
fn an_enabled_file_whose_containerd_serves_nri_is_not_restarted() {
    let dir = tempfile::tempdir().expect("scratch");
    let config = dir.path().join("config.toml");
    let socket = dir.path().join("nri.sock");
    let _listener = UnixListener::bind(&socket).expect("socket");
    std::fs::write(
        &config,
        format!(
            "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = false\n  disable_connections = false\n  socket_path = \"{}\"\n",
            socket.display()
        ),
    )
    .expect("config");
    let fake = FakeProc::new(&config);
    let report = run(&Options {
        restart: Some(Restart::Command(fake.restart_command())),
        proc: fake.proc(),
        ..options(&config)
    })
    .expect("run");
    assert!(
        report.is_unchanged() && report.restarted.is_none(),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(fake.dir.path().join("counter"))
            .expect("n")
            .trim(),
        "101"
    );
}

fn k3s_options(dir: &Path) -> Options {
    Options {
        mode: crate::Mode::K3s,
        containerd_version: None,
        ..options(dir)
    }
}

#[test]
fn k3s_gets_a_template_of_its_base_and_nri_s_table() {
    let dir = tempfile::tempdir().expect("scratch");
    std::fs::write(
        dir.path().join("config.toml"),
        "# generated by k3s\nversion = 3\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n",
    )
    .expect("generated");
    let report = run(&k3s_options(dir.path())).expect("run");
    let template = dir.path().join("config-v3.toml.tmpl");
    assert_eq!(report.file, template);
    assert_eq!(
        std::fs::read_to_string(&template).expect("template"),
        "{{ template \"base\" . }}\n\n[plugins.'io.containerd.nri.v1.nri']\ndisable = false\ndisable_connections = false\n"
    );
    assert!(
        run(&k3s_options(dir.path()))
            .expect("second run")
            .is_unchanged()
    );
}

#[test]
fn k3s_that_enables_nri_itself_gets_no_template() {
    let dir = tempfile::tempdir().expect("scratch");
    std::fs::write(
        dir.path().join("config.toml"),
        "version = 3\n[plugins.'io.containerd.nri.v1.nri']\n  disable = false\n",
    )
    .expect("generated");
    let report = run(&k3s_options(dir.path())).expect("run");
    assert!(report.is_unchanged(), "{report}");
    assert_eq!(names(dir.path()), ["config.toml"]);
}

#[test]
fn k3s_whose_base_writes_a_disabled_nri_table_is_refused() {
    let dir = tempfile::tempdir().expect("scratch");
    std::fs::write(
        dir.path().join("config.toml"),
        "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n",
    )
    .expect("generated");
    let err = run(&k3s_options(dir.path())).expect_err("refused");
    assert!(matches!(err, Error::K3sBaseHasNri { .. }), "{err}");
    assert_eq!(names(dir.path()), ["config.toml"]);
}
