//! `md-bench`: the WebSocket side of market data, through a real pipeline (journal on,
//! fsync "os", shared-cores mode) and the ops server.
//!
//! ```text
//! cargo run --release -p benches --bin md-bench -- [--pairs N] [--rate R] [--count M] [--clients C]
//! ```
//! - Latency: N pairs (a resting sell, then a buy that takes it: one trade each) at R
//!   pairs/s; for each trade, the time from publishing the buy to its message arriving at
//!   a WebSocket client on `/ws/trades/BTC-USDT`. Defaults 20,000 pairs at 2,000/s.
//! - Matcher throughput: M commands (the same pairs) published as fast as the ring takes
//!   them, timed until the matcher applied the last, with no WebSocket client and then
//!   with C clients (half on the depth stream, half on trades), each reading on its own
//!   thread. Defaults M = 200,000, C = 100.
//!
//! The last line is `md ws_p99_us=.. matcher_slowdown=..` (throughput without clients ÷
//! with clients).

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tachyon_config::Config;
use tachyon_engine::{
    AccountId, ClOrdId, Command, CommandKind, NewOrder, OrdType, Price, Qty, SessionId, Side,
    StpMode, SymbolId, Tif, Transfer,
};
use tachyon_pipeline::{wall_clock_ns, CoreMode, FsyncPolicy, Pipeline, PipelineOptions};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

struct Args {
    pairs: u64,
    rate: u64,
    count: u64,
    clients: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!("md-bench: {msg}\nusage: md-bench [--pairs N (20000)] [--rate R pairs/s (2000)] [--count M (200000)] [--clients C (100)]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        pairs: 20_000,
        rate: 2_000,
        count: 200_000,
        clients: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || -> u64 {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage(&format!("{flag} needs a number")))
        };
        match flag.as_str() {
            "--pairs" => a.pairs = num().max(1),
            "--rate" => a.rate = num().max(1),
            "--count" => a.count = num().max(2),
            "--clients" => a.clients = num() as usize,
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    a
}

/// config/dev.toml with a temporary journal, an ephemeral port and deep WebSocket queues.
fn config(journal: &std::path::Path) -> Config {
    let mut text = include_str!("../../../config/dev.toml").to_string();
    for (from, to) in [
        (
            "listen = \"127.0.0.1:9880\"",
            "listen = \"127.0.0.1:0\"".to_string(),
        ),
        ("ws_buffer = 1_024", "ws_buffer = 65_536".to_string()),
        ("max_ws_clients = 256", "max_ws_clients = 1_000".to_string()),
        (
            "journal_dir = \"data/dev/journal\"",
            format!("journal_dir = {:?}", journal.display().to_string()),
        ),
    ] {
        assert!(text.contains(from), "dev.toml no longer has {from}");
        text = text.replacen(from, &to, 1);
    }
    Config::from_str(&text, "md-bench.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn start(cfg: &Config) -> (Pipeline, tachyon_ops::OpsHandle) {
    let e = &cfg.engine;
    let opts = PipelineOptions {
        inbound_ring_size: e.inbound_ring_size as usize,
        outbound_ring_size: e.outbound_ring_size as usize,
        mode: CoreMode::Shared,
        matcher_core: None,
        journal_core: None,
        journal_dir: e.journal_dir.clone(),
        fsync: FsyncPolicy::Os,
        segment_size_bytes: e.segment_size_bytes,
        snapshot_interval: 0,
        prune_segments: false,
        outbound_pollers: 1,
        tick_interval: None,
        journal_on_matcher: false,
    };
    let mut p = Pipeline::start(cfg.engine_config(), opts).expect("pipeline starts");
    let events = p.take_pollers().pop().unwrap();
    let ops = tachyon_ops::start(cfg, events, p.stats(), None, None).expect("ops starts");
    let mut publisher = p.publisher();
    let ts = wall_clock_ns();
    for a in 1..=2u32 {
        publisher.publish(Command {
            ts_ns: ts,
            kind: CommandKind::CreateAccount {
                account: AccountId(a),
            },
        });
        for (asset, amount) in [
            (0u16, 1_000_000_000_000_000_000i64),
            (1, 1_000_000_000_000_000),
        ] {
            publisher.publish(Command {
                ts_ns: ts,
                kind: CommandKind::Deposit(Transfer {
                    account: AccountId(a),
                    asset: tachyon_engine::AssetId(asset),
                    amount,
                    reference: 0,
                }),
            });
        }
    }
    (p, ops)
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

/// Commands `start` publishes before the flow: 2 accounts, each opened and funded twice.
const GENESIS_COMMANDS: u64 = 6;

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect(addr: SocketAddr, path: &str) -> Client {
    let (ws, _) = tungstenite::connect(format!("ws://{addr}{path}")).expect("WebSocket connect");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.set_nodelay(true).unwrap();
    }
    ws
}

fn latency(args: &Args) -> Histogram<u64> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (pipeline, ops) = start(&cfg);
    let addr = ops.local_addr();
    let origin = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..=args.pairs).map(|_| AtomicU64::new(0)).collect());
    let mut ws = connect(addr, "/ws/trades/BTC-USDT");
    let first = ws.read().expect("subscribed message");
    assert!(first.to_text().unwrap().contains("subscribed"));
    let reader = {
        let sent = sent.clone();
        let pairs = args.pairs;
        std::thread::spawn(move || {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
            let deadline = Instant::now() + Duration::from_secs(pairs / 100 + 60);
            while (h.len()) < pairs && Instant::now() < deadline {
                let text = match ws.read() {
                    Ok(Message::Text(t)) => t,
                    Ok(_) => continue,
                    Err(tungstenite::Error::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        continue
                    }
                    Err(e) => panic!("WebSocket client: {e}"),
                };
                let now = origin.elapsed().as_nanos() as u64;
                let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                let id = v["t"].as_u64().expect("trade id") as usize;
                let at = sent[id].load(Ordering::Acquire);
                h.record(now.saturating_sub(at).max(1)).unwrap();
            }
            h
        })
    };
    let mut publisher = pipeline.publisher();
    let start = Instant::now();
    for k in 0..args.pairs {
        let due = start + Duration::from_nanos(k * 1_000_000_000 / args.rate);
        while Instant::now() < due {
            std::thread::sleep(Duration::from_micros(50).min(due - Instant::now()));
        }
        publisher.publish(command(2 * k));
        // Trade ids count from 1: pair k makes trade k + 1.
        sent[k as usize + 1].store(origin.elapsed().as_nanos() as u64, Ordering::Release);
        publisher.publish(command(2 * k + 1));
    }
    let h = reader.join().unwrap();
    drop(publisher);
    pipeline.shutdown().unwrap();
    ops.join();
    h
}

