//! Encoder into a caller-provided buffer.
//!
//! The body is written first at a fixed offset ([`HEADER_ROOM`]) so BodyLength(9) can be
//! written in front of it once known, without shifting the body; the frame is then
//! `buf[start..end]` with `start ≤ HEADER_ROOM`. Header order is 8, 9, 35, 34, 49, 52, 56
//! as GUIDE.md §4 fixes it; PossDupFlag(43) and OrigSendingTime(122) follow as ordinary
//! fields when a resend needs them.

use super::decimal::Grid;
use super::decode::checksum;
use super::time::{write_utc_timestamp, TIMESTAMP_LEN};
use super::SOH;

/// Bytes reserved in front of the body for `8=FIX.4.4␁9=<up to 7 digits>␁`.
pub const HEADER_ROOM: usize = 20;

/// The buffer cannot hold the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall;

/// The standard header values of an outgoing message.
#[derive(Clone, Copy, Debug)]
pub struct Header<'h> {
    /// MsgType(35).
    pub msg_type: &'h [u8],
    /// MsgSeqNum(34).
    pub seq_num: u64,
    /// SenderCompID(49).
    pub sender_comp_id: &'h [u8],
    /// TargetCompID(56).
    pub target_comp_id: &'h [u8],
    /// SendingTime(52), ns since the Unix epoch.
    pub sending_time_ns: u64,
}

