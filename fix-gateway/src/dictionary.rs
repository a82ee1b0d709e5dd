//! FIX 4.4 dictionary validation for the messages Tachyon supports.
//!
//! [`validate`] walks a decoded message once and reports the first problem as the
//! SessionRejectReason(373) the spec prescribes, with RefTagID(371) and a Text(58), or as
//! a BusinessMessageReject(j) when the MsgType is valid FIX 4.4 but not one we handle
//! (380=3). It does not allocate: repeated tags are found with a fixed bitset over the
//! tags this dictionary knows (every tag it accepts is below [`MAX_TAG`]).
//!
//! Supported: admin `A 0 1 2 3 4 5`; application `D F G H q AF V`. The custom tag
//! [`TAG_STP_MODE`] (7928) carries the self-trade prevention mode on D and G.

use crate::codec::decimal::parse_fixed;
use crate::codec::decode::{parse_int, parse_uint, FieldError, Message};
use crate::codec::time::parse_utc_timestamp;

/// Custom tag 7928 `SelfTradePreventionMode` (int): 1 cancel newest (the incoming
/// order), 2 cancel oldest (the resting order), 3 cancel both, 4 decrement both by the
/// smaller quantity. Absent = 1 (cancel newest).
pub const TAG_STP_MODE: u32 = 7928;

/// Tags are checked for repetition with a bitset of this many bits.
pub const MAX_TAG: u32 = 8192;

/// SessionRejectReason(373) values we emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SessionRejectReason {
    /// 0: tag number unknown or not a positive integer.
    InvalidTagNumber = 0,
    /// 1: required tag missing.
    RequiredTagMissing = 1,
    /// 2: tag not defined for this message type.
    TagNotDefinedForMsgType = 2,
    /// 4: tag specified without a value.
    TagWithoutValue = 4,
    /// 5: value is incorrect (out of range) for this tag.
    ValueOutOfRange = 5,
    /// 6: incorrect data format for value.
    IncorrectDataFormat = 6,
    /// 9: CompID problem.
    CompIdProblem = 9,
    /// 10: SendingTime accuracy problem.
    SendingTimeAccuracy = 10,
    /// 11: invalid MsgType.
    InvalidMsgType = 11,
    /// 13: tag appears more than once.
    TagAppearsMoreThanOnce = 13,
    /// 14: tag specified out of required order.
    TagOutOfOrder = 14,
    /// 15: repeating group fields out of order.
    GroupFieldsOutOfOrder = 15,
    /// 16: incorrect NumInGroup count for repeating group.
    IncorrectNumInGroup = 16,
}

/// A session-level Reject(3) to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionReject {
    /// SessionRejectReason(373).
    pub reason: SessionRejectReason,
    /// RefTagID(371), when a tag is at fault.
    pub ref_tag: Option<u32>,
    /// Text(58).
    pub text: &'static str,
}

/// Why a message is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Reject(3).
    Session(SessionReject),
    /// BusinessMessageReject(j) with BusinessRejectReason(380)=3, unsupported type.
    UnsupportedMsgType,
}

/// Data formats of FIX 4.4 fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Int,
    /// SeqNum, Length, NumInGroup: non-negative int.
    UInt,
    /// Price, Qty, Amt: decimal.
    Decimal,
    Str,
    Char,
    Bool,
    UtcTimestamp,
    /// Raw bytes (length-prefixed).
    Data,
    /// Space-separated chars (ExecInst).
    MultiChar,
}

/// `(tag, type, allowed values)`; an empty slice means any value of the type.
type FieldDef = (u32, Ty, &'static [&'static [u8]]);

