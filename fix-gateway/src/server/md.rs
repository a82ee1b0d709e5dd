//! FIX market data on the gateway thread: L2 books kept from the engine's `BookLevel`
//! events, MarketDataRequest(V) subscriptions, MarketDataSnapshotFullRefresh(W) then
//! MarketDataIncrementalRefresh(X), MarketDataRequestReject(Y).
//!
//! Books are sorted `Vec`s preallocated to the engine's `max_levels_per_side` (best
//! price last, so changes near the top move little memory); nothing allocates per event.
//! Every book or trade change of a symbol increments its sequence number, sent as
//! RptSeq(83) on each incremental entry and at the body level of W (as in FIX 5.0), so a
//! client detects a gap and re-requests a snapshot.

use tachyon_engine::{Side, SymbolId};

use super::bridge::Markets;
use crate::codec::encode::MessageWriter;

/// Most subscriptions the gateway holds in total; each session may hold
/// [`MAX_SUBS_PER_SESSION`].
pub(crate) const MAX_SUBS: usize = 4096;
/// Subscriptions per session.
pub(crate) const MAX_SUBS_PER_SESSION: usize = 64;
/// Longest MDReqID(262) kept.
pub(crate) const MAX_REQ_ID: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    price: i64,
    qty: i64,
}

/// One side of a book: best price last.
#[derive(Debug)]
struct BookSide {
    levels: Vec<Level>,
    bid: bool,
}

/// What a level update did, with the level's position counted from the best (0 = top).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LevelChange {
    New(usize),
    Change(usize),
    Delete(usize),
    Nothing,
}

impl BookSide {
    fn new(bid: bool, capacity: usize) -> BookSide {
        BookSide {
            levels: Vec::with_capacity(capacity),
            bid,
        }
    }

    /// Index where `price` is or would go (ascending for bids, descending for asks).
    fn search(&self, price: i64) -> Result<usize, usize> {
        if self.bid {
            self.levels.binary_search_by(|l| l.price.cmp(&price))
        } else {
            self.levels.binary_search_by(|l| price.cmp(&l.price))
        }
    }

    fn rank(&self, idx: usize) -> usize {
        self.levels.len() - 1 - idx
    }

    fn set(&mut self, price: i64, qty: i64) -> LevelChange {
        match self.search(price) {
            Ok(i) if qty == 0 => {
                let p = self.rank(i);
                self.levels.remove(i);
                LevelChange::Delete(p)
            }
            Ok(i) => {
                self.levels[i].qty = qty;
                LevelChange::Change(self.rank(i))
            }
            Err(_) if qty == 0 => LevelChange::Nothing,
            Err(i) => {
                assert!(
                    self.levels.len() < self.levels.capacity(),
                    "book side over max_levels_per_side"
                );
                self.levels.insert(i, Level { price, qty });
                LevelChange::New(self.rank(i))
            }
        }
    }

    /// The level at `pos` from the best.
    fn at(&self, pos: usize) -> Option<Level> {
        let n = self.levels.len();
        (pos < n).then(|| self.levels[n - 1 - pos])
    }

    fn len(&self) -> usize {
        self.levels.len()
    }
}

/// One symbol's book.
#[derive(Debug)]
struct Book {
    bids: BookSide,
    asks: BookSide,
    seq: u64,
}

/// A MarketDataRequest subscription.
#[derive(Clone, Copy, Debug)]
struct Sub {
    slot: usize,
    req_id: [u8; MAX_REQ_ID],
    req_len: usize,
    symbol: SymbolId,
    /// 0 = full book.
    depth: usize,
    book: bool,
    trades: bool,
}

impl Sub {
    fn req_id(&self) -> &[u8] {
        &self.req_id[..self.req_len]
    }
}

/// Why a MarketDataRequest is refused: MDReqRejReason(281) and text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MdReject {
    pub code: u8,
    pub text: &'static str,
}

