//! Market data history survives restarts, seen over HTTP as a user sees it: the trade tape
//! (`/api/v1/trades`), the klines of every interval (`/api/v1/klines`) and the 24-hour
//! ticker (`/api/v1/ticker`) are the same JSON after
//! - a clean stop (the state saved at shutdown);
//! - a clean stop whose newest saved state is corrupt (the older one + journal replay);
//! - no saved state at all but the whole journal (replayed from the first command);
//! - SIGKILL of the `tachyon` binary after snapshot intervals were crossed (the state
//!   saved at an interval + the journal's commands after it), several times over.
//!
//! The ticker is compared without its wall-clock fields (`openTime`, `closeTime`); its
//! `lastUpdateId` (the symbol's `seq`, as in every trade) is the same: restored exactly,
//! the sequence numbers are a function of the event history alone.
//!
//! And when the history cannot be rebuilt (no saved state, journal pruned) the exchange
//! still starts, with empty history, and says why.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::fix_client::{FixClient, Msg};
use serde_json::{json, Value};
use tachyon::{Exchange, ExchangeOptions};
use tachyon_pipeline::TapOutcome;

const BIN: &str = env!("CARGO_BIN_EXE_tachyon");
const MM_SECRET: &[u8] = b"dev-only-mm1-secret-not-for-production";
const SYMBOLS: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

/// dev.toml on `dir`, ports 0, snapshots every `interval` commands.
fn config_text(dir: &Path, interval: u64) -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    text.replace(
        "journal_dir = \"data/dev/journal\"",
        &format!("journal_dir = {:?}", dir.join("journal")),
    )
    .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
    .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"")
    .replace(
        "snapshot_interval_commands = 1_000_000",
        &format!("snapshot_interval_commands = {interval}"),
    )
    // Small segments, so a journal can be pruned.
    .replace(
        "segment_size_bytes = 67_108_864",
        "segment_size_bytes = 65_536",
    )
    // Polling the endpoints until events show up must not be rate limited.
    .replace(
        "rate_limit_per_ip_per_sec = 50",
        "rate_limit_per_ip_per_sec = 10000",
    )
    .replace("rate_limit_burst = 100", "rate_limit_burst = 10000")
}

