//! The edit itself: NRI's table in one TOML text, structurally, with `toml_edit`.
//!
//! Only NRI's table is touched, and in it only the keys that must change; every other byte
//! (comments, order, quoting, indentation) comes out as it went in. A text that needs no
//! change is returned as it is, byte for byte.

use std::path::Path;

use toml_edit::{Decor, DocumentMut, Item, Key, Table, TableLike, Value};

use crate::error::{Error, Result};
use crate::keys::{
    KEY_DISABLE, KEY_DISABLE_CONNECTIONS, KEY_PLUGIN_PATH, KEY_SOCKET_PATH, NRI_PLUGIN, PLUGINS,
};
use crate::version::{Dialect, Quote};

/// What the user asked NRI's table to say besides "enabled".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `socket_path`, when given.
    pub socket_path: Option<String>,
    /// `plugin_path`, when given.
    pub plugin_path: Option<String>,
}

/// One change the edit made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// NRI's table did not exist and was added (its header, as written).
    AddedTable(String),
    /// A key was set: its previous value as written (`None`: it was absent) and the new one.
    Set {
        /// The key.
        key: &'static str,
        /// The value it had, as written in the file.
        old: Option<String>,
        /// The value it has now, as written.
        new: String,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::AddedTable(header) => write!(f, "added the table [{header}]"),
            Change::Set {
                key,
                old: Some(old),
                new,
            } => write!(f, "{key}: {old} -> {new}"),
            Change::Set {
                key,
                old: None,
                new,
            } => write!(f, "{key}: (absent) -> {new}"),
        }
    }
}

/// The result of [`enable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The new text (the input itself when nothing changed).
    pub text: String,
    /// NRI's table as the file spells it (`plugins.'io.containerd.nri.v1.nri'`).
    pub header: String,
    /// What changed; empty when NRI was already enabled as asked.
    pub changes: Vec<Change>,
}

impl Edited {
    /// Whether the text is unchanged.
    pub fn is_unchanged(&self) -> bool {
        self.changes.is_empty()
    }
}

/// NRI's settings as a file (or containerd's dump) states them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NriView {
    /// `disable` (`None`: not stated).
    pub disable: Option<bool>,
    /// `disable_connections`.
    pub disable_connections: Option<bool>,
    /// `socket_path`.
    pub socket_path: Option<String>,
    /// `plugin_path`.
    pub plugin_path: Option<String>,
}

/// Parses `text` (the contents of `path`).
///
/// # Errors
/// [`Error::Malformed`] with the line and column of the first problem.
pub fn parse(path: &Path, text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>().map_err(|source| {
        let offset = source.span().map_or(0, |span| span.start).min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit_once('\n')
            .map_or(before, |(_, tail)| tail)
            .chars()
            .count()
            + 1;
        Error::Malformed {
            path: path.to_path_buf(),
            line,
            column,
            source: Box::new(source),
        }
    })
}

/// The document's `version` key (`None`: absent).
///
/// # Errors
/// [`Error::VersionNotInteger`] when `version` is not an integer.
pub fn file_version(path: &Path, doc: &DocumentMut) -> Result<Option<i64>> {
    match doc.get("version") {
        None => Ok(None),
        Some(item) => item
            .as_integer()
            .map(Some)
            .ok_or_else(|| Error::VersionNotInteger {
                path: path.to_path_buf(),
            }),
    }
}

/// Whether the document has NRI's table (in the dialect's spelling).
pub fn has_nri_table(doc: &DocumentMut, dialect: &Dialect) -> bool {
    nri_view(doc, dialect.table).is_some()
}

/// NRI's settings at `table` in `doc`, if that table exists.
pub fn nri_view(doc: &DocumentMut, table: [&str; 2]) -> Option<NriView> {
    let nri = doc
        .get(table[0])?
        .as_table_like()?
        .get(table[1])?
        .as_table_like()?;
    let string = |key: &str| nri.get(key).and_then(Item::as_str).map(str::to_owned);
    Some(NriView {
        disable: nri.get(KEY_DISABLE).and_then(Item::as_bool),
        disable_connections: nri.get(KEY_DISABLE_CONNECTIONS).and_then(Item::as_bool),
        socket_path: string(KEY_SOCKET_PATH),
        plugin_path: string(KEY_PLUGIN_PATH),
    })
}

