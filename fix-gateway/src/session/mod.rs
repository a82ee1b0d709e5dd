//! The FIX session layer as a pure state machine (acceptor side).
//!
//! No I/O and no clock: every entry point takes `now_ns`. Inputs are decoded messages
//! ([`Session::on_message`]), timer ticks ([`Session::on_timer`]) and outbound
//! application messages ([`Session::send_app`]). Outputs are [`Actions`] (deliver an
//! application message, logged on, disconnect with a reason) plus encoded frames
//! appended to [`Session::outbound`], which the caller writes to the socket and then
//! [`Session::consume_outbound`]s. Persistence goes through the injected
//! [`SessionStore`].
//!
//! Gap handling: a message with MsgSeqNum above the expected one triggers one
//! ResendRequest `7=expected 16=0` and is discarded rather than queued; the
//! counterparty's resend covers it (FIX allows either; discarding keeps memory bounded).
//! Further too-high messages while that resend is outstanding send nothing more.
//!
//! Throttling applies to application messages only: refusing a Heartbeat or a
//! ResendRequest would break the session rather than slow it.

mod auth;
mod heartbeat;
mod resend;
mod seq_numbers;
mod store;
mod throttle;

use std::io;
use std::net::IpAddr;

pub use auth::{prehash, sign, AuthError, Authenticator, LockoutPolicy, LogonFields};
pub use seq_numbers::SeqNums;
pub use store::{FileStore, MemoryStore, SessionStore, StoreLimits};
pub use throttle::ThrottleConfig;

use crate::codec::decode::{parse_uint, Message};
use crate::codec::encode::{Header, MessageWriter};
use crate::codec::time::parse_utc_timestamp;
use crate::dictionary::{validate, Invalid, SessionReject, SessionRejectReason};
use crate::messages::{parse_app, AppMessage, BusinessReject, BusinessRejectReason};
use heartbeat::{Heartbeat, HeartbeatDue};
use seq_numbers::SeqCheck;
use throttle::TokenBucket;

/// Per-session settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our CompID: TargetCompID(56) on inbound, SenderCompID(49) on outbound.
    pub our_comp_id: String,
    /// The client's CompID.
    pub their_comp_id: String,
    /// Logon must carry a valid HMAC signature (checked by the [`Authenticator`]).
    pub require_hmac: bool,
    /// Reset both sequence numbers at every Logon.
    pub reset_on_logon: bool,
    /// Accepted HeartBtInt(108) range, seconds.
    pub heartbeat_min_s: u32,
    /// Upper bound of HeartBtInt.
    pub heartbeat_max_s: u32,
    /// Extra silence tolerated beyond HeartBtInt before a TestRequest, and again before
    /// disconnecting.
    pub grace_ns: u64,
    /// Maximum |SendingTime − now| accepted (373=10 then Logout beyond it).
    pub sending_time_window_ns: u64,
    /// Time allowed between connect and Logon.
    pub logon_timeout_ns: u64,
    /// Time allowed for the Logout reply after we sent a Logout.
    pub logout_timeout_ns: u64,
    /// Inbound application message throttle.
    pub throttle: ThrottleConfig,
    /// Largest outbound message we encode (scratch buffer size).
    pub max_message_len: usize,
}

impl SessionConfig {
    /// From a `[[fix.sessions]]` entry with gateway defaults: HeartBtInt 1..=120 s, grace
    /// 20 % of HeartBtInt (computed at logon: `grace_ns` is a floor), SendingTime window
    /// 120 s, logon and logout timeouts 10 s, 4 KiB messages.
    pub fn from_config(s: &tachyon_config::FixSession) -> SessionConfig {
        SessionConfig {
            our_comp_id: s.target_comp_id.clone(),
            their_comp_id: s.sender_comp_id.clone(),
            require_hmac: matches!(s.auth, tachyon_config::Auth::HmacSha256 { .. }),
            reset_on_logon: s.reset_on_logon,
            heartbeat_min_s: 1,
            heartbeat_max_s: 120,
            grace_ns: 1_000_000_000,
            sending_time_window_ns: 120_000_000_000,
            logon_timeout_ns: 10_000_000_000,
            logout_timeout_ns: 10_000_000_000,
            throttle: s.throttle.into(),
            max_message_len: 4096,
        }
    }
}

