//! Session scenarios, table-driven: each scenario is a list of steps (an input and the
//! exact frames and actions it must produce). Frames are compared in a compact form
//! without 8, 9, 10, 49, 52 and 56.
mod common;
use std::net::{IpAddr, Ipv4Addr};
use tachyon_config::FixSession;
use tachyon_fix_gateway::*;

const T0: u64 = 1_795_316_400_000_000_000; // 2026-11-22 03:00:00 UTC
const SEC: u64 = 1_000_000_000;
const ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

#[derive(Clone, Debug)]
enum In {
    /// A client message; `{hdr}` → `49=C1|52=<now>|56=TACHYON|`, `{now}` → now.
    Msg(String),
    /// Advance the clock (ms) and run the timer.
    Tick(u64),
    /// We send an application message with this body.
    App(&'static str),
    /// We start a Logout.
    Logout,
    /// The duplicate-logon hook.
    Elsewhere(bool),
    /// Drop the connection and accept a new one.
    Reconnect,
}

struct Step {
    input: In,
    out: Vec<String>,
    acts: Vec<&'static str>,
}

fn st(input: In, out: &[&str], acts: &[&'static str]) -> Step {
    Step {
        input,
        out: out.iter().map(|s| s.to_string()).collect(),
        acts: acts.to_vec(),
    }
}
fn m(s: &str) -> In {
    In::Msg(s.to_string())
}

fn ts(ns: u64) -> String {
    let mut b = [0u8; TIMESTAMP_LEN];
    write_utc_timestamp(ns, &mut b);
    String::from_utf8(b.to_vec()).unwrap()
}

/// Two hmac sessions (C1/k1, C2/k2), both trading for account 1, parsed by the real
/// config loader.
fn sessions() -> Vec<FixSession> {
    let mut text = include_str!("../../config/dev.toml").to_string();
    for (comp, key) in [("C1", "k1"), ("C2", "k2")] {
        text.push_str(&format!(
            "\n[[fix.sessions]]\nsender_comp_id = \"{comp}\"\ntarget_comp_id = \"TACHYON\"\naccount = 1\n\
             auth = {{ kind = \"hmac-sha256\", key_id = \"{key}\", secret = \"secret-{key}-0123456789\" }}\n\
             reset_on_logon = false\ncancel_on_disconnect = true\n\
             throttle = {{ msgs_per_sec = 2, burst = 2, max_violations = 1 }}\n"
        ));
    }
    let cfg =
        tachyon_config::Config::from_str(&text, "dev.toml+test").unwrap_or_else(|e| panic!("{e}"));
    cfg.fix
        .sessions
        .into_iter()
        .filter(|s| s.sender_comp_id == "C1" || s.sender_comp_id == "C2")
        .collect()
}

fn config(hmac: bool) -> SessionConfig {
    let mut c = SessionConfig::from_config(&sessions()[0]);
    c.require_hmac = hmac;
    c.grace_ns = SEC;
    c
}

fn authenticator() -> Authenticator {
    Authenticator::new(
        &sessions(),
        None,
        5 * SEC,
        LockoutPolicy {
            max_failures: 3,
            window_ns: 60 * SEC,
            lockout_ns: 300 * SEC,
            max_tracked: 1000,
        },
    )
}

struct Harness<S: SessionStore> {
    s: Session<S>,
    auth: Authenticator,
    now: u64,
    elsewhere: bool,
}

fn compact(frame: &[u8]) -> String {
    let Decoded::Message { msg, .. } = decode(frame) else {
        panic!("we emitted a bad frame: {}", common::show(frame))
    };
    msg.fields()
        .map(|f| f.unwrap())
        .filter(|(t, _)| ![49, 52, 56].contains(t))
        .map(|(t, v)| format!("{t}={}", String::from_utf8_lossy(v)))
        .collect::<Vec<_>>()
        .join("|")
}

fn act(a: &Action<'_>) -> String {
    match a {
        Action::LoggedOn => "LoggedOn".into(),
        Action::Deliver { seq, msg } => {
            let kind = format!("{msg:?}");
            format!("Deliver({seq},{})", &kind[..kind.find('(').unwrap()])
        }
        Action::Disconnect(r) => format!("Disconnect({r:?})"),
    }
}

impl<S: SessionStore> Harness<S> {
    fn new(cfg: SessionConfig, store: S) -> Self {
        let mut s = Session::new(cfg, store);
        s.on_connect(T0);
        Harness {
            s,
            auth: authenticator(),
            now: T0,
            elsewhere: false,
        }
    }

    fn step(&mut self, input: &In) -> (Vec<String>, Vec<String>) {
        let acts: Vec<String> = match input {
            In::Msg(body) => {
                let body = body
                    .replace("{hdr}", &format!("49=C1|52={}|56=TACHYON|", ts(self.now)))
                    .replace("{now}", &ts(self.now));
                let f = common::frame(&body);
                let Decoded::Message { msg, .. } = decode(&f) else {
                    panic!("test frame {body}")
                };
                let mut ctx = LogonContext {
                    source: ADDR,
                    logged_on_elsewhere: self.elsewhere,
                    auth: &mut self.auth,
                };
                self.s
                    .on_message(self.now, &msg, &mut ctx)
                    .iter()
                    .map(act)
                    .collect()
            }
            In::Tick(ms) => {
                self.now += ms * 1_000_000;
                self.s.on_timer(self.now).iter().map(act).collect()
            }
            In::App(body) => {
                let body = body.replace('|', "\x01");
                self.s
                    .send_app(self.now, b"8", |w| {
                        for f in body.split('\x01').filter(|f| !f.is_empty()) {
                            let (t, v) = f.split_once('=').unwrap();
                            w.field(t.parse().unwrap(), v.as_bytes());
                        }
                    })
                    .unwrap();
                vec![]
            }
            In::Logout => self
                .s
                .logout(self.now, "shutting down")
                .iter()
                .map(act)
                .collect(),
            In::Elsewhere(b) => {
                self.elsewhere = *b;
                vec![]
            }
            In::Reconnect => {
                self.s.on_disconnect();
                self.s.on_connect(self.now);
                vec![]
            }
        };
        let mut out = Vec::new();
        let mut buf = self.s.outbound().to_vec();
        while let Decoded::Message { msg, consumed } = decode(&buf) {
            out.push(compact(msg.as_bytes()));
            buf.drain(..consumed);
        }
        assert!(buf.is_empty(), "trailing bytes in outbound");
        let n = self.s.outbound().len();
        self.s.consume_outbound(n);
        (out, acts)
    }

    fn run(&mut self, name: &str, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            let (out, acts) = self.step(&step.input);
            assert_eq!(out, step.out, "{name}: step {i} {:?} frames", step.input);
            assert_eq!(acts, step.acts, "{name}: step {i} {:?} actions", step.input);
        }
    }
}

const LOGON: &str = "35=A|34=1|{hdr}98=0|108=30|";
const LOGON_REPLY: &str = "35=A|34=1|98=0|108=30";
const NOS: &str = "11=o1|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=100|38=1|";

fn logon() -> Step {
    st(m(LOGON), &[LOGON_REPLY], &["LoggedOn"])
}

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    let nos = |seq: u64| In::Msg(format!("35=D|34={seq}|{{hdr}}{NOS}"));
    vec![
        ("logon and client logout", vec![logon(), st(m("35=5|34=2|{hdr}"), &["35=5|34=2"], &["Disconnect(LogoutComplete)"])]),
        ("our logout and reply", vec![logon(), st(In::Logout, &["35=5|34=2|58=shutting down"], &[]), st(m("35=5|34=2|{hdr}"), &[], &["Disconnect(LogoutComplete)"])]),
        ("logout timeout", vec![logon(), st(In::Logout, &["35=5|34=2|58=shutting down"], &[]), st(In::Tick(10_000), &[], &["Disconnect(LogoutTimeout)"])]),
        ("first message not logon", vec![st(m("35=0|34=1|{hdr}"), &[], &["Disconnect(FirstMessageNotLogon)"])]),
        ("logon timeout", vec![st(In::Tick(9_999), &[], &[]), st(In::Tick(1), &[], &["Disconnect(LogonTimeout)"])]),
        (
            "HeartBtInt out of range",
            vec![st(m("35=A|34=1|{hdr}98=0|108=0|"), &["35=5|34=1|58=HeartBtInt(108) out of accepted range"], &["Disconnect(InvalidLogon)"])],
        ),
        (
            "invalid logon refused with text",
            vec![st(m("35=A|34=1|{hdr}108=30|"), &["35=5|34=1|58=Required tag missing"], &["Disconnect(InvalidLogon)"])],
        ),
        (
            "duplicate logon refused",
            vec![st(In::Elsewhere(true), &[], &[]), st(m(LOGON), &["35=5|34=1|58=Session already logged on"], &["Disconnect(LoggedOnElsewhere)"])],
        ),
        (
            "heartbeat, test request, timeout",
            vec![
                logon(),
                st(m("35=1|34=2|{hdr}112=abc|"), &["35=0|34=2|112=abc"], &[]),
                st(In::Tick(29_999), &[], &[]),
                st(In::Tick(1), &["35=0|34=3"], &[]),
                st(In::Tick(5_999), &[], &[]),
                st(In::Tick(1), &["35=1|34=4|112=1"], &[]),
                // Heartbeats continue while the TestRequest is outstanding.
                st(In::Tick(29_999), &[], &[]),
                st(In::Tick(1), &["35=0|34=5"], &[]),
                st(In::Tick(5_999), &[], &[]),
                st(In::Tick(1), &["35=5|34=6|58=Heartbeat timeout: no response to TestRequest"], &["Disconnect(HeartbeatTimeout)"]),
            ],
        ),
        (
            "test request answered keeps the session",
            vec![
                logon(),
                st(In::Tick(36_000), &["35=1|34=2|112=1"], &[]),
                st(m("35=0|34=2|{hdr}112=1|"), &[], &[]),
                st(In::Tick(30_000), &["35=0|34=3"], &[]),
                st(In::Tick(6_000), &["35=1|34=4|112=2"], &[]),
            ],
        ),
        (
            "gap: resend request, gap fill, then in order",
            vec![
                logon(),
                st(m("35=0|34=5|{hdr}"), &["35=2|34=2|7=2|16=0"], &[]),
                st(m("35=0|34=6|{hdr}"), &[], &[]),
                st(m("35=4|34=2|{hdr}43=Y|123=Y|36=4|"), &[], &[]),
                st(In::Msg(format!("35=D|34=4|{{hdr}}43=Y|{NOS}")), &[], &["Deliver(4,NewOrderSingle)"]),
                st(m("35=0|34=5|{hdr}43=Y|"), &[], &[]),
                st(m("35=0|34=6|{hdr}43=Y|"), &[], &[]),
                st(nos(7), &[], &["Deliver(7,NewOrderSingle)"]),
            ],
        ),
        (
            "logon with seq too high: logon then resend request",
            vec![st(m("35=A|34=3|{hdr}98=0|108=30|"), &[LOGON_REPLY, "35=2|34=2|7=1|16=0"], &["LoggedOn"])],
        ),
        (
            "PossDup duplicate ignored",
            vec![logon(), st(nos(2), &[], &["Deliver(2,NewOrderSingle)"]), st(In::Msg(format!("35=D|34=2|{{hdr}}43=Y|{NOS}")), &[], &[]), st(nos(3), &[], &["Deliver(3,NewOrderSingle)"])],
        ),
        (
            "seq too low without PossDup: logout",
            vec![logon(), st(m("35=0|34=2|{hdr}"), &[], &[]), st(m("35=0|34=2|{hdr}"), &["35=5|34=2|58=MsgSeqNum too low, expecting 3 but received 2"], &["Disconnect(SeqNumTooLow)"])],
        ),
        (
            "sequence reset: reset mode ignores seq, refuses lowering",
            vec![
                logon(),
                st(m("35=4|34=99|{hdr}36=10|"), &[], &[]),
                st(m("35=0|34=10|{hdr}"), &[], &[]),
                st(m("35=4|34=1|{hdr}36=5|"), &["35=3|34=2|45=1|371=36|372=4|373=5|58=Attempt to lower sequence number, invalid value NewSeqNo(36)"], &[]),
                st(m("35=0|34=11|{hdr}"), &[], &[]),
            ],
        ),
        (
            "sequence reset: gap fill mode",
            vec![
                logon(),
                st(m("35=4|34=2|{hdr}123=Y|36=8|"), &[], &[]),
                st(m("35=0|34=8|{hdr}"), &[], &[]),
                st(m("35=4|34=9|{hdr}123=Y|36=9|"), &["35=3|34=2|45=9|371=36|372=4|373=5|58=Attempt to lower sequence number, invalid value NewSeqNo(36)"], &[]),
                st(m("35=0|34=10|{hdr}"), &[], &[]),
            ],
        ),
        (
            "resend of application messages with PossDup, admin gap-filled",
            vec![
                logon(),
                st(In::App("37=1|11=a|150=0|"), &["35=8|34=2|37=1|11=a|150=0"], &[]),
                st(In::App("37=2|11=b|150=0|"), &["35=8|34=3|37=2|11=b|150=0"], &[]),
                st(m("35=1|34=2|{hdr}112=x|"), &["35=0|34=4|112=x"], &[]),
                st(In::App("37=3|11=c|150=0|"), &["35=8|34=5|37=3|11=c|150=0"], &[]),
                st(In::Tick(1_000), &[], &[]),
                st(
                    m("35=2|34=3|{hdr}7=1|16=0|"),
                    &[
                        "35=4|34=1|43=Y|123=Y|36=2",
                        "35=8|34=2|43=Y|122=20261122-03:00:00.000|37=1|11=a|150=0",
                        "35=8|34=3|43=Y|122=20261122-03:00:00.000|37=2|11=b|150=0",
                        "35=4|34=4|43=Y|123=Y|36=5",
                        "35=8|34=5|43=Y|122=20261122-03:00:00.000|37=3|11=c|150=0",
                    ],
                    &[],
                ),
                st(m("35=2|34=4|{hdr}7=2|16=3|"), &["35=8|34=2|43=Y|122=20261122-03:00:00.000|37=1|11=a|150=0", "35=8|34=3|43=Y|122=20261122-03:00:00.000|37=2|11=b|150=0"], &[]),
                st(m("35=2|34=5|{hdr}7=6|16=0|"), &[], &[]),
                st(In::App("37=4|11=d|150=0|"), &["35=8|34=6|37=4|11=d|150=0"], &[]),
            ],
        ),
        (
            "SendingTime accuracy: reject 10 then logout",
            vec![
                logon(),
                st(m("35=0|34=2|49=C1|52=20261122-02:57:59.999|56=TACHYON|"), &["35=3|34=2|45=2|371=52|372=0|373=10|58=SendingTime accuracy problem", "35=5|34=3|58=SendingTime accuracy problem"], &["Disconnect(SendingTimeAccuracy)"]),
            ],
        ),
        ("SendingTime within window accepted", vec![logon(), st(m("35=0|34=2|49=C1|52=20261122-02:58:00.000|56=TACHYON|"), &[], &[])]),
        (
            "CompID problem: reject 9 then logout",
            vec![logon(), st(m("35=0|34=2|49=EVIL|52={now}|56=TACHYON|"), &["35=3|34=2|45=2|371=49|372=0|373=9|58=CompID problem", "35=5|34=3|58=CompID problem"], &["Disconnect(CompIdProblem)"])],
        ),
        (
            "CompID problem on logon",
            vec![st(m("35=A|34=1|49=C1|52={now}|56=OTHER|98=0|108=30|"), &["35=3|34=1|45=1|371=56|372=A|373=9|58=CompID problem", "35=5|34=2|58=CompID problem"], &["Disconnect(CompIdProblem)"])],
        ),
        (
            "validation rejects consume the seq; unsupported type is a business reject",
            vec![
                logon(),
                st(m("35=D|34=2|{hdr}11=o|55=X|54=7|60=20261122-03:00:00.000|40=2|"), &["35=3|34=2|45=2|371=54|372=D|373=5|58=Value is incorrect (out of range) for this tag"], &[]),
                st(m("35=ZZ|34=3|{hdr}"), &["35=3|34=3|45=3|371=35|372=ZZ|373=11|58=Invalid MsgType"], &[]),
                st(m("35=AE|34=4|{hdr}"), &["35=j|34=4|45=4|372=AE|380=3|58=Unsupported message type"], &[]),
                st(In::Msg(format!("35=D|34=5|{{hdr}}11={}|55=X|54=1|60=20261122-03:00:00.000|40=2|44=1|38=1|", "x".repeat(37))), &[&format!("35=j|34=5|45=5|372=D|379={}|380=0|58=ClOrdID longer than 36 characters or not printable ASCII", "x".repeat(37))], &[]),
                st(nos(6), &[], &["Deliver(6,NewOrderSingle)"]),
            ],
        ),
        (
            "throttle: reject over the limit, logout after max violations",
            vec![
                logon(),
                st(nos(2), &[], &["Deliver(2,NewOrderSingle)"]),
                st(nos(3), &[], &["Deliver(3,NewOrderSingle)"]),
                st(nos(4), &["35=j|34=2|45=4|372=D|379=o1|380=0|58=Throttle limit exceeded"], &[]),
                st(In::Tick(500), &[], &[]),
                st(nos(5), &[], &["Deliver(5,NewOrderSingle)"]),
                st(m("35=0|34=6|{hdr}"), &[], &[]),
                st(nos(7), &["35=j|34=3|45=7|372=D|379=o1|380=0|58=Throttle limit exceeded", "35=5|34=4|58=Throttle limit exceeded too often"], &["Disconnect(ThrottleViolations)"]),
            ],
        ),
    ]
}

