//! Dictionary validation: one row per SessionRejectReason we emit, plus valid messages
//! of every supported type and the unsupported-type business reject.
mod common;
use common::frame;
use tachyon_fix_gateway::*;

const H: &str = "34=2|49=C1|52=20261122-03:00:00.000|56=TACHYON|";

fn check(body: &str) -> Result<(), Invalid> {
    let f = frame(body);
    let Decoded::Message { msg, .. } = decode(&f) else {
        panic!("not framed: {body}")
    };
    validate(&msg)
}

fn rej(reason: SessionRejectReason, tag: Option<u32>) -> Result<(), Invalid> {
    Err(Invalid::Session(SessionReject {
        reason,
        ref_tag: tag,
        text: "",
    }))
}

/// Compares ignoring Text (checked non-empty separately).
fn same(got: Result<(), Invalid>, want: Result<(), Invalid>) -> bool {
    match (got, want) {
        (Err(Invalid::Session(g)), Err(Invalid::Session(w))) => {
            g.reason == w.reason && g.ref_tag == w.ref_tag && !g.text.is_empty()
        }
        (g, w) => g == w,
    }
}

#[test]
fn valid_messages_of_every_supported_type() {
    let nos = "11=ord1|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=100.5|38=0.01|59=1|";
    let bodies = [
        "35=A|{H}98=0|108=30|141=Y|553=key|95=3|96=a|b|".to_string(),
        "35=0|{H}".into(),
        "35=0|{H}112=T1|".into(),
        "35=1|{H}112=T1|".into(),
        "35=2|{H}7=1|16=0|".into(),
        "35=3|{H}45=1|371=44|372=D|373=5|58=x|".into(),
        "35=4|{H}123=Y|36=10|".into(),
        "35=4|{H}36=10|".into(),
        "35=5|{H}58=bye|".into(),
        format!("35=D|{{H}}{nos}18=6|7928=2|"),
        "35=D|{H}11=m1|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=1|152=1000|".into(),
        "35=F|{H}11=c1|41=ord1|55=BTC-USDT|54=1|60=20261122-03:00:00.000|".into(),
        "35=G|{H}11=r1|41=ord1|55=BTC-USDT|54=2|60=20261122-03:00:00.000|40=2|44=101|38=2|".into(),
        "35=H|{H}11=ord1|55=BTC-USDT|54=1|".into(),
        "35=q|{H}11=mc1|530=7|60=20261122-03:00:00.000|".into(),
        "35=q|{H}11=mc1|530=1|55=BTC-USDT|60=20261122-03:00:00.000|".into(),
        "35=AF|{H}584=s1|585=7|".into(),
        "35=V|{H}262=md1|263=1|264=10|267=2|269=0|269=1|146=2|55=BTC-USDT|55=ETH-USDT|".into(),
    ];
    for b in bodies {
        let b = b.replace("{H}", H);
        assert_eq!(check(&b), Ok(()), "{b}");
    }
}

