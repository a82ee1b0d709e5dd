//! The persister's error type.

use std::fmt;

/// Everything that can go wrong while migrating or writing.
#[derive(Debug)]
pub enum Error {
    /// A statement failed; `context` says which one and why it ran.
    Sql {
        /// What the persister was doing (names the statement or table).
        context: String,
        /// The driver's error.
        source: postgres::Error,
    },
    /// The database was migrated by a newer binary.
    SchemaTooNew {
        /// Highest version recorded in `schema_migrations`.
        database: i32,
        /// Highest version this binary knows.
        binary: i32,
    },
    /// The recorded migrations are not the contiguous prefix `1..=n` this binary expects.
    SchemaInconsistent(String),
    /// The unit description does not match the engine configuration.
    Units(String),
    /// A batch is malformed (does not end at a command boundary, sequences go backwards).
    Batch(String),
    /// The stored data contradicts the events (e.g. an update for an unknown order, or the
    /// reference tables disagree with the configuration).
    Inconsistent(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sql { context, source } => {
                write!(f, "PostgreSQL error while {context}: ")?;
                match source.as_db_error() {
                    Some(db) => {
                        write!(f, "{} ({}): {}", db.severity(), db.code().code(), db.message())?;
                        if let Some(d) = db.detail() {
                            write!(f, "; detail: {d}")?;
                        }
                        if let Some(h) = db.hint() {
                            write!(f, "; hint: {h}")?;
                        }
                        if let Some(w) = db.where_() {
                            write!(f, "; where: {w}")?;
                        }
                        Ok(())
                    }
                    None => write!(f, "{source}"),
                }
            }
            Error::SchemaTooNew { database, binary } => write!(
                f,
                "database schema is at version {database} but this binary only knows migrations up to \
                 version {binary}; refusing to start (run a binary at least as new as the database)"
            ),
            Error::SchemaInconsistent(m) => write!(f, "schema_migrations is inconsistent: {m}"),
            Error::Units(m) => write!(f, "unit description: {m}"),
            Error::Batch(m) => write!(f, "malformed batch: {m}"),
            Error::Inconsistent(m) => write!(f, "database inconsistent with the event stream: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sql { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Attaches an SQL context to a driver result.
pub(crate) trait SqlContext<T> {
    /// Wraps the error with `context`.
    fn ctx(self, context: &str) -> Result<T, Error>;
    /// Wraps the error with a lazily built context.
    fn with_ctx<F: FnOnce() -> String>(self, f: F) -> Result<T, Error>;
}

impl<T> SqlContext<T> for Result<T, postgres::Error> {
    fn ctx(self, context: &str) -> Result<T, Error> {
        self.map_err(|source| Error::Sql {
            context: context.to_string(),
            source,
        })
    }
    fn with_ctx<F: FnOnce() -> String>(self, f: F) -> Result<T, Error> {
        self.map_err(|source| Error::Sql {
            context: f(),
            source,
        })
    }
}