/// Where the session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No connection.
    Disconnected,
    /// Connected, waiting for the client's Logon.
    AwaitingLogon {
        /// When the connection was accepted.
        since_ns: u64,
    },
    /// Logged on.
    Active,
    /// We sent a Logout and wait for the reply.
    LogoutSent {
        /// When.
        since_ns: u64,
    },
}

/// Why the session asks the caller to close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The first message was not a Logon (nothing is sent back, per FIX).
    FirstMessageNotLogon,
    /// No Logon within the logon timeout.
    LogonTimeout,
    /// The Logon was malformed or out of policy (HeartBtInt, sequence reset).
    InvalidLogon,
    /// Authentication failed.
    AuthFailed(AuthError),
    /// The session is already logged on on another connection.
    LoggedOnElsewhere,
    /// SenderCompID/TargetCompID do not match.
    CompIdProblem,
    /// SendingTime too far from our clock.
    SendingTimeAccuracy,
    /// MsgSeqNum lower than expected without PossDupFlag.
    SeqNumTooLow,
    /// MsgSeqNum(34) missing or not a number.
    SeqNumMissing,
    /// Silent after a TestRequest.
    HeartbeatTimeout,
    /// Logout handshake completed (either side started it).
    LogoutComplete,
    /// No Logout reply in time.
    LogoutTimeout,
    /// Too many throttled messages.
    ThrottleViolations,
    /// The session store failed; state cannot be kept consistent.
    StoreFailed,
}

/// One thing the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// The Logon was accepted.
    LoggedOn,
    /// Hand this application message (MsgSeqNum `seq`) to the engine side.
    Deliver {
        /// Its MsgSeqNum.
        seq: u64,
        /// The message.
        msg: AppMessage<'a>,
    },
    /// Write what is in [`Session::outbound`], then close the connection.
    Disconnect(DisconnectReason),
}

/// The actions of one step (at most three; no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions<'a> {
    items: [Option<Action<'a>>; 3],
}

impl<'a> Actions<'a> {
    fn push(&mut self, a: Action<'a>) {
        let slot = self
            .items
            .iter_mut()
            .find(|s| s.is_none())
            .expect("at most three actions per step");
        *slot = Some(a);
    }
    /// The actions in order.
    pub fn iter(&self) -> impl Iterator<Item = &Action<'a>> {
        self.items.iter().flatten()
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.items[0].is_none()
    }
    /// The disconnect reason, if the step ends the connection.
    pub fn disconnect(&self) -> Option<DisconnectReason> {
        self.iter().find_map(|a| match a {
            Action::Disconnect(r) => Some(*r),
            _ => None,
        })
    }
}

/// Per-message context from the caller: who is connecting and the shared authenticator.
#[derive(Debug)]
pub struct LogonContext<'c> {
    /// The peer's address (for lockouts).
    pub source: IpAddr,
    /// True if this session is logged on on another connection (duplicate logon hook).
    pub logged_on_elsewhere: bool,
    /// The gateway's key directory and lockout tracker.
    pub auth: &'c mut Authenticator,
}

/// Header fields of an inbound message, gathered in one pass.
#[derive(Default)]
struct Hdr<'a> {
    seq: Option<&'a [u8]>,
    sender: Option<&'a [u8]>,
    target: Option<&'a [u8]>,
    sending_time: Option<&'a [u8]>,
    poss_dup: bool,
}

