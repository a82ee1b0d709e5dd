//! Engine events → FIX replies (ExecutionReport 8, OrderCancelReject 9,
//! OrderMassCancelReport r), and the gateway's cache of open orders that answers
//! OrderStatusRequest (H) and OrderMassStatusRequest (AF) without asking the matcher.

use std::collections::HashMap;

use tachyon_engine::{
    AccountId, CancelReason, ClOrdId, Event, MassCancelScope, OrdType, OrderRef, RejectReason,
    Side, SymbolId,
};

use super::bridge::Markets;
use crate::codec::encode::MessageWriter;

/// A reply to encode: where it goes and what it says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Er<'x> {
    pub order_id: u64,
    pub cl_ord_id: &'x [u8],
    pub orig_cl_ord_id: Option<&'x [u8]>,
    pub exec_id: ExecId,
    pub exec_type: u8,
    pub ord_status: u8,
    pub account: u32,
    pub symbol: SymbolId,
    pub side: Side,
    pub ord_type: Option<OrdType>,
    /// Limit price in ticks (0 = none).
    pub price: i64,
    /// Total order quantity in lots (0 = unknown, e.g. a quote-budget order).
    pub order_qty: i64,
    pub leaves: i64,
    pub cum_qty: i64,
    pub cum_cost: i64,
    /// (price ticks, qty lots) of this fill.
    pub last: Option<(i64, i64)>,
    /// Fee of this fill in quote units, with LastLiquidityInd (1 maker, 2 taker).
    pub fee: Option<(i64, u8)>,
    pub ord_rej_reason: Option<u32>,
    pub text: Option<&'x str>,
    pub transact_ns: u64,
    /// OrderMassStatusRequest context: (MassStatusReqID, TotNumReports, last).
    pub mass_status: Option<(&'x [u8], u32, bool)>,
}

impl<'x> Er<'x> {
    /// A report about an order in `state` (cancel, reduce, replace): the order's own
    /// fields; the caller adjusts what differs (ids, status, text).
    fn of_state(
        state: &'x tachyon_engine::OrderState,
        exec_id: ExecId,
        exec_type: u8,
        ord_type: Option<OrdType>,
        transact_ns: u64,
    ) -> Er<'x> {
        Er {
            order_id: state.order_id.0,
            cl_ord_id: state.cl_ord_id.as_bytes(),
            orig_cl_ord_id: None,
            exec_id,
            exec_type,
            ord_status: if state.cum_qty.0 > 0 { b'1' } else { b'0' },
            account: state.account.0,
            symbol: state.symbol,
            side: state.side,
            ord_type,
            price: state.price.0,
            order_qty: state.qty.0,
            leaves: state.leaves.0,
            cum_qty: state.cum_qty.0,
            cum_cost: state.cum_cost,
            last: None,
            fee: None,
            ord_rej_reason: None,
            text: None,
            transact_ns,
            mass_status: None,
        }
    }
}

/// ExecID(17): engine-caused reports are numbered `cmd_seq × 2^20 + n` (unique and
/// increasing across restarts: command sequences are contiguous and never reused);
/// gateway-local replies (rejects before the engine, status reports) carry `G` + a
/// counter seeded from the wall clock at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExecId {
    Engine(u64),
    Local(u64),
}

impl ExecId {
    pub fn engine(cmd_seq: u64, n: u32) -> ExecId {
        ExecId::Engine((cmd_seq << 20) | u64::from(n & 0xF_FFFF))
    }
}

