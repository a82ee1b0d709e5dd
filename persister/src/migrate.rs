//! Versioned SQL migrations, embedded in the binary and applied at start-up.

use postgres::Client;

use crate::error::{Error, SqlContext};

/// One schema migration (`persister/migrations/NNNN_name.sql`).
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Version, contiguous from 1.
    pub version: i32,
    /// Short name (the file name without number and extension).
    pub name: &'static str,
    /// The SQL, run in one transaction with the recording of the version.
    pub sql: &'static str,
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "parts",
        sql: include_str!("../migrations/0002_parts.sql"),
    },
    Migration {
        version: 3,
        name: "api_keys",
        sql: include_str!("../migrations/0003_api_keys.sql"),
    },
];

/// Highest schema version this binary knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Advisory-lock key serialising concurrent migrators ("tachyon" in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_6163_6879_6f6e;

/// Brings the schema on the client's `search_path` to [`latest_version`], in one
/// transaction under an advisory lock, recording each applied version in
/// `schema_migrations`. Refuses a database at a newer version ([`Error::SchemaTooNew`]) or
/// with a gap in its recorded versions. Returns the version before migrating (0 = empty).
pub fn migrate(client: &mut Client) -> Result<i32, Error> {
    let mut tx = client
        .transaction()
        .ctx("starting the migration transaction")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .ctx("taking the migration advisory lock")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER     PRIMARY KEY,
             name       TEXT        NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .ctx("creating schema_migrations")?;
    let row = tx
        .query_one(
            "SELECT COALESCE(max(version), 0), count(*) FROM schema_migrations",
            &[],
        )
        .ctx("reading schema_migrations")?;
    let (current, count): (i32, i64) = (row.get(0), row.get(1));
    if current > latest_version() {
        return Err(Error::SchemaTooNew {
            database: current,
            binary: latest_version(),
        });
    }
    if count != current as i64 {
        return Err(Error::SchemaInconsistent(format!(
            "highest version {current} but {count} versions recorded (expected 1..={current})"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql)
            .with_ctx(|| format!("applying migration {:04}_{}", m.version, m.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .with_ctx(|| format!("recording migration {:04}_{}", m.version, m.name))?;
    }
    tx.commit().ctx("committing the migrations")?;
    Ok(current)
}

/// The schema version recorded on the client's `search_path` (0 if never migrated).
pub fn schema_version(client: &mut Client) -> Result<i32, Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .ctx("looking for schema_migrations")?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migrations",
            &[],
        )
        .ctx("reading schema_migrations")?
        .get(0))
}
