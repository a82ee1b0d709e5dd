//! The exchange-core style order flow: a deterministic, pre-generated stream of GTC, IOC,
//! cancel and move operations on one symbol, plus the reference book that models it.
//!
//! The generator drives a reference book ([`RefBook`], a plain `BTreeMap` + `VecDeque`
//! price-time book) with every operation it emits, so it knows exactly which orders are
//! resting, with what open quantity. Cancels and moves therefore always target a live
//! order; no operation is wasted on an order that was already filled. It also guarantees
//! that no taker ever meets a resting order of its own account, so self-trade prevention
//! never fires and every book under test — ours with STP, the peers without it — sees the
//! same matches.

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, VecDeque};

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid.
    Buy,
    /// Ask.
    Sell,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// One operation of the neutral order flow. Ids are assigned to GTC and IOC orders in
/// stream order from 1, which is also the engine's `OrderId` assignment (every order is
/// accepted: accounts are funded and no STP fires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Good-till-cancel limit order: matches what it crosses, rests the remainder.
    Gtc {
        /// Order id.
        id: u64,
        /// Owner, `1..=accounts`.
        account: u32,
        /// Side.
        side: Side,
        /// Limit price in ticks.
        price: i64,
        /// Quantity in lots.
        qty: i64,
    },
    /// Immediate-or-cancel limit order: matches what it crosses, cancels the remainder.
    Ioc {
        /// Order id.
        id: u64,
        /// Owner.
        account: u32,
        /// Side.
        side: Side,
        /// Limit price in ticks.
        price: i64,
        /// Quantity in lots.
        qty: i64,
    },
    /// Cancel a resting order.
    Cancel {
        /// Order id (resting when the op is applied).
        id: u64,
        /// Owner.
        account: u32,
    },
    /// Move a resting order to a new price (cancel-replace, loses priority, may match).
    Move {
        /// Order id (resting when the op is applied).
        id: u64,
        /// Owner.
        account: u32,
        /// Side of the order (unchanged).
        side: Side,
        /// New limit price in ticks (always differs from the current one).
        new_price: i64,
        /// The order's total quantity as placed (filled included): the replace keeps it.
        qty: i64,
        /// The order's open quantity when moved (what a cancel + new re-enters).
        leaves: i64,
    },
}

/// Workload parameters.
#[derive(Clone, Debug)]
pub struct Params {
    /// Timed operations to generate.
    pub ops: usize,
    /// RNG seed.
    pub seed: u64,
    /// Accounts `1..=accounts`.
    pub accounts: u32,
    /// Resting orders the flow keeps the book near.
    pub target_orders: usize,
    /// Passive orders are placed uniformly at `mid ± 1..=half_range_ticks`.
    pub half_range_ticks: i64,
    /// Starting mid price in ticks.
    pub start_mid: i64,
    /// If true, passive prices follow the book's current mid (a random walk: over millions
    /// of ops the traded range drifts by thousands of ticks); if false they stay anchored
    /// at `start_mid` (a stationary book, as in exchange-core's benchmark).
    pub drift: bool,
}

impl Params {
    /// The exchange-core shape: ~1,000 resting orders over ~750 levels, 1,000 accounts.
    pub fn exchange_core(ops: usize, seed: u64) -> Params {
        Params {
            ops,
            seed,
            accounts: 1_000,
            target_orders: 1_000,
            half_range_ticks: 850,
            start_mid: 1_000_000,
            drift: false,
        }
    }
}

/// SplitMix64: tiny, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }
}

/// A resting order of the reference book.
#[derive(Clone, Copy, Debug)]
pub struct Resting {
    /// Owner.
    pub account: u32,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: i64,
    /// Total quantity as placed.
    pub qty: i64,
    /// Open quantity.
    pub leaves: i64,
}

