//! Usage errors found after parsing: arguments that parse but do not make sense together.
//! A leaf, so commands can raise them without depending on the command line's definition.

/// Arguments that parse but do not make sense together (found after clap is done): the
/// runner exits with 2 for them, like for every usage error.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Fails with a [`UsageError`] saying `message`.
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::usage::UsageError(format!($($arg)*))))
    };
}
pub(crate) use usage_bail;