const FIELDS: &[FieldDef] = &[
    (1, Ty::Str, &[]),
    (7, Ty::UInt, &[]),
    (8, Ty::Str, &[]),
    (9, Ty::UInt, &[]),
    (10, Ty::Str, &[]),
    (11, Ty::Str, &[]),
    (16, Ty::UInt, &[]),
    (18, Ty::MultiChar, &[b"6"]), // 6 = participate don't initiate (post-only); nothing else
    (34, Ty::UInt, &[]),
    (35, Ty::Str, &[]),
    (36, Ty::UInt, &[]),
    (37, Ty::Str, &[]),
    (38, Ty::Decimal, &[]),
    (40, Ty::Char, &[b"1", b"2"]), // market, limit
    (41, Ty::Str, &[]),
    (43, Ty::Bool, &[]),
    (44, Ty::Decimal, &[]),
    (45, Ty::UInt, &[]),
    (49, Ty::Str, &[]),
    (50, Ty::Str, &[]),
    (52, Ty::UtcTimestamp, &[]),
    (54, Ty::Char, &[b"1", b"2"]), // buy, sell
    (55, Ty::Str, &[]),
    (56, Ty::Str, &[]),
    (57, Ty::Str, &[]),
    (58, Ty::Str, &[]),
    (59, Ty::Char, &[b"1", b"3", b"4", b"6"]), // GTC, IOC, FOK, GTD (no Day session)
    (60, Ty::UtcTimestamp, &[]),
    (89, Ty::Data, &[]),
    (93, Ty::UInt, &[]),
    (95, Ty::UInt, &[]),
    (96, Ty::Data, &[]),
    (97, Ty::Bool, &[]),
    (98, Ty::Int, &[b"0"]), // EncryptMethod: none
    (108, Ty::UInt, &[]),
    (112, Ty::Str, &[]),
    (115, Ty::Str, &[]),
    (122, Ty::UtcTimestamp, &[]),
    (123, Ty::Bool, &[]),
    (126, Ty::UtcTimestamp, &[]),
    (128, Ty::Str, &[]),
    (141, Ty::Bool, &[]),
    (146, Ty::UInt, &[]),
    (152, Ty::Decimal, &[]),
    (262, Ty::Str, &[]),
    (263, Ty::Char, &[b"0", b"1", b"2"]), // snapshot, subscribe, unsubscribe
    (264, Ty::UInt, &[]),
    (265, Ty::Int, &[b"0", b"1"]), // full refresh, incremental
    (267, Ty::UInt, &[]),
    (269, Ty::Char, &[b"0", b"1", b"2"]), // bid, offer, trade
    (354, Ty::UInt, &[]),
    (355, Ty::Data, &[]),
    (369, Ty::UInt, &[]),
    (371, Ty::UInt, &[]),
    (372, Ty::Str, &[]),
    (373, Ty::Int, &[]),
    (383, Ty::UInt, &[]),
    (384, Ty::UInt, &[]),
    (385, Ty::Char, &[b"R", b"S"]),
    (464, Ty::Bool, &[]),
    (526, Ty::Str, &[]),
    (530, Ty::Char, &[b"1", b"7"]), // cancel for security, cancel all
    (553, Ty::Str, &[]),
    (554, Ty::Str, &[]),
    (584, Ty::Str, &[]),
    (585, Ty::Int, &[b"1", b"7"]), // status for security, all orders
    (789, Ty::UInt, &[]),
    (790, Ty::Str, &[]),
    (TAG_STP_MODE, Ty::Int, &[b"1", b"2", b"3", b"4"]),
];

/// Standard header fields allowed after 35 (before any body field).
const HEADER: &[u32] = &[34, 49, 56, 52, 43, 97, 122, 50, 57, 115, 128, 369];

/// Repeating group: NumInGroup tag, delimiter (first) tag, member tags in order.
type GroupDef = (u32, &'static [u32]);

struct MsgDef {
    msg_type: &'static [u8],
    required: &'static [u32],
    optional: &'static [u32],
    groups: &'static [GroupDef],
}

const MSGS: &[MsgDef] = &[
    MsgDef {
        msg_type: b"A",
        required: &[98, 108],
        optional: &[141, 789, 383, 464, 553, 554, 95, 96, 384],
        groups: &[(384, &[372, 385])],
    },
    MsgDef {
        msg_type: b"0",
        required: &[],
        optional: &[112],
        groups: &[],
    },
    MsgDef {
        msg_type: b"1",
        required: &[112],
        optional: &[],
        groups: &[],
    },
    MsgDef {
        msg_type: b"2",
        required: &[7, 16],
        optional: &[],
        groups: &[],
    },
    MsgDef {
        msg_type: b"3",
        required: &[45],
        optional: &[371, 372, 373, 58, 354, 355],
        groups: &[],
    },
    MsgDef {
        msg_type: b"4",
        required: &[36],
        optional: &[123],
        groups: &[],
    },
    MsgDef {
        msg_type: b"5",
        required: &[],
        optional: &[58, 354, 355],
        groups: &[],
    },
    MsgDef {
        msg_type: b"D",
        required: &[11, 55, 54, 60, 40],
        optional: &[1, 526, 38, 152, 44, 59, 126, 18, TAG_STP_MODE, 58],
        groups: &[],
    },
    MsgDef {
        msg_type: b"F",
        required: &[11, 55, 54, 60],
        optional: &[41, 37, 1, 38, 58],
        groups: &[],
    },
    MsgDef {
        msg_type: b"G",
        required: &[11, 55, 54, 60, 40],
        // The engine's replace changes price and quantity only: ExecInst, ExpireTime and
        // STP cannot be amended, so they are refused (373=2) rather than ignored.
        // TimeInForce is accepted because clients commonly echo it; it is not applied.
        optional: &[41, 37, 1, 38, 44, 59, 58],
        groups: &[],
    },
    MsgDef {
        msg_type: b"H",
        required: &[11, 55, 54],
        optional: &[37, 790, 1],
        groups: &[],
    },
    MsgDef {
        msg_type: b"q",
        required: &[11, 530, 60],
        optional: &[1, 55, 54, 58],
        groups: &[],
    },
    MsgDef {
        msg_type: b"AF",
        required: &[584, 585],
        optional: &[1, 55, 54],
        groups: &[],
    },
    MsgDef {
        msg_type: b"V",
        required: &[262, 263, 264, 267, 146],
        optional: &[265],
        groups: &[(267, &[269]), (146, &[55])],
    },
];

/// Trailer fields other than CheckSum (which the decoder already stripped).
const TRAILER: &[u32] = &[93, 89];

fn field_def(tag: u32) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.0 == tag)
}

