//! FIX market data on the gateway thread: L2 books kept from the engine's `BookLevel`
//! events, MarketDataRequest(V) subscriptions, MarketDataSnapshotFullRefresh(W) then
//! MarketDataIncrementalRefresh(X), MarketDataRequestReject(Y).
//!
//! Books are sorted `Vec`s preallocated to the engine's `max_levels_per_side` (best
//! price last, so changes near the top move little memory); nothing allocates per event.
//!
//! Per event the work does not grow with the number of subscribers: subscriptions that
//! want the same thing (symbol, book and/or trades, depth) share a [`Feed`], and an
//! event appends its entries to each of the symbol's feeds (usually one or two; level
//! changes conflated per price). The gateway calls [`MarketData::flush`] after each poll
//! of the ring while it keeps up, and while it is behind only when a feed holds
//! [`MAX_PENDING_ENTRIES`] or once it has caught up: each X's entries (at most
//! [`MAX_X_ENTRIES`]) are encoded once and copied to every subscriber of the feed. So
//! under a burst the fan-out is per batch, not per event, and the outbound ring never
//! waits on per-subscriber encoding. Every X of a feed takes the feed's next sequence
//! number, sent as RptSeq(83) on each of its entries; a subscription's W carries the
//! feed's current number (at body level, as in FIX 5.0), so every subscriber sees
//! consecutive numbers, detects a gap and re-requests a snapshot.

use std::collections::HashMap;

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
/// Most entries in one X (~100 bytes each, well within the gateway's largest message).
pub(crate) const MAX_X_ENTRIES: usize = 1024;
/// Most entries a feed holds between flushes (~2.6 MB preallocated per feed): while the
/// gateway is behind it lets them accumulate; a feed that reaches it makes it flush.
pub(crate) const MAX_PENDING_ENTRIES: usize = 65_536;
/// Room for one feed's encoded entries.
const FEED_BYTES: usize = MAX_X_ENTRIES * 160;

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
    /// Changed since the last flush.
    dirty: bool,
}

/// What a group of subscriptions shares: the same entries for the same events.
#[derive(Debug)]
struct Feed {
    symbol: SymbolId,
    /// 0 = full book.
    depth: usize,
    book: bool,
    trades: bool,
    /// Subscriptions using it (0 = a free slot).
    users: usize,
    /// RptSeq(83) of the last X sent on this feed (W carries it, the next X has +1).
    seq: u64,
    /// Entries since the last flush (bounded by [`MAX_PENDING_ENTRIES`]); book entries are
    /// conflated per level (see [`Feed::push_level`]), `DEAD` ones skipped.
    pending: Vec<Entry>,
    /// Where each level's entry is in `pending`: (MDEntryType, price) → index.
    index: HashMap<(u8, i64), u32>,
}

/// MDUpdateAction of a conflated-away entry (never sent).
const DEAD: u8 = 0;

impl Feed {
    /// Queues a level change, merged with an earlier change of the same level in this
    /// batch so the subscriber gets the net effect: what it holds for a price before the
    /// X (the first action tells: New = absent, Change/Delete = present) and after it
    /// (the last: Delete = absent). New then Delete cancel out; Delete then New is a
    /// Change; New then Change stays New with the last size.
    fn push_level(&mut self, e: Entry) {
        let key = (e.entry_type, e.price);
        if let Some(&i) = self.index.get(&key) {
            let prev = &mut self.pending[i as usize];
            let action = match (prev.action, e.action) {
                (b'0', b'2') => DEAD,
                (b'0', _) => b'0',
                (b'2', b'2') => b'2',
                (b'2', _) => b'1',
                (_, b'2') => b'2',
                _ => b'1',
            };
            prev.action = action;
            prev.qty = e.qty;
            if action == DEAD {
                self.index.remove(&key);
            }
            return;
        }
        self.index.insert(key, self.pending.len() as u32);
        self.pending.push(e);
    }

    fn clear(&mut self) {
        self.pending.clear();
        self.index.clear();
    }
}

/// A MarketDataRequest subscription.
#[derive(Clone, Copy, Debug)]
struct Sub {
    slot: usize,
    req_id: [u8; MAX_REQ_ID],
    req_len: usize,
    feed: usize,
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

/// What a MarketDataRequest asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wants {
    /// MarketDepth(264): 0 = full book.
    pub depth: usize,
    /// Bids and offers.
    pub book: bool,
    /// Trades.
    pub trades: bool,
}

/// An incremental entry to send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub action: u8,
    pub entry_type: u8,
    pub price: i64,
    pub qty: i64,
    /// TradeID(1003) of a trade entry (0 for book entries).
    pub trade_id: u64,
    /// MDEntryTime(273) of a trade entry: the command's timestamp.
    pub ts_ns: u64,
}

