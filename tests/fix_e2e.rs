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

/// A client that sends an order and closes at once (the data and the FIN can arrive
/// in one readiness event): the order is handled, the close is noticed at once (the
/// session can log on again right away), and cancel-on-disconnect cancels the order.
#[test]
fn an_order_sent_with_the_close_is_handled_and_the_close_noticed() {
    let ex = start(|t| t);
    for i in 0..10 {
        let mut a = logged_on(&ex, "DEV1");
        nos(&mut a, &format!("bye{i}"), "1", "40000.00", "0.001", &[]);
        drop(a);
        std::thread::sleep(Duration::from_millis(200));
    }
    // All ten were accepted and then canceled on disconnect: none is open.
    let mut a = logged_on(&ex, "DEV1");
    a.send("AF", &[(584, "st"), (585, "7")]);
    let m = a.expect("8");
    check(
        &m,
        &[(584, "st"), (150, "I"), (911, "0"), (58, "No open orders")],
    );
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

#[test]
fn sequence_numbers_store_and_open_orders_survive_an_exchange_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A persistent session (reset_on_logon = false), stores under fix.store_dir.
    let edit = |t: String| {
        t + "\n[[fix.sessions]]\nsender_comp_id = \"PERS\"\ntarget_comp_id = \"TACHYON\"\n\
             account = 2\nauth = { kind = \"none\" }\nreset_on_logon = false\n\
             cancel_on_disconnect = false\n\
             throttle = { msgs_per_sec = 100, burst = 100, max_violations = 10 }\n"
    };
    let start = || Exchange::start(dev_config(dir.path(), edit)).unwrap();

    let ex = start();
    let mut c = FixClient::connect(ex.fix_addr(), "PERS", "TACHYON");
    c.send("A", &[(98, "0"), (108, "30")]);
    assert_eq!(c.expect("A").req(34), "1");
    nos(&mut c, "p1", "2", "60000.00", "0.001", &[]);
    let er = c.expect("8");
    check(&er, &[(34, "2"), (150, "0"), (11, "p1")]);
    let order_id = er.req(37).to_string();
    c.send("5", &[]);
    check(&c.expect("5"), &[(34, "3")]);
    drop(c);
    ex.shutdown().unwrap();
    assert!(
        dir.path().join("fix").join("PERS").exists(),
        "store under fix/"
    );

    let ex = start();
    let mut c = FixClient::connect(ex.fix_addr(), "PERS", "TACHYON");
    c.next_out = 4; // Logon 1, D 2, Logout 3 were sent before the restart
    c.send("A", &[(98, "0"), (108, "30")]);
    assert_eq!(c.expect("A").req(34), "4", "outbound sequence continues");
    // The ExecutionReport sent before the restart is resent from the file store.
    c.send("2", &[(7, "2"), (16, "2")]);
    let again = c.expect("8");
    check(
        &again,
        &[
            (34, "2"),
            (43, "Y"),
            (150, "0"),
            (11, "p1"),
            (37, &order_id),
        ],
    );
    assert!(again.get(122).is_some(), "OrigSendingTime on a resend");
    // The order is still open after recovery, and the gateway knows it.
    c.send("H", &[(11, "p1"), (55, "BTC-USDT"), (54, "2")]);
    check(
        &c.expect("8"),
        &[(150, "I"), (39, "0"), (37, &order_id), (151, "0.00100")],
    );
    c.send("5", &[]);
    c.expect("5");
    ex.shutdown().unwrap();
}

/// An L2 book rebuilt from W + X messages: price text → size text, per side.
#[derive(Default, Debug, Clone, PartialEq)]
struct L2 {
    bids: std::collections::BTreeMap<String, String>,
    asks: std::collections::BTreeMap<String, String>,
    seq: u64,
}

