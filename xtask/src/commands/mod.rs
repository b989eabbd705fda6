//! One module per command; each turns its arguments into a [`Plan`](crate::plan::Plan).

pub mod build;
pub mod ci;
pub mod clippy;
pub mod doctor;
pub mod e2e;
pub mod fmt;
pub mod unit;
