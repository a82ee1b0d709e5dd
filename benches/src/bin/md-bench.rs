//! `md-bench`: market data through the real exchange (`tachyon::Exchange`: pipeline in
//! shared-cores mode with the journal on and fsync "os", the FIX gateway, the ops
//! HTTP/WebSocket server, all from config/dev.toml with ports 0 and a temp journal), from
//! a trade in the matcher to a FIX MD session and to a WebSocket client, and what 100
//! subscribed clients cost the matcher.
//!
//! ```text
//! cargo run --release -p benches --bin md-bench -- [--rate R] [--secs S] [--count M]
//!     [--fix-clients F] [--ws-clients W] [--rounds K] [--threads] [--no-latency]
//!     [--only-with] [--client-nice N]
//! ```
//! - Latency: pairs of commands (a resting sell, then a buy that takes it: one trade each)
//!   published straight into the inbound ring at R trades/s (default 10,000 trades/s =
//!   the issue's "10,000 events/s" read as trades, the events a trade subscriber gets; it
//!   is 20,000 commands/s and 30,000 market-data changes/s: a level added, the trade, the
//!   level removed) for S seconds (default 5) after a 0.5 s warm-up. Pair k is due at
//!   t0 + k / R; latency = arrival of the message carrying trade k − that due time (no
//!   coordinated omission: a late publisher is charged to every trade behind it). Two
//!   measured clients: a FIX market-data session (MDB0: Logon, then MarketDataRequest(V)
//!   263=1, 264=0, 265=1, 269=2 for BTC-USDT; the trade is found by TradeID(1003) in the
//!   X) and a WebSocket client on `/ws/trades/BTC-USDT` (field `t`), each blocking in
//!   `read` on its own thread.
//! - Matcher throughput: M commands (the same pairs, default 200,000) published as fast as
//!   the ring takes them, timed from the first publish until the matcher applied the
//!   last, without subscribers and with F + W of them (default 50 FIX MD sessions
//!   subscribed to the BTC-USDT book and trades + 50 WebSocket clients, half on
//!   `/ws/depth/BTC-USDT`, half on `/ws/trades/BTC-USDT`). All subscribers are read by
//!   one client thread (`md-clients`, mio, nice `--client-nice`, default 19: on a real
//!   exchange they are other machines; it counts trade entries and WebSocket frames,
//!   without parsing). Each case of each round starts a fresh exchange, which first runs
//!   an untimed 100,000-command warm-up burst (buffers grown and their pages faulted in,
//!   as in an exchange that has been running) and waits until the subscribers have it
//!   all; K rounds (default 5) alternate which case goes first, and the medians are
//!   compared. After each burst
//!   the bench waits until every trade subscriber has received every trade and counts
//!   subscribers that were disconnected or incomplete ("dropped").
//!
//! Threads (2-core machine, nothing pinned: the exchange runs in shared-cores mode and
//! `matcher_core` is unset): the exchange's `tachyon-journal`, `tachyon-matcher`,
//! `tachyon-gateway`, `tachyon-md`, `tachyon-ops` (nice 10), `tachyon-snapshot`,
//! `tachyon-timer`; the bench's main thread (publisher: sleeps until ~50 µs before each
//! due time, then yields; in the throughput runs it yields when the ring is full), and
//! `md-fix-read` + `md-ws-read` (latency) or `md-clients` (throughput). `--threads`
//! prints each thread's CPU and run-queue wait over each burst.
//!
//! The last line is `md fix_p99_us=.. ws_p99_us=.. matcher_slowdown=..` (median
//! throughput without subscribers ÷ median with them).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::fixload::client::{new_hist, wall_ns};
use hdrhistogram::Histogram;
use tachyon_config::Config;
use tachyon_engine::{
    AccountId, AssetId, ClOrdId, Command, CommandKind, NewOrder, OrdType, Price, Qty, SessionId,
    Side, StpMode, SymbolId, Tif, Transfer,
};
use tachyon_fix_gateway::{decode, Decoded, Header, MessageWriter};
use tachyon_pipeline::{wall_clock_ns, CommandPublisher};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