/// True for MsgType values defined by FIX 4.4 (`0`-`9`, `A`-`Z` but `I O U`, `a`-`z`,
/// `AA`-`AZ`, `BA`-`BH`).
pub fn is_fix44_msg_type(t: &[u8]) -> bool {
    match t {
        [c] => {
            c.is_ascii_digit()
                || c.is_ascii_lowercase()
                || (c.is_ascii_uppercase() && !matches!(c, b'I' | b'O' | b'U'))
        }
        [b'A', c] => c.is_ascii_uppercase(),
        [b'B', c] => (b'A'..=b'H').contains(c),
        _ => false,
    }
}

fn reject(reason: SessionRejectReason, ref_tag: Option<u32>, text: &'static str) -> Invalid {
    Invalid::Session(SessionReject {
        reason,
        ref_tag,
        text,
    })
}

fn check_format(tag: u32, ty: Ty, v: &[u8]) -> bool {
    match ty {
        Ty::Int => parse_int(v).is_some(),
        Ty::UInt => parse_uint(v).is_some(),
        Ty::Decimal => parse_fixed(v).is_ok(),
        Ty::Str => v.iter().all(|&b| b >= 0x20 && b != 0x7f),
        Ty::Char => v.len() == 1 && v[0] > 0x20 && v[0] < 0x7f,
        Ty::Bool => v == b"Y" || v == b"N",
        Ty::UtcTimestamp => parse_utc_timestamp(v).is_some(),
        Ty::Data => true,
        Ty::MultiChar => v.split(|&b| b == b' ').all(|c| c.len() == 1) && tag != 0,
    }
}

fn check_enum(allowed: &[&[u8]], ty: Ty, v: &[u8]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    if ty == Ty::MultiChar {
        return v.split(|&b| b == b' ').all(|c| allowed.contains(&c));
    }
    allowed.contains(&v)
}

