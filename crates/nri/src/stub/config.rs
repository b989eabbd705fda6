//! Plugin identity, how to reach the runtime, and reconnect policy.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;

/// containerd's default NRI socket.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/nri/nri.sock";
/// Set by the runtime for plugins it launches: the connected socket's fd.
pub const ENV_PLUGIN_SOCKET: &str = "NRI_PLUGIN_SOCKET";
/// Set by the runtime for plugins it launches: the plugin name.
pub const ENV_PLUGIN_NAME: &str = "NRI_PLUGIN_NAME";
/// Set by the runtime for plugins it launches: the two-digit index.
pub const ENV_PLUGIN_IDX: &str = "NRI_PLUGIN_IDX";

/// How the plugin reaches the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Connect to the runtime's NRI socket (reconnecting as configured).
    Socket(PathBuf),
    /// Use a socket the runtime passed when it launched the plugin
    /// (`NRI_PLUGIN_SOCKET`). Usable for one connection only: when it
    /// closes, the runner returns and the runtime launches the plugin anew.
    InheritedFd(RawFd),
}

/// Capped exponential backoff between reconnect attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay, and the delay after a connection that got configured.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Factor applied after each failed attempt (at least 1).
    pub multiplier: u32,
}

impl Default for Backoff {
    /// 250 ms, doubling, capped at 30 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            multiplier: 2,
        }
    }
}

impl Backoff {
    /// The delay after `current`.
    pub fn next(&self, current: Duration) -> Duration {
        current
            .saturating_mul(self.multiplier.max(1))
            .min(self.max)
            .max(self.initial.min(self.max))
    }
}

/// Checks a plugin name the way the runtime does: non-empty, letters,
/// digits and `-`, `_`, `.`, `+` only.
///
/// # Errors
///
/// [`ConfigError::EmptyName`] or [`ConfigError::InvalidName`].
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::EmptyName);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+')))
    {
        Some(ch) => Err(ConfigError::InvalidName {
            name: name.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

/// Checks a plugin index: exactly two ASCII digits.
///
/// # Errors
///
/// [`ConfigError::InvalidIndex`].
pub fn validate_index(idx: &str) -> Result<(), ConfigError> {
    if idx.len() == 2 && idx.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ConfigError::InvalidIndex {
            idx: idx.to_owned(),
        })
    }
}

/// Everything the [`Runner`](super::Runner) needs besides the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    name: String,
    idx: String,
    transport: Transport,
    reconnect: Option<Backoff>,
    registration_timeout: Duration,
    legacy_event_methods_only: bool,
}

impl PluginConfig {
    /// A plugin `idx-name` connecting to [`DEFAULT_SOCKET_PATH`],
    /// reconnecting with the default [`Backoff`].
    ///
    /// # Errors
    ///
    /// An invalid name or index.
    pub fn new(name: impl Into<String>, idx: impl Into<String>) -> Result<Self, ConfigError> {
        let (name, idx) = (name.into(), idx.into());
        validate_name(&name)?;
        validate_index(&idx)?;
        Ok(PluginConfig {
            name,
            idx,
            transport: Transport::Socket(PathBuf::from(DEFAULT_SOCKET_PATH)),
            reconnect: Some(Backoff::default()),
            registration_timeout: Duration::from_secs(5),
            legacy_event_methods_only: false,
        })
    }

