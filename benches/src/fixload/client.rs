//! The open-loop FIX client: one connection, one sender thread, one receiver thread.
//!
//! Order `i` of a run is due at `t0 + i / rate`. The sender sleeps while the next order
//! is more than [`LoadSpec::spin_ns`] away and `yield`-spins for the rest; whatever is due
//! when it wakes (several orders if it is late) is encoded into one buffer and written
//! with one `write`. The receiver blocks in `read`, stamps each read once, decodes every
//! frame in it and, for the first ExecutionReport(8) of each ClOrdID, records
//! `stamp − due(i)`. Nothing on the hot path allocates: the ClOrdID is a 4-byte run tag
//! plus 10 zero-padded digits written in place, and the order's index is parsed back from
//! those digits, so no map from ClOrdID to send time is needed.
//!
//! Order flow (keeps any book bounded for any N): IOC limit orders priced away from the
//! market, alternating a buy far below it and a sell far above it. Each is answered with
//! an ExecutionReport New then Canceled (Tachyon) or one ExecutionReport (the QuickFIX
//! peer); nothing rests, so funds locked by an order are released at once.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tachyon_fix_gateway::{decode, Decoded, Header, Message, MessageWriter};

/// The sender sleeps until this long before the next due time, then `yield`-spins.
/// `nanosleep` here oversleeps by ~14 µs at p50 (timer slack set to 1 ns), so a 25 µs
/// margin usually wakes it just before the due time while leaving the core free most of
/// the period: a spinning client would take one of the machine's two cores from the
/// server under test.
pub const SPIN_BELOW_NS: u64 = 25_000;
/// Orders encoded into one `write` at most when the sender is behind.
const MAX_BATCH: usize = 64;
/// Digits of the order index in the ClOrdID.
const INDEX_DIGITS: usize = 10;

/// What to send.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Offered orders per second.
    pub rate: u64,
    /// Orders in the run.
    pub count: u64,
    /// SenderCompID(49) of the client.
    pub sender_comp_id: String,
    /// TargetCompID(56) (the server's CompID).
    pub target_comp_id: String,
    /// Symbol(55).
    pub symbol: String,
    /// Price(44) of the buys: far below the market, exact decimal text on the tick grid.
    pub buy_price: String,
    /// Price(44) of the sells: far above the market.
    pub sell_price: String,
    /// OrderQty(38) of the buys, on the lot grid.
    pub buy_qty: String,
    /// OrderQty(38) of the sells.
    pub sell_qty: String,
    /// How long after the last send to wait for the last answers.
    pub drain_timeout: Duration,
    /// 4 ASCII alphanumerics that start every ClOrdID of the run (keeps runs apart on
    /// a server that remembers ClOrdIDs).
    pub run_tag: [u8; 4],
    /// The sender sleeps until this long before each due time and `yield`-spins the
    /// rest ([`SPIN_BELOW_NS`] for latency runs). 0: it only sleeps, and sends whatever
    /// is due when it wakes in one write; max-rate steps use that, because spinning
    /// between orders that are a few µs apart keeps a whole core busy (taken from the
    /// server under test) for a send-time precision the step's 10 ms p99 bound ignores.
    pub spin_ns: u64,
}

impl LoadSpec {
    /// The dev configuration's BTC-USDT (tick 0.01, lot 0.00001, min notional 5): buys of
    /// 0.1 at 100.00 (10 USDT) and sells of 0.001 at 9000000.00 (9,000 USDT), both IOC.
    pub fn btc_usdt(rate: u64, count: u64, sender: &str, target: &str) -> LoadSpec {
        LoadSpec {
            rate,
            count,
            sender_comp_id: sender.to_string(),
            target_comp_id: target.to_string(),
            symbol: "BTC-USDT".into(),
            buy_price: "100.00".into(),
            sell_price: "9000000.00".into(),
            buy_qty: "0.10000".into(),
            sell_qty: "0.00100".into(),
            drain_timeout: Duration::from_secs(3),
            run_tag: run_tag(),
            spin_ns: SPIN_BELOW_NS,
        }
    }