/// Writes one message into a borrowed buffer. Writing past the end sets a sticky
/// overflow flag that [`MessageWriter::finish`] reports, so call sites chain fields
/// without checking each one.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message: writes 35, 34, 49, 52, 56.
    pub fn new(buf: &'b mut [u8], h: &Header<'_>) -> MessageWriter<'b> {
        let overflow = buf.len() < HEADER_ROOM;
        let mut w = MessageWriter {
            buf,
            pos: HEADER_ROOM,
            overflow,
        };
        w.field(35, h.msg_type);
        w.field_uint(34, h.seq_num);
        w.field(49, h.sender_comp_id);
        w.field_timestamp(52, h.sending_time_ns);
        w.field(56, h.target_comp_id);
        w
    }

    /// A writer of bare fields (no header, no BodyLength or CheckSum): encodes a group
    /// once for [`MessageWriter::raw`] to copy into many messages. End it with
    /// [`MessageWriter::fields_len`], not `finish`.
    pub fn fields_only(buf: &'b mut [u8]) -> MessageWriter<'b> {
        MessageWriter {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    /// Bytes written by a [`MessageWriter::fields_only`] writer; `None` if they did not
    /// fit.
    pub fn fields_len(&self) -> Option<usize> {
        (!self.overflow).then_some(self.pos)
    }

    /// Already-encoded fields (`tag=value` + SOH each), e.g. from a
    /// [`MessageWriter::fields_only`] writer.
    pub fn raw(&mut self, fields: &[u8]) -> &mut Self {
        debug_assert!(fields.is_empty() || fields.last() == Some(&SOH));
        self.put(fields);
        self
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.overflow || self.pos + bytes.len() > self.buf.len() {
            self.overflow = true;
            return;
        }
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// Writes `v`'s digits and then `suffix` straight into the buffer.
    #[inline]
    fn put_uint(&mut self, v: u64, suffix: u8) {
        let n = uint_digits(v);
        if self.overflow || self.pos + n + 1 > self.buf.len() {
            self.overflow = true;
            return;
        }
        let out = &mut self.buf[self.pos..self.pos + n + 1];
        let mut v = v;
        for d in out[..n].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out[n] = suffix;
        self.pos += n + 1;
    }

    #[inline]
    fn put_tag(&mut self, tag: u32) {
        self.put_uint(tag as u64, b'=');
    }

    /// Raw value (the caller guarantees it holds no SOH unless it is a data field).
    pub fn field(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        self.put_tag(tag);
        self.put(value);
        self.put(&[SOH]);
        self
    }

    /// Unsigned integer value.
    pub fn field_uint(&mut self, tag: u32, v: u64) -> &mut Self {
        self.put_tag(tag);
        self.put_uint(v, SOH);
        self
    }

    /// Signed integer value.
    pub fn field_int(&mut self, tag: u32, v: i64) -> &mut Self {
        let mut d = [0u8; 21];
        let n = write_uint(v.unsigned_abs(), (&mut d[1..]).try_into().unwrap());
        if v < 0 {
            d[0] = b'-';
            self.field(tag, &d[..n + 1])
        } else {
            self.field(tag, &d[1..n + 1])
        }
    }

    /// Boolean value `Y`/`N`.
    pub fn field_bool(&mut self, tag: u32, v: bool) -> &mut Self {
        self.field(tag, if v { b"Y" } else { b"N" })
    }

    /// UTCTimestamp with milliseconds.
    pub fn field_timestamp(&mut self, tag: u32, ns: u64) -> &mut Self {
        let mut t = [0u8; TIMESTAMP_LEN];
        write_utc_timestamp(ns, &mut t);
        self.field(tag, &t)
    }

    /// Integer steps of a grid written as exact decimal text (ticks → price).
    pub fn field_steps(&mut self, tag: u32, steps: i64, grid: &Grid) -> &mut Self {
        let mut t = [0u8; 48];
        let n = grid.write(steps, &mut t);
        self.field(tag, &t[..n])
    }

    /// Writes BodyLength and CheckSum; returns the frame's byte range in the buffer.
    pub fn finish(self) -> Result<core::ops::Range<usize>, BufferTooSmall> {
        let MessageWriter { buf, pos, overflow } = self;
        if overflow || pos + 7 > buf.len() {
            return Err(BufferTooSmall);
        }
        let body_len = pos - HEADER_ROOM;
        let mut d = [0u8; 20];
        let n = write_uint(body_len as u64, &mut d);
        if n > 7 {
            return Err(BufferTooSmall);
        }
        let head_len = 12 + n + 1; // "8=FIX.4.4␁9=" + digits + SOH
        let start = HEADER_ROOM - head_len;
        buf[start..start + 12].copy_from_slice(b"8=FIX.4.4\x019=");
        buf[start + 12..start + 12 + n].copy_from_slice(&d[..n]);
        buf[start + 12 + n] = SOH;
        let sum = checksum(&buf[start..pos]);
        let tail = [
            b'1',
            b'0',
            b'=',
            b'0' + sum / 100,
            b'0' + (sum / 10) % 10,
            b'0' + sum % 10,
            SOH,
        ];
        buf[pos..pos + 7].copy_from_slice(&tail);
        Ok(start..pos + 7)
    }
}

/// Decimal digits of `v` (1 for 0).
#[inline]
fn uint_digits(v: u64) -> usize {
    v.checked_ilog10().unwrap_or(0) as usize + 1
}

/// Writes `v` in decimal; returns the number of digits.
pub(crate) fn write_uint(mut v: u64, out: &mut [u8; 20]) -> usize {
    let n = uint_digits(v);
    for d in out[..n].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Tags and integers are written exactly as `format!` writes them, and a buffer
        /// one byte short overflows instead of truncating.
        #[test]
        fn uint_fields_match_format(tag in 1u32..=u32::MAX, v in prop_oneof![0u64..1000, any::<u64>()]) {
            let want = format!("{tag}={v}\x01");
            let mut buf = vec![0u8; want.len()];
            let mut w = MessageWriter::fields_only(&mut buf);
            w.field_uint(tag, v);
            prop_assert_eq!(w.fields_len(), Some(want.len()));
            prop_assert_eq!(&buf[..], want.as_bytes());
            let mut short = vec![0u8; want.len() - 1];
            let mut w = MessageWriter::fields_only(&mut short);
            w.field_uint(tag, v);
            prop_assert_eq!(w.fields_len(), None);
            let mut d = [0u8; 20];
            let n = write_uint(v, &mut d);
            let text = v.to_string();
            prop_assert_eq!(&d[..n], text.as_bytes());
        }
    }
}
