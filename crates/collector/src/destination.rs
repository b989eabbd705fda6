//! [`Destination`]: where completed files go, parsed from `--output`.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where completed Parquet files end up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `file:///dir` or a plain path: files are completed in this directory and stay.
    Directory(PathBuf),
    /// `s3://bucket/prefix`: files are completed in the local spool directory, uploaded
    /// as `prefix/<file name>`, then removed locally.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl Destination {
    /// Parses `file:///dir`, `s3://bucket[/prefix]` or a plain directory path.
    ///
    /// Fails with [`Error::InvalidConfig`] for another scheme, a relative `file://` URL
    /// or an `s3://` URL without a bucket.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |expected| Error::InvalidConfig {
            name: "--output",
            value: text.to_owned(),
            expected,
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("s3://<bucket>/<prefix> with a bucket name"));
            }
            return Ok(Destination::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if let Some(path) = text.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("file:///<absolute directory> (three slashes)"));
            }
            return Ok(Destination::Directory(PathBuf::from(path)));
        }
        if text.contains("://") {
            return Err(invalid(
                "s3://<bucket>/<prefix>, file:///<dir> or a directory",
            ));
        }
        if text.is_empty() {
            return Err(invalid(
                "a directory, file:///<dir> or s3://<bucket>/<prefix>",
            ));
        }
        Ok(Destination::Directory(PathBuf::from(text)))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Directory(dir) => write!(f, "file://{}", dir.display()),
            Destination::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Destination::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_give_bucket_and_prefix_without_slashes() {
        assert_eq!(
            Destination::parse("s3://metrics/rdt/node-a/").expect("valid"),
            Destination::S3 {
                bucket: "metrics".into(),
                prefix: "rdt/node-a".into()
            }
        );
        assert_eq!(
            Destination::parse("s3://metrics").expect("valid"),
            Destination::S3 {
                bucket: "metrics".into(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn file_urls_and_plain_paths_are_directories() {
        assert_eq!(
            Destination::parse("file:///var/lib/c").expect("valid"),
            Destination::Directory("/var/lib/c".into())
        );
        assert_eq!(
            Destination::parse("out").expect("valid"),
            Destination::Directory("out".into())
        );
    }

    #[test]
    fn other_schemes_and_missing_parts_are_refused_naming_the_flag() {
        for bad in ["gs://b/p", "s3://", "s3:///p", "file://rel/dir", ""] {
            let err = Destination::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("--output"), "{bad}: {err}");
        }
    }

    #[test]
    fn display_is_the_url() {
        let d = Destination::parse("s3://b/p/q").expect("valid");
        assert_eq!(d.to_string(), "s3://b/p/q");
    }
}
