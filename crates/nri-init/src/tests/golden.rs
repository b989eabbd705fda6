//! Golden fixtures: each input under `tests/fixtures`, edited for a containerd version,
//! must give exactly the text in `tests/fixtures/expected`, and that text must need no
//! further edit. `NRI_INIT_BLESS=1` rewrites the expected files (review the diff).

use std::path::{Path, PathBuf};

use crate::{ContainerdVersion, Settings, dialect, enable, parse};

struct Case {
    input: &'static str,
    containerd: Option<&'static str>,
    settings: Settings,
    /// `None`: the input must come back unchanged.
    expected: Option<&'static str>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn paths() -> Settings {
    Settings {
        socket_path: Some("/run/nri/nri.sock".into()),
        plugin_path: Some("/usr/libexec/nri".into()),
    }
}

fn check(case: &Case) {
    let input_path = fixtures().join(case.input);
    let input = std::fs::read_to_string(&input_path).expect("fixture readable");
    let containerd = case
        .containerd
        .map(|v| v.parse::<ContainerdVersion>().expect("fixture version"));
    let doc = parse(&input_path, &input).expect("fixture is TOML");
    let version = crate::edit::file_version(&input_path, &doc).expect("integer version");
    let d = dialect(&input_path, version, containerd).expect("a dialect");
    let edited = enable(&input_path, &input, &d, &case.settings).expect("edited");
    let Some(expected_name) = case.expected else {
        assert!(
            edited.is_unchanged(),
            "{}: {:?}",
            case.input,
            edited.changes
        );
        assert_eq!(
            edited.text, input,
            "{}: unchanged text is byte-identical",
            case.input
        );
        return;
    };
    let expected_path = fixtures().join("expected").join(expected_name);
    if std::env::var_os("NRI_INIT_BLESS").is_some() {
        std::fs::write(&expected_path, &edited.text).expect("blessing");
    }
    let expected = std::fs::read_to_string(&expected_path).expect("expected file readable");
    assert!(!edited.is_unchanged(), "{}: expected a change", case.input);
    assert_eq!(
        edited.text,
        expected,
        "{} for containerd {:?}; diff:\n{}",
        case.input,
        case.containerd,
        crate::unified_diff(case.input, &expected, &edited.text)
    );
    let again = enable(&input_path, &edited.text, &d, &case.settings).expect("edited again");
    assert!(
        again.is_unchanged(),
        "{}: second run changed {:?}",
        case.input,
        again.changes
    );
}

#[test]
fn containerd_17_s_default_flips_only_nri_s_disable() {
    check(&Case {
        input: "containerd-1.7-default.toml",
        containerd: Some("1.7.24"),
        settings: Settings::default(),
        expected: Some("containerd-1.7-default.toml"),
    });
}

#[test]
fn containerd_21_s_default_already_enables_nri_and_is_left_alone() {
    check(&Case {
        input: "containerd-2.1-default.toml",
        containerd: Some("2.1.9"),
        settings: Settings::default(),
        expected: None,
    });
}

#[test]
fn containerd_21_with_nri_disabled_gets_it_enabled_and_the_paths_set_in_single_quotes() {
    check(&Case {
        input: "containerd-2.1-nri-disabled.toml",
        containerd: Some("2.1.9"),
        settings: paths(),
        expected: Some("containerd-2.1-nri-disabled.toml"),
    });
}

#[test]
fn comments_and_other_plugins_disable_keys_survive() {
    check(&Case {
        input: "comments.toml",
        containerd: Some("1.7.24"),
        settings: paths(),
        expected: Some("comments.toml"),
    });
}

#[test]
fn a_single_quoted_file_gets_a_single_quoted_nri_table() {
    check(&Case {
        input: "single-quoted.toml",
        containerd: None,
        settings: Settings::default(),
        expected: Some("single-quoted.toml"),
    });
}

#[test]
fn a_double_quoted_version_3_file_gets_a_double_quoted_nri_table() {
    check(&Case {
        input: "double-quoted.toml",
        containerd: Some("2.1.9"),
        settings: Settings::default(),
        expected: Some("double-quoted.toml"),
    });
}

#[test]
fn a_file_without_version_is_edited_as_version_1_for_containerd_17() {
    check(&Case {
        input: "no-version.toml",
        containerd: Some("1.7.24"),
        settings: Settings::default(),
        expected: Some("no-version.1.7.toml"),
    });
}

#[test]
fn a_file_without_version_gets_the_full_plugin_id_for_containerd_21() {
    check(&Case {
        input: "no-version.toml",
        containerd: Some("2.1.9"),
        settings: Settings::default(),
        expected: Some("no-version.2.1.toml"),
    });
}

#[test]
fn a_version_1_file_gets_the_short_nri_table_for_containerd_17() {
    check(&Case {
        input: "v1.toml",
        containerd: Some("1.7.24"),
        settings: Settings::default(),
        expected: Some("v1.1.7.toml"),
    });
}

#[test]
fn a_drop_in_s_nri_table_is_edited_in_place() {
    check(&Case {
        input: "dropins/conf.d/10-nri.toml",
        containerd: Some("1.7.24"),
        settings: Settings::default(),
        expected: Some("dropins-10-nri.toml"),
    });
}

#[test]
fn a_17_file_without_nri_s_table_gets_one_after_its_last_top_level_table() {
    check(&Case {
        input: "containerd-1.7-without-nri.toml",
        containerd: Some("1.7.24"),
        settings: Settings::default(),
        expected: Some("containerd-1.7-without-nri.toml"),
    });
}
