//! containerd's drop-ins (`imports`): which files are loaded after the main one, and so
//! which of them has the last word on NRI's table.
//!
//! Both 1.7 and 2.x load the main file first and every import after it, in order; a later
//! file wins (1.7 replaces a plugin's whole table, 2.x merges its keys). Editing the last
//! file that has NRI's table, or the main file when none has, is right for both.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Value};

use crate::edit::{has_nri_table, parse};
use crate::error::{Error, Result, io_err};
use crate::version::Dialect;

/// The files `imports` names, resolved as containerd does: relative to the main file's
/// directory, a wildcard (`*`, `?`, `[...]`) in the file name expanded in sorted order.
///
/// # Errors
/// [`Error::UnsupportedImport`] for a wildcard in a directory name; [`Error::Io`] when a
/// wildcard's directory cannot be listed.
pub fn resolve(main: &Path, doc: &DocumentMut) -> Result<Vec<PathBuf>> {
    let Some(imports) = doc.get("imports").and_then(Item::as_array) else {
        return Ok(Vec::new());
    };
    // Absolute, because the paths are written into the check file containerd loads, which
    // resolves relative imports against its own directory.
    let main = std::path::absolute(main).map_err(io_err("resolving", main))?;
    let base = main.parent().unwrap_or(Path::new("/"));
    let mut files = Vec::new();
    for pattern in imports.iter().filter_map(Value::as_str) {
        let path = base.join(pattern);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("/"));
        if dir.to_string_lossy().contains(['*', '?', '[']) {
            return Err(Error::UnsupportedImport {
                path: main.clone(),
                pattern: pattern.to_owned(),
            });
        }
        if !name.contains(['*', '?', '[']) {
            files.push(path);
            continue;
        }
        let mut matched: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("listing", dir)(e)),
        };
        matched.sort();
        files.extend(matched);
    }
    Ok(files)
}

/// The file to edit: the last of `imports` with NRI's table, else `main`.
///
/// # Errors
/// [`Error::Malformed`] or [`Error::Io`] for an import that cannot be read.
pub fn target(main: &Path, imports: &[PathBuf], dialect: &Dialect) -> Result<PathBuf> {
    let mut target = main.to_path_buf();
    for import in imports {
        let text = match std::fs::read_to_string(import) {
            Ok(text) => text,
            // containerd itself reports a missing import; validation shows it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("reading", import)(e)),
        };
        if has_nri_table(&parse(import, &text)?, dialect) {
            target = import.clone();
        }
    }
    Ok(target)
}