#[test]
fn session_scenarios() {
    for (name, steps) in scenarios() {
        let mut h = Harness::new(config(false), MemoryStore::new());
        h.run(name, &steps);
    }
}

#[test]
fn reset_seq_num_flag_and_reset_on_logon() {
    // A store left at in=5/out=7 by an earlier connection.
    let mut store = MemoryStore::new();
    store
        .set_seq_nums(SeqNums {
            next_in: 5,
            next_out: 7,
        })
        .unwrap();
    let mut h = Harness::new(config(false), store.clone());
    h.run(
        "141=Y resets both",
        &[st(
            m("35=A|34=1|{hdr}98=0|108=30|141=Y|"),
            &["35=A|34=1|98=0|108=30|141=Y"],
            &["LoggedOn"],
        )],
    );
    assert_eq!(
        h.s.seq_nums(),
        SeqNums {
            next_in: 2,
            next_out: 2
        }
    );

    let mut h = Harness::new(config(false), store.clone());
    h.run(
        "141=Y needs seq 1",
        &[st(
            m("35=A|34=4|{hdr}98=0|108=30|141=Y|"),
            &["35=5|34=7|58=ResetSeqNumFlag=Y requires MsgSeqNum 1"],
            &["Disconnect(InvalidLogon)"],
        )],
    );

    let mut cfg = config(false);
    cfg.reset_on_logon = true;
    let mut h = Harness::new(cfg, store.clone());
    h.run(
        "reset_on_logon",
        &[st(
            m(LOGON),
            &["35=A|34=1|98=0|108=30|141=Y"],
            &["LoggedOn"],
        )],
    );

    // A Logon refused before the reset (MsgSeqNum 0 is too low even for a fresh start)
    // leaves the store alone: the Logout continues the old numbering.
    let mut cfg = config(false);
    cfg.reset_on_logon = true;
    let mut h = Harness::new(cfg, store.clone());
    h.run(
        "reset_on_logon, refused logon",
        &[st(
            m("35=A|34=0|{hdr}98=0|108=30|"),
            &["35=5|34=7|58=MsgSeqNum too low, expecting 1 but received 0"],
            &["Disconnect(SeqNumTooLow)"],
        )],
    );

    let mut h = Harness::new(config(false), store);
    h.run(
        "no reset: continue",
        &[st(
            m("35=A|34=5|{hdr}98=0|108=30|"),
            &["35=A|34=7|98=0|108=30"],
            &["LoggedOn"],
        )],
    );
    assert_eq!(
        h.s.seq_nums(),
        SeqNums {
            next_in: 6,
            next_out: 8
        }
    );
}

