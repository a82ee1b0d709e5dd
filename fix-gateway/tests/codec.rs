//! Codec tables: framing, field iteration, encoder, timestamps, decimals.
mod common;
use common::{frame, show};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::str::FromStr;
use tachyon_fix_gateway::*;

#[derive(Debug, PartialEq)]
enum Want {
    /// Message with MsgType and consumed bytes (None = whole input).
    Msg(&'static str, Option<usize>),
    Incomplete(usize),
    Garbled(Garble),
}

#[test]
fn decode_table() {
    let ok = frame("35=0|34=2|49=C|52=20261122-03:00:00.000|56=T|");
    let ok_len = ok.len();
    let mut garbage = b"xx18=junk\x01".to_vec();
    garbage.extend_from_slice(&ok);
    let mut bad_ck = ok.clone();
    let n = bad_ck.len();
    bad_ck[n - 2] = if bad_ck[n - 2] == b'9' { b'0' } else { b'9' };
    let bad_len = {
        let s = show(&ok).replacen("9=", "9=1", 1).replace('|', "\x01");
        s.into_bytes()
    };
    let not_digit_ck = {
        let mut b = ok.clone();
        b[n - 3] = b'x';
        b
    };
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("valid", ok.clone(), Want::Msg("0", Some(ok_len))),
        ("partial header", ok[..5].to_vec(), Want::Incomplete(0)),
        (
            "partial body",
            ok[..ok_len - 3].to_vec(),
            Want::Incomplete(0),
        ),
        (
            "garbage only",
            b"hello\x01world".to_vec(),
            Want::Incomplete(11),
        ),
        (
            "garbage then partial 8",
            b"junk\x018".to_vec(),
            Want::Incomplete(5),
        ),
        (
            "garbage prefix",
            garbage.clone(),
            Want::Msg("0", Some(garbage.len())),
        ),
        ("bad checksum", bad_ck, Want::Garbled(Garble::BadCheckSum)),
        (
            "checksum not digits",
            not_digit_ck,
            Want::Garbled(Garble::BadCheckSum),
        ),
        ("body length too long", bad_len, Want::Incomplete(0)),
        (
            "body length wrong",
            frame("35=0|34=2|")
                .iter()
                .map(|&b| if b == b'9' { b'9' } else { b })
                .collect::<Vec<_>>()[..]
                .to_vec(),
            Want::Msg("0", None),
        ),
        (
            "body length not a number",
            b"8=FIX.4.4\x019=ab\x0135=0\x0110=000\x01".to_vec(),
            Want::Garbled(Garble::BadBodyLength),
        ),
        (
            "body length short",
            b"8=FIX.4.4\x019=3\x0135=0\x0134=1\x0110=000\x01".to_vec(),
            Want::Garbled(Garble::BadBodyLength),
        ),
        (
            "other version",
            b"8=FIX.4.2\x019=5\x0135=0\x0110=000\x01".to_vec(),
            Want::Garbled(Garble::BadBeginString),
        ),
        (
            "msgtype not third",
            frame("34=1|35=0|"),
            Want::Garbled(Garble::MsgTypeNotThird),
        ),
        (
            "empty msgtype",
            frame("35=|34=1|"),
            Want::Garbled(Garble::MsgTypeNotThird),
        ),
        (
            "two frames: first only",
            [ok.clone(), ok.clone()].concat(),
            Want::Msg("0", Some(ok_len)),
        ),
    ];
    for (name, input, want) in cases {
        let got = match decode(&input) {
            Decoded::Message { msg, consumed } => {
                assert_eq!(
                    msg.as_bytes(),
                    &input[consumed - msg.as_bytes().len()..consumed],
                    "{name}"
                );
                Want::Msg(
                    Box::leak(
                        String::from_utf8(msg.msg_type().to_vec())
                            .unwrap()
                            .into_boxed_str(),
                    ),
                    Some(consumed),
                )
            }
            Decoded::Incomplete { skip } => Want::Incomplete(skip),
            Decoded::Garbled { error, .. } => Want::Garbled(error),
        };
        let want = match want {
            Want::Msg(t, None) => Want::Msg(t, Some(input.len())),
            w => w,
        };
        assert_eq!(got, want, "case {name}: {}", show(&input));
    }
}

#[test]
fn garbled_frames_are_skipped_and_next_frame_found() {
    let ok = frame("35=0|34=2|");
    let mut bad = ok.clone();
    let n = bad.len();
    bad[n - 2] ^= 1; // break the checksum
    let mut buf = [bad, b"noise".to_vec(), ok.clone()].concat();
    let mut messages = 0;
    let mut garbled = 0;
    for _ in 0..10 {
        match decode(&buf) {
            Decoded::Message { consumed, .. } => {
                messages += 1;
                buf.drain(..consumed);
            }
            Decoded::Garbled { consumed, .. } => {
                garbled += 1;
                buf.drain(..consumed);
            }
            Decoded::Incomplete { skip } => {
                buf.drain(..skip);
                break;
            }
        }
    }
    assert_eq!((messages, garbled, buf.len()), (1, 1, 0));
}

