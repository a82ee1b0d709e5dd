//! Frame detection and zero-copy field iteration.
//!
//! A frame is `8=FIX.4.4␁9=<len>␁<body>10=<ddd>␁` where `<len>` counts the bytes of
//! `<body>` (from the `35=` field up to and including the SOH before `10=`), and `ddd` is
//! the sum of every byte before `10=` modulo 256, as exactly three digits. The FIX spec
//! says a garbled frame (wrong BodyLength, wrong CheckSum, MsgType not third) is ignored
//! without consuming a sequence number, so [`decode`] reports it as [`Decoded::Garbled`]
//! and leaves the decision to the session.

use super::SOH;

/// Largest BodyLength we accept; a longer claim is treated as garbled so a hostile peer
/// cannot make us buffer without bound.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// `8=FIX.4.4␁9=`: the fixed start of every frame.
const PREFIX: &[u8] = b"8=FIX.4.4\x019=";

/// Why a frame was discarded as garbled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garble {
    /// `8=` is followed by something other than `FIX.4.4␁`.
    BadBeginString,
    /// BodyLength(9) is missing, not a number, too large, or does not land on `10=`.
    BadBodyLength,
    /// CheckSum(10) is not three digits or does not match the bytes.
    BadCheckSum,
    /// The first body field is not MsgType(35) with a value.
    MsgTypeNotThird,
}

/// What [`decode`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// No complete frame yet. The first `skip` bytes are garbage before any possible
    /// frame start and may be dropped; keep the rest and read more.
    Incomplete {
        /// Leading bytes that can be discarded.
        skip: usize,
    },
    /// A well-framed message with a correct checksum.
    Message {
        /// The message (borrowing the buffer).
        msg: Message<'a>,
        /// Bytes to drop from the buffer, garbage prefix included.
        consumed: usize,
    },
    /// A garbled frame to be ignored; drop `consumed` bytes and decode again.
    Garbled {
        /// Bytes to drop (garbage prefix plus enough to move past this frame start).
        consumed: usize,
        /// What was wrong.
        error: Garble,
    },
}

/// A framed FIX message: slices into the receive buffer, nothing copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    frame: &'a [u8],
    body_start: usize,
    body_end: usize,
    msg_type: &'a [u8],
}

/// A malformed field met while iterating a message's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The tag is empty, not all digits, zero, or does not fit a u32 (373=0).
    InvalidTag,
    /// `tag=` with an empty value (373=4).
    MissingValue {
        /// The tag.
        tag: u32,
    },
    /// A data field (e.g. RawData(96)) whose declared length overruns the body, or a
    /// field without its terminating SOH (373=6 on the data tag).
    BadDataLength {
        /// The data tag.
        tag: u32,
    },
}

