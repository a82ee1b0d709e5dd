//! The record frame and segment file names: the only place that knows the byte layout.
//!
//! A record is, little-endian, with no padding:
//!
//! | offset | size | field    | meaning                                          |
//! | ------ | ---- | -------- | ------------------------------------------------ |
//! | 0      | 4    | `len`    | payload length in bytes, ≤ `MAX_PAYLOAD_BYTES`   |
//! | 4      | 4    | `crc`    | CRC32C (Castagnoli) of bytes 0..4 then 8..16+len |
//! | 8      | 8    | `seq`    | sequence number                                  |
//! | 16     | len  | payload  | opaque bytes                                     |
//!
//! That is, the CRC covers the whole record except the CRC field itself: `len`, then
//! `seq`, then the payload, fed to CRC32C in that order (standard CRC32C: initial value
//! and final XOR `0xFFFF_FFFF`, as computed by `crc32c::crc32c`).

use std::path::{Path, PathBuf};

/// Size of a record's fixed header (`len`, `crc`, `seq`) in bytes.
pub const RECORD_HEADER_BYTES: usize = 16;

/// Largest payload a record may carry. A header whose `len` exceeds it is treated as
/// corruption, which bounds how far a flipped bit in `len` can send the reader.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Largest record in bytes.
pub(crate) const MAX_RECORD_BYTES: usize = RECORD_HEADER_BYTES + MAX_PAYLOAD_BYTES;

const SEGMENT_SUFFIX: &str = ".seg";
const SEQ_DIGITS: usize = 20; // u64::MAX has 20 decimal digits

/// The CRC of a record, given its 4 `len` bytes and its `seq` + payload bytes.
#[inline]
pub(crate) fn record_crc(len_bytes: &[u8], seq_and_payload: &[u8]) -> u32 {
    debug_assert_eq!(len_bytes.len(), 4);
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), seq_and_payload)
}

/// Appends one encoded record to `buf`. The caller has checked the payload length and made
/// room, so this never reallocates.
#[inline]
pub(crate) fn encode_record(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    assert!(payload.len() <= MAX_PAYLOAD_BYTES);
    debug_assert!(buf.capacity() - buf.len() >= RECORD_HEADER_BYTES + payload.len());
    let start = buf.len();
    let len_bytes = (payload.len() as u32).to_le_bytes();
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&[0; 4]); // CRC, filled below
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
    let crc = record_crc(&len_bytes, &buf[start + 8..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What the bytes at a record position are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole record whose CRC verifies.
    Valid {
        /// Its sequence number.
        seq: u64,
        /// Its payload length.
        len: usize,
    },
    /// The file ends before the record does.
    Incomplete {
        /// Bytes present.
        have: usize,
        /// Bytes the header says the record needs (or the header size).
        need: usize,
    },
    /// `len` exceeds `MAX_PAYLOAD_BYTES`.
    TooLong {
        /// The stored `len`.
        len: u32,
    },
    /// The stored CRC does not match the record.
    BadCrc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed from the bytes.
        computed: u32,
    },
}