/// Logon with an HMAC signature over `SendingTime␁A␁seq␁sender␁target`.
fn signed_logon(
    now: u64,
    seq: u64,
    sender: &str,
    key: &str,
    secret: &str,
    time: Option<&str>,
) -> In {
    let t = time.map(str::to_string).unwrap_or_else(|| ts(now));
    let pre = format!("{t}\x01A\x01{seq}\x01{sender}\x01TACHYON");
    let sig = sign(secret.as_bytes(), pre.as_bytes());
    In::Msg(format!(
        "35=A|34={seq}|49={sender}|52={t}|56=TACHYON|98=0|108=30|553={key}|95={}|96={sig}|",
        sig.len()
    ))
}

#[test]
fn hmac_prehash_matches_an_independent_vector() {
    // python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"s3cret-key",
    //   b"20261122-03:00:00.000\x01A\x011\x01CLIENT1\x01TACHYON", hashlib.sha256).digest()).decode())'
    let f = LogonFields {
        sending_time: b"20261122-03:00:00.000",
        sending_time_ns: T0,
        seq_num: b"1",
        sender_comp_id: b"CLIENT1",
        target_comp_id: b"TACHYON",
        username: Some(b"k"),
        raw_data: None,
        password: None,
    };
    let mut pre = Vec::new();
    prehash(&f, &mut pre);
    assert_eq!(
        pre,
        b"20261122-03:00:00.000\x01A\x011\x01CLIENT1\x01TACHYON"
    );
    assert_eq!(
        sign(b"s3cret-key", &pre),
        "n8bgfoXql3182l/VZrix0xW5vtUa/LH1Sq+4fN8YmAo="
    );
}

