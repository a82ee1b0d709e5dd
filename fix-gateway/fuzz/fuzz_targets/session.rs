//! Fuzz the session state machine (`Session`, acceptor side) with an injected clock.
//!
//! The input is a session configuration and a list of operations: inbound messages built
//! by the harness (Logon with a correct, wrong or missing HMAC signature, heartbeats,
//! test and resend requests, sequence resets, logouts, application messages, unsupported
//! types) with fuzzed sequence numbers, CompIDs, SendingTimes, PossDupFlag and extra or
//! missing fields; raw bytes through the decoder; clock ticks (forwards and backwards);
//! reconnects; our own application messages and logouts; partial writes of the outbound
//! buffer. A store wrapper can fail chosen calls. After every operation:
//!
//! - nothing panicked;
//! - `outbound()` is what was left unwritten plus whole frames that decode;
//! - every frame we emit carries our CompIDs; fresh (non-PossDup) frames use consecutive
//!   MsgSeqNums and `next_out` ends right after the last one;
//! - the PossDup frames of a resend form one contiguous run of sequence numbers (resent
//!   messages and gap fills), each resent message has the type and body we sent, and
//!   admin and market-data messages are gap-filled, never resent;
//! - at most one Disconnect, and then the state is Disconnected; Deliver only while
//!   logged on (Active or LogoutSent), with the inbound MsgSeqNum; `next_in` only goes
//!   down on a Logon (reset);
//! - the store holds the session's sequence numbers (when the store never failed).
#![no_main]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tachyon_config::{Auth, FixSession, Secret, SessionKind, Throttle};
use tachyon_fix_gateway::{
    checksum, decode, prehash, sign, write_utc_timestamp, Action, Authenticator, Decoded,
    LockoutPolicy, LogonContext, LogonFields, MemoryStore, SeqNums, Session, SessionConfig,
    SessionState, SessionStore, StoreLimits, ThrottleConfig, TIMESTAMP_LEN,
};

const T0: u64 = 1_795_316_400_000_000_000; // 2026-11-22 03:00:00 UTC
const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const OUR: &str = "TACHYON";
const THEIR: &str = "C1";
const KEY: &str = "k1";
const SECRET: &str = "secret-k1-0123456789";

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: Cfg,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct Cfg {
    hmac: bool,
    reset_on_logon: bool,
    msgs_per_sec: u8,
    burst: u8,
    max_violations: u8,
    /// Index into [`MAX_MESSAGE_LENS`].
    max_message_len: u8,
    store_bytes: u16,
    store_messages: u8,
    /// Bit i set: the i-th store call fails (first 64 calls), if `flaky`.
    flaky: bool,
    fail_calls: u64,
}

const MAX_MESSAGE_LENS: [usize; 5] = [4096, 512, 160, 96, 0];

#[derive(Arbitrary, Debug)]
enum Op {
    Msg(Msg),
    /// Arbitrary bytes through the decoder; every message in them is fed.
    Raw(Vec<u8>),
    TickMs(u16),
    TickSecs(u8),
    /// The clock steps back (a wall clock may).
    ClockBack(u16),
    Reconnect,
    Disconnect,
    Logout,
    /// We send an application message (an ExecutionReport-like body).
    SendApp(AppBody),
    /// We send an unstored message (market data).
    SendTransient(u8),
    /// The socket took only this many bytes.
    Write(u16),
    WriteAll,
    Elsewhere(bool),
    Flush,
}

#[derive(Arbitrary, Debug)]
struct AppBody {
    order_id: u32,
    text: Vec<u8>,
    padding: u8,
}

#[derive(Arbitrary, Debug)]
struct Msg {
    /// Index into [`MSG_TYPES`].
    msg_type: u8,
    seq: Seq,
    comp: Comp,
    /// SendingTime(52) relative to now, seconds (`None` = now).
    time_offset_s: Option<i16>,
    poss_dup: bool,
    sig: Sig,
    /// Bit i set: drop the i-th template field.
    drop: u16,
    extra: Vec<(Tag, Val)>,
    /// Overwrite one byte of the body (after the MsgType) before framing.
    corrupt: Option<(u16, u8)>,
}

