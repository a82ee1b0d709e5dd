//! Fuzz the FIX codec end to end: framing, field iteration, dictionary validation and
//! application-message parsing, with invariants checked on every input.
//!
//! Each input is used twice:
//!
//! 1. **As a raw byte stream** (what a client writes on the socket). It is decoded as a
//!    whole and again as the server's receive loop sees it, in chunks of pseudo-random
//!    sizes derived from the input (partial frames, frames split anywhere, many frames
//!    per read). Every `consumed`/`skip` must stay within the buffer and make progress,
//!    and both ways must yield exactly the same messages.
//! 2. **As message bodies** split on `\n`: each line is framed with a correct
//!    BodyLength(9) and CheckSum(10) (random mutations rarely keep a checksum right, so
//!    this is what lets the fuzzer reach validation and parsing) and the frames are
//!    concatenated into one stream. A body that starts with `35=<type>␁` and ends with SOH
//!    must decode to exactly that frame; anything else must be reported as garbled.
//!
//! Every decoded message then goes through [`check_message`]: the fields tile the body
//! exactly, `get` agrees with `fields`, validation and parsing never panic, a valid
//! message re-encoded with `MessageWriter` decodes, validates and parses to the same
//! thing, and timestamps and decimals in it round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use tachyon_fix_gateway::{
    checksum, decode, parse_app, parse_decimal, parse_utc_timestamp, validate, write_utc_timestamp,
    AppMessage, Decoded, Garble, Grid, Header, Invalid, Message, MessageWriter, MAX_BODY_LEN,
    TIMESTAMP_LEN,
};

fuzz_target!(|data: &[u8]| {
    raw_stream(data);
    framed_bodies(data);
});

/// Decodes `buf` as the server does: the frames of every message, in order, and how many
/// bytes were decided (the rest waits for more input). `check` runs [`check_message`].
fn decode_all(buf: &[u8], check: bool) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match decode(&buf[at..]) {
            Decoded::Message { msg, consumed } => {
                assert!(
                    consumed > 0 && consumed <= buf.len() - at,
                    "consumed {consumed}"
                );
                let frame = msg.as_bytes();
                // The frame is the tail of the consumed bytes.
                assert_eq!(&buf[at + consumed - frame.len()..at + consumed], frame);
                if check {
                    check_message(&msg);
                }
                out.push(frame);
                at += consumed;
            }
            Decoded::Garbled { consumed, .. } => {
                assert!(
                    consumed > 0 && consumed <= buf.len() - at,
                    "consumed {consumed}"
                );
                at += consumed;
            }
            Decoded::Incomplete { skip } => {
                assert!(skip <= buf.len() - at, "skip {skip}");
                at += skip;
                break;
            }
        }
    }
    (out, at)
}

fn raw_stream(data: &[u8]) {
    let (whole, _) = decode_all(data, true);

    // The same bytes arriving in chunks, through a receive buffer that keeps the
    // undecided tail (the server's `process` loop, without its size cap).
    let mut rng = Rng::new(data);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunked: Vec<Vec<u8>> = Vec::new();
    let mut fed = 0;
    while fed < data.len() {
        let n = match rng.next() % 4 {
            0 => 1,
            1 => 1 + (rng.next() % 8) as usize,
            2 => 1 + (rng.next() % 64) as usize,
            _ => 1 + (rng.next() % 512) as usize,
        }
        .min(data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        let (frames, at) = decode_all(&buf, false);
        chunked.extend(frames.into_iter().map(<[u8]>::to_vec));
        buf.drain(..at);
    }
    assert_eq!(
        whole.len(),
        chunked.len(),
        "chunked delivery changed the decoded messages"
    );
    for (w, c) in whole.iter().zip(&chunked) {
        assert_eq!(*w, &c[..], "chunked delivery changed a decoded message");
    }
}

/// `8=FIX.4.4␁9=<len>␁<body>10=<ck>␁`.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(body);
    let ck = checksum(&out);
    out.extend_from_slice(format!("10={ck:03}\x01").as_bytes());
    out
}