#[test]
fn reject_reason_table() {
    use SessionRejectReason::*;
    let d = "11=o|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=1|38=1|";
    let cases: Vec<(&str, String, Result<(), Invalid>)> = vec![
        (
            "0 non-numeric tag",
            format!("35=D|{H}{d}x1=5|"),
            rej(InvalidTagNumber, None),
        ),
        (
            "0 unknown tag",
            format!("35=D|{H}{d}9999=5|"),
            rej(InvalidTagNumber, Some(9999)),
        ),
        (
            "1 required missing",
            format!("35=D|{H}11=o|55=BTC-USDT|54=1|60=20261122-03:00:00.000|44=1|"),
            rej(RequiredTagMissing, Some(40)),
        ),
        (
            "1 header missing",
            "35=0|34=2|49=C1|56=TACHYON|".to_string(),
            rej(RequiredTagMissing, Some(52)),
        ),
        (
            "1 test request id",
            format!("35=1|{H}"),
            rej(RequiredTagMissing, Some(112)),
        ),
        (
            "2 not for type",
            format!("35=0|{H}11=o|"),
            rej(TagNotDefinedForMsgType, Some(11)),
        ),
        (
            "2 price on cancel",
            format!("35=F|{H}11=c|55=X|54=1|60=20261122-03:00:00.000|44=1|"),
            rej(TagNotDefinedForMsgType, Some(44)),
        ),
        (
            "4 without value",
            format!("35=D|{H}11=|55=X|"),
            rej(TagWithoutValue, Some(11)),
        ),
        (
            "5 side",
            format!("35=D|{H}11=o|55=X|54=3|60=20261122-03:00:00.000|40=2|"),
            rej(ValueOutOfRange, Some(54)),
        ),
        (
            "5 ordtype",
            format!("35=D|{H}11=o|55=X|54=1|60=20261122-03:00:00.000|40=P|"),
            rej(ValueOutOfRange, Some(40)),
        ),
        (
            "5 tif day",
            format!("35=D|{H}{d}59=0|"),
            rej(ValueOutOfRange, Some(59)),
        ),
        (
            "5 execinst",
            format!("35=D|{H}{d}18=6 G|"),
            rej(ValueOutOfRange, Some(18)),
        ),
        (
            "5 stp",
            format!("35=D|{H}{d}7928=9|"),
            rej(ValueOutOfRange, Some(7928)),
        ),
        (
            "5 encrypt",
            format!("35=A|{H}98=1|108=30|"),
            rej(ValueOutOfRange, Some(98)),
        ),
        (
            "6 int",
            format!("35=A|{H}98=0|108=3x|"),
            rej(IncorrectDataFormat, Some(108)),
        ),
        (
            "6 price",
            format!("35=D|{H}11=o|55=X|54=1|60=20261122-03:00:00.000|40=2|44=1.2.3|"),
            rej(IncorrectDataFormat, Some(44)),
        ),
        (
            "6 qty exponent",
            format!("35=D|{H}11=o|55=X|54=1|60=20261122-03:00:00.000|40=2|38=1e5|"),
            rej(IncorrectDataFormat, Some(38)),
        ),
        (
            "6 timestamp",
            format!("35=D|{H}11=o|55=X|54=1|60=2026-11-22|"),
            rej(IncorrectDataFormat, Some(60)),
        ),
        (
            "6 boolean",
            format!("35=4|{H}123=X|36=5|"),
            rej(IncorrectDataFormat, Some(123)),
        ),
        (
            "6 char",
            format!("35=D|{H}11=o|55=X|54=12|"),
            rej(IncorrectDataFormat, Some(54)),
        ),
        (
            "6 seqnum",
            "35=0|34=-2|49=C1|52=20261122-03:00:00.000|56=TACHYON|".to_string(),
            rej(IncorrectDataFormat, Some(34)),
        ),
        (
            "11 invalid msgtype",
            format!("35=ZZ|{H}"),
            rej(InvalidMsgType, Some(35)),
        ),
        (
            "13 repeated",
            format!("35=D|{H}11=o|11=p|"),
            rej(TagAppearsMoreThanOnce, Some(11)),
        ),
        (
            "13 repeated header",
            "35=0|34=2|34=3|".to_string(),
            rej(TagAppearsMoreThanOnce, Some(34)),
        ),
        (
            "14 header after body",
            format!("35=D|{H}11=o|43=Y|"),
            rej(TagOutOfOrder, Some(43)),
        ),
        (
            "15 group member before delimiter",
            format!("35=A|{H}98=0|108=30|384=1|385=S|372=D|"),
            rej(GroupFieldsOutOfOrder, Some(385)),
        ),
        (
            "15 group member outside group",
            format!("35=V|{H}262=m|269=0|263=1|"),
            rej(GroupFieldsOutOfOrder, Some(269)),
        ),
        (
            "16 group missing entries",
            format!("35=V|{H}262=m|263=1|264=0|267=1|146=1|269=0|55=X|"),
            rej(IncorrectNumInGroup, Some(267)),
        ),
        (
            "16 group count high",
            format!("35=V|{H}262=m|263=1|264=0|267=3|269=0|269=1|146=1|55=X|"),
            rej(IncorrectNumInGroup, Some(267)),
        ),
        (
            "16 group count low",
            format!("35=V|{H}262=m|263=1|264=0|267=1|269=0|269=1|146=1|55=X|"),
            rej(IncorrectNumInGroup, Some(267)),
        ),
        (
            "unsupported type AE",
            format!("35=AE|{H}"),
            Err(Invalid::UnsupportedMsgType),
        ),
        (
            "unsupported type 8",
            format!("35=8|{H}"),
            Err(Invalid::UnsupportedMsgType),
        ),
    ];
    for (name, body, want) in cases {
        let got = check(&body);
        assert!(same(got, want), "{name}: got {got:?}, want {want:?}");
    }
}

