//! Reference model of the engine: an independent, deliberately simple implementation of
//! `engine/SEMANTICS.md`, written from the spec alone (never from `engine/src/engine.rs`).
//!
//! Clarity over speed: books are `BTreeMap<Price, VecDeque<OrderId>>` per side, resting
//! orders live in one `BTreeMap<OrderId, MOrder>`, balances in a `BTreeMap`, and lookups
//! by client id are linear scans. Arithmetic on money goes through `i128` and is checked
//! back into `i64`, so an overflow is a loud panic instead of a silent difference.
//!
//! Code map: this file holds the state, the shared helpers (ledger, book levels, removal,
//! resting) and time/expiry; `orders.rs` holds NewOrder and matching; `cancel.rs` cancel,
//! replace and mass cancel; `admin.rs` deposits, withdrawals and account creation;
//! `operator.rs` halting symbols and suspending accounts.
//! `scenarios.rs` has hand-derived expected event lists that document the spec.
// The model favours the spec's shape over compactness: rich error values, a ledger
// helper with every field spelled out, explicit loops.
#![allow(
    clippy::result_large_err,
    clippy::too_many_arguments,
    clippy::while_let_loop
)]
#![allow(dead_code)]

mod admin;
mod cancel;
mod operator;
mod orders;
pub mod scenarios;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tachyon_engine::{
    AccountId, ApiKey, AssetId, Balance, CancelReason, ClOrdId, Command, CommandKind, EngineConfig,
    Event, InstrumentSpec, LedgerEntry, LedgerReason, OrdType, OrderId, OrderState, OrderView,
    Price, Qty, SessionId, Side, StpMode, SymbolId, Tif,
};

/// A deposit may not take an account's total in an asset above this.
pub const MAX_ACCOUNT_TOTAL: i128 = 1 << 62;

/// An order: resting in a book, or the taker being processed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MOrder {
    pub id: OrderId,
    pub account: AccountId,
    pub session: SessionId,
    pub cl_ord_id: ClOrdId,
    pub symbol: SymbolId,
    pub side: Side,
    pub ord_type: OrdType,
    pub tif: Tif,
    pub post_only: bool,
    pub stp: StpMode,
    /// Limit price, protection price, or 0.
    pub price: Price,
    /// Total quantity (0 for a budget order).
    pub qty: Qty,
    /// Open quantity (always 0 for a budget order).
    pub leaves: Qty,
    pub cum_qty: Qty,
    /// Σ price × qty of fills.
    pub cum_cost: i64,
    /// Funds held by the order; for a budget order the unspent budget.
    pub locked: i64,
    pub expire_ns: u64,
    /// Market buy by quote budget.
    pub budget: bool,
}

impl MOrder {
    pub fn state(&self) -> OrderState {
        OrderState {
            order_id: self.id,
            account: self.account,
            session: self.session,
            symbol: self.symbol,
            side: self.side,
            cl_ord_id: self.cl_ord_id,
            price: self.price,
            qty: self.qty,
            leaves: self.leaves,
            cum_qty: self.cum_qty,
            cum_cost: self.cum_cost,
        }
    }

    pub fn view(&self) -> OrderView {
        OrderView {
            order_id: self.id,
            account: self.account,
            session: self.session,
            cl_ord_id: self.cl_ord_id,
            symbol: self.symbol,
            side: self.side,
            price: self.price,
            qty: self.qty,
            leaves: self.leaves,
            cum_qty: self.cum_qty,
            cum_cost: self.cum_cost,
            locked: self.locked,
            expire_ns: self.expire_ns,
        }
    }
}

/// One instrument's book: price → order ids in time priority.
#[derive(Clone, Debug, Default)]
struct Book {
    bids: BTreeMap<Price, VecDeque<OrderId>>,
    asks: BTreeMap<Price, VecDeque<OrderId>>,
}

impl Book {
    fn side(&self, side: Side) -> &BTreeMap<Price, VecDeque<OrderId>> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<Price, VecDeque<OrderId>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Prices of one side, best first (bids high to low, asks low to high).
    fn prices(&self, side: Side) -> Vec<Price> {
        let mut v: Vec<Price> = self.side(side).keys().copied().collect();
        if side == Side::Buy {
            v.reverse();
        }
        v
    }