    /// The intended send time of order `i`, ns after `t0`.
    #[inline]
    pub fn due_ns(&self, i: u64) -> u64 {
        (i as u128 * 1_000_000_000 / self.rate.max(1) as u128) as u64
    }
}

/// A fresh 4-character run tag (base-36 of a process-wide counter mixed with the clock).
pub fn run_tag() -> [u8; 4] {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut v = (t.wrapping_mul(131) + n * 7_919) % 36u64.pow(4);
    let mut out = [b'0'; 4];
    for b in out.iter_mut().rev() {
        let d = (v % 36) as u8;
        *b = if d < 10 { b'0' + d } else { b'A' + d - 10 };
        v /= 36;
    }
    out
}

/// What a run measured.
#[derive(Debug)]
pub struct LoadResult {
    /// ns from each order's intended send time to its first ExecutionReport.
    pub latency: Histogram<u64>,
    /// ns by which each send missed its intended time (the sender's own lag).
    pub send_lag: Histogram<u64>,
    /// Orders sent.
    pub sent: u64,
    /// Orders whose first ExecutionReport arrived.
    pub answered: u64,
    /// ExecutionReports received (all of them, e.g. New and Canceled).
    pub exec_reports: u64,
    /// Bytes of those ExecutionReports.
    pub exec_report_bytes: u64,
    /// First ExecutionReports with ExecType(150)=8 (order rejected).
    pub order_rejects: u64,
    /// Reject(3) and BusinessMessageReject(j) received.
    pub session_rejects: u64,
    /// Text(58) of the first reject of either kind.
    pub first_reject: Option<String>,
    /// Logout(5) Text(58) if the server logged us out during the run.
    pub logged_out: Option<String>,
    /// Bytes of one NewOrderSingle as sent.
    pub order_bytes: usize,
    /// t0 → last order written.
    pub send_elapsed: Duration,
    /// t0 → last first-ExecutionReport.
    pub answer_elapsed: Duration,
    /// This process's threads while the run was going ([`super::describe_threads`]).
    pub threads: String,
    /// Per-thread CPU and runqueue wait over the send phase ([`super::sched_report`]).
    pub sched: String,
}

impl LoadResult {
    /// Every order answered, none refused, no logout.
    pub fn clean(&self) -> bool {
        self.answered == self.sent
            && self.order_rejects == 0
            && self.session_rejects == 0
            && self.logged_out.is_none()
    }

    /// Adds another run of the same spec (e.g. another round of an interleaved
    /// comparison): histograms and counts add up; text keeps the first one seen.
    pub fn merge(&mut self, o: LoadResult) {
        self.latency.add(&o.latency).expect("same bounds");
        self.send_lag.add(&o.send_lag).expect("same bounds");
        self.sent += o.sent;
        self.answered += o.answered;
        self.exec_reports += o.exec_reports;
        self.exec_report_bytes += o.exec_report_bytes;
        self.order_rejects += o.order_rejects;
        self.session_rejects += o.session_rejects;
        self.first_reject = self.first_reject.take().or(o.first_reject);
        self.logged_out = self.logged_out.take().or(o.logged_out);
        self.order_bytes = self.order_bytes.max(o.order_bytes);
        self.send_elapsed += o.send_elapsed;
        self.answer_elapsed += o.answer_elapsed;
        if self.threads.is_empty() {
            self.threads = o.threads;
            self.sched = o.sched;
        }
    }

    /// Mean bytes of an ExecutionReport.
    pub fn exec_report_len(&self) -> usize {
        (self.exec_report_bytes / self.exec_reports.max(1)) as usize
    }

