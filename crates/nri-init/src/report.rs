//! What a run did, and how it is told: the report `nri-init` prints.

use std::fmt;
use std::path::PathBuf;

use crate::edit::Change;
use crate::restart::Restarted;
use crate::version::ContainerdVersion;

/// The runtime a run worked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// containerd, configured by its own file.
    Containerd,
    /// k3s, configured by a template.
    K3s,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The runtime.
    pub runtime: Runtime,
    /// The file edited (or that would be).
    pub file: PathBuf,
    /// The containerd version the edit was made for (`None`: unknown; the file's own
    /// version decided).
    pub containerd: Option<ContainerdVersion>,
    /// NRI's table, as named in the file.
    pub table: String,
    /// What changed; empty: NRI was already enabled as asked, nothing was written.
    pub changes: Vec<Change>,
    /// The diff (also when not a dry run), empty when nothing changed.
    pub diff: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Whether containerd loaded the new file before it was installed.
    pub validated: bool,
    /// The backup of the previous file (`None`: nothing installed, or there was none).
    pub backup: Option<PathBuf>,
    /// The restart, when one was asked for and needed.
    pub restarted: Option<Restarted>,
    /// Something the admin should know (e.g. that no restart was asked for).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the file was already as asked.
    pub fn is_unchanged(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runtime = match self.runtime {
            Runtime::Containerd => "containerd",
            Runtime::K3s => "k3s",
        };
        let version = self
            .containerd
            .map_or_else(|| "version unknown".to_owned(), |v| v.to_string());
        writeln!(
            f,
            "{runtime} ({version}): {} [{}]",
            self.file.display(),
            self.table
        )?;
        if self.is_unchanged() {
            writeln!(f, "NRI is already enabled; nothing changed")?;
        } else {
            let verb = if self.dry_run {
                "would change"
            } else {
                "changed"
            };
            for change in &self.changes {
                writeln!(f, "{verb}: {change}")?;
            }
            if self.dry_run {
                write!(f, "{}", self.diff)?;
                writeln!(f, "dry run: nothing was written")?;
            } else {
                if self.validated {
                    writeln!(f, "containerd accepted the new configuration")?;
                }
                if let Some(backup) = &self.backup {
                    writeln!(f, "backup: {}", backup.display())?;
                }
            }
        }
        if let Some(r) = &self.restarted {
            write!(
                f,
                "restarted containerd: {} -> {}",
                crate::process::show(&r.before),
                r.after
            )?;
            if let Some(socket) = &r.socket {
                write!(f, "; NRI socket {} accepts connections", socket.display())?;
            }
            writeln!(f, " ({} ms)", r.took.as_millis())?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