#[test]
fn hmac_auth_table() {
    let stale = ts(T0 - 6 * SEC);
    let cases: Vec<(&str, In, Vec<&str>, Vec<&str>)> = vec![
        (
            "ok",
            signed_logon(T0, 1, "C1", "k1", "secret-k1-0123456789", None),
            vec![LOGON_REPLY],
            vec!["LoggedOn"],
        ),
        (
            "wrong signature",
            signed_logon(T0, 1, "C1", "k1", "guess", None),
            vec!["35=5|34=1|58=Authentication failed: invalid signature"],
            vec!["Disconnect(AuthFailed(BadSignature))"],
        ),
        (
            "unknown key",
            signed_logon(T0, 1, "C1", "k9", "secret-k1-0123456789", None),
            vec!["35=5|34=1|58=Authentication failed: unknown API key"],
            vec!["Disconnect(AuthFailed(UnknownKey))"],
        ),
        (
            "key bound to another CompID",
            signed_logon(T0, 1, "C1", "k2", "secret-k2-0123456789", None),
            vec!["35=5|34=1|58=Authentication failed: API key not bound to this SenderCompID"],
            vec!["Disconnect(AuthFailed(KeyNotForCompId))"],
        ),
        (
            "stale SendingTime",
            signed_logon(T0, 1, "C1", "k1", "secret-k1-0123456789", Some(&stale)),
            vec!["35=5|34=1|58=Authentication failed: SendingTime outside recv window"],
            vec!["Disconnect(AuthFailed(StaleSendingTime))"],
        ),
        (
            "no username",
            m(LOGON),
            vec!["35=5|34=1|58=Authentication failed: Username(553) (API key id) required"],
            vec!["Disconnect(AuthFailed(MissingUsername))"],
        ),
    ];
    for (name, input, out, acts) in cases {
        let mut h = Harness::new(config(true), MemoryStore::new());
        let out: Vec<String> = out.iter().map(|s| s.to_string()).collect();
        h.run(name, &[Step { input, out, acts }]);
    }
}

