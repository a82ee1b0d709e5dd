//! Market data against the engine and against simple reference computations, on random
//! order flows from the engine tests' generator:
//! - the L2 book always equals the engine's own aggregated book;
//! - a snapshot taken at any point plus every later depth update reproduces the engine's
//!   book, and the updates chain (`prev_seq` → `seq`) without holes;
//! - the trade tape, the klines of every interval and the 24h ticker equal a brute-force
//!   computation over every trade.
//!
//! Knobs: `MD_DIFF_COMMANDS=n` for the long run, `PROPTEST_CASES=n` for the short ones.

#[path = "../../engine/tests/gen/mod.rs"]
mod gen;

use std::collections::BTreeMap;

use proptest::prelude::*;
use tachyon_engine::{Engine, Event, Price, Qty, Side, SymbolId};
use tachyon_market_data::{Interval, Kline, MarketData, MdLimits, TapeTrade, Update};

const SYMBOLS: u16 = 2;

/// A client that took a depth snapshot and follows the depth updates after it.
struct Follower {
    symbol: SymbolId,
    snapshot_seq: u64,
    /// (side, price) → qty
    book: BTreeMap<(u8, i64), i64>,
    /// `seq` of the last update applied (None until the first).
    last_applied: Option<u64>,
}

fn side_key(side: Side) -> u8 {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl Follower {
    fn from_snapshot(md: &MarketData, symbol: SymbolId) -> Follower {
        let depth = md.depth(symbol, usize::MAX).unwrap();
        let mut book = BTreeMap::new();
        for (side, levels) in [(Side::Buy, &depth.bids), (Side::Sell, &depth.asks)] {
            for l in levels {
                book.insert((side_key(side), l.price.0), l.qty.0);
            }
        }
        Follower {
            symbol,
            snapshot_seq: depth.seq,
            book,
            last_applied: None,
        }
    }

    fn on_update(&mut self, u: &Update) {
        let Update::Depth(d) = u else { return };
        if d.symbol != self.symbol || d.seq <= self.snapshot_seq {
            return;
        }
        match self.last_applied {
            None => assert!(
                d.prev_seq <= self.snapshot_seq,
                "a depth update between the snapshot ({}) and {} was lost (prev_seq {})",
                self.snapshot_seq,
                d.seq,
                d.prev_seq
            ),
            Some(last) => assert_eq!(d.prev_seq, last, "depth chain broken at {}", d.seq),
        }
        self.last_applied = Some(d.seq);
        let key = (side_key(d.side), d.price.0);
        if d.qty.0 == 0 {
            self.book.remove(&key);
        } else {
            self.book.insert(key, d.qty.0);
        }
    }

    fn assert_matches(&self, engine: &Engine) {
        let mut want = BTreeMap::new();
        for side in [Side::Buy, Side::Sell] {
            for (p, q, _) in engine.book_levels(self.symbol, side) {
                want.insert((side_key(side), p.0), q.0);
            }
        }
        assert_eq!(
            self.book, want,
            "snapshot at seq {} + diffs differs from the engine's book of {:?}",
            self.snapshot_seq, self.symbol
        );
    }
}

fn assert_book_equal(md: &MarketData, engine: &Engine) {
    for s in 0..SYMBOLS {
        let symbol = SymbolId(s);
        let book = md.book(symbol).unwrap();
        for side in [Side::Buy, Side::Sell] {
            let ours: Vec<(Price, Qty, u32)> = book
                .levels(side)
                .map(|l| (l.price, l.qty, l.count))
                .collect();
            assert_eq!(
                ours,
                engine.book_levels(symbol, side),
                "{symbol:?} {side:?}"
            );
        }
    }
}

/// Every trade of the run, for the reference computations.
#[derive(Clone, Copy)]
struct RefTrade {
    ts_ns: u64,
    trade_id: u64,
    price: i64,
    qty: i64,
    taker_buy: bool,
}

fn reference_candle(start: u64, trades: &[RefTrade]) -> Kline {
    let notional = |t: &RefTrade| t.price as i128 * t.qty as i128;
    Kline {
        open_time_ns: start,
        open: Price(trades[0].price),
        high: Price(trades.iter().map(|t| t.price).max().unwrap()),
        low: Price(trades.iter().map(|t| t.price).min().unwrap()),
        close: Price(trades[trades.len() - 1].price),
        volume_lots: trades.iter().map(|t| t.qty as i128).sum(),
        quote_volume: trades.iter().map(notional).sum(),
        taker_buy_volume_lots: trades
            .iter()
            .filter(|t| t.taker_buy)
            .map(|t| t.qty as i128)
            .sum(),
        taker_buy_quote_volume: trades.iter().filter(|t| t.taker_buy).map(notional).sum(),
        trades: trades.len() as u64,
    }
}

/// Candles of `interval` over time-ordered trades, brute force: group by interval start.
fn reference_klines(trades: &[RefTrade], interval: Interval) -> Vec<Kline> {
    let mut groups: BTreeMap<u64, Vec<RefTrade>> = BTreeMap::new();
    let len = interval.ns();
    for t in trades {
        groups.entry(t.ts_ns / len * len).or_default().push(*t);
    }
    groups
        .iter()
        .map(|(start, ts)| reference_candle(*start, ts))
        .collect()
}

struct Run {
    engine: Engine,
    md: MarketData,
    rng: gen::Rng,
    ts: u64,
    next_id: u64,
    trades: Vec<Vec<RefTrade>>,
    followers: Vec<Follower>,
    events: Vec<Event>,
    updates: usize,
}

impl Run {
    fn new(seed: u64, limits: MdLimits) -> Run {
        let (engine, _) = gen::funded_engine();
        let names = engine
            .config()
            .instruments
            .iter()
            .map(|i| i.symbol.clone())
            .collect();
        Run {
            engine,
            md: MarketData::with_symbols(names, limits),
            rng: gen::Rng(seed),
            // A realistic epoch time so day boundaries are real UTC days.
            ts: 1_700_000_000_000_000_000,
            next_id: 1,
            trades: vec![Vec::new(); SYMBOLS as usize],
            followers: Vec::new(),
            events: Vec::new(),
            updates: 0,
        }
    }

    fn step(&mut self) {
        // Mostly bursts within a minute, sometimes minutes or hours of quiet.
        self.ts += match self.rng.below(100) {
            0..=89 => self.rng.below(2_000_000_000),
            90..=98 => self.rng.below(600_000_000_000),
            _ => self.rng.below(20_000_000_000_000),
        };
        let cmd = gen::command(&mut self.rng, self.ts, self.next_id);
        self.next_id += 1;
        self.events.clear();
        self.engine.apply(&cmd, &mut self.events);
        for ev in &self.events {
            let update = self.md.apply(cmd.ts_ns, ev);
            match (ev, &update) {
                (Event::BookLevel { .. }, Some(Update::Depth(_))) => {}
                (Event::Trade(t), Some(Update::Trade(u))) => {
                    assert_eq!(u.trade.trade_id, t.trade_id);
                    self.trades[t.symbol.0 as usize].push(RefTrade {
                        ts_ns: cmd.ts_ns,
                        trade_id: t.trade_id,
                        price: t.price.0,
                        qty: t.qty.0,
                        taker_buy: t.taker_side == Side::Buy,
                    });
                }
                (Event::BookLevel { .. } | Event::Trade(_), _) => {
                    panic!("{ev:?} gave {update:?}")
                }
                (_, None) => {}
                (_, Some(u)) => panic!("private event {ev:?} gave {u:?}"),
            }
            if let Some(u) = &update {
                self.updates += 1;
                for f in &mut self.followers {
                    f.on_update(u);
                }
            }
        }
    }

    fn check_tape_klines_ticker(&self) {
        let limits = self.md.limits();
        for s in 0..SYMBOLS {
            let symbol = SymbolId(s);
            let all = &self.trades[s as usize];
            // Tape: the newest trade_tape_len trades, oldest first.
            let tape: Vec<TapeTrade> = self.md.trades(symbol, usize::MAX).unwrap();
            let want: Vec<(u64, i64, i64, bool, u64)> = all
                .iter()
                .skip(all.len().saturating_sub(limits.trade_tape_len))
                .map(|t| (t.trade_id, t.price, t.qty, t.taker_buy, t.ts_ns))
                .collect();
            let got: Vec<(u64, i64, i64, bool, u64)> = tape
                .iter()
                .map(|t| {
                    (
                        t.trade_id,
                        t.price.0,
                        t.qty.0,
                        t.taker_side == Side::Buy,
                        t.ts_ns,
                    )
                })
                .collect();
            assert_eq!(got, want, "tape of {symbol:?}");
            assert!(tape.windows(2).all(|w| w[0].seq < w[1].seq));
            for limit in [1, 7, limits.trade_tape_len] {
                let some = self.md.trades(symbol, limit).unwrap();
                assert_eq!(some[..], tape[tape.len().saturating_sub(limit)..]);
            }
            // Klines of every interval: the newest kline_len candles.
            for interval in Interval::ALL {
                let want = reference_klines(all, interval);
                for limit in [1, 3, limits.kline_len] {
                    let got = self.md.klines(symbol, interval, limit).unwrap();
                    let keep = limit.min(limits.kline_len);
                    assert_eq!(
                        got[..],
                        want[want.len().saturating_sub(keep)..],
                        "{symbol:?} {} limit {limit}",
                        interval.as_str()
                    );
                }
            }
            // Ticker at several "now"s: the trades of the last 1,440 whole minutes.
            let minute = 60_000_000_000u64;
            for now in [
                self.ts,
                self.ts + 30 * minute,
                self.ts + 23 * 60 * minute,
                self.ts + 25 * 60 * minute,
            ] {
                let first_minute = (now / minute + 1).saturating_sub(1440);
                let window: Vec<RefTrade> = all
                    .iter()
                    .filter(|t| {
                        t.ts_ns / minute >= first_minute && t.ts_ns / minute <= now / minute
                    })
                    .copied()
                    .collect();
                let t = self.md.ticker(symbol, now).unwrap();
                match window.first() {
                    None => assert_eq!(t.window, None),
                    Some(first) => {
                        let mut want = reference_candle(first.ts_ns / minute * minute, &window);
                        want.open_time_ns = first.ts_ns / minute * minute;
                        assert_eq!(t.window, Some(want), "{symbol:?} ticker at {now}");
                    }
                }
                assert_eq!(t.last.map(|l| l.trade_id), all.last().map(|l| l.trade_id));
                assert_eq!(t.window_start_ns, first_minute * minute);
                let book = self.md.book(symbol).unwrap();
                assert_eq!(t.best_bid, book.best(Side::Buy));
                assert_eq!(t.best_ask, book.best(Side::Sell));
            }
        }
    }
}

/// Runs `n` commands; snapshots at random points are followed to the end.
fn run(seed: u64, n: usize, limits: MdLimits) -> Run {
    let mut r = Run::new(seed, limits);
    for i in 0..n {
        r.step();
        if r.rng.below(100) == 0 || i == 0 {
            let symbol = SymbolId(r.rng.below(SYMBOLS as u64) as u16);
            let f = Follower::from_snapshot(&r.md, symbol);
            r.followers.push(f);
        }
        if r.rng.below(200) == 0 {
            assert_book_equal(&r.md, &r.engine);
        }
    }
    assert_book_equal(&r.md, &r.engine);
    for f in &r.followers {
        f.assert_matches(&r.engine);
    }
    r.check_tape_klines_ticker();
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn snapshot_plus_diffs_equals_engine_book(
        seed in any::<u64>(),
        n in 1usize..2_500,
        tape in 1usize..40,
        klines in 1usize..20,
    ) {
        run(seed, n, MdLimits { trade_tape_len: tape, kline_len: klines });
    }
}

#[test]
fn long_run_matches_engine_and_references() {
    let n = std::env::var("MD_DIFF_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let r = run(
        0x5eed,
        n,
        MdLimits {
            trade_tape_len: 500,
            kline_len: 200,
        },
    );
    // The run exercised what it claims to: many trades, deep books, many followers.
    let trades: usize = r.trades.iter().map(Vec::len).sum();
    assert!(trades > n / 20, "only {trades} trades");
    assert!(
        r.followers.len() > n / 200,
        "{} followers",
        r.followers.len()
    );
    assert!(r.updates > n / 2, "{} updates", r.updates);
    let levels: usize = (0..SYMBOLS)
        .map(|s| r.md.book(SymbolId(s)).unwrap().depth(Side::Buy))
        .sum();
    assert!(levels > 10, "books nearly empty: {levels} bid levels");
    for s in 0..SYMBOLS {
        for interval in Interval::ALL {
            assert!(!r.md.klines(SymbolId(s), interval, 1).unwrap().is_empty());
        }
    }
}

#[test]
fn seeded_books_equal_the_engine_and_follow_later_events() {
    // Run a flow, then start a second market data from the engine's state mid-way (as
    // after a restart) and feed both the rest: they must agree with the engine.
    let mut r = Run::new(
        42,
        MdLimits {
            trade_tape_len: 10,
            kline_len: 10,
        },
    );
    for _ in 0..3_000 {
        r.step();
    }
    let mut restarted =
        MarketData::with_symbols(vec!["BTC-USDT".into(), "ETH-USDT".into()], r.md.limits());
    restarted.seed_books(&r.engine);
    assert_book_equal(&restarted, &r.engine);
    assert_eq!(restarted.seq(SymbolId(0)), Some(1));
    for _ in 0..3_000 {
        r.step();
        for ev in &r.events {
            restarted.apply(r.ts, ev);
        }
    }
    assert_book_equal(&restarted, &r.engine);
}