impl Frame {
    /// A human description of a frame that is not `Valid`.
    pub(crate) fn describe(&self) -> String {
        match *self {
            Frame::Valid { seq, len } => format!("valid record seq {seq} ({len} payload bytes)"),
            Frame::Incomplete { have, need } => {
                format!("incomplete record: file ends {have} bytes into a {need}-byte record")
            }
            Frame::TooLong { len } => {
                format!("record length {len} exceeds the maximum {MAX_PAYLOAD_BYTES}")
            }
            Frame::BadCrc { stored, computed } => {
                format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
        }
    }
}

/// Reads the `len` and `seq` fields of a header (`bytes.len() >= RECORD_HEADER_BYTES`).
#[inline]
pub(crate) fn header_fields(bytes: &[u8]) -> (u32, u32, u64) {
    let len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    (len, crc, seq)
}

/// Classifies the bytes at a record position (`bytes` = everything available from there).
#[inline]
pub(crate) fn check_frame(bytes: &[u8]) -> Frame {
    if bytes.len() < RECORD_HEADER_BYTES {
        return Frame::Incomplete {
            have: bytes.len(),
            need: RECORD_HEADER_BYTES,
        };
    }
    let (len, stored, seq) = header_fields(bytes);
    if len as usize > MAX_PAYLOAD_BYTES {
        return Frame::TooLong { len };
    }
    let total = RECORD_HEADER_BYTES + len as usize;
    if bytes.len() < total {
        return Frame::Incomplete {
            have: bytes.len(),
            need: total,
        };
    }
    let computed = record_crc(&bytes[0..4], &bytes[8..total]);
    if computed != stored {
        return Frame::BadCrc { stored, computed };
    }
    Frame::Valid {
        seq,
        len: len as usize,
    }
}

/// `00000000000000000042.seg` for a segment whose first record has sequence 42.
pub(crate) fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:0SEQ_DIGITS$}{SEGMENT_SUFFIX}")
}

/// The first sequence encoded in a segment file name, or `None` if the name is not one.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    parse_seq_digits(digits)
}

/// Parses exactly `SEQ_DIGITS` ASCII digits.
pub(crate) fn parse_seq_digits(digits: &str) -> Option<u64> {
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Zero-padded decimal sequence, so that lexical order is numeric order.
pub(crate) fn seq_digits(seq: u64) -> String {
    format!("{seq:0SEQ_DIGITS$}")
}

/// One segment file found in a journal directory.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    /// Sequence of its first record, from its name.
    pub(crate) first_seq: u64,
    /// Its path.
    pub(crate) path: PathBuf,
}

/// The segment files in `dir`, in sequence order. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, crate::JournalError> {
    let read_dir = std::fs::read_dir(dir)
        .map_err(|e| crate::JournalError::io("read journal directory", dir, e))?;
    let mut segments = Vec::new();
    for entry in read_dir {
        let entry = entry.map_err(|e| crate::JournalError::io("read journal directory", dir, e))?;
        let name = entry.file_name();
        let Some(first_seq) = name.to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        segments.push(SegmentFile {
            first_seq,
            path: entry.path(),
        });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_numerically() {
        for seq in [0, 1, 9, 10, 42, u64::MAX] {
            let name = segment_file_name(seq);
            assert_eq!(name.len(), 24);
            assert_eq!(parse_segment_file_name(&name), Some(seq));
        }
        assert!(segment_file_name(9) < segment_file_name(10));
        for bad in [
            "1.seg",
            "0000000000000000000a.seg",
            "00000000000000000001.sek",
            "x",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
        assert_eq!(parse_segment_file_name("99999999999999999999.seg"), None); // > u64::MAX
    }

    #[test]
    fn frame_checks() {
        let mut buf = Vec::with_capacity(64);
        encode_record(&mut buf, 7, b"hello");
        assert_eq!(check_frame(&buf), Frame::Valid { seq: 7, len: 5 });
        assert_eq!(
            check_frame(&buf[..3]),
            Frame::Incomplete { have: 3, need: 16 }
        );
        assert_eq!(
            check_frame(&buf[..20]),
            Frame::Incomplete { have: 20, need: 21 }
        );
        let mut bad = buf.clone();
        bad[17] ^= 1;
        assert!(matches!(check_frame(&bad), Frame::BadCrc { .. }));
        let mut long = buf.clone();
        long[0..4].copy_from_slice(&(MAX_PAYLOAD_BYTES as u32 + 1).to_le_bytes());
        assert!(matches!(check_frame(&long), Frame::TooLong { .. }));
        // Twelve zero bytes do not have CRC 0, so zero-filled space is never a record.
        assert!(matches!(check_frame(&[0u8; 32]), Frame::BadCrc { .. }));
    }
}
