//! Turning a run of events into rows (in engine integers; decimals only at write time).

use std::collections::HashMap;

use tachyon_engine::{
    CancelReason, ClOrdId, Event, LedgerEntry, NewOrder, OrdType, RejectReason, Side, StpMode,
    SymbolId, Tif, Trade,
};
use tachyon_pipeline::OutEvent;

/// Order status as stored in `orders.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    Rejected,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::PartiallyFilled => "partially_filled",
            Status::Filled => "filled",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
            Status::Rejected => "rejected",
        }
    }

    /// Status of an order still open after a fill, reduction or replace.
    fn open(leaves: i64, cum_qty: i64) -> Status {
        if leaves == 0 && cum_qty > 0 {
            Status::Filled
        } else if cum_qty > 0 {
            Status::PartiallyFilled
        } else {
            Status::New
        }
    }
}

pub(crate) fn side_str(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub(crate) fn ord_type_str(t: OrdType) -> &'static str {
    match t {
        OrdType::Limit => "limit",
        OrdType::Market => "market",
    }
}

pub(crate) fn tif_str(t: Tif) -> &'static str {
    match t {
        Tif::Gtc => "gtc",
        Tif::Ioc => "ioc",
        Tif::Fok => "fok",
        Tif::Gtd => "gtd",
    }
}

pub(crate) fn stp_str(s: StpMode) -> &'static str {
    match s {
        StpMode::CancelNewest => "cancel_newest",
        StpMode::CancelOldest => "cancel_oldest",
        StpMode::CancelBoth => "cancel_both",
        StpMode::Decrement => "decrement",
    }
}

pub(crate) fn cancel_str(r: CancelReason) -> &'static str {
    match r {
        CancelReason::UserRequest => "user_request",
        CancelReason::MassCancel => "mass_cancel",
        CancelReason::Ioc => "ioc",
        CancelReason::Fok => "fok",
        CancelReason::Expired => "expired",
        CancelReason::SelfTrade => "self_trade",
    }
}

pub(crate) fn reject_str(r: RejectReason) -> &'static str {
    use RejectReason::*;
    match r {
        UnknownAccount => "unknown_account",
        UnknownSymbol => "unknown_symbol",
        UnknownAsset => "unknown_asset",
        PriceOutOfBand => "price_out_of_band",
        InvalidQuantity => "invalid_quantity",
        BelowMinQty => "below_min_qty",
        BelowMinNotional => "below_min_notional",
        InsufficientBalance => "insufficient_balance",
        PostOnlyWouldCross => "post_only_would_cross",
        UnknownOrder => "unknown_order",
        NotOwner => "not_owner",
        DuplicateClOrdId => "duplicate_cl_ord_id",
        InvalidOrderType => "invalid_order_type",
        InvalidTimeInForce => "invalid_time_in_force",
        InvalidExpireTime => "invalid_expire_time",
        MarketBuyNeedsBudgetOrProtection => "market_buy_needs_budget_or_protection",
        CapacityExceeded => "capacity_exceeded",
        InvalidAmount => "invalid_amount",
        AccountExists => "account_exists",
        InvalidAccount => "invalid_account",
        SymbolHalted => "symbol_halted",
        AccountSuspended => "account_suspended",
        ApiKeyExists => "api_key_exists",
        UnknownApiKey => "unknown_api_key",
        TooManyApiKeys => "too_many_api_keys",
        InvalidApiKey => "invalid_api_key",
    }
}

pub(crate) fn ledger_reason_str(r: tachyon_engine::LedgerReason) -> &'static str {
    use tachyon_engine::LedgerReason::*;
    match r {
        Deposit => "deposit",
        Withdrawal => "withdrawal",
        OrderLock => "order_lock",
        OrderUnlock => "order_unlock",
        Trade => "trade",
        Fee => "fee",
    }
}

pub(crate) fn cl_ord_id_str(c: &ClOrdId) -> String {
    String::from_utf8_lossy(c.as_bytes()).into_owned()
}

/// An order created in this batch (accepted or rejected), with its state at batch end.
#[derive(Clone, Debug)]
pub(crate) struct NewOrderRec {
    pub created_seq: u64,
    pub created_ns: u64,
    pub order_id: Option<u64>,
    pub order: NewOrder,
    pub reject: Option<RejectReason>,
    pub st: OrderProgress,
}

/// The mutable part of an order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OrderProgress {
    pub cl_ord_id: ClOrdId,
    /// Replaced price / quantity (None = unchanged in this batch).
    pub price: Option<i64>,
    pub qty: Option<i64>,
    pub leaves: i64,
    pub cum_qty: i64,
    pub cum_cost: i64,
    pub status: Status,
    pub cancel: Option<CancelReason>,
    pub updated_seq: u64,
    pub updated_ns: u64,
}

