//! WebSocket streams over real sockets: a depth snapshot plus the diffs after it
//! reproduces the engine's book; the trade stream delivers every trade; a client that
//! does not read is disconnected; the client limit answers 503.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use tachyon_config::Config;
use tachyon_engine::{Engine, Event, Side};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect(addr: SocketAddr, path: &str) -> Client {
    let (ws, resp) = tungstenite::connect(format!("ws://{addr}{path}")).expect("connect");
    assert_eq!(resp.status(), 101);
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    ws
}

fn next_json(ws: &mut Client) -> Value {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A local book kept from `[["price", "qty"], ...]` lists, in integer ticks and lots.
#[derive(Default, Debug, PartialEq)]
struct LocalBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl LocalBook {
    fn apply(&mut self, cfg: &Config, side: Side, levels: &Value) {
        let ins = &cfg.instruments[0];
        for l in levels.as_array().unwrap() {
            let p = ins
                .price_to_ticks(Decimal::from_str(l[0].as_str().unwrap()).unwrap())
                .expect("price on the tick grid");
            let q = ins
                .qty_to_lots(Decimal::from_str(l[1].as_str().unwrap()).unwrap())
                .expect("qty on the lot grid");
            let book = match side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            if q == 0 {
                book.remove(&p);
            } else {
                book.insert(p, q);
            }
        }
    }

    fn of_engine(engine: &Engine) -> LocalBook {
        let (bids, asks) = engine_book(engine, BTC);
        LocalBook {
            bids: bids.into_iter().collect(),
            asks: asks.into_iter().collect(),
        }
    }
}

/// Drives a real engine with random commands and feeds its events to the server.
struct Flow {
    engine: Engine,
    rng: SplitMix,
    seq: u64,
    ts: u64,
    orders: u64,
    trades: Vec<u64>,
}

impl Flow {
    fn new(cfg: &Config, handle: &tachyon_ops::OpsHandle, seed: u64) -> Flow {
        let mut f = Flow {
            engine: Engine::new(cfg.engine_config()).unwrap(),
            rng: SplitMix(seed),
            seq: 0,
            ts: tachyon_pipeline::wall_clock_ns(),
            orders: 0,
            trades: Vec::new(),
        };
        for c in genesis(cfg, f.ts) {
            f.apply(handle, c);
        }
        f
    }

    fn apply(&mut self, handle: &tachyon_ops::OpsHandle, cmd: tachyon_engine::Command) {
        let mut events = Vec::new();
        self.engine.apply(&cmd, &mut events);
        for e in &events {
            match e {
                Event::OrderAccepted { order_id, .. } => self.orders = order_id.0,
                Event::Trade(t) => self.trades.push(t.trade_id),
                _ => {}
            }
        }
        self.seq += 1;
        handle.state().feed_command(self.seq, cmd.ts_ns, &events);
    }

    fn step(&mut self, handle: &tachyon_ops::OpsHandle) {
        self.ts += 1_000_000;
        let cmd = random_command(&mut self.rng, self.ts, self.orders + 1);
        self.apply(handle, cmd);
    }
}

#[test]
fn depth_snapshot_then_diffs_reproduce_the_book() {
    let cfg = config(&[("ws_buffer", "65_536")]);
    let h = server(&cfg);
    let addr = h.local_addr();
    let mut flow = Flow::new(&cfg, &h, 7);
    // Some book before anyone connects.
    for _ in 0..300 {
        flow.step(&h);
    }
    let mut clients: Vec<(Client, LocalBook, u64)> = Vec::new();
    for round in 0..3 {
        // A client joins mid-flow: its snapshot plus diffs must track the engine.
        let mut ws = connect(addr, "/ws/depth/BTC-USDT");
        let snap = next_json(&mut ws);
        assert_eq!(snap["e"], "depthSnapshot");
        assert_eq!(snap["s"], "BTC-USDT");
        let mut book = LocalBook::default();
        book.apply(&cfg, Side::Buy, &snap["b"]);
        book.apply(&cfg, Side::Sell, &snap["a"]);
        assert_eq!(
            book,
            LocalBook::of_engine(&flow.engine),
            "snapshot of round {round}"
        );
        let u = snap["u"].as_u64().unwrap();
        clients.push((ws, book, u));
        for _ in 0..400 {
            flow.step(&h);
        }
        let (_, depth) = get_json(addr, "/api/v1/depth?symbol=BTC-USDT&limit=5000");
        let final_u = depth["lastUpdateId"].as_u64().unwrap();
        for (ws, book, last_u) in &mut clients {
            // Read until the client has seen every depth change up to now.
            let mut first = true;
            while *last_u < final_u {
                let m = next_json(ws);
                assert_eq!(m["e"], "depthUpdate");
                let (big_u, u, pu) = (
                    m["U"].as_u64().unwrap(),
                    m["u"].as_u64().unwrap(),
                    m["pu"].as_u64().unwrap(),
                );
                assert!(big_u <= u);
                if first {
                    assert!(
                        pu <= *last_u && u > *last_u,
                        "first diff {m} after {last_u}"
                    );
                } else {
                    assert_eq!(pu, *last_u, "diff chain broken: {m}");
                }
                first = false;
                book.apply(&cfg, Side::Buy, &m["b"]);
                book.apply(&cfg, Side::Sell, &m["a"]);
                *last_u = u;
            }
            assert_eq!(*last_u, final_u);
            assert_eq!(*book, LocalBook::of_engine(&flow.engine));
        }
    }
    assert!(
        flow.trades.len() > 50,
        "the flow traded: {}",
        flow.trades.len()
    );
    let book = LocalBook::of_engine(&flow.engine);
    assert!(book.bids.len() > 5 && book.asks.len() > 5, "{book:?}");
}

#[test]
fn trade_stream_delivers_every_trade_in_order() {
    let cfg = config(&[("ws_buffer", "65_536")]);
    let h = server(&cfg);
    let addr = h.local_addr();
    let mut flow = Flow::new(&cfg, &h, 11);
    for _ in 0..100 {
        flow.step(&h);
    }
    let before = flow.trades.len();
    let mut ws = connect(addr, "/ws/trades/BTC-USDT");
    // The first message confirms the subscription and gives the seq it starts after.
    let sub = next_json(&mut ws);
    assert_eq!(sub["e"], "subscribed");
    // Nothing changed since: the symbol's seq is the one the depth endpoint shows.
    let (_, depth) = get_json(addr, "/api/v1/depth?symbol=BTC-USDT&limit=1");
    assert_eq!(sub["seq"], depth["lastUpdateId"]);
    for _ in 0..500 {
        flow.step(&h);
    }
    let (_, tape) = get_json(addr, "/api/v1/trades?symbol=BTC-USDT&limit=1000");
    let tape = tape.as_array().unwrap();
    let mut prev_seq = sub["seq"].as_u64().unwrap();
    assert!(flow.trades.len() > before + 20);
    for (i, want) in flow.trades[before..].iter().enumerate() {
        let m = next_json(&mut ws);
        assert_eq!(m["e"], "trade");
        assert_eq!(m["t"].as_u64(), Some(*want), "trade #{i}");
        if i > 0 {
            assert_eq!(m["pu"].as_u64(), Some(prev_seq), "trade chain");
        } else {
            assert!(
                m["pu"].as_u64().unwrap() <= prev_seq,
                "first trade after subscribing"
            );
        }
        prev_seq = m["seq"].as_u64().unwrap();
        // Same values as the REST tape.
        let rest = tape.iter().find(|t| t["id"] == m["t"]).unwrap();
        assert_eq!(rest["price"], m["p"]);
        assert_eq!(rest["qty"], m["q"]);
        assert_eq!(rest["isBuyerMaker"], m["m"]);
        assert_eq!(rest["seq"], m["seq"]);
    }
}

fn get_metric(addr: SocketAddr, name: &str) -> f64 {
    let text = get(addr, "/metrics").1;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn a_client_that_falls_ws_buffer_behind_is_dropped() {
    // Bursts of 1,000 trades against a queue of 8: the client lags at once.
    drop_slow_client("8", 1_000, Duration::ZERO);
}

#[test]
fn a_client_whose_socket_stays_full_is_dropped() {
    // A queue the bursts never overrun (100 trades per 5 ms, 100,000 queued): the
    // client goes only once the socket buffers are full and a send times out.
    drop_slow_client("100_000", 100, Duration::from_millis(5));
}

fn drop_slow_client(ws_buffer: &str, burst: usize, pause: Duration) {
    let cfg = config(&[("ws_buffer", ws_buffer), ("ws_send_timeout_ms", "300")]);
    let h = server(&cfg);
    let addr = h.local_addr();
    let mut slow = connect(addr, "/ws/trades/BTC-USDT");
    assert_eq!(next_json(&mut slow)["e"], "subscribed");
    // Trades until the server gives up on the client: it never reads. Bounded: at most
    // ~200 MB of messages or 30 s.
    let start = Instant::now();
    let mut id = 0u64;
    let ts = tachyon_pipeline::wall_clock_ns();
    while get_metric(addr, "tachyon_ws_dropped_slow_total") < 1.0 {
        assert!(
            start.elapsed() < Duration::from_secs(30) && id < 1_000_000,
            "slow client never dropped after {id} trades"
        );
        let batch: Vec<Event> = (0..burst)
            .map(|_| {
                id += 1;
                trade(id, BTC, 5_000_000, 10, Side::Buy)
            })
            .collect();
        h.state().feed_command(id, ts, &batch);
        std::thread::sleep(pause);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_metric(addr, "tachyon_ws_clients") > 0.0 {
        assert!(Instant::now() < deadline, "dropped client still counted");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Memory stayed bounded: the server kept at most ws_buffer messages per stream, and
    // the client, reading now, gets what the sockets held and then the end.
    let mut got = 0u64;
    let end = loop {
        match slow.read() {
            Ok(Message::Text(_)) => got += 1,
            Ok(Message::Close(frame)) => break Some(frame),
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    assert!(got < id, "received {got} of {id}: nothing was dropped?");
    if let Some(Some(frame)) = end {
        assert_eq!(u16::from(frame.code), 1008);
    }
    // The server still serves new clients.
    let mut fresh = connect(addr, "/ws/trades/BTC-USDT");
    assert_eq!(next_json(&mut fresh)["e"], "subscribed");
    h.state()
        .feed_command(id + 1, ts, &[trade(id + 1, BTC, 5_000_000, 10, Side::Buy)]);
    let m = next_json(&mut fresh);
    assert_eq!(m["t"].as_u64(), Some(id + 1));
}

#[test]
fn client_limit_answers_503() {
    let cfg = config(&[("max_ws_clients", "1")]);
    let h = server(&cfg);
    let addr = h.local_addr();
    let _first = connect(addr, "/ws/depth/BTC-USDT");
    match tungstenite::connect(format!("ws://{addr}/ws/trades/BTC-USDT")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("second client: {:?}", other.map(|(_, r)| r.status())),
    }
    assert_eq!(get_metric(addr, "tachyon_ws_refused_total"), 1.0);
    drop(_first);
    // The slot is freed when the client leaves.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tungstenite::connect(format!("ws://{addr}/ws/trades/BTC-USDT")) {
            Ok(_) => break,
            Err(_) => {
                assert!(Instant::now() < deadline, "slot never freed");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
