//! Cancel, Replace and MassCancel (SEMANTICS.md "Cancel", "Replace", "MassCancel").

use super::{MOrder, Model};
use tachyon_engine::{
    AccountId, CancelOrder, CancelReason, ClOrdId, Event, MassCancel, MassCancelScope, OrderId,
    OrderRef, Qty, RejectReason, ReplaceOrder, SymbolId,
};

/// Why a cancel/replace target check failed, with the order when one was found.
type TargetError = (RejectReason, Option<MOrder>);

impl Model {
    /// Cancel checks 1–4.
    fn check_target(
        &self,
        account: AccountId,
        symbol: SymbolId,
        target: OrderRef,
    ) -> Result<OrderId, TargetError> {
        if !self.account_exists(account) {
            return Err((RejectReason::UnknownAccount, None));
        }
        let found = match target {
            OrderRef::Id(id) => self.orders.get(&id),
            OrderRef::ClOrdId(cl) => self.find_by_cl(account, cl),
        };
        let Some(o) = found else {
            return Err((RejectReason::UnknownOrder, None));
        };
        if o.account != account {
            // Never reveal another account's order.
            return Err((RejectReason::NotOwner, None));
        }
        if o.symbol != symbol {
            return Err((RejectReason::UnknownOrder, Some(o.clone())));
        }
        Ok(o.id)
    }

    #[allow(clippy::too_many_arguments)]
    fn cancel_rejected(
        out: &mut Vec<Event>,
        account: AccountId,
        symbol: SymbolId,
        target: OrderRef,
        cl_ord_id: ClOrdId,
        found: Option<&MOrder>,
        is_replace: bool,
        reason: RejectReason,
    ) {
        out.push(Event::CancelRejected {
            account,
            symbol,
            target,
            cl_ord_id,
            order_id: found.map_or(OrderId(0), |o| o.id),
            order_cl_ord_id: found.map_or(ClOrdId::EMPTY, |o| o.cl_ord_id),
            leaves: found.map_or(Qty(0), |o| o.leaves),
            cum_qty: found.map_or(Qty(0), |o| o.cum_qty),
            is_replace,
            reason,
        });
    }

    pub(super) fn cancel(&mut self, c: &CancelOrder, out: &mut Vec<Event>) {
        match self.check_target(c.account, c.symbol, c.target) {
            Err((reason, found)) => Self::cancel_rejected(
                out,
                c.account,
                c.symbol,
                c.target,
                c.cl_ord_id,
                found.as_ref(),
                false,
                reason,
            ),
            Ok(id) => self.remove_resting(out, id, CancelReason::UserRequest, c.cl_ord_id, true),
        }
    }

    /// Replace checks after Cancel's 1–4. Returns the new lock on success.
    fn check_replace(&self, r: &ReplaceOrder, o: &MOrder) -> Result<i64, RejectReason> {
        use RejectReason::*;
        // Operator status first: the requester (= owner after check 3), then the symbol
        // of the request (= the order's after check 4).
        if self.account_suspended(r.account) {
            return Err(AccountSuspended);
        }
        if self.symbol_halted(r.symbol) {
            return Err(SymbolHalted);
        }
        let ins = self.ins(o.symbol);
        if !(ins.min_price_ticks..=ins.max_price_ticks).contains(&r.price.0) {
            return Err(PriceOutOfBand);
        }
        if r.qty.0 < 1 || r.qty.0 > ins.max_qty_lots || r.qty.0 <= o.cum_qty.0 {
            return Err(InvalidQuantity);
        }
        if r.qty.0 < ins.min_qty_lots {
            return Err(BelowMinQty);
        }
        if self.notional(o.symbol, r.price, r.qty) < ins.min_notional_quote_units {
            return Err(BelowMinNotional);
        }
        if !r.cl_ord_id.is_empty()
            && r.cl_ord_id != o.cl_ord_id
            && self
                .find_by_cl(o.account, r.cl_ord_id)
                .is_some_and(|x| x.id != o.id)
        {
            return Err(DuplicateClOrdId);
        }
        if o.post_only && self.crosses(o.symbol, o.side, r.price) {
            return Err(PostOnlyWouldCross);
        }
        if r.price != o.price {
            let levels = self.books[o.symbol.0 as usize].side(o.side);
            let alone = levels[&o.price].len() == 1;
            let counted = levels.len() - usize::from(alone);
            if !levels.contains_key(&r.price) && counted >= self.cfg.max_levels_per_side as usize {
                return Err(CapacityExceeded);
            }
        }
        let new_open = Qty(r.qty.0 - o.cum_qty.0);
        let new_lock = self.lock_for(o.symbol, o.side, r.price, new_open);
        let available = self
            .bal(o.account, self.lock_asset(o.symbol, o.side))
            .available;
        if new_lock as i128 > o.locked as i128 + available as i128 {
            return Err(InsufficientBalance);
        }
        Ok(new_lock)
    }

