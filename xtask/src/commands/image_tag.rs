//! `cargo xtask image-tag`: the immutable image tag(s) for the current CI context.
//!
//! Pull requests get `pr-<N>-<sha7>`, branches `<sanitized-branch>-<sha7>`, and main
//! `sha-<sha7>` plus `latest`. The context comes from GitHub Actions' environment, or from
//! flags when run elsewhere.

use anyhow::{Context, bail};

/// Arguments of `image-tag`; each defaults to GitHub Actions' variable of the same meaning.
#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
pub struct ImageTagArgs {
    /// The commit (40 hex digits or at least 7). [default: $XTASK_HEAD_SHA (a pull request's
    /// head commit: GitHub's $GITHUB_SHA is then the merge commit, which nobody can find
    /// again), else $GITHUB_SHA, else `git rev-parse HEAD`]
    #[arg(long)]
    pub sha: Option<String>,
    /// The git ref, e.g. `refs/heads/feature/x` or `refs/pull/12/merge`. [default: $GITHUB_REF,
    /// else the current branch]
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// The default branch, whose builds are also tagged `latest`.
    #[arg(long, default_value = "main")]
    pub default_branch: String,
}

/// The maximum length of an OCI tag.
pub const MAX_TAG: usize = 128;

/// Where an image was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildContext {
    /// A pull request with its number.
    PullRequest(u64),
    /// A branch push (or run) with the branch name.
    Branch(String),
}

/// Resolves the arguments against the environment (and git, outside CI).
pub fn run(args: &ImageTagArgs) -> anyhow::Result<Vec<String>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let sha = match pick_sha(args.sha.clone(), &env) {
        Some(sha) => sha,
        None => git(&["rev-parse", "HEAD"])?,
    };
    let git_ref = match args.git_ref.clone().or_else(|| env("GITHUB_REF")) {
        Some(r) => r,
        None => format!(
            "refs/heads/{}",
            git(&["rev-parse", "--abbrev-ref", "HEAD"])?
        ),
    };
    tags(&context(&git_ref)?, &sha, &args.default_branch)
}

/// The environment variable naming a pull request's head commit (the workflow sets it from
/// `github.event.pull_request.head.sha`).
pub const HEAD_SHA_ENV: &str = "XTASK_HEAD_SHA";

/// The flag, else the pull request's head, else the commit GitHub built.
fn pick_sha(flag: Option<String>, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    flag.or_else(|| env(HEAD_SHA_ENV))
        .or_else(|| env("GITHUB_SHA"))
}

fn git(args: &[&str]) -> anyhow::Result<String> {
    let sh = crate::project::shell()?;
    let out = xshell::cmd!(sh, "git {args...}")
        .quiet()
        .read()
        .with_context(|| {
            format!(
                "running git {} (pass --sha/--ref outside a git checkout)",
                args.join(" ")
            )
        })?;
    Ok(out.trim().to_string())
}

/// The build context of a git ref.
pub fn context(git_ref: &str) -> anyhow::Result<BuildContext> {
    if let Some(rest) = git_ref.strip_prefix("refs/pull/") {
        let number = rest
            .split('/')
            .next()
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("`{git_ref}` is not refs/pull/<number>/..."))?;
        return Ok(BuildContext::PullRequest(number));
    }
    if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        return Ok(BuildContext::Branch(branch.to_string()));
    }
    if git_ref.starts_with("refs/") {
        bail!(
            "cannot tag an image for `{git_ref}`: expected refs/heads/<branch> or refs/pull/<n>/merge"
        );
    }
    Ok(BuildContext::Branch(git_ref.to_string()))
}

