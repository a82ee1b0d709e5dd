//! Opening (with recovery) and appending: the journal's only writer.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::chunk::ChunkReader;
use crate::format::{
    encode_record, list_segments, segment_file_name, MAX_PAYLOAD_BYTES, MAX_RECORD_BYTES,
    RECORD_HEADER_BYTES,
};
use crate::scan::{scan_segments, ScanEnd};
use crate::JournalError;

/// Name of the lock file a [`JournalWriter`] holds in its directory.
const LOCK_FILE_NAME: &str = "journal.lock";

/// Upper bound on the write buffer, so a config typo cannot ask for all memory.
const MAX_WRITE_BUFFER_BYTES: usize = 1 << 30;

/// When a commit reaches stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every [`JournalWriter::commit`] ends with one `fdatasync`: committed records survive
    /// a power loss. Group commit: append a batch, commit once.
    Always,
    /// Commits `write()` into the page cache and never fsync: committed records survive a
    /// process kill, not a power loss or kernel crash. After a power loss, open may find
    /// damage anywhere in the unsynced part and then fails with
    /// [`JournalError::Corrupt`] rather than guess.
    Os,
}

/// How a journal is written. Sizes come from config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// After a commit leaves the current segment at least this long, the next record
    /// starts a new segment. A segment can exceed it by at most one commit's batch.
    pub segment_size_bytes: u64,
    /// Capacity of the write buffer, allocated once at open. A batch that outgrows it is
    /// written out early (without fsync). At least `RECORD_HEADER_BYTES +
    /// MAX_PAYLOAD_BYTES`, at most 1 GiB.
    pub write_buffer_bytes: usize,
    /// When commits are durable.
    pub fsync: FsyncPolicy,
}

impl Default for JournalOptions {
    /// 64 MiB segments, a 1 MiB write buffer, [`FsyncPolicy::Always`].
    fn default() -> Self {
        JournalOptions {
            segment_size_bytes: 64 << 20,
            write_buffer_bytes: 1 << 20,
            fsync: FsyncPolicy::Always,
        }
    }
}

impl JournalOptions {
    fn validate(&self) -> Result<(), JournalError> {
        if self.segment_size_bytes == 0 {
            return Err(JournalError::InvalidArgument {
                detail: "journal segment_size_bytes must be at least 1".into(),
            });
        }
        if !(MAX_RECORD_BYTES..=MAX_WRITE_BUFFER_BYTES).contains(&self.write_buffer_bytes) {
            return Err(JournalError::InvalidArgument {
                detail: format!(
                    "journal write_buffer_bytes is {}, must be in {MAX_RECORD_BYTES}..={}",
                    self.write_buffer_bytes, MAX_WRITE_BUFFER_BYTES
                ),
            });
        }
        Ok(())
    }
}

/// What recovery found and did when the journal was opened. The caller logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The journal directory.
    pub dir: PathBuf,
    /// Segment files found (before any empty last segment was removed).
    pub segments: usize,
    /// Records that verified and are kept.
    pub records: u64,
    /// First sequence in the journal, if it holds any record.
    pub first_seq: Option<u64>,
    /// Last sequence in the journal, if it holds any record.
    pub last_seq: Option<u64>,
    /// The torn tail that was cut off, if there was one.
    pub truncated: Option<TruncatedTail>,
}

/// A torn or corrupt tail that recovery cut off the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    /// The last segment.
    pub file: PathBuf,
    /// Byte offset the file was truncated to (start of the first bad record).
    pub offset: u64,
    /// Bytes removed from the end of the file.
    pub dropped_bytes: u64,
    /// What was wrong with the first dropped record.
    pub detail: String,
    /// The segment held no valid record, so the file was removed.
    pub file_removed: bool,
}

