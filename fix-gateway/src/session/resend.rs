//! Serving a ResendRequest from the outbound store.
//!
//! Stored application messages are re-sent under their original MsgSeqNum with
//! PossDupFlag(43)=Y, OrigSendingTime(122) = their original SendingTime and a fresh
//! SendingTime. Every run of sequence numbers with no stored message (admin messages,
//! which are never stored; application messages evicted from the store's bounded ring;
//! a stored message that cannot be re-encoded within `max_message_len`) becomes one
//! SequenceReset-GapFill (123=Y, 36 = the next sequence number after the run), itself
//! sent with PossDupFlag=Y. The walk streams the store's messages and allocates nothing
//! (only the session's outbox may grow to hold a long resend).

use crate::codec::decode::{decode, Decoded};
use crate::codec::encode::{BufferTooSmall, Header, MessageWriter};

/// Header tags replaced when re-encoding a stored message.
const REPLACED: &[u32] = &[35, 34, 49, 52, 56, 43, 97, 122];

/// Re-encodes `stored` for a resend into `buf`; returns the frame range.
pub(crate) fn possdup_copy(
    stored: &[u8],
    now_ns: u64,
    buf: &mut [u8],
) -> Result<core::ops::Range<usize>, BufferTooSmall> {
    let Decoded::Message { msg, .. } = decode(stored) else {
        return Err(BufferTooSmall);
    };
    let get = |t| msg.get(t).unwrap_or(b"");
    let seq = crate::codec::decode::parse_uint(get(34)).unwrap_or(0);
    let orig_time = get(52);
    let mut w = MessageWriter::new(
        buf,
        &Header {
            msg_type: msg.msg_type(),
            seq_num: seq,
            sender_comp_id: get(49),
            target_comp_id: get(56),
            sending_time_ns: now_ns,
        },
    );
    w.field_bool(43, true).field(122, orig_time);
    for (tag, v) in msg.fields().filter_map(|f| f.ok()) {
        if !REPLACED.contains(&tag) {
            w.field(tag, v);
        }
    }
    w.finish()
}

/// Appends a SequenceReset-GapFill `from → new_seq` (43=Y, 123=Y, 36=new_seq) to
/// `outbox`, encoded in `scratch`.
pub(crate) fn push_gap_fill(
    our_comp_id: &[u8],
    their_comp_id: &[u8],
    from: u64,
    new_seq: u64,
    now_ns: u64,
    scratch: &mut [u8],
    outbox: &mut Vec<u8>,
) {
    let h = Header {
        msg_type: b"4",
        seq_num: from,
        sender_comp_id: our_comp_id,
        target_comp_id: their_comp_id,
        sending_time_ns: now_ns,
    };
    let mut w = MessageWriter::new(scratch, &h);
    w.field_bool(43, true)
        .field_bool(123, true)
        .field_uint(36, new_seq);
    if let Ok(r) = w.finish() {
        outbox.extend_from_slice(&scratch[r]);
    }
}

/// Walks the resend of `begin..=end` as the store yields its retained messages in
/// ascending order, without allocating: every run of sequence numbers with no usable
/// stored message (admin messages, evicted or unstorable ones) becomes one gap fill.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    /// First sequence number not yet covered.
    next: u64,
    end: u64,
}

impl Walk {
    pub(crate) fn new(begin: u64, end: u64) -> Walk {
        Walk { next: begin, end }
    }

    /// A stored message `seq`: `None` to skip it (outside the range or already covered),
    /// else `Some(gap)` with the gap fill `(from, new_seq_no)` to send before it, if any.
    /// The gap is then covered; call [`Walk::sent`] once the message itself is sent (if
    /// it cannot be, its number joins the next gap).
    pub(crate) fn message(&mut self, seq: u64) -> Option<Option<(u64, u64)>> {
        if seq < self.next || seq > self.end {
            return None;
        }
        let gap = (seq > self.next).then_some((self.next, seq));
        self.next = seq;
        Some(gap)
    }

    /// Message `seq` (just accepted by [`Walk::message`]) was sent.
    pub(crate) fn sent(&mut self, seq: u64) {
        self.next = seq + 1;
    }

    /// The final gap fill `(from, end + 1)`, if the range is not yet covered.
    pub(crate) fn finish(&self) -> Option<(u64, u64)> {
        (self.next <= self.end).then_some((self.next, self.end + 1))
    }
}
