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
/// directory; an import with a `*` is a pattern (Go's `filepath.Glob`: `*`, `?`, `[...]`,
/// `\` escapes) expanded in sorted order, any other import a literal path, even with a `?`
/// or `[` in it.
///
/// # Errors
/// [`Error::UnsupportedImport`] for a pattern with a wildcard in a directory name;
/// [`Error::BadImportPattern`] for a pattern Go rejects (containerd would not start);
/// [`Error::Io`] when a pattern's directory cannot be listed.
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
        // containerd globs only what has a `*` (in the path as joined).
        if !path.to_string_lossy().contains('*') {
            files.push(path);
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("/"));
        if dir.to_string_lossy().contains(['*', '?', '[', '\\']) {
            return Err(Error::UnsupportedImport {
                path: main.clone(),
                pattern: pattern.to_owned(),
            });
        }
        let Some(glob) = Glob::parse(&name) else {
            return Err(Error::BadImportPattern {
                path: main.clone(),
                pattern: pattern.to_owned(),
            });
        };
        let mut matched: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| glob.matches(&e.file_name().to_string_lossy()))
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

/// A file-name pattern as Go's `filepath.Match` reads it on Unix: `*`, `?`, classes
/// `[...]` with ranges and `^` negation (not `!`), and `\\` escaping the next character.
struct Glob(Vec<Token>);

enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: one character.
    Any,
    /// One character as written (or escaped).
    Char(char),
    /// `[...]`: one character in (or, negated, outside) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    /// The pattern, or `None` where Go returns `ErrBadPattern` (`filepath.Glob` checks the
    /// whole pattern first): an unclosed or empty class, an unescaped `-` or `]` where a
    /// class expects a character, a trailing `\\`.
    fn parse(pattern: &str) -> Option<Glob> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        // Slice patterns rather than an index: every step consumes characters, so no
        // mistake in the stepping can loop forever.
        let mut rest = chars.as_slice();
        while let Some((&c, tail)) = rest.split_first() {
            rest = match c {
                '*' => {
                    tokens.push(Token::Star);
                    tail
                }
                '?' => {
                    tokens.push(Token::Any);
                    tail
                }
                '\\' => {
                    let (&escaped, tail) = tail.split_first()?;
                    tokens.push(Token::Char(escaped));
                    tail
                }
                '[' => {
                    let (class, tail) = class(tail)?;
                    tokens.push(class);
                    tail
                }
                _ => {
                    tokens.push(Token::Char(c));
                    tail
                }
            };
        }
        Some(Glob(tokens))
    }

    /// Whether `name` matches the whole pattern.
    fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        matches(&self.0, &name)
    }
}

fn matches(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Some((token, rest)) => name
            .split_first()
            .is_some_and(|(&c, tail)| token.accepts(c) && matches(rest, tail)),
    }
}

