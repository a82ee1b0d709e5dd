//! Serving a ResendRequest from the outbound store.
//!
//! Stored application messages are re-sent under their original MsgSeqNum with
//! PossDupFlag(43)=Y, OrigSendingTime(122) = their original SendingTime and a fresh
//! SendingTime. Every run of sequence numbers with no stored message (admin messages,
//! which are never stored) becomes one SequenceReset-GapFill (123=Y, 36 = the next
//! sequence number after the run), itself sent with PossDupFlag=Y.

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

/// Plans the resend of `begin..=end`: `Ok(seq)` items are stored messages, `Err((from,
/// new_seq_no))` items are gap fills.
pub(crate) fn plan(
    begin: u64,
    end: u64,
    stored: &[(u64, Vec<u8>)],
) -> Vec<Result<usize, (u64, u64)>> {
    let mut out = Vec::new();
    let mut gap_start: Option<u64> = None;
    let mut next = begin;
    for (i, (seq, _)) in stored.iter().enumerate() {
        if *seq < begin || *seq > end {
            continue;
        }
        if *seq > next {
            gap_start.get_or_insert(next);
        }
        if let Some(g) = gap_start.take() {
            out.push(Err((g, *seq)));
        }
        out.push(Ok(i));
        next = seq + 1;
    }
    if next <= end {
        out.push(Err((next, end + 1)));
    }
    out
}
