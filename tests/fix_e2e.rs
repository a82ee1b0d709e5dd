//! The FIX gateway end to end, through real sockets: an in-process exchange (pipeline,
//! journal, matcher, gateway) and our own wire-level client. Every reply is checked field
//! by field. (Interop with the independent QuickFIX C++ engine lives in fix_interop.rs.)

mod common;

use std::time::Duration;

use common::fix_client::{now_ns, FixClient, Msg};
use tachyon::{Exchange, ExchangeOptions};

struct Ex {
    ex: Option<Exchange>,
    _dir: tempfile::TempDir,
}

impl Drop for Ex {
    fn drop(&mut self) {
        if let Some(ex) = self.ex.take() {
            ex.shutdown().unwrap();
        }
    }
}

impl Ex {
    fn addr(&self) -> std::net::SocketAddr {
        self.ex.as_ref().unwrap().fix_addr()
    }
}

fn dev_config(dir: &std::path::Path, edit: impl Fn(String) -> String) -> tachyon_config::Config {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    let text = text
        .replace(
            "journal_dir = \"data/dev/journal\"",
            &format!("journal_dir = {:?}", dir.join("journal")),
        )
        .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"");
    tachyon_config::Config::from_str(&edit(text), "test.toml").unwrap()
}

fn start(edit: impl Fn(String) -> String) -> Ex {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dev_config(dir.path(), edit);
    let ex = Exchange::start_with(
        cfg,
        ExchangeOptions {
            memory_sessions: true,
        },
    )
    .unwrap();
    Ex {
        ex: Some(ex),
        _dir: dir,
    }
}

fn logged_on(ex: &Ex, sender: &str) -> FixClient {
    let mut c = FixClient::connect(ex.addr(), sender, "TACHYON");
    let a = c.logon(&[]);
    assert_eq!(a.req(108), "30");
    assert_eq!(a.req(49), "TACHYON");
    assert_eq!(a.req(56), sender);
    c
}

fn nos(c: &mut FixClient, cl: &str, side: &str, px: &str, qty: &str, extra: &[(u32, &str)]) {
    let mut f: Vec<(u32, &str)> = vec![
        (11, cl),
        (55, "BTC-USDT"),
        (54, side),
        (60, "20261122-00:00:00.000"),
        (38, qty),
        (40, "2"),
        (44, px),
    ];
    f.extend_from_slice(extra);
    c.send("D", &f);
}

/// Asserts `tag = value` for each pair, with the whole message on failure.
fn check(m: &Msg, want: &[(u32, &str)]) {
    for (t, v) in want {
        assert_eq!(m.get(*t), Some(*v), "tag {t} in {m:?}");
    }
}

