//! NewOrder: checks, lock, FOK dry run, matching, and the end of a taker (SEMANTICS.md
//! "NewOrder" and "Matching"). Replace re-entry reuses `take` (step 3 on).

use super::{MOrder, Model};
use tachyon_engine::{
    CancelReason, ClOrdId, Event, Fill, LedgerReason, NewOrder, OrdType, OrderId, Price, Qty,
    RejectReason, Side, StpMode, Tif, Trade,
};

/// How matching ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchEnd {
    /// Book exhausted, price no longer acceptable, taker filled, or budget spent.
    Normal,
    /// Self-trade prevention stopped matching (CancelNewest, CancelBoth, Decrement on a
    /// budget order); the taker is canceled with reason SelfTrade.
    StpStopped,
    /// Decrement reduced the taker to zero; it was already canceled.
    TakerFinished,
}

fn is_budget(o: &NewOrder) -> bool {
    o.ord_type == OrdType::Market && o.quote_budget > 0
}

impl Model {
    pub(super) fn new_order(&mut self, o: &NewOrder, out: &mut Vec<Event>) {
        if let Err(reason) = self.check_new_order(o) {
            out.push(Event::OrderRejected { order: *o, reason });
            return;
        }
        let id = OrderId(self.next_order_id);
        self.next_order_id += 1;
        let budget = is_budget(o);
        let lock = self.new_order_lock(o);
        let mut t = MOrder {
            id,
            account: o.account,
            session: o.session,
            cl_ord_id: o.cl_ord_id,
            symbol: o.symbol,
            side: o.side,
            ord_type: o.ord_type,
            tif: o.tif,
            post_only: o.post_only,
            stp: o.stp,
            price: o.price,
            qty: o.qty,
            leaves: if budget { Qty(0) } else { o.qty },
            cum_qty: Qty(0),
            cum_cost: 0,
            locked: 0,
            expire_ns: o.expire_ns,
            budget,
        };
        out.push(Event::OrderAccepted {
            order_id: id,
            order: *o,
        });
        self.relock(out, &mut t, lock); // Ledger(OrderLock) of the lock.

        if o.tif == Tif::Fok && self.fok_available(&t) < t.leaves.0 {
            let canceled_qty = t.leaves;
            t.leaves = Qty(0);
            out.push(Event::OrderCanceled {
                state: t.state(),
                canceled_qty,
                reason: CancelReason::Fok,
                request_cl_ord_id: ClOrdId::EMPTY,
            });
            self.unlock_all(out, &mut t);
            return;
        }
        self.take(t, out);
    }