fn start(dir: &Path, interval: u64) -> Exchange {
    let cfg = tachyon_config::Config::from_str(&config_text(dir, interval), "test.toml").unwrap();
    Exchange::start_with(
        cfg,
        ExchangeOptions {
            memory_sessions: true,
        },
    )
    .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Value {
    let url = format!("http://{addr}{path}");
    ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .into_json()
        .unwrap()
}

/// Everything a user sees of the history: per symbol the whole tape, every interval's
/// klines and the ticker without its wall-clock fields; and separately each ticker's
/// `lastUpdateId`.
fn view(addr: SocketAddr) -> (Value, Vec<u64>) {
    let mut out = serde_json::Map::new();
    let mut seqs = Vec::new();
    for s in SYMBOLS {
        let trades = get(addr, &format!("/api/v1/trades?symbol={s}&limit=1000"));
        let mut klines = serde_json::Map::new();
        for i in ["1m", "5m", "1h", "1d"] {
            klines.insert(
                i.into(),
                get(
                    addr,
                    &format!("/api/v1/klines?symbol={s}&interval={i}&limit=1000"),
                ),
            );
        }
        let mut ticker = get(addr, &format!("/api/v1/ticker?symbol={s}"));
        let t = ticker.as_object_mut().unwrap();
        for wall_clock in ["openTime", "closeTime"] {
            assert!(t.remove(wall_clock).is_some(), "{wall_clock} in {t:?}");
        }
        seqs.push(t.remove("lastUpdateId").unwrap().as_u64().unwrap());
        out.insert(
            s.into(),
            json!({ "trades": trades, "klines": klines, "ticker": ticker }),
        );
    }
    (Value::Object(out), seqs)
}

fn tape_len(addr: SocketAddr) -> usize {
    SYMBOLS
        .iter()
        .map(|s| {
            get(addr, &format!("/api/v1/trades?symbol={s}&limit=1000"))
                .as_array()
                .unwrap()
                .len()
        })
        .sum()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads ExecutionReports until the one for `cl` with OrdStatus `status`.
fn wait_er(c: &mut FixClient, cl: &str, status: &str) -> Msg {
    loop {
        let m = c.expect("8");
        if m.get(11) == Some(cl) && m.get(39) == Some(status) {
            return m;
        }
        assert_ne!(m.get(39), Some("8"), "rejected: {m:?}");
    }
}

fn order(c: &mut FixClient, cl: &str, symbol: &str, side: &str, px: &str, qty: &str) {
    c.send(
        "D",
        &[
            (11, cl),
            (55, symbol),
            (54, side),
            (60, "20261122-00:00:00.000"),
            (38, qty),
            (40, "2"),
            (44, px),
        ],
    );
}

/// The market maker (MM1, no cancel-on-disconnect) and a taker (DEV2).
struct Traders {
    mm: FixClient,
    taker: FixClient,
}

impl Traders {
    fn connect(fix: SocketAddr) -> Traders {
        let mut mm = FixClient::connect(fix, "MM1", "TACHYON");
        let a = mm.signed_logon("dev-mm1", MM_SECRET);
        assert_eq!(a.msg_type, "A", "{a:?}");
        let mut taker = FixClient::connect(fix, "DEV2", "TACHYON");
        taker.logon(&[]);
        Traders { mm, taker }
    }

    /// `n` trades per symbol at varying prices and sizes (each the taker's whole order
    /// against one maker order, so one trade each), then a resting bid and ask per symbol
    /// at prices of this round, so the ticker has best prices and the books change. Waits
    /// until market data shows it all.
    fn trade(&mut self, ops: SocketAddr, round: usize, n: usize) {
        let before = tape_len(ops);
        for i in 0..n {
            for (s, base, qty) in [("BTC-USDT", 40_000, "0.001"), ("ETH-USDT", 2_000, "0.01")] {
                let px = format!("{}.{:02}", base + (i * 7 % 13) as i64, i % 100);
                let qty = if i % 3 == 0 {
                    qty.replace("01", "03")
                } else {
                    qty.into()
                };
                let side = if i % 2 == 0 { ("2", "1") } else { ("1", "2") };
                let m = format!("r{round}m{s}{i}");
                order(&mut self.mm, &m, s, side.0, &px, &qty);
                wait_er(&mut self.mm, &m, "0");
                let t = format!("r{round}t{s}{i}");
                order(&mut self.taker, &t, s, side.1, &px, &qty);
                wait_er(&mut self.taker, &t, "2");
            }
        }
        let mut resting = Vec::new();
        for (s, bid, ask) in [("BTC-USDT", 39_000, 41_000), ("ETH-USDT", 1_900, 2_100)] {
            let (bid, ask) = (format!("{}.00", bid - round), format!("{}.00", ask + round));
            let (b, a) = (format!("r{round}b{s}"), format!("r{round}a{s}"));
            order(&mut self.mm, &b, s, "1", &bid, "0.01");
            wait_er(&mut self.mm, &b, "0");
            order(&mut self.mm, &a, s, "2", &ask, "0.01");
            wait_er(&mut self.mm, &a, "0");
            resting.push((s, bid, ask));
        }
        wait_until("market data shows every trade", || {
            tape_len(ops) == before + 2 * n
        });
        // The resting orders came last: once the books show them, everything is applied.
        wait_until("market data shows the resting orders", || {
            resting.iter().all(|(s, bid, ask)| {
                let d = get(ops, &format!("/api/v1/depth?symbol={s}&limit=1000"));
                let has =
                    |side: &str, px: &str| d[side].as_array().unwrap().iter().any(|l| l[0] == *px);
                has("bids", bid) && has("asks", ask)
            })
        });
    }
}

fn assert_same(before: &(Value, Vec<u64>), after: &(Value, Vec<u64>), what: &str) {
    assert!(
        before.0 == after.0,
        "{what}: market data differs after the restart\nbefore: {}\nafter:  {}",
        before.0,
        after.0
    );
    assert_eq!(after.1, before.1, "{what}: seq as it was");
}

fn md_states(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("journal").join("md"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn resumed(ex: &Exchange) -> (u64, u64, u64) {
    match &ex.recovery().tap {
        Some(TapOutcome::Resumed {
            from_seq,
            commands,
            events,
        }) => (*from_seq, *commands, *events),
        other => panic!("market data not resumed: {other:?}"),
    }
}

#[test]
fn clean_restarts_keep_trades_klines_and_ticker() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = start(tmp.path(), 10);
    let mut traders = Traders::connect(ex.fix_addr());
    traders.trade(ex.ops_addr(), 0, 12);
    let before = view(ex.ops_addr());
    assert_eq!(before.0["BTC-USDT"]["trades"].as_array().unwrap().len(), 12);
    drop(traders);
    ex.shutdown().unwrap();
    assert!(!md_states(tmp.path()).is_empty(), "no state saved");

    // 1. Clean restart: the state saved at shutdown, nothing to replay.
    let ex = start(tmp.path(), 10);
    let last = ex.recovery().last_seq;
    assert_eq!(resumed(&ex), (last, 0, 0));
    let after = view(ex.ops_addr());
    assert_same(&before, &after, "clean restart");

    // More history on top, then the newest saved state is damaged: the older one plus
    // the journal after it give the same history.
    let mut traders = Traders::connect(ex.fix_addr());
    traders.trade(ex.ops_addr(), 1, 9);
    let before = view(ex.ops_addr());
    drop(traders);
    ex.shutdown().unwrap();
    let states = md_states(tmp.path());
    assert_eq!(states.len(), 2, "the newest two are kept: {states:?}");
    let newest = states.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(newest, bytes).unwrap();
    let ex = start(tmp.path(), 10);
    let (from, commands, events) = resumed(&ex);
    // (Events after it only if trades followed the last interval's save.)
    let _ = events;
    assert!(
        from < ex.recovery().last_seq && commands > 0,
        "resumed the older state: {:?}",
        ex.recovery().tap
    );
    let after = view(ex.ops_addr());
    assert_same(&before, &after, "restart with the newest state corrupt");
    ex.shutdown().unwrap();

    // No saved state at all, but the whole journal (dev config keeps every segment):
    // replayed from the first command.
    std::fs::remove_dir_all(tmp.path().join("journal").join("md")).unwrap();
    let ex = start(tmp.path(), 10);
    let (from, commands, _) = resumed(&ex);
    assert_eq!((from, commands), (0, ex.recovery().last_seq));
    assert_eq!(ex.recovery().snapshot_seq, None, "replayed from scratch");
    assert_same(&before, &view(ex.ops_addr()), "full replay");
    ex.shutdown().unwrap();
}

#[test]
fn history_that_cannot_be_rebuilt_starts_empty_and_the_exchange_still_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = start(tmp.path(), 1_000_000);
    let mut traders = Traders::connect(ex.fix_addr());
    traders.trade(ex.ops_addr(), 0, 3);
    drop(traders);
    // Enough commands for several 64 KiB journal segments.
    let mut p = ex.publisher();
    for _ in 0..8_000 {
        p.publish(tachyon_engine::Command {
            ts_ns: tachyon_pipeline::wall_clock_ns(),
            kind: tachyon_engine::CommandKind::TimeTick,
        });
    }
    drop(p);
    ex.shutdown().unwrap();
    // As after an upgrade from a build without saved market data, on a pruned journal.
    let journal = tmp.path().join("journal");
    std::fs::remove_dir_all(journal.join("md")).unwrap();
    let snap = tachyon_journal::latest_snapshot(&journal.join("snapshots"))
        .unwrap()
        .snapshot
        .unwrap();
    let segments: Vec<_> = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let pruned = tachyon_journal::prune(&journal, snap.seq).unwrap();
    assert!(!pruned.is_empty(), "{segments:?}, snapshot {}", snap.seq);

    let ex = start(tmp.path(), 1_000_000);
    match &ex.recovery().tap {
        Some(TapOutcome::Unavailable { why }) => {
            assert!(why.contains("journal starts at"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tape_len(ex.ops_addr()), 0);
    // From here on history is kept again.
    let mut traders = Traders::connect(ex.fix_addr());
    traders.trade(ex.ops_addr(), 1, 2);
    let before = view(ex.ops_addr());
    drop(traders);
    ex.shutdown().unwrap();
    let ex = start(tmp.path(), 1_000_000);
    resumed(&ex);
    assert_same(&before, &view(ex.ops_addr()), "restart after the gap");
    ex.shutdown().unwrap();
}

/// The `tachyon` binary with JSON logs; its FIX and ops addresses come from the log.
struct Proc {
    child: Child,
    fix: SocketAddr,
    ops: SocketAddr,
    /// Log lines (JSON) of the start-up, up to the FIX listener.
    startup: Vec<Value>,
}

fn spawn(config: &Path) -> Proc {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("TACHYON_LOG", "info")
        .env("TACHYON_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Keep draining so the child never blocks on a full pipe.
                continue;
            }
        }
    });
    let mut startup = Vec::new();
    let (mut fix, mut ops) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while fix.is_none() || ops.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no listener line in time; log so far: {startup:?}"));
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let addr = || v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        match v["fields"]["component"].as_str() {
            Some("gateway") if v["fields"]["addr"].is_string() => fix = Some(addr()),
            Some("ops") if v["fields"]["addr"].is_string() => ops = Some(addr()),
            _ => {}
        }
        startup.push(v);
    }
    Proc {
        child,
        fix: fix.unwrap(),
        ops: ops.unwrap(),
        startup,
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A failed assertion must not leave the exchange running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// The start-up log line of market data's recovery.
    fn md_line(&self) -> &Value {
        self.startup
            .iter()
            .find(|v| {
                v["fields"]["component"] == "market-data"
                    && v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("trade tape"))
            })
            .unwrap_or_else(|| panic!("no market-data line: {:?}", self.startup))
    }
}

#[test]
fn sigkill_after_snapshot_intervals_keeps_trades_klines_and_ticker() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("test.toml");
    // Snapshots (and saved market data) every 16 commands: each round crosses several.
    std::fs::write(&config, config_text(tmp.path(), 16)).unwrap();
    let mut p = spawn(&config);
    let mut fed_after_a_saved_state = false;
    // At least three crash cycles, and until one of them crashed with trades after the
    // newest saved state (almost always the first: its tail is 8 commands past the last
    // interval; a later round may happen to end right at one).
    for round in 0..8 {
        if round >= 3 && fed_after_a_saved_state {
            break;
        }
        let mut traders = Traders::connect(p.fix);
        traders.trade(p.ops, round, 10);
        let before = view(p.ops);
        assert!(
            !md_states(tmp.path()).is_empty(),
            "round {round}: no state saved at an interval"
        );
        p.child.kill().unwrap(); // SIGKILL: no shutdown, no final state
        p.child.wait().unwrap();
        drop(traders);

        p = spawn(&config);
        let line = p.md_line();
        eprintln!("round {round}: {}", line["fields"]);
        assert_eq!(
            line["fields"]["message"], "trade tape, klines and ticker restored",
            "round {round}: {line}"
        );
        let from = line["fields"]["state_seq"].as_u64().unwrap();
        assert!(
            from > 0,
            "round {round}: resumed an interval's state: {line}"
        );
        if line["fields"]["replayed_events"].as_u64().unwrap() > 0 {
            fed_after_a_saved_state = true;
        }
        let after = view(p.ops);
        assert_same(&before, &after, &format!("SIGKILL round {round}"));
    }
    assert!(
        fed_after_a_saved_state,
        "no round replayed events after the saved state: the crash path was not exercised"
    );
    // A clean stop of the last run, for good measure.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(p.child.wait().unwrap().success());
}