const MSG_TYPES: [&str; 18] = [
    "A", "0", "1", "2", "3", "4", "5", "D", "F", "G", "H", "q", "AF", "V", "j", "8", "ZZ", "4",
];

#[derive(Arbitrary, Debug)]
enum Seq {
    Next,
    Rel(i8),
    Abs(u64),
    Missing,
    Text(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Comp {
    Ok,
    WrongSender,
    WrongTarget,
    Missing,
}

#[derive(Arbitrary, Debug)]
enum Sig {
    Valid,
    ValidWithPassword,
    Wrong,
    UnknownKey,
    None,
}

#[derive(Arbitrary, Debug)]
enum Tag {
    Known(u8),
    Any(u16),
}

const KNOWN_TAGS: [u32; 40] = [
    7, 11, 16, 18, 34, 36, 37, 38, 40, 41, 43, 44, 45, 49, 52, 54, 55, 56, 58, 59, 60, 95, 96, 98,
    108, 112, 122, 123, 126, 141, 146, 152, 262, 263, 264, 267, 269, 530, 585, 7928,
];

#[derive(Arbitrary, Debug)]
enum Val {
    /// A well-formed value for the tag.
    Good,
    Uint(u64),
    Int(i64),
    /// Relative to the session's next inbound / outbound sequence number.
    SeqIn(i8),
    SeqOut(i8),
    /// Now plus this many seconds, as a UTCTimestamp.
    Time(i32),
    Y,
    N,
    Bytes(Vec<u8>),
}

/// The store under test, with injected failures.
struct Store {
    inner: MemoryStore,
    fail: u64,
    calls: u32,
    failed: bool,
}

impl Store {
    fn fail_now(&mut self) -> io::Result<()> {
        let i = self.calls;
        self.calls = self.calls.saturating_add(1);
        if i < 64 && self.fail & (1 << i) != 0 {
            self.failed = true;
            return Err(io::Error::other("injected store failure"));
        }
        Ok(())
    }
}

impl SessionStore for Store {
    fn seq_nums(&self) -> SeqNums {
        self.inner.seq_nums()
    }
    fn set_seq_nums(&mut self, s: SeqNums) -> io::Result<()> {
        self.fail_now()?;
        self.inner.set_seq_nums(s)
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()> {
        self.fail_now()?;
        self.inner.save_outbound(seq, frame)
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        // `&self`: cannot count; failures of reads are covered by the other calls.
        self.inner.outbound(begin, end, f)
    }
    fn reset(&mut self) -> io::Result<()> {
        self.fail_now()?;
        self.inner.reset()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.fail_now()?;
        self.inner.flush()
    }
}

fn ts(ns: u64) -> Vec<u8> {
    let mut b = [0u8; TIMESTAMP_LEN];
    write_utc_timestamp(ns, &mut b);
    b.to_vec()
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(body);
    let ck = checksum(&out);
    out.extend_from_slice(format!("10={ck:03}\x01").as_bytes());
    out
}

fn push_field(body: &mut Vec<u8>, tag: u32, v: &[u8]) {
    body.extend_from_slice(format!("{tag}=").as_bytes());
    body.extend_from_slice(v);
    body.push(0x01);
}

struct Harness {
    s: Session<Store>,
    auth: Authenticator,
    now: u64,
    elsewhere: bool,
    /// Bytes of `outbound()` seen after the last operation (unwritten).
    pending: Vec<u8>,
    /// MsgType and body of every fresh frame we sent, by seq.
    sent: HashMap<u64, (Vec<u8>, Body)>,
}

/// Header fields a resend replaces.
const RESEND_HEADER: [u32; 8] = [35, 34, 49, 52, 56, 43, 97, 122];

/// Message types a resend must gap-fill: admin messages and unstored market data.
const UNSTORED: [&[u8]; 8] = [b"0", b"1", b"2", b"3", b"4", b"5", b"A", b"X"];

/// The fields of a frame a resend keeps (all but the header).
type Body = Vec<(u32, Vec<u8>)>;

fn body_of(msg: &tachyon_fix_gateway::Message<'_>) -> Body {
    msg.fields()
        .map(|f| f.unwrap())
        .filter(|(t, _)| !RESEND_HEADER.contains(t))
        .map(|(t, v)| (t, v.to_vec()))
        .collect()
}

fn uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

impl Harness {
    fn good(&self, tag: u32) -> Vec<u8> {
        let sn = self.s.seq_nums();
        match tag {
            7 => b"1".to_vec(),
            16 => b"0".to_vec(),
            36 => (sn.next_in + 1).to_string().into_bytes(),
            11 => b"o1".to_vec(),
            41 => b"o1".to_vec(),
            37 => b"42".to_vec(),
            18 => b"6".to_vec(),
            38 | 44 | 152 => b"100.5".to_vec(),
            40 | 54 | 263 | 269 => b"1".to_vec(),
            45 => b"1".to_vec(),
            52 | 60 | 122 | 126 => ts(self.now),
            55 => b"BTC-USDT".to_vec(),
            58 | 112 | 262 | 584 => b"T1".to_vec(),
            59 => b"3".to_vec(),
            43 | 123 | 141 => b"Y".to_vec(),
            98 | 264 => b"0".to_vec(),
            108 => b"30".to_vec(),
            146 | 267 | 95 => b"1".to_vec(),
            96 => b"x".to_vec(),
            373 => b"5".to_vec(),
            530 | 585 => b"7".to_vec(),
            7928 => b"2".to_vec(),
            _ => b"1".to_vec(),
        }
    }

    fn val(&self, tag: u32, v: &Val) -> Vec<u8> {
        let sn = self.s.seq_nums();
        match v {
            Val::Good => self.good(tag),
            Val::Uint(n) => n.to_string().into_bytes(),
            Val::Int(n) => n.to_string().into_bytes(),
            Val::SeqIn(d) => sn
                .next_in
                .saturating_add_signed(*d as i64)
                .to_string()
                .into_bytes(),
            Val::SeqOut(d) => sn
                .next_out
                .saturating_add_signed(*d as i64)
                .to_string()
                .into_bytes(),
            Val::Time(d) => ts(self.now.saturating_add_signed(*d as i64 * SEC as i64)),
            Val::Y => b"Y".to_vec(),
            Val::N => b"N".to_vec(),
            Val::Bytes(b) => b.clone(),
        }
    }

    fn template(msg_type: &str) -> &'static [u32] {
        match msg_type {
            "A" => &[98, 108],
            "1" => &[112],
            "2" => &[7, 16],
            "3" => &[45, 373],
            "4" => &[123, 36],
            "5" => &[58],
            "D" => &[11, 55, 54, 60, 40, 44, 38],
            "F" => &[11, 41, 55, 54, 60],
            "G" => &[11, 41, 55, 54, 60, 40, 44, 38],
            "H" => &[11, 55, 54],
            "q" => &[11, 530, 60],
            "AF" => &[584, 585],
            "V" => &[262, 263, 264, 267, 269, 146, 55],
            _ => &[],
        }
    }

    fn build(&self, m: &Msg) -> Vec<u8> {
        let t = MSG_TYPES[m.msg_type as usize % MSG_TYPES.len()];
        let sn = self.s.seq_nums();
        let seq: Option<Vec<u8>> = match &m.seq {
            Seq::Next => Some(sn.next_in.to_string().into_bytes()),
            Seq::Rel(d) => Some(
                sn.next_in
                    .saturating_add_signed(*d as i64)
                    .to_string()
                    .into_bytes(),
            ),
            Seq::Abs(n) => Some(n.to_string().into_bytes()),
            Seq::Missing => None,
            Seq::Text(b) => Some(b.clone()),
        };
        let (sender, target) = match m.comp {
            Comp::Ok => (Some(THEIR), Some(OUR)),
            Comp::WrongSender => (Some("C2"), Some(OUR)),
            Comp::WrongTarget => (Some(THEIR), Some("OTHER")),
            Comp::Missing => (None, Some(OUR)),
        };
        let time = ts(self
            .now
            .saturating_add_signed(m.time_offset_s.unwrap_or(0) as i64 * SEC as i64));
        let mut body = Vec::new();
        push_field(&mut body, 35, t.as_bytes());
        let type_end = body.len();
        if let Some(s) = &seq {
            push_field(&mut body, 34, s);
        }
        if let Some(s) = sender {
            push_field(&mut body, 49, s.as_bytes());
        }
        push_field(&mut body, 52, &time);
        if let Some(s) = target {
            push_field(&mut body, 56, s.as_bytes());
        }
        if m.poss_dup {
            push_field(&mut body, 43, b"Y");
        }
        for (i, &tag) in Self::template(t).iter().enumerate() {
            if m.drop & (1 << i) == 0 {
                push_field(&mut body, tag, &self.good(tag));
            }
        }
        if t == "A" {
            let password = matches!(m.sig, Sig::ValidWithPassword).then_some(&b"pw"[..]);
            let f = LogonFields {
                sending_time: &time,
                sending_time_ns: 0,
                seq_num: seq.as_deref().unwrap_or(b""),
                sender_comp_id: sender.unwrap_or("").as_bytes(),
                target_comp_id: target.unwrap_or("").as_bytes(),
                username: None,
                raw_data: None,
                password,
            };
            let mut pre = Vec::new();
            prehash(&f, &mut pre);
            let (user, sig) = match m.sig {
                Sig::Valid | Sig::ValidWithPassword => (KEY, sign(SECRET.as_bytes(), &pre)),
                Sig::Wrong => (KEY, sign(b"not the secret", &pre)),
                Sig::UnknownKey => ("k9", sign(SECRET.as_bytes(), &pre)),
                Sig::None => ("", String::new()),
            };
            if !user.is_empty() {
                push_field(&mut body, 553, user.as_bytes());
                push_field(&mut body, 95, sig.len().to_string().as_bytes());
                push_field(&mut body, 96, sig.as_bytes());
            }
            if let Some(p) = password {
                push_field(&mut body, 554, p);
            }
        }
        for (tag, v) in m.extra.iter().take(16) {
            let tag = match tag {
                Tag::Known(i) => KNOWN_TAGS[*i as usize % KNOWN_TAGS.len()],
                Tag::Any(t) => *t as u32,
            };
            push_field(&mut body, tag, &self.val(tag, v));
        }
        if let Some((at, b)) = m.corrupt {
            let n = body.len() - type_end;
            body[type_end + at as usize % n] = b;
        }
        frame(&body)
    }

    /// Runs one inbound frame buffer through the decoder and the session.
    fn inbound(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            match decode(&bytes[at..]) {
                Decoded::Message { msg, consumed } => {
                    at += consumed;
                    let before = self.s.seq_nums();
                    let was = self.s.state();
                    let mut ctx = LogonContext {
                        source: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
                        logged_on_elsewhere: self.elsewhere,
                        auth: &mut self.auth,
                    };
                    let actions = self.s.on_message(self.now, &msg, &mut ctx);
                    let state = self.s.state();
                    let after = self.s.seq_nums();
                    let mut disconnects = 0;
                    for a in actions.iter() {
                        match a {
                            Action::LoggedOn => {
                                assert_eq!(msg.msg_type(), b"A");
                                assert!(matches!(was, SessionState::AwaitingLogon { .. }));
                            }
                            Action::Deliver { seq, .. } => {
                                // Messages in flight when we sent a Logout are still handled.
                                assert!(
                                    matches!(
                                        state,
                                        SessionState::Active | SessionState::LogoutSent { .. }
                                    ),
                                    "Deliver while {state:?}"
                                );
                                assert_eq!(Some(*seq), msg.get(34).and_then(uint));
                            }
                            Action::Disconnect(_) => disconnects += 1,
                        }
                    }
                    assert!(disconnects <= 1, "{actions:?}");
                    if disconnects == 1 {
                        assert_eq!(state, SessionState::Disconnected);
                    }
                    if was == SessionState::Disconnected {
                        assert!(actions.is_empty());
                        assert_eq!(before, after);
                    }
                    if after.next_in < before.next_in {
                        assert_eq!(
                            msg.msg_type(),
                            b"A",
                            "next_in went down: {before:?} → {after:?}"
                        );
                    }
                    self.check_outbound(before);
                }
                Decoded::Garbled { consumed, .. } => {
                    self.s.on_garbled(self.now);
                    at += consumed;
                }
                Decoded::Incomplete { .. } => break,
            }
        }
    }

    /// `outbound()` = the unwritten bytes from before + whole new frames.
    fn check_outbound(&mut self, before: SeqNums) {
        let out = self.s.outbound();
        assert!(out.starts_with(&self.pending), "unwritten bytes changed");
        let new = &out[self.pending.len()..];
        let mut at = 0;
        let mut fresh: Vec<u64> = Vec::new();
        // Contiguous run of PossDup frames: next sequence number expected.
        let mut run: Option<u64> = None;
        while at < new.len() {
            let Decoded::Message { msg, consumed } = decode(&new[at..]) else {
                panic!(
                    "we emitted something that does not decode: {:?}",
                    decode(&new[at..])
                );
            };
            assert_eq!(consumed, msg.as_bytes().len(), "garbage before our frame");
            at += consumed;
            assert_eq!(msg.get(49), Some(OUR.as_bytes()));
            assert_eq!(msg.get(56), Some(THEIR.as_bytes()));
            let seq = msg.get(34).and_then(uint).expect("our MsgSeqNum");
            if msg.get(43) == Some(b"Y") {
                if let Some(next) = run {
                    assert_eq!(seq, next, "resend run not contiguous");
                }
                run = Some(if msg.msg_type() == b"4" {
                    assert_eq!(msg.get(123), Some(&b"Y"[..]));
                    let new_seq = msg.get(36).and_then(uint).expect("NewSeqNo");
                    assert!(new_seq > seq, "gap fill {seq} → {new_seq}");
                    new_seq
                } else {
                    // Admin and market-data messages are never stored: gap-filled.
                    let t = msg.msg_type();
                    assert!(
                        !UNSTORED.contains(&t),
                        "resent a {:?}",
                        String::from_utf8_lossy(t)
                    );
                    if !self.s.store().failed {
                        let body = (t.to_vec(), body_of(&msg));
                        assert_eq!(self.sent.get(&seq), Some(&body), "resent {seq} differs");
                    }
                    seq + 1
                });
            } else {
                fresh.push(seq);
                self.sent
                    .insert(seq, (msg.msg_type().to_vec(), body_of(&msg)));
            }
        }
        let after = self.s.seq_nums();
        if let Some(next) = run {
            assert!(next <= after.next_out, "resend past next_out");
        }
        // After an injected store failure the numbers may legitimately skip (a message
        // stored but not sent); only decoding and resend contiguity are checked then.
        if !self.s.store().failed {
            for w in fresh.windows(2) {
                assert!(w[1] == w[0] + 1 || w[1] == 1, "fresh seqs {fresh:?}");
            }
            match (fresh.first(), fresh.last()) {
                (Some(&first), Some(&last)) => {
                    assert!(
                        first == before.next_out || first == 1,
                        "{fresh:?} after {before:?}"
                    );
                    // A refused Logon's Logout does not consume its number: the numbers
                    // are restored to what they were.
                    assert!(
                        after.next_out == last + 1
                            || (after == before && self.s.state() == SessionState::Disconnected),
                        "{fresh:?}, {before:?} → {after:?}"
                    );
                }
                _ => assert!(
                    after.next_out == before.next_out
                        || (after.next_out == 1 && before.next_out > 1),
                    "next_out moved without a frame: {before:?} → {after:?}"
                ),
            }
            assert_eq!(self.s.store().seq_nums(), after, "store out of date");
        }
        if after.next_out < before.next_out {
            // Reset: sequence numbers are reused from 1.
            self.sent.retain(|k, _| fresh.contains(k));
        }
        self.pending = out.to_vec();
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::Msg(m) => {
                let f = self.build(m);
                self.inbound(&f);
            }
            Op::Raw(b) => self.inbound(b),
            Op::TickMs(ms) => self.tick(*ms as u64 * MS),
            Op::TickSecs(s) => self.tick(*s as u64 * SEC),
            Op::ClockBack(ms) => {
                self.now -= *ms as u64 * MS;
                let before = self.s.seq_nums();
                self.s.on_timer(self.now);
                self.check_outbound(before);
            }
            Op::Reconnect => {
                self.s.on_disconnect();
                self.s.on_connect(self.now);
                assert!(self.s.outbound().is_empty());
                self.pending.clear();
            }
            Op::Disconnect => {
                self.s.on_disconnect();
                assert!(self.s.outbound().is_empty());
                self.pending.clear();
            }
            Op::Logout => {
                let before = self.s.seq_nums();
                let was = self.s.state();
                let a = self.s.logout(self.now, "shutting down");
                if was != SessionState::Active {
                    assert!(a.is_empty());
                }
                self.check_outbound(before);
            }
            Op::SendApp(b) => {
                let before = self.s.seq_nums();
                let mut text = b.text.clone();
                text.retain(|&c| c > 0x20 && c < 0x7f);
                text.truncate(200);
                let pad = vec![b'p'; b.padding as usize];
                let r = self.s.send_app(self.now, b"8", |w| {
                    w.field_uint(37, b.order_id as u64)
                        .field(150, b"0")
                        .field(39, b"0");
                    if !text.is_empty() {
                        w.field(58, &text);
                    }
                    if !pad.is_empty() {
                        w.field(9999, &pad);
                    }
                });
                if let Ok(seq) = r {
                    assert_eq!(seq, before.next_out);
                }
                self.check_outbound(before);
            }
            Op::SendTransient(n) => {
                let before = self.s.seq_nums();
                let pad = vec![b'x'; *n as usize + 1];
                self.s.send_transient(self.now, b"X", |w| {
                    w.field(262, b"md").field(9999, &pad);
                });
                self.check_outbound(before);
            }
            Op::Write(n) => {
                let n = *n as usize;
                self.s.consume_outbound(n);
                let k = n.min(self.pending.len());
                self.pending.drain(..k);
                assert_eq!(self.s.outbound(), &self.pending[..]);
            }
            Op::WriteAll => {
                let n = self.s.outbound().len();
                self.s.consume_outbound(n);
                self.pending.clear();
                assert!(self.s.outbound().is_empty());
            }
            Op::Elsewhere(b) => self.elsewhere = *b,
            Op::Flush => {
                let _ = self.s.flush_store();
            }
        }
    }

