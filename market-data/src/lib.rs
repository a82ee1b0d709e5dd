//! Tachyon's market data state, built only from the engine's events: per symbol an
//! aggregated (L2) book, a bounded tape of recent trades, klines (1m, 5m, 1h, 1d) and a
//! rolling 24-hour ticker.
//!
//! Pure state: no I/O, no clock (queries that need "now" take it), no threads. The ops
//! plane feeds it from its outbound-ring reader and serves it over HTTP and WebSocket.
//!
//! Every change of a symbol's book or tape advances that symbol's sequence number `seq`
//! by one and yields an [`Update`]. Each update also carries `prev_seq`, the `seq` of the
//! previous update *of the same kind* (depth or trade), so a client following one stream
//! detects a lost message: updates chain `prev_seq → seq` without holes. A [`Depth`]
//! snapshot carries the `seq` it reflects: discard depth updates with `seq` ≤ it and
//! apply the rest in order (the first one applied has `prev_seq` ≤ the snapshot's `seq`).
//! Book updates carry a level's new total, so applying one twice is harmless.
//!
//! The part of the state only events can rebuild (sequence numbers, tape, klines, 24-hour
//! window) can be saved and restored as checksummed bytes
//! ([`MarketData::encode_state`], [`MarketData::restore_state`]), so history survives a
//! restart: restore the newest saved state, feed it the events of the commands after it,
//! then seed the books from the recovered engine.
//!
//! Quantities stay integers (ticks, lots, ticks × lots); turning them into decimals is
//! the presentation layer's job (`tachyon_config::Instrument::ticks_to_price`, …).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod book;
mod crc;
mod kline;
mod state;

use std::collections::VecDeque;

use tachyon_engine::{Engine, Event, Price, Qty, Side, SymbolId};

pub use book::{L2Book, Level};
pub use kline::{window_start_ns, Interval, Kline};
pub use state::{StateError, STATE_FORMAT_VERSION};

use kline::{KlineSet, Rolling24h};

/// Retention limits (from `[ops]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdLimits {
    /// Trades kept per symbol (≥ 1).
    pub trade_tape_len: usize,
    /// Klines kept per symbol and interval (≥ 1).
    pub kline_len: usize,
}

/// One trade as the public sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TapeTrade {
    /// Engine trade id (increasing across symbols).
    pub trade_id: u64,
    /// The symbol's `seq` at this trade.
    pub seq: u64,
    /// Price in ticks.
    pub price: Price,
    /// Quantity in lots.
    pub qty: Qty,
    /// Side of the taker: `Sell` means the buyer was the maker.
    pub taker_side: Side,
    /// Time of the command that caused it, ns since the Unix epoch.
    pub ts_ns: u64,
}

/// A change of one price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DepthUpdate {
    /// Symbol.
    pub symbol: SymbolId,
    /// The symbol's sequence number after this change.
    pub seq: u64,
    /// `seq` of the symbol's previous depth update (0 if none).
    pub prev_seq: u64,
    /// Side of the level.
    pub side: Side,
    /// Price in ticks.
    pub price: Price,
    /// New total quantity in lots (0 = the level is gone).
    pub qty: Qty,
    /// New number of orders at the level.
    pub count: u32,
}

/// A new trade on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TradeUpdate {
    /// Symbol.
    pub symbol: SymbolId,
    /// `seq` of the symbol's previous trade update (0 if none); `trade.seq` is this one's.
    pub prev_seq: u64,
    /// The trade.
    pub trade: TapeTrade,
}

/// What one event changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Update {
    /// A book level changed.
    Depth(DepthUpdate),
    /// A trade happened.
    Trade(TradeUpdate),
}

/// A consistent copy of (the top of) one book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Depth {
    /// The symbol's `seq` this snapshot reflects.
    pub seq: u64,
    /// Bids, best (highest) first.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first.
    pub asks: Vec<Level>,
}

/// Last trade, best prices and the rolling 24-hour statistics of one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticker {
    /// The most recent trade ever seen (it may be older than the window).
    pub last: Option<TapeTrade>,
    /// Best bid level.
    pub best_bid: Option<Level>,
    /// Best ask level.
    pub best_ask: Option<Level>,
    /// Trades of the window merged into one candle; `None` if the window has none.
    pub window: Option<Kline>,
    /// Start of the window (whole minutes; the window is the last 1,440 of them).
    pub window_start_ns: u64,
    /// The symbol's `seq` when this was computed.
    pub seq: u64,
}