    fn best(&self, side: Side) -> Option<Price> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }
}

/// `fee(n, bps) = n × bps / 10_000` truncated toward zero (Rust's `/` on integers).
pub fn fee(n: i64, bps: i32) -> i64 {
    to_i64(n as i128 * bps as i128 / 10_000)
}

fn to_i64(x: i128) -> i64 {
    i64::try_from(x).unwrap_or_else(|_| panic!("model arithmetic overflow: {x}"))
}

/// The reference model. Same shape of API as `tachyon_engine::Engine`.
#[derive(Clone, Debug)]
pub struct Model {
    cfg: EngineConfig,
    now: u64,
    next_order_id: u64,
    next_trade_id: u64,
    accounts: BTreeSet<AccountId>,
    balances: BTreeMap<(AccountId, AssetId), Balance>,
    books: Vec<Book>,
    /// Resting orders only.
    orders: BTreeMap<OrderId, MOrder>,
    /// Symbols halted by the operator.
    halted: BTreeSet<SymbolId>,
    /// Accounts suspended by the operator.
    suspended: BTreeSet<AccountId>,
    /// Active API keys in creation order.
    api_keys: Vec<ApiKey>,
}

impl Model {
    pub fn new(cfg: &EngineConfig) -> Model {
        cfg.validate().expect("model needs a valid config");
        let mut accounts = BTreeSet::new();
        accounts.insert(cfg.fee_account);
        Model {
            cfg: cfg.clone(),
            now: 0,
            next_order_id: 1,
            next_trade_id: 1,
            accounts,
            balances: BTreeMap::new(),
            books: vec![Book::default(); cfg.instruments.len()],
            orders: BTreeMap::new(),
            halted: BTreeSet::new(),
            suspended: BTreeSet::new(),
            api_keys: Vec::new(),
        }
    }

    /// Applies one command and returns its events in order.
    pub fn apply(&mut self, cmd: &Command) -> Vec<Event> {
        let mut out = Vec::new();
        self.now = self.now.max(cmd.ts_ns);
        self.expire(&mut out);
        match &cmd.kind {
            CommandKind::NewOrder(o) => self.new_order(o, &mut out),
            CommandKind::Cancel(c) => self.cancel(c, &mut out),
            CommandKind::Replace(r) => self.replace(r, &mut out),
            CommandKind::MassCancel(m) => self.mass_cancel(m, &mut out),
            CommandKind::Deposit(t) => self.deposit(t, &mut out),
            CommandKind::Withdraw(t) => self.withdraw(t, &mut out),
            CommandKind::CreateAccount { account } => self.create_account(*account, &mut out),
            CommandKind::TimeTick => {}
            CommandKind::HaltSymbol { symbol } => self.set_halted(*symbol, true, &mut out),
            CommandKind::ResumeSymbol { symbol } => self.set_halted(*symbol, false, &mut out),
            CommandKind::SuspendAccount { account } => self.set_suspended(*account, true, &mut out),
            CommandKind::ResumeAccount { account } => self.set_suspended(*account, false, &mut out),
            CommandKind::CreateApiKey(k) => self.create_api_key(k, &mut out),
            CommandKind::RevokeApiKey { key } => self.revoke_api_key(*key, &mut out),
        }
        out
    }

    // ---------------------------------------------------------------- accessors

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn next_order_id(&self) -> u64 {
        self.next_order_id
    }

    pub fn account_exists(&self, account: AccountId) -> bool {
        self.accounts.contains(&account)
    }

    pub fn symbol_halted(&self, symbol: SymbolId) -> bool {
        self.halted.contains(&symbol)
    }

    pub fn account_suspended(&self, account: AccountId) -> bool {
        self.suspended.contains(&account)
    }

    /// Active API keys, in creation order.
    pub fn api_keys(&self) -> &[ApiKey] {
        &self.api_keys
    }

    /// Halted symbols, ascending (for generators).
    pub fn halted_symbols(&self) -> Vec<SymbolId> {
        self.halted.iter().copied().collect()
    }

