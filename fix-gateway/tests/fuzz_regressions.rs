//! Inputs found by the cargo-fuzz targets in `fuzz/` (see README, "Fuzzing"), kept as
//! ordinary tests so `cargo test` guards the fixes. One test per finding.
mod common;
use common::frame;
use tachyon_fix_gateway::*;

/// `fuzz/fuzz_targets/decode.rs`: a UTCTimestamp after the last u64 nanosecond
/// (2554-07-21T23:34:33.709551615Z) overflowed `parse_utc_timestamp`'s multiplication:
/// a panic with overflow checks (debug, test and fuzz builds), a silently wrapped time
/// in release (a SendingTime in 2610 wraps to about 2026 and would pass the accuracy
/// check). The fuzzer's input was a NewOrderSingle with TransactTime(60) in 2620.
#[test]
fn timestamp_past_u64_nanoseconds_is_refused_not_wrapped() {
    assert_eq!(
        parse_utc_timestamp(b"25540721-23:34:33.709551615"),
        Some(u64::MAX)
    );
    assert_eq!(
        parse_utc_timestamp(b"25540721-23:34:33.709"),
        Some(u64::MAX - 551_615)
    );
    for late in [
        &b"25540721-23:34:33.709551616"[..],
        b"25540721-23:34:34",
        b"26201122-03:00:00.000",
        b"99991231-23:59:60.999999999",
    ] {
        assert_eq!(parse_utc_timestamp(late), None, "{late:?}");
    }

    // The fuzzer's message: refused by validation as a bad TransactTime, no panic.
    let f = frame(
        "35=D|34=2|49=C1|52=20261122-03:00:00.000|56=TACHYON|11=ord1|55=BTC-USDT|54=1|\
         60=26201122-03:00:00.000|40=2|44=100.5|38=0.01|59=1|18=6|7928=2|",
    );
    let Decoded::Message { msg, .. } = decode(&f) else {
        panic!("not framed")
    };
    assert_eq!(
        validate(&msg),
        Err(Invalid::Session(SessionReject {
            reason: SessionRejectReason::IncorrectDataFormat,
            ref_tag: Some(60),
            text: "Incorrect data format for value",
        }))
    );
    let Ok(AppMessage::NewOrderSingle(nos)) = parse_app(&msg) else {
        panic!("parse_app")
    };
    assert_eq!(nos.transact_time_ns, 0);
}