/// Writes ExecutionReport fields (body only).
pub(crate) fn write_er(w: &mut MessageWriter<'_>, markets: &Markets, r: &Er<'_>) {
    let m = markets.get(r.symbol).expect("event symbol exists");
    if r.order_id == 0 {
        w.field(37, b"NONE");
    } else {
        w.field_uint(37, r.order_id);
    }
    w.field(
        11,
        if r.cl_ord_id.is_empty() {
            b"NONE"
        } else {
            r.cl_ord_id
        },
    );
    if let Some(o) = r.orig_cl_ord_id {
        if !o.is_empty() {
            w.field(41, o);
        }
    }
    match r.exec_id {
        ExecId::Engine(n) => w.field_uint(17, n),
        ExecId::Local(n) => {
            let mut b = [0u8; 21];
            b[0] = b'G';
            let len = write_u64(n, &mut b[1..]);
            w.field(17, &b[..1 + len])
        }
    };
    w.field(150, &[r.exec_type]).field(39, &[r.ord_status]);
    if let Some((id, total, last)) = r.mass_status {
        w.field(584, id).field_uint(911, u64::from(total));
        w.field_bool(912, last);
    }
    w.field_uint(1, u64::from(r.account))
        .field(55, m.symbol.as_bytes())
        .field(54, if r.side == Side::Buy { b"1" } else { b"2" });
    if let Some(t) = r.ord_type {
        w.field(40, if t == OrdType::Limit { b"2" } else { b"1" });
    }
    if r.price > 0 {
        w.field_steps(44, r.price, &m.price);
    }
    if r.order_qty > 0 {
        w.field_steps(38, r.order_qty, &m.qty);
    }
    if let Some((px, qty)) = r.last {
        w.field_steps(31, px, &m.price).field_steps(32, qty, &m.qty);
    }
    w.field_steps(151, r.leaves, &m.qty)
        .field_steps(14, r.cum_qty, &m.qty);
    let mut avg = [0u8; 48];
    let n = m.price.write_ratio(r.cum_cost, r.cum_qty, &mut avg);
    w.field(6, &avg[..n]);
    if let Some((fee, liq)) = r.fee {
        w.field_steps(12, fee, &m.quote_units)
            .field(13, b"3")
            .field(479, m.quote_code.as_bytes())
            .field(851, &[b'0' + liq]);
    }
    if let Some(code) = r.ord_rej_reason {
        w.field_uint(103, u64::from(code));
    }
    if let Some(t) = r.text {
        w.field(58, t.as_bytes());
    }
    w.field_timestamp(60, r.transact_ns);
}

fn write_u64(mut n: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = 0;
    loop {
        tmp[i] = b'0' + (n % 10) as u8;
        i += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for k in 0..i {
        out[k] = tmp[i - 1 - k];
    }
    i
}

/// OrdRejReason(103) and Text(58) for an engine reject of a new order.
pub(crate) fn ord_rej(reason: RejectReason) -> (u32, &'static str) {
    use RejectReason::*;
    let code = match reason {
        UnknownSymbol => 1,
        SymbolHalted => 2, // Exchange closed
        UnknownOrder => 5,
        DuplicateClOrdId => 6,
        InsufficientBalance => 3,
        InvalidOrderType | InvalidTimeInForce | InvalidExpireTime => 11,
        InvalidQuantity | BelowMinQty | BelowMinNotional => 13,
        _ => 99,
    };
    (code, reject_text(reason))
}

/// CxlRejReason(102) for a refused cancel or replace.
pub(crate) fn cxl_rej(reason: RejectReason) -> u32 {
    match reason {
        // Another account's order is never revealed: it is "unknown".
        RejectReason::UnknownOrder | RejectReason::NotOwner => 1,
        RejectReason::DuplicateClOrdId => 6,
        // Including SymbolHalted and AccountSuspended: FIX 4.4 has no closer code.
        _ => 99,
    }
}

pub(crate) fn reject_text(reason: RejectReason) -> &'static str {
    use RejectReason::*;
    match reason {
        UnknownAccount => "Unknown account",
        UnknownSymbol => "Unknown symbol",
        UnknownAsset => "Unknown asset",
        PriceOutOfBand => "Price outside the instrument's price band",
        InvalidQuantity => "Invalid quantity",
        BelowMinQty => "Quantity below the instrument's minimum",
        BelowMinNotional => "Notional below the instrument's minimum",
        InsufficientBalance => "Insufficient balance",
        PostOnlyWouldCross => "Post-only order would take liquidity",
        UnknownOrder | NotOwner => "Unknown order",
        DuplicateClOrdId => "Duplicate ClOrdID among open orders",
        InvalidOrderType => "Invalid order type",
        InvalidTimeInForce => "Invalid time in force for this order type",
        InvalidExpireTime => "ExpireTime must be in the future",
        MarketBuyNeedsBudgetOrProtection => "Market buy needs CashOrderQty or a protection Price",
        CapacityExceeded => "Exchange capacity exceeded",
        InvalidAmount => "Invalid amount",
        AccountExists => "Account exists",
        InvalidAccount => "Invalid account",
        SymbolHalted => "Symbol halted",
        AccountSuspended => "Account suspended",
        // Admin-only reasons; never the answer to a FIX order message.
        ApiKeyExists => "API key exists",
        UnknownApiKey => "Unknown API key",
        TooManyApiKeys => "Too many API keys",
        InvalidApiKey => "Invalid API key",
    }
}

