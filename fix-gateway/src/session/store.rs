//! Sequence-number and outbound-message persistence.
//!
//! Only application messages are stored: a ResendRequest replaces every admin message by
//! a SequenceReset-GapFill, as the FIX spec asks, so they need not be kept.
//!
//! Both stores keep the newest outbound messages in a `Ring`: a byte ring of
//! `max_bytes` and an index ring of `max_messages` `(seq, offset, len)` entries, both
//! allocated once at construction. When either is full the oldest messages are evicted;
//! a resend of an evicted sequence number is served as SequenceReset-GapFill (exactly like
//! an admin message). Storing a message and setting sequence numbers never allocate.
//!
//! [`FileStore`] adds one append-only file of CRC-framed records (see its docs). Writes
//! go to a preallocated buffer; [`SessionStore::flush`] writes it with one `write` (and
//! `fdatasync` only when the store was opened with `sync = true`).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::seq_numbers::SeqNums;

/// Where a session keeps its sequence numbers and sent application messages.
pub trait SessionStore {
    /// The persisted sequence numbers.
    fn seq_nums(&self) -> SeqNums;
    /// Persists both sequence numbers.
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()>;
    /// Stores an encoded outbound application message under its MsgSeqNum. A `seq` not
    /// above the newest stored one drops the stored messages from `seq` on first.
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()>;
    /// Calls `f` for each retained message with `begin ≤ seq ≤ end`, in order. Evicted
    /// (or never stored) sequence numbers are simply absent.
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()>;
    /// Forgets everything; sequence numbers back to 1.
    fn reset(&mut self) -> io::Result<()>;
    /// Makes everything stored so far durable to the store's standard (for
    /// [`FileStore`]: one `write`, plus `fdatasync` if opened with `sync`). The gateway
    /// calls it once per event-loop iteration for each session that stored something,
    /// before writing that session's outbound bytes to its socket.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Retention limits of a store's in-memory ring, fixed at construction.
///
/// The default, 64 MiB and 262,144 messages (256 bytes per message on average, about
/// the size of an ExecutionReport), keeps a busy session's last few hundred thousand
/// messages. The byte ring is allocated zeroed, so the OS commits its pages on first
/// use; the index costs 16 bytes per message (4 MiB by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Bytes of retained message frames (at most `u32::MAX`; a frame longer than this
    /// cannot be stored). Up to one frame's worth can be lost to wrap-around.
    pub max_bytes: usize,
    /// Number of retained messages.
    pub max_messages: usize,
}

impl Default for StoreLimits {
    fn default() -> StoreLimits {
        StoreLimits {
            max_bytes: 64 << 20,
            max_messages: 1 << 18,
        }
    }
}

impl StoreLimits {
    /// Both at least 1, `max_bytes` at most `u32::MAX`.
    fn normalized(self) -> StoreLimits {
        StoreLimits {
            max_bytes: self.max_bytes.clamp(1, u32::MAX as usize),
            max_messages: self.max_messages.max(1),
        }
    }
}

/// The bounded in-memory retention: message frames stored contiguously in a byte ring
/// (a frame that does not fit before the end starts again at offset 0), indexed by a
/// ring of `(seq, offset, len)` with strictly increasing `seq`.
///
/// Invariant: the retained frames, oldest to newest, lie in ring order from the oldest
/// one's offset, each right after the previous or at offset 0; `tail` is the end of the
/// newest (0 when empty).
#[derive(Clone)]
struct Ring {
    bytes: Box<[u8]>,
    seqs: Box<[u64]>,
    offs: Box<[u32]>,
    lens: Box<[u32]>,
    /// Index slot of the oldest message.
    head: usize,
    count: usize,
    tail: usize,
    used: usize,
}

impl Ring {
    fn new(l: StoreLimits) -> Ring {
        let l = l.normalized();
        // All zero-initialised: `vec![0; n]` allocates zeroed memory the OS maps lazily.
        Ring {
            bytes: vec![0u8; l.max_bytes].into_boxed_slice(),
            seqs: vec![0u64; l.max_messages].into_boxed_slice(),
            offs: vec![0u32; l.max_messages].into_boxed_slice(),
            lens: vec![0u32; l.max_messages].into_boxed_slice(),
            head: 0,
            count: 0,
            tail: 0,
            used: 0,
        }
    }