    pub(super) fn replace(&mut self, r: &ReplaceOrder, out: &mut Vec<Event>) {
        let checked = self
            .check_target(r.account, r.symbol, r.target)
            .and_then(|id| {
                let o = self.orders[&id].clone();
                match self.check_replace(r, &o) {
                    Ok(lock) => Ok((o, lock)),
                    Err(e) => Err((e, Some(o))),
                }
            });
        let (old, new_lock) = match checked {
            Ok(x) => x,
            Err((reason, found)) => {
                Self::cancel_rejected(
                    out,
                    r.account,
                    r.symbol,
                    r.target,
                    r.cl_ord_id,
                    found.as_ref(),
                    true,
                    reason,
                );
                return;
            }
        };
        let orig_cl_ord_id = old.cl_ord_id;
        let new_open = Qty(r.qty.0 - old.cum_qty.0);
        let keeps = r.price == old.price && new_open.0 <= old.leaves.0;
        if keeps {
            let o = self.orders.get_mut(&old.id).unwrap();
            if !r.cl_ord_id.is_empty() {
                o.cl_ord_id = r.cl_ord_id;
            }
            o.qty = r.qty;
            o.leaves = new_open;
            let state = o.state();
            out.push(Event::OrderReplaced {
                state,
                orig_cl_ord_id,
                kept_priority: true,
            });
            self.emit_level(out, old.symbol, old.side, old.price);
            let mut o = self.orders.remove(&old.id).unwrap();
            self.relock(out, &mut o, new_lock);
            self.orders.insert(o.id, o);
        } else {
            let mut o = self.take_from_book(old.id);
            if !r.cl_ord_id.is_empty() {
                o.cl_ord_id = r.cl_ord_id;
            }
            o.price = r.price;
            o.qty = r.qty;
            o.leaves = new_open;
            out.push(Event::OrderReplaced {
                state: o.state(),
                orig_cl_ord_id,
                kept_priority: false,
            });
            self.emit_level(out, old.symbol, old.side, old.price);
            self.relock(out, &mut o, new_lock);
            self.take(o, out);
        }
    }

    pub(super) fn mass_cancel(&mut self, m: &MassCancel, out: &mut Vec<Event>) {
        if !self.account_exists(m.account) {
            out.push(Event::MassCancelReport {
                account: m.account,
                scope: m.scope,
                cl_ord_id: m.cl_ord_id,
                canceled: 0,
                reject: Some(RejectReason::UnknownAccount),
            });
            return;
        }
        // Every order rests in the command that created it and keeps its id across
        // replaces, so "the order they first came to rest" is ascending order id.
        let ids: Vec<OrderId> = self
            .orders
            .values()
            .filter(|o| {
                o.account == m.account
                    && match m.scope {
                        MassCancelScope::Account => true,
                        MassCancelScope::Symbol(s) => o.symbol == s,
                        MassCancelScope::Session(s) => o.session == s,
                    }
            })
            .map(|o| o.id)
            .collect();
        for &id in &ids {
            self.remove_resting(out, id, CancelReason::MassCancel, m.cl_ord_id, true);
        }
        out.push(Event::MassCancelReport {
            account: m.account,
            scope: m.scope,
            cl_ord_id: m.cl_ord_id,
            canceled: ids.len() as u32,
            reject: None,
        });
    }
}