/// An incremental entry to send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub action: u8,
    pub entry_type: u8,
    pub price: i64,
    pub qty: i64,
}

/// All books and subscriptions.
#[derive(Debug)]
pub(crate) struct MarketData {
    books: Vec<Book>,
    subs: Vec<Sub>,
}

impl MarketData {
    pub fn new(symbols: usize, levels_per_side: usize) -> MarketData {
        MarketData {
            books: (0..symbols)
                .map(|_| Book {
                    bids: BookSide::new(true, levels_per_side),
                    asks: BookSide::new(false, levels_per_side),
                    seq: 0,
                })
                .collect(),
            subs: Vec::with_capacity(MAX_SUBS),
        }
    }

    /// Seeds a book from recovered levels (before any event).
    pub fn seed(&mut self, symbol: SymbolId, side: Side, price: i64, qty: i64) {
        let b = &mut self.books[symbol.0 as usize];
        match side {
            Side::Buy => b.bids.set(price, qty),
            Side::Sell => b.asks.set(price, qty),
        };
    }

    /// Validates and records a subscription for each symbol (all or none).
    pub fn subscribe(
        &mut self,
        slot: usize,
        req_id: &[u8],
        symbols: &[SymbolId],
        depth: usize,
        book: bool,
        trades: bool,
    ) -> Result<(), MdReject> {
        if req_id.len() > MAX_REQ_ID {
            return Err(MdReject {
                code: 0,
                text: "MDReqID longer than 32 characters",
            });
        }
        if self
            .subs
            .iter()
            .any(|s| s.slot == slot && s.req_id() == req_id)
        {
            return Err(MdReject {
                code: b'1',
                text: "Duplicate MDReqID",
            });
        }
        let mine = self.subs.iter().filter(|s| s.slot == slot).count();
        if mine + symbols.len() > MAX_SUBS_PER_SESSION || self.subs.len() + symbols.len() > MAX_SUBS
        {
            return Err(MdReject {
                code: b'0',
                text: "Too many market data subscriptions",
            });
        }
        let mut id = [0u8; MAX_REQ_ID];
        id[..req_id.len()].copy_from_slice(req_id);
        for &symbol in symbols {
            self.subs.push(Sub {
                slot,
                req_id: id,
                req_len: req_id.len(),
                symbol,
                depth,
                book,
                trades,
            });
        }
        Ok(())
    }

    /// Removes the session's subscriptions with this MDReqID; false if none.
    pub fn unsubscribe(&mut self, slot: usize, req_id: &[u8]) -> bool {
        let before = self.subs.len();
        self.subs
            .retain(|s| !(s.slot == slot && s.req_id() == req_id));
        before != self.subs.len()
    }

    /// Drops every subscription of a session (it disconnected).
    pub fn drop_session(&mut self, slot: usize) {
        self.subs.retain(|s| s.slot != slot);
    }

    /// Writes a W body for `symbol` (top `depth` levels, 0 = all).
    pub fn write_snapshot(
        &self,
        w: &mut MessageWriter<'_>,
        markets: &Markets,
        req_id: &[u8],
        symbol: SymbolId,
        depth: usize,
        book: bool,
    ) {
        let m = markets.get(symbol).expect("validated symbol");
        let b = &self.books[symbol.0 as usize];
        let take = |side: &BookSide| {
            if !book {
                0
            } else if depth == 0 {
                side.len()
            } else {
                side.len().min(depth)
            }
        };
        let (nb, na) = (take(&b.bids), take(&b.asks));
        w.field(262, req_id)
            .field(55, m.symbol.as_bytes())
            .field_uint(83, b.seq)
            .field_uint(268, (nb + na) as u64);
        for (side, n, t) in [(&b.bids, nb, b"0"), (&b.asks, na, b"1")] {
            for pos in 0..n {
                let l = side.at(pos).expect("within len");
                w.field(269, t)
                    .field_steps(270, l.price, &m.price)
                    .field_steps(271, l.qty, &m.qty)
                    .field_uint(1023, pos as u64 + 1);
            }
        }
    }