impl L2 {
    fn side(&mut self, t: &str) -> &mut std::collections::BTreeMap<String, String> {
        match t {
            "0" => &mut self.bids,
            "1" => &mut self.asks,
            other => panic!("entry type {other}"),
        }
    }
    /// Applies a W (replacing everything) or an X, checking RptSeq continuity if
    /// `contiguous`.
    fn apply(&mut self, m: &Msg, contiguous: bool) {
        let mut cur: Option<(String, String, String, String)> = None; // action, type, px, size
        let mut entries = Vec::new();
        let mut seqs = Vec::new();
        for (t, v) in &m.fields {
            match (m.msg_type.as_str(), *t) {
                ("W", 269) | ("X", 279) => {
                    if let Some(e) = cur.take() {
                        entries.push(e);
                    }
                    cur = Some(Default::default());
                    if *t == 269 {
                        cur.as_mut().unwrap().0 = "0".into();
                        cur.as_mut().unwrap().1 = v.clone();
                    } else {
                        cur.as_mut().unwrap().0 = v.clone();
                    }
                }
                (_, 269) => cur.as_mut().unwrap().1 = v.clone(),
                (_, 270) => cur.as_mut().unwrap().2 = v.clone(),
                (_, 271) => cur.as_mut().unwrap().3 = v.clone(),
                (_, 83) => seqs.push(v.parse::<u64>().unwrap()),
                _ => {}
            }
        }
        if let Some(e) = cur.take() {
            entries.push(e);
        }
        if m.msg_type == "W" {
            self.bids.clear();
            self.asks.clear();
            self.seq = seqs[0];
        } else {
            let s = seqs[0];
            assert!(seqs.iter().all(|x| *x == s), "one RptSeq per message");
            if contiguous {
                assert_eq!(s, self.seq + 1, "RptSeq gap: {m:?}");
            } else {
                assert!(s > self.seq, "RptSeq goes forward");
            }
            self.seq = s;
        }
        for (action, typ, px, size) in entries {
            if typ == "2" {
                continue; // trades
            }
            match action.as_str() {
                "0" => {
                    assert!(
                        self.side(&typ).insert(px.clone(), size).is_none(),
                        "new level {px} exists"
                    );
                }
                "1" => {
                    assert!(
                        self.side(&typ).insert(px.clone(), size).is_some(),
                        "change of unknown {px}"
                    );
                }
                "2" => {
                    assert!(
                        self.side(&typ).remove(&px).is_some(),
                        "delete of unknown {px}"
                    );
                }
                a => panic!("action {a}"),
            }
        }
    }
}