    /// Like [`new`](Self::new), but honouring the variables the runtime sets
    /// for plugins it launches: `NRI_PLUGIN_NAME` and `NRI_PLUGIN_IDX`
    /// override the defaults, and `NRI_PLUGIN_SOCKET` selects
    /// [`Transport::InheritedFd`].
    ///
    /// # Errors
    ///
    /// An invalid name, index or socket variable.
    pub fn from_env(default_name: &str, default_idx: &str) -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars(), default_name, default_idx)
    }

    /// [`from_env`](Self::from_env) over the given variables instead of the
    /// process environment.
    ///
    /// # Errors
    ///
    /// An invalid name, index or socket variable.
    pub fn from_vars<K, V>(
        vars: impl IntoIterator<Item = (K, V)>,
        default_name: &str,
        default_idx: &str,
    ) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let (mut name, mut idx, mut socket) = (None, None, None);
        for (key, value) in vars {
            match key.as_ref() {
                ENV_PLUGIN_NAME => name = Some(value.into()),
                ENV_PLUGIN_IDX => idx = Some(value.into()),
                ENV_PLUGIN_SOCKET => socket = Some(value.into()),
                _ => {}
            }
        }
        let mut config = PluginConfig::new(
            name.unwrap_or_else(|| default_name.to_owned()),
            idx.unwrap_or_else(|| default_idx.to_owned()),
        )?;
        if let Some(value) = socket.filter(|v| !v.is_empty()) {
            let fd = value
                .trim()
                .parse::<RawFd>()
                .ok()
                .filter(|fd| *fd >= 0)
                .ok_or(ConfigError::InvalidSocketEnv { value })?;
            config.transport = Transport::InheritedFd(fd);
        }
        Ok(config)
    }

    /// Connect to `path` instead of the default socket.
    #[must_use]
    pub fn with_socket_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.transport = Transport::Socket(path.into());
        self
    }

    /// Use `transport`.
    #[must_use]
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Reconnect with `backoff` after a failed connection attempt or a lost
    /// connection; `None` makes the runner return the first error instead.
    #[must_use]
    pub fn with_reconnect(mut self, backoff: Option<Backoff>) -> Self {
        self.reconnect = backoff;
        self
    }

    /// How long to wait for the answer to `RegisterPlugin`, and then again
    /// for the runtime's `Configure` (default 5 s, containerd's own limit).
    #[must_use]
    pub fn with_registration_timeout(mut self, timeout: Duration) -> Self {
        self.registration_timeout = timeout;
        self
    }

    /// Serve only the methods of nri v0.8 (lifecycle events through
    /// `StateChange`), as a plugin built against an older NRI would; newer
    /// runtimes then get UNIMPLEMENTED for the per-event methods and fall
    /// back to `StateChange`. Meant for testing runtimes' fallback.
    #[must_use]
    pub fn legacy_event_methods_only(mut self, legacy: bool) -> Self {
        self.legacy_event_methods_only = legacy;
        self
    }

    /// The plugin name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin index (two digits).
    pub fn idx(&self) -> &str {
        &self.idx
    }

    /// How the runtime is reached.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The reconnect policy.
    pub fn reconnect(&self) -> Option<Backoff> {
        self.reconnect
    }

    /// The registration timeout.
    pub fn registration_timeout(&self) -> Duration {
        self.registration_timeout
    }

    /// Whether only nri v0.8 methods are served.
    pub fn is_legacy(&self) -> bool {
        self.legacy_event_methods_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_are_validated() {
        assert!(PluginConfig::new("resctrl", "10").is_ok());
        assert!(PluginConfig::new("a-b_c.d+e9", "00").is_ok());
        assert_eq!(PluginConfig::new("", "10"), Err(ConfigError::EmptyName));
        assert_eq!(
            PluginConfig::new("bad/name", "10"),
            Err(ConfigError::InvalidName {
                name: "bad/name".into(),
                ch: '/'
            })
        );
        for idx in ["1", "100", "1a", "", "٣٣"] {
            assert_eq!(
                PluginConfig::new("p", idx),
                Err(ConfigError::InvalidIndex { idx: idx.into() }),
                "{idx:?}"
            );
        }
        let err = PluginConfig::new("p", "7").unwrap_err().to_string();
        assert!(err.contains("exactly two digits"), "{err}");
    }

    #[test]
    fn environment_overrides_defaults() {
        let config = PluginConfig::from_vars(
            [
                ("NRI_PLUGIN_NAME", "launched"),
                ("NRI_PLUGIN_IDX", "05"),
                ("NRI_PLUGIN_SOCKET", "3"),
                ("PATH", "/bin"),
            ],
            "default",
            "50",
        )
        .unwrap();
        assert_eq!(config.name(), "launched");
        assert_eq!(config.idx(), "05");
        assert_eq!(config.transport(), &Transport::InheritedFd(3));

        let config = PluginConfig::from_vars(Vec::<(String, String)>::new(), "d", "50").unwrap();
        assert_eq!(
            config.transport(),
            &Transport::Socket(DEFAULT_SOCKET_PATH.into())
        );
        assert_eq!((config.name(), config.idx()), ("d", "50"));

        assert_eq!(
            PluginConfig::from_vars([("NRI_PLUGIN_SOCKET", "three")], "d", "50"),
            Err(ConfigError::InvalidSocketEnv {
                value: "three".into()
            })
        );
        assert_eq!(
            PluginConfig::from_vars([("NRI_PLUGIN_IDX", "5")], "d", "50"),
            Err(ConfigError::InvalidIndex { idx: "5".into() })
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            multiplier: 2,
        };
        let mut delay = backoff.initial;
        let mut seen = Vec::new();
        for _ in 0..4 {
            delay = backoff.next(delay);
            seen.push(delay.as_millis());
        }
        assert_eq!(seen, [200, 350, 350, 350]);
    }
}