fn cancel_text(reason: CancelReason) -> Option<&'static str> {
    match reason {
        CancelReason::UserRequest => None,
        CancelReason::MassCancel => Some("Mass cancel"),
        CancelReason::Ioc => Some("IOC remainder canceled"),
        CancelReason::Fok => Some("FOK could not be filled"),
        CancelReason::Expired => Some("Expired"),
        CancelReason::SelfTrade => Some("Self-trade prevention"),
    }
}

/// What the gateway remembers of an open order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CachedOrder {
    pub account: u32,
    pub symbol: SymbolId,
    pub side: Side,
    pub ord_type: OrdType,
    pub cl_ord_id: ClOrdId,
    pub price: i64,
    pub qty: i64,
    pub leaves: i64,
    pub cum_qty: i64,
    pub cum_cost: i64,
}

impl CachedOrder {
    pub fn status(&self) -> u8 {
        if self.cum_qty > 0 {
            b'1'
        } else {
            b'0'
        }
    }
}

/// Open orders by engine id, and (account, ClOrdID) → id. Preallocated; grows only at a
/// new high-water mark of open orders.
///
/// The order accepted last waits in `fresh` until the next order is accepted or the
/// gateway calls [`OrderCache::settle`] after a batch of events: an IOC, FOK or market
/// order that ends in the command that placed it (accepted, then canceled or filled)
/// never touches the maps. Engine order ids are sequential and chosen by the engine, so
/// `by_id` uses a fast non-keyed hash; ClOrdIDs come from clients, so `by_cl` keeps the
/// standard library's keyed SipHash (no crafted-collision slowdown).
#[derive(Debug)]
pub(crate) struct OrderCache {
    by_id: HashMap<u64, CachedOrder, rustc_hash::FxBuildHasher>,
    by_cl: HashMap<(u32, ClOrdId), u64>,
    fresh: Option<(u64, CachedOrder)>,
}

impl OrderCache {
    pub fn with_capacity(n: usize) -> OrderCache {
        OrderCache {
            by_id: HashMap::with_capacity_and_hasher(n, rustc_hash::FxBuildHasher),
            by_cl: HashMap::with_capacity(n),
            fresh: None,
        }
    }

    /// Remembers a newly accepted order (it waits in `fresh`; the previous fresh one
    /// moves into the maps).
    pub fn insert(&mut self, id: u64, o: CachedOrder) {
        self.settle();
        self.fresh = Some((id, o));
    }

    /// Moves the fresh order, if any, into the maps.
    pub fn settle(&mut self) {
        if let Some((id, o)) = self.fresh.take() {
            if !o.cl_ord_id.as_bytes().is_empty() {
                self.by_cl.insert((o.account, o.cl_ord_id), id);
            }
            self.by_id.insert(id, o);
        }
    }

    pub fn get(&self, id: u64) -> Option<&CachedOrder> {
        match &self.fresh {
            Some((f, o)) if *f == id => Some(o),
            _ => self.by_id.get(&id),
        }
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut CachedOrder> {
        match &mut self.fresh {
            Some((f, o)) if *f == id => Some(o),
            _ => self.by_id.get_mut(&id),
        }
    }

    fn remove(&mut self, id: u64) {
        if matches!(self.fresh, Some((f, _)) if f == id) {
            self.fresh = None;
            return;
        }
        if let Some(o) = self.by_id.remove(&id) {
            if self.by_cl.get(&(o.account, o.cl_ord_id)) == Some(&id) {
                self.by_cl.remove(&(o.account, o.cl_ord_id));
            }
        }
    }

    /// Replaces a cached order's state (its ClOrdID may change: a replace).
    fn update(&mut self, id: u64, c: CachedOrder) {
        if let Some((f, o)) = &mut self.fresh {
            if *f == id {
                *o = c;
                return;
            }
        }
        self.remove(id);
        self.settle();
        self.fresh = Some((id, c));
    }

    pub fn find(&self, account: u32, target: OrderRef) -> Option<(u64, &CachedOrder)> {
        let id = match target {
            OrderRef::Id(id) => id.0,
            OrderRef::ClOrdId(cl) => match &self.fresh {
                Some((f, o)) if o.account == account && o.cl_ord_id == cl => *f,
                _ => *self.by_cl.get(&(account, cl))?,
            },
        };
        let o = self.get(id)?;
        (o.account == account).then_some((id, o))
    }

    /// Every cached order, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &CachedOrder)> {
        self.fresh
            .iter()
            .map(|(id, o)| (*id, o))
            .chain(self.by_id.iter().map(|(id, o)| (*id, o)))
    }
}