/// Admin-created keys (`tk_…`): secrets derived from the master secret, bound to a CompID
/// and (order-entry sessions) an account, gone once revoked.
#[test]
fn admin_created_api_keys_log_on_until_revoked() {
    use tachyon_config::{derive_api_key_secret, Secret};
    use tachyon_engine::{AccountId, ApiKey, ApiKeyId, CompId};
    let master = Secret::new("master-secret-for-tests-0123456789".into());
    let key = |id: u64, account: u32, comp: &str| ApiKey {
        key: ApiKeyId(id),
        account: AccountId(account),
        comp_id: CompId::new(comp.as_bytes()).unwrap(),
        nonce: [id as u8; 16],
    };
    let secret = |k: &ApiKey| derive_api_key_secret(&master, k.key, &k.nonce);
    let (good, other_comp, other_account) = (
        key(0xabc, 1, "C1"),
        key(0xabd, 1, "C2"),
        key(0xabe, 2, "C1"),
    );
    let policy = LockoutPolicy {
        max_failures: 100,
        window_ns: 60 * SEC,
        lockout_ns: 300 * SEC,
        max_tracked: 1000,
    };
    let mut auth = Authenticator::new(&sessions(), Some(master.clone()), 5 * SEC, policy);
    for k in [&good, &other_comp, &other_account] {
        assert!(auth.add_api_key(k));
    }
    assert_eq!(auth.api_key_count(), 3);
    let logon = |auth: Authenticator, k: &ApiKey, secret: &str| {
        let mut h = Harness::new(config(true), MemoryStore::new());
        h.auth = auth;
        let (out, acts) = h.step(&signed_logon(h.now, 1, "C1", &k.key.text(), secret, None));
        (h.auth, out, acts)
    };
    let (auth, out, acts) = logon(auth, &good, secret(&good).expose());
    assert_eq!(
        (out, acts),
        (vec![LOGON_REPLY.to_string()], vec!["LoggedOn".to_string()])
    );
    // The static key of the same session still works alongside.
    let mut h = Harness::new(config(true), MemoryStore::new());
    h.auth = auth;
    let (_, acts) = h.step(&signed_logon(
        h.now,
        1,
        "C1",
        "k1",
        "secret-k1-0123456789",
        None,
    ));
    assert_eq!(acts, vec!["LoggedOn"]);
    let auth = h.auth;
    let (auth, _, acts) = logon(auth, &good, "not-the-secret");
    assert_eq!(acts, vec!["Disconnect(AuthFailed(BadSignature))"]);
    // The secret of another key (same master) does not sign for this one.
    let (auth, _, acts) = logon(auth, &good, secret(&other_comp).expose());
    assert_eq!(acts, vec!["Disconnect(AuthFailed(BadSignature))"]);
    let (auth, _, acts) = logon(auth, &other_comp, secret(&other_comp).expose());
    assert_eq!(acts, vec!["Disconnect(AuthFailed(KeyNotForCompId))"]);
    let (mut auth, out, acts) = logon(auth, &other_account, secret(&other_account).expose());
    assert_eq!(acts, vec!["Disconnect(AuthFailed(KeyNotForAccount))"]);
    assert_eq!(
        out,
        vec!["35=5|34=1|58=Authentication failed: API key belongs to another account than this session's"]
    );
    auth.revoke_api_key(good.key);
    let (auth, _, acts) = logon(auth, &good, secret(&good).expose());
    assert_eq!(acts, vec!["Disconnect(AuthFailed(UnknownKey))"]);
    assert!(!format!("{auth:?}").contains(secret(&good).expose()));
    // Without a master secret admin-created keys cannot be verified, so none is kept.
    let mut no_master = Authenticator::new(&sessions(), None, 5 * SEC, policy);
    assert!(!no_master.add_api_key(&good));
    let (_, _, acts) = logon(no_master, &good, secret(&good).expose());
    assert_eq!(acts, vec!["Disconnect(AuthFailed(UnknownKey))"]);
}

