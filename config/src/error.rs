//! The one error type: which file, which key, what is wrong.

use core::fmt;

/// Why a configuration could not be loaded. There is exactly one per failed load: the
/// first problem found, named by file and key path so an operator can go straight to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given to [`Config::load`](crate::Config::load), or the name given to
    /// [`Config::from_str`](crate::Config::from_str)).
    pub file: String,
    /// Dotted key path with array indices, e.g. `instruments[1].tick_size`; empty when
    /// the problem is not tied to one key (unreadable file, TOML syntax error).
    pub key: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A problem found by validation before the file name is attached: (key path, message).
pub(crate) type Problem = (String, String);

/// Shorthand for returning a [`Problem`].
pub(crate) fn problem<T>(key: impl Into<String>, message: impl Into<String>) -> Result<T, Problem> {
    Err((key.into(), message.into()))
}