/// Turns one event into replies, calling `emit(session, reply)` for each, and keeps the
/// order cache in step. `n` numbers the command's replies for ExecIDs.
pub(crate) fn on_event(
    cache: &mut OrderCache,
    ev: &Event,
    cmd_seq: u64,
    ts_ns: u64,
    origin: u16,
    n: &mut u32,
    mut emit: impl FnMut(u16, Reply<'_>),
) {
    let mut next_id = || {
        let id = ExecId::engine(cmd_seq, *n);
        *n += 1;
        id
    };
    match ev {
        Event::OrderAccepted { order_id, order } => {
            let o = CachedOrder {
                account: order.account.0,
                symbol: order.symbol,
                side: order.side,
                ord_type: order.ord_type,
                cl_ord_id: order.cl_ord_id,
                price: order.price.0,
                qty: order.qty.0,
                leaves: order.qty.0,
                cum_qty: 0,
                cum_cost: 0,
            };
            cache.insert(order_id.0, o);
            let er = Er {
                order_id: order_id.0,
                cl_ord_id: order.cl_ord_id.as_bytes(),
                orig_cl_ord_id: None,
                exec_id: next_id(),
                exec_type: b'0',
                ord_status: b'0',
                account: order.account.0,
                symbol: order.symbol,
                side: order.side,
                ord_type: Some(order.ord_type),
                price: order.price.0,
                order_qty: order.qty.0,
                leaves: order.qty.0,
                cum_qty: 0,
                cum_cost: 0,
                last: None,
                fee: None,
                ord_rej_reason: None,
                text: None,
                transact_ns: ts_ns,
                mass_status: None,
            };
            emit(order.session.0, Reply::Er(er));
        }
        Event::OrderRejected { order, reason } => {
            let (code, text) = ord_rej(*reason);
            let er = Er {
                order_id: 0,
                cl_ord_id: order.cl_ord_id.as_bytes(),
                orig_cl_ord_id: None,
                exec_id: next_id(),
                exec_type: b'8',
                ord_status: b'8',
                account: order.account.0,
                symbol: order.symbol,
                side: order.side,
                ord_type: Some(order.ord_type),
                price: order.price.0,
                order_qty: order.qty.0,
                leaves: 0,
                cum_qty: 0,
                cum_cost: 0,
                last: None,
                fee: None,
                ord_rej_reason: Some(code),
                text: Some(text),
                transact_ns: ts_ns,
                mass_status: None,
            };
            emit(order.session.0, Reply::Er(er));
        }
        Event::Trade(t) => {
            for (fill, side, liq) in [
                (&t.maker, t.taker_side.opposite(), 1u8),
                (&t.taker, t.taker_side, 2u8),
            ] {
                let cached = cache.get_mut(fill.order_id.0);
                let (price, qty, ord_type) = match cached {
                    Some(c) => {
                        c.leaves = fill.leaves.0;
                        c.cum_qty = fill.cum_qty.0;
                        c.cum_cost = fill.cum_cost;
                        c.cl_ord_id = fill.cl_ord_id;
                        (c.price, c.qty, Some(c.ord_type))
                    }
                    None => (0, 0, None),
                };
                let er = Er {
                    order_id: fill.order_id.0,
                    cl_ord_id: fill.cl_ord_id.as_bytes(),
                    orig_cl_ord_id: None,
                    exec_id: next_id(),
                    exec_type: b'F',
                    ord_status: if fill.leaves.0 == 0 { b'2' } else { b'1' },
                    account: fill.account.0,
                    symbol: t.symbol,
                    side,
                    ord_type,
                    price,
                    order_qty: if qty > 0 {
                        qty
                    } else {
                        fill.leaves.0 + fill.cum_qty.0
                    },
                    leaves: fill.leaves.0,
                    cum_qty: fill.cum_qty.0,
                    cum_cost: fill.cum_cost,
                    last: Some((t.price.0, t.qty.0)),
                    fee: Some((fill.fee, liq)),
                    ord_rej_reason: None,
                    text: None,
                    transact_ns: ts_ns,
                    mass_status: None,
                };
                emit(fill.session.0, Reply::Er(er));
                if fill.leaves.0 == 0 {
                    cache.remove(fill.order_id.0);
                }
            }
        }
        Event::OrderCanceled {
            state,
            reason,
            request_cl_ord_id,
            ..
        } => {
            let ord_type = cache.get(state.order_id.0).map(|c| c.ord_type);
            let by_request = matches!(reason, CancelReason::UserRequest)
                && !request_cl_ord_id.as_bytes().is_empty();
            let (cl, orig) = if by_request {
                (
                    request_cl_ord_id.as_bytes(),
                    Some(state.cl_ord_id.as_bytes()),
                )
            } else {
                (state.cl_ord_id.as_bytes(), None)
            };
            let expired = *reason == CancelReason::Expired;
            let status = if expired { b'C' } else { b'4' };
            let er = Er {
                cl_ord_id: cl,
                orig_cl_ord_id: orig,
                ord_status: status,
                leaves: 0,
                text: cancel_text(*reason),
                ..Er::of_state(state, next_id(), status, ord_type, ts_ns)
            };
            emit(state.session.0, Reply::Er(er));
            if origin != 0 && origin != state.session.0 && by_request {
                emit(origin, Reply::Er(er));
            }
            cache.remove(state.order_id.0);
        }
        Event::OrderReduced { state, .. } => {
            let ord_type = match cache.get_mut(state.order_id.0) {
                Some(c) => {
                    c.leaves = state.leaves.0;
                    c.qty = state.qty.0;
                    Some(c.ord_type)
                }
                None => None,
            };
            let er = Er {
                text: Some("Reduced by self-trade prevention"),
                ..Er::of_state(state, next_id(), b'D', ord_type, ts_ns)
            };
            emit(state.session.0, Reply::Er(er));
        }
        Event::OrderReplaced {
            state,
            orig_cl_ord_id,
            ..
        } => {
            let ord_type = match cache.get(state.order_id.0).copied() {
                Some(mut c) => {
                    c.price = state.price.0;
                    c.qty = state.qty.0;
                    c.leaves = state.leaves.0;
                    c.cum_qty = state.cum_qty.0;
                    c.cum_cost = state.cum_cost;
                    c.cl_ord_id = state.cl_ord_id;
                    let ot = c.ord_type;
                    cache.update(state.order_id.0, c);
                    Some(ot)
                }
                None => None,
            };
            let er = Er {
                orig_cl_ord_id: Some(orig_cl_ord_id.as_bytes()),
                ..Er::of_state(state, next_id(), b'5', ord_type, ts_ns)
            };
            emit(state.session.0, Reply::Er(er));
            if origin != 0 && origin != state.session.0 {
                emit(origin, Reply::Er(er));
            }
        }
        Event::CancelRejected {
            account,
            target,
            cl_ord_id,
            order_id,
            order_cl_ord_id,
            cum_qty,
            is_replace,
            reason,
            ..
        } => {
            let orig = match target {
                OrderRef::ClOrdId(c) => *c,
                OrderRef::Id(_) => *order_cl_ord_id,
            };
            let status = if order_id.0 == 0 {
                b'8'
            } else if cum_qty.0 > 0 {
                b'1'
            } else {
                b'0'
            };
            let _ = next_id();
            emit(
                origin,
                Reply::CancelReject(CancelReject {
                    order_id: order_id.0,
                    cl_ord_id: *cl_ord_id,
                    orig_cl_ord_id: orig,
                    ord_status: status,
                    is_replace: *is_replace,
                    reason: cxl_rej(*reason),
                    text: reject_text(*reason),
                    account: account.0,
                    transact_ns: ts_ns,
                }),
            );
        }
        Event::MassCancelReport {
            account,
            scope,
            cl_ord_id,
            canceled,
            reject,
        } => {
            let report_id = next_id();
            emit(
                origin,
                Reply::MassCancel(MassCancelReply {
                    report_id,
                    cl_ord_id: *cl_ord_id,
                    symbol: match scope {
                        MassCancelScope::Symbol(s) => Some(*s),
                        _ => None,
                    },
                    canceled: *canceled,
                    reject: reject.map(|r| (99, reject_text(r))),
                    account: account.0,
                    transact_ns: ts_ns,
                }),
            );
        }
        Event::BookLevel { .. }
        | Event::Ledger(_)
        | Event::AccountCreated { .. }
        | Event::AdminRejected { .. }
        | Event::SymbolStatus { .. }
        | Event::AccountStatus { .. }
        | Event::ApiKeyCreated(_)
        | Event::ApiKeyRevoked { .. } => {}
    }
}

/// One reply.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reply<'x> {
    Er(Er<'x>),
    CancelReject(CancelReject<'x>),
    MassCancel(MassCancelReply<'x>),
}

/// OrderCancelReject(9).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CancelReject<'x> {
    pub order_id: u64,
    pub cl_ord_id: ClOrdId,
    pub orig_cl_ord_id: ClOrdId,
    pub ord_status: u8,
    pub is_replace: bool,
    pub reason: u32,
    pub text: &'x str,
    pub account: u32,
    pub transact_ns: u64,
}

pub(crate) fn write_cancel_reject(w: &mut MessageWriter<'_>, r: &CancelReject<'_>) {
    if r.order_id == 0 {
        w.field(37, b"NONE");
    } else {
        w.field_uint(37, r.order_id);
    }
    let cl = r.cl_ord_id.as_bytes();
    w.field(11, if cl.is_empty() { b"NONE" } else { cl });
    let orig = r.orig_cl_ord_id.as_bytes();
    w.field(41, if orig.is_empty() { b"NONE" } else { orig });
    w.field(39, &[r.ord_status])
        .field_uint(1, u64::from(r.account))
        .field(434, if r.is_replace { b"2" } else { b"1" })
        .field_uint(102, u64::from(r.reason))
        .field(58, r.text.as_bytes())
        .field_timestamp(60, r.transact_ns);
}

/// OrderMassCancelReport(r).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MassCancelReply<'x> {
    pub report_id: ExecId,
    pub cl_ord_id: ClOrdId,
    pub symbol: Option<SymbolId>,
    pub canceled: u32,
    /// MassCancelRejectReason(532) and text.
    pub reject: Option<(u32, &'x str)>,
    pub account: u32,
    pub transact_ns: u64,
}

pub(crate) fn write_mass_cancel(
    w: &mut MessageWriter<'_>,
    markets: &Markets,
    r: &MassCancelReply<'_>,
) {
    let cl = r.cl_ord_id.as_bytes();
    w.field(11, if cl.is_empty() { b"NONE" } else { cl });
    match r.report_id {
        ExecId::Engine(n) => w.field_uint(37, n),
        ExecId::Local(n) => w.field_uint(37, n),
    };
    let req_type: &[u8] = if r.symbol.is_some() { b"1" } else { b"7" };
    w.field(530, req_type);
    match r.reject {
        Some((code, text)) => {
            w.field(531, b"0")
                .field_uint(532, u64::from(code))
                .field(58, text.as_bytes());
        }
        None => {
            w.field(531, req_type);
        }
    }
    w.field_uint(533, u64::from(r.canceled));
    if let Some(s) = r.symbol.and_then(|s| markets.get(s)) {
        w.field(55, s.symbol.as_bytes());
    }
    w.field_uint(1, u64::from(r.account))
        .field_timestamp(60, r.transact_ns);
}

/// The account's open orders, optionally on one symbol, in order-id order.
pub(crate) fn open_orders_of(
    cache: &OrderCache,
    account: AccountId,
    symbol: Option<SymbolId>,
) -> Vec<(u64, CachedOrder)> {
    let mut v: Vec<(u64, CachedOrder)> = cache
        .iter()
        .filter(|(_, o)| o.account == account.0 && symbol.is_none_or(|s| s == o.symbol))
        .map(|(id, o)| (id, *o))
        .collect();
    v.sort_unstable_by_key(|(id, _)| *id);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(account: u32, cl: &str) -> CachedOrder {
        CachedOrder {
            account,
            symbol: SymbolId(0),
            side: Side::Buy,
            ord_type: OrdType::Limit,
            cl_ord_id: ClOrdId::new(cl.as_bytes()).expect("valid ClOrdID"),
            price: 100,
            qty: 5,
            leaves: 5,
            cum_qty: 0,
            cum_cost: 0,
        }
    }

    fn cl(s: &str) -> OrderRef {
        OrderRef::ClOrdId(ClOrdId::new(s.as_bytes()).expect("valid ClOrdID"))
    }

    /// The order accepted last is found by id and by ClOrdID before and after it moves
    /// into the maps; removing it while fresh leaves the maps untouched; a replace of a
    /// settled order re-keys it under the new ClOrdID.
    #[test]
    fn order_cache_fresh_slot_behaves_like_the_maps() {
        let mut c = OrderCache::with_capacity(4);
        c.insert(1, cached(7, "a"));
        assert_eq!(c.find(7, cl("a")).map(|(id, _)| id), Some(1));
        assert!(
            c.find(8, cl("a")).is_none(),
            "another account's order is not found"
        );
        // An IOC that dies in its own command: accepted then removed while fresh.
        c.insert(2, cached(7, "ioc"));
        assert_eq!(
            c.find(7, cl("a")).map(|(id, _)| id),
            Some(1),
            "settled on insert"
        );
        c.get_mut(2).expect("fresh").leaves = 0;
        c.remove(2);
        c.settle();
        assert!(c.get(2).is_none() && c.find(7, cl("ioc")).is_none());
        assert_eq!(
            (c.by_id.len(), c.by_cl.len()),
            (1, 1),
            "the IOC never reached the maps"
        );
        // Replace a settled order: new ClOrdID, old one gone.
        let mut r = *c.get(1).expect("settled");
        r.cl_ord_id = ClOrdId::new(b"b").expect("valid");
        r.price = 101;
        c.update(1, r);
        assert!(c.find(7, cl("a")).is_none());
        assert_eq!(c.find(7, cl("b")).map(|(_, o)| o.price), Some(101));
        c.settle();
        assert_eq!(c.find(7, cl("b")).map(|(_, o)| o.price), Some(101));
        assert!(c.find(7, cl("a")).is_none());
        assert_eq!(c.iter().count(), 1);
        // Replace while fresh.
        c.insert(3, cached(7, "c"));
        let mut r = *c.get(3).expect("fresh");
        r.cl_ord_id = ClOrdId::new(b"d").expect("valid");
        c.update(3, r);
        c.settle();
        assert!(c.find(7, cl("c")).is_none());
        assert_eq!(c.find(7, cl("d")).map(|(id, _)| id), Some(3));
        let mut ids: Vec<u64> = c.iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 3]);
    }
    use tachyon_engine::{AdminTarget, OrderId, Qty};

    #[test]
    fn operator_rejects_map_to_fix_reasons() {
        assert_eq!(ord_rej(RejectReason::SymbolHalted), (2, "Symbol halted"));
        assert_eq!(
            ord_rej(RejectReason::AccountSuspended),
            (99, "Account suspended")
        );
        assert_eq!(cxl_rej(RejectReason::SymbolHalted), 99);
        assert_eq!(cxl_rej(RejectReason::AccountSuspended), 99);
    }

    /// A refused replace on a halted symbol is an OrderCancelReject with CxlRejReason 99
    /// and the halt's text; status events and operator rejects produce no reply.
    #[test]
    fn operator_events_reply_only_through_the_rejects_they_cause() {
        let mut cache = OrderCache::with_capacity(4);
        let mut replies = Vec::new();
        let silent = [
            Event::SymbolStatus {
                symbol: SymbolId(0),
                halted: true,
            },
            Event::AccountStatus {
                account: AccountId(1),
                suspended: true,
            },
            Event::AdminRejected {
                target: AdminTarget::Symbol(SymbolId(9)),
                reason: RejectReason::UnknownSymbol,
            },
        ];
        let mut n = 0;
        for ev in &silent {
            on_event(&mut cache, ev, 1, 0, 3, &mut n, |s, r| {
                replies.push((s, format!("{r:?}")))
            });
        }
        assert!(replies.is_empty(), "{replies:?}");
        let rej = Event::CancelRejected {
            account: AccountId(1),
            symbol: SymbolId(0),
            target: OrderRef::Id(OrderId(5)),
            cl_ord_id: ClOrdId::new(b"r1").unwrap(),
            order_id: OrderId(5),
            order_cl_ord_id: ClOrdId::new(b"o1").unwrap(),
            leaves: Qty(3),
            cum_qty: Qty(0),
            is_replace: true,
            reason: RejectReason::SymbolHalted,
        };
        let mut got = Vec::new();
        on_event(&mut cache, &rej, 2, 0, 3, &mut n, |s, r| {
            if let Reply::CancelReject(c) = r {
                got.push((s, c.reason, c.text.to_string(), c.is_replace));
            }
        });
        assert_eq!(got, vec![(3, 99, "Symbol halted".to_string(), true)]);
    }
}
