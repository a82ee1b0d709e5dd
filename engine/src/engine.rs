//! The engine: books, accounts and the command handlers. Rules: `engine/SEMANTICS.md`.

use core::cmp::Reverse;
use core::hash::{Hash, Hasher};
use std::collections::BinaryHeap;

use hashbrown::HashTable;

use crate::command::{
    ApiKey, CancelOrder, Command, CommandKind, MassCancel, MassCancelScope, NewOrder, OrdType,
    OrderRef, ReplaceOrder, StpMode, Tif, Transfer,
};
use crate::event::{
    AdminTarget, CancelReason, Event, EventSink, Fill, LedgerEntry, LedgerReason, OrderState,
    RejectReason, Trade,
};
use crate::hash::StableHasher;
use crate::snapshot::{side_u8, SnapReader, SnapWriter, SnapshotError, SNAPSHOT_MAGIC};
use crate::spec::{EngineConfig, InstrumentSpec, SpecError};
use crate::types::{
    AccountId, ApiKeyId, AssetId, ClOrdId, CompId, OrderId, Price, Qty, SessionId, Side, SymbolId,
    COMP_ID_MAX_LEN,
};

/// One account's balance in one asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Balance {
    /// Free to spend or withdraw.
    pub available: i64,
    /// Held by open orders.
    pub locked: i64,
}

/// A resting order as seen from outside (tests, snapshots, status queries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderView {
    /// Id.
    pub order_id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Session that placed it.
    pub session: SessionId,
    /// Client id.
    pub cl_ord_id: ClOrdId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Total quantity.
    pub qty: Qty,
    /// Open quantity.
    pub leaves: Qty,
    /// Filled quantity.
    pub cum_qty: Qty,
    /// Σ price × qty of fills.
    pub cum_cost: i64,
    /// Funds held, in quote (buy) or base (sell) units.
    pub locked: i64,
    /// GTD expiry (0 if none).
    pub expire_ns: u64,
}

/// Sentinel for "no slot" in the intrusive lists.
const NIL: u32 = u32::MAX;

/// Open orders the id and client-id indexes are preallocated for (see `Engine::new`).
const INDEX_PREALLOC_ORDERS: usize = 1 << 12;

/// Price levels per side the price → level map is preallocated for.
const LEVEL_MAP_PREALLOC: usize = 1 << 12;

/// Largest total balance of one account in one asset (keeps every sum far from overflow).
const MAX_BALANCE: i64 = 1 << 62;

/// Snapshot format written by [`Engine::snapshot`]. Formats 1 (no operator flags: every
/// symbol trading, every account active) and 2 (no API keys) are still read.
const SNAPSHOT_VERSION: u32 = 3;

/// Most active API keys the engine holds (CreateApiKey beyond it is rejected).
pub const MAX_API_KEYS: usize = 4096;

/// State-hash tag of the API key table ("KEYS").
const HASH_TAG_API_KEYS: u64 = 0x4b45_5953;

/// State-hash tags of the operator flags ("HALT", "SUSP").
const HASH_TAG_HALTED: u64 = 0x4841_4c54;
const HASH_TAG_SUSPENDED: u64 = 0x5355_5350;

/// A resting order (or the slot of a replaced order while it re-enters).
#[derive(Clone, Copy, Debug)]
struct Order {
    id: u64,
    account: u32,
    session: u16,
    symbol: u16,
    side: Side,
    tif: Tif,
    stp: StpMode,
    post_only: bool,
    price: i64,
    qty: i64,
    leaves: i64,
    cum_qty: i64,
    cum_cost: i64,
    locked: i64,
    expire_ns: u64,
    cl_ord_id: ClOrdId,
    /// Level slot (in its side's slab) and queue links.
    level: u32,
    prev: u32,
    next: u32,
    /// Per-account list links (order of first rest).
    acc_prev: u32,
    acc_next: u32,
}

/// An aggregated price level with its FIFO queue of orders (intrusive list).
#[derive(Clone, Copy, Debug)]
struct Level {
    price: i64,
    qty: i64,
    count: u32,
    head: u32,
    tail: u32,
}

/// One side of a book.
///
/// Levels live in a slab with stable slots (orders point at theirs, so a cancel never
/// searches). Price order comes from `index`, `(price, slot)` sorted so the best price is
/// last: matching pops at the end, where almost all activity is. A level that empties in
/// the middle of the index stays there, empty, and is reused if its price comes back
/// (typical: "move" traffic re-creates the same few hundred prices over and over, and
/// this saves two binary searches and two memmoves per move). Invariant: the last index
/// entry is never empty; empty entries are dropped when they reach the end, and all of
/// them when the index is full (compaction, no allocation). Nothing observable depends on
/// where empty entries are.
struct SideBook {
    is_bid: bool,
    /// Sort keys (price for bids, −price for asks), ascending: best last.
    keys: Vec<i64>,
    /// Level slot of each key.
    slots: Vec<u32>,
    /// Price → level slot for every level in the index (empty ones included), so adding
    /// an order at an existing price does not search.
    by_price: HashTable<u32>,
    levels: Vec<Level>,
    free: Vec<u32>,
    /// Non-empty levels.
    live: u32,
}

impl SideBook {
    fn with_capacity(is_bid: bool, max_levels: usize) -> SideBook {
        // Room for as many empty levels as live ones before a compaction is needed.
        let cap = 2 * max_levels + 1;
        SideBook {
            is_bid,
            keys: Vec::with_capacity(cap),
            slots: Vec::with_capacity(cap),
            by_price: HashTable::with_capacity(2 * cap.min(LEVEL_MAP_PREALLOC)),
            levels: Vec::with_capacity(cap),
            free: Vec::with_capacity(cap),
            live: 0,
        }
    }

    /// Sort key: ascending keys, best last.
    #[inline]
    fn key(&self, price: i64) -> i64 {
        if self.is_bid {
            price
        } else {
            -price
        }
    }

    /// Position of `price` in the index, or where it would be inserted. Branch-free
    /// lower bound over the 8-byte keys (a few hundred of them: L1-resident).
    #[inline]
    fn find(&self, price: i64) -> Result<usize, usize> {
        let k = self.key(price);
        let keys = &self.keys[..];
        let mut base = 0usize;
        let mut len = keys.len();
        while len > 1 {
            let half = len / 2;
            // base + half - 1 < keys.len(): len shrinks as base grows.
            base = if keys[base + half - 1] < k {
                base + half
            } else {
                base
            };
            len -= half;
        }
        if len == 1 && keys[base] < k {
            base += 1;
        }
        if base < keys.len() && keys[base] == k {
            Ok(base)
        } else {
            Err(base)
        }
    }

    /// The non-empty level at `price`, if any.
    #[inline]
    fn live_level(&self, price: i64) -> Option<u32> {
        self.find(price)
            .ok()
            .map(|i| self.slots[i])
            .filter(|&l| self.levels[l as usize].count > 0)
    }

    /// The best (non-empty) level's slot.
    #[inline]
    fn best_slot(&self) -> Option<u32> {
        self.slots.last().copied()
    }

    #[inline]
    fn best(&self) -> Option<&Level> {
        self.best_slot().map(|l| &self.levels[l as usize])
    }

    /// The level to append an order at `price` to, created (empty) if needed.
    fn level_for_insert(&mut self, price: i64) -> u32 {
        let levels = &self.levels;
        if let Some(&l) = self.by_price.find(hash_id(price as u64), |&l| {
            levels[l as usize].price == price
        }) {
            return l;
        }
        match self.find(price) {
            Ok(_) => unreachable!("every indexed level is in by_price"),
            Err(mut i) => {
                if self.keys.len() == self.keys.capacity() {
                    self.compact();
                    i = self.find(price).expect_err("price absent");
                }
                let level = Level {
                    price,
                    qty: 0,
                    count: 0,
                    head: NIL,
                    tail: NIL,
                };
                let slot = match self.free.pop() {
                    Some(s) => {
                        self.levels[s as usize] = level;
                        s
                    }
                    None => {
                        assert!(
                            self.levels.len() < self.levels.capacity(),
                            "level slab overflow"
                        );
                        self.levels.push(level);
                        (self.levels.len() - 1) as u32
                    }
                };
                self.keys.insert(i, self.key(price));
                self.slots.insert(i, slot);
                let levels = &self.levels;
                self.by_price
                    .insert_unique(hash_id(price as u64), slot, |&l| {
                        hash_id(levels[l as usize].price as u64)
                    });
                slot
            }
        }
    }

    /// Called when a level just became empty: drops empty entries from the end.
    #[inline]
    fn emptied(&mut self) {
        self.live -= 1;
        while let Some(&l) = self.slots.last() {
            if self.levels[l as usize].count != 0 {
                break;
            }
            self.keys.pop();
            self.slots.pop();
            self.unmap(l);
            self.free.push(l);
        }
    }

    /// Removes every empty entry (in place).
    fn compact(&mut self) {
        let mut w = 0;
        for r in 0..self.slots.len() {
            let l = self.slots[r];
            if self.levels[l as usize].count != 0 {
                self.keys[w] = self.keys[r];
                self.slots[w] = l;
                w += 1;
            } else {
                self.unmap(l);
                self.free.push(l);
            }
        }
        self.keys.truncate(w);
        self.slots.truncate(w);
    }

    /// Forgets a level's price (the slot is being freed).
    fn unmap(&mut self, l: u32) {
        let price = self.levels[l as usize].price;
        if let Ok(e) = self.by_price.find_entry(hash_id(price as u64), |&x| x == l) {
            e.remove();
        }
    }

    /// Non-empty levels, best first.
    fn iter_best_first(&self) -> impl Iterator<Item = &Level> + '_ {
        self.slots
            .iter()
            .rev()
            .map(|&l| &self.levels[l as usize])
            .filter(|l| l.count > 0)
    }
}

struct Book {
    bids: SideBook,
    asks: SideBook,
    /// Halted by the operator: new orders and replaces are rejected.
    halted: bool,
}

