//! `cargo xtask lint-deploy`: the Kubernetes manifests (`crates/*/deploy/*.yaml`) checked
//! offline against the Kubernetes JSON schemas by `kubernetes-validate --strict` (unknown
//! fields are errors), pip-installed into `target/xtask/tools/lint-deploy`.

use std::path::PathBuf;

use xshell::cmd;

use crate::ctx::Ctx;
use crate::plan::{Plan, Step};
use crate::project;
use crate::provision::python;

/// The validator and the schemas it ships, pinned.
pub const REQUIREMENTS: [&str; 1] = ["kubernetes-validate==1.37.0"];

/// The Kubernetes version validated against (the schemas of the pinned validator).
pub const KUBERNETES_VERSION: &str = "1.37.0";

/// Every manifest: `crates/<crate>/deploy/*.yaml`, sorted.
pub fn manifests() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let crates = project::root().join("crates");
    for krate in std::fs::read_dir(crates).into_iter().flatten().flatten() {
        let deploy = krate.path().join("deploy");
        for file in std::fs::read_dir(deploy).into_iter().flatten().flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Install (if needed), then validate every manifest in one step.
pub fn plan(ctx: &Ctx) -> Plan {
    let sh = &ctx.sh;
    let mut plan = Plan::default();
    let files = manifests();
    if files.is_empty() {
        plan.push(Step::skip(
            "lint-deploy",
            "no crates/*/deploy/*.yaml to validate",
        ));
        return plan;
    }
    let venv = python::venv("lint-deploy");
    let install_into = venv.clone();
    plan.push(
        Step::task(
            "lint-deploy: tools",
            format!(
                "pip install {} into {}",
                REQUIREMENTS.join(" "),
                venv.display()
            ),
            move |io| {
                python::ensure(
                    io,
                    &install_into,
                    &REQUIREMENTS,
                    "the Kubernetes manifest validator",
                )
            },
        )
        .in_chain("lint-deploy"),
    );
    let validate = venv.join("bin/kubernetes-validate");
    plan.push(
        Step::exec(
            "kubernetes-validate",
            cmd!(
                sh,
                "{validate} --strict --kubernetes-version {KUBERNETES_VERSION} {files...}"
            )
            .into(),
        )
        .in_chain("lint-deploy"),
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collectors_daemonset_is_validated_strictly_after_installing_the_validator() {
        let plan = plan(&Ctx::for_tests(true));
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["lint-deploy: tools", "kubernetes-validate"]);
        let validate = plan.steps[1].command_line();
        assert!(validate.contains("--strict"), "{validate}");
        assert!(
            validate.contains("crates/collector/deploy/daemonset.yaml"),
            "{validate}"
        );
    }
}
