//! The HTTP endpoints over real sockets: JSON shape and values after known events, 400s
//! naming the parameter, 429 after the burst, /metrics as Prometheus text with real
//! counts, /health and /ready against a real pipeline.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tachyon_engine::{
    AccountId, CancelReason, ClOrdId, Event, OrderId, OrderState, Price, Qty, RejectReason,
    SessionId, Side, SymbolId, Tif,
};
use tachyon_pipeline::{wall_clock_ns, CoreMode, FsyncPolicy, Pipeline, PipelineOptions};

const MIN_NS: u64 = 60_000_000_000;

#[test]
fn market_data_endpoints_show_known_events() {
    let cfg = config(&[]);
    let h = server(&cfg);
    let addr = h.local_addr();
    let now = wall_clock_ns();
    // BTC-USDT: tick 0.01, lot 0.00001. Bids 50,000.00 × 0.5 and 49,999.00 × 0.1, ask
    // 50,001.00 × 0.2; then a buyer takes 0.1 at 50,001.00 and 0.05 at 50,001.00.
    h.state().feed_command(
        1,
        now,
        &[
            level(BTC, Side::Buy, 5_000_000, 50_000, 2),
            level(BTC, Side::Buy, 4_999_900, 10_000, 1),
            level(BTC, Side::Sell, 5_000_100, 20_000, 1),
        ],
    );
    h.state().feed_command(
        2,
        now,
        &[
            trade(7, BTC, 5_000_100, 10_000, Side::Buy),
            trade(8, BTC, 5_000_100, 5_000, Side::Buy),
            level(BTC, Side::Sell, 5_000_100, 5_000, 1),
        ],
    );

    let (status, depth) = get_json(addr, "/api/v1/depth?symbol=BTC-USDT&limit=1");
    assert_eq!(status, 200);
    assert_eq!(
        depth,
        json!({
            "symbol": "BTC-USDT",
            "lastUpdateId": 6,
            "bids": [["50000.00", "0.50000"]],
            "asks": [["50001.00", "0.05000"]],
        })
    );
    let (_, depth) = get_json(addr, "/api/v1/depth?symbol=BTC-USDT");
    assert_eq!(
        depth["bids"],
        json!([["50000.00", "0.50000"], ["49999.00", "0.10000"]])
    );

    let (status, trades) = get_json(addr, "/api/v1/trades?symbol=BTC-USDT&limit=5");
    assert_eq!(status, 200);
    assert_eq!(
        trades,
        json!([
            {"id": 7, "seq": 4, "price": "50001.00", "qty": "0.10000", "quoteQty": "5000.10000000",
             "time": now / 1_000_000, "isBuyerMaker": false},
            {"id": 8, "seq": 5, "price": "50001.00", "qty": "0.05000", "quoteQty": "2500.05000000",
             "time": now / 1_000_000, "isBuyerMaker": false},
        ])
    );
    let (_, one) = get_json(addr, "/api/v1/trades?symbol=BTC-USDT&limit=1");
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["id"], 8);

    let (status, t) = get_json(addr, "/api/v1/ticker?symbol=BTC-USDT");
    assert_eq!(status, 200);
    for (key, want) in [
        ("symbol", json!("BTC-USDT")),
        ("lastPrice", json!("50001.00")),
        ("lastQty", json!("0.05000")),
        ("bidPrice", json!("50000.00")),
        ("bidQty", json!("0.50000")),
        ("askPrice", json!("50001.00")),
        ("askQty", json!("0.05000")),
        ("openPrice", json!("50001.00")),
        ("highPrice", json!("50001.00")),
        ("lowPrice", json!("50001.00")),
        ("priceChange", json!("0.00")),
        ("priceChangePercent", json!("0.000")),
        ("volume", json!("0.15000")),
        ("quoteVolume", json!("7500.15000000")),
        ("count", json!(2)),
        ("lastUpdateId", json!(6)),
    ] {
        assert_eq!(t[key], want, "ticker.{key} in {t}");
    }
    // An instrument without activity: nulls and zeros, not errors.
    let (status, t) = get_json(addr, "/api/v1/ticker?symbol=ETH-BTC");
    assert_eq!(status, 200);
    assert_eq!(t["lastPrice"], json!(null));
    assert_eq!(t["volume"], json!("0.000"));
    assert_eq!(t["quoteVolume"], json!("0.0000000000"));
    assert_eq!(t["count"], json!(0));

    let (status, k) = get_json(addr, "/api/v1/klines?symbol=BTC-USDT&interval=1m");
    assert_eq!(status, 200);
    let open_ms = (now - now % MIN_NS) / 1_000_000;
    assert_eq!(
        k,
        json!([[
            open_ms,
            "50001.00",
            "50001.00",
            "50001.00",
            "50001.00",
            "0.15000",
            open_ms + 59_999,
            "7500.15000000",
            2,
            "0.15000",
            "7500.15000000",
            "0"
        ]])
    );
    let (_, k) = get_json(addr, "/api/v1/klines?symbol=BTC-USDT&interval=1d&limit=10");
    assert_eq!(k[0][0], json!((now - now % (1440 * MIN_NS)) / 1_000_000));

    let (status, info) = get_json(addr, "/api/v1/exchangeInfo");
    assert_eq!(status, 200);
    let syms = info["symbols"].as_array().unwrap();
    assert_eq!(syms.len(), cfg.instruments.len());
    let btc = &syms[0];
    for (key, want) in [
        ("symbol", json!("BTC-USDT")),
        ("baseAsset", json!("BTC")),
        ("quoteAsset", json!("USDT")),
        ("tickSize", json!("0.01")),
        ("stepSize", json!("0.00001")),
        ("minQty", json!("0.00001")),
        ("maxQty", json!("1000")),
        ("minNotional", json!("5")),
        ("minPrice", json!("1")),
        ("maxPrice", json!("10000000")),
        ("makerFeeBps", json!(1)),
        ("takerFeeBps", json!(5)),
    ] {
        assert_eq!(btc[key], want, "exchangeInfo.symbols[0].{key}");
    }
    assert_eq!(syms[1]["makerFeeBps"], json!(-1));
    assert_eq!(syms[2]["tickSize"], json!("0.000001"));
    assert_eq!(
        info["assets"],
        json!([{"asset": "USDT", "decimals": 8}, {"asset": "BTC", "decimals": 10},
               {"asset": "ETH", "decimals": 8}])
    );
    assert_eq!(info["rateLimits"][0]["limit"], json!(50));
    h.stop();
}

