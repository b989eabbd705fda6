//! `cargo xtask container push --registry REG`: the builder image under its immutable CI
//! tags (`cargo xtask image-tag`: `sha-<sha7>` and `latest` on main) pushed to a registry,
//! each push retried with backoff (registries answer 5xx and time out now and then).
//!
//! Credentials come from `XTASK_REGISTRY_USER` and `XTASK_REGISTRY_TOKEN` when set (CI
//! passes the job's token), written to an auth file of our own under `target/xtask/`, so
//! the engine's and the user's login state are never touched; without them the engine's
//! own login is used.

use std::time::Duration;

use anyhow::Context;

use super::Target;
use super::engine::Engine;
use super::retry::with_retries;
use crate::ctx::Ctx;
use crate::plan::{Exec, Plan, Step};
use crate::project;

/// Arguments of `container push`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct PushArgs {
    /// The repository to push to, e.g. `ghcr.io/owner/repo` (lowercased; the image is
    /// `<registry>/builder:<tag>`).
    #[arg(long, value_name = "REPOSITORY")]
    pub registry: String,
}

/// How often a push is tried.
pub const ATTEMPTS: u32 = 4;
/// The wait before the second attempt; it doubles each time (5 s, 10 s, 20 s).
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// Tag each CI tag for the registry, then push each.
pub fn plan(ctx: &Ctx, engine: &Engine, args: &PushArgs, tags: &[String]) -> Plan {
    plan_for(ctx, engine, &args.registry, tags, credentials())
}

/// The step writing the auth file for `host` (chained to `chain`), and the environment
/// that makes docker and podman read it.
pub(super) fn login_step(
    host: &str,
    (user, token): (String, String),
    chain: &str,
) -> (Step, Vec<(String, String)>) {
    let auth_dir = project::xtask_dir().join("registry-auth");
    let file = auth_dir.join("config.json");
    let description = format!("write {} for {host} (user {user})", file.display());
    let contents = auth_config(host, &user, &token);
    let path = file.clone();
    let shown = host.to_string();
    let step = Step::task("registry login", description, move |io| {
        write_private(&path, &contents)?;
        io.line(&format!("credentials for {shown} in {}", path.display()));
        Ok(())
    })
    .in_chain(chain);
    // docker reads DOCKER_CONFIG/config.json, podman REGISTRY_AUTH_FILE.
    let env = vec![
        ("DOCKER_CONFIG".into(), auth_dir.display().to_string()),
        ("REGISTRY_AUTH_FILE".into(), file.display().to_string()),
    ];
    (step, env)
}

/// The user and token from the environment, if both are set.
pub(super) fn credentials() -> Option<(String, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some((env("XTASK_REGISTRY_USER")?, env("XTASK_REGISTRY_TOKEN")?))
}

/// The plan for explicit tags and credentials.
fn plan_for(
    ctx: &Ctx,
    engine: &Engine,
    registry: &str,
    tags: &[String],
    credentials: Option<(String, String)>,
) -> Plan {
    let registry = registry.trim_end_matches('/').to_ascii_lowercase();
    let host = registry.split('/').next().unwrap_or_default().to_string();
    let mut plan = Plan::default();
    let auth_env = match credentials {
        Some(credentials) => {
            let (login, env) = login_step(&host, credentials, "push");
            plan.push(login);
            env
        }
        None => Vec::new(),
    };
    let local = Target::Builder.image();
    for tag in tags {
        let remote = format!("{registry}/{}:{tag}", Target::Builder.stage());
        plan.push(
            Step::exec(
                format!("tag {tag}"),
                Exec::from(engine.cmd(&ctx.sh).args(["tag", &local, &remote])),
            )
            .in_chain("push"),
        );
        let mut push = Exec::from(engine.cmd(&ctx.sh).args(["push", &remote]));
        for (key, value) in &auth_env {
            push = push.env(key, value);
        }
        let line = push.to_string();
        plan.push(
            Step::task(
                format!("push {tag}"),
                format!("{line} (up to {ATTEMPTS} attempts)"),
                move |io| with_retries(io, &push, ATTEMPTS, FIRST_BACKOFF),
            )
            .in_chain("push"),
        );
    }
    plan
}

/// A registry auth file (the format docker and podman share).
fn auth_config(host: &str, user: &str, token: &str) -> String {
    let auth = base64(format!("{user}:{token}").as_bytes());
    format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}\n")
}

/// Writes a file only its owner can read (it holds a token).
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Standard base64 with padding (RFC 4648), for the auth file's `user:token`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::engine::Kind;

    fn engine() -> Engine {
        Engine {
            kind: Kind::Docker,
            env: Vec::new(),
        }
    }

    #[test]
    fn each_ci_tag_is_tagged_for_the_registry_then_pushed() {
        let tags = vec!["sha-0123456".to_string(), "latest".to_string()];
        let plan = plan_for(
            &Ctx::for_tests(true),
            &engine(),
            "ghcr.io/Owner/Repo/",
            &tags,
            Some(("bot".into(), "t0ken".into())),
        );
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "registry login",
                "tag sha-0123456",
                "push sha-0123456",
                "tag latest",
                "push latest"
            ]
        );
        let rendered = plan.render();
        assert!(
            rendered.contains(
                "docker tag localhost/resctrl-collector/builder:dev ghcr.io/owner/repo/builder:sha-0123456"
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains("docker push ghcr.io/owner/repo/builder:latest"),
            "{rendered}"
        );
        assert!(
            !rendered.contains("t0ken"),
            "the token must not appear in the plan: {rendered}"
        );
    }

    #[test]
    fn the_auth_file_holds_user_and_token_in_base64() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
        assert_eq!(
            auth_config("ghcr.io", "user", "pass"),
            "{\"auths\":{\"ghcr.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}\n"
        );
    }
}