#[test]
fn market_data_snapshot_plus_incrementals_equal_the_engine_book_and_drop_copy_sees_all() {
    let dir = tempfile::tempdir().unwrap();
    // No cancel-on-disconnect: the book must outlive the shutdown to be compared.
    let edit = |t: String| {
        t.replace(
            "throttle = { msgs_per_sec = 1_000, burst = 2_000, max_violations = 10 }",
            "throttle = { msgs_per_sec = 100_000, burst = 100_000, max_violations = 10 }",
        )
        .replace(
            "cancel_on_disconnect = true",
            "cancel_on_disconnect = false",
        )
        // MD1 (market data) and DC1 (drop copy of accounts 1-3) come from dev.toml.
    };
    let cfg = dev_config(dir.path(), edit);
    let engine_cfg = cfg.engine_config();
    let ex = Exchange::start_with(
        cfg,
        ExchangeOptions {
            memory_sessions: true,
        },
    )
    .unwrap();
    let mut md = logged_on_ex(&ex, "MD1");
    let mut dc = logged_on_ex(&ex, "DC1");
    // Full book + trades, and top 3 only.
    let sub = |c: &mut FixClient, id: &str, depth: &str| {
        c.send(
            "V",
            &[
                (262, id),
                (263, "1"),
                (264, depth),
                (265, "1"),
                (267, "3"),
                (269, "0"),
                (269, "1"),
                (269, "2"),
                (146, "1"),
                (55, "BTC-USDT"),
            ],
        );
    };
    sub(&mut md, "full", "0");
    sub(&mut md, "top3", "3");
    let mut books: std::collections::HashMap<String, L2> = Default::default();
    for _ in 0..2 {
        let w = md.expect("W");
        books
            .entry(w.req(262).to_string())
            .or_default()
            .apply(&w, true);
    }
    // Orders on a market-data session are refused; unknown symbols get Y.
    md.send(
        "D",
        &[
            (11, "x"),
            (55, "BTC-USDT"),
            (54, "1"),
            (60, "20261122-00:00:00.000"),
            (38, "1"),
            (40, "2"),
            (44, "1.00"),
        ],
    );
    check(&md.expect("j"), &[(380, "6"), (372, "D")]);
    md.send(
        "V",
        &[
            (262, "bad"),
            (263, "1"),
            (264, "0"),
            (267, "1"),
            (269, "0"),
            (146, "1"),
            (55, "NOPE"),
        ],
    );
    check(&md.expect("Y"), &[(262, "bad"), (281, "0")]);
    dc.send("1", &[(112, "dc")]);
    check(&dc.expect("0"), &[(112, "dc")]);
    dc.send(
        "F",
        &[
            (11, "x"),
            (41, "y"),
            (55, "BTC-USDT"),
            (54, "1"),
            (60, "20261122-00:00:00.000"),
        ],
    );
    check(&dc.expect("j"), &[(380, "6")]);

    let mut a = logged_on_ex(&ex, "DEV1");
    let mut b = logged_on_ex(&ex, "DEV2");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut sent = 0usize;
    let mut exec_ids = std::collections::BTreeSet::new();
    for i in 0..400 {
        let c = if rnd(2) == 0 { &mut a } else { &mut b };
        let side = if rnd(2) == 0 { "1" } else { "2" };
        let px = format!("{}.{:02}", 49_990 + rnd(20), rnd(2) * 50);
        let qty = format!("0.{:05}", 10 + rnd(200));
        let cl = format!("o{i}");
        let tif = if rnd(5) == 0 { "3" } else { "1" };
        nos(c, &cl, side, &px, &qty, &[(59, tif)]);
        sent += 1;
        if rnd(4) == 0 {
            let orig = format!("o{}", i - rnd(i.min(5) + 1));
            c.send(
                "F",
                &[
                    (11, &format!("c{i}")),
                    (41, &orig),
                    (55, "BTC-USDT"),
                    (54, side),
                    (60, "20261122-00:00:00.000"),
                ],
            );
        }
        if i == 200 {
            // A late subscriber: snapshot mid-flow, then incrementals.
            sub(&mut md, "late", "0");
        }
    }
    // The two sessions' orders interleave as the gateway happens to read them, so the
    // random flow alone may leave one side of the book empty: one resting order on each
    // side, outside the flow's price range, keeps the comparison below meaningful.
    nos(&mut a, "floor", "1", "49000.00", "0.00100", &[]);
    nos(&mut a, "ceiling", "2", "51000.00", "0.00100", &[]);
    sent += 2;
    // Every order got at least one ExecutionReport on its session; collect ExecIDs.
    let drain = |c: &mut FixClient, ids: &mut std::collections::BTreeSet<String>| {
        while let Some(m) = c.recv_timeout(Duration::from_millis(500)) {
            if m.msg_type == "8" {
                ids.insert(m.req(17).to_string());
            }
        }
    };
    drain(&mut a, &mut exec_ids);
    drain(&mut b, &mut exec_ids);
    assert!(
        exec_ids.len() >= sent,
        "{} reports for {sent} orders",
        exec_ids.len()
    );
    // The drop copy saw every one of them.
    let mut dc_ids = std::collections::BTreeSet::new();
    drain(&mut dc, &mut dc_ids);
    assert_eq!(
        dc_ids, exec_ids,
        "drop copy = every ExecutionReport of accounts 1 and 2"
    );

    let mut trades = 0;
    while let Some(m) = md.recv_timeout(Duration::from_millis(500)) {
        match m.msg_type.as_str() {
            "W" | "X" => {
                let id = m.req(262).to_string();
                trades += m
                    .fields
                    .iter()
                    .filter(|(t, v)| *t == 269 && v == "2")
                    .count();
                books.entry(id.clone()).or_default().apply(&m, id != "top3");
            }
            "0" => {}
            t => panic!("unexpected {t}: {m:?}"),
        }
    }
    assert!(trades > 0, "the flow traded");
    ex.shutdown().unwrap();

    // The engine's own book, rebuilt offline from the journal.
    let (engine, _) =
        tachyon_pipeline::replay(engine_cfg, &dir.path().join("journal"), true).unwrap();
    let grid_px = |ticks: i64| format!("{}.{:02}", ticks / 100, ticks % 100);
    let grid_qty = |lots: i64| format!("{}.{:05}", lots / 100_000, lots % 100_000);
    let mut want = L2::default();
    for (side, map) in [
        (tachyon_engine::Side::Buy, &mut want.bids),
        (tachyon_engine::Side::Sell, &mut want.asks),
    ] {
        for (p, q, _) in engine.book_levels(tachyon_engine::SymbolId(0), side) {
            map.insert(grid_px(p.0), grid_qty(q.0));
        }
    }
    assert!(!want.bids.is_empty() && !want.asks.is_empty(), "{want:?}");
    for id in ["full", "late"] {
        let got = &books[id];
        assert_eq!((&got.bids, &got.asks), (&want.bids, &want.asks), "{id}");
    }
    let top3 = &books["top3"];
    let best = |m: &std::collections::BTreeMap<String, String>, bids: bool| {
        // Prices have two decimals: compare them as integer ticks.
        let ticks = |p: &str| p.replace('.', "").parse::<i64>().unwrap();
        let mut v: Vec<_> = m
            .iter()
            .map(|(p, q)| (ticks(p), p.clone(), q.clone()))
            .collect();
        v.sort_by_key(|x| x.0);
        if bids {
            v.reverse();
        }
        v.into_iter()
            .take(3)
            .map(|(_, p, q)| (p, q))
            .collect::<Vec<_>>()
    };
    assert_eq!(best(&top3.bids, true), best(&want.bids, true));
    assert_eq!(best(&top3.asks, false), best(&want.asks, false));
    assert!(top3.bids.len() <= 3 && top3.asks.len() <= 3, "{top3:?}");
}

