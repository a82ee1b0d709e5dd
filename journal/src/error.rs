//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the journal or the snapshot files.
///
/// Every variant that concerns a file names it; corruption also names the byte offset.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system call failed.
    Io {
        /// What was being done, e.g. "fdatasync" or "create directory".
        op: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file holds bytes that cannot be what this crate wrote, somewhere recovery must not
    /// guess: a bad record before the tail, a sequence gap or duplicate, a bad snapshot.
    Corrupt {
        /// The segment or snapshot file.
        file: PathBuf,
        /// Byte offset in `file` of the bad record (or header field).
        offset: u64,
        /// What is wrong, for a human.
        detail: String,
    },
    /// Another [`JournalWriter`](crate::JournalWriter) (in this or another process) holds
    /// the directory's lock file.
    Locked {
        /// The lock file.
        lock_file: PathBuf,
    },
    /// Records the caller asked for are no longer (or never were) in the journal.
    MissingRecords {
        /// The journal directory.
        dir: PathBuf,
        /// The first sequence asked for.
        from_seq: u64,
        /// The first sequence the journal holds.
        first_seq: u64,
    },
    /// A payload longer than [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES) was appended.
    PayloadTooLarge {
        /// The payload's length in bytes.
        len_bytes: usize,
    },
    /// An option or argument is out of range.
    InvalidArgument {
        /// What is wrong.
        detail: String,
    },
    /// An earlier write or fsync failed. After a failed fsync the kernel may have dropped
    /// the dirty pages, so the writer refuses to go on: reopen the journal (which
    /// re-verifies the files) to continue.
    Poisoned {
        /// The segment that was being written.
        file: PathBuf,
    },
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(file: &Path, offset: u64, detail: impl Into<String>) -> Self {
        JournalError::Corrupt {
            file: file.to_path_buf(),
            offset,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { op, path, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            JournalError::Corrupt {
                file,
                offset,
                detail,
            } => {
                write!(
                    f,
                    "corrupt file {} at byte offset {offset}: {detail}",
                    file.display()
                )
            }
            JournalError::Locked { lock_file } => write!(
                f,
                "journal is locked by another writer (lock file {})",
                lock_file.display()
            ),
            JournalError::MissingRecords {
                dir,
                from_seq,
                first_seq,
            } => write!(
                f,
                "journal {} starts at sequence {first_seq}, but sequence {from_seq} was asked for \
                 (pruned or never written)",
                dir.display()
            ),
            JournalError::PayloadTooLarge { len_bytes } => write!(
                f,
                "journal payload of {len_bytes} bytes exceeds the maximum of {} bytes",
                crate::MAX_PAYLOAD_BYTES
            ),
            JournalError::InvalidArgument { detail } => write!(f, "invalid argument: {detail}"),
            JournalError::Poisoned { file } => write!(
                f,
                "journal writer stopped after an earlier I/O error on {}; reopen the journal",
                file.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
