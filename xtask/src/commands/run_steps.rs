//! `cargo xtask run-steps STEP...` (hidden): an ad-hoc plan, so the runner's own tests can
//! drive the real binary through steps that pass, fail, ignore interrupts or clean up.

use anyhow::{Context, bail};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::output;
use crate::plan::{Plan, Step};
use crate::project;

/// Arguments of `run-steps`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct RunStepsArgs {
    /// Steps in order: `exec:NAME=SHELL` runs `sh -c SHELL`; `cleanup:NAME=SHELL` does the
    /// same as a cleanup step that always runs; `task:NAME=SECONDS[,MARKER]` is an
    /// in-process task that creates the file MARKER (if given), sleeps, and never looks at
    /// interrupts. `exec+PARSER:NAME=SHELL` reads the output as a tool's (rustfmt, clippy,
    /// nextest, libtest), for replaying captured tool output.
    #[arg(required = true, value_name = "STEP")]
    pub steps: Vec<String>,
}

/// One step per argument, in order.
pub fn plan(ctx: &Ctx, args: &RunStepsArgs) -> anyhow::Result<Plan> {
    let sh = &ctx.sh;
    let mut plan = Plan::default();
    for spec in &args.steps {
        let parse = || -> Option<(&str, &str, &str)> {
            let (kind, rest) = spec.split_once(':')?;
            let (name, body) = rest.split_once('=')?;
            Some((kind, name, body))
        };
        let Some((kind, name, body)) = parse() else {
            bail!("step `{spec}` is not KIND:NAME=BODY (kinds: exec, cleanup, task)");
        };
        let (kind, parser) = match kind.split_once('+') {
            Some((kind, parser)) => (kind, Some(parser)),
            None => (kind, None),
        };
        let step = match kind {
            "exec" => Step::exec(name, cmd!(sh, "sh -c {body}").into()),
            "cleanup" => Step::exec(name, cmd!(sh, "sh -c {body}").into()).always(),
            "task" => {
                let (seconds, marker) = match body.split_once(',') {
                    Some((seconds, marker)) => (seconds, Some(std::path::PathBuf::from(marker))),
                    None => (body, None),
                };
                let seconds: f64 = seconds.parse().with_context(|| {
                    format!("step `{spec}`: `{seconds}` is not a number of seconds")
                })?;
                let pause = std::time::Duration::from_secs_f64(seconds);
                Step::task(
                    name,
                    format!("sleeps {seconds} s, deaf to interrupts"),
                    move |_| {
                        if let Some(marker) = &marker {
                            std::fs::write(marker, "")
                                .with_context(|| format!("creating {}", marker.display()))?;
                        }
                        std::thread::sleep(pause);
                        Ok(())
                    },
                )
            }
            other => bail!("step `{spec}`: unknown kind `{other}` (kinds: exec, cleanup, task)"),
        };
        let step = match parser {
            None => step,
            Some("rustfmt") => step.parsed_by(|| output::rustfmt::parser(root())),
            Some("clippy") => step.parsed_by(|| {
                output::cargo::messages("clippy", "cargo xtask clippy", root(), false)
            }),
            Some("nextest") => {
                step.parsed_by(|| output::nextest::parser(root(), Some("cargo xtask unit")))
            }
            Some("libtest") => {
                step.parsed_by(|| output::libtest::parser(root(), Some("cargo xtask unit")))
            }
            Some(other) => bail!(
                "step `{spec}`: unknown parser `{other}` (parsers: rustfmt, clippy, nextest, libtest)"
            ),
        };
        plan.push(step);
    }
    Ok(plan)
}

fn root() -> std::path::PathBuf {
    project::root().to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(steps: &[&str]) -> anyhow::Result<String> {
        let args = RunStepsArgs {
            steps: steps.iter().map(|s| s.to_string()).collect(),
        };
        Ok(plan(&Ctx::for_tests(false), &args)?.render())
    }

    #[test]
    fn each_argument_becomes_one_step_in_order() {
        let plan = render(&["exec:first=echo hi", "task:pause=0.5", "cleanup:tidy=true"])
            .expect("valid steps");
        let first = plan.find("first").expect("first step");
        let pause = plan.find("pause").expect("pause step");
        let tidy = plan.find("tidy").expect("tidy step");
        assert!(first < pause && pause < tidy, "{plan}");
        assert!(plan.contains("sh -c 'echo hi'"), "{plan}");
    }

    #[test]
    fn malformed_steps_are_refused_with_the_syntax() {
        let err = render(&["first"]).unwrap_err().to_string();
        assert!(err.contains("is not KIND:NAME=BODY"), "{err}");
        let err = render(&["task:t=soon"]).unwrap_err().to_string();
        assert!(err.contains("`soon` is not a number"), "{err}");
        let err = render(&["shell:x=true"]).unwrap_err().to_string();
        assert!(err.contains("unknown kind `shell`"), "{err}");
        let err = render(&["exec+yaml:x=true"]).unwrap_err().to_string();
        assert!(err.contains("unknown parser `yaml`"), "{err}");
    }
}
