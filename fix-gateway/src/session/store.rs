//! Sequence-number and outbound-message persistence.
//!
//! Only application messages are stored: a ResendRequest replaces every admin message by
//! a SequenceReset-GapFill, as the FIX spec asks, so they need not be kept.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::seq_numbers::SeqNums;

/// Where a session keeps its sequence numbers and sent application messages.
pub trait SessionStore {
    /// The persisted sequence numbers.
    fn seq_nums(&self) -> SeqNums;
    /// Persists both sequence numbers.
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()>;
    /// Stores an encoded outbound application message under its MsgSeqNum.
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()>;
    /// Calls `f` for each stored message with `begin ≤ seq ≤ end`, in order.
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()>;
    /// Forgets everything; sequence numbers back to 1.
    fn reset(&mut self) -> io::Result<()>;
}

/// In-memory store (tests, and sessions that reset on every logon).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    seq: Option<SeqNums>,
    msgs: BTreeMap<u64, Vec<u8>>,
}

impl MemoryStore {
    /// Empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl SessionStore for MemoryStore {
    fn seq_nums(&self) -> SeqNums {
        self.seq.unwrap_or(SeqNums::INITIAL)
    }
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()> {
        self.seq = Some(s);
        Ok(())
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()> {
        self.msgs.insert(seq, frame.to_vec());
        Ok(())
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        for (&s, m) in self.msgs.range(begin..=end) {
            f(s, m);
        }
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        *self = MemoryStore::default();
        Ok(())
    }
}

/// File store: `<dir>/seqnums` (16 bytes: next_in, next_out, little-endian, rewritten in
/// place) and `<dir>/outbound` (append-only records `[seq u64 LE][len u32 LE][frame]`).
/// Every write is fsynced (simple and safe; group commit can come later). Messages are
/// also kept in memory for resends; a torn last record (crash mid-append) is dropped at
/// open.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    seq_file: File,
    log: File,
    mem: MemoryStore,
}

impl FileStore {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: &Path) -> io::Result<FileStore> {
        std::fs::create_dir_all(dir)?;
        let mut seq_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("seqnums"))?;
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("outbound"))?;
        let mut mem = MemoryStore::new();
        let mut b = Vec::new();
        seq_file.read_to_end(&mut b)?;
        if b.len() >= 16 {
            let next_in = u64::from_le_bytes(b[0..8].try_into().unwrap());
            let next_out = u64::from_le_bytes(b[8..16].try_into().unwrap());
            mem.seq = Some(SeqNums { next_in, next_out });
        }
        let mut data = Vec::new();
        log.read_to_end(&mut data)?;
        let mut at = 0;
        while at + 12 <= data.len() {
            let seq = u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
            let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
            if at + 12 + len > data.len() {
                break;
            }
            mem.msgs.insert(seq, data[at + 12..at + 12 + len].to_vec());
            at += 12 + len;
        }
        if at < data.len() {
            log.set_len(at as u64)?;
        }
        log.seek(SeekFrom::End(0))?;
        Ok(FileStore {
            dir: dir.to_path_buf(),
            seq_file,
            log,
            mem,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl SessionStore for FileStore {
    fn seq_nums(&self) -> SeqNums {
        self.mem.seq_nums()
    }
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()> {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&s.next_in.to_le_bytes());
        b[8..].copy_from_slice(&s.next_out.to_le_bytes());
        self.seq_file.seek(SeekFrom::Start(0))?;
        self.seq_file.write_all(&b)?;
        self.seq_file.sync_data()?;
        self.mem.set_seq_nums(s)
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()> {
        let mut rec = Vec::with_capacity(12 + frame.len());
        rec.extend_from_slice(&seq.to_le_bytes());
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(frame);
        self.log.write_all(&rec)?;
        self.log.sync_data()?;
        self.mem.save_outbound(seq, frame)
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        self.mem.outbound(begin, end, f)
    }
    fn reset(&mut self) -> io::Result<()> {
        self.log.set_len(0)?;
        self.log.seek(SeekFrom::Start(0))?;
        self.log.sync_all()?;
        self.mem.reset()?;
        self.set_seq_nums(SeqNums::INITIAL)
    }
}