struct Args {
    rate: u64,
    secs: f64,
    count: u64,
    fix_clients: usize,
    ws_clients: usize,
    rounds: usize,
    threads: bool,
    latency: bool,
    client_nice: i32,
    only_with: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "md-bench: {msg}\nusage: md-bench [--rate R trades/s (10000)] [--secs S (5)] \
         [--count M commands (200000)] [--fix-clients F (50)] [--ws-clients W (50)] [--rounds K (5)] [--threads] [--no-latency] [--client-nice N (19)]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        rate: 10_000,
        secs: 5.0,
        count: 200_000,
        fix_clients: 50,
        ws_clients: 50,
        rounds: 5,
        threads: false,
        latency: true,
        client_nice: 19,
        only_with: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || -> f64 {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage(&format!("{flag} needs a number")))
        };
        match flag.as_str() {
            "--rate" => a.rate = (num() as u64).max(1),
            "--secs" => a.secs = num().max(0.1),
            "--count" => a.count = (num() as u64).max(2) & !1,
            "--fix-clients" => a.fix_clients = num() as usize,
            "--ws-clients" => a.ws_clients = num() as usize,
            "--rounds" => a.rounds = (num() as usize).max(1),
            "--threads" => a.threads = true,
            "--no-latency" => a.latency = false,
            "--client-nice" => a.client_nice = num() as i32,
            "--only-with" => a.only_with = true,
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    a.fix_clients = a.fix_clients.max(1);
    a
}