/// An update of an order created in an earlier batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OrderUpd {
    pub order_id: u64,
    pub symbol: SymbolId,
    pub st: OrderProgress,
}

/// Which rows a fold takes: per part, the checkpoint after which its rows are wanted
/// (`None` = not this connection's part). Part 0 = accounts, orders, trades, balances;
/// part 1 = ledger entries of odd sequences; part 2 = ledger entries of even sequences.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Take(pub [Option<u64>; 3]);

impl Take {
    fn main(&self, seq: u64) -> bool {
        self.0[0].is_some_and(|c| seq > c)
    }

    fn ledger(&self, seq: u64) -> bool {
        self.0[ledger_part(seq)].is_some_and(|c| seq > c)
    }
}

/// The part holding the ledger entries of command `seq`.
pub(crate) fn ledger_part(seq: u64) -> usize {
    if seq % 2 == 1 {
        1
    } else {
        2
    }
}

/// The rows of one batch, reused between batches.
#[derive(Default)]
pub(crate) struct Batch {
    pub accounts: Vec<(u32, u64, u64)>,
    /// API key changes in event order: (seq, ts, change).
    pub api_keys: Vec<(u64, u64, KeyChange)>,
    pub new_orders: Vec<NewOrderRec>,
    new_idx: HashMap<u64, usize>,
    pub updates: Vec<OrderUpd>,
    upd_idx: HashMap<u64, usize>,
    pub trades: Vec<(u64, u64, Trade)>,
    /// (seq, entry_no, ts, entry)
    pub ledger: Vec<(u64, i32, u64, LedgerEntry)>,
    /// (account, asset, available, locked, seq)
    pub balances: Vec<(u32, u16, i64, i64, u64)>,
    bal_idx: HashMap<(u32, u16), usize>,
}

/// A change to the `api_keys` table.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyChange {
    Created(tachyon_engine::ApiKey),
    Revoked(tachyon_engine::ApiKeyId),
}

/// What changes in an order, from one event.
struct Touch {
    order_id: u64,
    symbol: SymbolId,
    cl_ord_id: ClOrdId,
    price: Option<i64>,
    qty: Option<i64>,
    leaves: i64,
    cum_qty: i64,
    cum_cost: i64,
    status: Status,
    cancel: Option<CancelReason>,
}

impl Touch {
    /// From an order's state as an event reports it; `replaced` carries the new price/qty.
    fn from_state(
        s: &tachyon_engine::OrderState,
        replaced: bool,
        status: Status,
        cancel: Option<CancelReason>,
    ) -> Touch {
        Touch {
            order_id: s.order_id.0,
            symbol: s.symbol,
            cl_ord_id: s.cl_ord_id,
            price: replaced.then_some(s.price.0),
            qty: replaced.then_some(s.qty.0),
            leaves: s.leaves.0,
            cum_qty: s.cum_qty.0,
            cum_cost: s.cum_cost,
            status,
            cancel,
        }
    }
}

impl Batch {
    pub(crate) fn clear(&mut self) {
        self.accounts.clear();
        self.api_keys.clear();
        self.new_orders.clear();
        self.new_idx.clear();
        self.updates.clear();
        self.upd_idx.clear();
        self.trades.clear();
        self.ledger.clear();
        self.balances.clear();
        self.bal_idx.clear();
    }

