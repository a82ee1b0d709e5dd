//! The gateway's I/O thread: one mio event loop that accepts FIX connections, frames and
//! decodes what they send, drives each [`Session`], publishes orders into the pipeline's
//! inbound ring and turns released engine events into ExecutionReports.
//!
//! Everything happens on this one thread, so socket writes never race. The loop:
//! 1. `epoll_wait` — without a timeout while there is work; when idle it announces
//!    sleep to the pipeline ([`ReleasedEvents::prepare_sleep`]) so the matcher or the
//!    journaler wakes it (an eventfd) as soon as an event may be releasable;
//! 2. accept, read into each connection's fixed buffer, decode frames, run the session
//!    layer, convert orders to commands and `try_publish` them (a full ring parks the
//!    command on its session and stops reading that connection: back-pressure, never
//!    blocking the thread that must also drain the outbound ring);
//! 3. poll released events, encode replies into the sessions' outbound buffers
//!    (stored for resend first);
//! 4. flush each session's store, then write its buffer to the socket; a client whose
//!    unsent bytes exceed `fix.max_outbound_bytes` is disconnected (slow reader);
//! 5. every 100 ms, session timers (heartbeats, TestRequests, timeouts).

mod bridge;
mod md;
mod reports;

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use tachyon_config::{Config, FixSession, SessionKind};
use tachyon_engine::{
    AccountId, ClOrdId, Command, CommandKind, MassCancel, MassCancelScope, OrderId, OrderRef,
    SessionId, Side,
};
use tachyon_pipeline::{CommandPublisher, OutEvent, PipelineStats, PollResult, ReleasedEvents};
use tracing::{debug, info, warn};

use crate::codec::decode::{decode, Decoded, Message};
use crate::codec::encode::MessageWriter;
use crate::messages::AppMessage;
use crate::session::{
    Action, Authenticator, DisconnectReason, FileStore, LockoutPolicy, LogonContext, MemoryStore,
    SeqNums, Session, SessionConfig, SessionState, SessionStore,
};
use bridge::{GatewayReject, Markets};
use md::MarketData;
use reports::{CachedOrder, Er, ExecId, OrderCache, Reply};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;

/// Per-connection receive buffer (a frame must fit; the decoder bounds BodyLength).
const RECV_BUF: usize = 64 * 1024;
/// Largest message we encode (a full-depth market data snapshot is the big one:
/// ~40 bytes per level).
const MAX_OUTBOUND_MESSAGE: usize = 256 * 1024;
/// Session timers run this often.
const TIMER_EVERY: Duration = Duration::from_millis(100);
/// After the last piece of work, keep polling without sleeping this long. Zero: on 2
/// cores a spinning gateway takes the core the matcher and journaler need (fix-load at
/// 20k orders/s, same load: 50 µs of spin gave p50 0.85–1.0 ms, p99 14–20 ms; none gave
/// p50 75–150 µs, p99 4.7–5.7 ms). Wake-ups come from socket readiness and ReleaseWake.
const IDLE_SPIN: Duration = Duration::from_micros(0);
/// A poll of the outbound ring that returns this many events means the gateway is
/// behind: market data then accumulates (up to `md::MAX_PENDING_ENTRIES` per feed) and
/// market-data sessions are written in big pieces. When it keeps up, polls return a
/// command's events and market data goes out after each poll.
const BEHIND_EVENTS: usize = 64;
/// An unbound connection must send a Logon within this.
const LOGON_TIMEOUT: Duration = Duration::from_secs(10);
/// On shutdown, wait this long for Logout replies.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Where sessions keep sequence numbers and sent messages.
#[derive(Clone, Debug)]
pub enum StoreMode {
    /// In memory only (tests, benchmarks): lost at restart.
    Memory,
    /// One [`FileStore`] per session under this directory (`<dir>/<SenderCompID>`).
    Files(PathBuf),
}

/// Gateway settings beyond the configuration file.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Session persistence.
    pub store: StoreMode,
    /// The resting orders recovered by the pipeline ([`tachyon_pipeline::Pipeline::take_open_orders`]),
    /// so status requests know orders placed before a restart.
    pub open_orders: Vec<tachyon_engine::OrderView>,
    /// The active API keys recovered by the pipeline ([`tachyon_pipeline::Pipeline::take_api_keys`]);
    /// later ones arrive as events.
    pub api_keys: Vec<tachyon_engine::ApiKey>,
}

/// Counters for the ops plane.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Sessions currently logged on.
    pub logged_on: AtomicU64,
    /// Inbound frames decoded.
    pub messages_in: AtomicU64,
    /// Garbled frames ignored.
    pub garbled: AtomicU64,
    /// Commands published to the inbound ring.
    pub commands: AtomicU64,
    /// Application messages refused by the gateway before the engine.
    pub gateway_rejects: AtomicU64,
    /// Replies (ExecutionReports and the like) encoded.
    pub replies: AtomicU64,
    /// Clients disconnected for reading too slowly.
    pub slow_disconnects: AtomicU64,
    /// Times a full inbound ring parked a command (back-pressure).
    pub ring_full: AtomicU64,
}

/// A running gateway.
pub struct Gateway {
    thread: Option<JoinHandle<ReleasedEvents>>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    addr: SocketAddr,
    stats: Arc<GatewayStats>,
}