impl<'a> Hdr<'a> {
    fn of(msg: &Message<'a>) -> Hdr<'a> {
        let mut h = Hdr::default();
        for (tag, v) in msg.fields().filter_map(|f| f.ok()) {
            match tag {
                34 => h.seq = h.seq.or(Some(v)),
                49 => h.sender = h.sender.or(Some(v)),
                56 => h.target = h.target.or(Some(v)),
                52 => h.sending_time = h.sending_time.or(Some(v)),
                43 => h.poss_dup = v == b"Y",
                _ => {}
            }
        }
        h
    }
}

/// A FIX session (acceptor side) over a [`SessionStore`].
#[derive(Debug)]
pub struct Session<S: SessionStore> {
    cfg: SessionConfig,
    store: S,
    state: SessionState,
    seq: SeqNums,
    hb: Heartbeat,
    bucket: TokenBucket,
    violations: u32,
    /// Highest seq seen while a ResendRequest of ours is outstanding.
    resend_pending_to: Option<u64>,
    outbox: Vec<u8>,
    /// Bytes at the front of `outbox` already written (dropped lazily, so a large
    /// backlog written in pieces is not moved once per write).
    outbox_sent: usize,
    scratch: Vec<u8>,
    /// The admin-created API key the current logon authenticated with (so revoking the
    /// key can end the session).
    logon_key: Option<tachyon_engine::ApiKeyId>,
}

impl<S: SessionStore> Session<S> {
    /// A disconnected session with the store's sequence numbers.
    pub fn new(cfg: SessionConfig, store: S) -> Session<S> {
        let seq = store.seq_nums();
        let bucket = TokenBucket::new(&cfg.throttle, 0);
        let scratch = vec![0u8; cfg.max_message_len];
        Session {
            hb: Heartbeat::new(30_000_000_000, cfg.grace_ns, 0),
            cfg,
            store,
            state: SessionState::Disconnected,
            seq,
            bucket,
            violations: 0,
            resend_pending_to: None,
            outbox: Vec::with_capacity(64 * 1024),
            outbox_sent: 0,
            scratch,
            logon_key: None,
        }
    }

    /// The admin-created API key the session logged on with (`None` for a static key or
    /// a session without authentication).
    pub fn logon_key(&self) -> Option<tachyon_engine::ApiKeyId> {
        self.logon_key
    }

    /// The session's state.
    pub fn state(&self) -> SessionState {
        self.state
    }
    /// Sequence numbers.
    pub fn seq_nums(&self) -> SeqNums {
        self.seq
    }
    /// The store (e.g. to inspect it in tests).
    pub fn store(&self) -> &S {
        &self.store
    }
    /// Flushes the store ([`SessionStore::flush`]): call once per event-loop iteration
    /// for a session that sent something, before writing [`Session::outbound`].
    pub fn flush_store(&mut self) -> io::Result<()> {
        self.store.flush()
    }
    /// Encoded frames waiting to be written.
    pub fn outbound(&self) -> &[u8] {
        &self.outbox[self.outbox_sent..]
    }
    /// Drops the first `n` written bytes of [`Session::outbound`].
    pub fn consume_outbound(&mut self, n: usize) {
        self.outbox_sent = (self.outbox_sent + n).min(self.outbox.len());
        if self.outbox_sent == self.outbox.len() {
            self.outbox.clear();
            self.outbox_sent = 0;
        } else if self.outbox_sent >= 64 * 1024 && self.outbox_sent * 2 >= self.outbox.len() {
            // Moves at most as many bytes as were written since the last move.
            self.outbox.drain(..self.outbox_sent);
            self.outbox_sent = 0;
        }
    }

    /// A TCP connection was accepted for this session.
    pub fn on_connect(&mut self, now_ns: u64) {
        self.state = SessionState::AwaitingLogon { since_ns: now_ns };
        self.outbox.clear();
        self.outbox_sent = 0;
        self.violations = 0;
        self.resend_pending_to = None;
        self.bucket = TokenBucket::new(&self.cfg.throttle, now_ns);
    }

    /// The connection closed (either side). Sequence numbers stay in the store.
    pub fn on_disconnect(&mut self) {
        self.state = SessionState::Disconnected;
        self.outbox.clear();
        self.outbox_sent = 0;
    }

    fn persist_seq(&mut self) -> bool {
        self.store.set_seq_nums(self.seq).is_ok()
    }