    /// Applies a level update; calls `send(slot, req_id, entries, seq)` for every
    /// subscription that must hear about it.
    pub fn on_level(
        &mut self,
        symbol: SymbolId,
        side: Side,
        price: i64,
        qty: i64,
        mut send: impl FnMut(usize, &[u8], &[Entry], u64),
    ) {
        let Some(b) = self.books.get_mut(symbol.0 as usize) else {
            return;
        };
        let (bs, t) = match side {
            Side::Buy => (&mut b.bids, b'0'),
            Side::Sell => (&mut b.asks, b'1'),
        };
        let change = bs.set(price, qty);
        if change == LevelChange::Nothing {
            return;
        }
        b.seq += 1;
        let seq = b.seq;
        let bs = match side {
            Side::Buy => &b.bids,
            Side::Sell => &b.asks,
        };
        for s in &self.subs {
            if s.symbol != symbol || !s.book {
                continue;
            }
            let mut entries = [Entry {
                action: b'0',
                entry_type: t,
                price,
                qty,
            }; 2];
            let n = match (change, s.depth) {
                (LevelChange::New(_), 0) => 1,
                (LevelChange::Change(_), 0) => {
                    entries[0].action = b'1';
                    1
                }
                (LevelChange::Delete(_), 0) => {
                    entries[0].action = b'2';
                    1
                }
                (LevelChange::New(p), d) if p < d => {
                    // The level pushed out of the top d.
                    match bs.at(d) {
                        Some(out) => {
                            entries[1] = Entry {
                                action: b'2',
                                entry_type: t,
                                price: out.price,
                                qty: 0,
                            };
                            2
                        }
                        None => 1,
                    }
                }
                (LevelChange::Change(p), d) if p < d => {
                    entries[0].action = b'1';
                    1
                }
                (LevelChange::Delete(p), d) if p < d => {
                    entries[0].action = b'2';
                    // The level that enters the top d.
                    match bs.at(d - 1) {
                        Some(inn) => {
                            entries[1] = Entry {
                                action: b'0',
                                entry_type: t,
                                price: inn.price,
                                qty: inn.qty,
                            };
                            2
                        }
                        None => 1,
                    }
                }
                _ => 0,
            };
            if n > 0 {
                send(s.slot, s.req_id(), &entries[..n], seq);
            }
        }
    }

    /// A trade on `symbol`: one new trade entry (MDEntryType 2) to trade subscribers.
    pub fn on_trade(
        &mut self,
        symbol: SymbolId,
        price: i64,
        qty: i64,
        mut send: impl FnMut(usize, &[u8], &[Entry], u64),
    ) {
        let Some(b) = self.books.get_mut(symbol.0 as usize) else {
            return;
        };
        b.seq += 1;
        let seq = b.seq;
        let e = [Entry {
            action: b'0',
            entry_type: b'2',
            price,
            qty,
        }];
        for s in &self.subs {
            if s.symbol == symbol && s.trades {
                send(s.slot, s.req_id(), &e, seq);
            }
        }
    }
}

/// Writes an X body.
pub(crate) fn write_incremental(
    w: &mut MessageWriter<'_>,
    markets: &Markets,
    req_id: &[u8],
    symbol: SymbolId,
    entries: &[Entry],
    seq: u64,
    ts_ns: u64,
) {
    let m = markets.get(symbol).expect("event symbol");
    w.field(262, req_id).field_uint(268, entries.len() as u64);
    for e in entries {
        w.field(279, &[e.action])
            .field(269, &[e.entry_type])
            .field(55, m.symbol.as_bytes())
            .field_steps(270, e.price, &m.price);
        if e.action != b'2' {
            w.field_steps(271, e.qty, &m.qty);
        }
        if e.entry_type == b'2' {
            w.field_timestamp(273, ts_ns);
        }
        w.field_uint(83, seq);
    }
}