#[test]
fn bad_parameters_get_400_naming_the_parameter() {
    let cfg = config(&[]);
    let h = server(&cfg);
    let addr = h.local_addr();
    // (path, status, code, param named, text the message must contain)
    let cases: &[(&str, u16, i64, Option<&str>, &str)] = &[
        ("/api/v1/depth", 400, -1102, Some("symbol"), "mandatory"),
        (
            "/api/v1/depth?symbol=",
            400,
            -1102,
            Some("symbol"),
            "mandatory",
        ),
        (
            "/api/v1/depth?symbol=DOGE-USDT",
            400,
            -1121,
            Some("symbol"),
            "DOGE-USDT",
        ),
        (
            "/api/v1/depth?symbol=BTC-USDT&limit=0",
            400,
            -1100,
            Some("limit"),
            "1 to 5000",
        ),
        (
            "/api/v1/depth?symbol=BTC-USDT&limit=5001",
            400,
            -1100,
            Some("limit"),
            "1 to 5000",
        ),
        (
            "/api/v1/depth?symbol=BTC-USDT&limit=ten",
            400,
            -1100,
            Some("limit"),
            "\"ten\"",
        ),
        (
            "/api/v1/depth?symbol=BTC-USDT&limit=-1",
            400,
            -1100,
            Some("limit"),
            "-1",
        ),
        (
            "/api/v1/trades?symbol=BTC-USDT&limit=1001",
            400,
            -1100,
            Some("limit"),
            "1 to 1000",
        ),
        (
            "/api/v1/klines?symbol=BTC-USDT",
            400,
            -1102,
            Some("interval"),
            "mandatory",
        ),
        (
            "/api/v1/klines?symbol=BTC-USDT&interval=2m",
            400,
            -1120,
            Some("interval"),
            "2m",
        ),
        (
            "/api/v1/klines?interval=1m",
            400,
            -1102,
            Some("symbol"),
            "mandatory",
        ),
        (
            "/api/v1/ticker?symbol=BTC-USDT&symbol=ETH-USDT",
            400,
            -1101,
            Some("symbol"),
            "more than once",
        ),
        (
            "/api/v1/ticker?symbol=BTC-USDT&depth=3",
            400,
            -1104,
            None,
            "'depth'",
        ),
        (
            "/api/v1/exchangeInfo?symbol=BTC-USDT",
            400,
            -1104,
            None,
            "'symbol'",
        ),
        (
            "/ws/depth/DOGE-USDT",
            400,
            -1121,
            Some("symbol"),
            "DOGE-USDT",
        ),
        ("/ws/trades/BTC-USDT", 400, -1000, None, "WebSocket"),
        (
            "/api/v2/depth?symbol=BTC-USDT",
            404,
            -1000,
            None,
            "no such endpoint",
        ),
    ];
    for (path, status, code, param, text) in cases {
        let (got, body) = get_json(addr, path);
        assert_eq!(got, *status, "{path}: {body}");
        assert_eq!(body["code"], json!(code), "{path}: {body}");
        assert_eq!(body["param"].as_str(), *param, "{path}: {body}");
        let msg = body["msg"].as_str().unwrap();
        assert!(msg.contains(text), "{path}: {msg:?} lacks {text:?}");
    }
    // A URL-encoded symbol is decoded before lookup.
    assert_eq!(get(addr, "/api/v1/depth?symbol=BTC%2DUSDT").0, 200);
}

