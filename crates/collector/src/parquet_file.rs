//! One Parquet file being written under a temporary name, and made visible under its
//! final name only once complete (footer written, synced, renamed, directory synced).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Default rows per row group: enough for good compression, few enough that the rows
/// buffered before a row group is flushed stay a few MiB.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 64 * 1024;

/// A Parquet file in progress.
pub struct ParquetFile {
    temp: PathBuf,
    writer: ArrowWriter<File>,
}

impl std::fmt::Debug for ParquetFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetFile")
            .field("temp", &self.temp)
            .finish_non_exhaustive()
    }
}

impl ParquetFile {
    /// Starts a file at `temp` (which must not exist) for rows of `schema`; the schema's
    /// metadata becomes the file's key-value metadata.
    ///
    /// Fails with [`Error::Io`] or [`Error::Parquet`], naming the file.
    pub fn create(temp: &Path, schema: &SchemaRef, row_group_rows: usize) -> Result<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(temp)
            .map_err(|source| Error::Io {
                action: "create",
                path: temp.to_path_buf(),
                source,
            })?;
        let mut metadata: Vec<KeyValue> = schema
            .metadata()
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        metadata.sort_by(|a, b| a.key.cmp(&b.key));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_size(row_group_rows.max(1))
            .set_key_value_metadata(Some(metadata))
            .set_created_by(format!("collector {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|source| parquet_error(temp, source))?;
        Ok(ParquetFile {
            temp: temp.to_path_buf(),
            writer,
        })
    }

    /// Adds rows (buffered until a row group is full).
    ///
    /// Fails with [`Error::Parquet`], naming the file.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|source| parquet_error(&self.temp, source))?;
        Ok(())
    }

    /// The file's size if it were closed now (bytes flushed plus the row group being
    /// buffered, estimated).
    pub fn estimated_size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Writes the footer with `extra` metadata, syncs, and renames the file to
    /// `final_path`, syncing its directory, so the name appears only for a whole file.
    ///
    /// Fails with [`Error::Parquet`] or [`Error::Io`], naming the file.
    pub fn finish(mut self, extra: Vec<KeyValue>, final_path: &Path) -> Result<PathBuf> {
        for kv in extra {
            self.writer.append_key_value_metadata(kv);
        }
        let temp = self.temp;
        let file = self
            .writer
            .into_inner()
            .map_err(|source| parquet_error(&temp, source))?;
        file.sync_all().map_err(|source| Error::Io {
            action: "sync",
            path: temp.clone(),
            source,
        })?;
        drop(file);
        std::fs::rename(&temp, final_path).map_err(|source| Error::Io {
            action: "rename",
            path: temp.clone(),
            source,
        })?;
        sync_dir(final_path.parent().unwrap_or(Path::new(".")))?;
        Ok(final_path.to_path_buf())
    }
}

/// Syncs a directory, so renames and removals in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            action: "sync",
            path: dir.to_path_buf(),
            source,
        })
}

fn parquet_error(path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        source,
    }
}