/// Finds the first frame in `buf`. Never panics, never allocates.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    // Skip garbage: a frame starts at `8=FIX.4.4␁9=`. Keep a tail that could be the
    // beginning of that prefix.
    let start = match find_prefix_start(buf) {
        Ok(i) => i,
        Err(skip) => return Decoded::Incomplete { skip },
    };
    let f = &buf[start..];
    if f.len() < PREFIX.len() {
        return Decoded::Incomplete { skip: start };
    }
    if &f[..PREFIX.len()] != PREFIX {
        // `8=` but another version, or a broken header.
        let error = if f.starts_with(b"8=FIX.4.4\x01") {
            Garble::BadBodyLength
        } else {
            Garble::BadBeginString
        };
        return Decoded::Garbled {
            consumed: start + 2,
            error,
        };
    }
    // BodyLength digits up to SOH.
    let mut i = PREFIX.len();
    let mut body_len: usize = 0;
    let digits_start = i;
    loop {
        let Some(&b) = f.get(i) else {
            return Decoded::Incomplete { skip: start };
        };
        if b == SOH {
            break;
        }
        if !b.is_ascii_digit() || i - digits_start >= 6 {
            return Decoded::Garbled {
                consumed: start + 2,
                error: Garble::BadBodyLength,
            };
        }
        body_len = body_len * 10 + (b - b'0') as usize;
        i += 1;
    }
    if i == digits_start || body_len > MAX_BODY_LEN || body_len == 0 {
        return Decoded::Garbled {
            consumed: start + 2,
            error: Garble::BadBodyLength,
        };
    }
    let body_start = i + 1;
    let body_end = body_start + body_len;
    let frame_end = body_end + 7; // "10=ddd␁"
    if f.len() < frame_end {
        return Decoded::Incomplete { skip: start };
    }
    if f[body_end - 1] != SOH || &f[body_end..body_end + 3] != b"10=" || f[body_end + 6] != SOH {
        return Decoded::Garbled {
            consumed: start + 2,
            error: Garble::BadBodyLength,
        };
    }
    let ck = &f[body_end + 3..body_end + 6];
    if !ck.iter().all(u8::is_ascii_digit) {
        return Decoded::Garbled {
            consumed: start + frame_end,
            error: Garble::BadCheckSum,
        };
    }
    let declared = (ck[0] - b'0') as u32 * 100 + (ck[1] - b'0') as u32 * 10 + (ck[2] - b'0') as u32;
    if declared != checksum(&f[..body_end]) as u32 {
        return Decoded::Garbled {
            consumed: start + frame_end,
            error: Garble::BadCheckSum,
        };
    }
    // MsgType must be the first body field and non-empty.
    let body = &f[body_start..body_end];
    let Some(rest) = body.strip_prefix(b"35=") else {
        return Decoded::Garbled {
            consumed: start + frame_end,
            error: Garble::MsgTypeNotThird,
        };
    };
    let type_len = rest.iter().position(|&b| b == SOH).unwrap_or(0);
    if type_len == 0 {
        return Decoded::Garbled {
            consumed: start + frame_end,
            error: Garble::MsgTypeNotThird,
        };
    }
    let frame = &f[..frame_end];
    let msg = Message {
        frame,
        body_start,
        body_end,
        msg_type: &frame[body_start + 3..body_start + 3 + type_len],
    };
    Decoded::Message {
        msg,
        consumed: start + frame_end,
    }
}

/// `Ok(offset)` of the first possible frame start: `8=` at offset 0 or after SOH, or a
/// full `8=FIX.4.4␁` anywhere (garbage without a trailing SOH, e.g. line noise, must not
/// hide the next frame). `Err(skip)` when none, keeping a tail that may be a partial start.
fn find_prefix_start(buf: &[u8]) -> Result<usize, usize> {
    const START: &[u8] = b"8=FIX.4.4\x01";
    for i in 0..buf.len() {
        if buf[i] != b'8' {
            continue;
        }
        let rest = &buf[i..];
        if rest.len() < START.len() && START.starts_with(rest) {
            return Err(i);
        }
        if rest.starts_with(START) || ((i == 0 || buf[i - 1] == SOH) && rest.get(1) == Some(&b'='))
        {
            return Ok(i);
        }
        if (i == 0 || buf[i - 1] == SOH) && rest.len() == 1 {
            return Err(i);
        }
    }
    Err(buf.len())
}

/// Sum of the bytes modulo 256 (the CheckSum(10) value).
#[inline]
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

impl<'a> Message<'a> {
    /// MsgType(35).
    #[inline]
    pub fn msg_type(&self) -> &'a [u8] {
        self.msg_type
    }

    /// The whole frame, `8=` through the checksum's SOH.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.frame
    }

    /// The body fields in wire order, from MsgType(35) up to (not including)
    /// CheckSum(10). Data fields (RawData(96) and the like) are read by their declared
    /// length, so they may contain SOH.
    #[inline]
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            body: &self.frame[self.body_start..self.body_end],
            pos: 0,
            data_len: None,
        }
    }

    /// The first value of `tag`, or `None` (also `None` if the body is malformed before
    /// it; validation reports that). Linear scan: messages are short.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        for f in self.fields() {
            match f {
                Ok((t, v)) if t == tag => return Some(v),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Iterator over `(tag, value)` body fields; yields one `Err` then stops.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    body: &'a [u8],
    pos: usize,
    /// Set after a length field (e.g. RawDataLength(95)): the next field if it is the
    /// paired data tag has exactly this many bytes.
    data_len: Option<(u32, usize)>,
}