/// config/dev.toml with a temporary journal, ephemeral ports, deep WebSocket queues and
/// `md_sessions` market-data sessions MDB0, MDB1, ...
fn config(dir: &std::path::Path, md_sessions: usize) -> Config {
    let mut text = include_str!("../../../config/dev.toml").to_string();
    for (from, to) in [
        (
            "listen = \"127.0.0.1:9878\"",
            "listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "listen = \"127.0.0.1:9880\"",
            "listen = \"127.0.0.1:0\"".to_string(),
        ),
        ("ws_buffer = 1_024", "ws_buffer = 65_536".to_string()),
        ("max_ws_clients = 256", "max_ws_clients = 1_000".to_string()),
        (
            "journal_dir = \"data/dev/journal\"",
            format!(
                "journal_dir = {:?}",
                dir.join("journal").display().to_string()
            ),
        ),
    ] {
        assert!(text.contains(from), "dev.toml no longer has {from}");
        text = text.replacen(from, &to, 1);
    }
    for i in 0..md_sessions {
        text.push_str(&format!(
            "\n[[fix.sessions]]\nsender_comp_id = \"MDB{i}\"\ntarget_comp_id = \"TACHYON\"\n\
             kind = \"market-data\"\nauth = {{ kind = \"none\" }}\nreset_on_logon = true\n\
             cancel_on_disconnect = false\n\
             throttle = {{ msgs_per_sec = 100, burst = 100, max_violations = 10 }}\n"
        ));
    }
    Config::from_str(&text, "md-bench.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh exchange with accounts 1 and 2 funded for ~10^8 pairs; returns once the
/// funding is applied.
fn start(dir: &std::path::Path, md_sessions: usize) -> (tachyon::Exchange, CommandPublisher) {
    let cfg = config(dir, md_sessions);
    let ex = tachyon::Exchange::start_with(
        cfg,
        tachyon::ExchangeOptions {
            memory_sessions: true,
        },
    )
    .expect("exchange starts");
    let mut publisher = ex.publisher();
    let ts = wall_clock_ns();
    for a in 1..=2u32 {
        for (asset, amount) in [
            (0u16, 1_000_000_000_000_000_000i64),
            (1, 1_000_000_000_000_000),
        ] {
            publisher.publish(Command {
                ts_ns: ts,
                kind: CommandKind::Deposit(Transfer {
                    account: AccountId(a),
                    asset: AssetId(asset),
                    amount,
                    reference: 1_000 + a as u64,
                }),
            });
        }
    }
    settle(&ex);
    (ex, publisher)
}

/// Waits until the matcher applied everything published so far (stable for 20 ms).
fn settle(ex: &tachyon::Exchange) -> u64 {
    let stats = ex.stats();
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = stats.applied_seq.load(Ordering::Acquire);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Command `i` of the flow: even = resting sell, odd = the buy that takes it.
fn command(i: u64) -> Command {
    let (account, side) = if i.is_multiple_of(2) {
        (1, Side::Sell)
    } else {
        (2, Side::Buy)
    };
    Command {
        ts_ns: wall_clock_ns(),
        kind: CommandKind::NewOrder(NewOrder {
            account: AccountId(account),
            session: SessionId(0),
            cl_ord_id: ClOrdId::EMPTY,
            symbol: SymbolId(0),
            side,
            ord_type: OrdType::Limit,
            price: Price(5_000_000 + (i / 2 % 100) as i64),
            qty: Qty(100),
            quote_budget: 0,
            tif: Tif::Gtc,
            expire_ns: 0,
            post_only: false,
            stp: StpMode::CancelNewest,
        }),
    }
}

/// Publishes, waiting while the inbound ring is full: a short spin, then `yield` (the
/// crate's `publish` spins without end, taking a core from the matcher on 2 cores).
fn publish(p: &mut CommandPublisher, cmd: Command) {
    let mut spins = 0u32;
    while p.try_publish(cmd).is_err() {
        if spins < 128 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Runs `nice(19)` on the calling thread (Linux: per-thread priority).
fn nice_this_thread(n: i32) {
    // SAFETY: setpriority on our own thread id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, n);
    }
}

// ---------------------------------------------------------------------------------------
// FIX market-data client
// ---------------------------------------------------------------------------------------

/// A logged-on FIX market-data session (blocking socket until handed to a reader).
struct FixMd {
    stream: TcpStream,
    sender: String,
    next_seq: u64,
    buf: Vec<u8>,
    len: usize,
}

impl FixMd {
    fn send(&mut self, msg_type: &[u8], body: impl FnOnce(&mut MessageWriter<'_>)) {
        let mut out = vec![0u8; 1024];
        let h = Header {
            msg_type,
            seq_num: self.next_seq,
            sender_comp_id: self.sender.as_bytes(),
            target_comp_id: b"TACHYON",
            sending_time_ns: wall_ns(),
        };
        let mut w = MessageWriter::new(&mut out, &h);
        body(&mut w);
        let r = w.finish().expect("fits");
        self.next_seq += 1;
        self.stream.write_all(&out[r]).expect("FIX write");
    }

    /// Reads until a message of `want` type arrives (panics after 10 s).
    fn expect(&mut self, want: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut pos = 0;
            let mut found = false;
            loop {
                match decode(&self.buf[pos..self.len]) {
                    Decoded::Message { msg, consumed } => {
                        pos += consumed;
                        if msg.msg_type() == want {
                            found = true;
                            break;
                        }
                        assert!(
                            !matches!(msg.msg_type(), b"5" | b"3" | b"Y" | b"j"),
                            "{}: unexpected {:?}",
                            self.sender,
                            String::from_utf8_lossy(msg.as_bytes())
                        );
                    }
                    Decoded::Incomplete { skip } => {
                        pos += skip;
                        break;
                    }
                    Decoded::Garbled { consumed, .. } => pos += consumed,
                }
            }
            self.buf.copy_within(pos..self.len, 0);
            self.len -= pos;
            if found {
                return;
            }
            assert!(Instant::now() < deadline, "{}: no {want:?}", self.sender);
            match self.stream.read(&mut self.buf[self.len..]) {
                Ok(0) => panic!("{}: server closed", self.sender),
                Ok(n) => self.len += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{}: {e}", self.sender),
            }
        }
    }

    /// Logs on as `sender` and subscribes to BTC-USDT (trades, and the full book if
    /// `book`); returns after the W snapshot.
    fn subscribe(addr: SocketAddr, sender: &str, book: bool) -> FixMd {
        let stream = TcpStream::connect(addr).expect("FIX connect");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut c = FixMd {
            stream,
            sender: sender.to_string(),
            next_seq: 1,
            buf: vec![0; 4 << 20],
            len: 0,
        };
        c.send(b"A", |w| {
            w.field(98, b"0").field(108, b"30").field(141, b"Y");
        });
        c.expect(b"A");
        c.send(b"V", |w| {
            w.field(262, b"md")
                .field(263, b"1")
                .field(264, b"0")
                .field(265, b"1");
            if book {
                w.field(267, b"3")
                    .field(269, b"0")
                    .field(269, b"1")
                    .field(269, b"2");
            } else {
                w.field(267, b"1").field(269, b"2");
            }
            w.field(146, b"1").field(55, b"BTC-USDT");
        });
        c.expect(b"W");
        c
    }
}

// ---------------------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------------------

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect_ws(addr: SocketAddr, path: &str) -> Client {
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{addr}{path}")).expect("WebSocket connect");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.set_nodelay(true).unwrap();
    }
    let first = ws.read().expect("first message");
    let text = first.to_text().unwrap_or("");
    assert!(
        text.contains("subscribed") || text.contains("depthSnapshot"),
        "{text}"
    );
    ws
}

/// When each pair is due, relative to `origin`.
#[derive(Clone, Copy)]
struct Schedule {
    origin: Instant,
    t0_ns: u64,
    rate: u64,
}

impl Schedule {
    fn due_ns(&self, k: u64) -> u64 {
        self.t0_ns + k * 1_000_000_000 / self.rate
    }
    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// Trade `id` (from 1) belongs to pair `id - 1 - first_trade`; records it if measured.
fn record(h: &mut Histogram<u64>, s: &Schedule, now: u64, pair: u64, warm: u64) {
    if pair >= warm {
        h.record(now.saturating_sub(s.due_ns(pair)).max(1)).unwrap();
    }
}

fn latency(args: &Args) -> (Histogram<u64>, Histogram<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let (ex, mut publisher) = start(dir.path(), 1);
    let mut fix = FixMd::subscribe(ex.fix_addr(), "MDB0", false);
    let mut ws = connect_ws(ex.ops_addr(), "/ws/trades/BTC-USDT");
    let warm = args.rate / 2;
    let pairs = warm + (args.rate as f64 * args.secs) as u64;
    let origin = Instant::now();
    let sched = Schedule {
        origin,
        t0_ns: 100_000_000,
        rate: args.rate,
    };
    let deadline = Duration::from_secs_f64(args.secs + 30.0);
    let fix_reader = std::thread::Builder::new()
        .name("md-fix-read".into())
        .spawn(move || {
            let mut h = new_hist();
            let mut seen = 0u64;
            while seen < pairs && origin.elapsed() < deadline {
                match fix.stream.read(&mut fix.buf[fix.len..]) {
                    Ok(0) => panic!("FIX MD session closed"),
                    Ok(n) => fix.len += n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue
                    }
                    Err(e) => panic!("FIX MD read: {e}"),
                }
                let now = sched.now_ns();
                let mut pos = 0;
                loop {
                    match decode(&fix.buf[pos..fix.len]) {
                        Decoded::Message { msg, consumed } => {
                            pos += consumed;
                            if msg.msg_type() != b"X" {
                                continue;
                            }
                            for (tag, v) in msg.fields().flatten() {
                                if tag == 1003 {
                                    let id: u64 = std::str::from_utf8(v)
                                        .ok()
                                        .and_then(|s| s.parse().ok())
                                        .expect("TradeID");
                                    record(&mut h, &sched, now, id - 1, warm);
                                    seen = seen.max(id);
                                }
                            }
                        }
                        Decoded::Incomplete { skip } => {
                            pos += skip;
                            break;
                        }
                        Decoded::Garbled { consumed, .. } => pos += consumed,
                    }
                }
                fix.buf.copy_within(pos..fix.len, 0);
                fix.len -= pos;
            }
            assert_eq!(seen, pairs, "FIX: every trade arrived");
            h
        })
        .unwrap();
    let ws_reader = std::thread::Builder::new()
        .name("md-ws-read".into())
        .spawn(move || {
            let mut h = new_hist();
            let mut seen = 0u64;
            while seen < pairs && origin.elapsed() < deadline {
                let text = match ws.read() {
                    Ok(Message::Text(t)) => t,
                    Ok(_) => continue,
                    Err(tungstenite::Error::Io(e))
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                    {
                        continue
                    }
                    Err(e) => panic!("WebSocket client: {e}"),
                };
                let now = sched.now_ns();
                let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                let id = v["t"].as_u64().expect("trade id");
                record(&mut h, &sched, now, id - 1, warm);
                seen = seen.max(id);
            }
            assert_eq!(seen, pairs, "WebSocket: every trade arrived");
            h
        })
        .unwrap();
    let mut lag = new_hist();
    // SAFETY: prctl on this thread with integer arguments only: 1 ns timer slack, so a
    // sleep ends close to its deadline.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64);
    }
    for k in 0..pairs {
        let due = sched.due_ns(k);
        loop {
            let now = sched.now_ns();
            if now >= due {
                lag.record((now - due).max(1)).unwrap();
                break;
            }
            if due - now > 60_000 {
                std::thread::sleep(Duration::from_nanos(due - now - 50_000));
            } else {
                std::thread::yield_now();
            }
        }
        publisher.publish(command(2 * k));
        publisher.publish(command(2 * k + 1));
    }
    let (hf, hw) = (fix_reader.join().unwrap(), ws_reader.join().unwrap());
    eprintln!(
        "  publisher lag behind schedule: p50={:.1}µs p99={:.1}µs max={:.1}µs",
        lag.value_at_quantile(0.5) as f64 / 1e3,
        lag.value_at_quantile(0.99) as f64 / 1e3,
        lag.max() as f64 / 1e3
    );
    drop(publisher);
    ex.shutdown().unwrap();
    (hf, hw)
}

// ---------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------

/// What one subscriber connection is and has received.
struct Sub {
    stream: mio::net::TcpStream,
    fix: bool,
    trades: bool,
    buf: Vec<u8>,
    /// WebSocket: bytes of the current frame still to skip; FIX: carried tail bytes.
    carry: usize,
    /// Trade messages (WebSocket trades stream) or trade entries (FIX) seen.
    trade_count: u64,
    closed: bool,
}

const FIX_TRADE_ENTRY: &[u8] = b"\x01269=2\x01";

impl Sub {
    /// Consumes `n` new bytes at `buf[carry..carry + n]`.
    fn consume(&mut self, n: usize) {
        if self.fix {
            let end = self.carry + n;
            self.trade_count +=
                memchr::memmem::find_iter(&self.buf[..end], FIX_TRADE_ENTRY).count() as u64;
            let keep = (FIX_TRADE_ENTRY.len() - 1).min(end);
            self.buf.copy_within(end - keep..end, 0);
            self.carry = keep;
        } else {
            // Unmasked server frames: walk the headers; `carry` = bytes of buffered
            // partial header at the front.
            let end = self.carry + n;
            let mut pos = 0;
            let b = &self.buf;
            while pos < end {
                if end - pos < 2 {
                    break;
                }
                let opcode = b[pos] & 0x0f;
                let len7 = (b[pos + 1] & 0x7f) as usize;
                let (hdr, len) = match len7 {
                    126 if end - pos >= 4 => {
                        (4, u16::from_be_bytes([b[pos + 2], b[pos + 3]]) as usize)
                    }
                    127 if end - pos >= 10 => {
                        let mut x = [0u8; 8];
                        x.copy_from_slice(&b[pos + 2..pos + 10]);
                        (10, u64::from_be_bytes(x) as usize)
                    }
                    126 | 127 => break,
                    l => (2, l),
                };
                if end - pos < hdr + len {
                    break;
                }
                if opcode == 1 && self.trades {
                    self.trade_count += 1;
                }
                if opcode == 8 {
                    self.closed = true;
                }
                pos += hdr + len;
            }
            self.buf.copy_within(pos..end, 0);
            self.carry = end - pos;
        }
    }
}

/// Commands of the untimed burst each exchange runs before the timed one.
const WARMUP_COMMANDS: u64 = 100_000;

/// What the reader thread reports per subscriber.
struct Progress {
    trades: Vec<AtomicU64>,
    closed: Vec<AtomicBool>,
}

/// Reads every subscriber on one thread until `stop`.
fn read_subscribers(mut subs: Vec<Sub>, stop: Arc<AtomicBool>, progress: Arc<Progress>, nice: i32) {
    nice_this_thread(nice);
    let mut poll = mio::Poll::new().unwrap();
    for (i, s) in subs.iter_mut().enumerate() {
        poll.registry()
            .register(&mut s.stream, mio::Token(i), mio::Interest::READABLE)
            .unwrap();
    }
    let mut events = mio::Events::with_capacity(256);
    while !stop.load(Ordering::Acquire) {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(10)));
        for ev in events.iter() {
            let i = ev.token().0;
            let s = &mut subs[i];
            loop {
                if s.buf.len() - s.carry < 64 << 10 {
                    s.buf.resize(s.carry + (256 << 10), 0);
                }
                let start = s.carry;
                match s.stream.read(&mut s.buf[start..]) {
                    Ok(0) => {
                        s.closed = true;
                        break;
                    }
                    Ok(n) => s.consume(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        s.closed = true;
                        break;
                    }
                }
            }
            progress.trades[i].store(s.trade_count, Ordering::Release);
            if s.closed {
                progress.closed[i].store(true, Ordering::Release);
                let _ = poll.registry().deregister(&mut s.stream);
            }
        }
    }
}