    /// Encodes an admin message with the next outbound seq; admin messages are not stored.
    fn send_admin(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> bool {
        let h = Header {
            msg_type,
            seq_num: self.seq.next_out,
            sender_comp_id: self.cfg.our_comp_id.as_bytes(),
            target_comp_id: self.cfg.their_comp_id.as_bytes(),
            sending_time_ns: now_ns,
        };
        let mut w = MessageWriter::new(&mut self.scratch, &h);
        body(&mut w);
        let Ok(r) = w.finish() else { return false };
        self.outbox.extend_from_slice(&self.scratch[r]);
        self.seq.next_out += 1;
        self.hb.sent(now_ns);
        self.persist_seq()
    }

    /// Encodes and queues an application message that is **not** stored: a ResendRequest
    /// covering it gets a SequenceReset-GapFill, as for admin messages. For market data
    /// (W, X), which is stale by the time anyone would ask for it again; the client
    /// re-requests a snapshot instead. Returns false if the message does not fit
    /// `max_message_len` or the sequence numbers could not be stored.
    pub fn send_transient(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> bool {
        self.send_admin(now_ns, msg_type, body)
    }

    /// Encodes, stores and queues an outbound application message (ExecutionReport...).
    /// `body` writes the body fields. Returns its MsgSeqNum.
    pub fn send_app(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> io::Result<u64> {
        let seq = self.seq.next_out;
        let h = Header {
            msg_type,
            seq_num: seq,
            sender_comp_id: self.cfg.our_comp_id.as_bytes(),
            target_comp_id: self.cfg.their_comp_id.as_bytes(),
            sending_time_ns: now_ns,
        };
        let mut w = MessageWriter::new(&mut self.scratch, &h);
        body(&mut w);
        let r = w.finish().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "message larger than max_message_len",
            )
        })?;
        // Store before it can reach the wire, so a resend can always serve it.
        self.store.save_outbound(seq, &self.scratch[r.clone()])?;
        self.seq.next_out += 1;
        self.store.set_seq_nums(self.seq)?;
        self.outbox.extend_from_slice(&self.scratch[r]);
        self.hb.sent(now_ns);
        Ok(seq)
    }

    fn send_reject(
        &mut self,
        now_ns: u64,
        ref_seq: u64,
        msg_type: &[u8],
        r: &SessionReject,
    ) -> bool {
        self.send_admin(now_ns, b"3", |w| {
            w.field_uint(45, ref_seq);
            if let Some(t) = r.ref_tag {
                w.field_uint(371, t as u64);
            }
            w.field(372, msg_type)
                .field_uint(373, r.reason as u64)
                .field(58, r.text.as_bytes());
        })
    }

    fn send_business_reject(
        &mut self,
        now_ns: u64,
        ref_seq: u64,
        msg: &Message<'_>,
        r: &BusinessReject,
    ) -> bool {
        let ref_id = r.ref_tag.and_then(|t| msg.get(t));
        // BusinessMessageReject is an application message: stored, so resends repeat it.
        let ok = self
            .send_app(now_ns, b"j", |w| {
                w.field_uint(45, ref_seq).field(372, msg.msg_type());
                if let Some(id) = ref_id {
                    w.field(379, id);
                }
                w.field_uint(380, r.reason as u64)
                    .field(58, r.text.as_bytes());
            })
            .is_ok();
        ok
    }

    fn send_logout(&mut self, now_ns: u64, text: &str) -> bool {
        self.send_admin(now_ns, b"5", |w| {
            if !text.is_empty() {
                w.field(58, text.as_bytes());
            }
        })
    }

    /// Starts a Logout from our side (e.g. shutdown); the reply completes it.
    pub fn logout(&mut self, now_ns: u64, text: &str) -> Actions<'static> {
        let mut a = Actions::default();
        if self.state == SessionState::Active {
            if self.send_logout(now_ns, text) {
                self.state = SessionState::LogoutSent { since_ns: now_ns };
            } else {
                self.end(&mut a, DisconnectReason::StoreFailed);
            }
        }
        a
    }

    fn end(&mut self, a: &mut Actions<'_>, reason: DisconnectReason) {
        a.push(Action::Disconnect(reason));
        self.state = SessionState::Disconnected;
    }

    /// Logout with `text`, then disconnect.
    fn logout_and_end(
        &mut self,
        now_ns: u64,
        a: &mut Actions<'_>,
        text: &str,
        reason: DisconnectReason,
    ) {
        self.send_logout(now_ns, text);
        self.end(a, reason);
    }