/// Enables NRI in `text` (the contents of `path`) read as `dialect`.
///
/// Sets `disable = false`, `disable_connections = false` and the [`Settings`] given,
/// adding NRI's table (at the end) when it is missing.
///
/// # Errors
/// [`Error::Malformed`]; [`Error::PluginDisabled`] when `disabled_plugins` names NRI
/// (outside NRI's table, so left to the admin); [`Error::NotATable`] when `plugins` or
/// NRI's entry is a value rather than a table.
pub fn enable(path: &Path, text: &str, dialect: &Dialect, settings: &Settings) -> Result<Edited> {
    let mut doc = parse(path, text)?;
    check_not_disabled(path, &doc, dialect)?;
    let quote = quote_of(&doc, dialect);
    let header = header_of(&doc, dialect, quote);
    let mut changes = Vec::new();
    let next_position = max_position(doc.as_table()) + 1;
    // Comments after the last table are the document's trailing text, which is rendered
    // after every table; a new table goes after them instead, so the file's text stays
    // a prefix of the result (in a k3s template those may be `{{ template }}` lines).
    let trailing = doc.trailing().as_str().unwrap_or("").to_owned();
    let had_table = has_nri_table(&doc, dialect);
    let nri = nri_table(path, &mut doc, dialect, quote, next_position, &mut changes)?;
    let indent = indent_of(nri);
    set(nri, KEY_DISABLE, Value::from(false), &indent, &mut changes);
    set(
        nri,
        KEY_DISABLE_CONNECTIONS,
        Value::from(false),
        &indent,
        &mut changes,
    );
    for (key, wanted) in [
        (KEY_SOCKET_PATH, &settings.socket_path),
        (KEY_PLUGIN_PATH, &settings.plugin_path),
    ] {
        if let Some(wanted) = wanted {
            set(nri, key, string_value(wanted, quote), &indent, &mut changes);
        }
    }
    if !had_table {
        let new_table = doc
            .get_mut(dialect.table[0])
            .and_then(|p| p.get_mut(dialect.table[1]))
            .and_then(Item::as_table_mut);
        if let Some(table) = new_table {
            table.decor_mut().set_prefix(format!("{trailing}\n"));
            doc.set_trailing("");
        }
    }
    let text = if changes.is_empty() {
        text.to_owned()
    } else {
        doc.to_string()
    };
    Ok(Edited {
        text,
        header,
        changes,
    })
}

/// NRI's table header as written in the file, or as a new one will be.
fn header_of(doc: &DocumentMut, dialect: &Dialect, quote: Quote) -> String {
    let [plugins, id] = dialect.table;
    let written = doc
        .get(plugins)
        .and_then(Item::as_table_like)
        .and_then(|p| p.key(id))
        .and_then(|k| k.as_repr()?.as_raw().as_str().map(str::to_owned));
    let key = written.unwrap_or_else(|| header_key(id, quote).display_repr().into_owned());
    format!("{plugins}.{}", key.trim())
}