/// The reference book: `BTreeMap<price, VecDeque<id>>` per side plus an id map; strict
/// price-time priority, fills at the maker's price. Used by the generator to model the
/// flow, and measured as the "plain BTreeMap + VecDeque" baseline.
#[derive(Default)]
pub struct RefBook {
    bids: BTreeMap<i64, VecDeque<u64>>,
    asks: BTreeMap<i64, VecDeque<u64>>,
    orders: FxHashMap<u64, Resting>,
    /// Trades (one per maker fill) so far.
    pub trades: u64,
    /// Lots traded so far.
    pub traded_lots: i64,
}

impl RefBook {
    /// An empty book.
    pub fn new() -> RefBook {
        RefBook::default()
    }

    /// Resting order by id.
    pub fn get(&self, id: u64) -> Option<&Resting> {
        self.orders.get(&id)
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// True if no order rests.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// Number of price levels per side `(bids, asks)`.
    pub fn levels(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Resting orders and open lots per side `(bid orders, ask orders, bid lots, ask lots)`.
    pub fn depth(&self) -> (usize, usize, i64, i64) {
        let mut d = (0, 0, 0, 0);
        for o in self.orders.values() {
            match o.side {
                Side::Buy => {
                    d.0 += 1;
                    d.2 += o.leaves;
                }
                Side::Sell => {
                    d.1 += 1;
                    d.3 += o.leaves;
                }
            }
        }
        d
    }

    /// Best bid price.
    pub fn best_bid(&self) -> Option<i64> {
        self.bids.last_key_value().map(|(p, _)| *p)
    }

    /// Best ask price.
    pub fn best_ask(&self) -> Option<i64> {
        self.asks.first_key_value().map(|(p, _)| *p)
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, VecDeque<u64>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Makers a taker would meet, in priority order, until `qty` is covered:
    /// calls `f(id, resting)` for each; stops early when `f` returns false.
    pub fn walk_makers(
        &self,
        side: Side,
        price: i64,
        qty: i64,
        mut f: impl FnMut(u64, &Resting) -> bool,
    ) {
        let mut left = qty;
        let levels: Box<dyn Iterator<Item = (&i64, &VecDeque<u64>)>> = match side {
            Side::Buy => Box::new(self.asks.iter()),
            Side::Sell => Box::new(self.bids.iter().rev()),
        };
        for (&p, q) in levels {
            let acceptable = match side {
                Side::Buy => p <= price,
                Side::Sell => p >= price,
            };
            if !acceptable || left <= 0 {
                return;
            }
            for id in q {
                let m = &self.orders[id];
                if !f(*id, m) {
                    return;
                }
                left -= m.leaves;
                if left <= 0 {
                    return;
                }
            }
        }
    }

    /// Matches a taker against the opposite side; returns its unfilled quantity.
    fn take(&mut self, side: Side, price: i64, mut qty: i64) -> i64 {
        let RefBook {
            bids,
            asks,
            orders,
            trades,
            traded_lots,
        } = self;
        loop {
            let mut entry = match side {
                Side::Buy => match asks.first_entry() {
                    Some(e) if *e.key() <= price => e,
                    _ => break,
                },
                Side::Sell => match bids.last_entry() {
                    Some(e) if *e.key() >= price => e,
                    _ => break,
                },
            };
            let queue = entry.get_mut();
            while let Some(&maker_id) = queue.front() {
                let maker = orders.get_mut(&maker_id).expect("queued order is indexed");
                let fill = qty.min(maker.leaves);
                maker.leaves -= fill;
                qty -= fill;
                *trades += 1;
                *traded_lots += fill;
                if maker.leaves == 0 {
                    orders.remove(&maker_id);
                    queue.pop_front();
                }
                if qty == 0 {
                    break;
                }
            }
            if queue.is_empty() {
                entry.remove();
            }
            if qty == 0 {
                break;
            }
        }
        qty
    }

    fn rest(&mut self, id: u64, o: Resting) {
        self.side_mut(o.side)
            .entry(o.price)
            .or_default()
            .push_back(id);
        let prev = self.orders.insert(id, o);
        assert!(prev.is_none(), "order id {id} reused");
    }

    fn remove(&mut self, id: u64) -> Option<Resting> {
        let o = self.orders.remove(&id)?;
        let levels = self.side_mut(o.side);
        let queue = levels.get_mut(&o.price).expect("resting order has a level");
        let at = queue
            .iter()
            .position(|&x| x == id)
            .expect("resting order is queued");
        queue.remove(at);
        if queue.is_empty() {
            levels.remove(&o.price);
        }
        Some(o)
    }

    /// Applies one operation. Returns false if it targeted an order that is not resting.
    pub fn apply(&mut self, op: &Op) -> bool {
        match *op {
            Op::Gtc {
                id,
                account,
                side,
                price,
                qty,
            } => {
                let left = self.take(side, price, qty);
                if left > 0 {
                    self.rest(
                        id,
                        Resting {
                            account,
                            side,
                            price,
                            qty,
                            leaves: left,
                        },
                    );
                }
                true
            }
            Op::Ioc {
                side, price, qty, ..
            } => {
                self.take(side, price, qty);
                true
            }
            Op::Cancel { id, .. } => self.remove(id).is_some(),
            Op::Move { id, new_price, .. } => match self.remove(id) {
                Some(mut o) => {
                    o.price = new_price;
                    o.leaves = self.take(o.side, new_price, o.leaves);
                    if o.leaves > 0 {
                        self.rest(id, o);
                    }
                    true
                }
                None => false,
            },
        }
    }
}

/// What the generator produced.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// GTC ops (timed part).
    pub gtc: usize,
    /// IOC ops.
    pub ioc: usize,
    /// Cancel ops.
    pub cancel: usize,
    /// Move ops.
    pub moves: usize,
    /// GTC orders priced through the opposite best (marketable).
    pub gtc_marketable: usize,
    /// Moves whose new price crossed (and traded).
    pub moves_crossing: usize,
    /// Cancels or moves whose target was no longer resting: 0 by construction (the
    /// generator asserts every op it emits applies to a resting order).
    pub stale_targets: usize,
    /// Takers re-drawn to avoid meeting their own account.
    pub stp_avoided: usize,
    /// Trades in the timed part.
    pub trades: u64,
    /// Mean resting orders (sampled every 64 ops).
    pub mean_orders: f64,
    /// Mean price levels, both sides together.
    pub mean_levels: f64,
    /// Min / max resting orders seen.
    pub min_orders: usize,
    /// Max resting orders seen.
    pub max_orders: usize,
    /// Lowest and highest price used.
    pub price_range: (i64, i64),
    /// Final state: resting orders, bid lots, ask lots (for cross-checking the books).
    pub final_orders: usize,
    /// Open bid lots at the end.
    pub final_bid_lots: i64,
    /// Open ask lots at the end.
    pub final_ask_lots: i64,
    /// Trades including the pre-fill.
    pub total_trades: u64,
}

/// A generated workload: an untimed pre-fill that builds the book, then the timed ops.
pub struct Workload {
    /// Passive GTC orders that build the initial book (applied before timing).
    pub prefill: Vec<Op>,
    /// The timed operations.
    pub ops: Vec<Op>,
    /// Mix and book-shape statistics.
    pub stats: Stats,
    /// Accounts used (`1..=accounts`).
    pub accounts: u32,
}

struct Gen {
    p: Params,
    rng: Rng,
    book: RefBook,
    /// Ids that were resting when last seen; filled ones are dropped lazily when drawn.
    live: Vec<u64>,
    next_id: u64,
    mid: i64,
    price_lo: i64,
    price_hi: i64,
}

impl Gen {
    fn account(&mut self) -> u32 {
        1 + (self.rng.next_u64() % self.p.accounts as u64) as u32
    }

    fn update_mid(&mut self) {
        if !self.p.drift {
            return;
        }
        if let (Some(b), Some(a)) = (self.book.best_bid(), self.book.best_ask()) {
            self.mid = (a + b) / 2;
        }
    }

    fn passive_price(&mut self, side: Side) -> i64 {
        let d = self.rng.range(1, self.p.half_range_ticks);
        match side {
            Side::Buy => self.mid - d,
            Side::Sell => self.mid + d,
        }
    }

    /// True if a taker of `account` would meet one of its own resting orders.
    fn self_trade(&self, account: u32, side: Side, price: i64, qty: i64) -> bool {
        let mut hit = false;
        self.book.walk_makers(side, price, qty, |_, m| {
            hit = m.account == account;
            !hit
        });
        hit
    }

    /// Draws an account whose taker would not meet its own orders.
    fn taker_account(&mut self, side: Side, price: i64, qty: i64, stats: &mut Stats) -> u32 {
        loop {
            let a = self.account();
            if !self.self_trade(a, side, price, qty) {
                return a;
            }
            stats.stp_avoided += 1;
        }
    }

    /// A random resting order (uniform), or None if the book is empty.
    fn pick_live(&mut self) -> Option<(usize, u64)> {
        while !self.live.is_empty() {
            let i = self.rng.below(self.live.len());
            let id = self.live[i];
            if self.book.get(id).is_some() {
                return Some((i, id));
            }
            self.live.swap_remove(i);
        }
        None
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn emit(&mut self, op: Op, out: &mut Vec<Op>) {
        match op {
            Op::Gtc { price, .. }
            | Op::Ioc { price, .. }
            | Op::Move {
                new_price: price, ..
            } => {
                self.price_lo = self.price_lo.min(price);
                self.price_hi = self.price_hi.max(price);
            }
            Op::Cancel { .. } => {}
        }
        let ok = self.book.apply(&op);
        assert!(ok, "generator emitted an op on a non-resting order: {op:?}");
        if let Op::Gtc { id, .. } = op {
            if self.book.get(id).is_some() {
                self.live.push(id);
            }
        }
        out.push(op);
        self.update_mid();
    }

    /// The side with fewer price levels gets 60% of new orders, which keeps the two sides
    /// balanced without a visible pattern.
    fn new_order_side(&mut self) -> Side {
        let (b, a) = self.book.levels();
        let thin = if b <= a { Side::Buy } else { Side::Sell };
        if self.rng.chance(60) {
            thin
        } else {
            thin.opposite()
        }
    }

    fn gtc(&mut self, stats: &mut Stats, timed: bool, out: &mut Vec<Op>) {
        let side = self.new_order_side();
        let qty = self.rng.range(1, 100);
        // One GTC in five is marketable: priced up to 2 ticks through the opposite best.
        let opposite_best = match side {
            Side::Buy => self.book.best_ask(),
            Side::Sell => self.book.best_bid(),
        };
        let price = match opposite_best {
            Some(best) if timed && self.rng.chance(20) => {
                stats.gtc_marketable += 1;
                let through = self.rng.range(0, 2);
                match side {
                    Side::Buy => best + through,
                    Side::Sell => best - through,
                }
            }
            _ => self.passive_price(side),
        };
        let account = self.taker_account(side, price, qty, stats);
        let id = self.new_id();
        self.emit(
            Op::Gtc {
                id,
                account,
                side,
                price,
                qty,
            },
            out,
        );
    }

    /// An IOC sized to keep the book near its target: it fully fills `k` makers and part
    /// of the next, with `k` growing with the book's excess over the target.
    fn ioc(&mut self, stats: &mut Stats, out: &mut Vec<Op>) {
        // Take from the side with more orders, mostly.
        let (b, a) = self.book.levels();
        let fat = if b >= a { Side::Sell } else { Side::Buy }; // taker side hitting the fat side
        let side = if self.rng.chance(65) {
            fat
        } else {
            fat.opposite()
        };
        let excess = self.book.len() as i64 - self.p.target_orders as i64;
        let k = (1 + excess / 16).clamp(0, 6) as usize;
        let mut qty = 0;
        let mut price = match side {
            Side::Buy => self.mid + 1,
            Side::Sell => self.mid - 1,
        };
        let mut seen = 0;
        let mut extra = 0;
        self.book.walk_makers(
            side,
            if side == Side::Buy {
                i64::MAX
            } else {
                i64::MIN
            },
            i64::MAX,
            |_, m| {
                price = m.price;
                if seen < k {
                    qty += m.leaves;
                    seen += 1;
                    true
                } else {
                    extra = m.leaves;
                    false
                }
            },
        );
        if extra > 1 {
            qty += self.rng.range(1, extra - 1);
        }
        if qty == 0 {
            qty = self.rng.range(1, 50);
        }
        let account = self.taker_account(side, price, qty, stats);
        let id = self.new_id();
        self.emit(
            Op::Ioc {
                id,
                account,
                side,
                price,
                qty,
            },
            out,
        );
    }

    fn cancel(&mut self, out: &mut Vec<Op>) -> bool {
        let Some((i, id)) = self.pick_live() else {
            return false;
        };
        self.live.swap_remove(i);
        let account = self.book.get(id).expect("live").account;
        self.emit(Op::Cancel { id, account }, out);
        true
    }

    fn move_order(&mut self, stats: &mut Stats, out: &mut Vec<Op>) -> bool {
        let Some((_, id)) = self.pick_live() else {
            return false;
        };
        let o = *self.book.get(id).expect("live");
        let new_price = loop {
            let p = self.passive_price(o.side);
            if p == o.price {
                continue;
            }
            if self.self_trade(o.account, o.side, p, o.leaves) {
                stats.stp_avoided += 1;
                continue;
            }
            break p;
        };
        let crossing = match o.side {
            Side::Buy => self.book.best_ask().is_some_and(|a| a <= new_price),
            Side::Sell => self.book.best_bid().is_some_and(|b| b >= new_price),
        };
        stats.moves_crossing += crossing as usize;
        self.emit(
            Op::Move {
                id,
                account: o.account,
                side: o.side,
                new_price,
                qty: o.qty,
                leaves: o.leaves,
            },
            out,
        );
        true
    }
}

/// Generates the pre-fill and `p.ops` timed operations: 9% GTC, 3% IOC, 6% cancel, 82%
/// move, drawn independently per op with a seeded RNG.
pub fn generate(p: &Params) -> Workload {
    let mut g = Gen {
        rng: Rng::new(p.seed),
        book: RefBook::new(),
        live: Vec::with_capacity(4 * p.target_orders),
        next_id: 1,
        mid: p.start_mid,
        price_lo: p.start_mid,
        price_hi: p.start_mid,
        p: p.clone(),
    };
    let mut stats = Stats {
        min_orders: usize::MAX,
        ..Stats::default()
    };
    let mut prefill = Vec::with_capacity(p.target_orders);
    while g.book.len() < p.target_orders {
        g.gtc(&mut stats, false, &mut prefill);
    }
    let prefill_trades = g.book.trades;
    let mut ops = Vec::with_capacity(p.ops);
    let (mut sum_orders, mut sum_levels, mut samples) = (0f64, 0f64, 0u64);
    while ops.len() < p.ops {
        let roll = g.rng.below(100);
        if roll < 9 {
            g.gtc(&mut stats, true, &mut ops);
            stats.gtc += 1;
        } else if roll < 12 {
            g.ioc(&mut stats, &mut ops);
            stats.ioc += 1;
        } else if roll < 18 {
            if g.cancel(&mut ops) {
                stats.cancel += 1;
            }
        } else if g.move_order(&mut stats, &mut ops) {
            stats.moves += 1;
        }
        if ops.len() % 64 == 0 {
            let n = g.book.len();
            let (lb, la) = g.book.levels();
            sum_orders += n as f64;
            sum_levels += (lb + la) as f64;
            samples += 1;
            stats.min_orders = stats.min_orders.min(n);
            stats.max_orders = stats.max_orders.max(n);
        }
    }
    stats.mean_orders = sum_orders / samples.max(1) as f64;
    stats.mean_levels = sum_levels / samples.max(1) as f64;
    stats.trades = g.book.trades - prefill_trades;
    stats.total_trades = g.book.trades;
    stats.price_range = (g.price_lo, g.price_hi);
    let (_, _, bl, al) = g.book.depth();
    stats.final_orders = g.book.len();
    stats.final_bid_lots = bl;
    stats.final_ask_lots = al;
    Workload {
        prefill,
        ops,
        stats,
        accounts: p.accounts,
    }
}