#[test]
fn rate_limit_gives_429_after_the_burst() {
    let cfg = config(&[
        ("rate_limit_per_ip_per_sec", "1"),
        ("rate_limit_burst", "5"),
    ]);
    let h = server(&cfg);
    let addr = h.local_addr();
    let codes: Vec<u16> = (0..8)
        .map(|_| get(addr, "/api/v1/depth?symbol=BTC-USDT").0)
        .collect();
    // The burst, then refusals (1 token/s; the 8 requests take far less than a second,
    // but allow one refill on a very slow machine).
    assert_eq!(&codes[..5], &[200; 5], "{codes:?}");
    assert!(
        codes[5..].iter().filter(|c| **c == 429).count() >= 2,
        "{codes:?}"
    );
    let resp = ureq::get(&format!("http://{addr}/api/v1/trades?symbol=BTC-USDT")).call();
    match resp {
        Err(ureq::Error::Status(429, r)) => {
            assert_eq!(r.header("retry-after"), Some("1"));
            let body: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
            assert_eq!(body["code"], json!(-1003));
        }
        other => panic!("expected 429, got {other:?}"),
    }
    // The operator plane is not limited.
    for _ in 0..10 {
        assert_eq!(get(addr, "/health").0, 200);
    }
    let metrics = get(addr, "/metrics").1;
    let scrape = parse_metrics(&metrics);
    assert!(sample(&scrape, "tachyon_http_rate_limited_total", &[]) >= 3.0);
    // A token comes back after a second.
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(get(addr, "/api/v1/depth?symbol=BTC-USDT").0, 200);
}

fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The value of the sample `name{labels}`; panics if absent.
fn sample(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = s
        .samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    match found.map(|x| &x.value) {
        Some(prometheus_parse::Value::Counter(v))
        | Some(prometheus_parse::Value::Gauge(v))
        | Some(prometheus_parse::Value::Untyped(v)) => *v,
        other => panic!("{name}{labels:?}: {other:?}"),
    }
}

fn canceled(id: u64, reason: CancelReason) -> Event {
    Event::OrderCanceled {
        state: OrderState {
            order_id: OrderId(id),
            account: AccountId(1),
            session: SessionId(0),
            symbol: SymbolId(0),
            side: Side::Buy,
            cl_ord_id: ClOrdId::EMPTY,
            price: Price(1),
            qty: Qty(1),
            leaves: Qty(0),
            cum_qty: Qty(0),
            cum_cost: 0,
        },
        canceled_qty: Qty(1),
        reason,
        request_cl_ord_id: ClOrdId::EMPTY,
    }
}