struct RoundResult {
    commands_per_s: f64,
    /// Seconds after the burst until every subscriber had every trade.
    drain_s: f64,
    /// Subscribers disconnected (or not complete after 60 s).
    dropped: usize,
}

/// Commands per second the matcher applies with the given subscribers attached.
fn throughput(args: &Args, fix_clients: usize, ws_clients: usize) -> RoundResult {
    let dir = tempfile::tempdir().unwrap();
    let (ex, mut publisher) = start(dir.path(), args.fix_clients);
    let mut subs = Vec::new();
    for i in 0..fix_clients {
        let c = FixMd::subscribe(ex.fix_addr(), &format!("MDB{i}"), true);
        assert_eq!(c.len, 0, "nothing after W before the burst");
        c.stream.set_nonblocking(true).unwrap();
        subs.push(Sub {
            stream: mio::net::TcpStream::from_std(c.stream),
            fix: true,
            trades: true,
            buf: Vec::new(),
            carry: 0,
            trade_count: 0,
            closed: false,
        });
    }
    // The tungstenite handles stay open (dropping one would close its connection); the
    // reader takes a clone of each socket. Nothing else is sent before the burst, so
    // tungstenite's buffer holds nothing past the first message.
    let mut ws_handles = Vec::new();
    for c in 0..ws_clients {
        let trades = c % 2 == 1;
        let path = if trades {
            "/ws/trades/BTC-USDT"
        } else {
            "/ws/depth/BTC-USDT"
        };
        let ws = connect_ws(ex.ops_addr(), path);
        let MaybeTlsStream::Plain(s) = ws.get_ref() else {
            unreachable!()
        };
        let s = s.try_clone().unwrap();
        s.set_nonblocking(true).unwrap();
        subs.push(Sub {
            stream: mio::net::TcpStream::from_std(s),
            fix: false,
            trades,
            buf: Vec::new(),
            carry: 0,
            trade_count: 0,
            closed: false,
        });
        ws_handles.push(ws);
    }
    let kinds: Vec<bool> = subs.iter().map(|s| s.trades).collect();
    let kinds = &kinds;
    let n = subs.len();
    let progress = Arc::new(Progress {
        trades: (0..n).map(|_| AtomicU64::new(0)).collect(),
        closed: (0..n).map(|_| AtomicBool::new(false)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, progress, nice) = (stop.clone(), progress.clone(), args.client_nice);
        std::thread::Builder::new()
            .name("md-clients".into())
            .spawn(move || read_subscribers(subs, stop, progress, nice))
            .unwrap()
    };
    let stats = ex.stats();
    // Warm-up burst, untimed, in both cases: buffers (session outboxes, socket buffers,
    // broadcast slots) grow and their pages are faulted in, as in an exchange that has
    // been running; then wait until every subscriber has it all.
    let warm = WARMUP_COMMANDS;
    for i in 0..warm {
        publish(&mut publisher, command(i));
    }
    let complete_to = |want: u64, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline
            && (0..kinds.len()).any(|i| {
                kinds[i]
                    && progress.trades[i].load(Ordering::Acquire) < want
                    && !progress.closed[i].load(Ordering::Acquire)
            })
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    complete_to(warm / 2, 60);
    let base = settle(&ex);
    let sched0 = benches::fixload::sched_snapshot();
    let start = Instant::now();
    for i in warm..warm + args.count {
        publish(&mut publisher, command(i));
    }
    let target = base + args.count;
    while stats.applied_seq.load(Ordering::Acquire) < target {
        std::thread::yield_now();
    }
    let secs = start.elapsed().as_secs_f64();
    let sched = benches::fixload::sched_report(
        &sched0,
        &benches::fixload::sched_snapshot(),
        start.elapsed(),
    );
    let applied = Instant::now();
    // Every trade subscriber must get every trade (depth subscribers: still connected).
    let want = (warm + args.count) / 2;
    let complete = |i: usize| !kinds[i] || progress.trades[i].load(Ordering::Acquire) >= want;
    let deadline = applied + Duration::from_secs(60);
    while Instant::now() < deadline
        && (0..n).any(|i| !complete(i) && !progress.closed[i].load(Ordering::Acquire))
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let drain_s = applied.elapsed().as_secs_f64();
    // Depth streams: give them a moment past the trades, then check none was closed.
    std::thread::sleep(Duration::from_millis(100));
    let dropped = (0..n)
        .filter(|&i| !complete(i) || progress.closed[i].load(Ordering::Acquire))
        .count();
    stop.store(true, Ordering::Release);
    reader.join().unwrap();
    let gw = ex.gateway_stats();
    let slow_fix = gw.slow_disconnects.load(Ordering::Relaxed);
    drop(ws_handles);
    drop(publisher);
    ex.shutdown().unwrap();
    let r = RoundResult {
        commands_per_s: args.count as f64 / secs,
        drain_s,
        dropped,
    };
    eprintln!(
        "  {fix_clients:>3} FIX + {ws_clients:>3} WS subscribers: {:>9.0} commands/s in {:.3} s; \
         all trades delivered {:.3} s after the last apply; {} dropped ({slow_fix} FIX slow); load {}",
        r.commands_per_s,
        secs,
        r.drain_s,
        r.dropped,
        load_avg()
    );
    if args.threads {
        eprintln!("    threads during the burst: {sched}");
    }
    r
}

/// `/proc/loadavg`'s 1-minute figure.
fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn print_hist(name: &str, h: &Histogram<u64>) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    eprintln!(
        "  trade → {name}: n={} p50={:.1}µs p90={:.1}µs p99={:.1}µs p99.9={:.1}µs max={:.1}µs",
        h.len(),
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1_000.0
    );
}