#[test]
fn parse_app_table() {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    use tachyon_engine::{ClOrdId, OrdType, Side, StpMode, Tif};
    let parse = |body: &str| {
        let f = frame(&body.replace("{H}", H));
        let Decoded::Message { msg, .. } = decode(&f) else {
            panic!()
        };
        assert_eq!(validate(&msg), Ok(()), "{body}");
        parse_app(&msg).map(|m| format!("{m:?}"))
    };
    let nos = parse("35=D|{H}11=ord1|55=BTC-USDT|54=2|60=20261122-03:00:00.000|40=2|44=100.50|38=0.25|59=4|18=6|7928=4|").unwrap();
    assert!(
        nos.contains("side: Sell")
            && nos.contains("tif: Fok")
            && nos.contains("post_only: true")
            && nos.contains("Decrement"),
        "{nos}"
    );
    // Direct struct check for the exact decimals and ticks.
    let f = frame(
        &"35=D|{H}11=ord1|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=100.50|38=0.25|"
            .replace("{H}", H),
    );
    let Decoded::Message { msg, .. } = decode(&f) else {
        panic!()
    };
    let Ok(AppMessage::NewOrderSingle(o)) = parse_app(&msg) else {
        panic!()
    };
    assert_eq!(o.cl_ord_id, ClOrdId::new(b"ord1").unwrap());
    assert_eq!(
        (o.side, o.ord_type, o.tif, o.stp, o.symbol),
        (
            Side::Buy,
            OrdType::Limit,
            Tif::Gtc,
            StpMode::CancelNewest,
            &b"BTC-USDT"[..]
        )
    );
    let grid = PriceQtyGrid::new(
        Decimal::from_str("0.01").unwrap(),
        Decimal::from_str("0.001").unwrap(),
    )
    .unwrap();
    assert_eq!(grid.ticks(o.price.unwrap()), Ok(10050));
    assert_eq!(grid.lots(o.order_qty.unwrap()), Ok(250));
    assert_eq!(
        grid.ticks(Decimal::from_str("100.505").unwrap()),
        Err(DecimalError::OffGrid)
    );

    let long = "x".repeat(37);
    let cases: Vec<(String, Option<BusinessRejectReason>)> = vec![
        (
            format!("35=D|{{H}}11={long}|55=X|54=1|60=20261122-03:00:00.000|40=2|44=1|38=1|"),
            Some(BusinessRejectReason::Other),
        ),
        (
            "35=D|{H}11=o|55=X|54=1|60=20261122-03:00:00.000|40=2|38=1|".into(),
            Some(BusinessRejectReason::ConditionallyRequiredFieldMissing),
        ),
        (
            "35=D|{H}11=o|55=X|54=1|60=20261122-03:00:00.000|40=1|".into(),
            Some(BusinessRejectReason::ConditionallyRequiredFieldMissing),
        ),
        (
            "35=D|{H}11=o|55=X|54=1|60=20261122-03:00:00.000|40=2|44=1|38=1|59=6|".into(),
            Some(BusinessRejectReason::ConditionallyRequiredFieldMissing),
        ),
        (
            "35=q|{H}11=o|530=1|60=20261122-03:00:00.000|".into(),
            Some(BusinessRejectReason::ConditionallyRequiredFieldMissing),
        ),
        (
            "35=F|{H}11=o|41=abc|37=12|55=X|54=1|60=20261122-03:00:00.000|".into(),
            None,
        ),
        (
            "35=F|{H}11=o|37=notanumber|55=X|54=1|60=20261122-03:00:00.000|".into(),
            Some(BusinessRejectReason::Other),
        ),
        (
            "35=V|{H}262=m|263=1|264=5|265=1|267=1|269=2|146=1|55=X|".into(),
            None,
        ),
    ];
    for (body, want) in cases {
        let got = parse(&body);
        match want {
            None => assert!(got.is_ok(), "{body}: {got:?}"),
            Some(r) => assert_eq!(got.map_err(|e| e.reason), Err(r), "{body}"),
        }
    }
}
