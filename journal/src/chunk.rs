//! Big sequential reads of a file into one reused buffer, with random access by offset.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use crate::format::MAX_RECORD_BYTES;

/// Bytes read per `read()` call when scanning. Large, so that replay is not syscall-bound.
pub(crate) const READ_CHUNK_BYTES: usize = 1 << 20;

const _: () = assert!(READ_CHUNK_BYTES >= 2 * MAX_RECORD_BYTES);

/// A window `[window_offset, window_offset + filled)` of one file, in a buffer allocated
/// once and reused for every file (no allocation per record or per segment).
pub(crate) struct ChunkReader {
    buf: Box<[u8]>,
    file: Option<File>,
    /// File offset of `buf[0]`.
    window_offset: u64,
    /// Valid bytes in `buf`. The file's read position is `window_offset + filled`.
    filled: usize,
    /// A read returned 0 at the current read position.
    eof: bool,
}

impl ChunkReader {
    pub(crate) fn new() -> Self {
        ChunkReader {
            buf: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
            file: None,
            window_offset: 0,
            filled: 0,
            eof: false,
        }
    }

    /// Starts reading `file` from offset 0.
    pub(crate) fn reset(&mut self, file: File) {
        self.file = Some(file);
        self.window_offset = 0;
        self.filled = 0;
        self.eof = false;
    }

    /// The bytes from file offset `pos` on: at least `want` of them (`want` ≤ the buffer
    /// size), or fewer only if the file ends sooner.
    #[inline]
    pub(crate) fn get(&mut self, pos: u64, want: usize) -> io::Result<&[u8]> {
        assert!(want <= self.buf.len());
        let end = self.window_offset + self.filled as u64;
        if pos >= self.window_offset && pos + want as u64 <= end {
            let start = (pos - self.window_offset) as usize;
            return Ok(&self.buf[start..self.filled]);
        }
        self.refill(pos, want)?;
        let start = (pos - self.window_offset) as usize;
        debug_assert_eq!(start, 0);
        Ok(&self.buf[..self.filled])
    }

    #[cold]
    fn refill(&mut self, pos: u64, want: usize) -> io::Result<()> {
        let file = self.file.as_mut().expect("ChunkReader::reset before get");
        let end = self.window_offset + self.filled as u64;
        if pos >= self.window_offset && pos <= end {
            // Keep the bytes from `pos` on; the read position stays where it is.
            let keep_from = (pos - self.window_offset) as usize;
            self.buf.copy_within(keep_from..self.filled, 0);
            self.filled -= keep_from;
            self.window_offset = pos;
        } else {
            file.seek(SeekFrom::Start(pos))?;
            self.window_offset = pos;
            self.filled = 0;
            self.eof = false;
        }
        // Bounded: each iteration either grows `filled` or sets `eof`.
        while self.filled < want && !self.eof {
            match file.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
