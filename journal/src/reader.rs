//! Replay: verified records in sequence order, straight out of a reused read buffer.

use std::ops::{Bound, ControlFlow, RangeBounds};
use std::path::Path;

use crate::chunk::ChunkReader;
use crate::format::list_segments;
use crate::scan::scan_segments;
use crate::JournalError;

/// Calls `f(seq, payload)` for every record whose sequence is in `seqs`, in order, and
/// returns how many it called it for. `payload` borrows the read buffer: copy what you
/// keep. Reads 1 MiB at a time into one buffer and allocates nothing per record.
///
/// Every record read is verified (CRC, length, contiguous sequences), from the start of
/// the segment holding the first wanted record. A torn tail of the last segment ends the
/// replay quietly: it is what a concurrent writer's in-flight commit looks like, and
/// [`JournalWriter::open`](crate::JournalWriter::open) truncates it. Corruption before
/// the tail is [`JournalError::Corrupt`]. Safe to run while a writer appends: it reads
/// the segments that existed when it started, up to what was written by then.
///
/// If `seqs` has an included or excluded start and the journal's first record is past
/// it, the records in between are gone (pruned or never written) and the call fails
/// with [`JournalError::MissingRecords`] before calling `f`. A start past the last record
/// is fine and reads nothing.
///
/// `f` returns `Err` to stop; that error is returned as is (hence `E: From<JournalError>`).
pub fn for_each_record<E, F>(dir: &Path, seqs: impl RangeBounds<u64>, mut f: F) -> Result<u64, E>
where
    E: From<JournalError>,
    F: FnMut(u64, &[u8]) -> Result<(), E>,
{
    let from_seq = match seqs.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => Some(s.saturating_add(1)),
        Bound::Unbounded => None,
    };
    let segments = list_segments(dir)?;
    let Some(first) = segments.first() else {
        return Ok(0);
    };
    let start = match from_seq {
        Some(from) if from < first.first_seq => {
            return Err(JournalError::MissingRecords {
                dir: dir.to_path_buf(),
                from_seq: from,
                first_seq: first.first_seq,
            }
            .into());
        }
        // The last segment whose first sequence is at or before `from`: earlier ones hold
        // only older records and are not read at all.
        Some(from) => segments.partition_point(|s| s.first_seq <= from) - 1,
        None => 0,
    };
    let mut reader = ChunkReader::new();
    let mut delivered = 0u64;
    scan_segments::<E, _>(&mut reader, &segments[start..], |seq, payload| {
        if from_seq.is_some_and(|from| seq < from) {
            return Ok(ControlFlow::Continue(()));
        }
        if !seqs.contains(&seq) {
            return Ok(ControlFlow::Break(())); // past the end of the range
        }
        f(seq, payload)?;
        delivered += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(delivered)
}