/// Commands per second the matcher applies with `clients` WebSocket readers attached.
fn throughput(args: &Args, clients: usize) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (pipeline, ops) = start(&cfg);
    let addr = ops.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..clients)
        .map(|c| {
            let path = if c % 2 == 0 {
                "/ws/depth/BTC-USDT"
            } else {
                "/ws/trades/BTC-USDT"
            };
            let mut ws = connect(addr, path);
            let _ = ws.read();
            let (stop, received) = (stop.clone(), received.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match ws.read() {
                        Ok(Message::Text(_)) => {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let stats = pipeline.stats();
    // Let the genesis (6 commands) settle.
    let base = GENESIS_COMMANDS;
    while stats.applied_seq.load(Ordering::Acquire) < base {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut publisher = pipeline.publisher();
    let start = Instant::now();
    for i in 0..args.count {
        publisher.publish(command(i));
    }
    let target = base + args.count;
    while stats.applied_seq.load(Ordering::Acquire) < target {
        std::thread::yield_now();
    }
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Release);
    for r in readers {
        let _ = r.join();
    }
    let metrics = ureq::get(&format!("http://{addr}/metrics"))
        .call()
        .expect("GET /metrics")
        .into_string()
        .unwrap();
    let dropped = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("tachyon_ws_dropped_slow_total ")?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    drop(publisher);
    pipeline.shutdown().unwrap();
    ops.join();
    eprintln!(
        "  {clients} clients: {:.0} commands/s, {} messages received, {dropped} clients dropped",
        args.count as f64 / secs,
        received.load(Ordering::Relaxed)
    );
    (args.count as f64 / secs, dropped)
}

fn main() {
    let args = parse_args();
    eprintln!(
        "md-bench: latency over {} pairs at {}/s; throughput over {} commands, 0 vs {} clients",
        args.pairs, args.rate, args.count, args.clients
    );
    let h = latency(&args);
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    eprintln!(
        "  trade → WebSocket: n={} p50={:.1}µs p90={:.1}µs p99={:.1}µs p99.9={:.1}µs max={:.1}µs",
        h.len(),
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1_000.0
    );
    let (none, _) = throughput(&args, 0);
    let (with, _) = throughput(&args, args.clients);
    println!(
        "md ws_p99_us={:.0} matcher_slowdown={:.2}",
        us(0.99),
        none / with
    );
}
