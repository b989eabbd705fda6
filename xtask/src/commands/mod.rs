//! One module per command; each turns its arguments into a [`Plan`](crate::plan::Plan).

pub mod build;
pub mod ci;
pub mod ci_plan;
pub mod ci_summary;
pub mod clippy;
pub mod doctor;
pub mod e2e;
pub mod fmt;
pub mod image_prune;
pub mod image_tag;
pub mod lint_ci;
pub mod lint_deploy;
pub mod list;
pub mod resctrl_standin;
pub mod run_steps;
pub mod unit;
