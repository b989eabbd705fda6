//! `cargo xtask image-prune --owner O --package P [--owner-type user] [--list-only]`: deletes registry
//! image versions past their retention, by tag (the tags `image-tag` gives):
//!
//! | tag | kept for |
//! |---|---|
//! | `pr-<N>-<sha7>` | 1 day |
//! | `<branch>-<sha7>` | 7 days |
//! | `sha-<sha7>` (main) | 30 days |
//! | `latest`, release tags (`v1.2.3`, `1.2`) | always |
//! | untagged | always (they may be the layers of a tagged multi-platform image) |
//!
//! A version with several tags lives as long as its longest-lived tag. Versions are listed
//! and deleted through GitHub's packages API with the `gh` CLI (on every hosted runner; it
//! reads `GH_TOKEN`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use xshell::cmd;

use crate::ctx::Ctx;
use crate::plan::{Exec, Plan, Step};

/// Arguments of `image-prune`.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct ImagePruneArgs {
    /// The package owner.
    #[arg(long)]
    pub owner: String,
    /// Whether the owner is an organization or a user (GitHub's
    /// `github.event.repository.owner.type`: `Organization` or `User`).
    #[arg(long, value_enum, ignore_case = true, default_value_t = OwnerType::Organization)]
    pub owner_type: OwnerType,
    /// The container package, e.g. `repo/builder` for `ghcr.io/owner/repo/builder`.
    #[arg(long)]
    pub package: String,
    /// Only list each version with its verdict; delete nothing. (`--dry-run` is the runner's
    /// alias of `--plan`, which shows the plan without asking the API at all.)
    #[arg(long)]
    pub list_only: bool,
}

/// Who owns the package (the API paths differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OwnerType {
    /// `/orgs/<owner>/...`.
    Organization,
    /// `/users/<owner>/...`.
    User,
}

/// What a tag is, by the naming `image-tag` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TagKind {
    /// `pr-<N>-<sha7>`.
    PullRequest,
    /// `<branch>-<sha7>`.
    Branch,
    /// `sha-<sha7>`: a build of the default branch.
    Main,
    /// `latest` or a release (`v1.2.3`, `1.2`): never deleted.
    Kept,
}

impl TagKind {
    /// How long a version with this tag is kept; `None`: forever.
    pub fn retention(self) -> Option<Duration> {
        const DAY: u64 = 24 * 60 * 60;
        match self {
            TagKind::PullRequest => Some(Duration::from_secs(DAY)),
            TagKind::Branch => Some(Duration::from_secs(7 * DAY)),
            TagKind::Main => Some(Duration::from_secs(30 * DAY)),
            TagKind::Kept => None,
        }
    }
}

/// The kind of a tag.
pub fn classify(tag: &str) -> TagKind {
    let sha7 = |s: &str| s.len() == 7 && s.chars().all(|c| c.is_ascii_hexdigit());
    if tag == "latest" || is_release(tag) {
        return TagKind::Kept;
    }
    if let Some(rest) = tag.strip_prefix("sha-")
        && sha7(rest)
    {
        return TagKind::Main;
    }
    if let Some((number, sha)) = tag.strip_prefix("pr-").and_then(|r| r.split_once('-'))
        && number.chars().all(|c| c.is_ascii_digit())
        && !number.is_empty()
        && sha7(sha)
    {
        return TagKind::PullRequest;
    }
    match tag.rsplit_once('-') {
        Some((_, sha)) if sha7(sha) => TagKind::Branch,
        // Not a name this project gives: someone pushed it by hand, so keep it.
        _ => TagKind::Kept,
    }
}

/// `v1`, `1.2`, `v1.2.3`, `1.2.3-rc.1`: a release.
fn is_release(tag: &str) -> bool {
    let version = tag.strip_prefix('v').unwrap_or(tag);
    let core = version.split_once('-').map_or(version, |(core, _)| core);
    !core.is_empty()
        && core
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// One version of a package in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The API's id.
    pub id: u64,
    /// When it was last updated (pushed or re-tagged).
    pub updated: SystemTime,
    /// Its tags.
    pub tags: Vec<String>,
}

/// Whether a version is deleted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Kept, with the reason.
    Keep(String),
    /// Deleted, with the reason.
    Delete(String),
}

/// The verdict for one version at `now`.
pub fn judge(version: &Version, now: SystemTime) -> Verdict {
    if version.tags.is_empty() {
        return Verdict::Keep("untagged (may belong to a tagged image)".into());
    }
    let age = now.duration_since(version.updated).unwrap_or_default();
    let longest = version
        .tags
        .iter()
        .map(|t| (classify(t), t))
        .max_by_key(|(kind, _)| *kind)
        .expect("a tag");
    let days = |d: Duration| d.as_secs() / 86_400;
    match longest.0.retention() {
        None => Verdict::Keep(format!("`{}` is kept forever", longest.1)),
        Some(limit) if age <= limit => Verdict::Keep(format!(
            "`{}` is {} of {} days old",
            longest.1,
            days(age),
            days(limit)
        )),
        Some(limit) => Verdict::Delete(format!(
            "`{}` is {} days old (kept {} days)",
            longest.1,
            days(age),
            days(limit)
        )),
    }
}