impl fmt::Display for OpenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "journal {}: {} segment(s), {} record(s)",
            self.dir.display(),
            self.segments,
            self.records
        )?;
        if let (Some(first), Some(last)) = (self.first_seq, self.last_seq) {
            write!(f, ", sequences {first}..={last}")?;
        }
        if let Some(t) = &self.truncated {
            write!(f, "; {t}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TruncatedTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "truncated torn tail of {} at byte offset {}: dropped {} byte(s) ({})",
            self.file.display(),
            self.offset,
            self.dropped_bytes,
            self.detail
        )?;
        if self.file_removed {
            write!(f, "; the segment was left empty and removed")?;
        }
        Ok(())
    }
}

/// The segment being appended to.
#[derive(Debug)]
struct ActiveSegment {
    file: File,
    path: PathBuf,
    /// Bytes written to the file (excluding what is still in the buffer).
    len_bytes: u64,
}

/// The journal's single writer: appends records into a buffer and commits them with one
/// `write()` (and one `fdatasync` under [`FsyncPolicy::Always`]).
///
/// Holds an exclusive lock on `journal.lock` in the directory for its lifetime, so a
/// second writer (another process, or this one) fails to open. Records appended but not
/// committed when the writer is dropped are lost, as in a crash.
#[derive(Debug)]
pub struct JournalWriter {
    dir: PathBuf,
    opts: JournalOptions,
    /// Held for the lock; released when the writer is dropped (or the process dies).
    _lock: File,
    /// `None` until the first append into an empty journal, or after recovery removed an
    /// empty last segment.
    segment: Option<ActiveSegment>,
    /// The next append starts a new segment.
    rotate_pending: bool,
    /// Encoded records not yet written. Capacity fixed at open.
    buf: Vec<u8>,
    /// Sequence the next append must carry; `None` while the journal is empty.
    next_seq: Option<u64>,
    last_seq: Option<u64>,
    last_durable_seq: Option<u64>,
    /// Bytes were written since the last fdatasync.
    unsynced: bool,
    /// A write or fsync failed; refuse everything.
    poisoned: bool,
}

impl JournalWriter {
    /// Opens (creating if missing) the journal in `dir` and recovers it.
    ///
    /// Recovery reads and verifies every record of every segment. A torn or corrupt tail
    /// of the last segment (no valid record after it) is truncated and reported in
    /// [`OpenReport::truncated`]; a last segment left empty is removed. Anything else that
    /// does not verify — a bad record with a valid record after it, a bad record in any
    /// segment but the last, a sequence gap or duplicate, a segment whose name disagrees
    /// with its first record — fails with [`JournalError::Corrupt`] and changes nothing.
    ///
    /// The next append must carry `report.last_seq + 1`; in an empty journal the first
    /// append chooses the first sequence.
    pub fn open(
        dir: &Path,
        opts: JournalOptions,
    ) -> Result<(JournalWriter, OpenReport), JournalError> {
        opts.validate()?;
        create_dir_durably(dir)?;
        let lock = lock_dir(dir)?;

        let segments = list_segments(dir)?;
        let mut reader = ChunkReader::new();
        let mut records = 0u64;
        let mut first_seq = None;
        let mut last_seq = None;
        let end = scan_segments::<JournalError, _>(&mut reader, &segments, |seq, _payload| {
            records += 1;
            first_seq.get_or_insert(seq);
            last_seq = Some(seq);
            Ok(ControlFlow::Continue(()))
        })?;
        drop(reader);

        let mut report = OpenReport {
            dir: dir.to_path_buf(),
            segments: segments.len(),
            records,
            first_seq,
            last_seq,
            truncated: None,
        };
        let mut segment = None;
        if let Some(last) = segments.last() {
            let last_is_empty = last_seq.is_none_or(|s| s < last.first_seq);
            match end {
                ScanEnd::Complete => {}
                ScanEnd::Stopped => unreachable!("the recovery callback never stops"),
                ScanEnd::TornTail { offset, frame } => {
                    let file_len = fs::metadata(&last.path)
                        .map_err(|e| JournalError::io("stat segment", &last.path, e))?
                        .len();
                    assert!(offset < file_len, "a torn tail has bytes");
                    truncate_durably(&last.path, offset)?;
                    report.truncated = Some(TruncatedTail {
                        file: last.path.clone(),
                        offset,
                        dropped_bytes: file_len - offset,
                        detail: frame.describe(),
                        file_removed: last_is_empty,
                    });
                }
            }
            if last_is_empty {
                // Nothing of value: a crash right after the segment was created, or its
                // only records were torn. Removing it keeps "every segment but a new one
                // holds a record" true and lets the next append name a fresh one.
                fs::remove_file(&last.path)
                    .map_err(|e| JournalError::io("remove empty segment", &last.path, e))?;
                sync_dir(dir)?;
            } else {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&last.path)
                    .map_err(|e| JournalError::io("open segment for append", &last.path, e))?;
                let len_bytes = file
                    .metadata()
                    .map_err(|e| JournalError::io("stat segment", &last.path, e))?
                    .len();
                segment = Some(ActiveSegment {
                    file,
                    path: last.path.clone(),
                    len_bytes,
                });
            }
        } else {
            assert!(matches!(end, ScanEnd::Complete));
        }

