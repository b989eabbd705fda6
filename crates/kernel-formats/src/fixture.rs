//! A fixture directory standing in for `/` (or for a cgroup root) in this crate's tests.

/// Writes each `(path, contents)` under a fresh temporary directory; `path` may start
/// with `/`, as the host path it stands for.
pub fn files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("fixture dir");
    for (path, contents) in files {
        let full = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().expect("a file has a parent")).expect("fixture dirs");
        std::fs::write(&full, contents).expect("fixture file");
    }
    dir
}
