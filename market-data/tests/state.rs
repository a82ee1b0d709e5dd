//! Saving and restoring market data's event-built state (`encode_state` /
//! `restore_state`):
//! - differential: a state encoded at any point of a random flow, restored into a fresh
//!   `MarketData` and fed the rest of the events, ends exactly like the uninterrupted one
//!   (tape, klines, ticker, `seq`s, and the encoded bytes themselves), also across
//!   several save/restore cycles;
//! - corrupt, truncated, foreign, wrong-version or wrong-symbol bytes are refused with
//!   the matching error and leave the target unchanged;
//! - smaller retention limits at restore keep the newest trades and klines.

#[path = "../../engine/tests/gen/mod.rs"]
mod gen;

use proptest::prelude::*;
use tachyon_engine::{Engine, Event, Side, SymbolId};
use tachyon_market_data::{Interval, MarketData, MdLimits, StateError, STATE_FORMAT_VERSION};

const SYMBOLS: u16 = 2;
const MINUTE: u64 = 60_000_000_000;

fn names() -> Vec<String> {
    vec!["BTC-USDT".into(), "ETH-USDT".into()]
}

/// A random flow: the engine's events, stamped like the outbound ring, per command.
struct Flow {
    engine: Engine,
    rng: gen::Rng,
    ts: u64,
    next_id: u64,
}

impl Flow {
    fn new(seed: u64) -> Flow {
        Flow {
            engine: gen::funded_engine().0,
            rng: gen::Rng(seed),
            ts: 1_700_000_000_000_000_000,
            next_id: 1,
        }
    }

    /// The next command's (ts_ns, events).
    fn next(&mut self) -> (u64, Vec<Event>) {
        // Bursts within a minute, sometimes minutes or hours (or more than a day) of quiet,
        // so klines roll over and the 24h window both fills and empties.
        self.ts += match self.rng.below(100) {
            0..=89 => self.rng.below(2_000_000_000),
            90..=98 => self.rng.below(600_000_000_000),
            _ => self.rng.below(30 * 3_600_000_000_000),
        };
        let cmd = gen::command(&mut self.rng, self.ts, self.next_id);
        self.next_id += 1;
        let mut events = Vec::new();
        self.engine.apply(&cmd, &mut events);
        (cmd.ts_ns, events)
    }
}

fn feed(md: &mut MarketData, ts: u64, events: &[Event]) {
    for e in events {
        md.apply(ts, e);
    }
}

fn encoded(md: &MarketData, at: u64) -> Vec<u8> {
    let mut v = Vec::new();
    md.encode_state(at, &mut v);
    v
}

/// Everything the public API shows except the books: they must agree.
fn assert_same_history(a: &MarketData, b: &MarketData, now: u64, what: &str) {
    for s in 0..SYMBOLS {
        let sym = SymbolId(s);
        assert_eq!(a.seq(sym), b.seq(sym), "{what}: seq of {sym:?}");
        assert_eq!(
            a.trades(sym, usize::MAX),
            b.trades(sym, usize::MAX),
            "{what}: tape of {sym:?}"
        );
        for i in Interval::ALL {
            assert_eq!(
                a.klines(sym, i, usize::MAX),
                b.klines(sym, i, usize::MAX),
                "{what}: {} klines of {sym:?}",
                i.as_str()
            );
        }
        for now in [
            now,
            now + 30 * MINUTE,
            now + 23 * 60 * MINUTE,
            now + 25 * 60 * MINUTE,
        ] {
            let (ta, tb) = (a.ticker(sym, now).unwrap(), b.ticker(sym, now).unwrap());
            assert_eq!(
                (ta.last, ta.window, ta.seq),
                (tb.last, tb.window, tb.seq),
                "{what}: ticker of {sym:?} at {now}"
            );
        }
    }
}

