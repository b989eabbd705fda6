//! `cargo xtask image-tag`: the immutable image tag(s) for the current CI context.
//!
//! Pull requests get `pr-<N>-<sha7>`, branches `<sanitized-branch>-<sha7>`, and main
//! `sha-<sha7>` plus `latest`. The context comes from GitHub Actions' environment, or from
//! flags when run elsewhere; there, a detached HEAD gets `sha-<sha7>` and a checkout with
//! uncommitted changes a `-dirty` suffix (with a warning), so the tag never claims a commit
//! the image was not built from. Under GitHub Actions the tags also go to `$GITHUB_OUTPUT`
//! (`tag`: the immutable one, which later jobs pull by).

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
    /// A checkout on no branch (a detached HEAD).
    Detached,
}

/// Resolves the arguments against the environment (and git, outside CI).
pub fn run(args: &ImageTagArgs) -> anyhow::Result<Vec<String>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    resolve(args, &crate::project::shell()?, &env)
}

/// [`run`] with the checkout at `sh`'s directory and the environment given.
fn resolve(
    args: &ImageTagArgs,
    sh: &xshell::Shell,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<String>> {
    let git = |args: &[&str]| git(sh, args);
    let (sha, from_checkout) = match (args.sha.clone(), pick_sha(None, env)) {
        (Some(sha), _) => (sha, false),
        (None, Some(sha)) => {
            let var = if env(HEAD_SHA_ENV).is_some() {
                HEAD_SHA_ENV
            } else {
                "GITHUB_SHA"
            };
            check_sha(&sha).with_context(|| format!("{var}=`{sha}`"))?;
            (sha, false)
        }
        (None, None) => (git(&["rev-parse", "HEAD"])?, true),
    };
    let context = match args.git_ref.clone().or_else(|| env("GITHUB_REF")) {
        Some(git_ref) => context(&git_ref)?,
        None => match git(&["rev-parse", "--abbrev-ref", "HEAD"])?.as_str() {
            "HEAD" => BuildContext::Detached,
            branch => BuildContext::Branch(branch.to_string()),
        },
    };
    let mut tags = tags(&context, &sha, &args.default_branch)?;
    if from_checkout && !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        eprintln!(
            "warning: the checkout has uncommitted changes; the tag says `-dirty`, since an image built from it is not commit {}",
            &sha[..7]
        );
        // Neither `latest` nor the commit's own tag: they would claim the commit.
        tags = tags
            .into_iter()
            .filter(|tag| tag != "latest")
            .map(|tag| dirty(&tag))
            .collect();
    }
    Ok(tags)
}

/// `tag` marked as built from uncommitted changes, within the tag length limit.
fn dirty(tag: &str) -> String {
    let mut tag = tag.to_string();
    tag.truncate(MAX_TAG - "-dirty".len());
    format!("{tag}-dirty")
}

/// Fails unless `sha` looks like a commit id.
fn check_sha(sha: &str) -> anyhow::Result<()> {
    if sha.len() < 7 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{sha}` is not a commit id (at least 7 hex digits)");
    }
    Ok(())
}

/// `key=value` lines for `$GITHUB_OUTPUT`: `tag`, the immutable tag (what a later job
/// pulls), and `tags`, all of them separated by spaces.
pub fn github_output(tags: &[String]) -> String {
    format!(
        "tag={}\ntags={}\n",
        tags.first().map_or("", String::as_str),
        tags.join(" ")
    )
}

/// Appends [`github_output`] to `$GITHUB_OUTPUT` when GitHub Actions set it.
pub fn write_github_output(tags: &[String]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = std::path::PathBuf::from(path);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(github_output(tags).as_bytes()))
        .with_context(|| format!("writing GITHUB_OUTPUT ({})", path.display()))
}

/// The environment variable naming a pull request's head commit (the workflow sets it from
/// `github.event.pull_request.head.sha`).
pub const HEAD_SHA_ENV: &str = "XTASK_HEAD_SHA";

/// The flag, else the pull request's head, else the commit GitHub built.
fn pick_sha(flag: Option<String>, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    flag.or_else(|| env(HEAD_SHA_ENV))
        .or_else(|| env("GITHUB_SHA"))
}

fn git(sh: &xshell::Shell, args: &[&str]) -> anyhow::Result<String> {
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
    check_sha(sha)?;
    let short = sha[..7].to_ascii_lowercase();
    Ok(match context {
        BuildContext::PullRequest(number) => vec![format!("pr-{number}-{short}")],
        BuildContext::Detached => vec![format!("sha-{short}")],
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
    fn the_github_output_names_the_immutable_tag_first() {
        let main = tags(&BuildContext::Branch("main".into()), SHA, "main").unwrap();
        assert_eq!(
            github_output(&main),
            "tag=sha-0123456\ntags=sha-0123456 latest\n"
        );
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

    /// A git checkout with one commit on branch `feature/x`, in a temporary directory.
    fn checkout() -> (tempfile::TempDir, xshell::Shell) {
        let dir = tempfile::tempdir().expect("a scratch dir");
        let sh = xshell::Shell::new().expect("a shell");
        sh.change_dir(dir.path());
        let quiet = |cmd: xshell::Cmd<'_>| cmd.quiet().ignore_stdout().ignore_stderr().run();
        quiet(xshell::cmd!(sh, "git init -q -b feature/x")).expect("git init");
        sh.write_file("f", "one").expect("a file");
        quiet(xshell::cmd!(sh, "git add f")).expect("git add");
        quiet(xshell::cmd!(
            sh,
            "git -c user.name=t -c user.email=t@t commit -q -m one"
        ))
        .expect("git commit");
        (dir, sh)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn outside_ci_a_branch_checkout_is_tagged_by_branch() {
        let (_dir, sh) = checkout();
        let tags = resolve(&ImageTagArgs::default(), &sh, &no_env).expect("tags");
        assert_eq!(tags.len(), 1);
        assert!(tags[0].starts_with("feature-x-"), "{tags:?}");
    }

    #[test]
    fn a_detached_head_is_tagged_by_its_commit() {
        let (_dir, sh) = checkout();
        xshell::cmd!(sh, "git checkout -q --detach")
            .quiet()
            .run()
            .expect("detach");
        let sha = git(&sh, &["rev-parse", "HEAD"]).expect("HEAD");
        let tags = resolve(&ImageTagArgs::default(), &sh, &no_env).expect("tags");
        assert_eq!(tags, [format!("sha-{}", &sha[..7])]);
    }

    #[test]
    fn uncommitted_changes_mark_the_tag_dirty() {
        let (_dir, sh) = checkout();
        sh.write_file("f", "changed").expect("a change");
        let tags = resolve(&ImageTagArgs::default(), &sh, &no_env).expect("tags");
        assert!(
            tags[0].starts_with("feature-x-") && tags[0].ends_with("-dirty"),
            "{tags:?}"
        );
    }

    #[test]
    fn a_bad_github_sha_names_the_variable() {
        let (_dir, sh) = checkout();
        let env = |name: &str| (name == "GITHUB_SHA").then(|| "not-a-sha".to_string());
        let err = resolve(&ImageTagArgs::default(), &sh, &env).unwrap_err();
        assert!(
            format!("{err:#}").starts_with("GITHUB_SHA=`not-a-sha`"),
            "{err:#}"
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
