//! `cargo xtask container pull --image REF`: the builder image from a registry, retried with
//! backoff, then tagged as the local name `--container` runs. CI pulls the image the build
//! job pushed on main; when every attempt fails (or the image was built from another
//! recipe) the step exits 1 and the workflow falls back to the build job's artifact
//! (`container load`).

use std::time::Duration;

use anyhow::Context;

use super::Target;
use super::build::{RECIPE_LABEL, image_recipe, recipe_hash};
use super::engine::Engine;
use super::retry::{backoff, with_retries};
use crate::ctx::Ctx;
use crate::plan::{Exec, Plan, Step, StepIo};
use crate::project;

/// Arguments of `container pull`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct PullArgs {
    /// The image to pull, e.g. `ghcr.io/owner/repo/builder:sha-0123456` (the repository part
    /// is lowercased, as registries require).
    #[arg(long, value_name = "REF", value_parser = parse_reference)]
    pub image: String,
    /// How often the pull is tried before giving up (1 to 10).
    #[arg(long, value_name = "N", default_value_t = ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub attempts: u32,
}

/// How often a pull is tried by default.
pub const ATTEMPTS: u32 = 4;
/// The wait before the second attempt; it doubles each time (2 s, 4 s, 8 s).
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);

/// What the workflow does when this command fails; said in the failure so a reader of the
/// log knows the job goes on.
const FALLBACK: &str = "the workflow falls back to the build job's artifact (`cargo xtask container load --input <tar>`)";

