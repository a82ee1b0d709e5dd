//! PostgreSQL persister for Tachyon: every order, trade, balance and ledger entry stored
//! exactly once.
//!
//! * [`migrate`] applies the embedded, versioned migrations (`persister/migrations/`) at
//!   start-up, recording them in `schema_migrations`, and refuses a database at a newer
//!   version than this binary knows.
//! * [`Persister`] turns batches of whole commands' [`OutEvent`](tachyon_pipeline::OutEvent)s
//!   into rows: binary COPY for the append tables (`trades`, `ledger_entries`, new
//!   `orders`), binary COPY into temporary staging tables plus one set-based `UPDATE` /
//!   `INSERT .. ON CONFLICT` for current state (`orders`, `balances`), and the checkpoint,
//!   all in one transaction. A crash anywhere leaves the database at a batch boundary; on
//!   restart the checkpoint tells which events to skip.
//! * [`Units`] turns the engine's integers into exact decimals (ticks × tick size, lots ×
//!   lot size, units × 10^-decimals). No floating point anywhere.
//!
//! The API is synchronous (the `postgres` crate runs its own internal runtime).
//!
//! ```no_run
//! use tachyon_persister::{postgres, Persister, TickLot, Units};
//! # fn run(cfg: &tachyon_engine::EngineConfig, sizes: &[TickLot],
//! #        batches: &[Vec<tachyon_pipeline::OutEvent>]) -> Result<(), tachyon_persister::Error> {
//! let mut db: postgres::Config = "postgres://postgres@127.0.0.1:5432/tachyon".parse().unwrap();
//! db.options("-c search_path=exchange");
//! let mut persister = Persister::connect(&db, Units::new(cfg, sizes)?)?;
//! let resume_after = persister.checkpoint(); // replay the journal from here
//! for batch in batches {
//!     persister.write_batch(batch)?; // whole commands; already-stored ones are skipped
//! }
//! # let _ = resume_after; Ok(()) }
//! ```
#![deny(missing_docs)]

mod batch;
mod error;
mod follower;
mod migrate;
mod units;
mod writer;

pub use error::Error;
pub use follower::{Follower, FollowerOptions, FollowerPriority, FollowerStats};
pub use migrate::{latest_version, migrate, schema_version, Migration, MIGRATIONS};
pub use units::{AssetUnits, InstrumentUnits, TickLot, Units, AVG_PRICE_EXTRA_DP};
pub use writer::{BatchOutcome, Persister, PhaseTimes, PARTS};

/// The `postgres` client crate this persister is built on (for `Config` and `Client`).
pub use postgres;
