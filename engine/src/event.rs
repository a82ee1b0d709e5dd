//! Events: the only output of the engine. They carry everything downstream consumers
//! (execution reports, persistence, market data) need, so no consumer reads engine state.

use crate::command::{ApiKey, MassCancelScope, NewOrder, OrderRef};
use crate::types::{
    AccountId, ApiKeyId, AssetId, ClOrdId, OrderId, Price, Qty, SessionId, Side, SymbolId,
};

/// Receives the events of one command, in order.
pub trait EventSink {
    /// Called once per event.
    fn emit(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    #[inline]
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}

/// Why a command was refused. Stable numeric codes (`as u8`) are used by the journal and
/// the gateway's mapping to FIX reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// The account does not exist.
    UnknownAccount = 1,
    /// The symbol does not exist.
    UnknownSymbol = 2,
    /// The asset does not exist.
    UnknownAsset = 3,
    /// Price not positive, outside the instrument's band.
    PriceOutOfBand = 4,
    /// Quantity not positive, above the maximum, or not above the filled quantity.
    InvalidQuantity = 5,
    /// Quantity below the instrument's minimum.
    BelowMinQty = 6,
    /// Price × quantity (or a market buy's budget) below the instrument's minimum notional.
    BelowMinNotional = 7,
    /// Not enough available balance to lock what the order could spend, or to withdraw.
    InsufficientBalance = 8,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldCross = 9,
    /// No open order matches the reference.
    UnknownOrder = 10,
    /// The order belongs to another account.
    NotOwner = 11,
    /// The client order id is already used by an open order of the account.
    DuplicateClOrdId = 12,
    /// Order type incompatible with the other fields (e.g. post-only market order).
    InvalidOrderType = 13,
    /// Time in force incompatible with the order type.
    InvalidTimeInForce = 14,
    /// GTD expiry missing or not in the future; expiry given without GTD.
    InvalidExpireTime = 15,
    /// A market buy needs a quote budget or a protection price.
    MarketBuyNeedsBudgetOrProtection = 16,
    /// The book has no room (order or price-level capacity from config).
    CapacityExceeded = 17,
    /// Amount not positive or too large.
    InvalidAmount = 18,
    /// The account already exists.
    AccountExists = 19,
    /// Account id outside the configured range; or the fee account named by an operator
    /// command that does not apply to it (suspend/resume).
    InvalidAccount = 20,
    /// The symbol is halted by the operator.
    SymbolHalted = 21,
    /// The account is suspended by the operator (it may only cancel).
    AccountSuspended = 22,
    /// CreateApiKey: an active key already has this id.
    ApiKeyExists = 23,
    /// RevokeApiKey: no active key has this id.
    UnknownApiKey = 24,
    /// CreateApiKey: the key table is full (`MAX_API_KEYS` active keys).
    TooManyApiKeys = 25,
    /// CreateApiKey: key id 0 or an invalid CompID.
    InvalidApiKey = 26,
}

/// What an admin or operator command was about (see [`Event::AdminRejected`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminTarget {
    /// Deposit, Withdraw, CreateAccount, SuspendAccount, ResumeAccount.
    Account(AccountId),
    /// HaltSymbol, ResumeSymbol.
    Symbol(SymbolId),
    /// CreateApiKey, RevokeApiKey.
    ApiKey(ApiKeyId),
}

/// Why an order left the book (or never rested).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// A cancel request.
    UserRequest = 1,
    /// A mass cancel request.
    MassCancel = 2,
    /// Unfilled remainder of an IOC or market order.
    Ioc = 3,
    /// A FOK order that could not be filled completely.
    Fok = 4,
    /// A GTD order reached its expiry time.
    Expired = 5,
    /// Self-trade prevention.
    SelfTrade = 6,
}

/// Why a balance changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LedgerReason {
    /// External deposit; reference = transfer reference.
    Deposit = 1,
    /// External withdrawal; reference = transfer reference.
    Withdrawal = 2,
    /// Funds locked for an order (also a replace that needs more); reference = order id.
    OrderLock = 3,
    /// Funds released by an order (cancel, expiry, replace, decrement, end of a taker);
    /// reference = order id.
    OrderUnlock = 4,
    /// Settlement of a trade for a buyer or seller; reference = trade id.
    Trade = 5,
    /// Fees collected net of rebates, to the fee account; reference = trade id.
    Fee = 6,
}

/// One side of a trade, with the order's state after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fill {
    /// Order.
    pub order_id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Session that placed the order.
    pub session: SessionId,
    /// The order's current client id.
    pub cl_ord_id: ClOrdId,
    /// Remaining quantity after this fill (0 = filled; always 0 for a quote-budget order).
    pub leaves: Qty,
    /// Cumulative filled quantity after this fill.
    pub cum_qty: Qty,
    /// Σ price(ticks) × qty(lots) over the order's fills: average price = cum_cost / cum_qty.
    pub cum_cost: i64,
    /// Fee paid by this side in quote units (negative = rebate received).
    pub fee: i64,
}

/// A trade between a resting (maker) and an incoming (taker) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trade {
    /// Engine-assigned, strictly increasing from 1.
    pub trade_id: u64,
    /// Instrument.
    pub symbol: SymbolId,
    /// Execution price (the maker's).
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// Side of the taker (aggressor).
    pub taker_side: Side,
    /// Resting order.
    pub maker: Fill,
    /// Incoming order.
    pub taker: Fill,
}