impl Gateway {
    /// Binds `cfg.fix.listen` and starts the I/O thread (`tachyon-gateway`).
    pub fn start(
        cfg: &Config,
        opts: GatewayOptions,
        publisher: CommandPublisher,
        events: ReleasedEvents,
        pipeline: Arc<PipelineStats>,
    ) -> io::Result<Gateway> {
        let std_listener = std::net::TcpListener::bind(cfg.fix.listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let mut listener = TcpListener::from_std(std_listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let w = waker.clone();
        pipeline.release_wake.set_waker(Box::new(move || {
            let _ = w.wake();
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(GatewayStats::default());
        let mut io = Io::new(cfg, opts, poll, listener, publisher, events, stats.clone())?;
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tachyon-gateway".into())
            .spawn(move || {
                io.run(&stop2);
                io.events
            })?;
        Ok(Gateway {
            thread: Some(thread),
            stop,
            waker,
            addr,
            stats,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters.
    pub fn stats(&self) -> Arc<GatewayStats> {
        self.stats.clone()
    }

    /// Logs every session out, closes the sockets, stops the thread and hands back the
    /// event poller (keep draining it while the pipeline shuts down).
    pub fn stop(mut self) -> Result<ReleasedEvents, String> {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        self.thread
            .take()
            .expect("joined once")
            .join()
            .map_err(|_| "gateway thread panicked".to_string())
    }
}

/// A session's store: files in production, memory in tests and benchmarks.
#[derive(Debug)]
enum AnyStore {
    Memory(MemoryStore),
    File(FileStore),
}

impl SessionStore for AnyStore {
    fn seq_nums(&self) -> SeqNums {
        match self {
            AnyStore::Memory(s) => s.seq_nums(),
            AnyStore::File(s) => s.seq_nums(),
        }
    }
    fn set_seq_nums(&mut self, n: SeqNums) -> io::Result<()> {
        match self {
            AnyStore::Memory(s) => s.set_seq_nums(n),
            AnyStore::File(s) => s.set_seq_nums(n),
        }
    }
    fn save_outbound(&mut self, seq: u64, frame: &[u8]) -> io::Result<()> {
        match self {
            AnyStore::Memory(s) => s.save_outbound(seq, frame),
            AnyStore::File(s) => s.save_outbound(seq, frame),
        }
    }
    fn outbound(&self, begin: u64, end: u64, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        match self {
            AnyStore::Memory(s) => s.outbound(begin, end, f),
            AnyStore::File(s) => s.outbound(begin, end, f),
        }
    }
    fn reset(&mut self) -> io::Result<()> {
        match self {
            AnyStore::Memory(s) => s.reset(),
            AnyStore::File(s) => s.reset(),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            AnyStore::Memory(s) => s.flush(),
            AnyStore::File(s) => s.flush(),
        }
    }
}

/// Encodes and stores one reply for slot `i` (dropped for a disconnected session that
/// resets at its next Logon: nobody could ever receive it).
/// Sends the market data queued since the last flush (see [`MarketData::flush`]) to the
/// connected subscribers.
fn flush_md(md: &mut MarketData, slots: &mut [Slot], markets: &Markets, now: u64) {
    md.flush(markets, |slot, body| {
        let s = &mut slots[slot];
        if s.conn.is_some() {
            let _ = s.session.send_transient(now, b"X", |w| body(w));
        }
    });
}

fn deliver(
    slots: &mut [Slot],
    i: usize,
    now: u64,
    markets: &Markets,
    stats: &GatewayStats,
    reply: &Reply<'_>,
) {
    let Some(slot) = slots.get_mut(i) else { return };
    if slot.conn.is_none() && slot.cfg.reset_on_logon {
        return;
    }
    let res = match reply {
        Reply::Er(er) => slot
            .session
            .send_app(now, b"8", |w| reports::write_er(w, markets, er)),
        Reply::CancelReject(cr) => slot
            .session
            .send_app(now, b"9", |w| reports::write_cancel_reject(w, cr)),
        Reply::MassCancel(mc) => slot
            .session
            .send_app(now, b"r", |w| reports::write_mass_cancel(w, markets, mc)),
    };
    match res {
        Ok(_) => {
            stats.replies.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            warn!(component = "gateway", session = %slot.cfg.sender_comp_id, error = %e,
                "could not store a reply");
        }
    }
}

/// One configured session.
struct Slot {
    session: Session<AnyStore>,
    cfg: FixSession,
    sid: SessionId,
    conn: Option<usize>,
    /// A command refused by a full ring, retried before more input is read.
    pending: Option<Command>,
    /// Cancel-on-disconnect still to publish.
    pending_cod: bool,
}

/// One TCP connection.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Box<[u8]>,
    len: usize,
    /// Readable edge not yet drained (to WouldBlock or a short read).
    readable: bool,
    /// The peer's end was reported closed (or in error): read to the end (0 or an
    /// error), never stop at a short read.
    read_closed: bool,
    /// The session bound by its Logon.
    slot: Option<usize>,
    accepted: Instant,
    /// Registered for WRITABLE (a write hit WouldBlock).
    want_write: bool,
    /// A write hit WouldBlock and no WRITABLE edge came since: don't try again (a busy
    /// loop would otherwise pay one failing `write` per connection per iteration).
    blocked: bool,
    /// Raw bytes to send before closing (refusals outside any session).
    raw_out: Vec<u8>,
    /// Close once `raw_out` (or the session's outbound) is written.
    close_after_write: bool,
}

struct Io {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    slots: Vec<Slot>,
    auth: Authenticator,
    markets: Markets,
    publisher: CommandPublisher,
    events: ReleasedEvents,
    orders: OrderCache,
    stats: Arc<GatewayStats>,
    max_outbound: usize,
    max_conns: usize,
    local_exec_id: u64,
    next_timer: Instant,
    /// Scratch for writing a reply to one session (avoids borrowing the slot twice).
    scratch: Vec<u8>,
    /// The last poll of the outbound ring returned at least [`BEHIND_EVENTS`]: the
    /// gateway is catching up, so market-data sessions are written in bigger pieces.
    behind: bool,
    /// A market-data session's frames were held back by `behind`: poll again without
    /// sleeping so they go out as soon as the ring is drained.
    md_deferred: bool,
    /// L2 books and market data subscriptions.
    md: MarketData,
    /// Drop-copy sessions (slot indexes) by account.
    drop_copy: HashMap<u32, Vec<usize>>,
    /// API keys revoked by the events just drained (their sessions are logged out).
    revoked: Vec<tachyon_engine::ApiKeyId>,
}

impl Io {
    fn new(
        cfg: &Config,
        opts: GatewayOptions,
        poll: Poll,
        listener: TcpListener,
        publisher: CommandPublisher,
        events: ReleasedEvents,
        stats: Arc<GatewayStats>,
    ) -> io::Result<Io> {
        let mut slots = Vec::with_capacity(cfg.fix.sessions.len());
        for (i, s) in cfg.fix.sessions.iter().enumerate() {
            let store = match &opts.store {
                StoreMode::Memory => AnyStore::Memory(MemoryStore::new()),
                StoreMode::Files(dir) => {
                    let d = dir.join(&s.sender_comp_id);
                    AnyStore::File(FileStore::open(&d).map_err(|e| {
                        io::Error::new(e.kind(), format!("session store {}: {e}", d.display()))
                    })?)
                }
            };
            let mut sc = SessionConfig::from_config(s);
            sc.max_message_len = MAX_OUTBOUND_MESSAGE;
            sc.sending_time_window_ns = cfg.fix.recv_window_ms * 1_000_000;
            sc.heartbeat_min_s = cfg.fix.heartbeat_min_s;
            sc.heartbeat_max_s = cfg.fix.heartbeat_max_s;
            slots.push(Slot {
                session: Session::new(sc, store),
                cfg: s.clone(),
                sid: SessionId(u16::try_from(i + 1).expect("at most 65535 sessions")),
                conn: None,
                pending: None,
                pending_cod: false,
            });
        }
        let policy = LockoutPolicy {
            max_failures: cfg.fix.lockout_max_failures,
            window_ns: cfg.fix.lockout_window_s * 1_000_000_000,
            lockout_ns: cfg.fix.lockout_duration_s * 1_000_000_000,
            max_tracked: 65_536,
        };
        let mut auth = Authenticator::new(
            &cfg.fix.sessions,
            cfg.fix.api_key_master.clone(),
            cfg.fix.recv_window_ms * 1_000_000,
            policy,
        );
        for k in &opts.api_keys {
            if !auth.add_api_key(k) {
                warn!(
                    component = "gateway",
                    key = %k.key.text(),
                    comp_id = k.comp_id.as_str(),
                    "API key cannot log on: fix.api_key_master is not configured"
                );
            }
        }
        let max_conns = cfg.fix.max_connections;
        let open_orders = (cfg.engine.max_orders as usize)
            .min(1 << 16)
            .max(opts.open_orders.len() * 2);
        let mut md = MarketData::new(
            cfg.instruments.len(),
            cfg.engine.max_levels_per_side as usize,
        );
        let mut levels: std::collections::BTreeMap<(u16, bool, i64), i64> = Default::default();
        for o in &opts.open_orders {
            *levels
                .entry((o.symbol.0, o.side == Side::Buy, o.price.0))
                .or_default() += o.leaves.0;
        }
        for ((sym, buy, price), qty) in levels {
            let side = if buy { Side::Buy } else { Side::Sell };
            md.seed(tachyon_engine::SymbolId(sym), side, price, qty);
        }
        let mut drop_copy: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, s) in cfg.fix.sessions.iter().enumerate() {
            if s.kind == SessionKind::DropCopy {
                for a in &s.accounts {
                    drop_copy.entry(*a).or_default().push(i);
                }
            }
        }
        let mut orders = OrderCache::with_capacity(open_orders);
        for o in &opts.open_orders {
            orders.insert(
                o.order_id.0,
                CachedOrder {
                    account: o.account.0,
                    symbol: o.symbol,
                    side: o.side,
                    // Only limit orders rest.
                    ord_type: tachyon_engine::OrdType::Limit,
                    cl_ord_id: o.cl_ord_id,
                    price: o.price.0,
                    qty: o.qty.0,
                    leaves: o.leaves.0,
                    cum_qty: o.cum_qty.0,
                    cum_cost: o.cum_cost,
                },
            );
        }
        orders.settle();
        Ok(Io {
            poll,
            listener,
            conns: (0..max_conns).map(|_| None).collect(),
            free: (0..max_conns).rev().collect(),
            slots,
            auth,
            markets: Markets::from_config(cfg),
            publisher,
            events,
            orders,
            md,
            drop_copy,
            revoked: Vec::with_capacity(4),
            stats,
            max_outbound: cfg.fix.max_outbound_bytes,
            max_conns,
            local_exec_id: tachyon_pipeline::wall_clock_ns(),
            next_timer: Instant::now() + TIMER_EVERY,
            scratch: vec![0u8; 8192],
            behind: false,
            md_deferred: false,
        })
    }

    fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        let mut last_work = Instant::now();
        let mut stopping: Option<Instant> = None;
        loop {
            if stopping.is_none() && stop.load(Ordering::Acquire) {
                self.begin_shutdown();
                stopping = Some(Instant::now());
            }
            if let Some(t) = stopping {
                let open = self.conns.iter().any(|c| c.is_some());
                if !open || t.elapsed() >= SHUTDOWN_GRACE {
                    self.close_all();
                    return;
                }
            }
            let busy = self.has_backlog() || self.md_deferred || self.md.has_pending();
            let spin = busy || last_work.elapsed() < IDLE_SPIN || stopping.is_some();
            let timeout = if spin {
                Some(Duration::ZERO)
            } else if self.events.prepare_sleep() {
                Some(self.next_timer.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            let slept = !spin && timeout != Some(Duration::ZERO);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    warn!(component = "gateway", error = %e, "poll failed");
                }
            }
            if slept {
                self.events.woke();
            }
            let mut work = false;
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => {
                        let i = t - FIRST_CONN;
                        if let Some(c) = self.conns[i].as_mut() {
                            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                                c.readable = true;
                            }
                            if ev.is_read_closed() || ev.is_error() {
                                c.read_closed = true;
                            }
                            if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                                c.blocked = false;
                            }
                        }
                    }
                }
                work = true;
            }
            let now = now_ns();
            work |= self.retry_pending(now);
            work |= self.read_all(now);
            work |= self.drain_events(now);
            if Instant::now() >= self.next_timer {
                self.next_timer = Instant::now() + TIMER_EVERY;
                self.timers(now);
            }
            self.write_all();
            if work {
                last_work = Instant::now();
            }
        }
    }

    fn has_backlog(&self) -> bool {
        self.conns.iter().flatten().any(|c| c.readable)
            || self
                .slots
                .iter()
                .any(|s| s.pending.is_some() || s.pending_cod)
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    self.stats.connections.fetch_add(1, Ordering::Relaxed);
                    let Some(i) = self.free.pop() else {
                        warn!(component = "gateway", %peer, max = self.max_conns,
                            "connection refused: fix.max_connections reached");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        Token(i + FIRST_CONN),
                        Interest::READABLE,
                    ) {
                        warn!(component = "gateway", %peer, error = %e, "register failed");
                        self.free.push(i);
                        continue;
                    }
                    debug!(component = "gateway", %peer, "accepted");
                    self.conns[i] = Some(Conn {
                        stream,
                        peer,
                        buf: vec![0u8; RECV_BUF].into_boxed_slice(),
                        len: 0,
                        readable: true,
                        read_closed: false,
                        slot: None,
                        accepted: Instant::now(),
                        want_write: false,
                        blocked: false,
                        raw_out: Vec::new(),
                        close_after_write: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(component = "gateway", error = %e, "accept failed");
                    return;
                }
            }
        }
    }