#[derive(Clone, Debug)]
struct SymbolState {
    seq: u64,
    last_depth_seq: u64,
    last_trade_seq: u64,
    book: L2Book,
    tape: VecDeque<TapeTrade>,
    klines: KlineSet,
    day: Rolling24h,
}

/// Market data for every symbol of one exchange.
#[derive(Clone, Debug)]
pub struct MarketData {
    names: Vec<String>,
    symbols: Vec<SymbolState>,
    limits: MdLimits,
}

impl MarketData {
    /// One entry per `[[instruments]]` (index = `SymbolId`), retention from `[ops]`.
    pub fn new(cfg: &tachyon_config::Config) -> MarketData {
        MarketData::with_symbols(
            cfg.instruments.iter().map(|i| i.symbol.clone()).collect(),
            MdLimits {
                trade_tape_len: cfg.ops.trade_tape_len as usize,
                kline_len: cfg.ops.kline_len as usize,
            },
        )
    }

    /// Symbols by name (index = `SymbolId`).
    ///
    /// # Panics
    /// If a limit is zero.
    pub fn with_symbols(names: Vec<String>, limits: MdLimits) -> MarketData {
        assert!(limits.trade_tape_len > 0, "trade_tape_len must be positive");
        let symbols = names
            .iter()
            .map(|_| SymbolState {
                seq: 0,
                last_depth_seq: 0,
                last_trade_seq: 0,
                book: L2Book::default(),
                tape: VecDeque::with_capacity(limits.trade_tape_len.min(4096)),
                klines: KlineSet::new(limits.kline_len),
                day: Rolling24h::new(),
            })
            .collect();
        MarketData {
            names,
            symbols,
            limits,
        }
    }

    /// Replaces every book with the engine's (e.g. the state recovered at start-up, before
    /// the first event of the outbound ring). Each symbol's `seq` advances by one so
    /// clients holding an older snapshot see a gap.
    pub fn seed_books(&mut self, engine: &Engine) {
        for (i, s) in self.symbols.iter_mut().enumerate() {
            s.book.clear();
            for side in [Side::Buy, Side::Sell] {
                for (price, qty, count) in engine.book_levels(SymbolId(i as u16), side) {
                    s.book.set(side, price, qty, count);
                }
            }
            s.seq += 1;
        }
    }

    /// Sets every book from resting orders (aggregated per price level), as
    /// [`MarketData::seed_books`] does from an engine; each symbol's `seq` advances by one.
    pub fn seed_orders(&mut self, orders: &[tachyon_engine::OrderView]) {
        self.set_books(orders, 1);
    }

    /// Sets every book from resting orders without advancing any `seq`: for market data
    /// whose history was restored exactly ([`MarketData::restore_state`] plus the events
    /// of every later command), where the recovered engine's books are the very books its
    /// depth updates up to the current `seq` describe, so a client sees no change. `seq`
    /// then stays a function of the event history alone.
    pub fn set_books_from_orders(&mut self, orders: &[tachyon_engine::OrderView]) {
        self.set_books(orders, 0);
    }

    fn set_books(&mut self, orders: &[tachyon_engine::OrderView], seq_step: u64) {
        let mut levels: std::collections::BTreeMap<(u16, bool, i64), (i64, u32)> =
            Default::default();
        for o in orders {
            let l = levels
                .entry((o.symbol.0, o.side == Side::Buy, o.price.0))
                .or_default();
            l.0 += o.leaves.0;
            l.1 += 1;
        }
        for s in self.symbols.iter_mut() {
            s.book.clear();
            s.seq += seq_step;
        }
        for ((sym, buy, price), (qty, count)) in levels {
            if let Some(s) = self.symbols.get_mut(sym as usize) {
                let side = if buy { Side::Buy } else { Side::Sell };
                s.book.set(
                    side,
                    tachyon_engine::Price(price),
                    tachyon_engine::Qty(qty),
                    count,
                );
            }
        }
    }

