//! Tachyon's journal: the durable, ordered log of every command, and the snapshot files
//! that let recovery skip most of it. Payloads are opaque bytes; this crate knows nothing
//! of the engine.
//!
//! ```no_run
//! # use std::path::Path;
//! use tachyon_journal::{for_each_record, JournalOptions, JournalWriter};
//! let dir = Path::new("data/journal");
//! let (mut writer, report) = JournalWriter::open(dir, JournalOptions::default())?;
//! eprintln!("{report}"); // names any torn tail that was truncated
//! let next = writer.next_seq().unwrap_or(1);
//! writer.append(next, b"command bytes")?;
//! writer.append(next + 1, b"more")?;
//! writer.commit()?; // one write(), one fdatasync for the whole batch
//! for_each_record::<tachyon_journal::JournalError, _>(dir, next.., |seq, payload| {
//!     println!("{seq}: {} bytes", payload.len());
//!     Ok(())
//! })?;
//! # Ok::<(), tachyon_journal::JournalError>(())
//! ```
//!
//! # On disk
//! A journal directory holds segment files named by the first sequence they hold,
//! zero-padded to 20 digits (`00000000000000000001.seg`), so lexical order is sequence
//! order, plus `journal.lock`, held by the one writer. A segment is a run of records with
//! no padding and no segment header; each record is, little-endian:
//! `[len u32][crc u32][seq u64][payload; len]`, where `crc` is CRC32C over `len`, `seq`
//! and the payload in that order (the record minus its CRC field) and
//! `len ≤ MAX_PAYLOAD_BYTES`. Sequences are contiguous across segments.
//!
//! # Recovery
//! [`JournalWriter::open`] verifies every record. A bad or incomplete record is a *torn
//! tail* only if it is in the last segment and no plausible valid record (len ≤ max, CRC
//! verifies, a sequence above the last good one that contiguous records could have at
//! that distance) starts at any later byte of it; that tail is truncated and reported. Everything else is [`JournalError::Corrupt`], naming the file and the byte
//! offset of the bad record, and nothing is changed.
//!
//! # What is fsynced when
//! - [`FsyncPolicy::Always`]: one `fdatasync` per [`JournalWriter::commit`].
//!   [`FsyncPolicy::Os`]: none for records.
//! - Both: the directory when a segment is created or removed, when the journal directory
//!   is created (its parent), after recovery truncates a tail (the segment too), and after
//!   [`prune`]; snapshot temp file before rename, directory after.
//!
//! Architecture Invariant: this crate does file I/O only — no threads, no clocks, no
//! knowledge of what a payload means — and depends on nothing but `crc32c` and std. It
//! contains no `unsafe`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod chunk;
mod error;
mod format;
mod inspect;
mod prune;
mod reader;
mod scan;
mod snapshot;
mod writer;

pub use error::JournalError;
pub use format::{MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES};
pub use inspect::{inspect, InspectReport, Problem, SegmentReport};
pub use prune::prune;
pub use reader::for_each_record;
pub use snapshot::{
    latest_snapshot, latest_snapshot_at_most, prune_snapshots, write_snapshot, LatestSnapshot,
    Snapshot,
};
pub use writer::{FsyncPolicy, JournalOptions, JournalWriter, OpenReport, TruncatedTail};