    /// Adds whole commands' events (already validated), the rows `take` wants.
    pub(crate) fn add(&mut self, events: &[OutEvent], take: Take) {
        let mut entry_no = 0i32;
        let mut prev_seq = 0u64;
        let (mut main, mut ledger) = (false, false);
        for e in events {
            if e.cmd_seq != prev_seq {
                entry_no = 0;
                prev_seq = e.cmd_seq;
                main = take.main(e.cmd_seq);
                ledger = take.ledger(e.cmd_seq);
            }
            let wanted = main || (ledger && matches!(e.event, Event::Ledger(_)));
            if !wanted {
                continue;
            }
            let (seq, ts) = (e.cmd_seq, e.ts_ns);
            match e.event {
                Event::OrderAccepted { order_id, order } => {
                    self.new_idx.insert(order_id.0, self.new_orders.len());
                    self.new_orders.push(NewOrderRec {
                        created_seq: seq,
                        created_ns: ts,
                        order_id: Some(order_id.0),
                        order,
                        reject: None,
                        st: OrderProgress {
                            cl_ord_id: order.cl_ord_id,
                            price: None,
                            qty: None,
                            leaves: order.qty.0,
                            cum_qty: 0,
                            cum_cost: 0,
                            status: Status::New,
                            cancel: None,
                            updated_seq: seq,
                            updated_ns: ts,
                        },
                    });
                }
                Event::OrderRejected { order, reason } => self.new_orders.push(NewOrderRec {
                    created_seq: seq,
                    created_ns: ts,
                    order_id: None,
                    order,
                    reject: Some(reason),
                    st: OrderProgress {
                        cl_ord_id: order.cl_ord_id,
                        price: None,
                        qty: None,
                        leaves: 0,
                        cum_qty: 0,
                        cum_cost: 0,
                        status: Status::Rejected,
                        cancel: None,
                        updated_seq: seq,
                        updated_ns: ts,
                    },
                }),
                Event::Trade(t) => {
                    for f in [&t.maker, &t.taker] {
                        self.touch(
                            Touch {
                                order_id: f.order_id.0,
                                symbol: t.symbol,
                                cl_ord_id: f.cl_ord_id,
                                price: None,
                                qty: None,
                                leaves: f.leaves.0,
                                cum_qty: f.cum_qty.0,
                                cum_cost: f.cum_cost,
                                status: Status::open(f.leaves.0, f.cum_qty.0),
                                cancel: None,
                            },
                            seq,
                            ts,
                        );
                    }
                    self.trades.push((seq, ts, t));
                }
                Event::OrderCanceled {
                    state: s, reason, ..
                } => {
                    let status = if reason == CancelReason::Expired {
                        Status::Expired
                    } else {
                        Status::Canceled
                    };
                    self.touch(Touch::from_state(&s, false, status, Some(reason)), seq, ts);
                }
                Event::OrderReduced { state: s, .. } | Event::OrderReplaced { state: s, .. } => {
                    let replaced = matches!(e.event, Event::OrderReplaced { .. });
                    let status = Status::open(s.leaves.0, s.cum_qty.0);
                    self.touch(Touch::from_state(&s, replaced, status, None), seq, ts);
                }
                Event::Ledger(l) => {
                    if ledger {
                        self.ledger.push((seq, entry_no, ts, l));
                    }
                    entry_no += 1;
                    if !main {
                        continue;
                    }
                    let key = (l.account.0, l.asset.0);
                    let row = (
                        l.account.0,
                        l.asset.0,
                        l.available_after,
                        l.locked_after,
                        seq,
                    );
                    match self.bal_idx.get(&key) {
                        Some(&i) => self.balances[i] = row,
                        None => {
                            self.bal_idx.insert(key, self.balances.len());
                            self.balances.push(row);
                        }
                    }
                }
                Event::AccountCreated { account } => self.accounts.push((account.0, seq, ts)),
                Event::ApiKeyCreated(k) => self.api_keys.push((seq, ts, KeyChange::Created(k))),
                Event::ApiKeyRevoked { key, .. } => {
                    self.api_keys.push((seq, ts, KeyChange::Revoked(key)))
                }
                Event::CancelRejected { .. }
                | Event::MassCancelReport { .. }
                | Event::BookLevel { .. }
                | Event::AdminRejected { .. }
                | Event::SymbolStatus { .. }
                | Event::AccountStatus { .. } => {}
            }
        }
    }

    fn touch(&mut self, t: Touch, seq: u64, ts: u64) {
        let apply = |st: &mut OrderProgress| {
            st.cl_ord_id = t.cl_ord_id;
            if t.price.is_some() {
                st.price = t.price;
                st.qty = t.qty;
            }
            st.leaves = t.leaves;
            st.cum_qty = t.cum_qty;
            st.cum_cost = t.cum_cost;
            st.status = t.status;
            if t.cancel.is_some() {
                st.cancel = t.cancel;
            }
            st.updated_seq = seq;
            st.updated_ns = ts;
        };
        if let Some(&i) = self.new_idx.get(&t.order_id) {
            apply(&mut self.new_orders[i].st);
        } else if let Some(&i) = self.upd_idx.get(&t.order_id) {
            apply(&mut self.updates[i].st);
        } else {
            let mut st = OrderProgress {
                cl_ord_id: t.cl_ord_id,
                price: None,
                qty: None,
                leaves: 0,
                cum_qty: 0,
                cum_cost: 0,
                status: Status::New,
                cancel: None,
                updated_seq: seq,
                updated_ns: ts,
            };
            apply(&mut st);
            self.upd_idx.insert(t.order_id, self.updates.len());
            self.updates.push(OrderUpd {
                order_id: t.order_id,
                symbol: t.symbol,
                st,
            });
        }
    }
}