/// All books and subscriptions.
#[derive(Debug)]
pub(crate) struct MarketData {
    books: Vec<Book>,
    subs: Vec<Sub>,
    feeds: Vec<Feed>,
    /// Symbols with changes since the last flush.
    dirty: Vec<SymbolId>,
    /// A feed holds [`MAX_PENDING_ENTRIES`] - 2 entries or more: flush before the next
    /// event.
    full: bool,
    /// One feed's entries, encoded once per flush and copied into each subscriber's X.
    encoded: Vec<u8>,
}

impl MarketData {
    pub fn new(symbols: usize, levels_per_side: usize) -> MarketData {
        MarketData {
            books: (0..symbols)
                .map(|_| Book {
                    bids: BookSide::new(true, levels_per_side),
                    asks: BookSide::new(false, levels_per_side),
                    seq: 0,
                    dirty: false,
                })
                .collect(),
            subs: Vec::with_capacity(MAX_SUBS),
            feeds: Vec::with_capacity(MAX_SUBS),
            dirty: Vec::with_capacity(symbols),
            full: false,
            encoded: vec![0; FEED_BYTES],
        }
    }

    /// True when changes await [`MarketData::flush`].
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// True when a feed is (nearly) full: flush before applying more events.
    pub fn must_flush(&self) -> bool {
        self.full
    }

    /// The feed for these parameters, created if needed (allocates only when the
    /// number of distinct feeds reaches a new high).
    fn feed_for(&mut self, symbol: SymbolId, depth: usize, book: bool, trades: bool) -> usize {
        if let Some(i) = self.feeds.iter().position(|f| {
            f.users > 0
                && f.symbol == symbol
                && f.depth == depth
                && f.book == book
                && f.trades == trades
        }) {
            return i;
        }
        let f = Feed {
            symbol,
            depth,
            book,
            trades,
            users: 0,
            seq: 0,
            pending: Vec::with_capacity(MAX_PENDING_ENTRIES),
            index: HashMap::with_capacity(MAX_PENDING_ENTRIES),
        };
        if let Some(i) = self.feeds.iter().position(|f| f.users == 0) {
            self.feeds[i].symbol = symbol;
            self.feeds[i].depth = depth;
            self.feeds[i].book = book;
            self.feeds[i].trades = trades;
            self.feeds[i].seq = 0;
            self.feeds[i].clear();
            return i;
        }
        self.feeds.push(f);
        self.feeds.len() - 1
    }

    fn release_feeds(&mut self, removed: impl Iterator<Item = usize>) {
        for f in removed {
            self.feeds[f].users -= 1;
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
            let feed = self.feed_for(symbol, depth, book, trades);
            self.feeds[feed].users += 1;
            self.subs.push(Sub {
                slot,
                req_id: id,
                req_len: req_id.len(),
                feed,
            });
        }
        Ok(())
    }

    /// Removes the subscriptions `keep` refuses; true if any.
    fn remove_subs(&mut self, keep: impl Fn(&Sub) -> bool) -> bool {
        let mut removed = [0usize; MAX_SUBS_PER_SESSION];
        let mut n = 0;
        self.subs.retain(|s| {
            let k = keep(s);
            if !k {
                assert!(
                    n < removed.len(),
                    "at most MAX_SUBS_PER_SESSION per session"
                );
                removed[n] = s.feed;
                n += 1;
            }
            k
        });
        self.release_feeds(removed[..n].iter().copied());
        n > 0
    }

    /// Removes the session's subscriptions with this MDReqID; false if none.
    pub fn unsubscribe(&mut self, slot: usize, req_id: &[u8]) -> bool {
        self.remove_subs(|s| !(s.slot == slot && s.req_id() == req_id))
    }

    /// Drops every subscription of a session (it disconnected).
    pub fn drop_session(&mut self, slot: usize) {
        self.remove_subs(|s| s.slot != slot);
    }