    /// Timer tick: heartbeats, TestRequests, timeouts.
    pub fn on_timer(&mut self, now_ns: u64) -> Actions<'static> {
        let mut a = Actions::default();
        match self.state {
            SessionState::Disconnected => {}
            SessionState::AwaitingLogon { since_ns } => {
                if now_ns.saturating_sub(since_ns) >= self.cfg.logon_timeout_ns {
                    self.end(&mut a, DisconnectReason::LogonTimeout);
                }
            }
            SessionState::LogoutSent { since_ns } => {
                if now_ns.saturating_sub(since_ns) >= self.cfg.logout_timeout_ns {
                    self.end(&mut a, DisconnectReason::LogoutTimeout);
                }
            }
            SessionState::Active => match self.hb.poll(now_ns) {
                HeartbeatDue::Nothing => {}
                HeartbeatDue::Heartbeat => {
                    if !self.send_admin(now_ns, b"0", |_| {}) {
                        self.end(&mut a, DisconnectReason::StoreFailed);
                    }
                }
                HeartbeatDue::TestRequest(n) => {
                    let mut id = [0u8; 20];
                    let len = crate::codec::encode::write_uint(n, &mut id);
                    if !self.send_admin(now_ns, b"1", |w| {
                        w.field(112, &id[..len]);
                    }) {
                        self.end(&mut a, DisconnectReason::StoreFailed);
                    }
                }
                HeartbeatDue::Timeout => {
                    self.logout_and_end(
                        now_ns,
                        &mut a,
                        "Heartbeat timeout: no response to TestRequest",
                        DisconnectReason::HeartbeatTimeout,
                    );
                }
            },
        }
        a
    }

    /// A garbled frame was dropped by the decoder: FIX says ignore it (no seq consumed).
    /// Kept as an entry point so the caller's loop has one place to count them.
    pub fn on_garbled(&mut self, _now_ns: u64) {}

    /// Processes one decoded inbound message.
    pub fn on_message<'a>(
        &mut self,
        now_ns: u64,
        msg: &Message<'a>,
        ctx: &mut LogonContext<'_>,
    ) -> Actions<'a> {
        let mut a = Actions::default();
        match self.state {
            SessionState::Disconnected => {}
            SessionState::AwaitingLogon { .. } => {
                if msg.msg_type() != b"A" {
                    self.end(&mut a, DisconnectReason::FirstMessageNotLogon);
                } else {
                    // A refused Logon must not move the session's persisted state: an
                    // unauthenticated peer could otherwise advance our sequence numbers.
                    // Its Logout goes out with the current next_out, which is not consumed.
                    let saved = self.seq;
                    self.on_logon(now_ns, msg, ctx, &mut a);
                    if a.disconnect().is_some() && self.seq != saved {
                        self.seq = saved;
                        let _ = self.persist_seq();
                    }
                }
            }
            SessionState::Active | SessionState::LogoutSent { .. } => {
                self.hb.received(now_ns);
                self.on_session_message(now_ns, msg, &mut a);
            }
        }
        if a.disconnect().is_some() {
            self.state = SessionState::Disconnected;
        }
        a
    }

    /// Common header checks: CompIDs then SendingTime. `Err` = the session ended.
    fn check_header(
        &mut self,
        now_ns: u64,
        msg: &Message<'_>,
        h: &Hdr<'_>,
        seq: u64,
        a: &mut Actions<'_>,
    ) -> Result<(), ()> {
        let comp_bad = if h.sender != Some(self.cfg.their_comp_id.as_bytes()) {
            Some(49)
        } else if h.target != Some(self.cfg.our_comp_id.as_bytes()) {
            Some(56)
        } else {
            None
        };
        if let Some(tag) = comp_bad {
            let r = SessionReject {
                reason: SessionRejectReason::CompIdProblem,
                ref_tag: Some(tag),
                text: "CompID problem",
            };
            self.send_reject(now_ns, seq, msg.msg_type(), &r);
            self.logout_and_end(now_ns, a, "CompID problem", DisconnectReason::CompIdProblem);
            return Err(());
        }
        let t = h.sending_time.and_then(parse_utc_timestamp);
        let accurate =
            matches!(t, Some(t) if t.abs_diff(now_ns) <= self.cfg.sending_time_window_ns);
        if !accurate {
            let r = SessionReject {
                reason: SessionRejectReason::SendingTimeAccuracy,
                ref_tag: Some(52),
                text: "SendingTime accuracy problem",
            };
            self.send_reject(now_ns, seq, msg.msg_type(), &r);
            self.logout_and_end(
                now_ns,
                a,
                "SendingTime accuracy problem",
                DisconnectReason::SendingTimeAccuracy,
            );
            return Err(());
        }
        Ok(())
    }

    fn on_logon<'a>(
        &mut self,
        now_ns: u64,
        msg: &Message<'a>,
        ctx: &mut LogonContext<'_>,
        a: &mut Actions<'a>,
    ) {
        let h = Hdr::of(msg);
        let Some(seq) = h.seq.and_then(parse_uint) else {
            return self.logout_and_end(
                now_ns,
                a,
                "MsgSeqNum(34) missing or invalid",
                DisconnectReason::SeqNumMissing,
            );
        };
        if let Err(Invalid::Session(r)) = validate(msg) {
            // No session yet: refuse the Logon with the reason as text.
            return self.logout_and_end(now_ns, a, r.text, DisconnectReason::InvalidLogon);
        }
        if self.check_header(now_ns, msg, &h, seq, a).is_err() {
            return;
        }
        if self.cfg.require_hmac {
            let f = LogonFields {
                sending_time: h.sending_time.unwrap_or(b""),
                sending_time_ns: h.sending_time.and_then(parse_utc_timestamp).unwrap_or(0),
                seq_num: h.seq.unwrap_or(b""),
                sender_comp_id: h.sender.unwrap_or(b""),
                target_comp_id: h.target.unwrap_or(b""),
                username: msg.get(553),
                raw_data: msg.get(96),
                password: msg.get(554),
            };
            if let Err(e) = ctx.auth.verify(now_ns, ctx.source, &f) {
                return self.logout_and_end(now_ns, a, e.text(), DisconnectReason::AuthFailed(e));
            }
        }
        self.logon_key = if self.cfg.require_hmac {
            msg.get(553).and_then(tachyon_engine::ApiKeyId::parse)
        } else {
            None
        };
        if ctx.logged_on_elsewhere {
            return self.logout_and_end(
                now_ns,
                a,
                "Session already logged on",
                DisconnectReason::LoggedOnElsewhere,
            );
        }
        let hb_s = msg.get(108).and_then(parse_uint).unwrap_or(0);
        if hb_s < self.cfg.heartbeat_min_s as u64 || hb_s > self.cfg.heartbeat_max_s as u64 {
            return self.logout_and_end(
                now_ns,
                a,
                "HeartBtInt(108) out of accepted range",
                DisconnectReason::InvalidLogon,
            );
        }
        let reset = msg.get(141) == Some(b"Y") || self.cfg.reset_on_logon;
        if msg.get(141) == Some(b"Y") && seq != 1 {
            return self.logout_and_end(
                now_ns,
                a,
                "ResetSeqNumFlag=Y requires MsgSeqNum 1",
                DisconnectReason::InvalidLogon,
            );
        }
        // Checked against the numbers the Logon would start from, before anything is
        // reset: a refused Logon leaves the store (messages and numbers) as it was.
        let check = if reset {
            SeqNums::INITIAL.check(seq)
        } else {
            self.seq.check(seq)
        };
        if let SeqCheck::TooLow { expected } = check {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            return self.logout_and_end(now_ns, a, &text, DisconnectReason::SeqNumTooLow);
        }
        if reset {
            if self.store.reset().is_err() {
                return self.end(a, DisconnectReason::StoreFailed);
            }
            self.seq = SeqNums::INITIAL;
        }
        let hb_ns = hb_s * 1_000_000_000;
        self.hb = Heartbeat::new(hb_ns, self.cfg.grace_ns.max(hb_ns / 5), now_ns);
        let ok = self.send_admin(now_ns, b"A", |w| {
            w.field_uint(98, 0).field_uint(108, hb_s);
            if reset {
                w.field_bool(141, true);
            }
        });
        if !ok {
            return self.end(a, DisconnectReason::StoreFailed);
        }
        self.state = SessionState::Active;
        a.push(Action::LoggedOn);
        match check {
            SeqCheck::Expected => {
                self.seq.next_in += 1;
                if !self.persist_seq() {
                    self.end(a, DisconnectReason::StoreFailed);
                }
            }
            SeqCheck::TooHigh { expected } => self.request_resend(now_ns, expected, seq, a),
            SeqCheck::TooLow { .. } => unreachable!("handled above"),
        }
    }

    fn request_resend(&mut self, now_ns: u64, expected: u64, received: u64, a: &mut Actions<'_>) {
        if self.resend_pending_to.is_some_and(|p| p >= expected) {
            self.resend_pending_to = Some(self.resend_pending_to.unwrap().max(received));
            return;
        }
        self.resend_pending_to = Some(received);
        if !self.send_admin(now_ns, b"2", |w| {
            w.field_uint(7, expected).field_uint(16, 0);
        }) {
            self.end(a, DisconnectReason::StoreFailed);
        }
    }

    fn on_session_message<'a>(&mut self, now_ns: u64, msg: &Message<'a>, a: &mut Actions<'a>) {
        let h = Hdr::of(msg);
        let t = msg.msg_type();
        let Some(seq) = h.seq.and_then(parse_uint) else {
            return self.logout_and_end(
                now_ns,
                a,
                "MsgSeqNum(34) missing or invalid",
                DisconnectReason::SeqNumMissing,
            );
        };
        if self.check_header(now_ns, msg, &h, seq, a).is_err() {
            return;
        }
        // SequenceReset-Reset ignores MsgSeqNum entirely.
        if t == b"4" && msg.get(123) != Some(b"Y") {
            return self.on_sequence_reset(now_ns, msg, seq, false, a);
        }
        match self.seq.check(seq) {
            SeqCheck::TooLow { expected } => {
                if h.poss_dup {
                    return; // a duplicate we already processed
                }
                let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
                return self.logout_and_end(now_ns, a, &text, DisconnectReason::SeqNumTooLow);
            }
            SeqCheck::TooHigh { expected } => {
                // Serve their resend first so both sides can recover at once.
                if t == b"2" && validate(msg).is_ok() {
                    self.serve_resend(now_ns, msg, a);
                }
                if t == b"5" {
                    return self.logout_and_end(now_ns, a, "", DisconnectReason::LogoutComplete);
                }
                return self.request_resend(now_ns, expected, seq, a);
            }
            SeqCheck::Expected => {
                self.seq.next_in += 1;
                if self.resend_pending_to.is_some_and(|p| self.seq.next_in > p) {
                    self.resend_pending_to = None;
                }
                if !self.persist_seq() {
                    return self.end(a, DisconnectReason::StoreFailed);
                }
            }
        }
        match validate(msg) {
            Ok(()) => {}
            Err(Invalid::Session(r)) => {
                self.send_reject(now_ns, seq, t, &r);
                return;
            }
            Err(Invalid::UnsupportedMsgType) => {
                let r = BusinessReject {
                    reason: BusinessRejectReason::UnsupportedMsgType,
                    ref_tag: None,
                    text: "Unsupported message type",
                };
                self.send_business_reject(now_ns, seq, msg, &r);
                return;
            }
        }
        match t {
            b"0" | b"3" => {}
            b"1" => {
                let id = msg.get(112).unwrap_or(b"");
                if !self.send_admin(now_ns, b"0", |w| {
                    w.field(112, id);
                }) {
                    self.end(a, DisconnectReason::StoreFailed);
                }
            }
            b"2" => self.serve_resend(now_ns, msg, a),
            b"4" => self.on_sequence_reset(now_ns, msg, seq, true, a),
            b"5" => {
                if matches!(self.state, SessionState::LogoutSent { .. }) {
                    self.end(a, DisconnectReason::LogoutComplete);
                } else {
                    self.logout_and_end(now_ns, a, "", DisconnectReason::LogoutComplete);
                }
            }
            b"A" => {
                let r = SessionReject {
                    reason: SessionRejectReason::ValueOutOfRange,
                    ref_tag: Some(35),
                    text: "Logon while already logged on",
                };
                self.send_reject(now_ns, seq, t, &r);
            }
            _ => self.on_app(now_ns, msg, seq, a),
        }
    }

    fn on_app<'a>(&mut self, now_ns: u64, msg: &Message<'a>, seq: u64, a: &mut Actions<'a>) {
        if !self.bucket.try_take(now_ns) {
            self.violations += 1;
            let r = BusinessReject {
                reason: BusinessRejectReason::Other,
                ref_tag: Some(11),
                text: "Throttle limit exceeded",
            };
            self.send_business_reject(now_ns, seq, msg, &r);
            if self.violations > self.cfg.throttle.max_violations {
                self.logout_and_end(
                    now_ns,
                    a,
                    "Throttle limit exceeded too often",
                    DisconnectReason::ThrottleViolations,
                );
            }
            return;
        }
        match parse_app(msg) {
            Ok(m) => a.push(Action::Deliver { seq, msg: m }),
            Err(r) => {
                self.send_business_reject(now_ns, seq, msg, &r);
            }
        }
    }

    fn on_sequence_reset(
        &mut self,
        now_ns: u64,
        msg: &Message<'_>,
        seq: u64,
        gap_fill: bool,
        a: &mut Actions<'_>,
    ) {
        let Some(new_seq) = msg.get(36).and_then(parse_uint) else {
            let r = SessionReject {
                reason: SessionRejectReason::RequiredTagMissing,
                ref_tag: Some(36),
                text: "Required tag missing",
            };
            self.send_reject(now_ns, seq, b"4", &r);
            return;
        };
        // For a gap fill next_in was already advanced past this message's own seq.
        if new_seq < self.seq.next_in {
            if !gap_fill || new_seq <= seq {
                let r = SessionReject {
                    reason: SessionRejectReason::ValueOutOfRange,
                    ref_tag: Some(36),
                    text: "Attempt to lower sequence number, invalid value NewSeqNo(36)",
                };
                self.send_reject(now_ns, seq, b"4", &r);
            }
            return;
        }
        self.seq.next_in = new_seq;
        if self.resend_pending_to.is_some_and(|p| new_seq > p) {
            self.resend_pending_to = None;
        }
        if !self.persist_seq() {
            self.end(a, DisconnectReason::StoreFailed);
        }
    }

    fn serve_resend(&mut self, now_ns: u64, msg: &Message<'_>, a: &mut Actions<'_>) {
        let begin = msg.get(7).and_then(parse_uint).unwrap_or(1).max(1);
        let last_sent = self.seq.next_out.saturating_sub(1);
        let end = match msg.get(16).and_then(parse_uint).unwrap_or(0) {
            0 => last_sent,
            e => e.min(last_sent),
        };
        if begin > end {
            return;
        }
        // Streamed from the store without allocating (the outbox may grow for a long
        // range). A stored message that cannot be re-encoded is gap-filled instead.
        let (our, their) = (
            self.cfg.our_comp_id.as_bytes(),
            self.cfg.their_comp_id.as_bytes(),
        );
        let (scratch, outbox) = (&mut self.scratch, &mut self.outbox);
        let mut walk = resend::Walk::new(begin, end);
        let r = self.store.outbound(begin, end, &mut |seq, stored| {
            let Some(before) = walk.message(seq) else {
                return;
            };
            if let Some((from, to)) = before {
                resend::push_gap_fill(our, their, from, to, now_ns, scratch, outbox);
            }
            if let Ok(r) = resend::possdup_copy(stored, now_ns, scratch) {
                outbox.extend_from_slice(&scratch[r]);
                walk.sent(seq);
            }
        });
        if r.is_err() {
            return self.end(a, DisconnectReason::StoreFailed);
        }
        if let Some((from, to)) = walk.finish() {
            resend::push_gap_fill(our, their, from, to, now_ns, scratch, outbox);
        }
        self.hb.sent(now_ns);
    }
}