fn framed_bodies(data: &[u8]) {
    let bodies: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|b| !b.is_empty())
        .collect();
    let mut stream = Vec::new();
    let mut frames = Vec::new();
    for b in &bodies {
        let f = frame(b);
        frames.push(stream.len()..stream.len() + f.len());
        stream.extend_from_slice(&f);
    }
    // Frame by frame: the decoder must recognise each one exactly.
    for (body, range) in bodies.iter().zip(&frames) {
        let f = &stream[range.clone()];
        let type_ok = body
            .strip_prefix(b"35=")
            .and_then(|r| r.iter().position(|&b| b == 0x01))
            .is_some_and(|n| n > 0);
        let len_ok = body.len() <= MAX_BODY_LEN && body.last() == Some(&0x01);
        match decode(f) {
            Decoded::Message { msg, consumed } => {
                assert!(type_ok && len_ok, "decoded a frame that should be garbled");
                assert_eq!(consumed, f.len());
                assert_eq!(msg.as_bytes(), f);
                check_message(&msg);
            }
            Decoded::Garbled { error, consumed } => {
                assert!(!(type_ok && len_ok), "garbled a good frame: {error:?}");
                assert!(consumed > 0 && consumed <= f.len());
                if len_ok {
                    assert_eq!(error, Garble::MsgTypeNotThird);
                    assert_eq!(consumed, f.len());
                } else {
                    assert_eq!(error, Garble::BadBodyLength);
                }
            }
            Decoded::Incomplete { .. } => panic!("a whole frame reported incomplete"),
        }
    }
    // The concatenation, as one buffer: every good frame must come out, in order.
    let (got, _) = decode_all(&stream, false);
    let want: Vec<&[u8]> = bodies
        .iter()
        .zip(&frames)
        .filter(|(b, _)| {
            b.len() <= MAX_BODY_LEN
                && b.last() == Some(&0x01)
                && b.strip_prefix(b"35=")
                    .and_then(|r| r.iter().position(|&c| c == 0x01))
                    .is_some_and(|n| n > 0)
        })
        .map(|(_, r)| &stream[r.clone()])
        .collect();
    // A garbled frame is skipped by 2 bytes and scanning resumes inside it, so its body
    // may hide a frame of its own (or swallow the next frame's start). Only when every
    // frame is good is the result exact.
    if want.len() == bodies.len() {
        assert_eq!(
            got, want,
            "well-framed messages lost or changed in a stream"
        );
    }
}

/// The header fields `MessageWriter::new` writes itself.
const WRITER_HEADER: [u32; 5] = [35, 34, 49, 52, 56];

fn check_message(msg: &Message<'_>) {
    let frame = msg.as_bytes();
    // Framing: prefix, BodyLength, CheckSum.
    let rest = frame.strip_prefix(b"8=FIX.4.4\x019=").expect("prefix");
    let digits = rest.iter().position(|&b| b == 0x01).expect("9 ends");
    let body_len: usize = std::str::from_utf8(&rest[..digits])
        .unwrap()
        .parse()
        .unwrap();
    let body = &rest[digits + 1..rest.len() - 7];
    assert_eq!(body.len(), body_len);
    assert!(body_len > 0 && body_len <= MAX_BODY_LEN);
    let tail = &frame[frame.len() - 7..];
    let ck = checksum(&frame[..frame.len() - 7]);
    assert_eq!(tail, format!("10={ck:03}\x01").as_bytes());

    // Fields: at most one error, last; when none, they tile the body exactly.
    let fields: Vec<_> = msg.fields().collect();
    let n_ok = fields.iter().take_while(|f| f.is_ok()).count();
    assert!(n_ok + 1 >= fields.len(), "fields continue after an error");
    assert!(n_ok >= 1, "MsgType must be the first field");
    let ok: Vec<(u32, &[u8])> = fields[..n_ok].iter().map(|f| f.unwrap()).collect();
    assert_eq!(ok[0], (35, msg.msg_type()));
    if n_ok == fields.len() {
        // `tag=value␁` one after the other (the tag may carry leading zeros).
        let mut pos = 0;
        for (t, v) in &ok {
            while body[pos] == b'0' {
                pos += 1;
            }
            let field = format!("{t}=");
            assert!(
                body[pos..].starts_with(field.as_bytes()),
                "tag {t} not at {pos}"
            );
            pos += field.len();
            assert_eq!(&body[pos..pos + v.len()], *v, "value of {t}");
            pos += v.len();
            assert_eq!(body[pos], 0x01, "no SOH after {t}");
            pos += 1;
        }
        assert_eq!(pos, body.len(), "fields do not tile the body");
    }
    for &(t, v) in &ok {
        assert!(t > 0 && !v.is_empty());
        let first = ok.iter().find(|(t2, _)| *t2 == t).unwrap().1;
        assert_eq!(msg.get(t), Some(first));
    }
    for t in [1, 7, 11, 34, 44, 55, 96, 999_999_999] {
        if !ok.iter().any(|(t2, _)| *t2 == t) && n_ok == fields.len() {
            assert_eq!(msg.get(t), None);
        }
    }

    // Values of well-known types round-trip wherever they appear.
    for &(t, v) in &ok {
        match t {
            52 | 60 | 122 | 126 => check_timestamp(v),
            38 | 44 | 152 => check_decimal(v),
            _ => {}
        }
    }

    // Validation and parsing never panic, whatever the message (parse_app is documented
    // for validated messages, but it is public: it must not panic on others either).
    let verdict = validate(msg);
    let parsed = parse_app(msg);
    if let Err(Invalid::Session(r)) = verdict {
        assert!(!r.text.is_empty());
    }
    if verdict.is_err() {
        return;
    }
    // Validated: well-formed, header present, app type parses (maybe a business reject).
    assert_eq!(n_ok, fields.len(), "validated a message with a bad field");
    for t in [34, 49, 52, 56] {
        assert!(msg.get(t).is_some(), "validated without {t}");
    }
    let is_app = matches!(
        msg.msg_type(),
        b"D" | b"F" | b"G" | b"H" | b"q" | b"AF" | b"V"
    );
    if !is_app {
        assert!(parsed.is_err());
    }

    // Re-encode with our encoder (header normalised to 35 34 49 52 56), decode again:
    // same fields, still valid, same parse.
    let seq: u64 = std::str::from_utf8(msg.get(34).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    let sending_time_ns = parse_utc_timestamp(msg.get(52).unwrap()).unwrap();
    let mut buf = vec![0u8; frame.len() + 128];
    let mut w = MessageWriter::new(
        &mut buf,
        &Header {
            msg_type: msg.msg_type(),
            seq_num: seq,
            sender_comp_id: msg.get(49).unwrap(),
            target_comp_id: msg.get(56).unwrap(),
            sending_time_ns,
        },
    );
    for &(t, v) in &ok {
        if !WRITER_HEADER.contains(&t) {
            w.field(t, v);
        }
    }
    let range = w.finish().expect("re-encoded message fits");
    let again = match decode(&buf[range.clone()]) {
        Decoded::Message { msg, consumed } => {
            assert_eq!(consumed, range.len());
            msg
        }
        other => panic!("re-encoded message does not decode: {other:?}"),
    };
    assert_eq!(again.msg_type(), msg.msg_type());
    let strip = |m: &Message<'_>| -> Vec<(u32, Vec<u8>)> {
        m.fields()
            .map(|f| f.unwrap())
            .filter(|(t, _)| !WRITER_HEADER.contains(t))
            .map(|(t, v)| (t, v.to_vec()))
            .collect()
    };
    assert_eq!(strip(msg), strip(&again));
    assert_eq!(
        validate(&again),
        Ok(()),
        "re-encoded message no longer valid"
    );
    assert!(
        same_app(&parsed, &parse_app(&again)),
        "re-encoded message parses differently"
    );
}

