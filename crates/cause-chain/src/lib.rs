//! Renders an error with the causes in its source chain: `outer: inner: root cause`.
//!
//! The workspace's error types say what failed in their message and leave the cause to
//! [`Error::source`], so `Display` alone never repeats it and never shows it. This crate
//! is the one place that walks the chain, for logs, panics in tests, RPC error messages
//! and a binary's last words; it is in a crate of its own because nri, resctrl,
//! containerd-harness and the plugin all need it and none of them depends on another.
//!
//! ```
//! use std::io;
//!
//! #[derive(Debug)]
//! struct Open(io::Error);
//!
//! impl std::fmt::Display for Open {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("cannot open /etc/x")
//!     }
//! }
//!
//! impl std::error::Error for Open {
//!     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
//!         Some(&self.0)
//!     }
//! }
//!
//! let err = Open(io::Error::other("gone"));
//! assert_eq!(cause_chain::render(&err), "cannot open /etc/x: gone");
//! // Without allocating, e.g. as a tracing field: `error = %Chain(&err)`.
//! assert_eq!(cause_chain::Chain(&err).to_string(), "cannot open /etc/x: gone");
//! ```

#![warn(missing_docs)]

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources, `: `-separated.
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error's message followed by those of its sources, `: `-separated.
pub fn render(error: &dyn Error) -> String {
    Chain(error).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer {
        message: &'static str,
        source: Option<Box<Layer>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|s| s as &(dyn Error + 'static))
        }
    }

    fn layer(message: &'static str, source: Option<Layer>) -> Layer {
        Layer {
            message,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn every_source_follows_its_error_in_order() {
        let err = layer("a", Some(layer("b", Some(layer("c", None)))));
        assert_eq!(render(&err), "a: b: c");
    }

    #[test]
    fn an_error_without_a_source_is_its_message() {
        assert_eq!(render(&layer("alone", None)), "alone");
    }
}
