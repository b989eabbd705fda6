//! Everything that can stop nri-init, grouped by what the caller can do about it
//! ([`Error::class`]); messages say what failed, where, and what to do.

use std::path::PathBuf;
use std::time::Duration;

use crate::version::ContainerdVersion;

/// A nri-init error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read, written, renamed or copied.
    #[error("{op} {path} failed")]
    Io {
        /// What was being done (`reading`, `writing`, ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML; nothing was changed.
    #[error(
        "{path} is not valid TOML (line {line}, column {column}); fix it by hand, nothing was changed"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first problem.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The parser's report.
        #[source]
        source: Box<toml_edit::TomlError>,
    },
    /// `version` is not an integer.
    #[error("{path}: `version` is not an integer; containerd would refuse this file too")]
    VersionNotInteger {
        /// The file.
        path: PathBuf,
    },
    /// A config format version nri-init does not know.
    #[error(
        "{path} has config version {version}; nri-init knows versions 1 to 3 (containerd 1.7 and 2.x)"
    )]
    UnknownConfigVersion {
        /// The file.
        path: PathBuf,
        /// Its `version`.
        version: i64,
    },
    /// containerd before 1.7: no NRI.
    #[error(
        "containerd {version} has no NRI (it came with 1.7); upgrade containerd to 1.7 or later"
    )]
    ContainerdTooOld {
        /// The version found.
        version: ContainerdVersion,
    },
    /// The file's version is one this containerd cannot read.
    #[error(
        "{path} has config version {file_version}, which containerd {containerd} refuses to load (it reads up to version 2); regenerate it with `containerd config default` or revert it to version 2"
    )]
    VersionUnsupported {
        /// The file.
        path: PathBuf,
        /// Its `version`.
        file_version: i64,
        /// The containerd that would read it.
        containerd: ContainerdVersion,
    },
    /// No `version` key, and containerd's version is unknown.
    #[error(
        "{path} has no `version`, which containerd 1.7 and 2.x read differently, and no containerd binary was found to ask; pass --containerd-version (e.g. 1.7 or 2.1) or --containerd-binary"
    )]
    AmbiguousVersion {
        /// The file.
        path: PathBuf,
    },
    /// `plugins` or NRI's entry is a plain value.
    #[error("{path}: `{table}` is not a table; fix it by hand, nothing was changed")]
    NotATable {
        /// The file.
        path: PathBuf,
        /// The key that should be a table.
        table: String,
    },
    /// `disabled_plugins` lists NRI, which nri-init leaves to the admin.
    #[error(
        "{path}: `disabled_plugins` lists the NRI plugin; remove it from that list by hand (nri-init edits only NRI's own table)"
    )]
    PluginDisabled {
        /// The file.
        path: PathBuf,
    },
    /// An `imports` entry nri-init cannot resolve the way containerd does.
    #[error(
        "{path}: the import `{pattern}` has a wildcard in a directory name, which nri-init does not resolve; list the drop-in directory's files explicitly"
    )]
    UnsupportedImport {
        /// The file with the import.
        path: PathBuf,
        /// The import as written.
        pattern: String,
    },
    /// An `imports` pattern Go's `filepath.Glob` rejects, so containerd cannot load the file.
    #[error(
        "{path}: the import `{pattern}` is not a valid pattern (Go's filepath.Glob rejects it, so containerd cannot load this configuration); fix its `[...]` class or `\\` escape"
    )]
    BadImportPattern {
        /// The file with the import.
        path: PathBuf,
        /// The import as written.
        pattern: String,
    },
    /// A program could not be started.
    #[error("cannot run {program}; is it installed and executable?")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `containerd --version` printed nothing nri-init understands.
    #[error(
        "`{binary} --version` printed {output:?}, which holds no version; pass --containerd-version"
    )]
    VersionOutput {
        /// The binary.
        binary: PathBuf,
        /// What it printed.
        output: String,
    },
    /// containerd refused the edited configuration; it was not installed.
    #[error(
        "containerd refused the edited configuration of {path}, so it was not installed (the file is unchanged); containerd said: {stderr}"
    )]
    Rejected {
        /// The file that would have been replaced.
        path: PathBuf,
        /// containerd's complaint.
        stderr: String,
    },
    /// containerd accepted the edit, but its effective configuration still leaves NRI off
    /// (a drop-in or a later setting overrides it).
    #[error(
        "containerd's effective configuration (from {path} and its imports) would still have {detail}; nothing was installed: look for an override in the imported files"
    )]
    NotEffective {
        /// The main configuration file.
        path: PathBuf,
        /// What containerd's dump says.
        detail: String,
    },
    /// k3s's base template already writes NRI's table, so a template adding it would
    /// duplicate it.
    #[error(
        "k3s's generated {generated} already has NRI's table but no template exists in {dir}; a template adding the table would duplicate it: write a full template (copy the generated file to config.toml.tmpl) and run nri-init again"
    )]
    K3sBaseHasNri {
        /// The template directory.
        dir: PathBuf,
        /// The generated config.
        generated: PathBuf,
    },
    /// A k3s template's NRI table holds template directives, so where a new key would go
    /// is unclear.
    #[error(
        "{path}: NRI's table holds template directives ({{{{ ... }}}}), so nri-init cannot tell where a new key belongs; add `disable = false` and `disable_connections = false` to it by hand"
    )]
    DirectivesInNriTable {
        /// The template.
        path: PathBuf,
    },
    /// The restart command failed.
    #[error("the restart command `{command}` failed ({status}); its output is above")]
    RestartCommand {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
    },
    /// No new containerd process appeared after the restart.
    #[error(
        "after `{command}` no new containerd serving {config} appeared within {timeout:?} (before: {before}; after: {after})"
    )]
    RestartNotSeen {
        /// The restart command.
        command: String,
        /// The configuration file containerd is started with.
        config: PathBuf,
        /// How long nri-init waited.
        timeout: Duration,
        /// The containerd processes before the restart.
        before: String,
        /// Those seen last.
        after: String,
    },
    /// The NRI socket did not accept a connection in time.
    #[error(
        "containerd restarted, but its NRI socket {socket} did not accept a connection within {timeout:?} (last attempt: {last})"
    )]
    SocketTimeout {
        /// The socket.
        socket: PathBuf,
        /// How long nri-init waited.
        timeout: Duration,
        /// The last connection error.
        last: String,
    },
    /// Enabling NRI failed after the file was installed; the backup was put back and
    /// containerd restarted with it.
    #[error(
        "enabling NRI failed after the new configuration was installed; {path} was restored from its backup and containerd restarted with it"
    )]
    RolledBack {
        /// The restored file.
        path: PathBuf,
        /// Why it was rolled back.
        #[source]
        cause: Box<Error>,
    },
    /// Rolling back failed too: the node needs attention.
    #[error(
        "enabling NRI failed, and so did putting {path} back from {backup} ({rollback}); restore it by hand and restart containerd"
    )]
    RollbackFailed {
        /// The file.
        path: PathBuf,
        /// Its backup.
        backup: String,
        /// How the rollback failed (rendered, since the source slot holds the first
        /// failure).
        rollback: String,
        /// Why NRI could not be enabled.
        #[source]
        cause: Box<Error>,
    },
}