    /// Checks 1–9 of NewOrder; the first failure wins.
    fn check_new_order(&self, o: &NewOrder) -> Result<(), RejectReason> {
        use RejectReason::*;
        if !self.account_exists(o.account) {
            return Err(UnknownAccount);
        }
        if self.account_suspended(o.account) {
            return Err(AccountSuspended);
        }
        let Some(ins) = self.cfg.instruments.get(o.symbol.0 as usize) else {
            return Err(UnknownSymbol);
        };
        if self.symbol_halted(o.symbol) {
            return Err(SymbolHalted);
        }
        if !o.cl_ord_id.is_empty() && self.find_by_cl(o.account, o.cl_ord_id).is_some() {
            return Err(DuplicateClOrdId);
        }
        // 4. shape
        let in_band = |p: Price| (ins.min_price_ticks..=ins.max_price_ticks).contains(&p.0);
        let budget = is_budget(o);
        match o.ord_type {
            OrdType::Limit => {
                if o.quote_budget != 0 {
                    return Err(InvalidQuantity);
                }
                if !in_band(o.price) {
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
                if o.price.0 != 0 && !in_band(o.price) {
                    return Err(PriceOutOfBand);
                }
                if o.quote_budget < 0 {
                    return Err(InvalidQuantity);
                }
                if o.quote_budget > 0 && (o.side == Side::Sell || o.qty.0 != 0) {
                    return Err(InvalidQuantity);
                }
                if o.quote_budget > 0 && o.tif != Tif::Ioc {
                    return Err(InvalidTimeInForce);
                }
                if o.side == Side::Buy && o.quote_budget == 0 && o.price.0 == 0 {
                    return Err(MarketBuyNeedsBudgetOrProtection);
                }
            }
        }
        if !budget {
            if o.qty.0 < 1 || o.qty.0 > ins.max_qty_lots {
                return Err(InvalidQuantity);
            }
            if o.qty.0 < ins.min_qty_lots {
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
        if o.ord_type == OrdType::Limit
            && self.notional(o.symbol, o.price, o.qty) < ins.min_notional_quote_units
        {
            return Err(BelowMinNotional);
        }
        if budget && o.quote_budget < ins.min_notional_quote_units {
            return Err(BelowMinNotional);
        }
        // 5. post-only
        if o.post_only && self.crosses(o.symbol, o.side, o.price) {
            return Err(PostOnlyWouldCross);
        }
        // 6. capacity, for an order that may rest
        if o.ord_type == OrdType::Limit && matches!(o.tif, Tif::Gtc | Tif::Gtd) {
            let levels = self.books[o.symbol.0 as usize].side(o.side);
            if self.orders.len() >= self.cfg.max_orders as usize
                || (!levels.contains_key(&o.price)
                    && levels.len() >= self.cfg.max_levels_per_side as usize)
            {
                return Err(CapacityExceeded);
            }
        }
        // 7. balance
        let asset = self.lock_asset(o.symbol, o.side);
        if self.new_order_lock(o) > self.bal(o.account, asset).available {
            return Err(InsufficientBalance);
        }
        Ok(())
    }

    /// What a new (valid) order locks.
    fn new_order_lock(&self, o: &NewOrder) -> i64 {
        if is_budget(o) {
            o.quote_budget
        } else {
            self.lock_for(o.symbol, o.side, o.price, o.qty)
        }
    }

    /// May the taker trade at this maker price?
    fn acceptable(t: &MOrder, p: Price) -> bool {
        if t.ord_type == OrdType::Market && t.price.0 == 0 {
            return true;
        }
        match t.side {
            Side::Buy => p <= t.price,
            Side::Sell => p >= t.price,
        }
    }

    /// FOK dry run: open quantity reachable in priority order over acceptable prices; an
    /// order of the same account is skipped under CancelOldest and ends the walk otherwise.
    fn fok_available(&self, t: &MOrder) -> i64 {
        let book = &self.books[t.symbol.0 as usize];
        let opp = t.side.opposite();
        let mut sum = 0i64;
        for p in book.prices(opp) {
            if !Self::acceptable(t, p) {
                break;
            }
            for id in &book.side(opp)[&p] {
                let m = &self.orders[id];
                if m.account == t.account {
                    if t.stp == StpMode::CancelOldest {
                        continue;
                    }
                    return sum;
                }
                sum += m.leaves.0;
            }
        }
        sum
    }

    /// Does the taker still have something to trade with? For a budget order: unspent
    /// budget (see the report: the spec's "open quantity" is read as budget > 0).
    fn taker_has_open(t: &MOrder) -> bool {
        if t.budget {
            t.locked > 0
        } else {
            t.leaves.0 > 0
        }
    }

    /// NewOrder steps 3 and 4: match, then cancel the rest or let it rest.
    pub(super) fn take(&mut self, mut t: MOrder, out: &mut Vec<Event>) {
        let end = self.match_taker(&mut t, out);
        if end == MatchEnd::TakerFinished {
            return;
        }
        if !t.budget && t.leaves.0 == 0 {
            debug_assert_eq!(t.locked, 0);
            return; // filled
        }
        let reason = if end == MatchEnd::StpStopped {
            Some(CancelReason::SelfTrade)
        } else if t.ord_type == OrdType::Market || matches!(t.tif, Tif::Ioc | Tif::Fok) || t.budget
        {
            Some(CancelReason::Ioc)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                let canceled_qty = t.leaves;
                t.leaves = Qty(0);
                out.push(Event::OrderCanceled {
                    state: t.state(),
                    canceled_qty,
                    reason,
                    request_cl_ord_id: ClOrdId::EMPTY,
                });
                self.unlock_all(out, &mut t);
            }
            None => self.rest(out, t),
        }
    }

    /// The matching loop (SEMANTICS.md "Matching").
    fn match_taker(&mut self, t: &mut MOrder, out: &mut Vec<Event>) -> MatchEnd {
        let opp = t.side.opposite();
        let sym = t.symbol;
        loop {
            if !Self::taker_has_open(t) {
                return MatchEnd::Normal;
            }
            let Some(price) = self.books[sym.0 as usize].best(opp) else {
                return MatchEnd::Normal;
            };
            if !Self::acceptable(t, price) {
                return MatchEnd::Normal;
            }
            // Walk this level's makers in time order.
            let mut touched = false;
            let mut stop: Option<MatchEnd> = None;
            // Makers are always taken from the head of the level.
            let pos = 0usize;
            loop {
                let Some(mid) = self.books[sym.0 as usize]
                    .side(opp)
                    .get(&price)
                    .and_then(|q| q.get(pos).copied())
                else {
                    break; // level empty (or walked to its end)
                };
                let maker_account = self.orders[&mid].account;
                if maker_account == t.account {
                    let mode = if t.stp == StpMode::Decrement && t.budget {
                        StpMode::CancelNewest
                    } else {
                        t.stp
                    };
                    match mode {
                        StpMode::CancelNewest => {
                            stop = Some(MatchEnd::StpStopped);
                            break;
                        }
                        StpMode::CancelOldest => {
                            self.remove_resting(
                                out,
                                mid,
                                CancelReason::SelfTrade,
                                ClOrdId::EMPTY,
                                false,
                            );
                            touched = true;
                            continue;
                        }
                        StpMode::CancelBoth => {
                            self.remove_resting(
                                out,
                                mid,
                                CancelReason::SelfTrade,
                                ClOrdId::EMPTY,
                                false,
                            );
                            touched = true;
                            stop = Some(MatchEnd::StpStopped);
                            break;
                        }
                        StpMode::Decrement => {
                            touched = true;
                            if self.decrement(t, mid, out) {
                                stop = Some(MatchEnd::TakerFinished);
                                break;
                            }
                            continue;
                        }
                    }
                }
                // A fill.
                let maker_open = self.orders[&mid].leaves;
                let q = if t.budget {
                    Qty(maker_open.0.min(self.affordable_lots(t, price, maker_open)))
                } else {
                    Qty(t.leaves.0.min(maker_open.0))
                };
                if q.0 == 0 {
                    stop = Some(MatchEnd::Normal);
                    break;
                }
                self.fill(t, mid, q, out);
                touched = true;
                if !Self::taker_has_open(t) {
                    stop = Some(MatchEnd::Normal);
                    break;
                }
            }
            if touched {
                self.emit_level(out, sym, opp, price);
            }
            if let Some(end) = stop {
                return end;
            }
        }
    }

    /// Most lots (≤ `cap`) whose notional + taker fee fits the taker's unspent budget.
    fn affordable_lots(&self, t: &MOrder, price: Price, cap: Qty) -> i64 {
        let taker_bps = self.ins(t.symbol).taker_fee_bps;
        let cost = |l: i64| {
            let n = self.notional(t.symbol, price, Qty(l));
            n + super::fee(n, taker_bps)
        };
        // Binary search the largest l in [0, cap] with cost(l) <= budget (cost is monotone).
        let (mut lo, mut hi) = (0i64, cap.0);
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if cost(mid) <= t.locked {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// STP Decrement between taker `t` and same-account maker `mid`. Returns true if the
    /// taker was reduced to zero (and canceled).
    fn decrement(&mut self, t: &mut MOrder, mid: OrderId, out: &mut Vec<Event>) -> bool {
        let maker_open = self.orders[&mid].leaves;
        let d = Qty(t.leaves.0.min(maker_open.0));
        // Maker first.
        if maker_open == d {
            self.remove_resting(out, mid, CancelReason::SelfTrade, ClOrdId::EMPTY, false);
        } else {
            let mut m = self.orders.remove(&mid).unwrap();
            // Reading of the spec (see report): a reduction shrinks the total quantity
            // too, so qty = cum_qty + leaves keeps holding (as in a FIX restatement).
            m.leaves = Qty(m.leaves.0 - d.0);
            m.qty = Qty(m.qty.0 - d.0);
            out.push(Event::OrderReduced {
                state: m.state(),
                reduced_by: d,
            });
            let new_lock = self.lock_for(m.symbol, m.side, m.price, m.leaves);
            self.relock(out, &mut m, new_lock);
            self.orders.insert(mid, m);
        }
        // Then the taker.
        if t.leaves == d {
            t.leaves = Qty(0);
            out.push(Event::OrderCanceled {
                state: t.state(),
                canceled_qty: d,
                reason: CancelReason::SelfTrade,
                request_cl_ord_id: ClOrdId::EMPTY,
            });
            self.unlock_all(out, t);
            true
        } else {
            t.leaves = Qty(t.leaves.0 - d.0);
            t.qty = Qty(t.qty.0 - d.0);
            out.push(Event::OrderReduced {
                state: t.state(),
                reduced_by: d,
            });
            let new_lock = self.lock_for(t.symbol, t.side, t.price, t.leaves);
            self.relock(out, t, new_lock);
            false
        }
    }

    /// A fill of `q` lots between taker `t` and maker `mid` at the maker's price: `Trade`,
    /// then the four `Ledger(Trade)` entries, then `Ledger(Fee)`.
    fn fill(&mut self, t: &mut MOrder, mid: OrderId, q: Qty, out: &mut Vec<Event>) {
        let mut m = self.orders.remove(&mid).unwrap();
        let sym = t.symbol;
        let p = m.price;
        let n = self.notional(sym, p, q);
        let (maker_bps, taker_bps) = {
            let i = self.ins(sym);
            (i.maker_fee_bps, i.taker_fee_bps)
        };
        let maker_fee = super::fee(n, maker_bps);
        let taker_fee = super::fee(n, taker_bps);
        let cost = p.0 * q.0;

        m.leaves = Qty(m.leaves.0 - q.0);
        m.cum_qty = Qty(m.cum_qty.0 + q.0);
        m.cum_cost += cost;
        if !t.budget {
            t.leaves = Qty(t.leaves.0 - q.0);
        }
        t.cum_qty = Qty(t.cum_qty.0 + q.0);
        t.cum_cost += cost;

        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let fill_of = |o: &MOrder, fee: i64| Fill {
            order_id: o.id,
            account: o.account,
            session: o.session,
            cl_ord_id: o.cl_ord_id,
            leaves: o.leaves,
            cum_qty: o.cum_qty,
            cum_cost: o.cum_cost,
            fee,
        };
        out.push(Event::Trade(Trade {
            trade_id,
            symbol: sym,
            price: p,
            qty: q,
            taker_side: t.side,
            maker: fill_of(&m, maker_fee),
            taker: fill_of(t, taker_fee),
        }));

        let (quote, base) = {
            let i = self.ins(sym);
            (i.quote, i.base)
        };
        let base_q = self.base_units(sym, q);
        let (buyer, seller, buyer_fee, seller_fee) = match t.side {
            Side::Buy => (&mut *t, &mut m, taker_fee, maker_fee),
            Side::Sell => (&mut m, &mut *t, maker_fee, taker_fee),
        };
        // Buyer quote: pays n + fee out of its lock; the excess lock goes back.
        let pay = n + buyer_fee;
        let new_lock = if buyer.budget {
            buyer.locked - pay
        } else {
            self.lock_buy(sym, buyer.price, buyer.leaves)
        };
        let excess = buyer.locked - pay - new_lock;
        assert!(excess >= 0, "model: buyer lock too small (excess {excess})");
        buyer.locked = new_lock;
        let (buyer_acct, buyer_id) = (buyer.account, buyer.id);
        self.ledger(
            out,
            buyer_acct,
            quote,
            excess,
            -(pay + excess),
            LedgerReason::Trade,
            trade_id,
        );
        // Buyer base.
        self.ledger(
            out,
            buyer_acct,
            base,
            base_q,
            0,
            LedgerReason::Trade,
            trade_id,
        );
        // Seller base, out of its lock.
        seller.locked -= base_q;
        assert!(seller.locked >= 0);
        let seller_acct = seller.account;
        self.ledger(
            out,
            seller_acct,
            base,
            0,
            -base_q,
            LedgerReason::Trade,
            trade_id,
        );
        // Seller quote.
        self.ledger(
            out,
            seller_acct,
            quote,
            n - seller_fee,
            0,
            LedgerReason::Trade,
            trade_id,
        );
        // Fees.
        let fee_account = self.cfg.fee_account;
        self.ledger(
            out,
            fee_account,
            quote,
            buyer_fee + seller_fee,
            0,
            LedgerReason::Fee,
            trade_id,
        );
        let _ = buyer_id;

        // A filled maker leaves the book without a cancel event.
        if m.leaves.0 == 0 {
            assert_eq!(m.locked, 0);
            self.orders.insert(mid, m);
            self.take_from_book(mid);
        } else {
            self.orders.insert(mid, m);
        }
    }
}
