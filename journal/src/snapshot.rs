//! Snapshot files: an opaque payload at a sequence, written atomically.
//!
//! `snapshot-<seq, 20 digits>.snap` holds a 36-byte little-endian header and the payload:
//!
//! | offset | size | field                                   |
//! | ------ | ---- | --------------------------------------- |
//! | 0      | 8    | magic `b"TACHSNAP"`                     |
//! | 8      | 4    | format version, `1`                     |
//! | 12     | 4    | CRC32C of the payload                   |
//! | 16     | 8    | sequence the snapshot is at             |
//! | 24     | 8    | payload length in bytes                 |
//! | 32     | 4    | CRC32C of header bytes 0..32            |
//! | 36     | len  | payload                                 |
//!
//! The file must be exactly `36 + len` bytes and its name must carry the header's
//! sequence. It is written as `<name>.tmp`, fsynced, renamed into place, and the
//! directory fsynced, so a crash leaves either the whole snapshot or at most a `.tmp`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::format::{parse_seq_digits, seq_digits};
use crate::writer::{create_dir_durably, sync_dir};
use crate::JournalError;

const MAGIC: &[u8; 8] = b"TACHSNAP";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 36;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".tmp";

/// A snapshot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The sequence it was taken at.
    pub seq: u64,
    /// The payload, verified against its CRC.
    pub payload: Vec<u8>,
    /// The file it came from.
    pub file: PathBuf,
}

/// The result of [`latest_snapshot`].
#[derive(Debug)]
pub struct LatestSnapshot {
    /// The newest snapshot that verifies, if any.
    pub snapshot: Option<Snapshot>,
    /// Newer snapshot files that did not verify and were passed over, newest first, each
    /// a [`JournalError::Corrupt`] naming the file and offset. The caller logs them.
    pub skipped: Vec<JournalError>,
}

/// Writes `payload` as the snapshot at `seq` into `dir` (created if missing) and returns
/// its path. Durable when this returns: the temp file is fsynced before the rename and the
/// directory after it. An existing snapshot at the same sequence is replaced atomically.
pub fn write_snapshot(dir: &Path, seq: u64, payload: &[u8]) -> Result<PathBuf, JournalError> {
    create_dir_durably(dir)?;
    let path = dir.join(snapshot_file_name(seq));
    let tmp = dir.join(format!("{}{TMP_SUFFIX}", snapshot_file_name(seq)));
    let result = write_tmp(&tmp, seq, payload).and_then(|()| {
        fs::rename(&tmp, &path)
            .map_err(|e| JournalError::io("rename snapshot into place", &path, e))
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp); // best effort; a leftover .tmp is ignored anyway
        return Err(e);
    }
    sync_dir(dir)?;
    Ok(path)
}

fn write_tmp(tmp: &Path, seq: u64, payload: &[u8]) -> Result<(), JournalError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| JournalError::io("create snapshot temp file", tmp, e))?;
    let header = encode_header(seq, payload);
    file.write_all(&header)
        .and_then(|()| file.write_all(payload))
        .map_err(|e| JournalError::io("write snapshot temp file", tmp, e))?;
    file.sync_all()
        .map_err(|e| JournalError::io("fsync snapshot temp file", tmp, e))
}

fn encode_header(seq: u64, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let header_crc = crc32c::crc32c(&h[0..32]);
    h[32..36].copy_from_slice(&header_crc.to_le_bytes());
    h
}

/// Finds the newest snapshot in `dir` that verifies (header, length, payload CRC). Newer
/// ones that do not are listed in [`LatestSnapshot::skipped`]; `.tmp` files are ignored.
/// A missing directory means no snapshot.
pub fn latest_snapshot(dir: &Path) -> Result<LatestSnapshot, JournalError> {
    latest_snapshot_at_most(dir, u64::MAX)
}

/// [`latest_snapshot`] among the snapshots at sequence `max_seq` or below: the newest one
/// that verifies, for a reader that must start from a state no later than `max_seq` (a
/// derived state saved at `max_seq` that the journal after the snapshot brings up to
/// date). Snapshots above `max_seq` are not read; corrupt ones at or below it that were
/// passed over are in [`LatestSnapshot::skipped`].
pub fn latest_snapshot_at_most(dir: &Path, max_seq: u64) -> Result<LatestSnapshot, JournalError> {
    let mut skipped = Vec::new();
    for (seq, path) in list_snapshots(dir)?
        .into_iter()
        .rev()
        .filter(|(seq, _)| *seq <= max_seq)
    {
        match read_snapshot(&path, seq)? {
            Ok(payload) => {
                return Ok(LatestSnapshot {
                    snapshot: Some(Snapshot {
                        seq,
                        payload,
                        file: path,
                    }),
                    skipped,
                });
            }
            Err(corrupt) => skipped.push(corrupt),
        }
    }
    Ok(LatestSnapshot {
        snapshot: None,
        skipped,
    })
}