    fn limits(&self) -> StoreLimits {
        StoreLimits {
            max_bytes: self.bytes.len(),
            max_messages: self.seqs.len(),
        }
    }

    /// Slot of the `i`-th oldest message.
    fn slot(&self, i: usize) -> usize {
        let s = self.head + i;
        if s >= self.seqs.len() {
            s - self.seqs.len()
        } else {
            s
        }
    }

    fn span(&self, i: usize) -> (usize, usize) {
        let s = self.slot(i);
        (self.offs[s] as usize, self.lens[s] as usize)
    }

    fn get(&self, i: usize) -> (u64, &[u8]) {
        let s = self.slot(i);
        let (o, l) = (self.offs[s] as usize, self.lens[s] as usize);
        (self.seqs[s], &self.bytes[o..o + l])
    }

    fn clear(&mut self) {
        self.head = 0;
        self.count = 0;
        self.tail = 0;
        self.used = 0;
    }

    fn pop_oldest(&mut self) {
        self.used -= self.lens[self.head] as usize;
        self.head = self.slot(1);
        self.count -= 1;
        if self.count == 0 {
            self.clear();
        }
    }

    fn pop_newest(&mut self) {
        self.used -= self.lens[self.slot(self.count - 1)] as usize;
        self.count -= 1;
        if self.count == 0 {
            self.clear();
        } else {
            let (o, l) = self.span(self.count - 1);
            self.tail = o + l;
        }
    }

    /// Whether a frame of `len` bytes can be retained at all.
    fn fits(&self, len: usize) -> bool {
        len > 0 && len <= self.bytes.len()
    }

    /// Stores `frame` as the newest message, evicting the oldest as needed and first any
    /// message with `seq` at or above this one. Returns false (storing nothing, evicting
    /// nothing) if the frame is empty or longer than the byte ring.
    fn push(&mut self, seq: u64, frame: &[u8]) -> bool {
        let len = frame.len();
        if !self.fits(len) {
            return false;
        }
        while self.count > 0 && self.seqs[self.slot(self.count - 1)] >= seq {
            self.pop_newest();
        }
        if self.count == self.seqs.len() {
            self.pop_oldest();
        }
        let mut at = self.tail;
        if at + len > self.bytes.len() {
            // Wrap. Frames at or above the write position are the oldest ones (the ring
            // had wrapped before); the space up to the end is given up with them.
            let t = self.tail;
            while self.count > 0 && self.span(0).0 >= t {
                self.pop_oldest();
            }
            at = 0;
        }
        // The frames overlapping [at, at + len) are the oldest ones, in order.
        while self.count > 0 {
            let (o, l) = self.span(0);
            if o < at + len && at < o + l {
                self.pop_oldest();
            } else {
                break;
            }
        }
        self.bytes[at..at + len].copy_from_slice(frame);
        let s = self.slot(self.count);
        self.seqs[s] = seq;
        self.offs[s] = at as u32;
        self.lens[s] = len as u32;
        self.count += 1;
        self.tail = at + len;
        self.used += len;
        true
    }

    /// Index of the oldest message with `seq ≥ begin` (`count` if none).
    fn lower_bound(&self, begin: u64) -> usize {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.seqs[self.slot(mid)] < begin {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn each(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) {
        for i in self.lower_bound(begin)..self.count {
            let (seq, m) = self.get(i);
            if seq > end {
                break;
            }
            f(seq, m);
        }
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = (self.count > 0).then(|| self.get(0).0);
        let last = (self.count > 0).then(|| self.get(self.count - 1).0);
        f.debug_struct("Ring")
            .field("limits", &self.limits())
            .field("messages", &self.count)
            .field("bytes", &self.used)
            .field("first_seq", &first)
            .field("last_seq", &last)
            .finish()
    }
}

fn too_long(len: usize, l: StoreLimits) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "outbound frame of {len} bytes: must be 1..={} (StoreLimits::max_bytes)",
            l.max_bytes
        ),
    )
}

