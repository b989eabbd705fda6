//! Python tools the runner needs (linters, independent readers of our files), each in a
//! virtual environment of its own under `target/xtask/tools`, with pinned versions and
//! reused between runs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use xshell::cmd;

use crate::plan::{Exec, StepIo};
use crate::project;

/// The virtual environment called `name`.
pub fn venv(name: &str) -> PathBuf {
    project::xtask_dir().join("tools").join(name)
}

/// Creates `venv` and installs the pinned `requirements` (wheels only), unless a previous
/// run already installed exactly these; `purpose` names them in messages.
pub fn ensure(
    io: &mut dyn StepIo,
    venv: &Path,
    requirements: &[&str],
    purpose: &str,
) -> anyhow::Result<()> {
    let stamp = venv.join("requirements.txt");
    let wanted = requirements.join("\n") + "\n";
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        io.line(&format!(
            "{} already installed in {}",
            requirements.join(", "),
            venv.display()
        ));
        return Ok(());
    }
    let sh = project::shell()?;
    let python = which::which("python3").with_context(|| {
        format!("python3 is needed to install {purpose}; install it with `apt-get install python3 python3-venv`")
    })?;
    let _ = std::fs::remove_dir_all(venv);
    io.run(&Exec::from(cmd!(sh, "{python} -m venv {venv}")))
        .with_context(|| format!("creating the virtual environment for {purpose} (Debian needs `apt-get install python3-venv`)"))?;
    let pip = venv.join("bin/pip");
    // Wheels only: a source build could try to download from places this machine cannot
    // reach, and would be slow anyway.
    io.run(&Exec::from(cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check --only-binary :all: {requirements...}"
    )))
    .with_context(|| format!("installing {purpose} from PyPI"))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))
}
