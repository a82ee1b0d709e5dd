//! Commands: the only input of the engine. Every command carries its own timestamp, so the
//! engine never reads a clock and a journal of commands replays to the same state.

use crate::types::{
    AccountId, ApiKeyId, AssetId, ClOrdId, CompId, OrderId, Price, Qty, SessionId, Side, SymbolId,
};

/// A command with the time it was accepted by the exchange (ns since the Unix epoch).
/// Timestamps must not go backwards; the engine clamps a late one to the last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Command {
    /// Acceptance time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// What to do.
    pub kind: CommandKind,
}

/// What a command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// Place an order.
    NewOrder(NewOrder),
    /// Cancel one order.
    Cancel(CancelOrder),
    /// Change an order's price and/or quantity.
    Replace(ReplaceOrder),
    /// Cancel many orders at once.
    MassCancel(MassCancel),
    /// Credit an account.
    Deposit(Transfer),
    /// Debit an account's available balance.
    Withdraw(Transfer),
    /// Open an account (all balances zero).
    CreateAccount {
        /// The new account.
        account: AccountId,
    },
    /// Advance time only (expires GTD orders; every command does that first).
    TimeTick,
    /// Operator: stop trading a symbol (new orders and replaces on it are rejected;
    /// cancels, mass cancels and expiry still work; resting orders stay).
    HaltSymbol {
        /// The instrument.
        symbol: SymbolId,
    },
    /// Operator: let a halted symbol trade again.
    ResumeSymbol {
        /// The instrument.
        symbol: SymbolId,
    },
    /// Operator: the account may only cancel (its new orders, replaces and withdrawals are
    /// rejected); its resting orders still trade, deposits to it still work.
    SuspendAccount {
        /// The account (not the fee account).
        account: AccountId,
    },
    /// Operator: lift an account's suspension.
    ResumeAccount {
        /// The account.
        account: AccountId,
    },
    /// Operator: register an API key for FIX Logon authentication. The engine keeps the
    /// key table (so it is journaled, snapshotted and recovered) but never a secret: the
    /// gateway derives the secret from its master key and the key's `nonce`.
    CreateApiKey(ApiKey),
    /// Operator: revoke an API key (Logons with it fail from now on).
    RevokeApiKey {
        /// The key.
        key: ApiKeyId,
    },
}

/// An API key as the engine stores it: public id, owner, the FIX SenderCompID it may log
/// on as, and the random nonce its secret is derived from (not the secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ApiKey {
    /// Public id (Username(553) on the Logon), never 0.
    pub key: ApiKeyId,
    /// Owner.
    pub account: AccountId,
    /// The SenderCompID the key may log on as.
    pub comp_id: CompId,
    /// Random per-key input of the secret derivation.
    pub nonce: [u8; 16],
}

/// Order type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrdType {
    /// Limit order at `NewOrder::price`.
    Limit,
    /// Market order. A buy needs a `quote_budget` or a protection `price`; a sell may carry
    /// a protection `price` (the lowest it accepts). Never rests.
    Market,
}

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tif {
    /// Good till cancel.
    Gtc,
    /// Immediate or cancel: the unfilled rest is canceled.
    Ioc,
    /// Fill or kill: fully filled at once, or canceled without any fill.
    Fok,
    /// Good till date: like GTC until `NewOrder::expire_ns`.
    Gtd,
}

/// Self-trade prevention mode of the incoming (taker) order, applied when it would match
/// an order of the same account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StpMode {
    /// Cancel the incoming order's remaining quantity.
    CancelNewest,
    /// Cancel the resting order and keep matching.
    CancelOldest,
    /// Cancel both.
    CancelBoth,
    /// Reduce both by the smaller remaining quantity without a trade; an order left with
    /// zero is canceled; a resting order keeps its priority.
    Decrement,
}

/// Place an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewOrder {
    /// Owner.
    pub account: AccountId,
    /// Gateway session that placed it (for cancel-on-disconnect); 0 if none.
    pub session: SessionId,
    /// Client's id, unique among the account's open orders (empty = none given).
    pub cl_ord_id: ClOrdId,
    /// Instrument.
    pub symbol: SymbolId,
    /// Side.
    pub side: Side,
    /// Limit or market.
    pub ord_type: OrdType,
    /// Limit price; for a market order the protection price (0 = none).
    pub price: Price,
    /// Quantity in lots; 0 for a market buy by `quote_budget`.
    pub qty: Qty,
    /// Market buy only: quote units to spend, fees included (0 = not used).
    pub quote_budget: i64,
    /// Time in force.
    pub tif: Tif,
    /// GTD expiry, ns since the Unix epoch (0 unless `tif == Gtd`).
    pub expire_ns: u64,
    /// Reject instead of taking liquidity.
    pub post_only: bool,
    /// Self-trade prevention mode.
    pub stp: StpMode,
}

/// Which order a cancel or replace addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderRef {
    /// By the engine's id.
    Id(OrderId),
    /// By the client's id among the account's open orders.
    ClOrdId(ClOrdId),
}

/// Cancel one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CancelOrder {
    /// Who asks (must own the order).
    pub account: AccountId,
    /// Instrument the client believes the order is on (must match).
    pub symbol: SymbolId,
    /// The order.
    pub target: OrderRef,
    /// Id of this cancel request, echoed in the events.
    pub cl_ord_id: ClOrdId,
}

/// Cancel-replace: qty down at the same price keeps time priority; a price change or a
/// qty increase loses it (the order re-enters and may match).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplaceOrder {
    /// Who asks (must own the order).
    pub account: AccountId,
    /// Instrument the client believes the order is on (must match).
    pub symbol: SymbolId,
    /// The order.
    pub target: OrderRef,
    /// The order's new client id (becomes its id; may equal the old one).
    pub cl_ord_id: ClOrdId,
    /// New limit price.
    pub price: Price,
    /// New total quantity (filled quantity included), must exceed the filled quantity.
    pub qty: Qty,
}

/// Which orders a mass cancel covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MassCancelScope {
    /// All orders of the account.
    Account,
    /// All orders of the account on one symbol.
    Symbol(SymbolId),
    /// All orders the account placed through one session.
    Session(SessionId),
}

/// Cancel many orders of one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MassCancel {
    /// Owner.
    pub account: AccountId,
    /// Which orders.
    pub scope: MassCancelScope,
    /// Id of this request, echoed in the report.
    pub cl_ord_id: ClOrdId,
}

/// A deposit or withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// Account.
    pub account: AccountId,
    /// Asset.
    pub asset: AssetId,
    /// Amount in the asset's smallest unit (> 0).
    pub amount: i64,
    /// External reference (e.g. a transfer id), echoed in the ledger entry.
    pub reference: u64,
}