#[test]
fn order_lifecycle_between_two_sessions() {
    let ex = start(|t| t);
    let mut a = logged_on(&ex, "DEV1");
    let mut b = logged_on(&ex, "DEV2");

    nos(&mut a, "a1", "1", "50000.00", "0.001", &[]);
    let new = a.expect("8");
    check(
        &new,
        &[
            (11, "a1"),
            (150, "0"),
            (39, "0"),
            (1, "1"),
            (55, "BTC-USDT"),
            (54, "1"),
            (40, "2"),
            (44, "50000.00"),
            (38, "0.00100"),
            (151, "0.00100"),
            (14, "0.00000"),
            (6, "0"),
        ],
    );
    let order_id: u64 = new.req(37).parse().unwrap();
    let exec_new: u64 = new.req(17).parse().unwrap();

    // B sells 0.0004 through A's bid: B is the taker at A's price.
    nos(&mut b, "b1", "2", "49999.99", "0.0004", &[]);
    let b_new = b.expect("8");
    check(&b_new, &[(11, "b1"), (150, "0"), (39, "0"), (54, "2")]);
    let b_fill = b.expect("8");
    check(
        &b_fill,
        &[
            (11, "b1"),
            (150, "F"),
            (39, "2"),
            (31, "50000.00"),
            (32, "0.00040"),
            (151, "0.00000"),
            (14, "0.00040"),
            (6, "50000.000000"),
            // 20 USDT notional × 5 bps taker fee.
            (12, "0.01000000"),
            (13, "3"),
            (479, "USDT"),
            (851, "2"),
        ],
    );
    let a_fill = a.expect("8");
    check(
        &a_fill,
        &[
            (37, &order_id.to_string()),
            (11, "a1"),
            (150, "F"),
            (39, "1"),
            (31, "50000.00"),
            (32, "0.00040"),
            (151, "0.00060"),
            (14, "0.00040"),
            (38, "0.00100"),
            (44, "50000.00"),
            // 1 bp maker fee.
            (12, "0.00200000"),
            (851, "1"),
        ],
    );
    let exec_fill: u64 = a_fill.req(17).parse().unwrap();
    assert!(exec_fill > exec_new, "ExecIDs increase");

    // Status of the partly filled order.
    a.send("H", &[(11, "a1"), (55, "BTC-USDT"), (54, "1")]);
    let st = a.expect("8");
    check(
        &st,
        &[
            (150, "I"),
            (39, "1"),
            (151, "0.00060"),
            (14, "0.00040"),
            (11, "a1"),
        ],
    );

    // Replace: quantity down at the same price keeps priority.
    a.send(
        "G",
        &[
            (11, "a2"),
            (41, "a1"),
            (55, "BTC-USDT"),
            (54, "1"),
            (60, "20261122-00:00:00.000"),
            (38, "0.0008"),
            (40, "2"),
            (44, "50000.00"),
        ],
    );
    let rep = a.expect("8");
    check(
        &rep,
        &[
            (150, "5"),
            (39, "1"),
            (11, "a2"),
            (41, "a1"),
            (38, "0.00080"),
            (151, "0.00040"),
            (14, "0.00040"),
        ],
    );

    // Cancel by the new ClOrdID.
    a.send(
        "F",
        &[
            (11, "a3"),
            (41, "a2"),
            (55, "BTC-USDT"),
            (54, "1"),
            (60, "20261122-00:00:00.000"),
        ],
    );
    let can = a.expect("8");
    check(
        &can,
        &[
            (150, "4"),
            (39, "4"),
            (11, "a3"),
            (41, "a2"),
            (151, "0.00000"),
            (14, "0.00040"),
            (37, &order_id.to_string()),
        ],
    );

    // Cancel again: the order is gone.
    a.send(
        "F",
        &[
            (11, "a4"),
            (41, "a2"),
            (55, "BTC-USDT"),
            (54, "1"),
            (60, "20261122-00:00:00.000"),
        ],
    );
    let rej = a.expect("9");
    check(
        &rej,
        &[(11, "a4"), (41, "a2"), (434, "1"), (102, "1"), (39, "8")],
    );

    // Status of an unknown order.
    a.send("H", &[(11, "zz"), (55, "BTC-USDT"), (54, "1")]);
    check(&a.expect("8"), &[(150, "I"), (39, "8"), (103, "5")]);

    a.send("5", &[]);
    a.expect("5");
}

#[test]
fn bad_orders_get_specific_rejects() {
    let ex = start(|t| t);
    let mut a = logged_on(&ex, "DEV1");
    let cases: &[(&str, &str, &str, &str, &str, &str)] = &[
        // (ClOrdID, symbol, price, qty, OrdRejReason, text fragment)
        ("r1", "BTC-USDT", "50000.001", "0.001", "99", "tick size"),
        ("r2", "BTC-USDT", "50000.00", "0.000001", "13", "lot size"),
        ("r3", "DOGE-USDT", "1.00", "1", "1", "Unknown symbol"),
        (
            "r4",
            "BTC-USDT",
            "50000.00",
            "999",
            "3",
            "Insufficient balance",
        ),
        ("r5", "BTC-USDT", "0.50", "1", "99", "price band"),
    ];
    for (cl, sym, px, qty, code, text) in cases {
        a.send(
            "D",
            &[
                (11, cl),
                (55, sym),
                (54, "1"),
                (60, "20261122-00:00:00.000"),
                (38, qty),
                (40, "2"),
                (44, px),
            ],
        );
        let m = a.expect("8");
        check(&m, &[(11, cl), (150, "8"), (39, "8"), (103, code)]);
        assert!(m.req(58).contains(text), "{cl}: {m:?}");
    }
    // Duplicate ClOrdID among open orders.
    nos(&mut a, "d1", "1", "40000.00", "0.001", &[]);
    check(&a.expect("8"), &[(150, "0")]);
    nos(&mut a, "d1", "1", "40000.00", "0.001", &[]);
    check(&a.expect("8"), &[(150, "8"), (103, "6")]);

    // Unknown MsgType → Reject 373=11; a valid FIX 4.4 type we don't handle → j 380=3.
    a.send("ZZ", &[]);
    check(&a.expect("3"), &[(373, "11"), (372, "ZZ")]);
    a.send("E", &[(66, "L1"), (394, "1"), (68, "0")]);
    check(&a.expect("j"), &[(380, "3"), (372, "E")]);

    // A garbled frame (bad checksum) is ignored; the session carries on.
    let mut bad = a.frame("1", a.next_out, now_ns(), &[(112, "x")]);
    let n = bad.len();
    bad[n - 2] = if bad[n - 2] == b'0' { b'1' } else { b'0' };
    a.send_raw(&bad);
    a.send("1", &[(112, "ping")]);
    check(&a.expect("0"), &[(112, "ping")]);
}