    fn tick(&mut self, d: u64) {
        self.now += d;
        let before = self.s.seq_nums();
        let was = self.s.state();
        let a = self.s.on_timer(self.now);
        assert!(a.iter().count() <= 1);
        if a.disconnect().is_some() {
            assert_eq!(self.s.state(), SessionState::Disconnected);
        }
        if was == SessionState::Disconnected {
            assert!(a.is_empty());
        }
        self.check_outbound(before);
    }
}

fuzz_target!(|input: Input| {
    let c = &input.cfg;
    let throttle = Throttle {
        msgs_per_sec: c.msgs_per_sec as u32,
        burst: c.burst as u32,
        max_violations: c.max_violations as u32 % 8,
    };
    let session = FixSession {
        sender_comp_id: THEIR.into(),
        target_comp_id: OUR.into(),
        kind: SessionKind::OrderEntry,
        account: 1,
        accounts: vec![],
        auth: Auth::HmacSha256 {
            key_id: Some(KEY.into()),
            secret: Some(Secret::new(SECRET.into())),
        },
        reset_on_logon: c.reset_on_logon,
        cancel_on_disconnect: false,
        throttle,
    };
    let mut cfg = SessionConfig::from_config(&session);
    cfg.require_hmac = c.hmac;
    cfg.throttle = ThrottleConfig::from(throttle);
    cfg.max_message_len = MAX_MESSAGE_LENS[c.max_message_len as usize % MAX_MESSAGE_LENS.len()];
    let store = Store {
        inner: MemoryStore::with_limits(StoreLimits {
            max_bytes: c.store_bytes as usize,
            max_messages: c.store_messages as usize,
        }),
        fail: if c.flaky { c.fail_calls } else { 0 },
        calls: 0,
        failed: false,
    };
    let auth = Authenticator::new(
        &[session],
        None,
        5 * SEC,
        LockoutPolicy {
            max_failures: 3,
            window_ns: 60 * SEC,
            lockout_ns: 300 * SEC,
            max_tracked: 64,
        },
    );
    let mut h = Harness {
        s: Session::new(cfg, store),
        auth,
        now: T0,
        elsewhere: false,
        pending: Vec::new(),
        sent: HashMap::new(),
    };
    h.s.on_connect(h.now);
    for op in input.ops.iter().take(256) {
        h.op(op);
    }
});