impl Book {
    #[inline]
    fn side(&self, side: Side) -> &SideBook {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }
    #[inline]
    fn side_mut(&mut self, side: Side) -> &mut SideBook {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct AccountSlot {
    exists: bool,
    /// Suspended by the operator: may only cancel. Never set on the fee account.
    suspended: bool,
    head: u32,
    tail: u32,
}

/// Instrument constants the hot path needs, copied out of the spec.
#[derive(Clone, Copy, Debug)]
struct Inst {
    base: u16,
    quote: u16,
    qu: i64,
    bu: i64,
    min_qty: i64,
    max_qty: i64,
    min_notional: i64,
    maker_bps: i64,
    taker_bps: i64,
    lock_bps: i64,
    min_price: i64,
    max_price: i64,
}

impl Inst {
    fn from_spec(s: &InstrumentSpec) -> Inst {
        Inst {
            base: s.base.0,
            quote: s.quote.0,
            qu: s.quote_units_per_tick_lot,
            bu: s.base_units_per_lot,
            min_qty: s.min_qty_lots,
            max_qty: s.max_qty_lots,
            min_notional: s.min_notional_quote_units,
            maker_bps: s.maker_fee_bps as i64,
            taker_bps: s.taker_fee_bps as i64,
            lock_bps: (s.maker_fee_bps.max(s.taker_fee_bps).max(0)) as i64,
            min_price: s.min_price_ticks,
            max_price: s.max_price_ticks,
        }
    }

    #[inline]
    fn notional(&self, price: i64, qty: i64) -> i64 {
        price * qty * self.qu
    }

    #[inline]
    fn lock_buy(&self, price: i64, qty: i64) -> i64 {
        let n = self.notional(price, qty);
        n + fee(n, self.lock_bps)
    }

    /// What an open order of `side` with `leaves` at `price` must hold.
    #[inline]
    fn lock_for(&self, side: Side, price: i64, leaves: i64) -> i64 {
        match side {
            Side::Buy => self.lock_buy(price, leaves),
            Side::Sell => leaves * self.bu,
        }
    }

    #[inline]
    fn lock_asset(&self, side: Side) -> u16 {
        match side {
            Side::Buy => self.quote,
            Side::Sell => self.base,
        }
    }

    #[inline]
    fn in_band(&self, price: i64) -> bool {
        price >= self.min_price && price <= self.max_price
    }

    /// Most lots at `price` whose notional plus taker fee fits in `budget`.
    fn affordable(&self, price: i64, budget: i64) -> i64 {
        let unit = (price as i128) * (self.qu as i128);
        let cost = |q: i128| -> i128 {
            let n = unit * q;
            n + n * (self.taker_bps as i128) / 10_000
        };
        let mut q = (budget as i128) * 10_000 / (unit * (10_000 + self.taker_bps as i128));
        while cost(q + 1) <= budget as i128 {
            q += 1;
        }
        while q > 0 && cost(q) > budget as i128 {
            q -= 1;
        }
        q as i64
    }
}

/// Final avalanche of murmur3: every input bit affects the low bits (bucket index) and
/// the top bits (hashbrown's tag) alike. Fixed, seedless: deterministic.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn hash_id(id: u64) -> u64 {
    fmix64(id)
}

/// Client ids are short ASCII, zero padded, often differing in a few digits only: fold
/// the words with a multiply-rotate, then avalanche.
#[inline]
fn hash_cl(account: u32, cl: &ClOrdId) -> u64 {
    let b = &cl.0;
    let word = |i: usize| {
        u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ])
    };
    let tail = u32::from_le_bytes([b[32], b[33], b[34], b[35]]) as u64;
    let mut h = (account as u64) ^ 0x9E37_79B9_7F4A_7C15;
    for w in [word(0), word(8), word(16), word(24), tail] {
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    }
    fmix64(h)
}

/// `n × bps / 10_000`, truncated toward zero.
#[inline]
fn fee(n: i64, bps: i64) -> i64 {
    // i128: n may be close to 2^62 (see `EngineConfig::validate`).
    ((n as i128) * (bps as i128) / 10_000) as i64
}

/// The incoming order while it matches.
#[derive(Clone, Copy, Debug)]
struct Taker {
    /// Arena slot for a replaced order re-entering; NIL for a new order.
    slot: u32,
    id: u64,
    account: u32,
    session: u16,
    symbol: u16,
    side: Side,
    ord_type: OrdType,
    tif: Tif,
    stp: StpMode,
    post_only: bool,
    /// Limit or protection price; 0 = unprotected market order.
    price: i64,
    qty: i64,
    leaves: i64,
    cum_qty: i64,
    cum_cost: i64,
    locked: i64,
    budget: bool,
    expire_ns: u64,
    cl_ord_id: ClOrdId,
}

impl Taker {
    #[inline]
    fn is_open(&self) -> bool {
        if self.budget {
            self.locked > 0
        } else {
            self.leaves > 0
        }
    }

    #[inline]
    fn accepts(&self, maker_price: i64) -> bool {
        if self.price == 0 {
            return true;
        }
        match self.side {
            Side::Buy => maker_price <= self.price,
            Side::Sell => maker_price >= self.price,
        }
    }

    fn state(&self) -> OrderState {
        OrderState {
            order_id: OrderId(self.id),
            account: AccountId(self.account),
            session: SessionId(self.session),
            symbol: SymbolId(self.symbol),
            side: self.side,
            cl_ord_id: self.cl_ord_id,
            price: Price(self.price),
            qty: Qty(self.qty),
            leaves: Qty(self.leaves),
            cum_qty: Qty(self.cum_qty),
            cum_cost: self.cum_cost,
        }
    }
}

impl Order {
    fn state(&self) -> OrderState {
        OrderState {
            order_id: OrderId(self.id),
            account: AccountId(self.account),
            session: SessionId(self.session),
            symbol: SymbolId(self.symbol),
            side: self.side,
            cl_ord_id: self.cl_ord_id,
            price: Price(self.price),
            qty: Qty(self.qty),
            leaves: Qty(self.leaves),
            cum_qty: Qty(self.cum_qty),
            cum_cost: self.cum_cost,
        }
    }

    fn view(&self) -> OrderView {
        OrderView {
            order_id: OrderId(self.id),
            account: AccountId(self.account),
            session: SessionId(self.session),
            cl_ord_id: self.cl_ord_id,
            symbol: SymbolId(self.symbol),
            side: self.side,
            price: Price(self.price),
            qty: Qty(self.qty),
            leaves: Qty(self.leaves),
            cum_qty: Qty(self.cum_qty),
            cum_cost: self.cum_cost,
            locked: self.locked,
            expire_ns: self.expire_ns,
        }
    }
}

/// How matching ended for the taker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchEnd {
    /// Filled, out of liquidity or out of acceptable prices.
    Normal,
    /// Self-trade prevention stopped it; the rest is canceled.
    SelfTradeStop,
    /// Decrement took it to zero; already canceled.
    Finished,
}

/// The matching and accounts state machine.
pub struct Engine {
    cfg: EngineConfig,
    insts: Vec<Inst>,
    n_assets: usize,
    books: Vec<Book>,
    orders: Vec<Order>,
    free: Vec<u32>,
    /// Resting orders by id: arena slots, hashed by the order's id.
    by_id: HashTable<u32>,
    /// Resting orders by (account, client id): arena slots.
    by_cl: HashTable<u32>,
    accounts: Vec<AccountSlot>,
    balances: Vec<Balance>,
    /// Active API keys in creation order (bounded by [`MAX_API_KEYS`]).
    api_keys: Vec<ApiKey>,
    expiries: BinaryHeap<Reverse<(u64, u64)>>,
    resting: u32,
    now: u64,
    next_order_id: u64,
    next_trade_id: u64,
}

impl Engine {
    /// Builds an engine with every structure preallocated from `cfg`.
    pub fn new(cfg: EngineConfig) -> Result<Engine, SpecError> {
        cfg.validate()?;
        let max_orders = cfg.max_orders as usize;
        let max_levels = cfg.max_levels_per_side as usize;
        let n_assets = cfg.assets.len();
        let books = cfg
            .instruments
            .iter()
            .map(|_| Book {
                bids: SideBook::with_capacity(true, max_levels),
                asks: SideBook::with_capacity(false, max_levels),
                halted: false,
            })
            .collect();
        // Twice the live count: tombstones are then rehashed in place, never grown. Sized
        // for up to INDEX_PREALLOC_ORDERS open orders, not max_orders: a table sized for a
        // million orders holding a few thousand makes every lookup a cache and TLB miss
        // (measured: replay 3.8 M/s at 2^20 vs 7 M/s at 2^16; engine-bench faster still at 2^12). Beyond that the tables grow
        // once per new high-water mark of open orders, never per command.
        let index_cap = 2 * max_orders.min(INDEX_PREALLOC_ORDERS);
        let by_id = HashTable::with_capacity(index_cap);
        let by_cl = HashTable::with_capacity(index_cap);
        let mut accounts = vec![
            AccountSlot {
                exists: false,
                suspended: false,
                head: NIL,
                tail: NIL
            };
            cfg.max_accounts as usize
        ];
        accounts[cfg.fee_account.0 as usize].exists = true;
        let balances = vec![Balance::default(); cfg.max_accounts as usize * n_assets];
        Ok(Engine {
            insts: cfg.instruments.iter().map(Inst::from_spec).collect(),
            n_assets,
            books,
            orders: Vec::with_capacity(max_orders),
            free: Vec::with_capacity(max_orders),
            by_id,
            by_cl,
            accounts,
            balances,
            api_keys: Vec::new(),
            expiries: BinaryHeap::with_capacity(max_orders),
            resting: 0,
            now: 0,
            next_order_id: 1,
            next_trade_id: 1,
            cfg,
        })
    }

    /// Applies one command, emitting its events in order.
    pub fn apply<S: EventSink>(&mut self, cmd: &Command, out: &mut S) {
        self.now = self.now.max(cmd.ts_ns);
        self.expire(out);
        match &cmd.kind {
            CommandKind::NewOrder(o) => self.new_order(o, out),
            CommandKind::Cancel(c) => self.cancel(c, out),
            CommandKind::Replace(r) => self.replace(r, out),
            CommandKind::MassCancel(m) => self.mass_cancel(m, out),
            CommandKind::Deposit(t) => self.transfer(t, true, out),
            CommandKind::Withdraw(t) => self.transfer(t, false, out),
            CommandKind::CreateAccount { account } => self.create_account(*account, out),
            CommandKind::TimeTick => {}
            CommandKind::HaltSymbol { symbol } => self.set_symbol_halted(*symbol, true, out),
            CommandKind::ResumeSymbol { symbol } => self.set_symbol_halted(*symbol, false, out),
            CommandKind::SuspendAccount { account } => {
                self.set_account_suspended(*account, true, out)
            }
            CommandKind::ResumeAccount { account } => {
                self.set_account_suspended(*account, false, out)
            }
            CommandKind::CreateApiKey(k) => self.create_api_key(k, out),
            CommandKind::RevokeApiKey { key } => self.revoke_api_key(*key, out),
        }
    }