/// Length field → data field pairs of FIX 4.4 whose values may contain SOH.
pub(crate) const DATA_PAIRS: &[(u32, u32)] = &[
    (95, 96),
    (90, 91),
    (93, 89),
    (212, 213),
    (348, 349),
    (350, 351),
    (352, 353),
    (354, 355),
    (356, 357),
];

const DATA_LEN_TAGS_MIN: u32 = 90;
const DATA_LEN_TAGS_MAX: u32 = 356;
const _: () = {
    let mut i = 0;
    while i < DATA_PAIRS.len() {
        assert!(DATA_PAIRS[i].0 >= DATA_LEN_TAGS_MIN && DATA_PAIRS[i].0 <= DATA_LEN_TAGS_MAX);
        i += 1;
    }
};

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, &'a [u8]), FieldError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.body.len() {
            return None;
        }
        let rest = &self.body[self.pos..];
        let mut tag: u32 = 0;
        let mut i = 0;
        while i < rest.len() && rest[i] != b'=' {
            let b = rest[i];
            // Digits only, at most 9, no leading zero ("049" is not tag 49).
            if !b.is_ascii_digit() || i >= 9 || (i == 0 && b == b'0') {
                self.pos = self.body.len();
                return Some(Err(FieldError::InvalidTag));
            }
            tag = tag * 10 + (b - b'0') as u32;
            i += 1;
        }
        if i == 0 || i == rest.len() || tag == 0 {
            self.pos = self.body.len();
            return Some(Err(FieldError::InvalidTag));
        }
        let v_start = i + 1;
        let v_end = match self.data_len.take() {
            Some((data_tag, len)) if data_tag == tag => {
                let end = v_start + len;
                if end >= rest.len() || rest[end] != SOH {
                    self.pos = self.body.len();
                    return Some(Err(FieldError::BadDataLength { tag }));
                }
                end
            }
            _ => match rest[v_start..].iter().position(|&b| b == SOH) {
                Some(p) => v_start + p,
                None => {
                    self.pos = self.body.len();
                    return Some(Err(FieldError::BadDataLength { tag }));
                }
            },
        };
        let value = &rest[v_start..v_end];
        self.pos += v_end + 1;
        if value.is_empty() {
            self.pos = self.body.len();
            return Some(Err(FieldError::MissingValue { tag }));
        }
        // Length tags are 90..=356 (a cheap test that skips the table for most fields).
        if !(DATA_LEN_TAGS_MIN..=DATA_LEN_TAGS_MAX).contains(&tag) {
            return Some(Ok((tag, value)));
        }
        if let Some(&(_, data_tag)) = DATA_PAIRS.iter().find(|(len_tag, _)| *len_tag == tag) {
            if let Some(n) = parse_uint(value) {
                self.data_len = Some((data_tag, n as usize));
            }
        }
        Some(Ok((tag, value)))
    }
}

/// Parses unsigned decimal digits (no sign, at most 18 digits so it cannot overflow).
#[inline]
pub fn parse_uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as u64;
    }
    Some(n)
}

/// Parses a FIX int: optional `-`, then digits.
#[inline]
pub fn parse_int(v: &[u8]) -> Option<i64> {
    match v.split_first() {
        Some((b'-', rest)) => parse_uint(rest).map(|n| -(n as i64)),
        _ => parse_uint(v).map(|n| n as i64),
    }
}
