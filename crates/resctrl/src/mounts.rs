//! The mount table, as far as resctrl needs it: the parser is `kernel-formats`'s, shared by
//! every crate that reads the table.

pub use kernel_formats::{MountEntry, mount_at, parse_mounts, unescape};

/// The resctrl file-system type name.
pub const RESCTRL_FSTYPE: &str = "resctrl";