    /// Writes a W body for `symbol` (top `depth` levels, 0 = all) for a request with these
    /// parameters.
    pub fn write_snapshot(
        &self,
        w: &mut MessageWriter<'_>,
        markets: &Markets,
        req_id: &[u8],
        symbol: SymbolId,
        wants: Wants,
    ) {
        let Wants {
            depth,
            book,
            trades,
        } = wants;
        let m = markets.get(symbol).expect("validated symbol");
        let b = &self.books[symbol.0 as usize];
        // A subscription's W carries its feed's RptSeq (its first X has the next); a
        // snapshot without subscription, the symbol's count of batches.
        let seq = self
            .feeds
            .iter()
            .find(|f| {
                f.users > 0
                    && f.symbol == symbol
                    && f.depth == depth
                    && f.book == book
                    && f.trades == trades
            })
            .map_or(b.seq, |f| f.seq);
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
            .field_uint(83, seq)
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

    fn mark_dirty(&mut self, symbol: SymbolId) {
        let b = &mut self.books[symbol.0 as usize];
        if !b.dirty {
            b.dirty = true;
            self.dirty.push(symbol);
        }
    }

    fn push(&mut self, feed: usize, entries: &[Entry]) {
        let f = &mut self.feeds[feed];
        assert!(
            f.pending.len() + entries.len() <= MAX_PENDING_ENTRIES,
            "feed flushed before it overflows"
        );
        for &e in entries {
            if e.entry_type == b'2' {
                f.pending.push(e);
            } else {
                f.push_level(e);
            }
        }
        if f.pending.len() + 2 > MAX_PENDING_ENTRIES {
            self.full = true;
        }
    }

    /// Applies a level update and queues its entries on the symbol's book feeds.
    pub fn on_level(&mut self, symbol: SymbolId, side: Side, price: i64, qty: i64) {
        assert!(!self.full, "flush when must_flush()");
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
        self.mark_dirty(symbol);
        for f in 0..self.feeds.len() {
            let feed = &self.feeds[f];
            if feed.users == 0 || feed.symbol != symbol || !feed.book {
                continue;
            }
            let b = &self.books[symbol.0 as usize];
            let bs = match side {
                Side::Buy => &b.bids,
                Side::Sell => &b.asks,
            };
            let mut entries = [Entry {
                action: b'0',
                entry_type: t,
                price,
                qty,
                trade_id: 0,
                ts_ns: 0,
            }; 2];
            let n = match (change, feed.depth) {
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
                                trade_id: 0,
                                ts_ns: 0,
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
                                trade_id: 0,
                                ts_ns: 0,
                            };
                            2
                        }
                        None => 1,
                    }
                }
                _ => 0,
            };
            if n > 0 {
                self.push(f, &entries[..n]);
            }
        }
    }

    /// A trade on `symbol`: queues one new trade entry (MDEntryType 2) on its trade feeds.
    pub fn on_trade(&mut self, symbol: SymbolId, trade_id: u64, price: i64, qty: i64, ts_ns: u64) {
        assert!(!self.full, "flush when must_flush()");
        if symbol.0 as usize >= self.books.len() {
            return;
        }
        self.mark_dirty(symbol);
        let e = [Entry {
            action: b'0',
            entry_type: b'2',
            price,
            qty,
            trade_id,
            ts_ns,
        }];
        for f in 0..self.feeds.len() {
            let feed = &self.feeds[f];
            if feed.users > 0 && feed.symbol == symbol && feed.trades {
                self.push(f, &e);
            }
        }
    }

    /// Ends a batch: each subscriber of a feed with entries gets them in X messages of
    /// at most [`MAX_X_ENTRIES`] (usually one), each with the feed's next sequence
    /// number, through `send(slot, body)` where `body` writes the X body. Each X is
    /// encoded once per feed.
    pub fn flush(
        &mut self,
        markets: &Markets,
        mut send: impl FnMut(usize, &mut dyn FnMut(&mut MessageWriter<'_>)),
    ) {
        self.full = false;
        if self.dirty.is_empty() {
            return;
        }
        for &sym in &self.dirty {
            let b = &mut self.books[sym.0 as usize];
            b.seq += 1;
            b.dirty = false;
        }
        self.dirty.clear();
        for f in 0..self.feeds.len() {
            let feed = &mut self.feeds[f];
            let mut i = 0;
            while i < feed.pending.len() {
                // The next run of entries holding MAX_X_ENTRIES live ones at most.
                let (mut j, mut live) = (i, 0u64);
                while j < feed.pending.len() && live < MAX_X_ENTRIES as u64 {
                    if feed.pending[j].action != DEAD {
                        live += 1;
                    }
                    j += 1;
                }
                if live == 0 {
                    break;
                }
                feed.seq += 1;
                let len = {
                    let mut w = MessageWriter::fields_only(&mut self.encoded);
                    write_entries(&mut w, markets, feed.symbol, &feed.pending[i..j], feed.seq);
                    w.fields_len()
                        .expect("MAX_X_ENTRIES entries fit FEED_BYTES")
                };
                let body = &self.encoded[..len];
                for s in self.subs.iter().filter(|s| s.feed == f) {
                    send(s.slot, &mut |w: &mut MessageWriter<'_>| {
                        w.field(262, s.req_id()).field_uint(268, live).raw(body);
                    });
                }
                i = j;
            }
            feed.clear();
        }
    }
}

/// Writes the MDEntries of an X (after NoMDEntries(268)).
fn write_entries(
    w: &mut MessageWriter<'_>,
    markets: &Markets,
    symbol: SymbolId,
    entries: &[Entry],
    seq: u64,
) {
    let m = markets.get(symbol).expect("event symbol");
    for e in entries.iter().filter(|e| e.action != DEAD) {
        w.field(279, &[e.action])
            .field(269, &[e.entry_type])
            .field(55, m.symbol.as_bytes())
            .field_steps(270, e.price, &m.price);
        if e.action != b'2' {
            w.field_steps(271, e.qty, &m.qty);
        }
        if e.entry_type == b'2' {
            w.field_timestamp(273, e.ts_ns).field_uint(1003, e.trade_id);
        }
        w.field_uint(83, seq);
    }
}