/// An order's state when it was canceled, reduced or replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderState {
    /// Order.
    pub order_id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Session that placed it.
    pub session: SessionId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Side.
    pub side: Side,
    /// The order's current client id.
    pub cl_ord_id: ClOrdId,
    /// Limit price (protection price or 0 for market orders).
    pub price: Price,
    /// Total order quantity (0 for a quote-budget order).
    pub qty: Qty,
    /// Remaining quantity after the event (0 once canceled).
    pub leaves: Qty,
    /// Cumulative filled quantity.
    pub cum_qty: Qty,
    /// Σ price × qty of fills.
    pub cum_cost: i64,
}

/// Engine output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A new order passed every check; its funds are locked (see the following ledger entry).
    OrderAccepted {
        /// Assigned id, strictly increasing from 1.
        order_id: OrderId,
        /// The order as requested.
        order: NewOrder,
    },
    /// A new order was refused; nothing changed.
    OrderRejected {
        /// The order as requested.
        order: NewOrder,
        /// Why.
        reason: RejectReason,
    },
    /// A fill.
    Trade(Trade),
    /// An order is done without being fully filled.
    OrderCanceled {
        /// The order after the cancel (`leaves` = 0).
        state: OrderState,
        /// Quantity that was still open and is now canceled.
        canceled_qty: Qty,
        /// Why.
        reason: CancelReason,
        /// Client id of the cancel or mass-cancel request that caused it (else empty).
        request_cl_ord_id: ClOrdId,
    },
    /// Self-trade prevention (decrement) reduced an order that stays open.
    OrderReduced {
        /// The order after the reduction.
        state: OrderState,
        /// By how much its open quantity shrank.
        reduced_by: Qty,
    },
    /// A cancel-replace succeeded. If priority was lost the order re-entered the book and
    /// trades or a resting level update may follow.
    OrderReplaced {
        /// The order after the replace, before any re-entry matching.
        state: OrderState,
        /// The order's client id before the replace.
        orig_cl_ord_id: ClOrdId,
        /// True if the order kept its place in the queue.
        kept_priority: bool,
    },
    /// A cancel or replace request was refused; the order (if any) is unchanged.
    CancelRejected {
        /// Who asked.
        account: AccountId,
        /// Symbol of the request.
        symbol: SymbolId,
        /// The request's target.
        target: OrderRef,
        /// Client id of the request.
        cl_ord_id: ClOrdId,
        /// The order found (id 0 if none).
        order_id: OrderId,
        /// The order's current client id (empty if none found).
        order_cl_ord_id: ClOrdId,
        /// The order's open quantity (0 if none found).
        leaves: Qty,
        /// The order's filled quantity (0 if none found).
        cum_qty: Qty,
        /// True for a replace, false for a cancel.
        is_replace: bool,
        /// Why.
        reason: RejectReason,
    },
    /// Result of a mass cancel, after the cancels it caused.
    MassCancelReport {
        /// Account.
        account: AccountId,
        /// Scope requested.
        scope: MassCancelScope,
        /// Client id of the request.
        cl_ord_id: ClOrdId,
        /// Orders canceled.
        canceled: u32,
        /// Set if the request was refused.
        reject: Option<RejectReason>,
    },
    /// The new aggregate state of one price level (qty 0 = level gone).
    BookLevel {
        /// Instrument.
        symbol: SymbolId,
        /// Side of the level.
        side: Side,
        /// Price.
        price: Price,
        /// Total open quantity at the level.
        qty: Qty,
        /// Number of orders at the level.
        count: u32,
    },
    /// A balance change of one account in one asset.
    Ledger(LedgerEntry),
    /// An account was opened.
    AccountCreated {
        /// The account.
        account: AccountId,
    },
    /// A deposit, withdrawal, account creation or operator command was refused; nothing
    /// changed.
    AdminRejected {
        /// The account or symbol named by the command.
        target: AdminTarget,
        /// Why.
        reason: RejectReason,
    },
    /// Result of HaltSymbol / ResumeSymbol: the symbol's status after the command (also
    /// when it did not change).
    SymbolStatus {
        /// The instrument.
        symbol: SymbolId,
        /// True while new orders and replaces on it are rejected.
        halted: bool,
    },
    /// Result of SuspendAccount / ResumeAccount: the account's status after the command
    /// (also when it did not change).
    AccountStatus {
        /// The account.
        account: AccountId,
        /// True while it may only cancel (and receive deposits and fills of resting orders).
        suspended: bool,
    },
    /// An API key was registered (CreateApiKey).
    ApiKeyCreated(ApiKey),
    /// An API key was revoked (RevokeApiKey).
    ApiKeyRevoked {
        /// The key.
        key: ApiKeyId,
        /// Its owner.
        account: AccountId,
    },
}

/// One balance change. `available + locked` moves by `delta_available + delta_locked`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LedgerEntry {
    /// Account.
    pub account: AccountId,
    /// Asset.
    pub asset: AssetId,
    /// Change of the available balance.
    pub delta_available: i64,
    /// Change of the locked balance.
    pub delta_locked: i64,
    /// Available balance after the change.
    pub available_after: i64,
    /// Locked balance after the change.
    pub locked_after: i64,
    /// Why.
    pub reason: LedgerReason,
    /// Order id, trade id or transfer reference, depending on `reason`.
    pub reference: u64,
}