    /// Publishes commands parked by a full ring. True if any went out.
    fn retry_pending(&mut self, _now: u64) -> bool {
        let mut any = false;
        for s in &mut self.slots {
            if let Some(cmd) = s.pending {
                if self.publisher.try_publish_from(s.sid.0.into(), cmd).is_ok() {
                    s.pending = None;
                    self.stats.commands.fetch_add(1, Ordering::Relaxed);
                    any = true;
                }
            }
            if s.pending.is_none() && s.pending_cod {
                let cmd = Command {
                    ts_ns: now_ns(),
                    kind: CommandKind::MassCancel(MassCancel {
                        account: AccountId(s.cfg.account),
                        scope: MassCancelScope::Session(s.sid),
                        cl_ord_id: ClOrdId::EMPTY,
                    }),
                };
                if self.publisher.try_publish_from(0, cmd).is_ok() {
                    s.pending_cod = false;
                    any = true;
                }
            }
        }
        any
    }

    /// Reads and processes every readable connection. True if anything was read.
    fn read_all(&mut self, now: u64) -> bool {
        let mut any = false;
        for i in 0..self.conns.len() {
            let Some(c) = self.conns[i].as_ref() else {
                continue;
            };
            if !c.readable && c.len == 0 {
                continue;
            }
            if let Some(s) = c.slot {
                if self.slots[s].pending.is_some() {
                    continue; // back-pressure: leave the bytes in the socket
                }
            }
            any |= self.service(i, now);
        }
        any
    }