/// What kind of failure an [`Error`] is, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The file (or the containerd it is for) cannot be edited; nothing was changed.
    Refused,
    /// containerd refused the edited file, or it would not enable NRI; nothing was
    /// installed.
    Rejected,
    /// Installed, but the restart or the NRI socket failed; the backup is back.
    RolledBack,
    /// The rollback failed as well.
    RollbackFailed,
    /// Anything else (I/O, a missing program).
    Other,
}

impl Error {
    /// The kind of failure.
    pub fn class(&self) -> Class {
        match self {
            Error::Malformed { .. }
            | Error::VersionNotInteger { .. }
            | Error::UnknownConfigVersion { .. }
            | Error::ContainerdTooOld { .. }
            | Error::VersionUnsupported { .. }
            | Error::AmbiguousVersion { .. }
            | Error::NotATable { .. }
            | Error::PluginDisabled { .. }
            | Error::UnsupportedImport { .. }
            | Error::BadImportPattern { .. }
            | Error::K3sBaseHasNri { .. }
            | Error::DirectivesInNriTable { .. } => Class::Refused,
            Error::Rejected { .. } | Error::NotEffective { .. } => Class::Rejected,
            Error::RolledBack { .. } => Class::RolledBack,
            Error::RollbackFailed { .. } => Class::RollbackFailed,
            Error::Io { .. }
            | Error::Spawn { .. }
            | Error::VersionOutput { .. }
            | Error::RestartCommand { .. }
            | Error::RestartNotSeen { .. }
            | Error::SocketTimeout { .. } => Class::Other,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An [`Error::Io`] maker for `map_err`.
pub(crate) fn io_err(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}