    /// A one-line account of anything that went wrong, or `ok`.
    pub fn problems(&self) -> String {
        let mut p = Vec::new();
        if self.answered < self.sent {
            p.push(format!(
                "{} of {} unanswered",
                self.sent - self.answered,
                self.sent
            ));
        }
        if self.order_rejects > 0 {
            p.push(format!("{} orders rejected (150=8)", self.order_rejects));
        }
        if self.session_rejects > 0 {
            p.push(format!("{} Reject/BusinessReject", self.session_rejects));
        }
        if let Some(t) = &self.first_reject {
            p.push(format!("first: {t:?}"));
        }
        if let Some(t) = &self.logged_out {
            p.push(format!("logged out: {t:?}"));
        }
        if p.is_empty() {
            "ok".into()
        } else {
            p.join("; ")
        }
    }
}

/// A latency histogram in ns, 1 ns to 120 s, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("histogram bounds")
}

/// Wall-clock time, ns since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

/// The write side of the session, shared by the sender and (for Heartbeat replies to a
/// TestRequest) the receiver, so MsgSeqNum stays in wire order.
struct Out {
    stream: TcpStream,
    next_seq: u64,
    buf: Vec<u8>,
    sender: Vec<u8>,
    target: Vec<u8>,
}

impl Out {
    /// Encodes one message at the end of `buf` with `body` writing the body fields.
    fn push(&mut self, msg_type: &[u8], now_ns: u64, body: impl FnOnce(&mut MessageWriter<'_>)) {
        let start = self.buf.len();
        self.buf.resize(start + 512, 0);
        let (sender, target) = (
            std::mem::take(&mut self.sender),
            std::mem::take(&mut self.target),
        );
        let h = Header {
            msg_type,
            seq_num: self.next_seq,
            sender_comp_id: &sender,
            target_comp_id: &target,
            sending_time_ns: now_ns,
        };
        let mut w = MessageWriter::new(&mut self.buf[start..], &h);
        body(&mut w);
        let range = w.finish().expect("a FIX message fits 512 bytes");
        self.sender = sender;
        self.target = target;
        self.buf
            .copy_within(start + range.start..start + range.end, start);
        self.buf.truncate(start + range.len());
        self.next_seq += 1;
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.stream.write_all(&self.buf);
        self.buf.clear();
        r
    }
}

/// Receive buffer with the bytes not yet decoded.
struct Inbox {
    buf: Vec<u8>,
    len: usize,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            buf: vec![0; 1 << 20],
            len: 0,
        }
    }

    /// One read; `Ok(false)` on timeout, error on EOF.
    fn fill(&mut self, s: &mut TcpStream) -> io::Result<bool> {
        if self.len == self.buf.len() {
            return Err(io::Error::other(
                "receive buffer full without a complete frame",
            ));
        }
        match s.read(&mut self.buf[self.len..]) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            )),
            Ok(n) => {
                self.len += n;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Calls `f` on every complete frame, then drops them from the buffer.
    fn drain(&mut self, mut f: impl FnMut(&Message<'_>)) {
        let mut pos = 0;
        loop {
            match decode(&self.buf[pos..self.len]) {
                Decoded::Incomplete { skip } => {
                    pos += skip;
                    break;
                }
                Decoded::Message { msg, consumed } => {
                    f(&msg);
                    pos += consumed;
                }
                Decoded::Garbled { consumed, error } => {
                    eprintln!("fix-load: garbled frame from server ({error:?}), skipped");
                    pos += consumed;
                }
            }
        }
        self.buf.copy_within(pos..self.len, 0);
        self.len -= pos;
    }
}

fn text_of(m: &Message<'_>) -> String {
    m.get(58)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default()
}

/// Writes `v` as `INDEX_DIGITS` zero-padded digits.
#[inline]
fn put_index(mut v: u64, out: &mut [u8]) {
    for b in out[..INDEX_DIGITS].iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The order index in a ClOrdID of this run, or `None` for another run's.
#[inline]
fn parse_index(tag: &[u8; 4], cl: &[u8]) -> Option<u64> {
    if cl.len() != 4 + INDEX_DIGITS || &cl[..4] != tag {
        return None;
    }
    let mut v = 0u64;
    for &b in &cl[4..] {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u64;
    }
    Some(v)
}

/// A logged-on session.
struct Session {
    out: Arc<Mutex<Out>>,
    read: TcpStream,
    inbox: Inbox,
}

fn logon(addr: SocketAddr, spec: &LoadSpec) -> io::Result<Session> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    let mut read = stream.try_clone()?;
    read.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut out = Out {
        stream,
        next_seq: 1,
        buf: Vec::with_capacity(MAX_BATCH * 512),
        sender: spec.sender_comp_id.as_bytes().to_vec(),
        target: spec.target_comp_id.as_bytes().to_vec(),
    };
    out.push(b"A", wall_ns(), |w| {
        w.field(98, b"0").field(108, b"30").field(141, b"Y");
    });
    out.flush()?;
    let mut inbox = Inbox::new();
    let t = Instant::now();
    let mut reply: Option<Result<(), String>> = None;
    while reply.is_none() {
        if t.elapsed() > Duration::from_secs(5) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no Logon reply within 5 s",
            ));
        }
        inbox.fill(&mut read)?;
        inbox.drain(|m| {
            if reply.is_some() {
                return;
            }
            match m.msg_type() {
                b"A" => reply = Some(Ok(())),
                b"5" | b"3" => {
                    reply = Some(Err(format!(
                        "logon refused: 35={} 58={:?}",
                        String::from_utf8_lossy(m.msg_type()),
                        text_of(m)
                    )))
                }
                _ => {}
            }
        });
    }
    reply.expect("set").map_err(io::Error::other)?;
    Ok(Session {
        out: Arc::new(Mutex::new(out)),
        read,
        inbox,
    })
}