/// Equal parses; MarketDataRequest carries its message, so compare what it exposes.
fn same_app(
    a: &Result<AppMessage<'_>, tachyon_fix_gateway::BusinessReject>,
    b: &Result<AppMessage<'_>, tachyon_fix_gateway::BusinessReject>,
) -> bool {
    match (a, b) {
        (Ok(AppMessage::MarketDataRequest(x)), Ok(AppMessage::MarketDataRequest(y))) => {
            x.req_id == y.req_id
                && x.subscription == y.subscription
                && x.depth == y.depth
                && x.incremental == y.incremental
                && x.full_refresh_requested() == y.full_refresh_requested()
                && x.symbols().eq(y.symbols())
                && x.entry_types().eq(y.entry_types())
        }
        (a, b) => a == b,
    }
}

fn check_timestamp(v: &[u8]) {
    let Some(ns) = parse_utc_timestamp(v) else {
        return;
    };
    let mut out = [0u8; TIMESTAMP_LEN];
    write_utc_timestamp(ns, &mut out);
    let back = parse_utc_timestamp(&out).expect("written timestamp parses");
    // u64 ns end in 2554, long before write's year-9999 clamp: always exact to the ms.
    assert_eq!(back, ns - ns % 1_000_000, "timestamp round trip");
    // Without a leap second and at ms precision, the text itself round-trips.
    if v.len() == TIMESTAMP_LEN && &v[15..17] != b"60" {
        assert_eq!(&out[..], v);
    }
}

fn check_decimal(v: &[u8]) {
    let Ok(d) = parse_decimal(v) else {
        return;
    };
    for step in [
        "0.01",
        "0.5",
        "1",
        "25",
        "0.00000001",
        "0.000000000000000001",
    ] {
        let grid = Grid::new(step.parse::<Decimal>().unwrap()).unwrap();
        let from_text = grid.parse(v);
        let from_dec = grid.to_steps(d);
        if from_text.is_ok() || from_dec.is_ok() {
            assert_eq!(
                from_text, from_dec,
                "grid {step}: text and Decimal disagree"
            );
        }
        if let Ok(steps) = from_text {
            let mut out = [0u8; 48];
            let n = grid.write(steps, &mut out);
            assert_eq!(
                parse_decimal(&out[..n]),
                Ok(d),
                "grid {step}: write round trip"
            );
            assert_eq!(grid.parse(&out[..n]), Ok(steps));
        }
    }
}

/// xorshift64*, seeded from the input so chunking is reproducible and mutates with it.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Rng {
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ data.len() as u64;
        for &b in data.iter().take(64) {
            h = (h ^ b as u64).wrapping_mul(0x1000_0000_01B3);
        }
        Rng(h | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
