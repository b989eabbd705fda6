//! Provisioning: host packages from Debian's archive.

pub mod apt;