    // ----- accessors -------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Current engine time (the latest command timestamp seen).
    pub fn now_ns(&self) -> u64 {
        self.now
    }

    /// Balance of an existing account in an existing asset.
    pub fn balance(&self, account: AccountId, asset: AssetId) -> Option<Balance> {
        if !self.account_exists(account) || asset.0 as usize >= self.n_assets {
            return None;
        }
        Some(self.balances[self.bal_idx(account.0, asset.0)])
    }

    /// The active API keys, in creation order.
    pub fn api_keys(&self) -> &[ApiKey] {
        &self.api_keys
    }

    /// True if the account exists.
    pub fn account_exists(&self, account: AccountId) -> bool {
        self.accounts
            .get(account.0 as usize)
            .is_some_and(|a| a.exists)
    }

    /// True if the symbol exists and is halted by the operator.
    pub fn symbol_halted(&self, symbol: SymbolId) -> bool {
        self.books.get(symbol.0 as usize).is_some_and(|b| b.halted)
    }

    /// True if the account exists and is suspended by the operator.
    pub fn account_suspended(&self, account: AccountId) -> bool {
        self.accounts
            .get(account.0 as usize)
            .is_some_and(|a| a.exists && a.suspended)
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        self.find_id(id.0).map(|s| self.orders[s as usize].view())
    }

    /// Resting orders of one side of a book, best price first, time priority within a level.
    /// Allocates: for tests, snapshots and status queries, not the hot path.
    pub fn book_orders(&self, symbol: SymbolId, side: Side) -> Vec<OrderView> {
        let mut v = Vec::new();
        let Some(book) = self.books.get(symbol.0 as usize) else {
            return v;
        };
        for lvl in book.side(side).iter_best_first() {
            let mut cur = lvl.head;
            while cur != NIL {
                let o = &self.orders[cur as usize];
                v.push(o.view());
                cur = o.next;
            }
        }
        v
    }

    /// Open orders of one account in the order they first came to rest. Allocates.
    pub fn account_orders(&self, account: AccountId) -> Vec<OrderView> {
        let mut v = Vec::new();
        let Some(a) = self.accounts.get(account.0 as usize) else {
            return v;
        };
        let mut cur = a.head;
        while cur != NIL {
            let o = &self.orders[cur as usize];
            v.push(o.view());
            cur = o.acc_next;
        }
        v
    }

    /// Aggregated levels `(price, qty, count)` of one side, best first. Allocates.
    pub fn book_levels(&self, symbol: SymbolId, side: Side) -> Vec<(Price, Qty, u32)> {
        let Some(book) = self.books.get(symbol.0 as usize) else {
            return Vec::new();
        };
        book.side(side)
            .iter_best_first()
            .map(|l| (Price(l.price), Qty(l.qty), l.count))
            .collect()
    }

    /// Number of resting orders across all books.
    pub fn open_orders(&self) -> usize {
        self.resting as usize
    }

    /// Deterministic fingerprint of books, orders, balances, accounts and id counters.
    pub fn state_hash(&self) -> u64 {
        let mut h = StableHasher::default();
        self.now.hash(&mut h);
        self.next_order_id.hash(&mut h);
        self.next_trade_id.hash(&mut h);
        for (i, book) in self.books.iter().enumerate() {
            for side in [Side::Buy, Side::Sell] {
                (i as u64, side as u8).hash(&mut h);
                let sb = book.side(side);
                (sb.live as u64).hash(&mut h);
                for lvl in sb.iter_best_first() {
                    (lvl.price, lvl.qty, lvl.count).hash(&mut h);
                    let mut cur = lvl.head;
                    while cur != NIL {
                        let o = &self.orders[cur as usize];
                        o.view().hash(&mut h);
                        (o.tif as u8, o.stp as u8, o.post_only).hash(&mut h);
                        cur = o.next;
                    }
                }
            }
        }
        for (a, slot) in self.accounts.iter().enumerate() {
            if !slot.exists {
                continue;
            }
            (a as u64).hash(&mut h);
            for asset in 0..self.n_assets {
                self.balances[a * self.n_assets + asset].hash(&mut h);
            }
            let mut cur = slot.head;
            while cur != NIL {
                self.orders[cur as usize].id.hash(&mut h);
                cur = self.orders[cur as usize].acc_next;
            }
        }
        // Operator flags, only those set, after everything else: with none set the hash is
        // the one of snapshot format 1 (which had no flags), so those snapshots verify.
        for (i, book) in self.books.iter().enumerate() {
            if book.halted {
                (HASH_TAG_HALTED, i as u64).hash(&mut h);
            }
        }
        for (a, slot) in self.accounts.iter().enumerate() {
            if slot.exists && slot.suspended {
                (HASH_TAG_SUSPENDED, a as u64).hash(&mut h);
            }
        }
        // API keys likewise only when there are some (formats 1 and 2 had none).
        if !self.api_keys.is_empty() {
            (HASH_TAG_API_KEYS, self.api_keys.len() as u64).hash(&mut h);
            for k in &self.api_keys {
                k.hash(&mut h);
            }
        }
        h.finish()
    }