/// An image reference with its repository lowercased (GitHub's `owner/repo` may have
/// capitals; registries refuse them), or why it is not one.
fn parse_reference(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{text}` is not an image reference; give e.g. ghcr.io/owner/repo/builder:sha-0123456"
        ));
    }
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (text, None),
    };
    if name.is_empty() || name.ends_with('/') || tag.is_some_and(str::is_empty) {
        return Err(format!(
            "`{text}` has an empty repository or tag; give e.g. ghcr.io/owner/repo/builder:sha-0123456"
        ));
    }
    let name = name.to_ascii_lowercase();
    Ok(tag.map_or(name.clone(), |tag| format!("{name}:{tag}")))
}

/// Pull (retried), check the recipe, tag as the builder's local name.
pub fn plan(ctx: &Ctx, engine: &Engine, args: &PullArgs) -> Plan {
    plan_for(
        ctx,
        engine,
        args,
        recipe_hash(project::root()),
        FIRST_BACKOFF,
        super::push::credentials(),
    )
}

/// The plan with the checkout's recipe hash, the first wait (tests shorten it) and the
/// registry credentials (`XTASK_REGISTRY_USER` and `XTASK_REGISTRY_TOKEN`, as for `push`;
/// without them the engine's own login, or none for a public image).
fn plan_for(
    ctx: &Ctx,
    engine: &Engine,
    args: &PullArgs,
    wanted: String,
    first: Duration,
    credentials: Option<(String, String)>,
) -> Plan {
    let remote = args.image.clone();
    let local = Target::Builder.image();
    let attempts = args.attempts;
    let mut plan = Plan::default();
    let mut pull = Exec::from(engine.cmd(&ctx.sh).args(["pull", &remote]));
    if let Some(credentials) = credentials {
        let host = remote.split('/').next().unwrap_or_default();
        let (login, env) = super::push::login_step(host, credentials, "pull");
        plan.push(login);
        for (key, value) in env {
            pull = pull.env(key, value);
        }
    }
    let waits = backoff(attempts, first)
        .iter()
        .map(|wait| format!("{}s", wait.as_secs_f32()))
        .collect::<Vec<_>>();
    let description = if waits.is_empty() {
        format!("{pull} (1 attempt)")
    } else {
        format!(
            "{pull} (up to {attempts} attempts, waiting {} between them)",
            waits.join(", ")
        )
    };
    let pulled = remote.clone();
    plan.push(
        Step::task(format!("pull {remote}"), description, move |io| {
            with_retries(io, &pull, attempts, first)
                .with_context(|| format!("could not pull {pulled}; {FALLBACK}"))
        })
        .in_chain("pull"),
    );
    let inspected = remote.clone();
    let probe = engine.clone();
    let shown = wanted.clone();
    plan.push(
        Step::task(
            "check recipe",
            format!("{inspected}'s label {RECIPE_LABEL} must be {shown} (this checkout's Containerfile and Cargo.lock)"),
            move |io| check_recipe(io, &inspected, image_recipe(&probe, &inspected), &wanted),
        )
        .in_chain("pull"),
    );
    plan.push(
        Step::exec(
            format!("tag {local}"),
            Exec::from(engine.cmd(&ctx.sh).args(["tag", &remote, &local])),
        )
        .in_chain("pull"),
    );
    plan
}

/// Accepts the pulled image only if it was built from this checkout's recipe: `--container`
/// would refuse a stale one under CI anyway, and the artifact is then the right image.
fn check_recipe(
    io: &mut dyn StepIo,
    image: &str,
    label: Option<String>,
    wanted: &str,
) -> anyhow::Result<()> {
    match label {
        Some(label) if label == wanted => {
            io.line(&format!(
                "{image} was built from this checkout's recipe ({wanted})"
            ));
            Ok(())
        }
        Some(label) => anyhow::bail!(
            "{image} was built from another Containerfile or Cargo.lock (label {RECIPE_LABEL}={label}, this checkout's is {wanted}); {FALLBACK}"
        ),
        None => anyhow::bail!(
            "{image} has no {RECIPE_LABEL} label, so it cannot be checked against this checkout; {FALLBACK}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::engine::Kind;
    use crate::container::retry::tests::Flaky;
    use crate::plan::Action;

    fn podman() -> Engine {
        Engine {
            kind: Kind::Podman,
            env: Vec::new(),
        }
    }

    fn args(attempts: u32) -> PullArgs {
        PullArgs {
            image: "ghcr.io/owner/repo/builder:sha-0123456".into(),
            attempts,
        }
    }

    /// Runs step `index` of `plan` as a task with `io`.
    fn run_task(plan: &Plan, index: usize, io: &mut dyn StepIo) -> anyhow::Result<()> {
        match &plan.steps[index].action {
            Action::Task(task) => (task.run)(io),
            _ => panic!("step {index} is not a task"),
        }
    }

    #[test]
    fn the_plan_pulls_checks_the_recipe_then_tags_the_local_builder_name() {
        let plan = plan_for(
            &Ctx::for_tests(true),
            &podman(),
            &args(4),
            "abc".into(),
            FIRST_BACKOFF,
            None,
        );
        let rendered = plan.render();
        assert!(
            rendered.contains(
                "podman pull ghcr.io/owner/repo/builder:sha-0123456 (up to 4 attempts, waiting 2s, 4s, 8s between them)"
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains(
                "podman tag ghcr.io/owner/repo/builder:sha-0123456 localhost/resctrl-collector/builder:dev"
            ),
            "{rendered}"
        );
        assert!(
            plan.steps
                .iter()
                .all(|s| s.chain.as_deref() == Some("pull")),
            "a failed pull skips the tag"
        );
    }

    #[test]
    fn a_pull_that_never_succeeds_says_the_workflow_falls_back_to_the_artifact() {
        let plan = plan_for(
            &Ctx::for_tests(true),
            &podman(),
            &args(3),
            "abc".into(),
            Duration::from_millis(1),
            None,
        );
        let mut io = Flaky::failing(10);
        let err = run_task(&plan, 0, &mut io).expect_err("every attempt fails");
        assert_eq!(io.runs, 3);
        let text = format!("{err:#}");
        assert!(text.contains("giving up after 3 attempts"), "{text}");
        assert!(
            text.contains("falls back to the build job's artifact"),
            "{text}"
        );
    }

    #[test]
    fn a_pull_that_fails_once_succeeds_on_the_retry() {
        let plan = plan_for(
            &Ctx::for_tests(true),
            &podman(),
            &args(3),
            "abc".into(),
            Duration::from_millis(1),
            None,
        );
        let mut io = Flaky::failing(1);
        run_task(&plan, 0, &mut io).expect("second attempt");
        assert_eq!(io.runs, 2);
    }

    #[test]
    fn credentials_from_the_environment_log_in_first_without_showing_the_token() {
        let plan = plan_for(
            &Ctx::for_tests(true),
            &podman(),
            &args(2),
            "abc".into(),
            FIRST_BACKOFF,
            Some(("bot".into(), "t0ken".into())),
        );
        assert_eq!(plan.steps[0].name, "registry login");
        let rendered = plan.render();
        assert!(rendered.contains("for ghcr.io (user bot)"), "{rendered}");
        assert!(rendered.contains("REGISTRY_AUTH_FILE="), "{rendered}");
        assert!(!rendered.contains("t0ken"), "{rendered}");
    }

    #[test]
    fn only_an_image_of_this_checkouts_recipe_is_accepted() {
        let mut io = crate::plan::testing::Lines::default();
        check_recipe(&mut io, "img", Some("abc".into()), "abc").expect("same recipe");
        let stale = check_recipe(&mut io, "img", Some("old".into()), "abc").expect_err("stale");
        assert!(stale.to_string().contains("xtask.recipe=old"), "{stale}");
        assert!(stale.to_string().contains("falls back"), "{stale}");
        let unlabelled = check_recipe(&mut io, "img", None, "abc").expect_err("no label");
        assert!(
            unlabelled.to_string().contains("no xtask.recipe label"),
            "{unlabelled}"
        );
    }

    #[test]
    fn references_are_lowercased_in_the_repository_and_checked() {
        assert_eq!(
            parse_reference("ghcr.io/Owner/Repo/builder:sha-ABC").as_deref(),
            Ok("ghcr.io/owner/repo/builder:sha-ABC")
        );
        assert_eq!(
            parse_reference("localhost:5000/Builder").as_deref(),
            Ok("localhost:5000/builder")
        );
        for bad in ["", "a b", "ghcr.io/x/builder:", ":tag", "ghcr.io/x/"] {
            assert!(parse_reference(bad).is_err(), "{bad:?} accepted");
        }
    }
}
