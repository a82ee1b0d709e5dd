//! Verifying walks over segment files, shared by recovery, replay and inspection.
//!
//! The rule that separates a torn tail from corruption lives here, in one place: a record
//! that fails to verify is a torn tail only if it is in the last segment and no plausible
//! valid record (len ≤ max, CRC verifies, seq greater than the last good one — see
//! [`find_next_valid`]) starts at any later byte offset of that segment. Anything else is
//! a hard error.

use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;

use crate::chunk::ChunkReader;
use crate::format::{
    check_frame, header_fields, record_crc, Frame, SegmentFile, MAX_PAYLOAD_BYTES,
    RECORD_HEADER_BYTES,
};
use crate::JournalError;

/// How a walk over one segment ended.
#[derive(Debug)]
pub(crate) enum WalkEnd {
    /// The file ends exactly at a record boundary.
    Clean,
    /// The record at `offset` is incomplete or fails to verify.
    BadFrame {
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        frame: Frame,
    },
    /// The record at `offset` verifies but has the wrong sequence number.
    BadSeq {
        /// Where the record starts.
        offset: u64,
        /// The sequence that should have been there.
        expected: u64,
        /// The sequence that is there.
        found: u64,
        /// Its payload length.
        len: usize,
    },
    /// The callback asked to stop.
    Stopped,
}

/// Walks the records of the file loaded in `r` from `offset`, expecting sequence
/// `expected` first and then consecutive ones, and hands each valid record to `f` as
/// `(offset, seq, payload)`. Stops at the end of the file, at the first bad record, or
/// when `f` breaks.
pub(crate) fn walk<E, F>(
    r: &mut ChunkReader,
    path: &Path,
    mut offset: u64,
    mut expected: u64,
    mut f: F,
) -> Result<WalkEnd, E>
where
    E: From<JournalError>,
    F: FnMut(u64, u64, &[u8]) -> Result<ControlFlow<()>, E>,
{
    let read_err = |e| JournalError::io("read segment", path, e);
    // Bounded: every iteration advances `offset` by at least one header or returns.
    loop {
        let bytes = r.get(offset, RECORD_HEADER_BYTES).map_err(read_err)?;
        if bytes.is_empty() {
            return Ok(WalkEnd::Clean);
        }
        let mut frame = check_frame(bytes);
        if let Frame::Incomplete { need, .. } = frame {
            if need > RECORD_HEADER_BYTES {
                // The header fits but the window ends inside the record: read more.
                frame = check_frame(r.get(offset, need).map_err(read_err)?);
            }
        }
        match frame {
            Frame::Valid { seq, len } if seq == expected => {
                let bytes = r.get(offset, RECORD_HEADER_BYTES + len).map_err(read_err)?;
                let payload = &bytes[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len];
                if f(offset, seq, payload)?.is_break() {
                    return Ok(WalkEnd::Stopped);
                }
                offset += (RECORD_HEADER_BYTES + len) as u64;
                expected = expected.wrapping_add(1);
            }
            Frame::Valid { seq, len } => {
                return Ok(WalkEnd::BadSeq {
                    offset,
                    expected,
                    found: seq,
                    len,
                });
            }
            _ => return Ok(WalkEnd::BadFrame { offset, frame }),
        }
    }
}

/// Searches byte by byte after the bad record at `bad_offset`, whose sequence should have
/// been `expected`, for a plausible valid record: `len` ≤ max, CRC verifies, and a
/// sequence that contiguous records could have there — greater than the last good one
/// and at most one more per 16 bytes (the smallest record) past `bad_offset`. Returns
/// its offset and sequence.
///
/// The upper bound only rules out what cannot be a real later record, and it keeps the
/// search cheap over binary garbage, where a `len` ≤ max and a huge "sequence" are common
/// and would each cost a CRC.
pub(crate) fn find_next_valid(
    r: &mut ChunkReader,
    path: &Path,
    bad_offset: u64,
    expected: u64,
) -> Result<Option<(u64, u64)>, JournalError> {
    let read_err = |e| JournalError::io("read segment", path, e);
    let mut offset = bad_offset + 1;
    // Bounded by the file's length: every iteration advances `offset` or returns.
    loop {
        let bytes = r.get(offset, RECORD_HEADER_BYTES).map_err(read_err)?;
        if bytes.len() < RECORD_HEADER_BYTES {
            return Ok(None);
        }
        let (len, stored_crc, seq) = header_fields(bytes);
        let max_seq = expected.saturating_add((offset - bad_offset) / RECORD_HEADER_BYTES as u64);
        if len as usize <= MAX_PAYLOAD_BYTES && (expected..=max_seq).contains(&seq) {
            let total = RECORD_HEADER_BYTES + len as usize;
            let bytes = r.get(offset, total).map_err(read_err)?;
            if bytes.len() >= total && record_crc(&bytes[0..4], &bytes[8..total]) == stored_crc {
                return Ok(Some((offset, seq)));
            }
        }
        offset += 1;
    }
}