/// Runs `n` commands through an uninterrupted market data and through one that is
/// encoded, restored into a fresh instance and continued at each of `cuts` (command
/// indexes): both end equal.
fn cut_and_resume(seed: u64, n: usize, cuts: &[usize], limits: MdLimits) {
    let mut flow = Flow::new(seed);
    let mut whole = MarketData::with_symbols(names(), limits);
    let mut resumed = MarketData::with_symbols(names(), limits);
    let mut trades = 0usize;
    for i in 0..n {
        if cuts.contains(&i) {
            let bytes = encoded(&resumed, i as u64);
            // A state is a function of the history alone: both instances encode alike.
            assert_eq!(bytes, encoded(&whole, i as u64), "encodings differ at {i}");
            let mut fresh = MarketData::with_symbols(names(), limits);
            assert_eq!(fresh.restore_state(&bytes), Ok(i as u64));
            assert_eq!(
                encoded(&fresh, i as u64),
                bytes,
                "restore changed the state"
            );
            resumed = fresh;
        }
        let (ts, events) = flow.next();
        trades += events
            .iter()
            .filter(|e| matches!(e, Event::Trade(_)))
            .count();
        feed(&mut whole, ts, &events);
        feed(&mut resumed, ts, &events);
    }
    assert_same_history(&whole, &resumed, flow.ts, "after the last command");
    assert_eq!(
        encoded(&whole, n as u64),
        encoded(&resumed, n as u64),
        "final states differ"
    );
    if n > 500 {
        assert!(trades > 0, "the flow traded nothing");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn encoded_at_any_point_then_fed_the_rest_equals_uninterrupted(
        seed in any::<u64>(),
        n in 1usize..3_000,
        cut_frac in proptest::collection::vec(0.0f64..1.0, 1..4),
        tape in 1usize..50,
        klines in 1usize..30,
    ) {
        let cuts: Vec<usize> = cut_frac.iter().map(|f| (f * n as f64) as usize).collect();
        cut_and_resume(seed, n, &cuts, MdLimits { trade_tape_len: tape, kline_len: klines });
    }
}

#[test]
fn long_flow_with_many_restarts() {
    let cuts: Vec<usize> = (0..40).map(|i| 1 + i * 997).collect();
    cut_and_resume(
        7,
        40_000,
        &cuts,
        MdLimits {
            trade_tape_len: 300,
            kline_len: 120,
        },
    );
}

#[test]
fn empty_state_round_trips() {
    let limits = MdLimits {
        trade_tape_len: 5,
        kline_len: 5,
    };
    let md = MarketData::with_symbols(names(), limits);
    let bytes = encoded(&md, 0);
    let mut other = MarketData::with_symbols(names(), limits);
    assert_eq!(other.restore_state(&bytes), Ok(0));
    assert_eq!(encoded(&other, 0), bytes);
}

/// A market data with some history, its state at 1234 and a fresh target.
fn sample() -> (MarketData, Vec<u8>) {
    let limits = MdLimits {
        trade_tape_len: 20,
        kline_len: 10,
    };
    let mut flow = Flow::new(99);
    let mut md = MarketData::with_symbols(names(), limits);
    for _ in 0..2_000 {
        let (ts, events) = flow.next();
        feed(&mut md, ts, &events);
    }
    let bytes = encoded(&md, 1234);
    (md, bytes)
}

/// A target with a different history, to check that a refused restore changes nothing.
fn target() -> MarketData {
    let mut flow = Flow::new(5);
    let mut md = MarketData::with_symbols(
        names(),
        MdLimits {
            trade_tape_len: 20,
            kline_len: 10,
        },
    );
    for _ in 0..500 {
        let (ts, events) = flow.next();
        feed(&mut md, ts, &events);
    }
    md
}

fn refused(bytes: &[u8]) -> StateError {
    let mut t = target();
    let before = encoded(&t, 0);
    let err = t.restore_state(bytes).expect_err("must be refused");
    assert_eq!(
        encoded(&t, 0),
        before,
        "a refused restore changed the target"
    );
    assert!(!err.to_string().is_empty());
    err
}

fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 4;
    let crc = crc32c::crc32c(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn every_truncation_is_refused() {
    let (_, bytes) = sample();
    for len in 0..bytes.len() {
        let err = refused(&bytes[..len]);
        assert!(
            matches!(err, StateError::Truncated { len: l, .. } if l == len),
            "length {len}: {err:?}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(refused(&longer), StateError::TrailingBytes { .. }));
}

#[test]
fn every_flipped_byte_is_refused() {
    let (_, bytes) = sample();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            let err = refused(&b);
            match i {
                0..=7 => assert_eq!(err, StateError::BadMagic, "byte {i}"),
                8..=11 => assert!(
                    matches!(err, StateError::UnsupportedVersion(_)),
                    "byte {i}: {err:?}"
                ),
                // The body length: the state no longer has the length its header says.
                20..=27 => assert!(
                    matches!(
                        err,
                        StateError::Truncated { .. } | StateError::TrailingBytes { .. }
                    ),
                    "byte {i}: {err:?}"
                ),
                _ => assert!(
                    matches!(err, StateError::Checksum { .. }),
                    "byte {i}: {err:?}"
                ),
            }
        }
    }
}

#[test]
fn other_versions_symbols_and_garbage_are_refused() {
    let (_, bytes) = sample();
    let mut v2 = bytes.clone();
    v2[8..12].copy_from_slice(&(STATE_FORMAT_VERSION + 1).to_le_bytes());
    let v2 = with_crc(v2);
    assert_eq!(
        refused(&v2),
        StateError::UnsupportedVersion(STATE_FORMAT_VERSION + 1)
    );
    assert!(refused(&v2).to_string().contains(&format!(
        "format {} is not supported",
        STATE_FORMAT_VERSION + 1
    )));

    assert_eq!(refused(b"TACHSNAP and more bytes"), StateError::BadMagic);
    assert_eq!(refused(&[0u8; 100]), StateError::BadMagic);

    // Same bytes, other instruments.
    let mut other = MarketData::with_symbols(
        vec!["BTC-USDT".into(), "SOL-USDT".into()],
        MdLimits {
            trade_tape_len: 20,
            kline_len: 10,
        },
    );
    let err = other.restore_state(&bytes).unwrap_err();
    assert!(matches!(err, StateError::Symbols { .. }), "{err:?}");
    assert!(err.to_string().contains("SOL-USDT"), "{err}");
}

#[test]
fn impossible_content_with_a_valid_checksum_is_malformed() {
    let (_, bytes) = sample();
    // Header 28 bytes, symbol table: count 2, "BTC-USDT", "ETH-USDT" = 2 + 10 + 10.
    let first_symbol = 28 + 22;
    // Symbol 0's tape count (after three u64 seqs) set huge: caught before allocating.
    let mut b = bytes.clone();
    b[first_symbol + 24..first_symbol + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = refused(&with_crc(b));
    assert!(matches!(err, StateError::Malformed { .. }), "{err:?}");
    // seq smaller than the previous trade's seq.
    let mut b = bytes.clone();
    b[first_symbol..first_symbol + 8].copy_from_slice(&0u64.to_le_bytes());
    let err = refused(&with_crc(b));
    assert!(matches!(err, StateError::Malformed { .. }), "{err:?}");
    // The first trade's taker side byte (trade id, seq, price, qty precede it).
    let mut b = bytes.clone();
    b[first_symbol + 28 + 32] = 7;
    let err = refused(&with_crc(b));
    assert!(err.to_string().contains("taker side 7"), "{err}");
}

#[test]
fn our_crc_is_crc32c() {
    let (_, bytes) = sample();
    let n = bytes.len() - 4;
    assert_eq!(
        u32::from_le_bytes(bytes[n..].try_into().unwrap()),
        crc32c::crc32c(&bytes[..n])
    );
}

#[test]
fn smaller_limits_keep_the_newest() {
    let (md, bytes) = sample();
    let small = MdLimits {
        trade_tape_len: 3,
        kline_len: 2,
    };
    let mut r = MarketData::with_symbols(names(), small);
    assert_eq!(r.restore_state(&bytes), Ok(1234));
    for s in 0..SYMBOLS {
        let sym = SymbolId(s);
        assert_eq!(r.trades(sym, usize::MAX), md.trades(sym, 3));
        for i in Interval::ALL {
            assert_eq!(r.klines(sym, i, usize::MAX), md.klines(sym, i, 2));
        }
        assert_eq!(r.seq(sym), md.seq(sym));
    }
}

#[test]
fn restore_keeps_the_books_and_setting_them_keeps_seq() {
    // What start-up does: restore, replay (here: nothing after the state), then set the
    // books from the engine's resting orders without a new seq.
    let mut flow = Flow::new(3);
    let limits = MdLimits {
        trade_tape_len: 20,
        kline_len: 10,
    };
    let mut md = MarketData::with_symbols(names(), limits);
    md.seed_books(&flow.engine);
    for _ in 0..1_500 {
        let (ts, events) = flow.next();
        feed(&mut md, ts, &events);
    }
    let mut r = MarketData::with_symbols(names(), limits);
    r.restore_state(&encoded(&md, 1_500)).unwrap();
    assert_eq!(
        r.depth(SymbolId(0), 10).unwrap().bids,
        vec![],
        "books untouched"
    );
    let mut orders = Vec::new();
    for s in 0..SYMBOLS {
        for side in [Side::Buy, Side::Sell] {
            orders.extend(flow.engine.book_orders(SymbolId(s), side));
        }
    }
    r.set_books_from_orders(&orders);
    for s in 0..SYMBOLS {
        let sym = SymbolId(s);
        // The same book at the same seq: a client's snapshot + diffs stay valid.
        assert_eq!(r.depth(sym, usize::MAX), md.depth(sym, usize::MAX));
        assert!(!md.depth(sym, usize::MAX).unwrap().bids.is_empty());
        assert_eq!(r.trades(sym, usize::MAX), md.trades(sym, usize::MAX));
    }
    // seed_orders, by contrast, announces a change.
    r.seed_orders(&orders);
    assert_eq!(r.seq(SymbolId(0)), md.seq(SymbolId(0)).map(|q| q + 1));
}