    /// Reads from connection `i` until WouldBlock or its buffer is full, processing
    /// complete frames as they arrive.
    fn service(&mut self, i: usize, now: u64) -> bool {
        let mut any = false;
        loop {
            // Process what is buffered first (it may be left over from back-pressure).
            match self.process(i, now) {
                Flow::Continue => {}
                Flow::Blocked => return true,
                Flow::Closed => return true,
            }
            let Some(c) = self.conns[i].as_mut() else {
                return any;
            };
            if !c.readable || c.close_after_write {
                return any;
            }
            if c.len == c.buf.len() {
                // A frame larger than the buffer: the decoder will reject it as garbled.
                return any;
            }
            let space = c.buf.len() - c.len;
            match c.stream.read(&mut c.buf[c.len..]) {
                Ok(0) => {
                    self.close(i, "peer closed the connection");
                    return true;
                }
                Ok(n) => {
                    c.len += n;
                    any = true;
                    if n < space && !c.read_closed {
                        // A short read of a stream socket took everything queued
                        // (epoll(7)); data arriving later raises a new edge-triggered
                        // event, so the read that would only return EAGAIN is skipped.
                        c.readable = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    c.readable = false;
                    if c.len == 0 {
                        return any;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let msg = format!("read error: {e}");
                    self.close(i, &msg);
                    return true;
                }
            }
        }
    }

    /// Decodes and handles the complete frames in connection `i`'s buffer.
    fn process(&mut self, i: usize, now: u64) -> Flow {
        let Some(c) = self.conns[i].as_mut() else {
            return Flow::Closed;
        };
        let mut buf = std::mem::take(&mut c.buf);
        let mut len = c.len;
        let mut at = 0;
        let mut flow = Flow::Continue;
        while at < len {
            match decode(&buf[at..len]) {
                Decoded::Incomplete { skip } => {
                    at += skip;
                    break;
                }
                Decoded::Garbled { consumed, error } => {
                    self.stats.garbled.fetch_add(1, Ordering::Relaxed);
                    debug!(component = "gateway", ?error, "garbled frame ignored");
                    at += consumed;
                }
                Decoded::Message { msg, consumed } => {
                    at += consumed;
                    self.stats.messages_in.fetch_add(1, Ordering::Relaxed);
                    flow = self.on_frame(i, now, &msg);
                    if !matches!(flow, Flow::Continue) {
                        break;
                    }
                }
            }
        }
        let Some(c) = self.conns[i].as_mut() else {
            return Flow::Closed;
        };
        if at > 0 {
            buf.copy_within(at..len, 0);
            len -= at;
        }
        if len == buf.len() {
            // Full buffer without a frame: drop it (a frame can't be this large).
            warn!(component = "gateway", peer = %c.peer, "oversized frame dropped");
            len = 0;
        }
        c.buf = buf;
        c.len = len;
        flow
    }

    /// One decoded frame on connection `i`.
    fn on_frame(&mut self, i: usize, now: u64, msg: &Message<'_>) -> Flow {
        let (slot_ix, peer) = {
            let c = self.conns[i].as_ref().expect("live connection");
            (c.slot, c.peer)
        };
        let s = match slot_ix {
            Some(s) => s,
            None => match self.bind(i, msg, now) {
                Some(s) => s,
                None => return Flow::Closed,
            },
        };
        let mut ctx = LogonContext {
            source: peer.ip(),
            logged_on_elsewhere: false,
            auth: &mut self.auth,
        };
        let was_active = self.slots[s].session.state() == SessionState::Active;
        let actions = self.slots[s].session.on_message(now, msg, &mut ctx);
        let mut flow = Flow::Continue;
        for a in actions.iter() {
            match *a {
                Action::LoggedOn => {
                    self.stats.logged_on.fetch_add(1, Ordering::Relaxed);
                    let sn = self.slots[s].session.seq_nums();
                    info!(component = "gateway", session = %self.slots[s].cfg.sender_comp_id,
                        %peer, next_in = sn.next_in, next_out = sn.next_out, "logged on");
                }
                Action::Deliver { msg: app, .. } => {
                    if let Err(()) = self.on_app(s, now, msg, app) {
                        flow = Flow::Blocked;
                    }
                }
                Action::Disconnect(reason) => {
                    self.end_session(s, i, was_active, reason);
                    flow = Flow::Closed;
                }
            }
        }
        flow
    }

    /// Binds a connection to the session its first message names. `None` = refused.
    fn bind(&mut self, i: usize, msg: &Message<'_>, now: u64) -> Option<usize> {
        let sender = msg.get(49).unwrap_or(b"");
        let target = msg.get(56).unwrap_or(b"");
        let peer = self.conns[i].as_ref().expect("live").peer;
        let Some(s) = self.slots.iter().position(|s| {
            s.cfg.sender_comp_id.as_bytes() == sender && s.cfg.target_comp_id.as_bytes() == target
        }) else {
            warn!(component = "gateway", %peer, sender = %String::from_utf8_lossy(sender),
                target = %String::from_utf8_lossy(target), "unknown CompIDs: disconnected");
            self.close(i, "unknown CompIDs");
            return None;
        };
        if msg.msg_type() != b"A" {
            warn!(component = "gateway", %peer, "first message is not a Logon: disconnected");
            self.close(i, "first message not Logon");
            return None;
        }
        if let Some(other) = self.slots[s].conn {
            if other != i {
                warn!(component = "gateway", %peer, session = %self.slots[s].cfg.sender_comp_id,
                    "duplicate logon refused: session is connected elsewhere");
                self.refuse(
                    i,
                    s,
                    now,
                    "Session already logged on from another connection",
                );
                return None;
            }
        }
        self.slots[s].conn = Some(i);
        self.conns[i].as_mut().expect("live").slot = Some(s);
        self.slots[s].session.on_connect(now);
        Some(s)
    }

    /// Sends a standalone Logout outside the session (its sequence numbers untouched)
    /// and closes after writing it.
    fn refuse(&mut self, i: usize, s: usize, now: u64, text: &str) {
        let cfg = &self.slots[s].cfg;
        let h = crate::codec::encode::Header {
            msg_type: b"5",
            seq_num: 1,
            sender_comp_id: cfg.target_comp_id.as_bytes(),
            target_comp_id: cfg.sender_comp_id.as_bytes(),
            sending_time_ns: now,
        };
        let mut w = MessageWriter::new(&mut self.scratch, &h);
        w.field(58, text.as_bytes());
        if let Ok(r) = w.finish() {
            let frame = self.scratch[r].to_vec();
            if let Some(c) = self.conns[i].as_mut() {
                c.raw_out.extend_from_slice(&frame);
                c.close_after_write = true;
                c.readable = false;
            }
        }
    }

    /// An application message from session `s`. `Err` = parked by a full ring.
    fn on_app(
        &mut self,
        s: usize,
        now: u64,
        raw: &Message<'_>,
        app: AppMessage<'_>,
    ) -> Result<(), ()> {
        let account = AccountId(self.slots[s].cfg.account);
        let sid = self.slots[s].sid;
        let kind = self.slots[s].cfg.kind;
        let is_md = matches!(app, AppMessage::MarketDataRequest(_));
        if kind == SessionKind::DropCopy || (kind == SessionKind::MarketData && !is_md) {
            let text: &[u8] = if kind == SessionKind::DropCopy {
                b"Drop-copy sessions are read-only"
            } else {
                b"Market-data sessions accept only MarketDataRequest"
            };
            let msg_type = raw.msg_type();
            self.send(s, now, b"j", |w| {
                if let Some(seq) = raw.get(34) {
                    w.field(45, seq);
                }
                w.field(372, msg_type).field(380, b"6").field(58, text);
            });
            return Ok(());
        }
        let cmd = match app {
            AppMessage::NewOrderSingle(o) => match self.markets.new_order(now, account, sid, &o) {
                Ok(c) => c,
                Err(r) => {
                    self.reject_order(s, now, &o, r);
                    return Ok(());
                }
            },
            AppMessage::OrderCancelRequest(o) => match self.markets.cancel(now, account, &o) {
                Ok(c) => c,
                Err(r) => {
                    self.reject_cancel(s, now, o.cl_ord_id, o.orig_cl_ord_id, false, r);
                    return Ok(());
                }
            },
            AppMessage::OrderCancelReplaceRequest(o) => {
                match self.markets.replace(now, account, &o) {
                    Ok(c) => c,
                    Err(r) => {
                        self.reject_cancel(s, now, o.cl_ord_id, o.orig_cl_ord_id, true, r);
                        return Ok(());
                    }
                }
            }
            AppMessage::OrderMassCancelRequest(o) => {
                match self.markets.mass_cancel(now, account, &o) {
                    Ok(c) => c,
                    Err(r) => {
                        self.reject_mass_cancel(s, now, o.cl_ord_id, o.symbol.is_some(), r);
                        return Ok(());
                    }
                }
            }
            AppMessage::OrderStatusRequest(o) => {
                self.order_status(s, now, o.cl_ord_id, o.order_id, o.symbol, o.side);
                return Ok(());
            }
            AppMessage::OrderMassStatusRequest(o) => {
                self.mass_status(s, now, o.req_id, o.symbol);
                return Ok(());
            }
            AppMessage::MarketDataRequest(o) => {
                self.market_data_request(s, now, &o);
                return Ok(());
            }
        };
        match self.publisher.try_publish_from(sid.0.into(), cmd) {
            Ok(()) => {
                self.stats.commands.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => {
                self.stats.ring_full.fetch_add(1, Ordering::Relaxed);
                self.slots[s].pending = Some(cmd);
                Err(())
            }
        }
    }

    /// MarketDataRequest(V): snapshot (263=0), subscribe (1: W then X), unsubscribe (2).
    fn market_data_request(
        &mut self,
        s: usize,
        now: u64,
        o: &crate::messages::MarketDataRequest<'_>,
    ) {
        // Changes held back while behind go out first: the snapshot below includes them.
        flush_md(&mut self.md, &mut self.slots, &self.markets, now);
        let req_id = o.req_id;
        let reject = |io: &mut Io, code: u8, text: &str| {
            io.send(s, now, b"Y", |w| {
                w.field(262, req_id);
                if code != 0 {
                    w.field(281, &[code]);
                }
                w.field(58, text.as_bytes());
            });
        };
        if o.subscription == b'2' {
            if !self.md.unsubscribe(s, req_id) {
                reject(self, b'0', "Unknown MDReqID");
            }
            return;
        }
        let mut symbols = [tachyon_engine::SymbolId(0); 16];
        let mut n = 0;
        for t in o.symbols() {
            let Some(id) = self.markets.lookup(t) else {
                reject(self, b'0', "Unknown symbol");
                return;
            };
            if n == symbols.len() {
                reject(self, b'0', "At most 16 symbols per MarketDataRequest");
                return;
            }
            symbols[n] = id;
            n += 1;
        }
        if n == 0 {
            reject(self, b'0', "No symbol requested");
            return;
        }
        let (mut book, mut trades) = (false, false);
        for t in o.entry_types() {
            match t {
                b'0' | b'1' => book = true,
                b'2' => trades = true,
                _ => {
                    reject(self, b'8', "Unsupported MDEntryType");
                    return;
                }
            }
        }
        if o.subscription == b'1' && o.full_refresh_requested() {
            reject(
                self,
                b'5',
                "Only incremental updates (MDUpdateType 1) are supported",
            );
            return;
        }
        let depth = o.depth as usize;
        if o.subscription == b'1' {
            if let Err(r) = self
                .md
                .subscribe(s, req_id, &symbols[..n], depth, book, trades)
            {
                reject(self, r.code, r.text);
                return;
            }
        }
        for &sym in &symbols[..n] {
            let Io {
                md, markets, slots, ..
            } = self;
            let sent = slots[s].session.send_transient(now, b"W", |w| {
                md.write_snapshot(
                    w,
                    markets,
                    req_id,
                    sym,
                    md::Wants {
                        depth,
                        book,
                        trades,
                    },
                )
            });
            if !sent {
                // The book does not fit one message (MAX_OUTBOUND_MESSAGE): refuse
                // rather than send a partial book that later incrementals would corrupt.
                self.md.unsubscribe(s, req_id);
                reject(
                    self,
                    b'0',
                    "Book too deep for one snapshot message; request a smaller MarketDepth",
                );
                return;
            }
        }
    }

    fn next_local_id(&mut self) -> ExecId {
        self.local_exec_id += 1;
        ExecId::Local(self.local_exec_id)
    }

    /// Encodes and stores one application message for session `s` (connected or not:
    /// a disconnected persistent session gets it on resend).
    fn send(
        &mut self,
        s: usize,
        now: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) {
        let slot = &mut self.slots[s];
        if slot.conn.is_none() && slot.cfg.reset_on_logon {
            return; // nobody to tell, and the store resets at the next Logon
        }
        match slot.session.send_app(now, msg_type, body) {
            Ok(_) => {
                self.stats.replies.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                warn!(component = "gateway", session = %slot.cfg.sender_comp_id, error = %e,
                    "could not store an outbound message; disconnecting");
                if let Some(c) = slot.conn {
                    self.close(c, "session store failed");
                }
            }
        }
    }

    fn reject_order(
        &mut self,
        s: usize,
        now: u64,
        o: &crate::messages::NewOrderSingle<'_>,
        r: GatewayReject,
    ) {
        self.stats.gateway_rejects.fetch_add(1, Ordering::Relaxed);
        let exec_id = self.next_local_id();
        let account = self.slots[s].cfg.account;
        let known = self.markets.lookup(o.symbol);
        let cl = o.cl_ord_id;
        let side = o.side;
        let symbol = o.symbol;
        self.send(s, now, b"8", |w| {
            w.field(37, b"NONE").field(11, cl.as_bytes());
            write_local_exec_id(w, exec_id);
            w.field(150, b"8")
                .field(39, b"8")
                .field_uint(1, u64::from(account))
                .field(55, symbol)
                .field(54, if side == Side::Buy { b"1" } else { b"2" })
                .field(151, b"0")
                .field(14, b"0")
                .field(6, b"0")
                .field_uint(103, u64::from(r.ord_rej_reason()))
                .field(58, r.text().as_bytes())
                .field_timestamp(60, now);
        });
        let _ = known;
    }

    fn reject_cancel(
        &mut self,
        s: usize,
        now: u64,
        cl: ClOrdId,
        orig: Option<ClOrdId>,
        is_replace: bool,
        r: GatewayReject,
    ) {
        self.stats.gateway_rejects.fetch_add(1, Ordering::Relaxed);
        let account = self.slots[s].cfg.account;
        self.send(s, now, b"9", |w| {
            w.field(37, b"NONE").field(11, cl.as_bytes());
            let o = orig.unwrap_or(ClOrdId::EMPTY);
            w.field(
                41,
                if o.as_bytes().is_empty() {
                    b"NONE"
                } else {
                    o.as_bytes()
                },
            )
            .field(39, b"8")
            .field_uint(1, u64::from(account))
            .field(434, if is_replace { b"2" } else { b"1" })
            .field(102, b"99")
            .field(58, r.text().as_bytes())
            .field_timestamp(60, now);
        });
    }

    fn reject_mass_cancel(
        &mut self,
        s: usize,
        now: u64,
        cl: ClOrdId,
        by_symbol: bool,
        r: GatewayReject,
    ) {
        self.stats.gateway_rejects.fetch_add(1, Ordering::Relaxed);
        let ExecId::Local(id) = self.next_local_id() else {
            unreachable!()
        };
        let code: &[u8] = match r {
            GatewayReject::UnknownSymbol => b"1",
            GatewayReject::SideFilterUnsupported => b"0",
            _ => b"99",
        };
        self.send(s, now, b"r", |w| {
            w.field(11, cl.as_bytes())
                .field_uint(37, id)
                .field(530, if by_symbol { b"1" } else { b"7" })
                .field(531, b"0")
                .field(532, code)
                .field(58, r.text().as_bytes())
                .field_timestamp(60, now);
        });
    }

    fn order_status(
        &mut self,
        s: usize,
        now: u64,
        cl: ClOrdId,
        order_id: Option<u64>,
        symbol: &[u8],
        side: Side,
    ) {
        let account = self.slots[s].cfg.account;
        let target = match order_id {
            Some(id) => OrderRef::Id(OrderId(id)),
            None => OrderRef::ClOrdId(cl),
        };
        let found = self.orders.find(account, target).map(|(id, o)| (id, *o));
        let exec_id = self.next_local_id();
        match found {
            Some((id, o)) => {
                let er = status_er(id, &o, exec_id, now, None);
                let markets = &self.markets;
                let slot = &mut self.slots[s];
                let _ = slot
                    .session
                    .send_app(now, b"8", |w| reports::write_er(w, markets, &er));
            }
            None => {
                self.send(s, now, b"8", |w| {
                    w.field(
                        37,
                        match order_id {
                            Some(_) => b"UNKNOWN".as_slice(),
                            None => b"NONE",
                        },
                    )
                    .field(11, cl.as_bytes());
                    write_local_exec_id(w, exec_id);
                    w.field(150, b"I")
                        .field(39, b"8")
                        .field_uint(1, u64::from(account))
                        .field(55, symbol)
                        .field(54, if side == Side::Buy { b"1" } else { b"2" })
                        .field(151, b"0")
                        .field(14, b"0")
                        .field(6, b"0")
                        .field(103, b"5")
                        .field(58, b"Unknown order")
                        .field_timestamp(60, now);
                });
            }
        }
    }

    fn mass_status(&mut self, s: usize, now: u64, req_id: &[u8], symbol: Option<&[u8]>) {
        let account = AccountId(self.slots[s].cfg.account);
        let sym = match symbol {
            Some(t) => match self.markets.lookup(t) {
                Some(id) => Some(id),
                None => {
                    self.send(s, now, b"j", |w| {
                        w.field(372, b"AF")
                            .field(379, req_id)
                            .field(380, b"2")
                            .field(58, b"Unknown symbol");
                    });
                    return;
                }
            },
            None => None,
        };
        let list = reports::open_orders_of(&self.orders, account, sym);
        if list.is_empty() {
            let exec_id = self.next_local_id();
            self.send(s, now, b"8", |w| {
                w.field(37, b"NONE").field(11, b"NONE");
                write_local_exec_id(w, exec_id);
                w.field(150, b"I")
                    .field(39, b"8")
                    .field(584, req_id)
                    .field(911, b"0")
                    .field(912, b"Y")
                    .field_uint(1, u64::from(account.0))
                    .field(151, b"0")
                    .field(14, b"0")
                    .field(6, b"0")
                    .field(58, b"No open orders")
                    .field_timestamp(60, now);
            });
            return;
        }
        let total = list.len() as u32;
        for (k, (id, o)) in list.iter().enumerate() {
            let exec_id = self.next_local_id();
            let er = status_er(
                *id,
                o,
                exec_id,
                now,
                Some((req_id, total, k + 1 == list.len())),
            );
            let markets = &self.markets;
            let _ = self.slots[s]
                .session
                .send_app(now, b"8", |w| reports::write_er(w, markets, &er));
            self.stats.replies.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Releases engine events and encodes the replies. True if any were released.
    fn drain_events(&mut self, now: u64) -> bool {
        let Io {
            events,
            orders,
            slots,
            markets,
            stats,
            md,
            drop_copy,
            auth,
            revoked,
            ..
        } = self;
        let mut n_reply = 0u32;
        let mut last_cmd = 0u64;
        let r = events.poll(|ev: &OutEvent| {
            if ev.cmd_seq != last_cmd {
                last_cmd = ev.cmd_seq;
                n_reply = 0;
            }
            let origin = u16::try_from(ev.origin).unwrap_or(0);
            reports::on_event(
                orders,
                &ev.event,
                ev.cmd_seq,
                ev.ts_ns,
                origin,
                &mut n_reply,
                |sid, reply| {
                    if let Some(i) = (sid as usize).checked_sub(1) {
                        deliver(slots, i, now, markets, stats, &reply);
                    }
                    if let Reply::Er(er) = reply {
                        if let Some(copies) = drop_copy.get(&er.account) {
                            for &i in copies {
                                deliver(slots, i, now, markets, stats, &reply);
                            }
                        }
                    }
                },
            );
            match &ev.event {
                tachyon_engine::Event::BookLevel {
                    symbol,
                    side,
                    price,
                    qty,
                    ..
                } => {
                    if md.must_flush() {
                        flush_md(md, slots, markets, now);
                    }
                    md.on_level(*symbol, *side, price.0, qty.0);
                }
                tachyon_engine::Event::Trade(t) => {
                    if md.must_flush() {
                        flush_md(md, slots, markets, now);
                    }
                    md.on_trade(t.symbol, t.trade_id, t.price.0, t.qty.0, ev.ts_ns);
                }
                tachyon_engine::Event::ApiKeyCreated(k) => {
                    if auth.add_api_key(k) {
                        info!(component = "gateway", key = %k.key.text(), comp_id = k.comp_id.as_str(), "API key created");
                    } else {
                        warn!(component = "gateway", key = %k.key.text(), comp_id = k.comp_id.as_str(), "API key created but cannot log on: fix.api_key_master is not configured");
                    }
                }
                tachyon_engine::Event::ApiKeyRevoked { key, .. } => {
                    auth.revoke_api_key(*key);
                    revoked.push(*key);
                }
                _ => {}
            }
        });
        let n = match r {
            PollResult::Released(n) => n,
            PollResult::Shutdown => 0,
        };
        self.orders.settle();
        self.behind = n >= BEHIND_EVENTS;
        // Market data: one X per subscriber for the batch. While the gateway is behind,
        // entries keep accumulating (up to md::MAX_PENDING_ENTRIES per feed; flushed
        // earlier only when a feed is full) and go out once it has caught up.
        if !self.behind {
            flush_md(&mut self.md, &mut self.slots, &self.markets, now);
        }
        if !self.revoked.is_empty() {
            self.end_revoked_sessions(now);
        }
        n > 0
    }

    /// Logs out the sessions logged on with a key that was just revoked.
    fn end_revoked_sessions(&mut self, now: u64) {
        let revoked = std::mem::take(&mut self.revoked);
        for s in 0..self.slots.len() {
            let Some(c) = self.slots[s].conn else {
                continue;
            };
            let Some(key) = self.slots[s].session.logon_key() else {
                continue;
            };
            if !revoked.contains(&key) {
                continue;
            }
            info!(component = "gateway", session = %self.slots[s].cfg.sender_comp_id, key = %key.text(), "API key revoked: logging the session out");
            let a = self.slots[s].session.logout(now, "API key revoked");
            if a.disconnect().is_some() {
                self.close(c, "store failed");
            }
        }
        self.revoked = revoked;
        self.revoked.clear();
    }

    fn timers(&mut self, now: u64) {
        for s in 0..self.slots.len() {
            let Some(c) = self.slots[s].conn else {
                continue;
            };
            let was_active = self.slots[s].session.state() == SessionState::Active;
            let a = self.slots[s].session.on_timer(now);
            if let Some(reason) = a.disconnect() {
                self.end_session(s, c, was_active, reason);
            }
        }
        // Connections that never logged on.
        for i in 0..self.conns.len() {
            let stale = matches!(&self.conns[i], Some(c) if c.slot.is_none()
                && c.accepted.elapsed() >= LOGON_TIMEOUT);
            if stale {
                self.close(i, "no Logon within the timeout");
            }
        }
    }

    /// The session on connection `i` ended (its last frames are in its outbound buffer).
    fn end_session(&mut self, s: usize, i: usize, was_active: bool, reason: DisconnectReason) {
        let slot = &mut self.slots[s];
        info!(component = "gateway", session = %slot.cfg.sender_comp_id, ?reason, "session ended");
        if was_active {
            self.stats.logged_on.fetch_sub(1, Ordering::Relaxed);
            if slot.cfg.cancel_on_disconnect {
                slot.pending_cod = true;
            }
        }
        // Write what the session queued (Logout, Reject), then close.
        if let Some(c) = self.conns[i].as_mut() {
            let out = slot.session.outbound();
            c.raw_out.extend_from_slice(out);
            c.close_after_write = true;
            c.readable = false;
        }
        slot.session.on_disconnect();
        slot.conn = None;
        if let Some(c) = self.conns[i].as_mut() {
            c.slot = None;
        }
        self.md.drop_session(s);
    }

    /// Writes every session's outbound bytes; closes connections that asked for it.
    /// Each session's store is flushed first (one `write` per dirty session): a frame
    /// reaches the wire only once its store record is in the file, so a restart never
    /// reuses a sequence number the client has seen.
    fn write_all(&mut self) {
        let mut store_failed: Option<usize> = None;
        for (s, slot) in self.slots.iter_mut().enumerate() {
            if let Err(e) = slot.session.flush_store() {
                warn!(component = "gateway", session = %slot.cfg.sender_comp_id, error = %e,
                    "session store write failed; disconnecting");
                store_failed = slot.conn.or(store_failed);
                let _ = s;
            }
        }
        if let Some(c) = store_failed {
            self.close(c, "session store failed");
        }
        let mut md_deferred = false;
        for i in 0..self.conns.len() {
            let Some(c) = self.conns[i].as_mut() else {
                continue;
            };
            let mut failed: Option<String> = None;
            // Raw bytes first (refusals, the last frames of an ended session).
            while !c.blocked && !c.raw_out.is_empty() {
                match c.stream.write(&c.raw_out) {
                    Ok(n) => {
                        c.raw_out.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        c.blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(format!("write error: {e}"));
                        break;
                    }
                }
            }
            if let Some(s) = c.slot {
                // While the gateway catches up with a burst, a market-data session's
                // frames wait until a quarter of fix.max_outbound_bytes is queued (or
                // the ring is drained): the CPU the burst needs stays with the matcher
                // and the writes come in big pieces after it. Order-entry sessions are
                // written at once.
                let defer = self.behind
                    && self.slots[s].cfg.kind == SessionKind::MarketData
                    && self.slots[s].session.outbound().len() < self.max_outbound / 4;
                let session = &mut self.slots[s].session;
                if defer && !session.outbound().is_empty() {
                    md_deferred = true;
                }
                while !defer && !c.blocked && !session.outbound().is_empty() {
                    match c.stream.write(session.outbound()) {
                        Ok(n) => session.consume_outbound(n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            c.blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            failed = Some(format!("write error: {e}"));
                            break;
                        }
                    }
                }
                if session.outbound().len() > self.max_outbound {
                    self.stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                    failed = Some(format!(
                        "slow reader: {} bytes unsent exceed fix.max_outbound_bytes",
                        session.outbound().len()
                    ));
                }
            }
            let pending_bytes = !c.raw_out.is_empty()
                || c.slot
                    .is_some_and(|s| !self.slots[s].session.outbound().is_empty());
            if let Some(why) = failed {
                self.close(i, &why);
                continue;
            }
            if c.close_after_write && !pending_bytes {
                self.close(i, "closed after final message");
                continue;
            }
            if pending_bytes != c.want_write {
                c.want_write = pending_bytes;
                let interest = if pending_bytes {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let _ =
                    self.poll
                        .registry()
                        .reregister(&mut c.stream, Token(i + FIRST_CONN), interest);
            }
        }
        self.md_deferred = md_deferred;
        // Sessions without a connection: their messages are stored for resend; drop the
        // wire copy so it doesn't accumulate.
        for s in &mut self.slots {
            if s.conn.is_none() && !s.session.outbound().is_empty() {
                let n = s.session.outbound().len();
                s.session.consume_outbound(n);
            }
        }
    }

    fn close(&mut self, i: usize, why: &str) {
        let Some(mut c) = self.conns[i].take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        if let Some(s) = c.slot {
            let slot = &mut self.slots[s];
            let active = slot.session.state() == SessionState::Active
                || matches!(slot.session.state(), SessionState::LogoutSent { .. });
            if active {
                self.stats.logged_on.fetch_sub(1, Ordering::Relaxed);
                if slot.cfg.cancel_on_disconnect {
                    slot.pending_cod = true;
                }
            }
            info!(component = "gateway", session = %slot.cfg.sender_comp_id, peer = %c.peer, why, "disconnected");
            slot.session.on_disconnect();
            slot.conn = None;
            self.md.drop_session(s);
        } else {
            debug!(component = "gateway", peer = %c.peer, why, "connection closed");
        }
        self.free.push(i);
    }

    fn begin_shutdown(&mut self) {
        let now = now_ns();
        for s in 0..self.slots.len() {
            if self.slots[s].conn.is_some() {
                let a = self.slots[s].session.logout(now, "Exchange shutting down");
                if a.disconnect().is_some() {
                    let c = self.slots[s].conn.expect("connected");
                    self.close(c, "store failed at shutdown");
                }
            }
        }
        // Unbound connections just go.
        for i in 0..self.conns.len() {
            if matches!(&self.conns[i], Some(c) if c.slot.is_none()) {
                self.close(i, "shutdown");
            }
        }
    }

    fn close_all(&mut self) {
        self.write_all();
        for i in 0..self.conns.len() {
            if self.conns[i].is_some() {
                self.close(i, "shutdown");
            }
        }
        // Publish outstanding cancel-on-disconnect requests while the ring still runs.
        for _ in 0..1000 {
            if !self
                .slots
                .iter()
                .any(|s| s.pending_cod || s.pending.is_some())
            {
                break;
            }
            self.retry_pending(now_ns());
            self.drain_events(now_ns());
        }
        info!(component = "gateway", "stopped");
    }
}

enum Flow {
    Continue,
    /// A command is parked on the session: stop reading this connection.
    Blocked,
    Closed,
}

fn write_local_exec_id(w: &mut MessageWriter<'_>, id: ExecId) {
    let n = match id {
        ExecId::Local(n) | ExecId::Engine(n) => n,
    };
    let mut b = [0u8; 21];
    b[0] = b'G';
    let mut tmp = [0u8; 20];
    let mut k = 0;
    let mut v = n;
    loop {
        tmp[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for j in 0..k {
        b[1 + j] = tmp[k - 1 - j];
    }
    w.field(17, &b[..1 + k]);
}

fn status_er<'x>(
    id: u64,
    o: &'x CachedOrder,
    exec_id: ExecId,
    now: u64,
    mass: Option<(&'x [u8], u32, bool)>,
) -> Er<'x> {
    Er {
        order_id: id,
        cl_ord_id: o.cl_ord_id.as_bytes(),
        orig_cl_ord_id: None,
        exec_id,
        exec_type: b'I',
        ord_status: o.status(),
        account: o.account,
        symbol: o.symbol,
        side: o.side,
        ord_type: Some(o.ord_type),
        price: o.price,
        order_qty: o.qty,
        leaves: o.leaves,
        cum_qty: o.cum_qty,
        cum_cost: o.cum_cost,
        last: None,
        fee: None,
        ord_rej_reason: None,
        text: None,
        transact_ns: now,
        mass_status: mass,
    }
}

fn now_ns() -> u64 {
    tachyon_pipeline::wall_clock_ns()
}
