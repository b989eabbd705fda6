//! The crash-safe spool: each round's rows appended as one Arrow IPC stream message and
//! synced, so a SIGKILL loses at most the round being written.
//!
//! The IPC stream format is append-only: a schema message, then one self-delimiting
//! record-batch message per round. A file cut anywhere (power loss, SIGKILL mid-write)
//! still reads as every complete message before the cut, which is what
//! [`read_spool`] returns.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::MetadataVersion;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_schema::SchemaRef;

use crate::error::{Error, Result};

/// An open spool file.
pub struct Spool {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Creates the spool at `path` (which must not exist) with `schema`, synced.
    ///
    /// Fails with [`Error::Io`] or [`Error::Arrow`], naming the file.
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| io_error("create", path, source))?;
        let arrow_error = |source| Error::Arrow {
            action: "write the schema of",
            path: path.to_path_buf(),
            source,
        };
        // 8-byte alignment instead of the default 64: a small round's message would be
        // mostly per-buffer padding otherwise (18 columns, two or three buffers each).
        let options =
            IpcWriteOptions::try_new(8, false, MetadataVersion::V5).map_err(arrow_error)?;
        let writer = StreamWriter::try_new_with_options(BufWriter::new(file), schema, options)
            .map_err(arrow_error)?;
        let mut spool = Spool {
            path: path.to_path_buf(),
            writer,
        };
        spool.sync()?;
        Ok(spool)
    }

    /// Appends one round's rows and syncs them to disk before returning.
    ///
    /// Fails with [`Error::Arrow`] or [`Error::Io`], naming the file.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|source| Error::Arrow {
            action: "append",
            path: self.path.clone(),
            source,
        })?;
        self.sync()
    }

    fn sync(&mut self) -> Result<()> {
        let buffered = self.writer.get_mut();
        buffered
            .flush()
            .map_err(|source| io_error("write", &self.path, source))?;
        let file = buffered.get_ref();
        file.sync_data()
            .map_err(|source| io_error("sync", &self.path, source))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What [`read_spool`] found.
#[derive(Debug)]
pub struct SpoolContents {
    /// The spool's schema (with its metadata), if its header was complete.
    pub schema: Option<SchemaRef>,
    /// Complete batches, in order.
    pub batches: usize,
    /// Their rows.
    pub rows: usize,
    /// Whether the file ended in the middle of a message (the round being written when
    /// the previous run died); that message is dropped.
    pub truncated: bool,
}

/// Reads every complete batch of the spool at `path`, in order, handing each to `each`.
///
/// A cut or damaged tail ends the reading without an error (see
/// [`SpoolContents::truncated`]); so does a file too short for its header. Fails with
/// [`Error::Io`] if the file cannot be opened, or with the first error of `each`.
pub fn read_spool(
    path: &Path,
    mut each: impl FnMut(&SchemaRef, RecordBatch) -> Result<()>,
) -> Result<SpoolContents> {
    let file = File::open(path).map_err(|source| io_error("open", path, source))?;
    let mut contents = SpoolContents {
        schema: None,
        batches: 0,
        rows: 0,
        truncated: false,
    };
    let reader = match StreamReader::try_new(BufReader::new(file), None) {
        Ok(reader) => reader,
        Err(_) => {
            contents.truncated = true;
            return Ok(contents);
        }
    };
    let schema = reader.schema();
    contents.schema = Some(schema.clone());
    for batch in reader {
        match batch {
            Ok(batch) => {
                contents.batches += 1;
                contents.rows += batch.num_rows();
                each(&schema, batch)?;
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "spool ends in a cut message");
                contents.truncated = true;
                break;
            }
        }
    }
    Ok(contents)
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