/// How a verifying scan over the journal's segments ended.
#[derive(Debug)]
pub(crate) enum ScanEnd {
    /// Every record of every segment verified.
    Complete,
    /// The callback asked to stop.
    Stopped,
    /// The last segment ends in a torn or corrupt tail starting at `offset`: no valid
    /// record follows it.
    TornTail {
        /// Byte offset of the first bad byte in the last segment.
        offset: u64,
        /// What is wrong with the record there.
        frame: Frame,
    },
}

/// Verifies `segments` in order and hands every valid record to `f` as `(seq, payload)`.
/// Checks each segment's name against its first record, sequence contiguity within and
/// across segments, and applies the torn-tail rule (see the module docs). `segments` must
/// be sorted; checking contiguity with segments before the slice is the caller's job.
pub(crate) fn scan_segments<E, F>(
    r: &mut ChunkReader,
    segments: &[SegmentFile],
    mut f: F,
) -> Result<ScanEnd, E>
where
    E: From<JournalError>,
    F: FnMut(u64, &[u8]) -> Result<ControlFlow<()>, E>,
{
    let mut prev_last: Option<u64> = None;
    for (i, segment) in segments.iter().enumerate() {
        let path = &segment.path;
        let is_last = i + 1 == segments.len();
        if let Some(prev) = prev_last {
            if segment.first_seq != prev.wrapping_add(1) {
                return Err(JournalError::corrupt(
                    path,
                    0,
                    format!(
                        "segment starts at sequence {} but the previous segment ends at {prev} \
                         (gap or overlap between segments)",
                        segment.first_seq
                    ),
                )
                .into());
            }
        }
        let file = File::open(path).map_err(|e| JournalError::io("open segment", path, e))?;
        r.reset(file);
        let mut last_in_segment: Option<u64> = None;
        let end = walk(r, path, 0, segment.first_seq, |_offset, seq, payload| {
            last_in_segment = Some(seq);
            f(seq, payload)
        })?;
        match end {
            WalkEnd::Clean => {
                if last_in_segment.is_none() && !is_last {
                    return Err(JournalError::corrupt(
                        path,
                        0,
                        "empty segment before the last segment",
                    )
                    .into());
                }
            }
            WalkEnd::Stopped => return Ok(ScanEnd::Stopped),
            WalkEnd::BadSeq {
                offset,
                expected,
                found,
                ..
            } => {
                return Err(JournalError::corrupt(
                    path,
                    offset,
                    format!(
                        "record has sequence {found} where {expected} was expected \
                         (gap or duplicate)"
                    ),
                )
                .into());
            }
            WalkEnd::BadFrame { offset, frame } => {
                if !is_last {
                    return Err(JournalError::corrupt(
                        path,
                        offset,
                        format!("{} (in a segment that is not the last)", frame.describe()),
                    )
                    .into());
                }
                let min_seq = last_in_segment.map_or(segment.first_seq, |s| s.wrapping_add(1));
                if let Some((next_offset, next_seq)) = find_next_valid(r, path, offset, min_seq)? {
                    return Err(JournalError::corrupt(
                        path,
                        offset,
                        format!(
                            "{}, and a valid record (sequence {next_seq}) follows at offset \
                             {next_offset}, so this is not a torn tail",
                            frame.describe()
                        ),
                    )
                    .into());
                }
                return Ok(ScanEnd::TornTail { offset, frame });
            }
        }
        prev_last = last_in_segment.or(prev_last);
    }
    Ok(ScanEnd::Complete)
}