fn logged_on_ex(ex: &Exchange, sender: &str) -> FixClient {
    let mut c = FixClient::connect(ex.fix_addr(), sender, "TACHYON");
    c.logon(&[]);
    c
}

#[test]
fn a_client_that_does_not_read_is_disconnected_not_buffered_without_bound() {
    let ex = start(|t| {
        // The first `listen` is [fix]'s.
        t.replacen(
            "listen = \"127.0.0.1:0\"\n",
            "listen = \"127.0.0.1:0\"\nmax_outbound_bytes = 65_536\n",
            1,
        )
    });
    let mut c = logged_on(&ex, "DEV1");
    // TestRequests are admin messages (not throttled); each is answered with a Heartbeat.
    // 100k of them produce ~9 MB of replies, more than the socket buffers plus 64 KiB.
    let mut burst = Vec::new();
    let mut seq = c.next_out;
    let mut wrote_all = true;
    'outer: for _ in 0..100 {
        burst.clear();
        for _ in 0..1000 {
            burst.extend_from_slice(&c.frame("1", seq, now_ns(), &[(112, "slow")]));
            seq += 1;
        }
        if std::io::Write::write_all(&mut c.stream, &burst).is_err() {
            wrote_all = false;
            break 'outer;
        }
    }
    let _ = wrote_all;
    let stats = ex.ex.as_ref().unwrap().gateway_stats();
    let t = std::time::Instant::now();
    while stats
        .slow_disconnects
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(t.elapsed() < Duration::from_secs(20), "not disconnected");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The connection is closed: reading drains what was sent, then EOF.
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut c.stream, &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("expected EOF, got {e}"),
        }
    }
    // The session is free again.
    let mut again = logged_on(&ex, "DEV1");
    again.send("1", &[(112, "back")]);
    check(&again.expect("0"), &[(112, "back")]);
}