/// Validates `msg` against the dictionary. `Ok(())` means every field is known for its
/// type, well-formed, in range, not repeated, in header-then-body order, groups are
/// consistent, and required fields are present.
pub fn validate(msg: &Message<'_>) -> Result<(), Invalid> {
    let t = msg.msg_type();
    let Some(def) = MSGS.iter().find(|d| d.msg_type == t) else {
        return Err(if is_fix44_msg_type(t) {
            Invalid::UnsupportedMsgType
        } else {
            reject(
                SessionRejectReason::InvalidMsgType,
                Some(35),
                "Invalid MsgType",
            )
        });
    };
    let mut seen = [0u64; (MAX_TAG / 64) as usize];
    // Tags inside a group are allowed to repeat: one bitset per entry would need state
    // per group; instead members are tracked per entry with a small bitmask over the
    // group's member list (at most 64 members).
    let mut in_body = false;
    let mut in_trailer = false;
    // Active group: (def, entries declared, entries seen, member-seen mask of this entry).
    let mut group: Option<(&GroupDef, u64, u64, u64)> = None;
    let mut fields = msg.fields();
    fields.next(); // 35, already checked by the decoder
    set(&mut seen, 35);
    for f in fields {
        let (tag, v) = match f {
            Ok(x) => x,
            Err(FieldError::InvalidTag) => {
                return Err(reject(
                    SessionRejectReason::InvalidTagNumber,
                    None,
                    "Invalid tag number",
                ))
            }
            Err(FieldError::MissingValue { tag }) => {
                return Err(reject(
                    SessionRejectReason::TagWithoutValue,
                    Some(tag),
                    "Tag specified without a value",
                ))
            }
            Err(FieldError::BadDataLength { tag }) => {
                return Err(reject(
                    SessionRejectReason::IncorrectDataFormat,
                    Some(tag),
                    "Data length does not match",
                ))
            }
        };
        let Some(&(_, ty, allowed)) = field_def(tag) else {
            return Err(reject(
                SessionRejectReason::InvalidTagNumber,
                Some(tag),
                "Invalid tag number",
            ));
        };
        // Group handling first: members may repeat across entries.
        if let Some((g, declared, entries, mask)) = group.as_mut() {
            if let Some(k) = g.1.iter().position(|&m| m == tag) {
                let bit = 1u64 << k;
                if k == 0 {
                    *entries += 1;
                    *mask = bit;
                    if *entries > *declared {
                        return Err(reject(
                            SessionRejectReason::IncorrectNumInGroup,
                            Some(g.0),
                            "Incorrect NumInGroup count for repeating group",
                        ));
                    }
                } else if *entries == 0 || *mask & bit != 0 || *mask >> k != 0 {
                    return Err(reject(
                        SessionRejectReason::GroupFieldsOutOfOrder,
                        Some(tag),
                        "Repeating group fields out of order",
                    ));
                } else {
                    *mask |= bit;
                }
                if !check_format(tag, ty, v) {
                    return Err(reject(
                        SessionRejectReason::IncorrectDataFormat,
                        Some(tag),
                        "Incorrect data format for value",
                    ));
                }
                if !check_enum(allowed, ty, v) {
                    return Err(reject(
                        SessionRejectReason::ValueOutOfRange,
                        Some(tag),
                        "Value is incorrect (out of range) for this tag",
                    ));
                }
                continue;
            }
            // Group ended: entry count must match.
            if *entries != *declared {
                return Err(reject(
                    SessionRejectReason::IncorrectNumInGroup,
                    Some(g.0),
                    "Incorrect NumInGroup count for repeating group",
                ));
            }
            group = None;
        }
        if get(&seen, tag) {
            return Err(reject(
                SessionRejectReason::TagAppearsMoreThanOnce,
                Some(tag),
                "Tag appears more than once",
            ));
        }
        set(&mut seen, tag);
        let is_header = HEADER.contains(&tag);
        let is_trailer = TRAILER.contains(&tag);
        if is_header {
            if in_body || in_trailer {
                return Err(reject(
                    SessionRejectReason::TagOutOfOrder,
                    Some(tag),
                    "Tag specified out of required order",
                ));
            }
        } else if is_trailer {
            in_trailer = true;
        } else {
            if in_trailer {
                return Err(reject(
                    SessionRejectReason::TagOutOfOrder,
                    Some(tag),
                    "Tag specified out of required order",
                ));
            }
            in_body = true;
            if !def.required.contains(&tag) && !def.optional.contains(&tag) {
                // Group members outside their group are out of order, not undefined.
                if def.groups.iter().any(|g| g.1.contains(&tag)) {
                    return Err(reject(
                        SessionRejectReason::GroupFieldsOutOfOrder,
                        Some(tag),
                        "Repeating group fields out of order",
                    ));
                }
                return Err(reject(
                    SessionRejectReason::TagNotDefinedForMsgType,
                    Some(tag),
                    "Tag not defined for this message type",
                ));
            }
        }
        if !check_format(tag, ty, v) {
            return Err(reject(
                SessionRejectReason::IncorrectDataFormat,
                Some(tag),
                "Incorrect data format for value",
            ));
        }
        if !check_enum(allowed, ty, v) {
            return Err(reject(
                SessionRejectReason::ValueOutOfRange,
                Some(tag),
                "Value is incorrect (out of range) for this tag",
            ));
        }
        if let Some(g) = def.groups.iter().find(|g| g.0 == tag) {
            let n = parse_uint(v).unwrap_or(0);
            if n > 64 {
                return Err(reject(
                    SessionRejectReason::IncorrectNumInGroup,
                    Some(tag),
                    "Incorrect NumInGroup count for repeating group",
                ));
            }
            if n > 0 {
                group = Some((g, n, 0, 0));
            }
        }
    }
    if let Some((g, declared, entries, _)) = group {
        if entries != declared {
            return Err(reject(
                SessionRejectReason::IncorrectNumInGroup,
                Some(g.0),
                "Incorrect NumInGroup count for repeating group",
            ));
        }
    }
    for &tag in [34u32, 49, 52, 56].iter().chain(def.required) {
        if !get(&seen, tag) {
            return Err(reject(
                SessionRejectReason::RequiredTagMissing,
                Some(tag),
                "Required tag missing",
            ));
        }
    }
    Ok(())
}

#[inline]
fn set(bits: &mut [u64], tag: u32) {
    bits[(tag / 64) as usize] |= 1 << (tag % 64);
}

#[inline]
fn get(bits: &[u64], tag: u32) -> bool {
    bits[(tag / 64) as usize] & (1 << (tag % 64)) != 0
}