#[test]
fn repeated_auth_failures_lock_out_key_and_address() {
    let mut h = Harness::new(config(true), MemoryStore::new());
    for i in 0..3 {
        let (out, acts) = h.step(&signed_logon(h.now, 1, "C1", "k1", "wrong", None));
        assert_eq!(
            acts,
            vec!["Disconnect(AuthFailed(BadSignature))"],
            "attempt {i}: {out:?}"
        );
        h.step(&In::Reconnect);
    }
    let (out, acts) = h.step(&signed_logon(
        h.now,
        1,
        "C1",
        "k1",
        "secret-k1-0123456789",
        None,
    ));
    assert_eq!(acts, vec!["Disconnect(AuthFailed(LockedOut))"]);
    assert_eq!(
        out,
        vec!["35=5|34=1|58=Authentication failed: too many failures, locked out, retry later"]
    );
    assert!(h.auth.is_address_locked(ADDR, h.now));
    // Debug output of the authenticator never carries a secret.
    assert!(!format!("{:?}", h.auth).contains("secret-"));
    h.now += 300 * SEC;
    h.step(&In::Reconnect);
    let (_, acts) = h.step(&signed_logon(
        h.now,
        1,
        "C1",
        "k1",
        "secret-k1-0123456789",
        None,
    ));
    assert_eq!(acts, vec!["LoggedOn"]);
}