/// Keeps the newest `keep` snapshots that verify and deletes every snapshot older than
/// the oldest of them, plus every leftover `.tmp` file; returns the deleted paths. Corrupt
/// snapshots newer than that are left for inspection. With fewer than `keep` valid
/// snapshots, no snapshot is deleted. Do not run it concurrently with
/// [`write_snapshot`] on the same directory (it would delete the in-progress `.tmp`).
pub fn prune_snapshots(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, JournalError> {
    if keep == 0 {
        return Err(JournalError::InvalidArgument {
            detail: "prune_snapshots must keep at least one snapshot".into(),
        });
    }
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut deleted = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| JournalError::io("read snapshot directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("read snapshot directory", dir, e))?;
        let name = entry.file_name();
        let is_tmp = name
            .to_str()
            .and_then(|n| n.strip_suffix(TMP_SUFFIX))
            .and_then(parse_snapshot_file_name);
        if is_tmp.is_some() {
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(|e| JournalError::io("remove snapshot temp file", &path, e))?;
            deleted.push(path);
        }
    }
    let snapshots = list_snapshots(dir)?;
    let mut valid_seen = 0;
    let mut cutoff = None;
    for (seq, path) in snapshots.iter().rev() {
        if read_snapshot(path, *seq)?.is_ok() {
            valid_seen += 1;
            if valid_seen == keep {
                cutoff = Some(*seq);
                break;
            }
        }
    }
    if let Some(cutoff) = cutoff {
        for (seq, path) in snapshots.iter().filter(|(seq, _)| *seq < cutoff) {
            debug_assert!(*seq < cutoff);
            fs::remove_file(path).map_err(|e| JournalError::io("remove old snapshot", path, e))?;
            deleted.push(path.clone());
        }
    }
    if !deleted.is_empty() {
        sync_dir(dir)?;
    }
    Ok(deleted)
}

fn snapshot_file_name(seq: u64) -> String {
    format!("{PREFIX}{}{SUFFIX}", seq_digits(seq))
}

fn parse_snapshot_file_name(name: &str) -> Option<u64> {
    parse_seq_digits(name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?)
}

/// Snapshot files in `dir`, oldest first. A missing directory holds none.
fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::io("read snapshot directory", dir, e)),
    };
    let mut snapshots = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("read snapshot directory", dir, e))?;
        if let Some(seq) = entry
            .file_name()
            .to_str()
            .and_then(parse_snapshot_file_name)
        {
            snapshots.push((seq, entry.path()));
        }
    }
    snapshots.sort();
    Ok(snapshots)
}

/// Reads and verifies one snapshot file. The outer error is an I/O failure (the caller
/// stops); the inner one is a file that does not verify (the caller skips it).
fn read_snapshot(
    path: &Path,
    name_seq: u64,
) -> Result<Result<Vec<u8>, JournalError>, JournalError> {
    let io_err = |e| JournalError::io("read snapshot", path, e);
    let corrupt =
        |offset: u64, detail: String| Ok(Err(JournalError::corrupt(path, offset, detail)));
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    if file_len < HEADER_BYTES as u64 {
        return corrupt(
            0,
            format!("snapshot is {file_len} bytes, shorter than its {HEADER_BYTES}-byte header"),
        );
    }
    let mut h = [0u8; HEADER_BYTES];
    file.read_exact(&mut h).map_err(io_err)?;
    if &h[0..8] != MAGIC {
        return corrupt(0, "bad magic: not a Tachyon snapshot".into());
    }
    let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
    let payload_crc = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(h[16..24].try_into().expect("8 bytes"));
    let payload_len = u64::from_le_bytes(h[24..32].try_into().expect("8 bytes"));
    let header_crc = u32::from_le_bytes(h[32..36].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&h[0..32]);
    if header_crc != computed {
        return corrupt(
            32,
            format!("header CRC mismatch: stored {header_crc:#010x}, computed {computed:#010x}"),
        );
    }
    if version != VERSION {
        return corrupt(8, format!("unsupported snapshot format version {version}"));
    }
    if seq != name_seq {
        return corrupt(
            16,
            format!("header says sequence {seq}, file name says {name_seq}"),
        );
    }
    if HEADER_BYTES as u64 + payload_len != file_len {
        return corrupt(
            24,
            format!(
                "header says {payload_len} payload bytes, file holds {} (partial write?)",
                file_len - HEADER_BYTES as u64
            ),
        );
    }
    let mut payload = vec![0u8; payload_len as usize];
    file.read_exact(&mut payload).map_err(io_err)?;
    let computed = crc32c::crc32c(&payload);
    if computed != payload_crc {
        return corrupt(
            HEADER_BYTES as u64,
            format!("payload CRC mismatch: stored {payload_crc:#010x}, computed {computed:#010x}"),
        );
    }
    Ok(Ok(payload))
}