#[test]
fn field_iteration_table() {
    type Fs = Vec<Result<(u32, Vec<u8>), FieldError>>;
    let cases: Vec<(&str, &str, Fs)> = vec![
        (
            "plain",
            "35=D|11=abc|",
            vec![Ok((35, b"D".to_vec())), Ok((11, b"abc".to_vec()))],
        ),
        (
            "missing value",
            "35=D|11=|55=X|",
            vec![
                Ok((35, b"D".to_vec())),
                Err(FieldError::MissingValue { tag: 11 }),
            ],
        ),
        (
            "non-numeric tag",
            "35=D|1a=x|",
            vec![Ok((35, b"D".to_vec())), Err(FieldError::InvalidTag)],
        ),
        (
            "tag zero",
            "35=D|0=x|",
            vec![Ok((35, b"D".to_vec())), Err(FieldError::InvalidTag)],
        ),
        (
            "tag with a leading zero",
            "35=D|049=x|",
            vec![Ok((35, b"D".to_vec())), Err(FieldError::InvalidTag)],
        ),
        (
            "no equals",
            "35=D|abc|",
            vec![Ok((35, b"D".to_vec())), Err(FieldError::InvalidTag)],
        ),
        (
            "raw data with SOH",
            "35=A|95=3|96=a|b|98=0|",
            vec![
                Ok((35, b"A".to_vec())),
                Ok((95, b"3".to_vec())),
                Ok((96, b"a\x01b".to_vec())),
                Ok((98, b"0".to_vec())),
            ],
        ),
        (
            "raw data length overruns",
            "35=A|95=30|96=ab|",
            vec![
                Ok((35, b"A".to_vec())),
                Ok((95, b"30".to_vec())),
                Err(FieldError::BadDataLength { tag: 96 }),
            ],
        ),
        (
            "repeated tag is iterated",
            "35=0|34=1|34=2|",
            vec![
                Ok((35, b"0".to_vec())),
                Ok((34, b"1".to_vec())),
                Ok((34, b"2".to_vec())),
            ],
        ),
    ];
    for (name, body, want) in cases {
        let f = frame(body);
        let Decoded::Message { msg, .. } = decode(&f) else {
            panic!("{name}: not framed")
        };
        let got: Fs = msg
            .fields()
            .map(|r| r.map(|(t, v)| (t, v.to_vec())))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn encoder_writes_header_in_order_with_length_and_checksum() {
    let mut buf = [0u8; 256];
    let h = Header {
        msg_type: b"D",
        seq_num: 7,
        sender_comp_id: b"TACHYON",
        target_comp_id: b"C1",
        sending_time_ns: 1_700_000_000_123_456_789,
    };
    let mut w = MessageWriter::new(&mut buf, &h);
    w.field(11, b"ord-1").field_int(99, -5).field_bool(43, true);
    let r = w.finish().unwrap();
    let out = &buf[r];
    let want = frame("35=D|34=7|49=TACHYON|52=20231114-22:13:20.123|56=C1|11=ord-1|99=-5|43=Y|");
    assert_eq!(show(out), show(&want));
    assert!(matches!(decode(out), Decoded::Message { .. }));
}

#[test]
fn encoder_reports_small_buffer() {
    let h = Header {
        msg_type: b"0",
        seq_num: 1,
        sender_comp_id: b"A",
        target_comp_id: b"B",
        sending_time_ns: 0,
    };
    for size in [0, 10, 30, 60] {
        let mut buf = vec![0u8; size];
        let w = MessageWriter::new(&mut buf, &h);
        assert_eq!(w.finish(), Err(BufferTooSmall), "size {size}");
    }
}

#[test]
fn timestamp_table() {
    let cases: &[(u64, &str)] = &[
        (0, "19700101-00:00:00.000"),
        (951_782_400_000_000_000, "20000229-00:00:00.000"),
        (1_700_000_000_123_456_789, "20231114-22:13:20.123"),
        (1_795_316_645_999_000_000, "20261122-03:04:05.999"),
        (4_102_444_800_000_000_000, "21000101-00:00:00.000"),
    ];
    for &(ns, text) in cases {
        let mut out = [0u8; TIMESTAMP_LEN];
        write_utc_timestamp(ns, &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), text);
        assert_eq!(
            parse_utc_timestamp(text.as_bytes()),
            Some(ns - ns % 1_000_000),
            "{text}"
        );
    }
    assert_eq!(
        parse_utc_timestamp(b"20261122-03:00:00"),
        Some(1_795_316_400_000_000_000)
    );
    assert_eq!(
        parse_utc_timestamp(b"20261122-03:00:00.123456"),
        Some(parse_utc_timestamp(b"20261122-03:00:00").unwrap() + 123_456_000)
    );
    for bad in [
        "20261322-00:00:00",
        "20260230-00:00:00",
        "20261122-24:00:00",
        "20261122 03:00:00",
        "2026112-03:00:00.000",
        "20261122-03:00:00.1",
        "19691231-23:59:59",
    ] {
        assert_eq!(parse_utc_timestamp(bad.as_bytes()), None, "{bad}");
    }
}

#[test]
fn decimal_grid_table() {
    let d = |s: &str| Decimal::from_str(s).unwrap();
    let cases: &[(&str, &str, Result<i64, DecimalError>)] = &[
        ("0.01", "100.25", Ok(10025)),
        ("0.01", "100.250000", Ok(10025)),
        ("0.01", "100", Ok(10000)),
        ("0.01", "100.255", Err(DecimalError::OffGrid)),
        ("0.5", "100.5", Ok(201)),
        ("0.5", "100.25", Err(DecimalError::OffGrid)),
        ("5", "15", Ok(3)),
        ("5", "12", Err(DecimalError::OffGrid)),
        ("0.00000001", "0.00000003", Ok(3)),
        ("0.01", "-1.5", Ok(-150)),
        ("0.01", ".5", Ok(50)),
        ("0.01", "1e3", Err(DecimalError::Syntax)),
        ("0.01", "+1", Err(DecimalError::Syntax)),
        ("0.01", "1.2.3", Err(DecimalError::Syntax)),
        ("0.01", "", Err(DecimalError::Syntax)),
        ("0.01", ".", Err(DecimalError::Syntax)),
        ("0.01", "99999999999999999999", Err(DecimalError::Overflow)),
    ];
    for &(step, text, want) in cases {
        let g = Grid::new(d(step)).unwrap();
        assert_eq!(g.parse(text.as_bytes()), want, "{text} on {step}");
        if want == Err(DecimalError::OffGrid) {
            assert_eq!(
                g.to_steps(parse_decimal(text.as_bytes()).unwrap()),
                want,
                "to_steps {text}"
            );
        }
        if let Ok(steps) = want {
            assert_eq!(
                g.to_steps(parse_decimal(text.as_bytes()).unwrap()),
                Ok(steps),
                "to_steps {text}"
            );
            let mut out = [0u8; 48];
            let n = g.write(steps, &mut out);
            assert_eq!(g.parse(&out[..n]), Ok(steps), "write/parse {text}");
        }
    }
    let g = Grid::units(2).unwrap();
    let mut out = [0u8; 48];
    let n = g.write(5, &mut out);
    assert_eq!(&out[..n], b"0.05");
    assert!(Grid::new(d("0")).is_none() && Grid::new(d("-1")).is_none());
}

fn field_strategy() -> impl Strategy<Value = (u32, Vec<u8>)> {
    // Tags the encoder may write in a body; values printable without SOH or '='-issues.
    (
        1u32..100_000,
        proptest::collection::vec(0x20u8..0x7f, 1..40),
    )
        .prop_filter("not a header/length/data tag", |(t, _)| {
            ![8, 9, 10, 35, 95, 90, 93, 212, 348, 350, 352, 354, 356].contains(t)
        })
}

proptest! {
    #[test]
    fn encode_decode_round_trip(fields in proptest::collection::vec(field_strategy(), 0..20), seq in 1u64..u64::MAX / 2, ns in 0u64..4_000_000_000_000_000_000) {
        let mut buf = vec![0u8; 8192];
        let h = Header { msg_type: b"D", seq_num: seq, sender_comp_id: b"S", target_comp_id: b"T", sending_time_ns: ns };
        let mut w = MessageWriter::new(&mut buf, &h);
        for (t, v) in &fields { w.field(*t, v); }
        let r = w.finish().unwrap();
        let Decoded::Message { msg, consumed } = decode(&buf[r.clone()]) else { panic!("not decoded") };
        prop_assert_eq!(consumed, r.len());
        let got: Vec<(u32, Vec<u8>)> = msg.fields().skip(5).map(|f| f.map(|(t, v)| (t, v.to_vec())).unwrap()).collect();
        prop_assert_eq!(got, fields);
        prop_assert_eq!(msg.get(34).map(|v| v.to_vec()), Some(seq.to_string().into_bytes()));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut buf = bytes;
        for _ in 0..400 {
            match decode(&buf) {
                Decoded::Message { msg, consumed } => { let _ = validate(&msg); let _ = parse_app(&msg); buf.drain(..consumed); }
                Decoded::Garbled { consumed, .. } => { prop_assert!(consumed > 0); buf.drain(..consumed); }
                Decoded::Incomplete { skip } => { buf.drain(..skip); break; }
            }
        }
    }

    #[test]
    fn prefixed_valid_frames_with_random_tails_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut buf = b"8=FIX.4.4\x019=".to_vec();
        buf.extend_from_slice(&body);
        let _ = decode(&buf);
        let f = frame(&String::from_utf8_lossy(&body));
        if let Decoded::Message { msg, .. } = decode(&f) { let _ = validate(&msg); let _ = parse_app(&msg); for _ in msg.fields() {} }
    }
}
