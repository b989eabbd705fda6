//! The names containerd gives its NRI plugin and that plugin's settings: the one place
//! they are spelled (containerd-harness writes its NRI section with these too).

/// The NRI plugin's id in config versions 2 and 3 (`[plugins."io.containerd.nri.v1.nri"]`).
pub const NRI_PLUGIN: &str = "io.containerd.nri.v1.nri";
/// The NRI plugin's short id, its table name in a version 1 file read by containerd 1.7
/// (`[plugins.nri]`). containerd 2.x maps this short name to another plugin.
pub const NRI_PLUGIN_V1: &str = "nri";
/// The table holding every plugin's section.
pub const PLUGINS: &str = "plugins";

/// `disable`: NRI is off when true (the default of containerd 1.7).
pub const KEY_DISABLE: &str = "disable";
/// `disable_connections`: when true, only runtime-launched plugins are served, so an
/// external plugin (a DaemonSet) cannot connect.
pub const KEY_DISABLE_CONNECTIONS: &str = "disable_connections";
/// `socket_path`: where containerd listens for plugins.
pub const KEY_SOCKET_PATH: &str = "socket_path";
/// `plugin_path`: where containerd looks for plugins to launch itself.
pub const KEY_PLUGIN_PATH: &str = "plugin_path";
/// `plugin_config_path`: where containerd looks for the launched plugins' configuration.
pub const KEY_PLUGIN_CONFIG_PATH: &str = "plugin_config_path";
/// `plugin_registration_timeout`: how long a plugin may take to register (Go duration).
pub const KEY_PLUGIN_REGISTRATION_TIMEOUT: &str = "plugin_registration_timeout";
/// `plugin_request_timeout`: how long a plugin may take to answer a request (Go duration).
pub const KEY_PLUGIN_REQUEST_TIMEOUT: &str = "plugin_request_timeout";

/// containerd's default NRI socket.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/nri/nri.sock";