impl Token {
    /// Whether this one-character token accepts `c` (`Star` is handled by [`matches`]).
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A class after its `[`, up to and without its `]`, and what follows it; `None` if Go
/// rejects it.
fn class(chars: &[char]) -> Option<(Token, &[char])> {
    let (negated, mut rest) = match chars {
        ['^', tail @ ..] => (true, tail),
        _ => (false, chars),
    };
    let mut ranges = Vec::new();
    loop {
        if let [']', tail @ ..] = rest
            && !ranges.is_empty()
        {
            return Some((Token::Class { negated, ranges }, tail));
        }
        let (lo, tail) = class_char(rest)?;
        let (hi, tail) = match tail {
            ['-', tail @ ..] => class_char(tail)?,
            _ => (lo, tail),
        };
        ranges.push((lo, hi));
        rest = tail;
    }
}

/// One character of a class, as Go's `getEsc` reads it: not an unescaped `-` or `]`, and
/// the class goes on after it.
fn class_char(chars: &[char]) -> Option<(char, &[char])> {
    let (c, tail) = match chars {
        [] | ['-' | ']', ..] | ['\\'] => return None,
        ['\\', escaped, tail @ ..] => (*escaped, tail),
        [c, tail @ ..] => (*c, tail),
    };
    (!tail.is_empty()).then_some((c, tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::dialect;

    /// Whether `pattern` (which must parse) matches `name`.
    fn glob_match(pattern: &str, name: &str) -> bool {
        Glob::parse(pattern)
            .unwrap_or_else(|| panic!("`{pattern}` is a valid pattern"))
            .matches(name)
    }

    #[test]
    fn wildcards_match_like_go() {
        assert!(glob_match("*.toml", "10-nri.toml"));
        assert!(!glob_match("*.toml", "10-nri.toml.bak"));
        assert!(glob_match("1?-*.toml", "10-nri.toml"));
        assert!(glob_match("[0-9]*", "5x"));
        assert!(!glob_match("[^0-9]*", "5x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXbY"));
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
        assert!(!glob_match("[a]", ""));
        assert!(glob_match("[ace].toml", "c.toml"));
        assert!(!glob_match("[ace].toml", "b.toml"));
        assert!(glob_match("[b-d]", "c"));
        assert!(glob_match("[b-d]", "b"));
        assert!(glob_match("[b-d]", "d"));
        assert!(!glob_match("[b-d]", "a"));
        assert!(!glob_match("[b-d]", "e"));
        assert!(glob_match("[0-9x]-nri.toml", "x-nri.toml"));
        assert!(glob_match("[^a]x", "bx"));
        assert!(!glob_match("[^a]x", "ax"));
    }

    #[test]
    fn a_bang_opens_no_negation_as_in_go() {
        // Go's filepath.Match negates with `^` only: `[!a]` is the class of `!` and `a`.
        assert!(glob_match("[!a]x", "ax"));
        assert!(glob_match("[!a]x", "!x"));
        assert!(!glob_match("[!a]x", "bx"));
    }

    #[test]
    fn a_backslash_escapes_the_next_character_in_and_outside_a_class() {
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "aXb"));
        assert!(glob_match("\\?", "?"));
        assert!(!glob_match("\\?", "x"));
        assert!(glob_match("[\\]]", "]"));
        assert!(glob_match("[a\\-z]", "-"));
        assert!(!glob_match("[a\\-z]", "m"));
        assert!(glob_match("[\\--0]", "/"));
    }

    #[test]
    fn patterns_go_rejects_are_not_patterns() {
        for bad in [
            "[", "[a", "[a-", "[]", "[^]", "[]a]", "[-a]", "[a-]", "[a--]", "[z-\\", "a\\", "*[",
            "[a-b-c]",
        ] {
            assert!(Glob::parse(bad).is_none(), "`{bad}` should be rejected");
        }
        for good in ["a]", "[a-bx-z]", "[\\]]", "[^^]", "x*"] {
            assert!(Glob::parse(good).is_some(), "`{good}` should be accepted");
        }
    }

    #[test]
    fn an_import_without_a_star_is_a_literal_path_even_with_other_wildcards() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let conf_d = dir.path().join("conf[d]");
        std::fs::create_dir(&conf_d).expect("conf[d]");
        std::fs::write(conf_d.join("1?.toml"), "version = 2\n").expect("drop-in");
        std::fs::write(conf_d.join("10.toml"), "version = 2\n").expect("drop-in");
        let main = dir.path().join("config.toml");
        let doc = parse(&main, "imports = [\"conf[d]/1?.toml\"]\n").expect("toml");
        assert_eq!(
            resolve(&main, &doc).expect("resolved"),
            [conf_d.join("1?.toml")]
        );
    }

    #[test]
    fn an_import_pattern_go_rejects_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let main = dir.path().join("config.toml");
        let doc = parse(&main, "imports = [\"conf.d/*[a-].toml\"]\n").expect("toml");
        let err = resolve(&main, &doc).expect_err("a malformed pattern");
        assert!(
            matches!(&err, Error::BadImportPattern { pattern, .. } if pattern == "conf.d/*[a-].toml"),
            "{err}"
        );
        assert!(err.to_string().contains("`conf.d/*[a-].toml`"), "{err}");
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
