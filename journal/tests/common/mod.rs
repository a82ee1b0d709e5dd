//! Test helpers, including an independent reader of the documented on-disk format (so the
//! tests check the format, not just that the crate agrees with itself).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tachyon_journal::{for_each_record, FsyncPolicy, JournalError, JournalOptions, JournalWriter};

pub type Records = Vec<(u64, Vec<u8>)>;

pub fn opts(segment_size_bytes: u64) -> JournalOptions {
    JournalOptions {
        segment_size_bytes,
        ..JournalOptions::default()
    }
}

pub fn opts_os(segment_size_bytes: u64) -> JournalOptions {
    JournalOptions {
        segment_size_bytes,
        fsync: FsyncPolicy::Os,
        ..JournalOptions::default()
    }
}

/// Deterministic payload of 8..=60 bytes for `seq`.
pub fn payload(seq: u64) -> Vec<u8> {
    let len = 8 + (seq.wrapping_mul(7919) % 53) as usize;
    (0..len)
        .map(|i| (seq.wrapping_mul(31).wrapping_add(i as u64 * 17) % 251) as u8)
        .collect()
}

/// Writes records `first..first+n` (payload per `payload`), committing every `batch`.
pub fn write_records(dir: &Path, o: JournalOptions, first: u64, n: u64, batch: u64) -> Records {
    let (mut w, _) = JournalWriter::open(dir, o).expect("open");
    let mut out = Vec::new();
    for seq in first..first + n {
        let p = payload(seq);
        w.append(seq, &p).expect("append");
        out.push((seq, p));
        if (seq - first + 1).is_multiple_of(batch) {
            w.commit().expect("commit");
        }
    }
    w.commit().expect("commit");
    out
}

pub fn read_all(dir: &Path) -> Result<Records, JournalError> {
    let mut out = Vec::new();
    for_each_record::<JournalError, _>(dir, .., |seq, p| {
        out.push((seq, p.to_vec()));
        Ok(())
    })?;
    Ok(out)
}

/// Independent encoder of the documented record layout.
pub fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let seq_bytes = seq.to_le_bytes();
    let mut crc = crc32c::crc32c(&len);
    crc = crc32c::crc32c_append(crc, &seq_bytes);
    crc = crc32c::crc32c_append(crc, payload);
    let mut out = Vec::new();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq_bytes);
    out.extend_from_slice(payload);
    out
}

/// A record located by the independent parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub offset: u64,
    pub total_len: u64,
    pub seq: u64,
}

/// Parses a clean segment with the independent parser (panics on anything unexpected).
pub fn parse_segment(path: &Path) -> Vec<Rec> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        let end = at + 16 + len;
        assert_eq!(
            encode(seq, &bytes[at + 16..end]),
            bytes[at..end],
            "{path:?} @ {at}"
        );
        out.push(Rec {
            offset: at as u64,
            total_len: (16 + len) as u64,
            seq,
        });
        at = end;
    }
    out
}

/// Segment files of a journal directory, sorted.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

pub fn seg_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// Every file's bytes, by name, to prove a failed open or an inspect changed nothing.
pub fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// Copies every segment of `from` into a fresh temp dir.
pub fn copy_journal(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for seg in segments(from) {
        fs::copy(&seg, to.path().join(seg.file_name().unwrap())).unwrap();
    }
    to
}

pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 1 << bit;
    fs::write(path, bytes).unwrap();
}