fn check_not_disabled(path: &Path, doc: &DocumentMut, dialect: &Dialect) -> Result<()> {
    let listed = doc
        .get("disabled_plugins")
        .and_then(Item::as_array)
        .is_some_and(|plugins| {
            plugins
                .iter()
                .filter_map(Value::as_str)
                .any(|p| p == NRI_PLUGIN || p == dialect.table[1])
        });
    if listed {
        return Err(Error::PluginDisabled {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// The quoting the file already uses for plugin ids, else the dialect's.
fn quote_of(doc: &DocumentMut, dialect: &Dialect) -> Quote {
    let Some(plugins) = doc.get(PLUGINS).and_then(Item::as_table_like) else {
        return dialect.quote;
    };
    plugins
        .iter()
        .filter_map(|(name, _)| plugins.key(name))
        .filter_map(|key| key.as_repr()?.as_raw().as_str().map(str::to_owned))
        .find_map(|raw| match raw.chars().next() {
            Some('\'') => Some(Quote::Single),
            Some('"') => Some(Quote::Double),
            _ => None,
        })
        .unwrap_or(dialect.quote)
}

/// The highest table position in the document, so a new table goes last.
fn max_position(table: &Table) -> isize {
    table
        .iter()
        .map(|(_, item)| match item {
            Item::Table(t) => t.position().unwrap_or(0).max(max_position(t)),
            Item::ArrayOfTables(array) => array
                .iter()
                .map(|t| t.position().unwrap_or(0).max(max_position(t)))
                .max()
                .unwrap_or(0),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

fn nri_table<'d>(
    path: &Path,
    doc: &'d mut DocumentMut,
    dialect: &Dialect,
    quote: Quote,
    next_position: isize,
    changes: &mut Vec<Change>,
) -> Result<&'d mut dyn TableLike> {
    let [plugins_key, id] = dialect.table;
    let not_a_table = |table: String| Error::NotATable {
        path: path.to_path_buf(),
        table,
    };
    let plugins_item = doc.as_table_mut().entry(plugins_key).or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    let key = header_key(id, quote);
    let header = format!("{plugins_key}.{}", key.display_repr());
    let added = match plugins_item {
        Item::Table(plugins) if !plugins.contains_key(id) => {
            let mut table = Table::new();
            table.set_position(Some(next_position));
            table.decor_mut().set_prefix("\n");
            plugins.insert_formatted(&key, Item::Table(table));
            true
        }
        Item::Value(Value::InlineTable(plugins)) if !plugins.contains_key(id) => {
            plugins.insert_formatted(&key, Value::InlineTable(Default::default()));
            true
        }
        Item::Table(_) | Item::Value(Value::InlineTable(_)) => false,
        _ => return Err(not_a_table(plugins_key.to_owned())),
    };
    if added {
        changes.push(Change::AddedTable(header));
    }
    let plugins = plugins_item
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(plugins_key.to_owned()))?;
    let entry = plugins
        .get_mut(id)
        .ok_or_else(|| not_a_table(dialect.table_name()))?;
    if let Item::Table(table) = entry
        && table.is_implicit()
    {
        // Only a sub-table existed; the keys need a header of their own.
        table.set_implicit(false);
        table.set_position(Some(next_position));
    }
    entry
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(dialect.table_name()))
}

fn header_key(id: &str, quote: Quote) -> Key {
    let raw = if id.contains('.') {
        match quote {
            Quote::Single => format!("'{id}'"),
            Quote::Double => format!("\"{id}\""),
        }
    } else {
        id.to_owned()
    };
    Key::parse(&raw)
        .ok()
        .and_then(|mut keys| keys.pop())
        .unwrap_or_else(|| Key::new(id))
}

/// The indentation of the table's first key, so added keys line up.
fn indent_of(table: &dyn TableLike) -> String {
    table
        .iter()
        .filter_map(|(name, _)| table.key(name))
        .find_map(|key| {
            key.leaf_decor()
                .prefix()
                .and_then(|p| p.as_str())
                .map(str::to_owned)
        })
        .filter(|prefix| prefix.chars().all(|c| c == ' ' || c == '\t'))
        .unwrap_or_default()
}

fn string_value(text: &str, quote: Quote) -> Value {
    let literal_ok = !text.contains('\'') && !text.chars().any(char::is_control);
    if quote == Quote::Single
        && literal_ok
        && let Ok(value) = format!("'{text}'").parse::<Value>()
    {
        return value;
    }
    Value::from(text)
}

fn set(
    table: &mut dyn TableLike,
    key: &'static str,
    mut wanted: Value,
    indent: &str,
    changes: &mut Vec<Change>,
) {
    let new = wanted.to_string().trim().to_owned();
    match table.get_mut(key) {
        Some(item) => {
            let same = match (item.as_value(), &wanted) {
                (Some(Value::Boolean(old)), Value::Boolean(want)) => old.value() == want.value(),
                (Some(Value::String(old)), Value::String(want)) => old.value() == want.value(),
                _ => false,
            };
            if same {
                return;
            }
            let old = match item.as_value() {
                Some(value) => {
                    let mut bare = value.clone();
                    bare.decor_mut().clear();
                    bare.to_string()
                }
                None => item.to_string().trim().to_owned(),
            };
            if let Some(value) = item.as_value() {
                *wanted.decor_mut() = value.decor().clone();
            }
            *item = Item::Value(wanted);
            changes.push(Change::Set {
                key,
                old: Some(old),
                new,
            });
        }
        None => {
            table.insert(key, Item::Value(wanted));
            if let Some(mut key_mut) = table.key_mut(key)
                && !indent.is_empty()
            {
                *key_mut.leaf_decor_mut() = Decor::new(indent, " ");
            }
            changes.push(Change::Set {
                key,
                old: None,
                new,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::NRI_PLUGIN;
    use crate::version::dialect;

    const PATH: &str = "/etc/containerd/config.toml";

    /// `text` edited for `containerd` (`None`: the file's version alone decides).
    fn edit(text: &str, containerd: Option<&str>, settings: &Settings) -> Result<Edited> {
        let path = Path::new(PATH);
        let version = file_version(path, &parse(path, text).expect("test TOML"))?;
        let containerd = containerd.map(|v| v.parse().expect("test version"));
        enable(path, text, &dialect(path, version, containerd)?, settings)
    }

    fn enabled(text: &str) -> NriView {
        let doc = parse(Path::new(PATH), text).expect("the result is TOML");
        nri_view(&doc, [PLUGINS, NRI_PLUGIN]).expect("NRI's table")
    }

    #[test]
    fn each_change_reads_as_the_key_with_its_old_and_new_value() {
        let text = "version = 2\n\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n  plugin_path = \"/opt/nri/plugins\"\n";
        let settings = Settings {
            socket_path: None,
            plugin_path: Some("/usr/libexec/nri".into()),
        };
        let edited = edit(text, None, &settings).expect("edited");
        let lines: Vec<String> = edited.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "disable: true -> false",
                "disable_connections: (absent) -> false",
                "plugin_path: \"/opt/nri/plugins\" -> \"/usr/libexec/nri\"",
            ]
        );
        let added = edit("version = 2\n", None, &Settings::default()).expect("edited");
        assert_eq!(
            added.changes[0].to_string(),
            "added the table [plugins.\"io.containerd.nri.v1.nri\"]"
        );
    }

    #[test]
    fn the_header_is_nri_s_table_as_the_file_spells_it_or_as_it_is_added() {
        let single = "version = 2\n\n[plugins.'io.containerd.nri.v1.nri']\n  disable = true\n";
        let edited = edit(single, None, &Settings::default()).expect("edited");
        assert_eq!(edited.header, "plugins.'io.containerd.nri.v1.nri'");
        let added = edit("version = 2\n", None, &Settings::default()).expect("edited");
        assert_eq!(added.header, "plugins.\"io.containerd.nri.v1.nri\"");
        let short = edit("version = 1\n", Some("1.7.24"), &Settings::default()).expect("edited");
        assert_eq!(short.header, "plugins.nri");
    }

    #[test]
    fn nri_in_disabled_plugins_is_refused_under_either_name_containerd_17_knows() {
        for (text, containerd) in [
            (
                "version = 2\ndisabled_plugins = [\"io.containerd.nri.v1.nri\"]\n",
                None,
            ),
            (
                "disabled_plugins = [\"io.containerd.nri.v1.nri\"]\n",
                Some("1.7.24"),
            ),
            ("disabled_plugins = [\"nri\"]\n", Some("1.7.24")),
        ] {
            let err = edit(text, containerd, &Settings::default()).expect_err(text);
            assert!(matches!(err, Error::PluginDisabled { .. }), "{text}: {err}");
        }
    }

    #[test]
    fn other_disabled_plugins_do_not_stop_the_edit() {
        let text = "version = 2\ndisabled_plugins = [\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\"]\n";
        let edited = edit(text, None, &Settings::default()).expect("edited");
        assert_eq!(enabled(&edited.text).disable, Some(false));
        // For containerd 2.x, `nri` in a version 1 file is another plugin than NRI.
        let short = "disabled_plugins = [\"nri\"]\n";
        let edited = edit(short, Some("2.1.9"), &Settings::default()).expect("edited");
        assert_eq!(enabled(&edited.text).disable, Some(false));
    }

    #[test]
    fn a_version_2_file_with_single_quoted_plugin_ids_gets_a_single_quoted_nri_table() {
        let text = "version = 2\n\n[plugins.'io.containerd.grpc.v1.cri']\n  sandbox_image = 'registry.k8s.io/pause:3.10'\n";
        let edited = edit(text, None, &Settings::default()).expect("edited");
        assert_eq!(
            edited.text,
            format!(
                "{text}\n[plugins.'io.containerd.nri.v1.nri']\ndisable = false\ndisable_connections = false\n"
            )
        );
    }

    #[test]
    fn a_new_table_goes_after_a_trailing_array_of_tables() {
        let text = "version = 2\n\n[plugins.\"io.containerd.transfer.v1.local\"]\n  max_concurrent_downloads = 3\n\n  [[plugins.\"io.containerd.transfer.v1.local\".unpack_config]]\n    platform = \"linux/amd64\"\n    snapshotter = \"overlayfs\"\n\n  [[plugins.\"io.containerd.transfer.v1.local\".unpack_config]]\n    platform = \"linux/arm64\"\n    snapshotter = \"overlayfs\"\n";
        let edited = edit(text, None, &Settings::default()).expect("edited");
        assert_eq!(
            edited.text,
            format!(
                "{text}\n[plugins.\"io.containerd.nri.v1.nri\"]\ndisable = false\ndisable_connections = false\n"
            )
        );
    }

    #[test]
    fn an_inline_plugins_table_gets_nri_s_entry_inline() {
        let text = "version = 2\nplugins = { \"io.containerd.grpc.v1.cri\" = { sandbox_image = \"pause\" } }\n";
        let edited = edit(text, None, &Settings::default()).expect("edited");
        assert_eq!(
            edited.changes[0],
            Change::AddedTable("plugins.\"io.containerd.nri.v1.nri\"".into())
        );
        let view = enabled(&edited.text);
        assert_eq!(
            (view.disable, view.disable_connections),
            (Some(false), Some(false))
        );
        assert!(
            edited.text.contains("sandbox_image = \"pause\""),
            "{}",
            edited.text
        );
    }

    #[test]
    fn an_inline_nri_entry_is_edited_in_place_and_keeps_its_other_keys() {
        let text = "version = 2\nplugins = { \"io.containerd.nri.v1.nri\" = { disable = true, plugin_path = \"/opt/nri/plugins\" } }\n";
        let edited = edit(text, None, &Settings::default()).expect("edited");
        assert!(
            !edited
                .changes
                .iter()
                .any(|c| matches!(c, Change::AddedTable(_))),
            "{:?}",
            edited.changes
        );
        let view = enabled(&edited.text);
        assert_eq!(view.disable, Some(false));
        assert_eq!(view.plugin_path.as_deref(), Some("/opt/nri/plugins"));
    }

    #[test]
    fn a_path_with_a_tab_is_written_escaped_even_where_single_quotes_are_the_style() {
        // A literal string would hold the tab raw, where no one reading the file sees it.
        let settings = Settings {
            socket_path: Some("/run/nri\tnode/nri.sock".into()),
            plugin_path: None,
        };
        let edited = edit("version = 3\n", None, &settings).expect("edited");
        assert!(
            edited
                .text
                .ends_with("socket_path = \"/run/nri\\tnode/nri.sock\"\n"),
            "{}",
            edited.text
        );
        assert_eq!(
            enabled(&edited.text).socket_path.as_deref(),
            Some("/run/nri\tnode/nri.sock")
        );
    }
}
