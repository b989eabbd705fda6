//! The combined matrix printed at the end: one row per test, one column per kernel and
//! cgroup mode, from the results each kernel's step recorded.

use std::collections::{BTreeMap, BTreeSet};

use super::kernel::results_path;

/// Renders the matrix of the kernels `names` (in that order); a kernel whose step recorded
/// nothing shows `-` throughout.
pub fn render(names: &[String]) -> String {
    let mut columns: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut tests = BTreeSet::new();
    for name in names {
        let text = std::fs::read_to_string(results_path(name)).unwrap_or_default();
        for mode in ["v2", "v1"] {
            columns.push(format!("{name}/{mode}"));
        }
        for line in text.lines() {
            let mut fields = line.splitn(3, '\t');
            if let (Some(mode), Some(test), Some(outcome)) =
                (fields.next(), fields.next(), fields.next())
            {
                tests.insert(test.to_string());
                cells.insert(
                    (test.to_string(), format!("{name}/{mode}")),
                    outcome.to_string(),
                );
            }
        }
    }
    let width = tests.iter().map(String::len).max().unwrap_or(4).max(4);
    let col = columns.iter().map(String::len).max().unwrap_or(6).max(6);
    let mut out = format!("{:<width$}", "test");
    for column in &columns {
        out.push_str(&format!("  {column:<col$}"));
    }
    out.push('\n');
    for test in &tests {
        out.push_str(&format!("{test:<width$}"));
        for column in &columns {
            let cell = cells
                .get(&(test.clone(), column.clone()))
                .map_or("-", String::as_str);
            // A guest's end (hung, trouble) can be long: the first word says enough here.
            let cell = cell
                .split_whitespace()
                .next()
                .unwrap_or("-")
                .trim_end_matches(',');
            out.push_str(&format!("  {cell:<col$}"));
        }
        out.push('\n');
    }
    out
}