/// Lists, judges and (unless a dry run) deletes.
pub fn plan(_ctx: &Ctx, args: &ImagePruneArgs) -> anyhow::Result<Plan> {
    if which::which("gh").is_err() {
        bail!(
            "image-prune asks GitHub's API through the gh CLI, which is not installed; see https://cli.github.com (hosted runners have it)"
        );
    }
    let scope = match args.owner_type {
        OwnerType::Organization => "orgs",
        OwnerType::User => "users",
    };
    let base = format!(
        "/{scope}/{}/packages/container/{}/versions",
        args.owner,
        args.package.replace('/', "%2F")
    );
    let dry_run = args.list_only;
    let mut plan = Plan::default();
    plan.push(Step::task(
        "image-prune",
        format!(
            "list {base}, then {} every version past its retention",
            if dry_run { "name" } else { "delete" }
        ),
        move |io| {
            let sh = crate::project::shell()?;
            // One line per version: id, updated_at, tags (comma-separated).
            let jq = r#".[] | "\(.id) \(.updated_at) \(.metadata.container.tags | join(","))""#;
            let listing = cmd!(sh, "gh api --paginate {base} --jq {jq}")
                .quiet()
                .read()
                .with_context(|| format!("listing {base} with gh (is GH_TOKEN set?)"))?;
            let versions = parse_listing(&listing)?;
            let now = SystemTime::now();
            let mut deleted = 0;
            for version in &versions {
                let tags = version.tags.join(",");
                match judge(version, now) {
                    Verdict::Keep(why) => {
                        io.line(&format!("keep   {} [{tags}]: {why}", version.id))
                    }
                    Verdict::Delete(why) => {
                        io.line(&format!("delete {} [{tags}]: {why}", version.id));
                        if !dry_run {
                            let url = format!("{base}/{}", version.id);
                            io.run(&Exec::from(cmd!(sh, "gh api --method DELETE {url}")))?;
                        }
                        deleted += 1;
                    }
                }
                io.check_interrupted()?;
            }
            io.line(&format!(
                "{deleted} of {} versions {}",
                versions.len(),
                if dry_run {
                    "would be deleted (dry run)"
                } else {
                    "deleted"
                }
            ));
            Ok(())
        },
    ));
    Ok(plan)
}

/// Parses `<id> <updated_at> <tag,tag>` lines.
fn parse_listing(text: &str) -> anyhow::Result<Vec<Version>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            let bad = || format!("unexpected version line from the API: `{line}`");
            let id = fields
                .next()
                .and_then(|f| f.parse().ok())
                .with_context(bad)?;
            let updated = fields.next().and_then(parse_rfc3339).with_context(bad)?;
            let tags = fields
                .next()
                .map(|t| {
                    t.split(',')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Ok(Version { id, updated, tags })
        })
        .collect()
}

/// `2026-11-30T12:34:56Z` (what the API returns; offsets other than `Z` are not).
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + s;
    u64::try_from(secs)
        .ok()
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn version(tags: &[&str], age_days: f64, now: SystemTime) -> Version {
        Version {
            id: 1,
            updated: now - Duration::from_secs_f64(age_days * DAY as f64),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn deleted(tags: &[&str], age_days: f64) -> bool {
        let now = UNIX_EPOCH + Duration::from_secs(100 * 365 * DAY);
        matches!(
            judge(&version(tags, age_days, now), now),
            Verdict::Delete(_)
        )
    }

    #[test]
    fn tags_are_classified_by_the_names_image_tag_gives() {
        assert_eq!(classify("pr-42-0123abc"), TagKind::PullRequest);
        assert_eq!(classify("feature-x-0123abc"), TagKind::Branch);
        assert_eq!(
            classify("gh-readonly-queue-main-pr-5-abc-0123abc"),
            TagKind::Branch
        );
        assert_eq!(classify("sha-0123abc"), TagKind::Main);
        assert_eq!(classify("latest"), TagKind::Kept);
        for release in ["v1", "v1.2.3", "1.2", "v2.0.0-rc.1"] {
            assert_eq!(classify(release), TagKind::Kept, "{release}");
        }
        assert_eq!(
            classify("hand-made"),
            TagKind::Kept,
            "unknown names are kept"
        );
    }

    #[test]
    fn pull_request_images_go_after_a_day() {
        assert!(!deleted(&["pr-1-0123abc"], 0.9));
        assert!(deleted(&["pr-1-0123abc"], 1.1));
    }

    #[test]
    fn branch_images_go_after_a_week_and_main_images_after_thirty_days() {
        assert!(!deleted(&["topic-0123abc"], 6.9));
        assert!(deleted(&["topic-0123abc"], 7.1));
        assert!(!deleted(&["sha-0123abc"], 29.9));
        assert!(deleted(&["sha-0123abc"], 30.1));
    }

    #[test]
    fn latest_releases_and_untagged_versions_are_never_deleted() {
        assert!(!deleted(&["sha-0123abc", "latest"], 400.0));
        assert!(!deleted(&["v1.2.3"], 400.0));
        assert!(!deleted(&[], 400.0));
    }

    #[test]
    fn a_version_lives_as_long_as_its_longest_lived_tag() {
        assert!(!deleted(&["pr-1-0123abc", "sha-0123abc"], 10.0));
        assert!(deleted(&["pr-1-0123abc", "topic-0123abc"], 10.0));
    }

    #[test]
    fn the_api_listing_is_parsed_into_versions() {
        let listing = "11 2026-11-30T12:00:00Z pr-3-0123abc\n12 2026-11-01T00:00:00Z sha-0123abc,latest\n13 2026-10-01T00:00:00Z \n";
        let versions = parse_listing(listing).expect("a listing");
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[1].tags, ["sha-0123abc", "latest"]);
        assert!(versions[2].tags.is_empty());
        assert_eq!(
            versions[0]
                .updated
                .duration_since(versions[1].updated)
                .unwrap(),
            Duration::from_secs(29 * DAY + 12 * 3600)
        );
        assert!(parse_listing("x y z").is_err());
    }

    #[test]
    fn timestamps_are_read_as_utc() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:01Z"),
            Some(UNIX_EPOCH + Duration::from_secs(951_868_801))
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-30T12:00:00+01:00"), None);
    }
}