/// The tags for a context and commit: the immutable one first, then `latest` on the default
/// branch.
pub fn tags(
    context: &BuildContext,
    sha: &str,
    default_branch: &str,
) -> anyhow::Result<Vec<String>> {
    if sha.len() < 7 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{sha}` is not a commit id (at least 7 hex digits)");
    }
    let short = sha[..7].to_ascii_lowercase();
    Ok(match context {
        BuildContext::PullRequest(number) => vec![format!("pr-{number}-{short}")],
        BuildContext::Branch(branch) if branch == default_branch => {
            vec![format!("sha-{short}"), "latest".to_string()]
        }
        BuildContext::Branch(branch) => {
            let suffix = format!("-{short}");
            let mut name = sanitize(branch);
            // Keep the commit: shorten the branch part, never the suffix.
            name.truncate(MAX_TAG - suffix.len());
            let name = name.trim_end_matches(['-', '.']).to_string();
            if name.is_empty() {
                vec![format!("branch{suffix}")]
            } else {
                vec![format!("{name}{suffix}")]
            }
        }
    })
}

/// Lowercase; `/` and anything outside `[a-z0-9._-]` become `-`; runs of `-` collapse;
/// leading and trailing `-` go, and leading `.` too (an OCI tag cannot start with one).
pub fn sanitize(branch: &str) -> String {
    let mapped: String = branch
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::with_capacity(mapped.len());
    for c in mapped.chars() {
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_start_matches(['-', '.'])
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn branch_tag(branch: &str) -> String {
        tags(&BuildContext::Branch(branch.into()), SHA, "main")
            .unwrap()
            .remove(0)
    }

    #[test]
    fn branches_are_sanitized() {
        assert_eq!(
            branch_tag("feature/Add_New-Feature"),
            "feature-add_new-feature-0123456"
        );
        assert_eq!(branch_tag("feature/fix-#123"), "feature-fix-123-0123456");
        assert_eq!(
            branch_tag("HOTFIX/Critical-Bug"),
            "hotfix-critical-bug-0123456"
        );
        assert_eq!(branch_tag("--a//b--"), "a-b-0123456");
        assert_eq!(branch_tag("###"), "branch-0123456");
    }

    #[test]
    fn long_dependabot_branches_fit_in_128_characters() {
        let branch = "dependabot/cargo/crates/collector/some-extremely-long-dependency-name-with-many-words-in-it-0.123.456-and-even-more-words-to-go-past-the-limit";
        let tag = branch_tag(branch);
        assert!(tag.len() <= MAX_TAG, "{} > {MAX_TAG}: {tag}", tag.len());
        assert!(
            tag.starts_with("dependabot-cargo-crates-collector-some-extremely-long"),
            "{tag}"
        );
        assert!(tag.ends_with("-0123456"), "{tag}");
        assert!(!tag.contains("--"), "{tag}");
    }

    #[test]
    fn pull_requests_and_main() {
        let pr = context("refs/pull/42/merge").unwrap();
        assert_eq!(pr, BuildContext::PullRequest(42));
        assert_eq!(tags(&pr, SHA, "main").unwrap(), ["pr-42-0123456"]);
        let main = context("refs/heads/main").unwrap();
        assert_eq!(tags(&main, SHA, "main").unwrap(), ["sha-0123456", "latest"]);
        assert_eq!(
            context("refs/heads/feature/x").unwrap(),
            BuildContext::Branch("feature/x".into())
        );
    }

    #[test]
    fn a_pull_request_is_tagged_with_its_head_commit_not_the_merge_commit() {
        let env = |name: &str| match name {
            "GITHUB_SHA" => Some("aaaaaaa".to_string()),
            HEAD_SHA_ENV => Some("bbbbbbb".to_string()),
            _ => None,
        };
        assert_eq!(pick_sha(None, &env).as_deref(), Some("bbbbbbb"));
        assert_eq!(
            pick_sha(Some("ccccccc".into()), &env).as_deref(),
            Some("ccccccc")
        );
        let push = |name: &str| (name == "GITHUB_SHA").then(|| "aaaaaaa".to_string());
        assert_eq!(pick_sha(None, &push).as_deref(), Some("aaaaaaa"));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(
            context("refs/tags/v1")
                .unwrap_err()
                .to_string()
                .contains("refs/tags/v1")
        );
        assert!(context("refs/pull/abc/merge").is_err());
        let err = tags(&BuildContext::Branch("x".into()), "xyz", "main").unwrap_err();
        assert!(
            err.to_string().contains("`xyz` is not a commit id"),
            "{err}"
        );
    }

    #[test]
    fn every_tag_is_a_valid_oci_tag() {
        // OCI: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
        for branch in [
            "feature/Add_New-Feature",
            "feature/fix-#123",
            "HOTFIX/Critical-Bug",
            "_x",
            ".hidden",
            "a",
        ] {
            let tag = branch_tag(branch);
            let first = tag.chars().next().unwrap();
            assert!(first.is_ascii_alphanumeric() || first == '_', "{tag}");
            assert!(
                tag.len() <= MAX_TAG
                    && tag
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{tag}"
            );
        }
    }
}