#[test]
fn metrics_are_prometheus_text_with_real_counts() {
    let cfg = config(&[]);
    let stats = Arc::new(tachyon_pipeline::PipelineStats::default());
    stats.applied_seq.store(12, Ordering::Release);
    stats.durable_seq.store(10, Ordering::Release);
    let lag = Arc::new(AtomicU64::new(42));
    let probe = {
        let lag = lag.clone();
        Box::new(move || Some(lag.load(Ordering::Acquire))) as tachyon_ops::LagProbe
    };
    let state = tachyon_ops::OpsState::new(&cfg, stats, Some(probe));
    let h = tachyon_ops::spawn(cfg.ops.listen, state).unwrap();
    let addr = h.local_addr();
    let order = limit_order(1, BTC, Side::Buy, 5_000_000, 100, Tif::Gtc);
    let accepted = |id| Event::OrderAccepted {
        order_id: OrderId(id),
        order,
    };
    let rejected = |reason| Event::OrderRejected { order, reason };
    // Stamped 5 ms ago: every release delay is at least that.
    let ts = wall_clock_ns() - 5_000_000;
    let commands: Vec<Vec<Event>> = vec![
        vec![accepted(1)],
        vec![accepted(2), trade(1, BTC, 5_000_000, 10, Side::Sell)],
        vec![rejected(RejectReason::InsufficientBalance)],
        vec![rejected(RejectReason::InsufficientBalance)],
        vec![rejected(RejectReason::PriceOutOfBand)],
        vec![
            accepted(3),
            trade(2, BTC, 5_000_000, 10, Side::Sell),
            trade(3, BTC, 5_000_000, 5, Side::Sell),
        ],
        vec![canceled(3, CancelReason::UserRequest)],
        vec![canceled(2, CancelReason::Ioc)],
        vec![trade(4, SymbolId(1), 300_000, 10, Side::Buy)],
    ];
    for (i, evs) in commands.iter().enumerate() {
        h.state().feed_command(i as u64 + 1, ts, evs);
    }
    let resp = ureq::get(&format!("http://{addr}/metrics")).call().unwrap();
    assert!(
        resp.content_type().contains("openmetrics-text"),
        "{}",
        resp.content_type()
    );
    let text = resp.into_string().unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let s = parse_metrics(&text);
    type Labels<'a> = &'a [(&'a str, &'a str)];
    let want: &[(&str, Labels, f64)] = &[
        ("tachyon_orders_accepted_total", &[], 3.0),
        (
            "tachyon_orders_rejected_total",
            &[("reason", "insufficient_balance")],
            2.0,
        ),
        (
            "tachyon_orders_rejected_total",
            &[("reason", "price_out_of_band")],
            1.0,
        ),
        (
            "tachyon_orders_rejected_total",
            &[("reason", "unknown_order")],
            0.0,
        ),
        (
            "tachyon_orders_canceled_total",
            &[("reason", "user_request")],
            1.0,
        ),
        ("tachyon_orders_canceled_total", &[("reason", "ioc")], 1.0),
        ("tachyon_trades_total", &[("symbol", "BTC-USDT")], 3.0),
        ("tachyon_trades_total", &[("symbol", "ETH-USDT")], 1.0),
        ("tachyon_trades_total", &[("symbol", "ETH-BTC")], 0.0),
        ("tachyon_events_total", &[], 12.0),
        ("tachyon_commands_total", &[], 9.0),
        ("tachyon_applied_seq", &[], 12.0),
        ("tachyon_durable_seq", &[], 10.0),
        ("tachyon_md_seq", &[], 9.0),
        ("tachyon_unreleased_commands", &[], 2.0),
        ("tachyon_md_backlog_commands", &[], 3.0),
        ("tachyon_persister_lag_commands", &[], 42.0),
        ("tachyon_journal_failed", &[], 0.0),
        ("tachyon_release_delay_samples_total", &[], 9.0),
    ];
    for (name, labels, value) in want {
        assert_eq!(sample(&s, name, labels), *value, "{name}{labels:?}");
    }
    for q in ["0.5", "0.99", "1"] {
        let v = sample(&s, "tachyon_release_delay_seconds", &[("quantile", q)]);
        assert!((0.005..1.0).contains(&v), "quantile {q}: {v}");
    }
    let p50 = sample(&s, "tachyon_release_delay_seconds", &[("quantile", "0.5")]);
    let max = sample(&s, "tachyon_release_delay_seconds", &[("quantile", "1")]);
    assert!(p50 <= max);
    // The lag probe is read at scrape time.
    lag.store(7, Ordering::Release);
    let s = parse_metrics(&get(addr, "/metrics").1);
    assert_eq!(sample(&s, "tachyon_persister_lag_commands", &[]), 7.0);
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn health_ready_and_live_data_with_a_real_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&[("ready_max_persister_lag", "100")]);
    let opts = PipelineOptions {
        inbound_ring_size: cfg.engine.inbound_ring_size as usize,
        outbound_ring_size: cfg.engine.outbound_ring_size as usize,
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
    let lag = Arc::new(AtomicU64::new(0));
    let probe = {
        let lag = lag.clone();
        Box::new(move || Some(lag.load(Ordering::Acquire))) as tachyon_ops::LagProbe
    };
    let h = tachyon_ops::start(&cfg, events, stats.clone(), Some(probe), None).unwrap();
    let addr = h.local_addr();

    assert_eq!(get_json(addr, "/health"), (200, json!({"status": "ok"})));
    let (status, r) = get_json(addr, "/ready");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["ready"], json!(true));

    // Persister lag above the bound: not ready, and the body says why.
    lag.store(101, Ordering::Release);
    let (status, r) = get_json(addr, "/ready");
    assert_eq!(status, 503);
    assert_eq!(r["checks"]["persister_lag"], json!(101));
    assert_eq!(r["checks"]["pipeline"], json!("ok"));
    lag.store(100, Ordering::Release);
    assert_eq!(get(addr, "/ready").0, 200);

    // Live data: orders through the pipeline show up in depth and trades.
    let mut publisher = pipeline.publisher();
    let ts = wall_clock_ns();
    for c in genesis(&cfg, ts) {
        publisher.publish(c);
    }
    let orders = [
        limit_order(1, BTC, Side::Sell, 5_000_100, 30_000, Tif::Gtc),
        limit_order(2, BTC, Side::Buy, 5_000_000, 20_000, Tif::Gtc),
        limit_order(3, BTC, Side::Buy, 5_000_100, 10_000, Tif::Ioc),
    ];
    for o in orders {
        publisher.publish(tachyon_engine::Command {
            ts_ns: wall_clock_ns(),
            kind: tachyon_engine::CommandKind::NewOrder(o),
        });
    }
    wait_for("the trade", Duration::from_secs(10), || {
        get_json(addr, "/api/v1/trades?symbol=BTC-USDT").1 != json!([])
    });
    let (_, trades) = get_json(addr, "/api/v1/trades?symbol=BTC-USDT");
    assert_eq!(trades[0]["price"], json!("50001.00"));
    assert_eq!(trades[0]["qty"], json!("0.10000"));
    assert_eq!(trades[0]["isBuyerMaker"], json!(false));
    let (_, depth) = get_json(addr, "/api/v1/depth?symbol=BTC-USDT");
    assert_eq!(depth["bids"], json!([["50000.00", "0.20000"]]));
    assert_eq!(depth["asks"], json!([["50001.00", "0.20000"]]));
    let s = parse_metrics(&get(addr, "/metrics").1);
    assert_eq!(sample(&s, "tachyon_orders_accepted_total", &[]), 3.0);
    assert_eq!(
        sample(&s, "tachyon_trades_total", &[("symbol", "BTC-USDT")]),
        1.0
    );
    let applied = sample(&s, "tachyon_applied_seq", &[]);
    assert_eq!(applied as usize, genesis(&cfg, 0).len() + orders.len());

    // A failed journal: not ready.
    stats.journal_failed.store(true, Ordering::Release);
    let (status, r) = get_json(addr, "/ready");
    assert_eq!(status, 503);
    assert_eq!(r["checks"]["journal"], json!("failed"));
    stats.journal_failed.store(false, Ordering::Release);
    assert_eq!(get(addr, "/ready").0, 200);

    // Pipeline shut down: the consumer sees Shutdown and /ready says so.
    drop(publisher);
    pipeline.shutdown().unwrap();
    wait_for("consumer shutdown", Duration::from_secs(10), || {
        get(addr, "/ready").0 == 503
    });
    let (_, r) = get_json(addr, "/ready");
    assert_eq!(r["checks"]["pipeline"], json!("not running"));
    assert_eq!(get(addr, "/health").0, 200);
    h.join();
}
