//! Architecture Invariant: market data never blocks the matcher. A real pipeline with a
//! small outbound ring, WebSocket clients that never read, and a stream of crossing
//! orders: every command is applied and released, the stalled clients are dropped.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tachyon_engine::{Command, CommandKind, Side, Tif};
use tachyon_pipeline::{wall_clock_ns, CoreMode, FsyncPolicy, Pipeline, PipelineOptions};

#[test]
fn stalled_websocket_clients_do_not_stall_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&[("ws_buffer", "16"), ("ws_send_timeout_ms", "200")]);
    let opts = PipelineOptions {
        inbound_ring_size: 1024,
        // Small: a reader that stopped would stall the matcher within ~100 commands.
        outbound_ring_size: 256,
        mode: CoreMode::Shared,
        matcher_core: None,
        journal_core: None,
        journal_dir: dir.path().to_path_buf(),
        fsync: FsyncPolicy::Os,
        segment_size_bytes: cfg.engine.segment_size_bytes,
        snapshot_interval: 0,
        prune_segments: false,
        outbound_pollers: 1,
        tick_interval: None,
        journal_on_matcher: false,
    };
    let mut pipeline = Pipeline::start(cfg.engine_config(), opts).unwrap();
    let events = pipeline.take_pollers().pop().unwrap();
    let stats = pipeline.stats();
    let h = tachyon_ops::start(&cfg, events, stats.clone(), None, None).unwrap();
    let addr = h.local_addr();

    // Clients that connect and then never read a byte. Small receive buffers, so their
    // sockets fill with this test's few MB (the server sends batches, and loopback
    // buffers would otherwise hold them all).
    let stalled: Vec<_> = ["/ws/depth/BTC-USDT", "/ws/trades/BTC-USDT"]
        .iter()
        .map(|path| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_recv_buffer_size(4096).unwrap();
            s.connect(&addr.into()).unwrap();
            let (ws, _) =
                tungstenite::client(format!("ws://{addr}{path}"), std::net::TcpStream::from(s))
                    .unwrap();
            ws
        })
        .collect();

    let mut publisher = pipeline.publisher();
    let mut n = 0u64;
    for c in genesis(&cfg, wall_clock_ns()) {
        publisher.publish(c);
        n += 1;
    }
    // Resting sells and buys that take them: book changes and trades on every command.
    let rounds = 10_000u64;
    for i in 0..rounds {
        let price = 5_000_000 + (i % 50) as i64;
        for (account, side) in [(1, Side::Sell), (2, Side::Buy)] {
            let o = limit_order(account, BTC, side, price, 10, Tif::Gtc);
            publisher.publish(Command {
                ts_ns: wall_clock_ns(),
                kind: CommandKind::NewOrder(o),
            });
            n += 1;
        }
    }
    let start = Instant::now();
    let md_seq = || {
        get(addr, "/metrics")
            .1
            .lines()
            .find_map(|l| l.strip_prefix("tachyon_md_seq ")?.parse::<u64>().ok())
            .unwrap()
    };
    while md_seq() < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "market data stuck at {} of {n} (applied {})",
            md_seq(),
            stats.applied_seq.load(std::sync::atomic::Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, trades) = get_json(addr, "/api/v1/trades?symbol=BTC-USDT&limit=1");
    assert_eq!(trades[0]["id"].as_u64(), Some(rounds), "every pair traded");
    // Each client is dropped once its socket has stayed full for ws_send_timeout_ms (or
    // it fell ws_buffer batches behind). The server writes in batches, so loopback's
    // socket buffers may still hold everything so far: keep trading (bounded) until both
    // sockets are full and the timeout expires.
    let dropped = || -> f64 {
        get(addr, "/metrics")
            .1
            .lines()
            .find_map(|l| {
                l.strip_prefix("tachyon_ws_dropped_slow_total ")?
                    .parse()
                    .ok()
            })
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = rounds;
    while dropped() < 2.0 && Instant::now() < deadline {
        for _ in 0..1_000 {
            let price = 5_000_000 + (i % 50) as i64;
            for (account, side) in [(1, Side::Sell), (2, Side::Buy)] {
                let o = limit_order(account, BTC, side, price, 10, Tif::Gtc);
                publisher.publish(Command {
                    ts_ns: wall_clock_ns(),
                    kind: CommandKind::NewOrder(o),
                });
            }
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dropped(), 2.0, "both stalled clients were dropped");
    drop(stalled);
    drop(publisher);
    pipeline.shutdown().unwrap();
    h.join();
}