    /// Suspended accounts, ascending (for generators).
    pub fn suspended_accounts(&self) -> Vec<AccountId> {
        self.suspended.iter().copied().collect()
    }

    pub fn balance(&self, account: AccountId, asset: AssetId) -> Option<Balance> {
        if !self.account_exists(account) || asset.0 as usize >= self.cfg.assets.len() {
            return None;
        }
        Some(self.bal(account, asset))
    }

    /// Resting orders of one side, best price first, time priority within a level.
    pub fn book_orders(&self, symbol: SymbolId, side: Side) -> Vec<OrderView> {
        let Some(book) = self.books.get(symbol.0 as usize) else {
            return Vec::new();
        };
        let mut v = Vec::new();
        for p in book.prices(side) {
            for id in &book.side(side)[&p] {
                v.push(self.orders[id].view());
            }
        }
        v
    }

    /// Aggregated levels `(price, qty, count)` of one side, best first.
    pub fn book_levels(&self, symbol: SymbolId, side: Side) -> Vec<(Price, Qty, u32)> {
        let Some(book) = self.books.get(symbol.0 as usize) else {
            return Vec::new();
        };
        book.prices(side)
            .into_iter()
            .map(|p| {
                let (q, c) = self.level_state(symbol, side, p);
                (p, q, c)
            })
            .collect()
    }

    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// All resting orders in id order (for generators that aim at live orders).
    pub fn resting(&self) -> impl Iterator<Item = &MOrder> {
        self.orders.values()
    }