    /// Applies one engine event stamped with its command's time. Returns the public change
    /// it made, if any (book levels and trades; every other event is private).
    pub fn apply(&mut self, ts_ns: u64, event: &Event) -> Option<Update> {
        match *event {
            Event::BookLevel {
                symbol,
                side,
                price,
                qty,
                count,
            } => {
                let s = self.symbols.get_mut(symbol.0 as usize)?;
                s.book.set(side, price, qty, count);
                s.seq += 1;
                let prev_seq = std::mem::replace(&mut s.last_depth_seq, s.seq);
                Some(Update::Depth(DepthUpdate {
                    symbol,
                    seq: s.seq,
                    prev_seq,
                    side,
                    price,
                    qty,
                    count,
                }))
            }
            Event::Trade(t) => {
                let cap = self.limits.trade_tape_len;
                let s = self.symbols.get_mut(t.symbol.0 as usize)?;
                s.seq += 1;
                let prev_seq = std::mem::replace(&mut s.last_trade_seq, s.seq);
                let trade = TapeTrade {
                    trade_id: t.trade_id,
                    seq: s.seq,
                    price: t.price,
                    qty: t.qty,
                    taker_side: t.taker_side,
                    ts_ns,
                };
                if s.tape.len() == cap {
                    s.tape.pop_front();
                }
                s.tape.push_back(trade);
                s.klines.add(ts_ns, t.price, t.qty, t.taker_side);
                s.day.add(ts_ns, t.price, t.qty, t.taker_side);
                Some(Update::Trade(TradeUpdate {
                    symbol: t.symbol,
                    prev_seq,
                    trade,
                }))
            }
            _ => None,
        }
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }

    /// The id of a symbol by name.
    pub fn symbol_id(&self, name: &str) -> Option<SymbolId> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(SymbolId(i as u16))
    }

    /// The name of a symbol.
    pub fn symbol_name(&self, symbol: SymbolId) -> Option<&str> {
        self.names.get(symbol.0 as usize).map(String::as_str)
    }

    /// Retention limits.
    pub fn limits(&self) -> MdLimits {
        self.limits
    }

    /// The symbol's current sequence number (0 before any change).
    pub fn seq(&self, symbol: SymbolId) -> Option<u64> {
        Some(self.symbols.get(symbol.0 as usize)?.seq)
    }

    /// The symbol's whole book.
    pub fn book(&self, symbol: SymbolId) -> Option<&L2Book> {
        Some(&self.symbols.get(symbol.0 as usize)?.book)
    }

    /// The best `limit` levels of each side and the `seq` they reflect.
    pub fn depth(&self, symbol: SymbolId, limit: usize) -> Option<Depth> {
        let s = self.symbols.get(symbol.0 as usize)?;
        Some(Depth {
            seq: s.seq,
            bids: s.book.levels(Side::Buy).take(limit).collect(),
            asks: s.book.levels(Side::Sell).take(limit).collect(),
        })
    }

    /// The newest `limit` trades, oldest first.
    pub fn trades(&self, symbol: SymbolId, limit: usize) -> Option<Vec<TapeTrade>> {
        let s = self.symbols.get(symbol.0 as usize)?;
        let skip = s.tape.len().saturating_sub(limit);
        Some(s.tape.iter().skip(skip).copied().collect())
    }

    /// The newest `limit` klines of `interval`, oldest first.
    pub fn klines(&self, symbol: SymbolId, interval: Interval, limit: usize) -> Option<Vec<Kline>> {
        Some(
            self.symbols
                .get(symbol.0 as usize)?
                .klines
                .recent(interval, limit),
        )
    }

    /// Last trade, best prices and the 24-hour window ending at `now_ns`.
    pub fn ticker(&self, symbol: SymbolId, now_ns: u64) -> Option<Ticker> {
        let s = self.symbols.get(symbol.0 as usize)?;
        Some(Ticker {
            last: s.tape.back().copied(),
            best_bid: s.book.best(Side::Buy),
            best_ask: s.book.best(Side::Sell),
            window: s.day.window(now_ns),
            window_start_ns: window_start_ns(now_ns),
            seq: s.seq,
        })
    }
}