#[test]
fn mass_cancel_mass_status_and_cancel_on_disconnect() {
    let ex = start(|t| t);
    let mut a = logged_on(&ex, "DEV1");
    for (i, px) in ["40000.00", "40001.00", "40002.00"].iter().enumerate() {
        nos(&mut a, &format!("m{i}"), "1", px, "0.001", &[]);
        check(&a.expect("8"), &[(150, "0")]);
    }
    a.send("AF", &[(584, "s1"), (585, "7")]);
    let mut seen = Vec::new();
    for k in 0..3 {
        let m = a.expect("8");
        check(&m, &[(150, "I"), (39, "0"), (584, "s1"), (911, "3")]);
        assert_eq!(m.req(912), if k == 2 { "Y" } else { "N" });
        seen.push(m.req(11).to_string());
    }
    assert_eq!(seen, ["m0", "m1", "m2"]);

    a.send(
        "q",
        &[(11, "mc1"), (530, "7"), (60, "20261122-00:00:00.000")],
    );
    let mut cancels = 0;
    let report = loop {
        let m = a.recv();
        match m.msg_type.as_str() {
            "8" => {
                check(&m, &[(150, "4"), (39, "4")]);
                cancels += 1;
            }
            "r" => break m,
            t => panic!("unexpected {t}: {m:?}"),
        }
    };
    assert_eq!(cancels, 3);
    check(&report, &[(11, "mc1"), (530, "7"), (531, "7"), (533, "3")]);

    // Cancel on disconnect (DEV1 has cancel_on_disconnect = true).
    nos(&mut a, "c1", "1", "40000.00", "0.001", &[]);
    let id = a.expect("8").req(37).to_string();
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    let mut a = logged_on(&ex, "DEV1");
    a.send("H", &[(11, "c1"), (37, &id), (55, "BTC-USDT"), (54, "1")]);
    check(&a.expect("8"), &[(150, "I"), (39, "8")]);
}

#[test]
fn duplicate_logon_is_refused_and_the_first_session_survives() {
    let ex = start(|t| t);
    let mut a = logged_on(&ex, "DEV1");
    let mut dup = FixClient::connect(ex.addr(), "DEV1", "TACHYON");
    dup.send("A", &[(98, "0"), (108, "30"), (141, "Y")]);
    let (closed, msgs) = dup.closed_within(Duration::from_secs(5));
    assert!(closed, "duplicate connection closed");
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].msg_type, "5");
    assert!(msgs[0].req(58).contains("already logged on"));
    a.send("1", &[(112, "still-here")]);
    check(&a.expect("0"), &[(112, "still-here")]);
}

#[test]
fn hmac_logon_accepts_a_good_signature_and_refuses_a_bad_one() {
    let ex = start(|t| t);
    let secret = b"dev-only-mm1-secret-not-for-production";
    for good in [true, false] {
        let mut c = FixClient::connect(ex.addr(), "MM1", "TACHYON");
        let ts = now_ns();
        let mut t = [0u8; tachyon_fix_gateway::TIMESTAMP_LEN];
        tachyon_fix_gateway::write_utc_timestamp(ts, &mut t);
        let prehash = format!(
            "{}\x01A\x011\x01MM1\x01TACHYON",
            std::str::from_utf8(&t).unwrap()
        );
        let sig = tachyon_fix_gateway::sign(
            if good {
                secret
            } else {
                b"wrong-secret-wrong-secret"
            },
            prehash.as_bytes(),
        );
        let len = sig.len().to_string();
        let f = c.frame(
            "A",
            1,
            ts,
            &[
                (98, "0"),
                (108, "30"),
                (141, "Y"),
                (553, "dev-mm1"),
                (95, &len),
                (96, &sig),
            ],
        );
        c.send_raw(&f);
        let m = c.recv();
        if good {
            assert_eq!(m.msg_type, "A", "{m:?}");
            c.send("5", &[]);
            c.expect("5");
        } else {
            assert_eq!(m.msg_type, "5", "{m:?}");
            assert!(m.req(58).to_lowercase().contains("signature"), "{m:?}");
            assert!(c.closed_within(Duration::from_secs(5)).0);
        }
    }
}
