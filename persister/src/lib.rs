//! PostgreSQL persister for Tachyon.
//!
//! Not implemented yet: this crate is a placeholder in the workspace so that the
//! layout matches `ARCHITECTURE.md`. It exposes nothing and claims nothing.
#![deny(missing_docs)]