/// In-memory store (tests, and sessions that reset on every logon): bounded by its
/// [`StoreLimits`], allocation-free after construction.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    seq: SeqNums,
    ring: Ring,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// Empty store with the default [`StoreLimits`].
    pub fn new() -> MemoryStore {
        MemoryStore::with_limits(StoreLimits::default())
    }

    /// Empty store retaining at most `limits`.
    pub fn with_limits(limits: StoreLimits) -> MemoryStore {
        MemoryStore {
            seq: SeqNums::INITIAL,
            ring: Ring::new(limits),
        }
    }

    /// The retention limits (normalised: both at least 1).
    pub fn limits(&self) -> StoreLimits {
        self.ring.limits()
    }
}

impl SessionStore for MemoryStore {
    fn seq_nums(&self) -> SeqNums {
        self.seq
    }
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()> {
        self.seq = s;
        Ok(())
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()> {
        if self.ring.push(seq, frame) {
            Ok(())
        } else {
            Err(too_long(frame.len(), self.ring.limits()))
        }
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        self.ring.each(begin, end, f);
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        self.seq = SeqNums::INITIAL;
        self.ring.clear();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// File format.

/// First 8 bytes of the store file.
const MAGIC: [u8; 8] = *b"TCHYFIX1";
/// Record header: body length (u32 LE), CRC-32 of the length bytes and the body (u32 LE).
const REC_HEADER: usize = 8;
/// Body: `[1][seq u64 LE][frame]`.
const KIND_MESSAGE: u8 = 1;
/// Body: `[2][next_in u64 LE][next_out u64 LE]`.
const KIND_SEQ_NUMS: u8 = 2;
const SEQ_REC_LEN: usize = REC_HEADER + 1 + 16;
const MSG_REC_OVERHEAD: usize = REC_HEADER + 1 + 8;
/// File name inside the store directory (and its compaction temporary).
const FILE_NAME: &str = "outbound";
const TMP_NAME: &str = "outbound.tmp";
/// At open, compact when the file exceeds twice its compacted size plus this.
const COMPACT_SLACK: u64 = 1 << 20;

fn crc(len_bytes: &[u8; 4], parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(not(unix))]
fn write_all_at(mut f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    f.seek(SeekFrom::Start(at))?;
    f.write_all(buf)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The write half of a [`FileStore`]: a preallocated buffer of records written at
/// `len` with positional writes (so a failed write is simply retried at the same place).
struct Log {
    file: File,
    /// Bytes of the file holding complete, written records.
    len: u64,
    buf: Box<[u8]>,
    fill: usize,
    /// A sequence-number record owed before the next write.
    pending_seq: Option<SeqNums>,
    unsynced: bool,
}

impl Log {
    fn new(file: File, len: u64, buf: Box<[u8]>) -> Log {
        Log {
            file,
            len,
            buf,
            fill: 0,
            pending_seq: None,
            unsynced: false,
        }
    }

    /// Appends a record `[kind][head][tail]`, writing the buffer first if it would not
    /// leave room for the pending sequence-number record; a record larger than the
    /// whole buffer is written directly.
    fn put(&mut self, kind: u8, head: &[u8], tail: &[u8]) -> io::Result<()> {
        let body = 1 + head.len() + tail.len();
        let total = REC_HEADER + body;
        if self.fill + total + SEQ_REC_LEN > self.buf.len() {
            self.write_out()?;
        }
        let len_bytes = (body as u32).to_le_bytes();
        let crc = crc(&len_bytes, &[&[kind], head, tail]).to_le_bytes();
        if total + SEQ_REC_LEN > self.buf.len() {
            // Rare: a frame near the buffer's size. Two positional writes; a crash in
            // between leaves a torn record, dropped at open.
            let mut pre = [0u8; REC_HEADER + 1 + 16];
            let n = REC_HEADER + 1 + head.len();
            pre[..4].copy_from_slice(&len_bytes);
            pre[4..8].copy_from_slice(&crc);
            pre[8] = kind;
            pre[9..n].copy_from_slice(head);
            let r = write_all_at(&self.file, &pre[..n], self.len)
                .and_then(|()| write_all_at(&self.file, tail, self.len + n as u64));
            if let Err(e) = r {
                let _ = self.file.set_len(self.len);
                return Err(e);
            }
            self.len += total as u64;
            self.unsynced = true;
            return Ok(());
        }
        let b = &mut self.buf[self.fill..self.fill + total];
        b[..4].copy_from_slice(&len_bytes);
        b[4..8].copy_from_slice(&crc);
        b[8] = kind;
        b[9..9 + head.len()].copy_from_slice(head);
        b[9 + head.len()..].copy_from_slice(tail);
        self.fill += total;
        Ok(())
    }

    /// Appends the pending sequence-number record (room is always reserved for it) and
    /// writes the buffer with one positional write. On failure the buffer is kept (the
    /// next call retries it at the same offset) and the file is cut back to `len`.
    fn write_out(&mut self) -> io::Result<()> {
        if let Some(s) = self.pending_seq.take() {
            let mut p = [0u8; 16];
            p[..8].copy_from_slice(&s.next_in.to_le_bytes());
            p[8..].copy_from_slice(&s.next_out.to_le_bytes());
            let len_bytes = 17u32.to_le_bytes();
            let crc = crc(&len_bytes, &[&[KIND_SEQ_NUMS], &p]).to_le_bytes();
            let b = &mut self.buf[self.fill..self.fill + SEQ_REC_LEN];
            b[..4].copy_from_slice(&len_bytes);
            b[4..8].copy_from_slice(&crc);
            b[8] = KIND_SEQ_NUMS;
            b[9..].copy_from_slice(&p);
            self.fill += SEQ_REC_LEN;
        }
        if self.fill == 0 {
            return Ok(());
        }
        if let Err(e) = write_all_at(&self.file, &self.buf[..self.fill], self.len) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += self.fill as u64;
        self.fill = 0;
        self.unsynced = true;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("len", &self.len)
            .field("buffered", &self.fill)
            .field("pending_seq", &self.pending_seq)
            .field("unsynced", &self.unsynced)
            .finish()
    }
}

/// What replaying a store file found.
struct Replay {
    seq: Option<SeqNums>,
    last_msg_seq: Option<u64>,
    /// Length of the valid prefix.
    good_len: u64,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads records from `MAGIC.len()` on (where `file`'s cursor must be), feeding
/// messages to `ring`, until the end or the first torn or corrupt record.
fn replay(file: &File, file_len: u64, ring: &mut Ring) -> io::Result<Replay> {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut out = Replay {
        seq: None,
        last_msg_seq: None,
        good_len: MAGIC.len() as u64,
    };
    let mut body = Vec::new();
    loop {
        let left = file_len - out.good_len;
        if left < REC_HEADER as u64 {
            return Ok(out);
        }
        let mut h = [0u8; REC_HEADER];
        r.read_exact(&mut h)?;
        let len_bytes: [u8; 4] = h[..4].try_into().expect("4 bytes");
        let len = u32::from_le_bytes(len_bytes) as u64;
        let want = u32::from_le_bytes(h[4..].try_into().expect("4 bytes"));
        if len == 0 || len > left - REC_HEADER as u64 {
            return Ok(out);
        }
        body.resize(len as usize, 0);
        r.read_exact(&mut body)?;
        if crc(&len_bytes, &[&body]) != want {
            return Ok(out);
        }
        let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        match body[0] {
            KIND_MESSAGE if body.len() >= 9 => {
                let seq = u64_at(1);
                // A frame the (possibly smaller) limits cannot hold is not retained; a
                // resend gap-fills it.
                if !ring.push(seq, &body[9..]) {
                    while ring.count > 0 && ring.get(ring.count - 1).0 >= seq {
                        ring.pop_newest();
                    }
                }
                out.last_msg_seq = Some(seq);
            }
            KIND_SEQ_NUMS if body.len() == 17 => {
                out.seq = Some(SeqNums {
                    next_in: u64_at(1),
                    next_out: u64_at(9),
                });
            }
            _ => return Err(invalid("unknown record in FIX session store")),
        }
        out.good_len += REC_HEADER as u64 + len;
    }
}

/// File store: one append-only file `<dir>/outbound` of CRC-framed records, plus the
/// bounded in-memory ring (see [`StoreLimits`]) that serves resends.
///
/// Format: the 8-byte magic `TCHYFIX1`, then records `[len u32][crc u32][body]` (little
/// endian; `crc` is CRC-32 of the 4 length bytes then the body) with body either
/// `[1][seq u64][frame]` (an outbound message) or `[2][next_in u64][next_out u64]` (the
/// sequence numbers; the last one wins).
///
/// Hot path: [`SessionStore::save_outbound`] copies the frame into the ring and a record
/// into a preallocated write buffer; [`SessionStore::set_seq_nums`] only notes the
/// numbers, and [`SessionStore::flush`] appends one sequence-number record and writes the
/// buffer with one `write`, then `fdatasync`s only if `sync` is set. No allocation, no
/// system call before `flush` unless the buffer fills (then it is written early).
///
/// Durability: with `sync = false` a killed process loses nothing that was flushed (it is
/// in the page cache); an OS crash or power loss may lose the last flushes. The engine
/// journal is the source of truth for orders, so that is the default. With `sync = true`
/// a flush is durable once it returns. Dropping the store flushes (best effort).
///
/// Open replays the file: latest sequence numbers, the newest messages that fit the
/// limits, and `next_out` raised past the last stored message (it may have been stored
/// but its sequence-number record lost). A torn or corrupt tail (short record or CRC
/// mismatch) is cut off; a file well over its compacted size (twice, plus 1 MiB) is
/// compacted (best effort; see [`FileStore::compact`]).
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    sync: bool,
    seq: SeqNums,
    ring: Ring,
    log: Log,
    truncated: u64,
}

impl FileStore {
    /// Write buffer size: records are written when it fills or at [`SessionStore::flush`].
    pub const WRITE_BUFFER_BYTES: usize = 1 << 20;

    /// Opens (creating) the store in `dir` with the default [`StoreLimits`] and
    /// `sync = false`.
    pub fn open(dir: &Path) -> io::Result<FileStore> {
        FileStore::open_with(dir, StoreLimits::default(), false)
    }

    /// Opens (creating) the store in `dir`, retaining at most `limits` in memory;
    /// `sync` makes every [`SessionStore::flush`] `fdatasync`.
    pub fn open_with(dir: &Path, limits: StoreLimits, sync: bool) -> io::Result<FileStore> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        match fs::remove_file(dir.join(TMP_NAME)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let file_len = file.metadata()?.len();
        let mut ring = Ring::new(limits);
        let buf = vec![0u8; Self::WRITE_BUFFER_BYTES].into_boxed_slice();
        let mut truncated = 0;
        let mut seq = SeqNums::INITIAL;
        let log_len = if file_len < MAGIC.len() as u64 {
            // New, or torn while being created.
            let mut head = [0u8; MAGIC.len()];
            let n = file_len as usize;
            (&file).read_exact(&mut head[..n])?;
            if head[..n] != MAGIC[..n] {
                return Err(invalid("not a Tachyon FIX session store file"));
            }
            file.set_len(0)?;
            write_all_at(&file, &MAGIC, 0)?;
            if sync {
                file.sync_all()?;
                if created {
                    sync_dir(dir)?;
                }
            }
            MAGIC.len() as u64
        } else {
            let mut head = [0u8; MAGIC.len()];
            (&file).read_exact(&mut head)?;
            if head != MAGIC {
                return Err(invalid("not a Tachyon FIX session store file"));
            }
            let r = replay(&file, file_len, &mut ring)?;
            if r.good_len < file_len {
                file.set_len(r.good_len)?;
                if sync {
                    file.sync_all()?;
                }
                truncated = file_len - r.good_len;
            }
            if let Some(s) = r.seq {
                seq = s;
            }
            if let Some(m) = r.last_msg_seq {
                seq.next_out = seq.next_out.max(m + 1);
            }
            r.good_len
        };
        let mut store = FileStore {
            dir: dir.to_path_buf(),
            sync,
            seq,
            ring,
            log: Log::new(file, log_len, buf),
            truncated,
        };
        if store.log.len > 2 * store.compacted_len() + COMPACT_SLACK {
            // Best effort: the store is correct without it (and on failure keeps the
            // old file).
            let _ = store.compact();
        }
        Ok(store)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The retention limits (normalised: both at least 1, `max_bytes` ≤ `u32::MAX`).
    pub fn limits(&self) -> StoreLimits {
        self.ring.limits()
    }

    /// Bytes of torn or corrupt tail cut off the file at open (0 normally).
    pub fn truncated_at_open(&self) -> u64 {
        self.truncated
    }

    /// Bytes written to the file so far (excluding the unflushed buffer).
    pub fn file_len(&self) -> u64 {
        self.log.len
    }

    /// Size of the file after [`FileStore::compact`].
    fn compacted_len(&self) -> u64 {
        (MAGIC.len() + self.ring.count * MSG_REC_OVERHEAD + self.ring.used + SEQ_REC_LEN) as u64
    }

    /// Rewrites the file to just the retained messages and the sequence numbers:
    /// `outbound.tmp`, fsync, rename over `outbound`, fsync the directory (always, even
    /// without `sync`: the old file is being replaced). Done at open when the file is
    /// much larger than that; the gateway may call it when a session is idle (several
    /// system calls and fsyncs: not for the hot path). On an error before the rename the
    /// old file stays in use.
    pub fn compact(&mut self) -> io::Result<()> {
        self.log.write_out()?;
        let tmp_path = self.dir.join(TMP_NAME);
        let tmp = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp_path)?;
        let mut new = Log::new(tmp, 0, std::mem::take(&mut self.log.buf));
        let r = self
            .write_compacted(&mut new)
            .and_then(|()| fs::rename(&tmp_path, self.dir.join(FILE_NAME)));
        if let Err(e) = r {
            self.log.buf = new.buf;
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
        // Renamed: from here on the new file is the store, whatever happens next.
        self.log = new;
        sync_dir(&self.dir)
    }

    /// Header, retained messages and sequence numbers into `new`, fsynced.
    fn write_compacted(&self, new: &mut Log) -> io::Result<()> {
        new.buf[..MAGIC.len()].copy_from_slice(&MAGIC);
        new.fill = MAGIC.len();
        for i in 0..self.ring.count {
            let (seq, m) = self.ring.get(i);
            new.put(KIND_MESSAGE, &seq.to_le_bytes(), m)?;
        }
        new.pending_seq = Some(self.seq);
        new.write_out()?;
        new.file.sync_all()?;
        new.unsynced = false;
        Ok(())
    }
}

impl SessionStore for FileStore {
    fn seq_nums(&self) -> SeqNums {
        self.seq
    }
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()> {
        self.seq = s;
        self.log.pending_seq = Some(s);
        Ok(())
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()> {
        if !self.ring.fits(frame.len()) {
            return Err(too_long(frame.len(), self.ring.limits()));
        }
        self.log.put(KIND_MESSAGE, &seq.to_le_bytes(), frame)?;
        self.ring.push(seq, frame);
        Ok(())
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        self.ring.each(begin, end, f);
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        self.log.file.set_len(MAGIC.len() as u64)?;
        self.log.fill = 0;
        self.log.pending_seq = None;
        self.log.len = MAGIC.len() as u64;
        self.log.unsynced = true;
        if self.sync {
            self.log.sync()?;
        }
        self.ring.clear();
        self.seq = SeqNums::INITIAL;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.log.write_out()?;
        if self.sync {
            self.log.sync()?;
        }
        Ok(())
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
