//! The unified diff `--dry-run` prints.

use similar::TextDiff;

/// `old` to `new` as a unified diff with three lines of context, headed `a/<name>` and
/// `b/<name>`.
pub fn unified(name: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
