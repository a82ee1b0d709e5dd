//! Tachyon's configuration: one TOML file, parsed into typed structs and validated as a
//! whole before anything starts.
//!
//! ```no_run
//! # use std::path::Path;
//! let config = tachyon_config::Config::load(Path::new("config/dev.toml"))?;
//! let engine_config = config.engine_config(); // integer units, already validated
//! # Ok::<(), tachyon_config::ConfigError>(())
//! ```
//!
//! Every decimal (sizes, prices, amounts) is exact: written as a TOML string (`"0.01"`,
//! preferred), integer or float, it is parsed with `rust_decimal` from the file's text and
//! never passes through binary floating point. A bad file fails with one [`ConfigError`]
//! naming the file, the key path (`instruments[1].tick_size`) and the problem.
//!
//! `config/prod.example.toml` documents every key.
//!
//! Architecture Invariant: this crate does no I/O besides reading the one file, and
//! holds no floating-point value for money.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api_keys;
mod convert;
mod decimal;
mod error;
mod model;
mod validate;

use std::path::Path;

use serde_path_to_error::Segment;

pub use api_keys::derive_api_key_secret;
pub use error::ConfigError;
pub use model::{
    Account, Asset, Auth, Config, CoreMode, Deposit, EngineSection, FixSection, FixSession, Fsync,
    Instrument, LogFormat, LogSection, OpsSection, PersisterSection, PriceBand, Secret,
    SessionKind, Throttle,
};

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_str(&text, &file),
            Err(e) => Err(ConfigError {
                file,
                key: String::new(),
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parses and validates `text`; `file_name` is only used in error messages.
    #[allow(clippy::should_implement_trait)] // takes a file name too
    pub fn from_str(text: &str, file_name: &str) -> Result<Config, ConfigError> {
        let parsed = {
            let _source = decimal::SourceGuard::set(text);
            serde_path_to_error::deserialize::<_, Config>(toml::Deserializer::new(text))
        };
        let config = parsed.map_err(|e| {
            let (key, message) = describe_parse_error(text, e);
            ConfigError {
                file: file_name.to_owned(),
                key,
                message,
            }
        })?;
        validate::validate(&config).map_err(|(key, message)| ConfigError {
            file: file_name.to_owned(),
            key,
            message,
        })?;
        Ok(config)
    }
}

/// Turns a serde/TOML error into (key path, operator-friendly message).
fn describe_parse_error(
    text: &str,
    e: serde_path_to_error::Error<toml::de::Error>,
) -> (String, String) {
    let mut key = String::new();
    for segment in e.path().iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            // toml::Spanned's private fields are an implementation detail.
            Segment::Map { key: k } if k.starts_with("$__") => {}
            Segment::Map { key: k } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    let inner = e.into_inner();
    // One line: TOML syntax errors may carry a second line of expectations.
    let message = inner
        .message()
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    let mut push_key = |name: &str| {
        // The path may already end with the offending key (unknown keys are tracked).
        let already = key == name || key.ends_with(&format!(".{name}"));
        if !already {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(name);
        }
    };
    if let Some((name, rest)) = field_in(&message, "unknown field `") {
        push_key(name);
        let rest = rest.trim_start_matches(',').trim();
        let rest = if rest == "there are no fields" {
            "this table takes no other keys"
        } else {
            rest
        };
        return (
            key,
            if rest.is_empty() {
                "unknown key".into()
            } else {
                format!("unknown key; {rest}")
            },
        );
    }
    if let Some((name, _)) = field_in(&message, "missing field `") {
        push_key(name);
        return (key, "missing required key".into());
    }
    if key.is_empty() {
        // Not tied to a key: a TOML syntax error. Say where it is.
        if let Some(span) = inner.span() {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
            return (
                key,
                format!("TOML error at line {line}, column {column}: {message}"),
            );
        }
    }
    (key, message)
}

/// For a message `"<prefix>name` rest"`, returns `(name, rest)`.
fn field_in<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    let after = message.strip_prefix(prefix)?;
    let end = after.find('`')?;
    Some((&after[..end], &after[end + 1..]))
}