/// Sends Logout, waits up to a second for the reply, closes.
fn logout(mut s: Session) {
    {
        let mut out = s.out.lock().expect("writer");
        out.push(b"5", wall_ns(), |_| {});
        let _ = out.flush();
    }
    let t = Instant::now();
    let mut done = false;
    while !done && t.elapsed() < Duration::from_secs(1) {
        match s.inbox.fill(&mut s.read) {
            Ok(_) => s.inbox.drain(|m| done |= m.msg_type() == b"5"),
            Err(_) => break,
        }
    }
    let _ = s.read.shutdown(std::net::Shutdown::Both);
}

/// Runs one open-loop load: connect, log on, offer `spec.count` orders at `spec.rate`,
/// wait for the answers (at most `drain_timeout` after the last send), log out.
pub fn run(addr: SocketAddr, spec: &LoadSpec) -> io::Result<LoadResult> {
    let s = logon(addr, spec)?;
    let Session { out, read, inbox } = s;
    let t0 = Instant::now();
    let sent_all_ns = Arc::new(AtomicU64::new(u64::MAX));
    let sent_count = Arc::new(AtomicU64::new(0));

    let sender = {
        let out = out.clone();
        let spec = spec.clone();
        let sent_all_ns = sent_all_ns.clone();
        let sent_count = sent_count.clone();
        std::thread::Builder::new()
            .name("fixload-send".into())
            .spawn(move || send_loop(&out, &spec, t0, &sent_all_ns, &sent_count))?
    };
    let receiver = {
        let out = out.clone();
        let spec = spec.clone();
        let sent_all_ns = sent_all_ns.clone();
        std::thread::Builder::new()
            .name("fixload-recv".into())
            .spawn(move || receive_loop(read, inbox, &out, &spec, t0, &sent_all_ns))?
    };
    // Both threads name themselves as they start; give them a moment, then look.
    std::thread::sleep(Duration::from_millis(5));
    let threads = super::describe_threads();
    // Scheduler counters over the send phase, read while the sender still runs (a thread
    // that has exited is gone from /proc): up to ~10 ms before its last due time.
    let sched0 = super::sched_snapshot();
    let t_sched = Instant::now();
    let near_end = spec.due_ns(spec.count.saturating_sub(spec.rate / 100 + 1));
    while sent_all_ns.load(Ordering::Acquire) == u64::MAX
        && (t0.elapsed().as_nanos() as u64) < near_end
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let sched = super::sched_report(&sched0, &super::sched_snapshot(), t_sched.elapsed());
    let (send_lag, order_bytes, send_err) = sender.join().expect("sender thread");
    let (mut r, read, inbox) = receiver.join().expect("receiver thread")?;
    if let Some(e) = send_err {
        if r.logged_out.is_none() {
            return Err(e);
        }
    }
    r.threads = threads;
    r.sched = sched;
    r.send_lag = send_lag;
    r.order_bytes = order_bytes;
    r.sent = sent_count.load(Ordering::Relaxed);
    r.send_elapsed = Duration::from_nanos(sent_all_ns.load(Ordering::Relaxed).min(u64::MAX / 2));
    if r.logged_out.is_none() {
        logout(Session { out, read, inbox });
    }
    Ok(r)
}

