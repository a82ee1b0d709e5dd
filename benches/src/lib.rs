//! Shared benchmark helpers (in progress).
