//! Tachyon configuration (in progress).