        let rotate_pending = segment
            .as_ref()
            .is_some_and(|s| s.len_bytes >= opts.segment_size_bytes);
        let writer = JournalWriter {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            segment,
            rotate_pending,
            buf: Vec::with_capacity(opts.write_buffer_bytes),
            next_seq: last_seq.map(|s| s + 1),
            last_seq,
            last_durable_seq: last_seq,
            unsynced: false,
            poisoned: false,
        };
        Ok((writer, report))
    }

    /// Appends one record to the write buffer. Nothing reaches the file before
    /// [`commit`](Self::commit), except that a full buffer is written out (not fsynced)
    /// to make room. Allocates nothing.
    ///
    /// # Errors
    /// [`JournalError::PayloadTooLarge`] (nothing appended, the writer stays usable) if
    /// `payload` exceeds [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES); an I/O error
    /// from making room or starting a segment, after which the writer is poisoned.
    ///
    /// # Panics
    /// If `seq` is not `last_seq() + 1` (any `seq < u64::MAX` is accepted as the first
    /// record of an empty journal).
    pub fn append(&mut self, seq: u64, payload: &[u8]) -> Result<(), JournalError> {
        self.check_poisoned()?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(JournalError::PayloadTooLarge {
                len_bytes: payload.len(),
            });
        }
        if let Some(next) = self.next_seq {
            assert_eq!(seq, next, "journal append out of sequence");
        }
        assert!(seq < u64::MAX, "journal sequence exhausted");
        if self.segment.is_none() || self.rotate_pending {
            assert!(self.buf.is_empty(), "segments rotate only between commits");
            self.start_segment(seq)?;
        }
        let record_bytes = RECORD_HEADER_BYTES + payload.len();
        if self.buf.capacity() - self.buf.len() < record_bytes {
            self.write_buffer()?;
        }
        encode_record(&mut self.buf, seq, payload);
        self.next_seq = Some(seq + 1);
        self.last_seq = Some(seq);
        Ok(())
    }

    /// Makes every appended record durable according to the [`FsyncPolicy`]: one
    /// `write()` of the buffer (looping over partial writes), then one `fdatasync` under
    /// `Always`. Then, if the segment has reached `segment_size_bytes`, the next append
    /// starts a new one. A commit with nothing appended does nothing.
    ///
    /// # Errors
    /// An I/O error, after which the writer is poisoned: reopen the journal.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        self.check_poisoned()?;
        if !self.buf.is_empty() {
            self.write_buffer()?;
        }
        if self.unsynced && self.opts.fsync == FsyncPolicy::Always {
            let segment = self.segment.as_ref().expect("written bytes have a segment");
            if let Err(e) = segment.file.sync_data() {
                let path = segment.path.clone();
                return Err(self.poison(JournalError::io("fdatasync segment", &path, e)));
            }
        }
        self.unsynced = false;
        self.last_durable_seq = self.last_seq;
        if let Some(segment) = &self.segment {
            if segment.len_bytes >= self.opts.segment_size_bytes {
                self.rotate_pending = true;
            }
        }
        Ok(())
    }

    /// Commits, then fdatasyncs the current segment whatever the policy: for a clean
    /// shutdown under [`FsyncPolicy::Os`]. (Earlier segments of an `Os` journal are left
    /// to the kernel's write-back, which has long since run for all but the newest.)
    ///
    /// # Errors
    /// An I/O error, after which the writer is poisoned.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.commit()?;
        if let Some(segment) = self.segment.as_ref() {
            if let Err(e) = segment.file.sync_data() {
                let path = segment.path.clone();
                return Err(self.poison(JournalError::io("fdatasync segment", &path, e)));
            }
        }
        Ok(())
    }

    /// The last sequence appended (committed or not), or `None` for an empty journal.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The last sequence committed: fdatasynced under [`FsyncPolicy::Always`], written to
    /// the page cache under [`FsyncPolicy::Os`].
    pub fn last_durable_seq(&self) -> Option<u64> {
        self.last_durable_seq
    }

    /// The sequence the next append must carry, or `None` if the journal is empty (the
    /// first append chooses).
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_poisoned(&self) -> Result<(), JournalError> {
        if self.poisoned {
            let file = self
                .segment
                .as_ref()
                .map_or_else(|| self.dir.clone(), |s| s.path.clone());
            return Err(JournalError::Poisoned { file });
        }
        Ok(())
    }

    fn poison(&mut self, err: JournalError) -> JournalError {
        self.poisoned = true;
        err
    }

    /// Creates the segment whose first record is `seq` and makes its directory entry
    /// durable. The previous segment was fully written by the last commit.
    fn start_segment(&mut self, seq: u64) -> Result<(), JournalError> {
        let path = self.dir.join(segment_file_name(seq));
        let file = match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) => return Err(self.poison(JournalError::io("create segment", &path, e))),
        };
        if let Err(e) = sync_dir(&self.dir) {
            return Err(self.poison(e));
        }
        self.segment = Some(ActiveSegment {
            file,
            path,
            len_bytes: 0,
        });
        self.rotate_pending = false;
        Ok(())
    }

    /// Writes the whole buffer to the segment (no fsync) and empties it.
    fn write_buffer(&mut self) -> Result<(), JournalError> {
        let segment = self
            .segment
            .as_mut()
            .expect("buffered records have a segment");
        if let Err(e) = segment.file.write_all(&self.buf) {
            let path = segment.path.clone();
            return Err(self.poison(JournalError::io("write segment", &path, e)));
        }
        segment.len_bytes += self.buf.len() as u64;
        self.buf.clear();
        self.unsynced = true;
        Ok(())
    }
}

/// Creates `dir` if missing; a new directory's entry is fsynced in its parent so that a
/// power loss cannot make the whole journal vanish.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| JournalError::io("create journal directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Takes the directory's writer lock. Creating the lock file also proves the directory
/// is writable, so that problem is reported up front, naming the directory.
fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let lock_file = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_file)
        .map_err(|e| JournalError::io("create lock file in journal directory", &lock_file, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked { lock_file }),
        Err(TryLockError::Error(e)) => Err(JournalError::io("lock", &lock_file, e)),
    }
}

/// Cuts `path` to `len` bytes and makes that durable before anything is appended after it.
fn truncate_durably(path: &Path, len: u64) -> Result<(), JournalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| JournalError::io("open segment to truncate", path, e))?;
    file.set_len(len)
        .map_err(|e| JournalError::io("truncate segment", path, e))?;
    file.sync_all()
        .map_err(|e| JournalError::io("fsync truncated segment", path, e))
}

/// fsyncs a directory, making created, renamed and removed entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync directory", dir, e))
}