/// Reduces timer slack so `sleep` wakes within µs, not the default 50 µs.
pub(crate) fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and only changes this
    // thread's timer slack; no pointers are passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

fn send_loop(
    out: &Mutex<Out>,
    spec: &LoadSpec,
    t0: Instant,
    sent_all_ns: &AtomicU64,
    sent_count: &AtomicU64,
) -> (Histogram<u64>, usize, Option<io::Error>) {
    tighten_timer_slack();
    let mut lag = new_hist();
    let mut cl = [0u8; 4 + INDEX_DIGITS];
    cl[..4].copy_from_slice(&spec.run_tag);
    let (sym, bpx, spx) = (
        spec.symbol.as_bytes(),
        spec.buy_price.as_bytes(),
        spec.sell_price.as_bytes(),
    );
    let (bq, sq) = (spec.buy_qty.as_bytes(), spec.sell_qty.as_bytes());
    let mut order_bytes = 0;
    let mut i = 0u64;
    while i < spec.count {
        let due = spec.due_ns(i);
        let mut now = t0.elapsed().as_nanos() as u64;
        while now < due {
            let rem = due - now;
            if rem > spec.spin_ns {
                std::thread::sleep(Duration::from_nanos(rem - spec.spin_ns));
            } else {
                std::thread::yield_now();
            }
            now = t0.elapsed().as_nanos() as u64;
        }
        let wall = wall_ns();
        let mut o = out.lock().expect("writer");
        let first = i;
        while i < spec.count && spec.due_ns(i) <= now && i - first < MAX_BATCH as u64 {
            put_index(i, &mut cl[4..]);
            let buy = i & 1 == 0;
            let before = o.buf.len();
            o.push(b"D", wall, |w| {
                w.field(11, &cl)
                    .field(55, sym)
                    .field(54, if buy { b"1" } else { b"2" })
                    .field_timestamp(60, wall)
                    .field(38, if buy { bq } else { sq })
                    .field(40, b"2")
                    .field(44, if buy { bpx } else { spx })
                    .field(59, b"3");
            });
            order_bytes = o.buf.len() - before;
            lag.record((now - spec.due_ns(i)).max(1)).expect("in range");
            i += 1;
        }
        if let Err(e) = o.flush() {
            sent_count.store(i, Ordering::Relaxed);
            sent_all_ns.store(t0.elapsed().as_nanos() as u64, Ordering::Release);
            return (lag, order_bytes, Some(e));
        }
        drop(o);
        sent_count.store(i, Ordering::Relaxed);
    }
    sent_all_ns.store(t0.elapsed().as_nanos() as u64, Ordering::Release);
    (lag, order_bytes, None)
}

type RecvOut = io::Result<(LoadResult, TcpStream, Inbox)>;