    /// Self-check of the model's own bookkeeping.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut locked: BTreeMap<(AccountId, AssetId), i64> = BTreeMap::new();
        let mut in_books = 0usize;
        for (s, book) in self.books.iter().enumerate() {
            let sym = SymbolId(s as u16);
            if let (Some(b), Some(a)) = (book.best(Side::Buy), book.best(Side::Sell)) {
                if b >= a {
                    return Err(format!("book {s} crossed: bid {b:?} ask {a:?}"));
                }
            }
            for side in [Side::Buy, Side::Sell] {
                if book.side(side).len() > self.cfg.max_levels_per_side as usize {
                    return Err(format!("book {s} {side:?}: too many levels"));
                }
                for (p, q) in book.side(side) {
                    if q.is_empty() {
                        return Err(format!("book {s} {side:?} {p:?}: empty level kept"));
                    }
                    for id in q {
                        in_books += 1;
                        let o = self
                            .orders
                            .get(id)
                            .ok_or(format!("{id:?} in book, not in orders"))?;
                        if o.symbol != sym || o.side != side || o.price != *p || o.leaves.0 <= 0 {
                            return Err(format!("{id:?} misplaced: {o:?}"));
                        }
                        let want = self.lock_for(o.symbol, o.side, o.price, o.leaves);
                        if o.locked != want {
                            return Err(format!("{id:?} locks {} want {want}", o.locked));
                        }
                        *locked
                            .entry((o.account, self.lock_asset(o.symbol, o.side)))
                            .or_default() += o.locked;
                    }
                }
            }
        }
        if in_books != self.orders.len() || self.orders.len() > self.cfg.max_orders as usize {
            return Err(format!(
                "{} orders, {} in books",
                self.orders.len(),
                in_books
            ));
        }
        for (&(a, asset), b) in &self.balances {
            let want = locked.get(&(a, asset)).copied().unwrap_or(0);
            if b.locked != want || b.available < 0 {
                return Err(format!("{a:?} {asset:?}: {b:?}, orders lock {want}"));
            }
        }
        for a in &self.suspended {
            if !self.accounts.contains(a) || *a == self.cfg.fee_account {
                return Err(format!("{a:?} suspended but missing or the fee account"));
            }
        }
        if let Some(s) = self
            .halted
            .iter()
            .find(|s| s.0 as usize >= self.books.len())
        {
            return Err(format!("unknown {s:?} halted"));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- arithmetic

    fn ins(&self, symbol: SymbolId) -> &InstrumentSpec {
        &self.cfg.instruments[symbol.0 as usize]
    }

    /// `notional(p, q) = p × q × quote_units_per_tick_lot`.
    fn notional(&self, symbol: SymbolId, p: Price, q: Qty) -> i64 {
        to_i64(p.0 as i128 * q.0 as i128 * self.ins(symbol).quote_units_per_tick_lot as i128)
    }

    /// `base(q) = q × base_units_per_lot`.
    fn base_units(&self, symbol: SymbolId, q: Qty) -> i64 {
        to_i64(q.0 as i128 * self.ins(symbol).base_units_per_lot as i128)
    }

    fn r_lock(&self, symbol: SymbolId) -> i32 {
        let i = self.ins(symbol);
        i.maker_fee_bps.max(i.taker_fee_bps).max(0)
    }

    /// `lock_buy(p, q) = notional(p, q) + fee(notional(p, q), r_lock)`.
    fn lock_buy(&self, symbol: SymbolId, p: Price, q: Qty) -> i64 {
        let n = self.notional(symbol, p, q);
        n + fee(n, self.r_lock(symbol))
    }

    /// What an order with `open` lots locks (not for budget orders).
    fn lock_for(&self, symbol: SymbolId, side: Side, price: Price, open: Qty) -> i64 {
        match side {
            Side::Buy => self.lock_buy(symbol, price, open),
            Side::Sell => self.base_units(symbol, open),
        }
    }

    fn lock_asset(&self, symbol: SymbolId, side: Side) -> AssetId {
        match side {
            Side::Buy => self.ins(symbol).quote,
            Side::Sell => self.ins(symbol).base,
        }
    }

    fn bal(&self, account: AccountId, asset: AssetId) -> Balance {
        self.balances
            .get(&(account, asset))
            .copied()
            .unwrap_or_default()
    }

    // ---------------------------------------------------------------- shared steps

    /// Applies a balance change and emits its ledger entry (never an all-zero one).
    fn ledger(
        &mut self,
        out: &mut Vec<Event>,
        account: AccountId,
        asset: AssetId,
        delta_available: i64,
        delta_locked: i64,
        reason: LedgerReason,
        reference: u64,
    ) {
        if delta_available == 0 && delta_locked == 0 {
            return;
        }
        let b = self.balances.entry((account, asset)).or_default();
        b.available = b
            .available
            .checked_add(delta_available)
            .expect("available overflow");
        b.locked = b.locked.checked_add(delta_locked).expect("locked overflow");
        assert!(
            b.available >= 0 && b.locked >= 0,
            "model: negative balance {b:?} of {account:?} {asset:?} ({reason:?} ref {reference})"
        );
        out.push(Event::Ledger(LedgerEntry {
            account,
            asset,
            delta_available,
            delta_locked,
            available_after: b.available,
            locked_after: b.locked,
            reason,
            reference,
        }));
    }

    /// Releases an order's whole lock (`Ledger(OrderUnlock)`, omitted if nothing is locked).
    fn unlock_all(&mut self, out: &mut Vec<Event>, o: &mut MOrder) {
        let asset = self.lock_asset(o.symbol, o.side);
        let amount = o.locked;
        o.locked = 0;
        self.ledger(
            out,
            o.account,
            asset,
            amount,
            -amount,
            LedgerReason::OrderUnlock,
            o.id.0,
        );
    }

    /// Moves an order's lock to `new_lock`: `OrderLock` if it grows, `OrderUnlock` if it
    /// shrinks, nothing if equal.
    fn relock(&mut self, out: &mut Vec<Event>, o: &mut MOrder, new_lock: i64) {
        let asset = self.lock_asset(o.symbol, o.side);
        let diff = new_lock - o.locked;
        let reason = if diff > 0 {
            LedgerReason::OrderLock
        } else {
            LedgerReason::OrderUnlock
        };
        o.locked = new_lock;
        self.ledger(out, o.account, asset, -diff, diff, reason, o.id.0);
    }

    /// `(total open qty, order count)` of a level; `(0, 0)` if it does not exist.
    fn level_state(&self, symbol: SymbolId, side: Side, price: Price) -> (Qty, u32) {
        match self.books[symbol.0 as usize].side(side).get(&price) {
            None => (Qty(0), 0),
            Some(q) => {
                let total: i64 = q.iter().map(|id| self.orders[id].leaves.0).sum();
                (Qty(total), q.len() as u32)
            }
        }
    }

    fn emit_level(&self, out: &mut Vec<Event>, symbol: SymbolId, side: Side, price: Price) {
        let (qty, count) = self.level_state(symbol, side, price);
        out.push(Event::BookLevel {
            symbol,
            side,
            price,
            qty,
            count,
        });
    }

    /// Takes a resting order out of its level (dropping the level if it empties) and out of
    /// the order map. No events.
    fn take_from_book(&mut self, id: OrderId) -> MOrder {
        let o = self
            .orders
            .remove(&id)
            .expect("take_from_book: not resting");
        let levels = self.books[o.symbol.0 as usize].side_mut(o.side);
        let q = levels.get_mut(&o.price).expect("order's level missing");
        let pos = q
            .iter()
            .position(|x| *x == id)
            .expect("order missing from its level");
        q.remove(pos);
        if q.is_empty() {
            levels.remove(&o.price);
        }
        o
    }

    /// Removal of a resting order: `OrderCanceled`, then `BookLevel` (unless folded into a
    /// match's level update), then `Ledger(OrderUnlock)` of its whole lock.
    fn remove_resting(
        &mut self,
        out: &mut Vec<Event>,
        id: OrderId,
        reason: CancelReason,
        request_cl_ord_id: ClOrdId,
        emit_level: bool,
    ) {
        let mut o = self.take_from_book(id);
        let canceled_qty = o.leaves;
        o.leaves = Qty(0);
        out.push(Event::OrderCanceled {
            state: o.state(),
            canceled_qty,
            reason,
            request_cl_ord_id,
        });
        if emit_level {
            self.emit_level(out, o.symbol, o.side, o.price);
        }
        self.unlock_all(out, &mut o);
    }

    /// Puts an order at the tail of its price level (creating the level) and emits the
    /// level. Capacity was checked before.
    fn rest(&mut self, out: &mut Vec<Event>, o: MOrder) {
        assert!(o.leaves.0 > 0 && !o.budget && o.ord_type == OrdType::Limit);
        assert!(
            self.orders.len() < self.cfg.max_orders as usize,
            "model: rest over max_orders"
        );
        let (symbol, side, price, id) = (o.symbol, o.side, o.price, o.id);
        let levels = self.books[symbol.0 as usize].side_mut(side);
        levels.entry(price).or_default().push_back(id);
        assert!(
            levels.len() <= self.cfg.max_levels_per_side as usize,
            "model: too many levels"
        );
        self.orders.insert(id, o);
        self.emit_level(out, symbol, side, price);
    }

    /// The account's resting order with this (non-empty) client id.
    fn find_by_cl(&self, account: AccountId, cl: ClOrdId) -> Option<&MOrder> {
        if cl.is_empty() {
            return None;
        }
        self.orders
            .values()
            .find(|o| o.account == account && o.cl_ord_id == cl)
    }

    /// Would a post-only order at `price` on `side` take liquidity?
    fn crosses(&self, symbol: SymbolId, side: Side, price: Price) -> bool {
        let book = &self.books[symbol.0 as usize];
        match side {
            Side::Buy => book.best(Side::Sell).is_some_and(|a| a <= price),
            Side::Sell => book.best(Side::Buy).is_some_and(|b| b >= price),
        }
    }

    /// Expires GTD orders with `expire_ns <= now`, ascending `(expire_ns, order_id)`.
    fn expire(&mut self, out: &mut Vec<Event>) {
        let mut due: Vec<(u64, OrderId)> = self
            .orders
            .values()
            .filter(|o| o.tif == Tif::Gtd && o.expire_ns <= self.now)
            .map(|o| (o.expire_ns, o.id))
            .collect();
        due.sort();
        for (_, id) in due {
            self.remove_resting(out, id, CancelReason::Expired, ClOrdId::EMPTY, true);
        }
    }
}