    /// Checks every internal invariant (O(state)): sorted uncrossed books, level totals,
    /// locks equal to what open orders could spend, index consistency. For tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut locked = vec![0i64; self.balances.len()];
        let mut seen = 0usize;
        for (si, book) in self.books.iter().enumerate() {
            let ins = &self.insts[si];
            for side in [Side::Buy, Side::Sell] {
                let sb = book.side(side);
                let live = sb.iter_best_first().count();
                if live != sb.live as usize || live > self.cfg.max_levels_per_side as usize {
                    return Err(format!(
                        "symbol {si} {side:?}: {live} live levels, counted {}",
                        sb.live
                    ));
                }
                for w in sb.keys.windows(2) {
                    if w[0] >= w[1] {
                        return Err(format!("symbol {si} {side:?}: levels not sorted"));
                    }
                }
                if sb.best().is_some_and(|l| l.count == 0) {
                    return Err(format!("symbol {si} {side:?}: empty level at the top"));
                }
                if sb.keys.len() != sb.slots.len()
                    || sb.slots.len() + sb.free.len() != sb.levels.len()
                    || sb.by_price.len() != sb.slots.len()
                {
                    return Err(format!("symbol {si} {side:?}: level slab leaks"));
                }
                for (&key, &slot) in sb.keys.iter().zip(&sb.slots) {
                    let lvl = &sb.levels[slot as usize];
                    let price = lvl.price;
                    if sb.key(price) != key {
                        return Err(format!(
                            "symbol {si} {side:?}: index price {price} points at level {}",
                            lvl.price
                        ));
                    }
                    if lvl.count == 0 {
                        if lvl.qty != 0 || lvl.head != NIL || lvl.tail != NIL {
                            return Err(format!(
                                "symbol {si} {side:?}: empty level {price} not reset"
                            ));
                        }
                        continue;
                    }
                    let (mut qty, mut count, mut prev, mut cur) = (0i64, 0u32, NIL, lvl.head);
                    while cur != NIL {
                        let o = &self.orders[cur as usize];
                        if o.prev != prev {
                            return Err(format!("order {}: broken level links", o.id));
                        }
                        if o.symbol as usize != si
                            || o.side != side
                            || o.price != lvl.price
                            || o.level != slot
                        {
                            return Err(format!("order {}: in the wrong level", o.id));
                        }
                        if o.leaves <= 0 || o.qty != o.cum_qty + o.leaves {
                            return Err(format!("order {}: bad quantities", o.id));
                        }
                        if o.locked != ins.lock_for(side, o.price, o.leaves) {
                            return Err(format!(
                                "order {}: locks {} but needs {}",
                                o.id,
                                o.locked,
                                ins.lock_for(side, o.price, o.leaves)
                            ));
                        }
                        if self.find_id(o.id) != Some(cur) {
                            return Err(format!("order {}: id index wrong", o.id));
                        }
                        if !o.cl_ord_id.is_empty()
                            && self.find_cl(o.account, &o.cl_ord_id) != Some(cur)
                        {
                            return Err(format!("order {}: client id index wrong", o.id));
                        }
                        locked[self.bal_idx(o.account, ins.lock_asset(side))] += o.locked;
                        qty += o.leaves;
                        count += 1;
                        prev = cur;
                        cur = o.next;
                    }
                    if lvl.tail != prev || qty != lvl.qty || count != lvl.count || count == 0 {
                        return Err(format!(
                            "symbol {si} {side:?} level {}: bad totals",
                            lvl.price
                        ));
                    }
                    seen += count as usize;
                }
            }
            if let (Some(b), Some(a)) = (book.bids.best(), book.asks.best()) {
                if b.price >= a.price {
                    return Err(format!(
                        "symbol {si}: crossed book {} >= {}",
                        b.price, a.price
                    ));
                }
            }
        }
        if seen != self.resting as usize || self.by_id.len() != seen {
            return Err(format!(
                "resting count {} / id index {} / in books {seen}",
                self.resting,
                self.by_id.len()
            ));
        }
        let in_lists: usize = self
            .accounts
            .iter()
            .map(|a| {
                let (mut n, mut cur) = (0, a.head);
                while cur != NIL {
                    n += 1;
                    cur = self.orders[cur as usize].acc_next;
                }
                n
            })
            .sum();
        if in_lists != seen {
            return Err(format!(
                "account lists hold {in_lists} orders, books {seen}"
            ));
        }
        for (i, b) in self.balances.iter().enumerate() {
            if b.available < 0 || b.locked < 0 || b.locked != locked[i] {
                return Err(format!(
                    "account {} asset {}: {:?}, open orders lock {}",
                    i / self.n_assets,
                    i % self.n_assets,
                    b,
                    locked[i]
                ));
            }
        }
        for (a, slot) in self.accounts.iter().enumerate() {
            if slot.suspended && (!slot.exists || a == self.cfg.fee_account.0 as usize) {
                return Err(format!(
                    "account {a}: suspended but {}",
                    if slot.exists {
                        "it is the fee account"
                    } else {
                        "does not exist"
                    }
                ));
            }
        }
        Ok(())
    }

    // ----- snapshots --------------------------------------------------------------------

    /// Serialises the whole state (appending to `out`). Allocates; runs off the hot path
    /// (at snapshot intervals and at shutdown).
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        let mut w = SnapWriter(out);
        w.0.extend_from_slice(SNAPSHOT_MAGIC);
        w.u32(SNAPSHOT_VERSION);
        w.u64(self.cfg.fingerprint());
        w.u64(self.now);
        w.u64(self.next_order_id);
        w.u64(self.next_trade_id);
        for book in &self.books {
            w.u8(book.halted as u8);
        }
        let existing: Vec<usize> = (0..self.accounts.len())
            .filter(|&a| self.accounts[a].exists)
            .collect();
        w.u32(existing.len() as u32);
        for &a in &existing {
            w.u32(a as u32);
            w.u8(self.accounts[a].suspended as u8);
            for asset in 0..self.n_assets {
                let b = self.balances[a * self.n_assets + asset];
                w.i64(b.available);
                w.i64(b.locked);
            }
            let mut ids = Vec::new();
            let mut cur = self.accounts[a].head;
            while cur != NIL {
                ids.push(self.orders[cur as usize].id);
                cur = self.orders[cur as usize].acc_next;
            }
            w.u32(ids.len() as u32);
            for id in ids {
                w.u64(id);
            }
        }
        w.u32(self.resting);
        for book in &self.books {
            for side in [Side::Buy, Side::Sell] {
                for lvl in book.side(side).iter_best_first() {
                    let mut cur = lvl.head;
                    while cur != NIL {
                        let o = &self.orders[cur as usize];
                        w.u64(o.id);
                        w.u32(o.account);
                        w.u16(o.session);
                        w.u16(o.symbol);
                        w.u8(side_u8(o.side));
                        w.u8(o.tif as u8);
                        w.u8(o.stp as u8);
                        w.u8(o.post_only as u8);
                        for v in [o.price, o.qty, o.leaves, o.cum_qty, o.cum_cost, o.locked] {
                            w.i64(v);
                        }
                        w.u64(o.expire_ns);
                        w.cl(&o.cl_ord_id);
                        cur = o.next;
                    }
                }
            }
        }
        w.u32(self.api_keys.len() as u32);
        for k in &self.api_keys {
            w.u64(k.key.0);
            w.u32(k.account.0);
            w.0.extend_from_slice(&k.comp_id.0);
            w.0.extend_from_slice(&k.nonce);
        }
        w.u64(self.state_hash());
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes under the same configuration.
    /// Verifies the configuration fingerprint, every invariant and the recorded state hash.
    pub fn restore(cfg: EngineConfig, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let err = |m: String| SnapshotError(m);
        let fingerprint = cfg.fingerprint();
        let mut e = Engine::new(cfg).map_err(|x| err(format!("bad config: {x}")))?;
        let mut r = SnapReader { buf: bytes, at: 0 };
        if bytes.get(..8) != Some(&SNAPSHOT_MAGIC[..]) {
            return Err(err("not an engine snapshot (bad magic)".into()));
        }
        r.at = 8;
        let version = r.u32()?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return Err(err(format!(
                "unsupported snapshot version {version} (this build reads 1 to {SNAPSHOT_VERSION})"
            )));
        }
        // Format 2 added the operator flags; format 1 has none (nothing halted or suspended).
        let has_flags = version >= 2;
        let flag = |r: &mut SnapReader<'_>, what: &str| -> Result<bool, SnapshotError> {
            match r.u8()? {
                0 => Ok(false),
                1 => Ok(true),
                x => Err(SnapshotError(format!("bad {what} flag {x}"))),
            }
        };
        if r.u64()? != fingerprint {
            return Err(err(
                "taken under a different engine configuration (instruments, assets or limits changed)".into(),
            ));
        }
        e.now = r.u64()?;
        e.next_order_id = r.u64()?;
        e.next_trade_id = r.u64()?;
        if has_flags {
            for book in &mut e.books {
                book.halted = flag(&mut r, "symbol halted")?;
            }
        }
        let n_accounts = r.u32()?;
        let mut lists: Vec<(u32, Vec<u64>)> = Vec::new();
        for _ in 0..n_accounts {
            let a = r.u32()?;
            if a as usize >= e.accounts.len() {
                return Err(err(format!("account {a} beyond max_accounts")));
            }
            e.accounts[a as usize].exists = true;
            if has_flags {
                e.accounts[a as usize].suspended = flag(&mut r, "account suspended")?;
            }
            for asset in 0..e.n_assets {
                let i = a as usize * e.n_assets + asset;
                e.balances[i] = Balance {
                    available: r.i64()?,
                    locked: r.i64()?,
                };
            }
            let n = r.u32()?;
            let mut ids = Vec::with_capacity(n.min(1 << 20) as usize);
            for _ in 0..n {
                ids.push(r.u64()?);
            }
            lists.push((a, ids));
        }
        let n_orders = r.u32()?;
        if n_orders > e.cfg.max_orders {
            return Err(err(format!("{n_orders} orders exceed max_orders")));
        }
        for _ in 0..n_orders {
            let id = r.u64()?;
            let account = r.u32()?;
            let session = r.u16()?;
            let symbol = r.u16()?;
            let side = match r.u8()? {
                0 => Side::Buy,
                1 => Side::Sell,
                _ => return Err(err("bad side".into())),
            };
            let tif = match r.u8()? {
                x if x == Tif::Gtc as u8 => Tif::Gtc,
                x if x == Tif::Gtd as u8 => Tif::Gtd,
                _ => {
                    return Err(err(format!(
                        "order {id}: a resting order must be GTC or GTD"
                    )))
                }
            };
            let stp = match r.u8()? {
                x if x == StpMode::CancelNewest as u8 => StpMode::CancelNewest,
                x if x == StpMode::CancelOldest as u8 => StpMode::CancelOldest,
                x if x == StpMode::CancelBoth as u8 => StpMode::CancelBoth,
                x if x == StpMode::Decrement as u8 => StpMode::Decrement,
                _ => return Err(err("bad STP mode".into())),
            };
            let post_only = r.u8()? != 0;
            let mut v = [0i64; 6];
            for x in &mut v {
                *x = r.i64()?;
            }
            let expire_ns = r.u64()?;
            let cl_ord_id = r.cl()?;
            if symbol as usize >= e.books.len() || !e.account_exists(AccountId(account)) {
                return Err(err(format!("order {id}: unknown symbol or account")));
            }
            let [price, qty, leaves, cum_qty, cum_cost, locked] = v;
            let slot = e.alloc(Order {
                id,
                account,
                session,
                symbol,
                side,
                tif,
                stp,
                post_only,
                price,
                qty,
                leaves,
                cum_qty,
                cum_cost,
                locked,
                expire_ns,
                cl_ord_id,
                level: NIL,
                prev: NIL,
                next: NIL,
                acc_prev: NIL,
                acc_next: NIL,
            });
            if e.find_id(id).is_some()
                || (!cl_ord_id.is_empty() && e.find_cl(account, &cl_ord_id).is_some())
            {
                return Err(err(format!("order {id}: duplicate id or client id")));
            }
            let sb = e.books[symbol as usize].side(side);
            if sb.live_level(price).is_none()
                && sb.live as usize >= e.cfg.max_levels_per_side as usize
            {
                return Err(err("more levels than max_levels_per_side".into()));
            }
            e.index_id(slot);
            e.index_cl(slot);
            e.link_into_level(slot);
            e.resting += 1;
            if tif == Tif::Gtd {
                e.push_expiry(expire_ns, id);
            }
        }
        for (a, ids) in lists {
            let mut prev = NIL;
            for id in ids {
                let slot = e
                    .find_id(id)
                    .ok_or_else(|| err(format!("account {a} lists unknown order {id}")))?;
                if e.orders[slot as usize].account != a
                    || e.orders[slot as usize].acc_prev != NIL
                    || e.accounts[a as usize].head == slot
                {
                    return Err(err(format!("order {id}: bad account list")));
                }
                e.orders[slot as usize].acc_prev = prev;
                if prev == NIL {
                    e.accounts[a as usize].head = slot;
                } else {
                    e.orders[prev as usize].acc_next = slot;
                }
                prev = slot;
            }
            e.accounts[a as usize].tail = prev;
        }
        if version >= 3 {
            let n = r.u32()? as usize;
            if n > MAX_API_KEYS {
                return Err(err(format!("{n} API keys exceed {MAX_API_KEYS}")));
            }
            for _ in 0..n {
                let key = ApiKeyId(r.u64()?);
                let account = AccountId(r.u32()?);
                let comp_id = CompId(r.array::<COMP_ID_MAX_LEN>()?);
                let nonce = r.array::<16>()?;
                if key.0 == 0 || !comp_id.is_valid() || !e.account_exists(account) {
                    return Err(err(format!("API key {}: bad id, CompID or account", key.0)));
                }
                if e.api_keys.iter().any(|k| k.key == key) {
                    return Err(err(format!("API key {} listed twice", key.0)));
                }
                e.api_keys.push(ApiKey {
                    key,
                    account,
                    comp_id,
                    nonce,
                });
            }
        }
        let recorded = r.u64()?;
        if !r.done() {
            return Err(err("trailing bytes".into()));
        }
        e.check_invariants()
            .map_err(|m| err(format!("restored state is inconsistent: {m}")))?;
        if e.state_hash() != recorded {
            return Err(err("state hash mismatch after restore".into()));
        }
        Ok(e)
    }

    // ----- balances ---------------------------------------------------------------------

    #[inline]
    fn bal_idx(&self, account: u32, asset: u16) -> usize {
        account as usize * self.n_assets + asset as usize
    }

    /// Moves a balance and emits its ledger entry (none if both deltas are zero).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn ledger<S: EventSink>(
        &mut self,
        account: u32,
        asset: u16,
        d_avail: i64,
        d_locked: i64,
        reason: LedgerReason,
        reference: u64,
        out: &mut S,
    ) {
        if d_avail == 0 && d_locked == 0 {
            return;
        }
        let i = self.bal_idx(account, asset);
        let b = &mut self.balances[i];
        b.available += d_avail;
        b.locked += d_locked;
        assert!(
            b.available >= 0 && b.locked >= 0,
            "negative balance {b:?} of account {account}"
        );
        out.emit(Event::Ledger(LedgerEntry {
            account: AccountId(account),
            asset: AssetId(asset),
            delta_available: d_avail,
            delta_locked: d_locked,
            available_after: b.available,
            locked_after: b.locked,
            reason,
            reference,
        }));
    }

    // ----- arena, indexes and lists ----------------------------------------------------

    #[inline]
    fn find_id(&self, id: u64) -> Option<u32> {
        self.by_id
            .find(hash_id(id), |&s| self.orders[s as usize].id == id)
            .copied()
    }

    #[inline]
    fn find_cl(&self, account: u32, cl: &ClOrdId) -> Option<u32> {
        let orders = &self.orders;
        self.by_cl
            .find(hash_cl(account, cl), |&s| {
                let o = &orders[s as usize];
                o.account == account && o.cl_ord_id == *cl
            })
            .copied()
    }

    fn index_id(&mut self, slot: u32) {
        let orders = &self.orders;
        let id = orders[slot as usize].id;
        self.by_id
            .insert_unique(hash_id(id), slot, |&s| hash_id(orders[s as usize].id));
    }

    fn unindex_id(&mut self, slot: u32) {
        let id = self.orders[slot as usize].id;
        if let Ok(e) = self.by_id.find_entry(hash_id(id), |&s| s == slot) {
            e.remove();
        }
    }

    /// Indexes the slot's client id (if any).
    fn index_cl(&mut self, slot: u32) {
        let orders = &self.orders;
        let o = &orders[slot as usize];
        if o.cl_ord_id.is_empty() {
            return;
        }
        let h = hash_cl(o.account, &o.cl_ord_id);
        self.by_cl.insert_unique(h, slot, |&s| {
            let o = &orders[s as usize];
            hash_cl(o.account, &o.cl_ord_id)
        });
    }

    fn unindex_cl(&mut self, slot: u32) {
        let o = &self.orders[slot as usize];
        if o.cl_ord_id.is_empty() {
            return;
        }
        if let Ok(e) = self
            .by_cl
            .find_entry(hash_cl(o.account, &o.cl_ord_id), |&s| s == slot)
        {
            e.remove();
        }
    }

    fn alloc(&mut self, o: Order) -> u32 {
        if let Some(s) = self.free.pop() {
            self.orders[s as usize] = o;
            s
        } else {
            assert!(
                self.orders.len() < self.cfg.max_orders as usize,
                "order arena overflow"
            );
            self.orders.push(o);
            (self.orders.len() - 1) as u32
        }
    }

    /// Removes an order that is not in any level from every index and frees its slot.
    fn release(&mut self, slot: u32) {
        let o = self.orders[slot as usize];
        self.unindex_id(slot);
        self.unindex_cl(slot);
        // Account list.
        if o.acc_prev != NIL {
            self.orders[o.acc_prev as usize].acc_next = o.acc_next;
        } else {
            self.accounts[o.account as usize].head = o.acc_next;
        }
        if o.acc_next != NIL {
            self.orders[o.acc_next as usize].acc_prev = o.acc_prev;
        } else {
            self.accounts[o.account as usize].tail = o.acc_prev;
        }
        self.resting -= 1;
        self.free.push(slot);
    }

    /// Unlinks an order from its level queue. The level may become empty: the caller
    /// then calls `SideBook::emptied` (after it is done with the level).
    fn unlink_from_level(&mut self, slot: u32) {
        let o = self.orders[slot as usize];
        let lvl = &mut self.books[o.symbol as usize].side_mut(o.side).levels[o.level as usize];
        if o.prev != NIL {
            self.orders[o.prev as usize].next = o.next;
        } else {
            lvl.head = o.next;
        }
        if o.next != NIL {
            self.orders[o.next as usize].prev = o.prev;
        } else {
            lvl.tail = o.prev;
        }
        lvl.qty -= o.leaves;
        lvl.count -= 1;
    }

    /// Appends an order (already in the arena) to the tail of its price level.
    fn link_into_level(&mut self, slot: u32) -> Level {
        let (symbol, side, price, leaves) = {
            let o = &self.orders[slot as usize];
            (o.symbol, o.side, o.price, o.leaves)
        };
        let sb = self.books[symbol as usize].side_mut(side);
        let level = sb.level_for_insert(price);
        let lvl = &mut sb.levels[level as usize];
        let tail = lvl.tail;
        lvl.tail = slot;
        if tail == NIL {
            lvl.head = slot;
        }
        lvl.qty += leaves;
        lvl.count += 1;
        let snapshot = *lvl;
        if snapshot.count == 1 {
            sb.live += 1;
        }
        if tail != NIL {
            self.orders[tail as usize].next = slot;
        }
        let o = &mut self.orders[slot as usize];
        o.level = level;
        o.prev = tail;
        o.next = NIL;
        snapshot
    }

    fn emit_level<S: EventSink>(
        &self,
        symbol: u16,
        side: Side,
        price: i64,
        lvl: Option<&Level>,
        out: &mut S,
    ) {
        let (qty, count) = lvl.map_or((0, 0), |l| (l.qty, l.count));
        out.emit(Event::BookLevel {
            symbol: SymbolId(symbol),
            side,
            price: Price(price),
            qty: Qty(qty),
            count,
        });
    }

    /// Takes an order out of its level (dropping the level if emptied) and emits the
    /// level's new state.
    fn take_out_of_level<S: EventSink>(&mut self, slot: u32, out: &mut S) {
        let o = self.orders[slot as usize];
        self.unlink_from_level(slot);
        let sb = self.books[o.symbol as usize].side_mut(o.side);
        let l = sb.levels[o.level as usize];
        if l.count == 0 {
            sb.emptied();
            self.emit_level(o.symbol, o.side, o.price, None, out);
        } else {
            self.emit_level(o.symbol, o.side, o.price, Some(&l), out);
        }
    }

    /// Cancels a resting order: event, level update (unless `in_match`), unlock, free.
    fn remove_resting<S: EventSink>(
        &mut self,
        slot: u32,
        reason: CancelReason,
        request: ClOrdId,
        in_match: bool,
        out: &mut S,
    ) {
        let o = self.orders[slot as usize];
        if in_match {
            // The matcher handles the level (update event, emptied) when it leaves it.
            self.unlink_from_level(slot);
        }
        let mut state = o.state();
        state.leaves = Qty(0);
        out.emit(Event::OrderCanceled {
            state,
            canceled_qty: Qty(o.leaves),
            reason,
            request_cl_ord_id: request,
        });
        if !in_match {
            self.take_out_of_level(slot, out);
        }
        let asset = self.insts[o.symbol as usize].lock_asset(o.side);
        self.ledger(
            o.account,
            asset,
            o.locked,
            -o.locked,
            LedgerReason::OrderUnlock,
            o.id,
            out,
        );
        self.release(slot);
    }

    // ----- time -------------------------------------------------------------------------

    fn expire<S: EventSink>(&mut self, out: &mut S) {
        while let Some(&Reverse((at, id))) = self.expiries.peek() {
            if at > self.now {
                break;
            }
            self.expiries.pop();
            if let Some(slot) = self.find_id(id) {
                let o = &self.orders[slot as usize];
                if o.tif == Tif::Gtd && o.expire_ns == at {
                    self.remove_resting(slot, CancelReason::Expired, ClOrdId::EMPTY, false, out);
                }
            }
        }
    }

    fn push_expiry(&mut self, at: u64, id: u64) {
        if self.expiries.len() == self.expiries.capacity() {
            // Drop entries of orders that are gone (lazy deletion), in place.
            let (by_id, orders) = (&self.by_id, &self.orders);
            self.expiries.retain(|Reverse((at, id))| {
                by_id
                    .find(hash_id(*id), |&s| orders[s as usize].id == *id)
                    .is_some_and(|&s| orders[s as usize].expire_ns == *at)
            });
        }
        assert!(
            self.expiries.len() < self.expiries.capacity(),
            "expiry heap overflow"
        );
        self.expiries.push(Reverse((at, id)));
    }

    // ----- new orders -------------------------------------------------------------------

    fn crosses(&self, symbol: u16, side: Side, price: i64) -> bool {
        let book = &self.books[symbol as usize];
        match side {
            Side::Buy => book.asks.best().is_some_and(|l| l.price <= price),
            Side::Sell => book.bids.best().is_some_and(|l| l.price >= price),
        }
    }

    fn check_new(&self, o: &NewOrder) -> Result<i64, RejectReason> {
        use RejectReason::*;
        if !self.account_exists(o.account) {
            return Err(UnknownAccount);
        }
        if self.accounts[o.account.0 as usize].suspended {
            return Err(AccountSuspended);
        }
        let Some(ins) = self.insts.get(o.symbol.0 as usize) else {
            return Err(UnknownSymbol);
        };
        if self.books[o.symbol.0 as usize].halted {
            return Err(SymbolHalted);
        }
        if !o.cl_ord_id.is_empty() && self.find_cl(o.account.0, &o.cl_ord_id).is_some() {
            return Err(DuplicateClOrdId);
        }
        let budget = o.ord_type == OrdType::Market && o.quote_budget > 0;
        match o.ord_type {
            OrdType::Limit => {
                if o.quote_budget != 0 {
                    return Err(InvalidQuantity);
                }
                if !ins.in_band(o.price.0) {
                    return Err(PriceOutOfBand);
                }
            }
            OrdType::Market => {
                if o.post_only {
                    return Err(InvalidOrderType);
                }
                if !matches!(o.tif, Tif::Ioc | Tif::Fok) {
                    return Err(InvalidTimeInForce);
                }
                if o.price.0 != 0 && !ins.in_band(o.price.0) {
                    return Err(PriceOutOfBand);
                }
                if o.quote_budget < 0 {
                    return Err(InvalidQuantity);
                }
                if budget && (o.side == Side::Sell || o.qty.0 != 0) {
                    return Err(InvalidQuantity);
                }
                if budget && o.tif != Tif::Ioc {
                    return Err(InvalidTimeInForce);
                }
                if o.side == Side::Buy && o.quote_budget == 0 && o.price.0 == 0 {
                    return Err(MarketBuyNeedsBudgetOrProtection);
                }
            }
        }
        if !budget {
            if o.qty.0 < 1 || o.qty.0 > ins.max_qty {
                return Err(InvalidQuantity);
            }
            if o.qty.0 < ins.min_qty {
                return Err(BelowMinQty);
            }
        }
        if (o.tif == Tif::Gtd && o.expire_ns <= self.now) || (o.tif != Tif::Gtd && o.expire_ns != 0)
        {
            return Err(InvalidExpireTime);
        }
        if o.post_only && matches!(o.tif, Tif::Ioc | Tif::Fok) {
            return Err(InvalidTimeInForce);
        }
        if o.ord_type == OrdType::Limit && ins.notional(o.price.0, o.qty.0) < ins.min_notional {
            return Err(BelowMinNotional);
        }
        if budget && o.quote_budget < ins.min_notional {
            return Err(BelowMinNotional);
        }
        if o.post_only && self.crosses(o.symbol.0, o.side, o.price.0) {
            return Err(PostOnlyWouldCross);
        }
        if o.ord_type == OrdType::Limit && matches!(o.tif, Tif::Gtc | Tif::Gtd) {
            let sb = self.books[o.symbol.0 as usize].side(o.side);
            if self.resting >= self.cfg.max_orders
                || (sb.live >= self.cfg.max_levels_per_side && sb.live_level(o.price.0).is_none())
            {
                return Err(CapacityExceeded);
            }
        }
        let lock = if budget {
            o.quote_budget
        } else {
            ins.lock_for(o.side, o.price.0, o.qty.0)
        };
        let avail = self.balances[self.bal_idx(o.account.0, ins.lock_asset(o.side))].available;
        if lock > avail {
            return Err(InsufficientBalance);
        }
        Ok(lock)
    }

    fn new_order<S: EventSink>(&mut self, o: &NewOrder, out: &mut S) {
        let lock = match self.check_new(o) {
            Ok(l) => l,
            Err(reason) => {
                out.emit(Event::OrderRejected { order: *o, reason });
                return;
            }
        };
        let id = self.next_order_id;
        self.next_order_id += 1;
        out.emit(Event::OrderAccepted {
            order_id: OrderId(id),
            order: *o,
        });
        let ins = self.insts[o.symbol.0 as usize];
        self.ledger(
            o.account.0,
            ins.lock_asset(o.side),
            -lock,
            lock,
            LedgerReason::OrderLock,
            id,
            out,
        );
        let budget = o.ord_type == OrdType::Market && o.quote_budget > 0;
        let mut t = Taker {
            slot: NIL,
            id,
            account: o.account.0,
            session: o.session.0,
            symbol: o.symbol.0,
            side: o.side,
            ord_type: o.ord_type,
            tif: o.tif,
            stp: o.stp,
            post_only: o.post_only,
            price: o.price.0,
            qty: if budget { 0 } else { o.qty.0 },
            leaves: if budget { 0 } else { o.qty.0 },
            cum_qty: 0,
            cum_cost: 0,
            locked: lock,
            budget,
            expire_ns: o.expire_ns,
            cl_ord_id: o.cl_ord_id,
        };
        if o.tif == Tif::Fok && !self.fok_fillable(&t) {
            let mut state = t.state();
            state.leaves = Qty(0);
            out.emit(Event::OrderCanceled {
                state,
                canceled_qty: Qty(t.leaves),
                reason: CancelReason::Fok,
                request_cl_ord_id: ClOrdId::EMPTY,
            });
            self.ledger(
                t.account,
                ins.lock_asset(t.side),
                t.locked,
                -t.locked,
                LedgerReason::OrderUnlock,
                id,
                out,
            );
            return;
        }
        self.enter(&mut t, out);
    }

    fn fok_fillable(&self, t: &Taker) -> bool {
        let sb = self.books[t.symbol as usize].side(t.side.opposite());
        let mut sum = 0i64;
        for lvl in sb.iter_best_first() {
            if !t.accepts(lvl.price) {
                return false;
            }
            let mut cur = lvl.head;
            while cur != NIL {
                let m = &self.orders[cur as usize];
                if m.account == t.account {
                    if t.stp != StpMode::CancelOldest {
                        return false;
                    }
                } else {
                    sum += m.leaves;
                    if sum >= t.leaves {
                        return true;
                    }
                }
                cur = m.next;
            }
        }
        false
    }

    /// Matching, then the remainder: cancel (IOC, market, STP) or rest.
    fn enter<S: EventSink>(&mut self, t: &mut Taker, out: &mut S) {
        let end = self.match_taker(t, out);
        let ins = self.insts[t.symbol as usize];
        let asset = ins.lock_asset(t.side);
        if end == MatchEnd::Finished || !t.is_open() && !t.budget {
            // Fully filled or finished by STP decrement: nothing left locked.
            debug_assert_eq!(t.locked, 0);
            if t.slot != NIL {
                self.release(t.slot);
            }
            return;
        }
        let rests = end == MatchEnd::Normal
            && !t.budget
            && t.ord_type == OrdType::Limit
            && matches!(t.tif, Tif::Gtc | Tif::Gtd);
        if !rests {
            let reason = if end == MatchEnd::SelfTradeStop {
                CancelReason::SelfTrade
            } else {
                CancelReason::Ioc
            };
            let mut state = t.state();
            let canceled = t.leaves;
            state.leaves = Qty(0);
            out.emit(Event::OrderCanceled {
                state,
                canceled_qty: Qty(canceled),
                reason,
                request_cl_ord_id: ClOrdId::EMPTY,
            });
            self.ledger(
                t.account,
                asset,
                t.locked,
                -t.locked,
                LedgerReason::OrderUnlock,
                t.id,
                out,
            );
            if t.slot != NIL {
                self.release(t.slot);
            }
            return;
        }
        // Rest.
        let order = Order {
            id: t.id,
            account: t.account,
            session: t.session,
            symbol: t.symbol,
            side: t.side,
            tif: t.tif,
            stp: t.stp,
            post_only: t.post_only,
            price: t.price,
            qty: t.qty,
            leaves: t.leaves,
            cum_qty: t.cum_qty,
            cum_cost: t.cum_cost,
            locked: t.locked,
            expire_ns: t.expire_ns,
            cl_ord_id: t.cl_ord_id,
            level: NIL,
            prev: NIL,
            next: NIL,
            acc_prev: NIL,
            acc_next: NIL,
        };
        debug_assert_eq!(t.locked, ins.lock_for(t.side, t.price, t.leaves));
        let slot = if t.slot != NIL {
            // A replaced order keeps its slot, indexes and place in its account's list.
            let keep = self.orders[t.slot as usize];
            let o = &mut self.orders[t.slot as usize];
            *o = Order {
                acc_prev: keep.acc_prev,
                acc_next: keep.acc_next,
                ..order
            };
            t.slot
        } else {
            let slot = self.alloc(order);
            self.index_id(slot);
            self.index_cl(slot);
            let acc = &mut self.accounts[t.account as usize];
            let tail = acc.tail;
            acc.tail = slot;
            if tail == NIL {
                acc.head = slot;
            } else {
                self.orders[tail as usize].acc_next = slot;
            }
            self.orders[slot as usize].acc_prev = tail;
            self.resting += 1;
            if t.tif == Tif::Gtd {
                self.push_expiry(t.expire_ns, t.id);
            }
            slot
        };
        let lvl = self.link_into_level(slot);
        self.emit_level(t.symbol, t.side, t.price, Some(&lvl), out);
    }

    fn match_taker<S: EventSink>(&mut self, t: &mut Taker, out: &mut S) -> MatchEnd {
        let opp = t.side.opposite();
        let sym = t.symbol as usize;
        loop {
            if !t.is_open() {
                return MatchEnd::Normal;
            }
            let Some(best) = self.books[sym].side(opp).best() else {
                return MatchEnd::Normal;
            };
            let price = best.price;
            if !t.accepts(price) {
                return MatchEnd::Normal;
            }
            let lvl_slot = self.books[sym]
                .side(opp)
                .best_slot()
                .expect("non-empty side");
            let mut changed = false;
            let mut end = None;
            let mut cur = self.books[sym].side(opp).levels[lvl_slot as usize].head;
            while cur != NIL && t.is_open() {
                let next = self.orders[cur as usize].next;
                if self.orders[cur as usize].account == t.account {
                    match (t.stp, t.budget) {
                        (StpMode::CancelNewest, _) | (StpMode::Decrement, true) => {
                            end = Some(MatchEnd::SelfTradeStop);
                            break;
                        }
                        (StpMode::CancelOldest, _) => {
                            self.remove_resting(
                                cur,
                                CancelReason::SelfTrade,
                                ClOrdId::EMPTY,
                                true,
                                out,
                            );
                            changed = true;
                        }
                        (StpMode::CancelBoth, _) => {
                            self.remove_resting(
                                cur,
                                CancelReason::SelfTrade,
                                ClOrdId::EMPTY,
                                true,
                                out,
                            );
                            changed = true;
                            end = Some(MatchEnd::SelfTradeStop);
                            break;
                        }
                        (StpMode::Decrement, false) => {
                            changed = true;
                            if self.decrement(t, cur, out) {
                                end = Some(MatchEnd::Finished);
                                break;
                            }
                        }
                    }
                } else {
                    let q = if t.budget {
                        let ins = &self.insts[sym];
                        ins.affordable(price, t.locked)
                            .min(self.orders[cur as usize].leaves)
                    } else {
                        t.leaves.min(self.orders[cur as usize].leaves)
                    };
                    if q == 0 {
                        end = Some(MatchEnd::Normal);
                        break;
                    }
                    changed = true;
                    if self.fill(t, cur, price, q, out) {
                        // The maker keeps its open quantity and its place: a budget taker
                        // may still afford more of it (fees truncate per fill); any
                        // other taker is now filled and the loop ends.
                        continue;
                    }
                }
                cur = next;
            }
            let sb = self.books[sym].side_mut(opp);
            let lvl = sb.levels[lvl_slot as usize];
            if lvl.count == 0 {
                sb.emptied();
                self.emit_level(t.symbol, opp, price, None, out);
            } else if changed {
                self.emit_level(t.symbol, opp, price, Some(&lvl), out);
            }
            if let Some(e) = end {
                return e;
            }
        }
    }

    /// STP decrement between the taker and a maker of the same account. Returns true if
    /// the taker is finished (canceled).
    fn decrement<S: EventSink>(&mut self, t: &mut Taker, slot: u32, out: &mut S) -> bool {
        let ins = self.insts[t.symbol as usize];
        let m = self.orders[slot as usize];
        let d = t.leaves.min(m.leaves);
        if m.leaves == d {
            self.remove_resting(slot, CancelReason::SelfTrade, ClOrdId::EMPTY, true, out);
        } else {
            let new_lock = ins.lock_for(m.side, m.price, m.leaves - d);
            let diff = m.locked - new_lock;
            {
                let o = &mut self.orders[slot as usize];
                o.leaves -= d;
                o.qty -= d;
                o.locked = new_lock;
            }
            let lvl = &mut self.books[t.symbol as usize].side_mut(m.side).levels[m.level as usize];
            lvl.qty -= d;
            out.emit(Event::OrderReduced {
                state: self.orders[slot as usize].state(),
                reduced_by: Qty(d),
            });
            self.ledger(
                m.account,
                ins.lock_asset(m.side),
                diff,
                -diff,
                LedgerReason::OrderUnlock,
                m.id,
                out,
            );
        }
        let asset = ins.lock_asset(t.side);
        if t.leaves == d {
            let mut state = t.state();
            state.leaves = Qty(0);
            out.emit(Event::OrderCanceled {
                state,
                canceled_qty: Qty(d),
                reason: CancelReason::SelfTrade,
                request_cl_ord_id: ClOrdId::EMPTY,
            });
            let l = t.locked;
            t.leaves = 0;
            t.locked = 0;
            self.ledger(
                t.account,
                asset,
                l,
                -l,
                LedgerReason::OrderUnlock,
                t.id,
                out,
            );
            true
        } else {
            t.leaves -= d;
            t.qty -= d;
            let new_lock = ins.lock_for(t.side, t.price, t.leaves);
            let diff = t.locked - new_lock;
            t.locked = new_lock;
            out.emit(Event::OrderReduced {
                state: t.state(),
                reduced_by: Qty(d),
            });
            self.ledger(
                t.account,
                asset,
                diff,
                -diff,
                LedgerReason::OrderUnlock,
                t.id,
                out,
            );
            false
        }
    }

    /// One fill of `q` lots at the maker's `price`, with settlement. Returns true if the
    /// maker is still open.
    fn fill<S: EventSink>(
        &mut self,
        t: &mut Taker,
        slot: u32,
        price: i64,
        q: i64,
        out: &mut S,
    ) -> bool {
        let ins = self.insts[t.symbol as usize];
        let n = ins.notional(price, q);
        let base = q * ins.bu;
        let maker_fee = fee(n, ins.maker_bps);
        let taker_fee = fee(n, ins.taker_bps);
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;

        // Taker state.
        let t_lock_before = t.locked;
        if !t.budget {
            t.leaves -= q;
        }
        t.cum_qty += q;
        t.cum_cost += price * q;
        // Maker state.
        let m_before = self.orders[slot as usize];
        let (m_leaves, m_lock) = {
            let m = &mut self.orders[slot as usize];
            m.leaves -= q;
            m.cum_qty += q;
            m.cum_cost += price * q;
            m.locked = ins.lock_for(m.side, m.price, m.leaves);
            (m.leaves, m.locked)
        };
        let t_new_lock = if t.budget {
            t.locked - n - taker_fee
        } else {
            ins.lock_for(t.side, t.price, t.leaves)
        };
        t.locked = t_new_lock;

        let m = self.orders[slot as usize];
        out.emit(Event::Trade(Trade {
            trade_id,
            symbol: SymbolId(t.symbol),
            price: Price(price),
            qty: Qty(q),
            taker_side: t.side,
            maker: Fill {
                order_id: OrderId(m.id),
                account: AccountId(m.account),
                session: SessionId(m.session),
                cl_ord_id: m.cl_ord_id,
                leaves: Qty(m_leaves),
                cum_qty: Qty(m.cum_qty),
                cum_cost: m.cum_cost,
                fee: maker_fee,
            },
            taker: Fill {
                order_id: OrderId(t.id),
                account: AccountId(t.account),
                session: SessionId(t.session),
                cl_ord_id: t.cl_ord_id,
                leaves: Qty(t.leaves),
                cum_qty: Qty(t.cum_qty),
                cum_cost: t.cum_cost,
                fee: taker_fee,
            },
        }));

        // Settlement: buyer quote, buyer base, seller base, seller quote, fee account.
        let (buyer, buyer_fee, buyer_lock_before, buyer_lock_after, seller, seller_fee) =
            match t.side {
                Side::Buy => (
                    t.account,
                    taker_fee,
                    t_lock_before,
                    t_new_lock,
                    m.account,
                    maker_fee,
                ),
                Side::Sell => (
                    m.account,
                    maker_fee,
                    m_before.locked,
                    m_lock,
                    t.account,
                    taker_fee,
                ),
            };
        let cost = n + buyer_fee;
        let excess = buyer_lock_before - cost - buyer_lock_after;
        assert!(
            excess >= 0,
            "buyer lock too small: before {buyer_lock_before} cost {cost} after {buyer_lock_after}"
        );
        self.ledger(
            buyer,
            ins.quote,
            excess,
            -(cost + excess),
            LedgerReason::Trade,
            trade_id,
            out,
        );
        self.ledger(buyer, ins.base, base, 0, LedgerReason::Trade, trade_id, out);
        self.ledger(
            seller,
            ins.base,
            0,
            -base,
            LedgerReason::Trade,
            trade_id,
            out,
        );
        self.ledger(
            seller,
            ins.quote,
            n - seller_fee,
            0,
            LedgerReason::Trade,
            trade_id,
            out,
        );
        let fees = buyer_fee + seller_fee;
        assert!(fees >= 0, "fee account would pay out");
        self.ledger(
            self.cfg.fee_account.0,
            ins.quote,
            fees,
            0,
            LedgerReason::Fee,
            trade_id,
            out,
        );

        // Level and maker bookkeeping.
        self.books[t.symbol as usize].side_mut(m.side).levels[m.level as usize].qty -= q;
        if m_leaves == 0 {
            // unlink_from_level subtracts the (now zero) leaves again: harmless.
            self.unlink_from_level(slot);
            self.release(slot);
            return false;
        }
        true
    }

    // ----- cancel, replace, mass cancel -------------------------------------------------

    /// Resolves a cancel/replace target: (slot) or the reason and what was found.
    fn resolve(
        &self,
        account: AccountId,
        symbol: SymbolId,
        target: OrderRef,
    ) -> Result<u32, (RejectReason, u32)> {
        if !self.account_exists(account) {
            return Err((RejectReason::UnknownAccount, NIL));
        }
        let slot = match target {
            OrderRef::Id(id) => self.find_id(id.0),
            OrderRef::ClOrdId(cl) => {
                if cl.is_empty() {
                    None
                } else {
                    self.find_cl(account.0, &cl)
                }
            }
        };
        let Some(slot) = slot else {
            return Err((RejectReason::UnknownOrder, NIL));
        };
        let o = &self.orders[slot as usize];
        if o.account != account.0 {
            return Err((RejectReason::NotOwner, slot));
        }
        if o.symbol != symbol.0 {
            return Err((RejectReason::UnknownOrder, slot));
        }
        Ok(slot)
    }

    #[allow(clippy::too_many_arguments)]
    fn cancel_reject<S: EventSink>(
        &self,
        account: AccountId,
        symbol: SymbolId,
        target: OrderRef,
        cl_ord_id: ClOrdId,
        found: u32,
        is_replace: bool,
        reason: RejectReason,
        out: &mut S,
    ) {
        // Never leak another account's order details.
        let o =
            (found != NIL && reason != RejectReason::NotOwner).then(|| self.orders[found as usize]);
        out.emit(Event::CancelRejected {
            account,
            symbol,
            target,
            cl_ord_id,
            order_id: OrderId(o.map_or(0, |o| o.id)),
            order_cl_ord_id: o.map_or(ClOrdId::EMPTY, |o| o.cl_ord_id),
            leaves: Qty(o.map_or(0, |o| o.leaves)),
            cum_qty: Qty(o.map_or(0, |o| o.cum_qty)),
            is_replace,
            reason,
        });
    }

    fn cancel<S: EventSink>(&mut self, c: &CancelOrder, out: &mut S) {
        match self.resolve(c.account, c.symbol, c.target) {
            Ok(slot) => {
                self.remove_resting(slot, CancelReason::UserRequest, c.cl_ord_id, false, out)
            }
            Err((reason, found)) => self.cancel_reject(
                c.account,
                c.symbol,
                c.target,
                c.cl_ord_id,
                found,
                false,
                reason,
                out,
            ),
        }
    }

    fn check_replace(&self, r: &ReplaceOrder, slot: u32) -> Result<i64, RejectReason> {
        use RejectReason::*;
        let o = &self.orders[slot as usize];
        if self.accounts[o.account as usize].suspended {
            return Err(AccountSuspended);
        }
        if self.books[o.symbol as usize].halted {
            return Err(SymbolHalted);
        }
        let ins = &self.insts[o.symbol as usize];
        let (price, qty) = (r.price.0, r.qty.0);
        if !ins.in_band(price) {
            return Err(PriceOutOfBand);
        }
        if qty < 1 || qty > ins.max_qty || qty <= o.cum_qty {
            return Err(InvalidQuantity);
        }
        if qty < ins.min_qty {
            return Err(BelowMinQty);
        }
        if ins.notional(price, qty) < ins.min_notional {
            return Err(BelowMinNotional);
        }
        if !r.cl_ord_id.is_empty()
            && r.cl_ord_id != o.cl_ord_id
            && self.find_cl(o.account, &r.cl_ord_id).is_some()
        {
            return Err(DuplicateClOrdId);
        }
        if o.post_only && self.crosses(o.symbol, o.side, price) {
            return Err(PostOnlyWouldCross);
        }
        if price != o.price {
            let sb = self.books[o.symbol as usize].side(o.side);
            let alone = sb.levels[o.level as usize].count == 1;
            if sb.live - alone as u32 >= self.cfg.max_levels_per_side
                && sb.live_level(price).is_none()
            {
                return Err(CapacityExceeded);
            }
        }
        let new_lock = ins.lock_for(o.side, price, qty - o.cum_qty);
        let avail = self.balances[self.bal_idx(o.account, ins.lock_asset(o.side))].available;
        if new_lock - o.locked > avail {
            return Err(InsufficientBalance);
        }
        Ok(new_lock)
    }

    fn replace<S: EventSink>(&mut self, r: &ReplaceOrder, out: &mut S) {
        let slot = match self.resolve(r.account, r.symbol, r.target) {
            Ok(s) => s,
            Err((reason, found)) => {
                return self.cancel_reject(
                    r.account,
                    r.symbol,
                    r.target,
                    r.cl_ord_id,
                    found,
                    true,
                    reason,
                    out,
                );
            }
        };
        let new_lock = match self.check_replace(r, slot) {
            Ok(l) => l,
            Err(reason) => {
                return self.cancel_reject(
                    r.account,
                    r.symbol,
                    r.target,
                    r.cl_ord_id,
                    slot,
                    true,
                    reason,
                    out,
                );
            }
        };
        let old = self.orders[slot as usize];
        let ins = self.insts[old.symbol as usize];
        let asset = ins.lock_asset(old.side);
        let new_cl = if r.cl_ord_id.is_empty() {
            old.cl_ord_id
        } else {
            r.cl_ord_id
        };
        if new_cl != old.cl_ord_id {
            self.unindex_cl(slot);
            self.orders[slot as usize].cl_ord_id = new_cl;
            self.index_cl(slot);
        }
        let new_leaves = r.qty.0 - old.cum_qty;
        let keep = r.price.0 == old.price && new_leaves <= old.leaves;
        let diff = new_lock - old.locked;
        if keep {
            let lvl = {
                let l = &mut self.books[old.symbol as usize].side_mut(old.side).levels
                    [old.level as usize];
                l.qty += new_leaves - old.leaves;
                *l
            };
            let o = &mut self.orders[slot as usize];
            o.qty = r.qty.0;
            o.leaves = new_leaves;
            o.locked = new_lock;
            o.cl_ord_id = new_cl;
            let state = o.state();
            out.emit(Event::OrderReplaced {
                state,
                orig_cl_ord_id: old.cl_ord_id,
                kept_priority: true,
            });
            self.emit_level(old.symbol, old.side, old.price, Some(&lvl), out);
            self.ledger(
                old.account,
                asset,
                -diff,
                diff,
                LedgerReason::OrderUnlock,
                old.id,
                out,
            );
            return;
        }
        // Loses priority: out of the level, updated, re-entered as a taker.
        self.unlink_from_level(slot);
        let old_level = {
            let sb = self.books[old.symbol as usize].side_mut(old.side);
            let l = sb.levels[old.level as usize];
            if l.count == 0 {
                sb.emptied();
                None
            } else {
                Some(l)
            }
        };
        let state = {
            let o = &mut self.orders[slot as usize];
            o.price = r.price.0;
            o.qty = r.qty.0;
            o.leaves = new_leaves;
            o.locked = new_lock;
            o.cl_ord_id = new_cl;
            o.state()
        };
        out.emit(Event::OrderReplaced {
            state,
            orig_cl_ord_id: old.cl_ord_id,
            kept_priority: false,
        });
        self.emit_level(old.symbol, old.side, old.price, old_level.as_ref(), out);
        let reason = if diff > 0 {
            LedgerReason::OrderLock
        } else {
            LedgerReason::OrderUnlock
        };
        self.ledger(old.account, asset, -diff, diff, reason, old.id, out);
        let o = self.orders[slot as usize];
        let mut t = Taker {
            slot,
            id: o.id,
            account: o.account,
            session: o.session,
            symbol: o.symbol,
            side: o.side,
            ord_type: OrdType::Limit,
            tif: o.tif,
            stp: o.stp,
            post_only: o.post_only,
            price: o.price,
            qty: o.qty,
            leaves: o.leaves,
            cum_qty: o.cum_qty,
            cum_cost: o.cum_cost,
            locked: o.locked,
            budget: false,
            expire_ns: o.expire_ns,
            cl_ord_id: o.cl_ord_id,
        };
        self.enter(&mut t, out);
    }

    fn mass_cancel<S: EventSink>(&mut self, m: &MassCancel, out: &mut S) {
        if !self.account_exists(m.account) {
            out.emit(Event::MassCancelReport {
                account: m.account,
                scope: m.scope,
                cl_ord_id: m.cl_ord_id,
                canceled: 0,
                reject: Some(RejectReason::UnknownAccount),
            });
            return;
        }
        let mut n = 0u32;
        let mut cur = self.accounts[m.account.0 as usize].head;
        while cur != NIL {
            let o = self.orders[cur as usize];
            let hit = match m.scope {
                MassCancelScope::Account => true,
                MassCancelScope::Symbol(s) => o.symbol == s.0,
                MassCancelScope::Session(s) => o.session == s.0,
            };
            if hit {
                self.remove_resting(cur, CancelReason::MassCancel, m.cl_ord_id, false, out);
                n += 1;
            }
            cur = o.acc_next;
        }
        out.emit(Event::MassCancelReport {
            account: m.account,
            scope: m.scope,
            cl_ord_id: m.cl_ord_id,
            canceled: n,
            reject: None,
        });
    }

    // ----- transfers and accounts -------------------------------------------------------

    fn transfer<S: EventSink>(&mut self, t: &Transfer, deposit: bool, out: &mut S) {
        let reject = |reason| Event::AdminRejected {
            target: AdminTarget::Account(t.account),
            reason,
        };
        if !self.account_exists(t.account) {
            return out.emit(reject(RejectReason::UnknownAccount));
        }
        if !deposit && self.accounts[t.account.0 as usize].suspended {
            return out.emit(reject(RejectReason::AccountSuspended));
        }
        if t.asset.0 as usize >= self.n_assets {
            return out.emit(reject(RejectReason::UnknownAsset));
        }
        let b = self.balances[self.bal_idx(t.account.0, t.asset.0)];
        // The cap bounds deposits only: a withdrawal can only lower the total.
        if t.amount <= 0 || (deposit && t.amount > MAX_BALANCE - (b.available + b.locked)) {
            return out.emit(reject(RejectReason::InvalidAmount));
        }
        if deposit {
            self.ledger(
                t.account.0,
                t.asset.0,
                t.amount,
                0,
                LedgerReason::Deposit,
                t.reference,
                out,
            );
        } else if t.amount > b.available {
            out.emit(reject(RejectReason::InsufficientBalance));
        } else {
            self.ledger(
                t.account.0,
                t.asset.0,
                -t.amount,
                0,
                LedgerReason::Withdrawal,
                t.reference,
                out,
            );
        }
    }

    fn create_account<S: EventSink>(&mut self, account: AccountId, out: &mut S) {
        match self.accounts.get_mut(account.0 as usize) {
            None => out.emit(Event::AdminRejected {
                target: AdminTarget::Account(account),
                reason: RejectReason::InvalidAccount,
            }),
            Some(a) if a.exists => out.emit(Event::AdminRejected {
                target: AdminTarget::Account(account),
                reason: RejectReason::AccountExists,
            }),
            Some(a) => {
                assert!(!a.suspended, "a missing account cannot be suspended");
                a.exists = true;
                out.emit(Event::AccountCreated { account });
            }
        }
    }

    // ----- operator commands ------------------------------------------------------------

    /// HaltSymbol / ResumeSymbol: sets the flag (idempotent) and reports the status.
    fn set_symbol_halted<S: EventSink>(&mut self, symbol: SymbolId, halted: bool, out: &mut S) {
        match self.books.get_mut(symbol.0 as usize) {
            None => out.emit(Event::AdminRejected {
                target: AdminTarget::Symbol(symbol),
                reason: RejectReason::UnknownSymbol,
            }),
            Some(book) => {
                book.halted = halted;
                out.emit(Event::SymbolStatus { symbol, halted });
            }
        }
    }

    /// CreateApiKey: the owner must be an existing client account (not the fee account).
    fn create_api_key<S: EventSink>(&mut self, k: &ApiKey, out: &mut S) {
        let reason = if k.key.0 == 0 || !k.comp_id.is_valid() {
            RejectReason::InvalidApiKey
        } else if !self.account_exists(k.account) {
            RejectReason::UnknownAccount
        } else if k.account == self.cfg.fee_account {
            RejectReason::InvalidAccount
        } else if self.api_keys.iter().any(|x| x.key == k.key) {
            RejectReason::ApiKeyExists
        } else if self.api_keys.len() >= MAX_API_KEYS {
            RejectReason::TooManyApiKeys
        } else {
            self.api_keys.push(*k);
            return out.emit(Event::ApiKeyCreated(*k));
        };
        out.emit(Event::AdminRejected {
            target: AdminTarget::ApiKey(k.key),
            reason,
        });
    }

    /// RevokeApiKey: removes an active key (keeping the others in creation order).
    fn revoke_api_key<S: EventSink>(&mut self, key: ApiKeyId, out: &mut S) {
        match self.api_keys.iter().position(|x| x.key == key) {
            Some(i) => {
                let k = self.api_keys.remove(i);
                out.emit(Event::ApiKeyRevoked {
                    key,
                    account: k.account,
                });
            }
            None => out.emit(Event::AdminRejected {
                target: AdminTarget::ApiKey(key),
                reason: RejectReason::UnknownApiKey,
            }),
        }
    }

    /// SuspendAccount / ResumeAccount: sets the flag (idempotent) and reports the status.
    /// The fee account has no status.
    fn set_account_suspended<S: EventSink>(
        &mut self,
        account: AccountId,
        suspended: bool,
        out: &mut S,
    ) {
        let reason = if !self.account_exists(account) {
            RejectReason::UnknownAccount
        } else if account == self.cfg.fee_account {
            RejectReason::InvalidAccount
        } else {
            self.accounts[account.0 as usize].suspended = suspended;
            return out.emit(Event::AccountStatus { account, suspended });
        };
        out.emit(Event::AdminRejected {
            target: AdminTarget::Account(account),
            reason,
        });
    }
}
