//! [`Ctx`]: what every plan is built from, shared by commands, suites and containers.

use xshell::Shell;

/// What every command's plan is built from: a shell at the workspace root and facts about
/// how the runner was started.
pub struct Ctx {
    /// A shell whose directory is the workspace root.
    pub sh: Shell,
    /// Whether cargo-nextest is installed.
    pub nextest: bool,
    /// Whether tools should colour their output (see [`crate::report::Style::colors`]).
    pub color: bool,
    /// Whether we run under CI.
    pub ci: bool,
}

impl Ctx {
    /// The context of this run: nextest detected on `PATH`, CI from the environment,
    /// `color` as resolved from `--color` and the environment.
    pub fn detect(color: bool) -> anyhow::Result<Self> {
        Ok(Ctx {
            sh: crate::project::shell()?,
            nextest: crate::probe::tools::nextest_installed(),
            color,
            ci: crate::project::in_ci(),
        })
    }

    /// A context for tests: nextest as given, no colour, not CI.
    #[cfg(test)]
    pub fn for_tests(nextest: bool) -> Self {
        Ctx {
            sh: crate::project::shell().expect("shell"),
            nextest,
            color: false,
            ci: false,
        }
    }
}
