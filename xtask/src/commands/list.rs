//! `cargo xtask list`: every command and every suite, one line each; a suite's line says its
//! level, what the host must offer and how long it runs.

use std::fmt::Write;

use crate::suites;

/// The listing: commands from the command line's own definition (so it cannot drift from
/// `--help`), then the suites from the registry.
pub fn run(cli: &clap::Command) -> String {
    let suite_names = suites::names();
    let commands: Vec<(String, String)> = cli
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && !suite_names.contains(&sub.get_name()))
        .flat_map(|sub| {
            let nested: Vec<(String, String)> = sub
                .get_subcommands()
                .map(|nested| {
                    (
                        format!("{} {}", sub.get_name(), nested.get_name()),
                        first_sentence(nested.get_about()),
                    )
                })
                .collect();
            if nested.is_empty() {
                vec![(sub.get_name().to_string(), first_sentence(sub.get_about()))]
            } else {
                nested
            }
        })
        .filter(|(name, _)| !name.ends_with(" help"))
        .collect();
    let width = commands
        .iter()
        .map(|(name, _)| name.len())
        .chain(suite_names.iter().map(|name| name.len()))
        .max()
        .unwrap_or(0);
    let mut out = String::from("commands:\n");
    for (name, about) in &commands {
        let _ = writeln!(out, "  {name:<width$}  {about}");
    }
    out.push_str("\nsuites (`cargo xtask <suite>`, or all at a level with `e2e --level L`):\n");
    for suite in suites::registry() {
        let needs: Vec<String> = suite.needs.iter().map(ToString::to_string).collect();
        let needs = if needs.is_empty() {
            "nothing special".to_string()
        } else {
            needs.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:<width$}  level {}, {} run, needs {needs}",
            suite.name, suite.min_level, suite.duration
        );
    }
    out
}

/// The first sentence of a command's about, for one line.
fn first_sentence(about: Option<&clap::builder::StyledStr>) -> String {
    let about = about.map(ToString::to_string).unwrap_or_default();
    // A sentence ends at ". ", but not after an abbreviation like "e.g.".
    let end = about
        .match_indices(". ")
        .map(|(at, _)| at)
        .find(|&at| !about[..at].ends_with("e.g") && !about[..at].ends_with("i.e"))
        .unwrap_or(about.len());
    about[..end].trim_end_matches('.').replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_the_first_sentence_and_abbreviations_do_not_end_it() {
        let about = clap::builder::StyledStr::from("Load an image (e.g. a saved one). Then more.");
        assert_eq!(
            first_sentence(Some(&about)),
            "Load an image (e.g. a saved one)"
        );
    }

    #[test]
    fn every_command_and_suite_has_one_line() {
        let text = run(&crate::cli::Cli::definition());
        for command in [
            "fmt", "clippy", "unit", "doctor", "ci fast", "ci plan", "list",
        ] {
            assert!(
                text.lines()
                    .any(|line| line.trim_start().starts_with(&format!("{command} "))),
                "{command} missing in\n{text}"
            );
        }
        assert!(
            !text.contains("run-steps"),
            "hidden commands stay hidden:\n{text}"
        );
        for suite in suites::registry() {
            let line = text
                .lines()
                .find(|line| line.trim_start().starts_with(&format!("{} ", suite.name)))
                .unwrap_or_else(|| panic!("{} missing in\n{text}", suite.name));
            assert!(
                line.contains(&format!("level {}", suite.min_level)),
                "{line}"
            );
            for need in suite.needs {
                assert!(line.contains(&need.to_string()), "{line}");
            }
        }
    }
}
