//! `podman build`: a base image that cannot be pulled (no registry, an
//! offline host) becomes one finding naming the image, and the next command is `cargo
//! xtask container base`, which builds a local stand-in for it.

use super::{OutputParser, Shown};
use crate::ansi;
use crate::record::{Digest, Finding, Severity};

/// Reads an image build's output.
#[derive(Default)]
pub struct ImageBuild {
    /// The image the engine last said it was pulling.
    pulling: Option<String>,
    /// The image that could not be pulled, and the engine's error.
    failed_pull: Option<(String, String)>,
}

/// The parser for `podman build` (docker's BuildKit words it differently; its failures get
/// the end of the output in the digest).
pub fn parser() -> Box<dyn OutputParser> {
    Box::<ImageBuild>::default()
}

impl OutputParser for ImageBuild {
    fn read(&mut self, line: &str, emit: &mut dyn FnMut(&str, Shown)) {
        emit(line, Shown::Always);
        let plain = ansi::strip(line);
        let plain = plain.trim();
        // podman: `Trying to pull docker.io/library/rust:1.95.0-slim-bookworm...`
        if let Some(image) = plain
            .strip_prefix("Trying to pull ")
            .map(|rest| rest.trim_end_matches('.'))
        {
            self.pulling = Some(image.to_string());
            return;
        }
        if self.failed_pull.is_some() {
            return;
        }
        // podman: `Error: creating build container: initializing source docker://...`
        if plain.starts_with("Error: ")
            && let Some(image) = &self.pulling
        {
            self.failed_pull = Some((image.clone(), plain.to_string()));
        }
    }

    fn finish(&mut self, failed: bool) -> Digest {
        let mut digest = Digest::default();
        if let Some((image, error)) = self.failed_pull.take().filter(|_| failed) {
            digest.summary = Some("could not pull the base image".to_string());
            digest.findings.push(Finding {
                severity: Severity::Error,
                title: format!("could not pull {image}"),
                location: None,
                detail: vec![error],
            });
            // The stand-in is made from this machine's toolchain; later builds use it.
            digest.next = Some("cargo xtask container base".to_string());
        }
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::feed;

    const PULL_FAILURE: &str = include_str!("fixtures/podman-build-pull-failure.txt");

    #[test]
    fn a_base_image_that_cannot_be_pulled_points_at_the_stand_in() {
        let mut parser = parser();
        let (shown, _) = feed(parser.as_mut(), PULL_FAILURE);
        assert_eq!(shown.len(), PULL_FAILURE.lines().count());
        let digest = parser.finish(true);
        assert_eq!(
            digest.summary.as_deref(),
            Some("could not pull the base image")
        );
        assert_eq!(
            digest.findings[0].title,
            "could not pull docker.io/library/rust:1.95.0-slim-bookworm"
        );
        assert!(digest.findings[0].detail[0].contains("no such host"));
        assert_eq!(digest.next.as_deref(), Some("cargo xtask container base"));
    }

    #[test]
    fn a_build_that_pulled_fine_has_nothing_to_say() {
        let mut parser = parser();
        feed(
            parser.as_mut(),
            "Trying to pull docker.io/library/rust:1.95.0-slim-bookworm...\nGetting image source signatures\n",
        );
        assert_eq!(parser.finish(false), Digest::default());
    }
}