fn main() {
    let args = parse_args();
    eprintln!(
        "md-bench: latency at {} trades/s for {} s; throughput over {} commands, {} rounds, \
         none vs {} FIX + {} WebSocket subscribers; load {}",
        args.rate,
        args.secs,
        args.count,
        args.rounds,
        args.fix_clients,
        args.ws_clients,
        load_avg()
    );
    let (hf, hw) = if args.latency {
        latency(&args)
    } else {
        (new_hist(), new_hist())
    };
    print_hist("FIX X", &hf);
    print_hist("WebSocket", &hw);
    let mut none = Vec::new();
    let mut with = Vec::new();
    for round in 0..args.rounds {
        eprintln!("round {}", round + 1);
        // Alternate which case goes first so drift in the machine's load hits both.
        if args.only_with {
            with.push(throughput(&args, args.fix_clients, args.ws_clients).commands_per_s);
            none.push(f64::NAN);
        } else if round % 2 == 0 {
            none.push(throughput(&args, 0, 0).commands_per_s);
            with.push(throughput(&args, args.fix_clients, args.ws_clients).commands_per_s);
        } else {
            with.push(throughput(&args, args.fix_clients, args.ws_clients).commands_per_s);
            none.push(throughput(&args, 0, 0).commands_per_s);
        }
    }
    let (mn, mw) = (median(none.clone()), median(with.clone()));
    eprintln!(
        "  matcher: median {mn:.0} commands/s without subscribers, {mw:.0} with; rounds {:?} / {:?}",
        none.iter().map(|x| x.round() as u64).collect::<Vec<_>>(),
        with.iter().map(|x| x.round() as u64).collect::<Vec<_>>()
    );
    println!(
        "md fix_p99_us={:.0} ws_p99_us={:.0} matcher_slowdown={:.2}",
        hf.value_at_quantile(0.99) as f64 / 1_000.0,
        hw.value_at_quantile(0.99) as f64 / 1_000.0,
        mn / mw
    );
}
