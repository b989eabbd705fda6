//! The property: whatever the file looks like, the edit changes NRI's table and nothing
//! else. Generated files mix plugin tables with both quotings, comments, indentation,
//! other plugins' `disable` keys, and an NRI table (or none) anywhere among them.

use std::path::Path;

use proptest::prelude::*;

use crate::{Settings, dialect, enable};

const OTHER_PLUGINS: [&str; 4] = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.tracing",
    "io.containerd.snapshotter.v1.overlayfs",
    "io.containerd.runtime.v2.task",
];

fn comment() -> impl Strategy<Value = String> {
    "[a-z =\"'\\[\\]]{0,20}".prop_map(|t| format!("# {t}\n"))
}

fn key_value() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "disable",
            "path",
            "level",
            "sandbox_image",
            "root_path",
        ]),
        prop_oneof![
            any::<bool>().prop_map(|b| b.to_string()),
            "[a-z/]{0,12}".prop_map(|s| format!("\"{s}\"")),
            "[a-z/]{0,12}".prop_map(|s| format!("'{s}'")),
            (0i64..1000).prop_map(|n| n.to_string()),
        ],
        prop::sample::select(vec!["", "  ", "    ", "\t"]),
        prop::option::of("[a-z ]{0,10}"),
    )
        .prop_map(|(key, value, indent, trailing)| {
            let trailing = trailing.map_or(String::new(), |t| format!("  # {t}"));
            format!("{indent}{key} = {value}{trailing}\n")
        })
}

fn body() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![3 => key_value(), 1 => comment(), 1 => Just("\n".to_owned())],
        0..5,
    )
    .prop_map(|lines| {
        // A key may appear once per table.
        let mut seen = std::collections::HashSet::new();
        lines
            .into_iter()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or("").trim().to_owned();
                !l.contains(" = ") || l.trim_start().starts_with('#') || seen.insert(key)
            })
            .collect()
    })
}

fn header(id: &'static str, single: bool) -> String {
    if single {
        format!("[plugins.'{id}']\n")
    } else {
        format!("[plugins.\"{id}\"]\n")
    }
}

prop_compose! {
    fn document()(
        version in prop::sample::select(vec![2i64, 3]),
        others in prop::collection::vec((prop::sample::select(OTHER_PLUGINS.to_vec()), any::<bool>(), body()), 0..4),
        nri in prop::option::of((any::<bool>(), body())),
        nri_at in 0usize..5,
        trailing in prop::option::of(comment()),
    ) -> String {
        let mut used = std::collections::HashSet::new();
        let mut tables: Vec<String> = others
            .into_iter()
            .filter(|(id, _, _)| used.insert(*id))
            .map(|(id, single, body)| format!("\n{}{body}", header(id, single)))
            .collect();
        if let Some((single, body)) = nri {
            let at = nri_at.min(tables.len());
            tables.insert(at, format!("\n{}{body}", header(crate::NRI_PLUGIN, single)));
        }
        format!("version = {version}\n{}{}", tables.concat(), trailing.unwrap_or_default())
    }
}

/// Whether `line` belongs to NRI's table in `text`: its header, or a key line in it.
fn nri_lines(text: &str) -> Vec<bool> {
    let mut inside = false;
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with('[') {
                inside = trimmed.contains(crate::NRI_PLUGIN);
                return inside;
            }
            inside && !trimmed.is_empty() && !trimmed.starts_with('#')
        })
        .collect()
}

fn kept_lines(text: &str) -> Vec<&str> {
    text.lines()
        .zip(nri_lines(text))
        .filter(|(line, nri)| !nri && !line.trim().is_empty())
        .map(|(line, _)| line)
        .collect()
}

/// Byte offsets of NRI's header line and of the next header line (or the end).
fn nri_span(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if start.is_some() {
                return start.map(|s| (s, offset));
            }
            if trimmed.contains(crate::NRI_PLUGIN) {
                start = Some(offset);
            }
        }
        offset += line.len();
    }
    start.map(|s| (s, text.len()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_edit_keeps_every_byte_outside_nri_s_table(
        text in document(),
        socket in prop::option::of("/[a-z]{1,8}/nri.sock"),
    ) {
        let path = Path::new("/etc/containerd/config.toml");
        let version = crate::edit::file_version(path, &crate::parse(path, &text).expect("generated TOML"))
            .expect("integer version");
        let d = dialect(path, version, None).expect("versions 2 and 3 need no containerd version");
        let settings = Settings { socket_path: socket, plugin_path: None };
        let edited = enable(path, &text, &d, &settings).expect("edited");
        // Every line outside NRI's table (comments inside it included), in order.
        prop_assert_eq!(kept_lines(&edited.text), kept_lines(&text));
        // An existing table: the bytes before and after it are identical.
        if let Some((start, end)) = nri_span(&text) {
            let (new_start, new_end) = nri_span(&edited.text).expect("the table stays");
            prop_assert_eq!(&edited.text[..new_start], &text[..start]);
            prop_assert_eq!(&edited.text[new_end..], &text[end..]);
        }
        // A new table: the file is a prefix of the result.
        if nri_span(&text).is_none() {
            prop_assert!(edited.text.starts_with(&text), "{}", edited.text);
        }
        // And the result is what was asked, and final.
        let again = enable(path, &edited.text, &d, &settings).expect("edited again");
        prop_assert!(again.is_unchanged(), "{:?}", again.changes);
    }
}