fn receive_loop(
    mut read: TcpStream,
    mut inbox: Inbox,
    out: &Mutex<Out>,
    spec: &LoadSpec,
    t0: Instant,
    sent_all_ns: &AtomicU64,
) -> RecvOut {
    let mut seen = vec![0u64; (spec.count as usize).div_ceil(64)];
    let mut r = LoadResult {
        latency: new_hist(),
        send_lag: new_hist(),
        sent: 0,
        answered: 0,
        exec_reports: 0,
        exec_report_bytes: 0,
        order_rejects: 0,
        session_rejects: 0,
        first_reject: None,
        logged_out: None,
        order_bytes: 0,
        send_elapsed: Duration::ZERO,
        answer_elapsed: Duration::ZERO,
        threads: String::new(),
        sched: String::new(),
    };
    let drain_ns = spec.drain_timeout.as_nanos() as u64;
    let mut test_req: Option<Vec<u8>> = None;
    // FIXLOAD_DEBUG=n prints the first n frames received (SOH shown as |).
    let mut debug: u32 = std::env::var("FIXLOAD_DEBUG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while r.answered < spec.count && r.logged_out.is_none() {
        let all = sent_all_ns.load(Ordering::Acquire);
        if all != u64::MAX && (t0.elapsed().as_nanos() as u64) > all + drain_ns {
            break;
        }
        if !inbox.fill(&mut read)? {
            continue;
        }
        let now = t0.elapsed().as_nanos() as u64;
        inbox.drain(|m| {
            if debug > 0 {
                debug -= 1;
                eprintln!(
                    "fix-load: received {}",
                    String::from_utf8_lossy(m.as_bytes()).replace('\x01', "|")
                );
            }
            match m.msg_type() {
                b"8" => {
                    r.exec_reports += 1;
                    r.exec_report_bytes += m.as_bytes().len() as u64;
                    let Some(i) = m.get(11).and_then(|c| parse_index(&spec.run_tag, c)) else {
                        return;
                    };
                    if i >= spec.count {
                        return;
                    }
                    let (w, b) = ((i / 64) as usize, 1u64 << (i % 64));
                    if seen[w] & b != 0 {
                        return;
                    }
                    seen[w] |= b;
                    r.answered += 1;
                    r.latency
                        .record(now.saturating_sub(spec.due_ns(i)).max(1))
                        .expect("in range");
                    r.answer_elapsed = Duration::from_nanos(now);
                    if m.get(150) == Some(b"8") {
                        r.order_rejects += 1;
                        if r.first_reject.is_none() {
                            r.first_reject = Some(format!("ExecutionReport 150=8: {}", text_of(m)));
                        }
                    }
                }
                b"3" | b"j" => {
                    r.session_rejects += 1;
                    if r.first_reject.is_none() {
                        r.first_reject = Some(format!(
                            "35={} 373/380={} 58={}",
                            String::from_utf8_lossy(m.msg_type()),
                            String::from_utf8_lossy(m.get(373).or(m.get(380)).unwrap_or(b"")),
                            text_of(m)
                        ));
                    }
                }
                b"5" => r.logged_out = Some(text_of(m)),
                b"1" => test_req = m.get(112).map(<[u8]>::to_vec),
                _ => {}
            }
        });
        if let Some(id) = test_req.take() {
            let mut o = out.lock().expect("writer");
            o.push(b"0", wall_ns(), |w| {
                w.field(112, &id);
            });
            o.flush()?;
        }
    }
    Ok((r, read, inbox))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl_ord_id_round_trips_and_rejects_other_runs() {
        let tag = *b"AB12";
        let mut cl = [0u8; 14];
        cl[..4].copy_from_slice(&tag);
        for v in [0u64, 7, 1_234_567, 9_999_999_999] {
            put_index(v, &mut cl[4..]);
            assert_eq!(parse_index(&tag, &cl), Some(v));
        }
        assert_eq!(&cl, b"AB129999999999");
        assert_eq!(parse_index(b"AB13", &cl), None);
        assert_eq!(parse_index(&tag, b"AB12123"), None);
        assert_eq!(parse_index(&tag, b"AB12x234567890"), None);
    }

    #[test]
    fn due_times_follow_the_rate() {
        let s = LoadSpec::btc_usdt(20_000, 10, "A", "B");
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(1), 50_000);
        assert_eq!(s.due_ns(20_000), 1_000_000_000);
        let tag = run_tag();
        assert!(tag.iter().all(u8::is_ascii_alphanumeric));
    }
}