/// Go's `filepath.Match` for one name: `*`, `?` and `[...]` (with `^` or `!` negation and
/// ranges).
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                    return false;
                };
                let Some(&c) = n.first() else { return false };
                let mut class = &p[1..close];
                let negated = matches!(class.first(), Some('^' | '!'));
                if negated {
                    class = &class[1..];
                }
                // Slice patterns rather than an index: every item consumes its characters,
                // so no mistake in the stepping can loop forever.
                let mut hit = false;
                let mut rest = class;
                loop {
                    rest = match rest {
                        [] => break,
                        [lo, '-', hi, tail @ ..] => {
                            hit |= *lo <= c && c <= *hi;
                            tail
                        }
                        [single, tail @ ..] => {
                            hit |= *single == c;
                            tail
                        }
                    };
                }
                hit != negated && go(&p[close + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::dialect;

    #[test]
    fn wildcards_match_like_go() {
        assert!(glob_match("*.toml", "10-nri.toml"));
        assert!(!glob_match("*.toml", "10-nri.toml.bak"));
        assert!(glob_match("1?-*.toml", "10-nri.toml"));
        assert!(glob_match("[0-9]*", "5x"));
        assert!(!glob_match("[^0-9]*", "5x"));
    }

    #[test]
    fn a_question_mark_matches_exactly_one_character() {
        assert!(glob_match("?.toml", "a.toml"));
        assert!(!glob_match("?.toml", "ab.toml"));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn a_class_matches_one_of_its_characters_or_ranges() {
        assert!(glob_match("[a]", "a"));
        assert!(!glob_match("[a]", "b"));
        assert!(glob_match("[ace].toml", "c.toml"));
        assert!(!glob_match("[ace].toml", "b.toml"));
        assert!(glob_match("[b-d]", "c"));
        assert!(!glob_match("[b-d]", "a"));
        assert!(!glob_match("[b-d]", "e"));
        assert!(glob_match("[0-9x]-nri.toml", "x-nri.toml"));
        assert!(glob_match("[!a]x", "bx"));
        assert!(!glob_match("[!a]x", "ax"));
    }

    #[test]
    fn a_dash_closing_a_class_is_a_literal_dash() {
        assert!(glob_match("[a-]", "-"));
        assert!(glob_match("[a-]", "a"));
        assert!(!glob_match("[a-]", "b"));
    }

    #[test]
    fn the_last_drop_in_with_nri_s_table_is_the_one_to_edit() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let conf_d = dir.path().join("conf.d");
        std::fs::create_dir(&conf_d).expect("conf.d");
        let nri = "version = 2\n[plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n";
        std::fs::write(conf_d.join("10-nri.toml"), nri).expect("drop-in");
        std::fs::write(conf_d.join("20-nri.toml"), nri).expect("drop-in");
        std::fs::write(conf_d.join("30-other.toml"), "version = 2\n").expect("drop-in");
        std::fs::write(conf_d.join("README"), "not imported").expect("readme");
        let main = dir.path().join("config.toml");
        let doc = parse(&main, "version = 2\nimports = [\"conf.d/*.toml\"]\n").expect("toml");
        let imports = resolve(&main, &doc).expect("resolved");
        assert_eq!(
            imports,
            ["10-nri.toml", "20-nri.toml", "30-other.toml"].map(|n| conf_d.join(n))
        );
        let d = dialect(&main, Some(2), None).expect("dialect");
        assert_eq!(
            target(&main, &imports, &d).expect("target"),
            conf_d.join("20-nri.toml")
        );
    }

    #[test]
    fn without_a_drop_in_for_nri_the_main_file_is_edited() {
        let main = Path::new("/nonexistent/config.toml");
        let doc = parse(main, "version = 2\nimports = [\"/nonexistent/x.toml\"]\n").expect("toml");
        let imports = resolve(main, &doc).expect("resolved");
        let d = dialect(main, Some(2), None).expect("dialect");
        assert_eq!(target(main, &imports, &d).expect("target"), main);
    }

    #[test]
    fn a_wildcard_directory_is_refused() {
        let main = Path::new("/etc/containerd/config.toml");
        let doc = parse(main, "imports = [\"/etc/*/x.toml\"]\n").expect("toml");
        assert!(matches!(
            resolve(main, &doc),
            Err(Error::UnsupportedImport { .. })
        ));
    }

    #[test]
    fn a_wildcard_in_a_directory_that_does_not_exist_matches_nothing() {
        let main = Path::new("/nonexistent/config.toml");
        let doc = parse(main, "imports = [\"conf.d/*.toml\"]\n").expect("toml");
        assert_eq!(
            resolve(main, &doc).expect("resolved"),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn a_wildcard_directory_that_cannot_be_listed_is_an_error() {
        let dir = tempfile::tempdir().expect("scratch dir");
        std::fs::write(dir.path().join("conf.d"), "a file, not a directory").expect("file");
        let main = dir.path().join("config.toml");
        let doc = parse(&main, "imports = [\"conf.d/*.toml\"]\n").expect("toml");
        let err = resolve(&main, &doc).expect_err("conf.d is no directory");
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    #[test]
    fn an_import_that_cannot_be_read_is_an_error_not_skipped() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let import = dir.path().join("conf.d");
        std::fs::create_dir(&import).expect("a directory where a file is named");
        let main = dir.path().join("config.toml");
        let d = dialect(&main, Some(2), None).expect("dialect");
        let err = target(&main, &[import], &d).expect_err("a directory is no file");
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}
