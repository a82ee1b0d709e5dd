//! Engine state snapshots: a full, self-checking serialisation of books, orders,
//! accounts and counters. File handling (temp file, fsync, rename) lives in the journal
//! crate; this is only the byte format.
//!
//! Layout (format 3, little-endian): magic `TCHYSNP1`, version u32, configuration
//! fingerprint u64, now u64, next order id u64, next trade id u64, one halted flag u8 (0/1)
//! per instrument, account count u32 and per existing account {id u32, suspended flag u8
//! (0/1), per asset {available i64, locked i64}, its order ids in rest order (count u32,
//! ids u64)}, resting order count u32 and the orders best price first per book side, and
//! the API keys (count u32, per key {id u64, account u32, CompID 64 raw bytes, nonce 16
//! bytes}) and the state hash u64. Format 2 is the same without the API keys (none) and
//! format 1 also without the two kinds of flag bytes (nothing halted, nothing suspended);
//! both are still read. Any other version is refused.

use crate::types::{ClOrdId, Side};

/// Magic bytes at the start of an engine snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"TCHYSNP1";

/// Why a snapshot cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "engine snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

pub(crate) struct SnapWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl SnapWriter<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn cl(&mut self, c: &ClOrdId) {
        self.0.extend_from_slice(&c.0);
    }
}

pub(crate) struct SnapReader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) at: usize,
}

type Res<T> = Result<T, SnapshotError>;

impl<'a> SnapReader<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let s = self
            .buf
            .get(self.at..self.at + n)
            .ok_or_else(|| SnapshotError(format!("truncated at byte {}", self.at)))?;
        self.at += n;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    pub(crate) fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub(crate) fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub(crate) fn i64(&mut self) -> Res<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub(crate) fn cl(&mut self) -> Res<ClOrdId> {
        let mut out = [0u8; crate::types::CL_ORD_ID_MAX_LEN];
        out.copy_from_slice(self.take(crate::types::CL_ORD_ID_MAX_LEN)?);
        Ok(ClOrdId(out))
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    pub(crate) fn done(&self) -> bool {
        self.at == self.buf.len()
    }
}

pub(crate) fn side_u8(s: Side) -> u8 {
    match s {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}