#[test]
fn restart_keeps_seq_numbers_and_resends_from_file() {
    let dir = std::env::temp_dir().join(format!("tachyon-fix-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let mut h = Harness::new(config(false), FileStore::open(&dir).unwrap());
        h.run(
            "first run",
            &[
                logon(),
                st(
                    In::App("37=1|11=a|150=0|"),
                    &["35=8|34=2|37=1|11=a|150=0"],
                    &[],
                ),
                st(m("35=0|34=2|{hdr}"), &[], &[]),
            ],
        );
    }
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(
        store.seq_nums(),
        SeqNums {
            next_in: 3,
            next_out: 3
        }
    );
    let mut h = Harness::new(config(false), store);
    h.run(
        "after restart",
        &[
            st(
                m("35=A|34=3|{hdr}98=0|108=30|"),
                &["35=A|34=3|98=0|108=30"],
                &["LoggedOn"],
            ),
            st(
                m("35=2|34=4|{hdr}7=1|16=0|"),
                &[
                    "35=4|34=1|43=Y|123=Y|36=2",
                    "35=8|34=2|43=Y|122=20261122-03:00:00.000|37=1|11=a|150=0",
                    "35=4|34=3|43=Y|123=Y|36=4",
                ],
                &[],
            ),
        ],
    );
    // A torn tail (crash mid-append) is dropped at open.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("outbound"))
        .unwrap()
        .write_all(&[9, 0, 0])
        .unwrap();
    let store = FileStore::open(&dir).unwrap();
    let mut n = 0;
    store.outbound(1, 100, &mut |_, _| n += 1).unwrap();
    assert_eq!(n, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lockout_is_per_key_across_addresses_and_failures_expire() {
    let t = ts(T0);
    let fields = |secret: &str| {
        let pre = format!("{t}\x01A\x011\x01C1\x01TACHYON");
        sign(secret.as_bytes(), pre.as_bytes())
    };
    let good = fields("secret-k1-0123456789");
    let bad = fields("nope");
    fn mk<'a>(t: &'a str, sig: &'a str) -> LogonFields<'a> {
        LogonFields {
            sending_time: t.as_bytes(),
            sending_time_ns: T0,
            seq_num: b"1",
            sender_comp_id: b"C1",
            target_comp_id: b"TACHYON",
            username: Some(b"k1"),
            raw_data: Some(sig.as_bytes()),
            password: None,
        }
    }
    let logon = |sig: &'static str| mk(Box::leak(t.clone().into_boxed_str()), sig);
    let good: &'static str = Box::leak(good.into_boxed_str());
    let bad: &'static str = Box::leak(bad.into_boxed_str());
    let addr = |i: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i));
    // Three failures of one key from three addresses lock the key, not the addresses.
    let mut a = authenticator();
    for i in 1..=3 {
        assert_eq!(
            a.verify(T0, addr(i), &logon(bad)),
            Err(AuthError::BadSignature)
        );
    }
    assert_eq!(
        a.verify(T0, addr(9), &logon(good)),
        Err(AuthError::LockedOut)
    );
    assert!(!a.is_address_locked(addr(1), T0));
    assert_eq!(
        a.verify(T0 + 300 * SEC, addr(9), &logon(good))
            .map_err(|e| e.text()),
        Err(AuthError::StaleSendingTime.text())
    );
    // Failures spread wider than the window never lock.
    let mut a = authenticator();
    for i in 0..5u64 {
        assert_eq!(
            a.verify(
                T0 + i * 61 * SEC,
                addr(1),
                &LogonFields {
                    sending_time_ns: T0 + i * 61 * SEC,
                    ..logon(bad)
                }
            ),
            Err(AuthError::BadSignature)
        );
    }
    // A success clears the counters.
    let mut a = authenticator();
    for _ in 0..2 {
        assert_eq!(
            a.verify(T0, addr(1), &logon(bad)),
            Err(AuthError::BadSignature)
        );
    }
    assert_eq!(a.verify(T0, addr(1), &logon(good)), Ok(()));
    for _ in 0..2 {
        assert_eq!(
            a.verify(T0, addr(1), &logon(bad)),
            Err(AuthError::BadSignature)
        );
    }
    assert_eq!(a.verify(T0, addr(1), &logon(good)), Ok(()));
}

/// A memory store whose writes fail once `fail` is set (a full disk, say).
struct FailingStore {
    inner: MemoryStore,
    fail: std::rc::Rc<std::cell::Cell<bool>>,
}

impl FailingStore {
    fn check(&self) -> std::io::Result<()> {
        if self.fail.get() {
            Err(std::io::Error::other("disk full"))
        } else {
            Ok(())
        }
    }
}

impl SessionStore for FailingStore {
    fn seq_nums(&self) -> SeqNums {
        self.inner.seq_nums()
    }
    fn set_seq_nums(&mut self, s: SeqNums) -> std::io::Result<()> {
        self.check()?;
        self.inner.set_seq_nums(s)
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.inner.save_outbound(seq, frame)
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> std::io::Result<()> {
        self.inner.outbound(begin, end, f)
    }
    fn reset(&mut self) -> std::io::Result<()> {
        self.check()?;
        self.inner.reset()
    }
}

/// Our Logout that cannot be recorded ends the session at once (Disconnected, one
/// StoreFailed disconnect) instead of waiting for a reply in LogoutSent.
#[test]
fn our_logout_with_a_failing_store_ends_the_session() {
    let fail = std::rc::Rc::new(std::cell::Cell::new(false));
    let store = FailingStore {
        inner: MemoryStore::new(),
        fail: fail.clone(),
    };
    let mut h = Harness::new(config(false), store);
    h.run("logon", &[logon()]);
    assert_eq!(h.s.state(), SessionState::Active);
    fail.set(true);
    let (_, acts) = h.step(&In::Logout);
    assert_eq!(acts, ["Disconnect(StoreFailed)"]);
    assert_eq!(h.s.state(), SessionState::Disconnected);
    // Nothing more happens on later ticks (no LogoutTimeout for a session already ended).
    let (_, acts) = h.step(&In::Tick(60_000));
    assert!(acts.is_empty(), "{acts:?}");
}
