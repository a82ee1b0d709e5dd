//! Hand-derived scenarios: command → expected events, worked out from SEMANTICS.md by hand
//! (the arithmetic is in the comments). They document the spec and check the model; the
//! differential suite runs the same table against the engine.
//!
//! Config: one instrument BTC-USD with `quote_units_per_tick_lot = 100`,
//! `base_units_per_lot = 10`, maker −10 bps (rebate), taker 20 bps, so
//! `r_lock = 20` and `lock_buy(p, q) = 100pq + trunc(100pq × 20 / 10_000)`.

use tachyon_engine::{
    AccountId, AdminTarget, AssetId, AssetSpec, CancelOrder, CancelReason, ClOrdId, Command,
    CommandKind, EngineConfig, Event, Fill, InstrumentSpec, LedgerEntry, LedgerReason, MassCancel,
    MassCancelScope, NewOrder, OrdType, OrderId, OrderRef, OrderState, Price, Qty, RejectReason,
    ReplaceOrder, SessionId, Side, StpMode, SymbolId, Tif, Trade, Transfer,
};

pub const BTC: AssetId = AssetId(0);
pub const USD: AssetId = AssetId(1);
const S: SymbolId = SymbolId(0);
const FEE: u32 = 0;

/// A named list of steps: each command with the events it must produce.
pub struct Scenario {
    pub name: &'static str,
    pub steps: Vec<(Command, Vec<Event>)>,
}

pub fn config() -> EngineConfig {
    EngineConfig {
        assets: vec![
            AssetSpec {
                code: "BTC".into(),
                decimals: 8,
            },
            AssetSpec {
                code: "USD".into(),
                decimals: 2,
            },
        ],
        instruments: vec![InstrumentSpec {
            symbol: "BTC-USD".into(),
            base: BTC,
            quote: USD,
            quote_units_per_tick_lot: 100,
            base_units_per_lot: 10,
            min_qty_lots: 1,
            max_qty_lots: 1000,
            min_notional_quote_units: 6_000,
            maker_fee_bps: -10,
            taker_fee_bps: 20,
            min_price_ticks: 50,
            max_price_ticks: 150,
        }],
        max_accounts: 8,
        max_orders: 100,
        max_levels_per_side: 10,
        fee_account: AccountId(FEE),
    }
}

// ------------------------------------------------------------------ builders

fn cmd(ts_ns: u64, kind: CommandKind) -> Command {
    Command { ts_ns, kind }
}

fn cl(s: &str) -> ClOrdId {
    ClOrdId::new(s.as_bytes()).unwrap()
}

/// A GTC limit order, session 0, no client id, CancelNewest.
pub fn limit(account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder {
        account: AccountId(account),
        session: SessionId(0),
        cl_ord_id: ClOrdId::EMPTY,
        symbol: S,
        side,
        ord_type: OrdType::Limit,
        price: Price(price),
        qty: Qty(qty),
        quote_budget: 0,
        tif: Tif::Gtc,
        expire_ns: 0,
        post_only: false,
        stp: StpMode::CancelNewest,
    }
}

fn new(ts: u64, o: NewOrder) -> Command {
    cmd(ts, CommandKind::NewOrder(o))
}

fn accepted(id: u64, o: NewOrder) -> Event {
    Event::OrderAccepted {
        order_id: OrderId(id),
        order: o,
    }
}

#[allow(clippy::too_many_arguments)]
fn led(
    a: u32,
    asset: AssetId,
    da: i64,
    dl: i64,
    aa: i64,
    la: i64,
    reason: LedgerReason,
    r: u64,
) -> Event {
    Event::Ledger(LedgerEntry {
        account: AccountId(a),
        asset,
        delta_available: da,
        delta_locked: dl,
        available_after: aa,
        locked_after: la,
        reason,
        reference: r,
    })
}

fn lvl(side: Side, price: i64, qty: i64, count: u32) -> Event {
    Event::BookLevel {
        symbol: S,
        side,
        price: Price(price),
        qty: Qty(qty),
        count,
    }
}

#[allow(clippy::too_many_arguments)]
fn st(
    id: u64,
    a: u32,
    side: Side,
    c: ClOrdId,
    price: i64,
    qty: i64,
    leaves: i64,
    cum: i64,
    cost: i64,
) -> OrderState {
    OrderState {
        order_id: OrderId(id),
        account: AccountId(a),
        session: SessionId(0),
        symbol: S,
        side,
        cl_ord_id: c,
        price: Price(price),
        qty: Qty(qty),
        leaves: Qty(leaves),
        cum_qty: Qty(cum),
        cum_cost: cost,
    }
}

fn canceled(state: OrderState, qty: i64, reason: CancelReason, req: ClOrdId) -> Event {
    Event::OrderCanceled {
        state,
        canceled_qty: Qty(qty),
        reason,
        request_cl_ord_id: req,
    }
}

fn fill(id: u64, a: u32, leaves: i64, cum: i64, cost: i64, fee: i64) -> Fill {
    Fill {
        order_id: OrderId(id),
        account: AccountId(a),
        session: SessionId(0),
        cl_ord_id: ClOrdId::EMPTY,
        leaves: Qty(leaves),
        cum_qty: Qty(cum),
        cum_cost: cost,
        fee,
    }
}

fn trade(id: u64, price: i64, qty: i64, taker_side: Side, maker: Fill, taker: Fill) -> Event {
    Event::Trade(Trade {
        trade_id: id,
        symbol: S,
        price: Price(price),
        qty: Qty(qty),
        taker_side,
        maker,
        taker,
    })
}

fn create(ts: u64, a: u32) -> (Command, Vec<Event>) {
    (
        cmd(
            ts,
            CommandKind::CreateAccount {
                account: AccountId(a),
            },
        ),
        vec![Event::AccountCreated {
            account: AccountId(a),
        }],
    )
}

/// Deposit into an account that holds nothing of the asset yet.
fn fund(ts: u64, a: u32, asset: AssetId, amount: i64, reference: u64) -> (Command, Vec<Event>) {
    (
        cmd(
            ts,
            CommandKind::Deposit(Transfer {
                account: AccountId(a),
                asset,
                amount,
                reference,
            }),
        ),
        vec![led(
            a,
            asset,
            amount,
            0,
            amount,
            0,
            LedgerReason::Deposit,
            reference,
        )],
    )
}

use LedgerReason::Trade as T;
use LedgerReason::{Deposit, Fee, OrderLock, OrderUnlock};
use Side::{Buy, Sell};

// ------------------------------------------------------------------ scenarios

/// A limit buy sweeps two ask levels; the maker earns a rebate, the taker pays a fee, and
/// the buyer's excess lock (bought below its limit) goes back after each fill.
fn two_level_sweep() -> Scenario {
    let (a1, a2) = (limit(2, Sell, 100, 3), limit(2, Sell, 101, 2));
    let b = limit(1, Buy, 101, 4);
    Scenario {
        name: "buy crosses two ask levels with maker rebate and taker fee",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 1_000_000, 11),
            fund(1, 2, BTC, 1_000, 12),
            // Sell 3 @ 100 locks base(3) = 30.
            (
                new(2, a1),
                vec![
                    accepted(1, a1),
                    led(2, BTC, -30, 30, 970, 30, OrderLock, 1),
                    lvl(Sell, 100, 3, 1),
                ],
            ),
            (
                new(3, a2),
                vec![
                    accepted(2, a2),
                    led(2, BTC, -20, 20, 950, 50, OrderLock, 2),
                    lvl(Sell, 101, 2, 1),
                ],
            ),
            (
                new(4, b),
                vec![
                    // lock_buy(101, 4) = 40_400 + trunc(80.8) = 40_480.
                    accepted(3, b),
                    led(1, USD, -40_480, 40_480, 959_520, 40_480, OrderLock, 3),
                    // 3 @ 100: n = 30_000, maker fee trunc(-30) = -30, taker fee 60.
                    trade(
                        1,
                        100,
                        3,
                        Buy,
                        fill(1, 2, 0, 3, 300, -30),
                        fill(3, 1, 1, 3, 300, 60),
                    ),
                    // Lock needed for 1 lot at 101: 10_100 + trunc(20.2) = 10_120;
                    // excess = 40_480 - 30_060 - 10_120 = 300.
                    led(1, USD, 300, -30_360, 959_820, 10_120, T, 1),
                    led(1, BTC, 30, 0, 30, 0, T, 1),
                    led(2, BTC, 0, -30, 950, 20, T, 1),
                    led(2, USD, 30_030, 0, 30_030, 0, T, 1),
                    led(FEE, USD, 30, 0, 30, 0, Fee, 1),
                    lvl(Sell, 100, 0, 0),
                    // 1 @ 101: n = 10_100, maker trunc(-10.1) = -10, taker trunc(20.2) = 20.
                    trade(
                        2,
                        101,
                        1,
                        Buy,
                        fill(2, 2, 1, 1, 101, -10),
                        fill(3, 1, 0, 4, 401, 20),
                    ),
                    led(1, USD, 0, -10_120, 959_820, 0, T, 2),
                    led(1, BTC, 10, 0, 40, 0, T, 2),
                    led(2, BTC, 0, -10, 950, 10, T, 2),
                    led(2, USD, 10_110, 0, 40_140, 0, T, 2),
                    led(FEE, USD, 10, 0, 40, 0, Fee, 2),
                    lvl(Sell, 101, 1, 1),
                ],
            ),
        ],
    }
}

/// A market buy by quote budget takes the most lots whose notional + taker fee fits what
/// is left, then the unspent budget is released with reason Ioc (canceled qty 0).
fn budget_market_buy() -> Scenario {
    let (a1, a2) = (limit(2, Sell, 100, 2), limit(2, Sell, 102, 5));
    let mut b = limit(1, Buy, 0, 0);
    b.ord_type = OrdType::Market;
    b.tif = Tif::Ioc;
    b.quote_budget = 45_000;
    Scenario {
        name: "market buy by budget",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 100_000, 1),
            fund(1, 2, BTC, 1_000, 2),
            (
                new(2, a1),
                vec![
                    accepted(1, a1),
                    led(2, BTC, -20, 20, 980, 20, OrderLock, 1),
                    lvl(Sell, 100, 2, 1),
                ],
            ),
            (
                new(3, a2),
                vec![
                    accepted(2, a2),
                    led(2, BTC, -50, 50, 930, 70, OrderLock, 2),
                    lvl(Sell, 102, 5, 1),
                ],
            ),
            (
                new(4, b),
                vec![
                    accepted(3, b),
                    led(1, USD, -45_000, 45_000, 55_000, 45_000, OrderLock, 3),
                    // At 100 one lot costs 10_000 + 20 = 10_020: 4 fit, the maker has 2.
                    trade(
                        1,
                        100,
                        2,
                        Buy,
                        fill(1, 2, 0, 2, 200, -20),
                        fill(3, 1, 0, 2, 200, 40),
                    ),
                    led(1, USD, 0, -20_040, 55_000, 24_960, T, 1),
                    led(1, BTC, 20, 0, 20, 0, T, 1),
                    led(2, BTC, 0, -20, 930, 50, T, 1),
                    led(2, USD, 20_020, 0, 20_020, 0, T, 1),
                    led(FEE, USD, 20, 0, 20, 0, Fee, 1),
                    lvl(Sell, 100, 0, 0),
                    // At 102: 2 lots = 20_400 + trunc(40.8) = 20_440 <= 24_960;
                    // 3 lots = 30_600 + 61 > 24_960. Maker fee trunc(-20.4) = -20.
                    trade(
                        2,
                        102,
                        2,
                        Buy,
                        fill(2, 2, 3, 2, 204, -20),
                        fill(3, 1, 0, 4, 404, 40),
                    ),
                    led(1, USD, 0, -20_440, 55_000, 4_520, T, 2),
                    led(1, BTC, 20, 0, 40, 0, T, 2),
                    led(2, BTC, 0, -20, 930, 30, T, 2),
                    led(2, USD, 20_420, 0, 40_440, 0, T, 2),
                    led(FEE, USD, 20, 0, 40, 0, Fee, 2),
                    // 4_520 buys no lot at 102: matching stops at a touched level.
                    lvl(Sell, 102, 3, 1),
                    canceled(
                        st(3, 1, Buy, ClOrdId::EMPTY, 0, 0, 0, 4, 404),
                        0,
                        CancelReason::Ioc,
                        ClOrdId::EMPTY,
                    ),
                    led(1, USD, 4_520, -4_520, 59_520, 0, OrderUnlock, 3),
                ],
            ),
        ],
    }
}

/// Fee truncation per fill lets a budget order buy one more lot than one big fill would:
/// at 101, cost(k) = 10_100k + trunc(20.2k); cost(4) = 40_480, cost(5) = 50_601. A budget
/// of 50_600 buys 4, leaving 10_120 = cost(1), so the same maker (still first in time
/// priority) sells it one more lot. One level update, when matching stops there; the
/// spent budget's unlock is omitted (nothing left).
fn budget_extra_lot_same_maker() -> Scenario {
    let a = limit(2, Sell, 101, 7);
    let mut b = limit(1, Buy, 0, 0);
    b.ord_type = OrdType::Market;
    b.tif = Tif::Ioc;
    b.quote_budget = 50_600;
    Scenario {
        name: "budget buy takes a second fill from the same maker",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 100_000, 1),
            fund(1, 2, BTC, 1_000, 2),
            (
                new(2, a),
                vec![
                    accepted(1, a),
                    led(2, BTC, -70, 70, 930, 70, OrderLock, 1),
                    lvl(Sell, 101, 7, 1),
                ],
            ),
            (
                new(3, b),
                vec![
                    accepted(2, b),
                    led(1, USD, -50_600, 50_600, 49_400, 50_600, OrderLock, 2),
                    // 4 @ 101: n = 40_400, maker trunc(-40.4) = -40, taker trunc(80.8) = 80.
                    trade(
                        1,
                        101,
                        4,
                        Buy,
                        fill(1, 2, 3, 4, 404, -40),
                        fill(2, 1, 0, 4, 404, 80),
                    ),
                    led(1, USD, 0, -40_480, 49_400, 10_120, T, 1),
                    led(1, BTC, 40, 0, 40, 0, T, 1),
                    led(2, BTC, 0, -40, 930, 30, T, 1),
                    led(2, USD, 40_440, 0, 40_440, 0, T, 1),
                    led(FEE, USD, 40, 0, 40, 0, Fee, 1),
                    // 1 @ 101: n = 10_100, maker trunc(-10.1) = -10, taker trunc(20.2) = 20.
                    trade(
                        2,
                        101,
                        1,
                        Buy,
                        fill(1, 2, 2, 5, 505, -10),
                        fill(2, 1, 0, 5, 505, 20),
                    ),
                    led(1, USD, 0, -10_120, 49_400, 0, T, 2),
                    led(1, BTC, 10, 0, 50, 0, T, 2),
                    led(2, BTC, 0, -10, 930, 20, T, 2),
                    led(2, USD, 10_110, 0, 50_550, 0, T, 2),
                    led(FEE, USD, 10, 0, 50, 0, Fee, 2),
                    lvl(Sell, 101, 2, 1),
                    canceled(
                        st(2, 1, Buy, ClOrdId::EMPTY, 0, 0, 0, 5, 505),
                        0,
                        CancelReason::Ioc,
                        ClOrdId::EMPTY,
                    ),
                ],
            ),
        ],
    }
}

/// STP Decrement: the own maker (5) is used up and removed, the taker is reduced by 5 and
/// goes on to trade with another account's maker behind it.
fn stp_decrement() -> Scenario {
    let e = ClOrdId::EMPTY;
    let (m1, m2) = (limit(1, Sell, 100, 5), limit(2, Sell, 100, 4));
    let mut b = limit(1, Buy, 100, 7);
    b.stp = StpMode::Decrement;
    Scenario {
        name: "STP decrement removes own maker, reduces taker, then trades",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 1_000_000, 1),
            fund(1, 1, BTC, 1_000, 2),
            fund(1, 2, BTC, 1_000, 3),
            (
                new(2, m1),
                vec![
                    accepted(1, m1),
                    led(1, BTC, -50, 50, 950, 50, OrderLock, 1),
                    lvl(Sell, 100, 5, 1),
                ],
            ),
            (
                new(3, m2),
                vec![
                    accepted(2, m2),
                    led(2, BTC, -40, 40, 960, 40, OrderLock, 2),
                    lvl(Sell, 100, 9, 2),
                ],
            ),
            (
                new(4, b),
                vec![
                    // lock_buy(100, 7) = 70_000 + 140.
                    accepted(3, b),
                    led(1, USD, -70_140, 70_140, 929_860, 70_140, OrderLock, 3),
                    // d = min(7, 5) = 5: maker to 0 → removed (level update folded).
                    canceled(
                        st(1, 1, Sell, e, 100, 5, 0, 0, 0),
                        5,
                        CancelReason::SelfTrade,
                        e,
                    ),
                    led(1, BTC, 50, -50, 1_000, 0, OrderUnlock, 1),
                    // Taker 7 → 2: lock_buy(100, 2) = 20_040, release 50_100.
                    // A reduction shrinks qty with leaves (qty = cum + leaves): 7 → 2.
                    Event::OrderReduced {
                        state: st(3, 1, Buy, e, 100, 2, 2, 0, 0),
                        reduced_by: Qty(5),
                    },
                    led(1, USD, 50_100, -50_100, 979_960, 20_040, OrderUnlock, 3),
                    trade(
                        1,
                        100,
                        2,
                        Buy,
                        fill(2, 2, 2, 2, 200, -20),
                        fill(3, 1, 0, 2, 200, 40),
                    ),
                    led(1, USD, 0, -20_040, 979_960, 0, T, 1),
                    led(1, BTC, 20, 0, 1_020, 0, T, 1),
                    led(2, BTC, 0, -20, 960, 20, T, 1),
                    led(2, USD, 20_020, 0, 20_020, 0, T, 1),
                    led(FEE, USD, 20, 0, 20, 0, Fee, 1),
                    lvl(Sell, 100, 2, 1),
                ],
            ),
        ],
    }
}

/// STP Decrement where the taker is used up: the maker is reduced and keeps its place; the
/// taker is canceled (SelfTrade, canceled_qty d) inside the match step, so the level
/// update comes after the taker's unlock.
fn stp_decrement_taker_finished() -> Scenario {
    let e = ClOrdId::EMPTY;
    let m = limit(1, Sell, 100, 5);
    let mut b = limit(1, Buy, 100, 3);
    b.stp = StpMode::Decrement;
    Scenario {
        name: "STP decrement reduces the maker and finishes the taker",
        steps: vec![
            create(1, 1),
            fund(1, 1, USD, 100_000, 1),
            fund(1, 1, BTC, 1_000, 2),
            (
                new(2, m),
                vec![
                    accepted(1, m),
                    led(1, BTC, -50, 50, 950, 50, OrderLock, 1),
                    lvl(Sell, 100, 5, 1),
                ],
            ),
            (
                new(3, b),
                vec![
                    // lock_buy(100, 3) = 30_000 + 60.
                    accepted(2, b),
                    led(1, USD, -30_060, 30_060, 69_940, 30_060, OrderLock, 2),
                    Event::OrderReduced {
                        state: st(1, 1, Sell, e, 100, 2, 2, 0, 0),
                        reduced_by: Qty(3),
                    },
                    led(1, BTC, 30, -30, 980, 20, OrderUnlock, 1),
                    canceled(
                        st(2, 1, Buy, e, 100, 3, 0, 0, 0),
                        3,
                        CancelReason::SelfTrade,
                        e,
                    ),
                    led(1, USD, 30_060, -30_060, 100_000, 0, OrderUnlock, 2),
                    lvl(Sell, 100, 2, 1),
                ],
            ),
        ],
    }
}

/// FOK dry run failure, replace keeping and losing priority, GTD expiry by a time tick,
/// and a mass cancel.
fn lifecycle() -> Scenario {
    let e = ClOrdId::EMPTY;
    let mut o1 = limit(1, Buy, 99, 2);
    o1.cl_ord_id = cl("a");
    o1.tif = Tif::Gtd;
    o1.expire_ns = 50;
    let mut o2 = limit(1, Buy, 99, 3);
    o2.cl_ord_id = cl("b");
    let mut fok = limit(2, Sell, 99, 6);
    fok.tif = Tif::Fok;
    let rep1 = ReplaceOrder {
        account: AccountId(1),
        symbol: S,
        target: OrderRef::ClOrdId(cl("a")),
        cl_ord_id: e,
        price: Price(99),
        qty: Qty(1),
    };
    let rep2 = ReplaceOrder {
        account: AccountId(1),
        symbol: S,
        target: OrderRef::Id(OrderId(2)),
        cl_ord_id: cl("c"),
        price: Price(99),
        qty: Qty(4),
    };
    let mc = MassCancel {
        account: AccountId(1),
        scope: MassCancelScope::Account,
        cl_ord_id: cl("m"),
    };
    Scenario {
        name: "FOK kill, replace keep/lose priority, GTD expiry, mass cancel",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 1_000_000, 1),
            fund(1, 2, BTC, 1_000, 2),
            // lock_buy(99, 2) = 19_800 + trunc(39.6) = 19_839.
            (
                new(10, o1),
                vec![
                    accepted(1, o1),
                    led(1, USD, -19_839, 19_839, 980_161, 19_839, OrderLock, 1),
                    lvl(Buy, 99, 2, 1),
                ],
            ),
            // lock_buy(99, 3) = 29_700 + trunc(59.4) = 29_759.
            (
                new(11, o2),
                vec![
                    accepted(2, o2),
                    led(1, USD, -29_759, 29_759, 950_402, 49_598, OrderLock, 2),
                    lvl(Buy, 99, 5, 2),
                ],
            ),
            // FOK sell 6 @ 99: only 5 bid at acceptable prices → killed, no book change.
            (
                new(12, fok),
                vec![
                    accepted(3, fok),
                    led(2, BTC, -60, 60, 940, 60, OrderLock, 3),
                    canceled(st(3, 2, Sell, e, 99, 6, 0, 0, 0), 6, CancelReason::Fok, e),
                    led(2, BTC, 60, -60, 1_000, 0, OrderUnlock, 3),
                ],
            ),
            // Qty down at the same price keeps priority; lock_buy(99, 1) = 9_919.
            (
                cmd(13, CommandKind::Replace(rep1)),
                vec![
                    Event::OrderReplaced {
                        state: st(1, 1, Buy, cl("a"), 99, 1, 1, 0, 0),
                        orig_cl_ord_id: cl("a"),
                        kept_priority: true,
                    },
                    lvl(Buy, 99, 4, 2),
                    led(1, USD, 9_920, -9_920, 960_322, 39_678, OrderUnlock, 1),
                ],
            ),
            // Qty up loses priority: leaves the level, locks lock_buy(99, 4) - 29_759 =
            // 39_679 - 29_759 = 9_920 more, re-enters (nothing to match) and rests.
            (
                cmd(14, CommandKind::Replace(rep2)),
                vec![
                    Event::OrderReplaced {
                        state: st(2, 1, Buy, cl("c"), 99, 4, 4, 0, 0),
                        orig_cl_ord_id: cl("b"),
                        kept_priority: false,
                    },
                    lvl(Buy, 99, 1, 1),
                    led(1, USD, -9_920, 9_920, 950_402, 49_598, OrderLock, 2),
                    lvl(Buy, 99, 5, 2),
                ],
            ),
            // now = 60 >= 50: order 1 expires before anything else.
            (
                cmd(60, CommandKind::TimeTick),
                vec![
                    canceled(
                        st(1, 1, Buy, cl("a"), 99, 1, 0, 0, 0),
                        1,
                        CancelReason::Expired,
                        e,
                    ),
                    lvl(Buy, 99, 4, 1),
                    led(1, USD, 9_919, -9_919, 960_321, 39_679, OrderUnlock, 1),
                ],
            ),
            // A late timestamp is clamped to now (60), so nothing else happens.
            (
                cmd(61, CommandKind::MassCancel(mc)),
                vec![
                    canceled(
                        st(2, 1, Buy, cl("c"), 99, 4, 0, 0, 0),
                        4,
                        CancelReason::MassCancel,
                        cl("m"),
                    ),
                    lvl(Buy, 99, 0, 0),
                    led(1, USD, 39_679, -39_679, 1_000_000, 0, OrderUnlock, 2),
                    Event::MassCancelReport {
                        account: AccountId(1),
                        scope: MassCancelScope::Account,
                        cl_ord_id: cl("m"),
                        canceled: 1,
                        reject: None,
                    },
                ],
            ),
        ],
    }
}

/// Data-driven rejects: one bad field at a time on a valid limit buy, in check order.
fn rejects() -> Scenario {
    use RejectReason::*;
    let good = limit(1, Buy, 100, 1); // notional 10_000 >= 6_000
    let with = |f: &dyn Fn(&mut NewOrder)| {
        let mut o = good;
        f(&mut o);
        o
    };
    let market = |f: &dyn Fn(&mut NewOrder)| {
        with(&|o: &mut NewOrder| {
            o.ord_type = OrdType::Market;
            o.tif = Tif::Ioc;
            f(o)
        })
    };
    let table: Vec<(NewOrder, RejectReason)> = vec![
        (with(&|o| o.account = AccountId(5)), UnknownAccount),
        (with(&|o| o.account = AccountId(99)), UnknownAccount),
        (with(&|o| o.symbol = SymbolId(1)), UnknownSymbol),
        (with(&|o| o.quote_budget = 1), InvalidQuantity),
        (with(&|o| o.price = Price(49)), PriceOutOfBand),
        (with(&|o| o.price = Price(151)), PriceOutOfBand),
        (with(&|o| o.price = Price(0)), PriceOutOfBand),
        (market(&|o| o.post_only = true), InvalidOrderType),
        (market(&|o| o.tif = Tif::Gtc), InvalidTimeInForce),
        (market(&|o| o.price = Price(151)), PriceOutOfBand),
        (market(&|o| o.quote_budget = -1), InvalidQuantity),
        (market(&|o| o.quote_budget = 10_000), InvalidQuantity), // qty != 0
        (
            market(&|o| {
                o.quote_budget = 10_000;
                o.qty = Qty(0);
                o.tif = Tif::Fok
            }),
            InvalidTimeInForce,
        ),
        (
            market(&|o| o.price = Price(0)),
            MarketBuyNeedsBudgetOrProtection,
        ),
        (with(&|o| o.qty = Qty(0)), InvalidQuantity),
        (with(&|o| o.qty = Qty(1001)), InvalidQuantity),
        (with(&|o| o.tif = Tif::Gtd), InvalidExpireTime), // expire 0 <= now
        (with(&|o| o.expire_ns = 500), InvalidExpireTime), // expiry without GTD
        (
            with(&|o| {
                o.post_only = true;
                o.tif = Tif::Ioc
            }),
            InvalidTimeInForce,
        ),
        (with(&|o| o.price = Price(59)), BelowMinNotional), // 5_900 < 6_000
        (
            market(&|o| {
                o.quote_budget = 5_999;
                o.qty = Qty(0);
                o.price = Price(0)
            }),
            BelowMinNotional,
        ),
        (with(&|o| o.qty = Qty(200)), InsufficientBalance), // lock 2_004_000 > 1_000_000
    ];
    let mut steps = vec![create(1, 1), fund(1, 1, USD, 1_000_000, 1)];
    for (o, reason) in table {
        steps.push((new(5, o), vec![Event::OrderRejected { order: o, reason }]));
    }
    Scenario {
        name: "reject table (check order)",
        steps,
    }
}

/// Deposit and withdrawal limits.
fn transfers() -> Scenario {
    use RejectReason::*;
    let dep = |a: u32, asset: u16, amount: i64| {
        cmd(
            1,
            CommandKind::Deposit(Transfer {
                account: AccountId(a),
                asset: AssetId(asset),
                amount,
                reference: 7,
            }),
        )
    };
    let wd = |a: u32, asset: u16, amount: i64| {
        cmd(
            1,
            CommandKind::Withdraw(Transfer {
                account: AccountId(a),
                asset: AssetId(asset),
                amount,
                reference: 8,
            }),
        )
    };
    let rej = |a: u32, reason| {
        vec![Event::AdminRejected {
            target: AdminTarget::Account(AccountId(a)),
            reason,
        }]
    };
    let max = 1i64 << 62;
    Scenario {
        name: "deposits, withdrawals, account creation",
        steps: vec![
            (
                cmd(
                    1,
                    CommandKind::CreateAccount {
                        account: AccountId(8),
                    },
                ),
                rej(8, InvalidAccount),
            ),
            (
                cmd(
                    1,
                    CommandKind::CreateAccount {
                        account: AccountId(FEE),
                    },
                ),
                rej(FEE, AccountExists),
            ),
            create(1, 3),
            (
                cmd(
                    1,
                    CommandKind::CreateAccount {
                        account: AccountId(3),
                    },
                ),
                rej(3, AccountExists),
            ),
            (dep(4, 0, 1), rej(4, UnknownAccount)),
            (dep(9, 0, 1), rej(9, UnknownAccount)),
            (dep(3, 2, 1), rej(3, UnknownAsset)),
            (dep(3, 0, 0), rej(3, InvalidAmount)),
            (dep(3, 0, -5), rej(3, InvalidAmount)),
            (
                dep(3, 0, max - 10),
                vec![led(3, BTC, max - 10, 0, max - 10, 0, Deposit, 7)],
            ),
            (dep(3, 0, 11), rej(3, InvalidAmount)),
            (dep(3, 0, 10), vec![led(3, BTC, 10, 0, max, 0, Deposit, 7)]),
            (wd(3, 0, 0), rej(3, InvalidAmount)),
            (wd(3, 1, 1), rej(3, InsufficientBalance)),
            (
                wd(3, 0, max),
                vec![led(3, BTC, -max, 0, 0, 0, LedgerReason::Withdrawal, 8)],
            ),
            (wd(3, 0, 1), rej(3, InsufficientBalance)),
        ],
    }
}

/// Cancel checks in order, and a successful cancel by client id.
fn cancels() -> Scenario {
    use RejectReason::*;
    let e = ClOrdId::EMPTY;
    let mut o = limit(1, Buy, 100, 2);
    o.cl_ord_id = cl("x");
    let cancel = |a: u32, sym: u16, target: OrderRef| {
        cmd(
            3,
            CommandKind::Cancel(CancelOrder {
                account: AccountId(a),
                symbol: SymbolId(sym),
                target,
                cl_ord_id: cl("k"),
            }),
        )
    };
    let rej = |a: u32, sym: u16, target: OrderRef, found: bool, reason| {
        vec![Event::CancelRejected {
            account: AccountId(a),
            symbol: SymbolId(sym),
            target,
            cl_ord_id: cl("k"),
            order_id: OrderId(if found { 1 } else { 0 }),
            order_cl_ord_id: if found { cl("x") } else { e },
            leaves: Qty(if found { 2 } else { 0 }),
            cum_qty: Qty(0),
            is_replace: false,
            reason,
        }]
    };
    let by_id = OrderRef::Id(OrderId(1));
    let by_cl = OrderRef::ClOrdId(cl("x"));
    Scenario {
        name: "cancel checks and cancel by client id",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 100_000, 1),
            // lock_buy(100, 2) = 20_000 + 40.
            (
                new(2, o),
                vec![
                    accepted(1, o),
                    led(1, USD, -20_040, 20_040, 79_960, 20_040, OrderLock, 1),
                    lvl(Buy, 100, 2, 1),
                ],
            ),
            (cancel(5, 0, by_id), rej(5, 0, by_id, false, UnknownAccount)),
            (
                cancel(1, 0, OrderRef::Id(OrderId(2))),
                rej(1, 0, OrderRef::Id(OrderId(2)), false, UnknownOrder),
            ),
            (cancel(2, 0, by_cl), rej(2, 0, by_cl, false, UnknownOrder)),
            (cancel(2, 0, by_id), rej(2, 0, by_id, false, NotOwner)), // another account's order is not revealed
            (cancel(1, 1, by_id), rej(1, 1, by_id, true, UnknownOrder)),
            (
                cancel(1, 0, OrderRef::ClOrdId(e)),
                rej(1, 0, OrderRef::ClOrdId(e), false, UnknownOrder),
            ),
            (
                cancel(1, 0, by_cl),
                vec![
                    canceled(
                        st(1, 1, Buy, cl("x"), 100, 2, 0, 0, 0),
                        2,
                        CancelReason::UserRequest,
                        cl("k"),
                    ),
                    lvl(Buy, 100, 0, 0),
                    led(1, USD, 20_040, -20_040, 100_000, 0, OrderUnlock, 1),
                ],
            ),
            (cancel(1, 0, by_id), rej(1, 0, by_id, false, UnknownOrder)),
        ],
    }
}

// ------------------------------------------------------------------ operator commands

fn op(ts: u64, kind: CommandKind) -> Command {
    cmd(ts, kind)
}

fn halt(ts: u64, s: u16) -> Command {
    op(
        ts,
        CommandKind::HaltSymbol {
            symbol: SymbolId(s),
        },
    )
}

fn resume_sym(ts: u64, s: u16) -> Command {
    op(
        ts,
        CommandKind::ResumeSymbol {
            symbol: SymbolId(s),
        },
    )
}

fn suspend(ts: u64, a: u32) -> Command {
    op(
        ts,
        CommandKind::SuspendAccount {
            account: AccountId(a),
        },
    )
}

fn resume_acc(ts: u64, a: u32) -> Command {
    op(
        ts,
        CommandKind::ResumeAccount {
            account: AccountId(a),
        },
    )
}

fn sym_status(halted: bool) -> Vec<Event> {
    vec![Event::SymbolStatus { symbol: S, halted }]
}

fn acc_status(a: u32, suspended: bool) -> Vec<Event> {
    vec![Event::AccountStatus {
        account: AccountId(a),
        suspended,
    }]
}

fn admin_rej(target: AdminTarget, reason: RejectReason) -> Vec<Event> {
    vec![Event::AdminRejected { target, reason }]
}

fn rejected(o: NewOrder, reason: RejectReason) -> Vec<Event> {
    vec![Event::OrderRejected { order: o, reason }]
}

fn transfer(ts: u64, deposit: bool, a: u32, asset: AssetId, amount: i64, r: u64) -> Command {
    let t = Transfer {
        account: AccountId(a),
        asset,
        amount,
        reference: r,
    };
    op(
        ts,
        if deposit {
            CommandKind::Deposit(t)
        } else {
            CommandKind::Withdraw(t)
        },
    )
}

fn replace_cmd(ts: u64, a: u32, target: OrderRef, price: i64, qty: i64) -> Command {
    op(
        ts,
        CommandKind::Replace(ReplaceOrder {
            account: AccountId(a),
            symbol: S,
            target,
            cl_ord_id: ClOrdId::EMPTY,
            price: Price(price),
            qty: Qty(qty),
        }),
    )
}

/// A refused replace of an order that was found: (id, client id, leaves, cum).
fn replace_rej(
    a: u32,
    target: OrderRef,
    found: Option<(u64, ClOrdId, i64, i64)>,
    reason: RejectReason,
) -> Vec<Event> {
    let (id, c, leaves, cum) = found.unwrap_or((0, ClOrdId::EMPTY, 0, 0));
    vec![Event::CancelRejected {
        account: AccountId(a),
        symbol: S,
        target,
        cl_ord_id: ClOrdId::EMPTY,
        order_id: OrderId(id),
        order_cl_ord_id: c,
        leaves: Qty(leaves),
        cum_qty: Qty(cum),
        is_replace: true,
        reason,
    }]
}

/// A halted symbol: new orders (whatever else is wrong with them after check 4) and
/// replaces (whatever their price) are refused, the resting orders stay; cancel, GTD
/// expiry and mass cancel work; halting twice is a no-op success. Resumed, the symbol
/// trades again against the order that rested through the halt.
fn halted_symbol() -> Scenario {
    use RejectReason::*;
    let e = ClOrdId::EMPTY;
    let mut o1 = limit(1, Buy, 99, 2);
    o1.cl_ord_id = cl("a");
    o1.tif = Tif::Gtd;
    o1.expire_ns = 50;
    let mut o2 = limit(1, Buy, 98, 3);
    o2.cl_ord_id = cl("b");
    let mut o3 = limit(1, Buy, 97, 1);
    o3.cl_ord_id = cl("c");
    let o4 = limit(2, Sell, 101, 4);
    let crossing = limit(2, Sell, 99, 1);
    let mut dup = limit(1, Buy, 100, 1);
    dup.cl_ord_id = cl("a"); // also a duplicate client id (check 5): halted wins
    let taker = limit(1, Buy, 101, 1);
    let mc = MassCancel {
        account: AccountId(1),
        scope: MassCancelScope::Symbol(S),
        cl_ord_id: cl("m"),
    };
    Scenario {
        name: "halted symbol rejects new orders and replaces, allows cancels and expiry; resume restores",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 1_000_000, 1),
            fund(1, 2, BTC, 1_000, 2),
            // lock_buy(99, 2) = 19_800 + trunc(39.6) = 19_839.
            (
                new(2, o1),
                vec![
                    accepted(1, o1),
                    led(1, USD, -19_839, 19_839, 980_161, 19_839, OrderLock, 1),
                    lvl(Buy, 99, 2, 1),
                ],
            ),
            // lock_buy(98, 3) = 29_400 + trunc(58.8) = 29_458.
            (
                new(3, o2),
                vec![
                    accepted(2, o2),
                    led(1, USD, -29_458, 29_458, 950_703, 49_297, OrderLock, 2),
                    lvl(Buy, 98, 3, 1),
                ],
            ),
            // lock_buy(97, 1) = 9_700 + trunc(19.4) = 9_719.
            (
                new(3, o3),
                vec![
                    accepted(3, o3),
                    led(1, USD, -9_719, 9_719, 940_984, 59_016, OrderLock, 3),
                    lvl(Buy, 97, 1, 1),
                ],
            ),
            (
                new(4, o4),
                vec![
                    accepted(4, o4),
                    led(2, BTC, -40, 40, 960, 40, OrderLock, 4),
                    lvl(Sell, 101, 4, 1),
                ],
            ),
            // Only the status event: no order leaves, no level changes.
            (halt(5, 0), sym_status(true)),
            (halt(5, 0), sym_status(true)),
            (new(6, crossing), rejected(crossing, SymbolHalted)),
            (new(6, dup), rejected(dup, SymbolHalted)),
            // Qty down at the same price would keep priority: still refused, with the
            // order's details (it was found and is the requester's).
            (
                replace_cmd(6, 1, OrderRef::Id(OrderId(2)), 98, 2),
                replace_rej(
                    1,
                    OrderRef::Id(OrderId(2)),
                    Some((2, cl("b"), 3, 0)),
                    SymbolHalted,
                ),
            ),
            // Price 49 is out of band, but the halt is checked first.
            (
                replace_cmd(6, 1, OrderRef::ClOrdId(cl("b")), 49, 3),
                replace_rej(
                    1,
                    OrderRef::ClOrdId(cl("b")),
                    Some((2, cl("b"), 3, 0)),
                    SymbolHalted,
                ),
            ),
            // Cancel's checks come first.
            (
                replace_cmd(6, 1, OrderRef::Id(OrderId(9)), 98, 2),
                replace_rej(1, OrderRef::Id(OrderId(9)), None, UnknownOrder),
            ),
            (
                op(
                    7,
                    CommandKind::Cancel(CancelOrder {
                        account: AccountId(1),
                        symbol: S,
                        target: OrderRef::Id(OrderId(2)),
                        cl_ord_id: cl("k"),
                    }),
                ),
                vec![
                    canceled(
                        st(2, 1, Buy, cl("b"), 98, 3, 0, 0, 0),
                        3,
                        CancelReason::UserRequest,
                        cl("k"),
                    ),
                    lvl(Buy, 98, 0, 0),
                    led(1, USD, 29_458, -29_458, 970_442, 29_558, OrderUnlock, 2),
                ],
            ),
            // GTD expiry at now = 60 >= 50.
            (
                op(60, CommandKind::TimeTick),
                vec![
                    canceled(
                        st(1, 1, Buy, cl("a"), 99, 2, 0, 0, 0),
                        2,
                        CancelReason::Expired,
                        e,
                    ),
                    lvl(Buy, 99, 0, 0),
                    led(1, USD, 19_839, -19_839, 990_281, 9_719, OrderUnlock, 1),
                ],
            ),
            (
                op(61, CommandKind::MassCancel(mc)),
                vec![
                    canceled(
                        st(3, 1, Buy, cl("c"), 97, 1, 0, 0, 0),
                        1,
                        CancelReason::MassCancel,
                        cl("m"),
                    ),
                    lvl(Buy, 97, 0, 0),
                    led(1, USD, 9_719, -9_719, 1_000_000, 0, OrderUnlock, 3),
                    Event::MassCancelReport {
                        account: AccountId(1),
                        scope: MassCancelScope::Symbol(S),
                        cl_ord_id: cl("m"),
                        canceled: 1,
                        reject: None,
                    },
                ],
            ),
            (resume_sym(62, 0), sym_status(false)),
            (resume_sym(62, 0), sym_status(false)),
            // Trading again, against order 4 which rested through the halt.
            // lock_buy(101, 1) = 10_100 + trunc(20.2) = 10_120. n = 10_100, maker fee
            // trunc(-10.1) = -10, taker fee 20; the buyer's whole lock is spent.
            (
                new(63, taker),
                vec![
                    accepted(5, taker),
                    led(1, USD, -10_120, 10_120, 989_880, 10_120, OrderLock, 5),
                    trade(
                        1,
                        101,
                        1,
                        Buy,
                        fill(4, 2, 3, 1, 101, -10),
                        fill(5, 1, 0, 1, 101, 20),
                    ),
                    led(1, USD, 0, -10_120, 989_880, 0, T, 1),
                    led(1, BTC, 10, 0, 10, 0, T, 1),
                    led(2, BTC, 0, -10, 960, 30, T, 1),
                    led(2, USD, 10_110, 0, 10_110, 0, T, 1),
                    led(FEE, USD, 10, 0, 10, 0, Fee, 1),
                    lvl(Sell, 101, 3, 1),
                ],
            ),
        ],
    }
}

/// A suspended account may only cancel: its new orders, replaces and withdrawals are
/// refused, a deposit to it works, its resting order is still filled when another account
/// hits it, its cancel and mass cancel work. Resumed, it withdraws and trades again.
fn suspended_account() -> Scenario {
    use RejectReason::*;
    let (s1, s2) = (limit(2, Sell, 100, 5), limit(2, Sell, 102, 2));
    let mut unknown_sym = limit(2, Sell, 101, 1);
    unknown_sym.symbol = SymbolId(1); // check 2 comes before check 3
    let blocked = limit(2, Sell, 101, 1);
    let taker = limit(1, Buy, 100, 3);
    let id1 = OrderRef::Id(OrderId(1));
    let mc = MassCancel {
        account: AccountId(2),
        scope: MassCancelScope::Account,
        cl_ord_id: cl("m"),
    };
    Scenario {
        name: "suspended account can only cancel; its resting order still trades; deposits work; resume restores",
        steps: vec![
            create(1, 1),
            create(1, 2),
            fund(1, 1, USD, 1_000_000, 1),
            fund(1, 2, BTC, 1_000, 2),
            (
                new(2, s1),
                vec![
                    accepted(1, s1),
                    led(2, BTC, -50, 50, 950, 50, OrderLock, 1),
                    lvl(Sell, 100, 5, 1),
                ],
            ),
            (
                new(2, s2),
                vec![
                    accepted(2, s2),
                    led(2, BTC, -20, 20, 930, 70, OrderLock, 2),
                    lvl(Sell, 102, 2, 1),
                ],
            ),
            (suspend(3, 2), acc_status(2, true)),
            (suspend(3, 2), acc_status(2, true)),
            (new(4, blocked), rejected(blocked, AccountSuspended)),
            (new(4, unknown_sym), rejected(unknown_sym, AccountSuspended)),
            (
                replace_cmd(4, 2, id1, 100, 4),
                replace_rej(2, id1, Some((1, ClOrdId::EMPTY, 5, 0)), AccountSuspended),
            ),
            // Suspended and halted: the account's status is checked first.
            (halt(4, 0), sym_status(true)),
            (
                replace_cmd(4, 2, id1, 100, 4),
                replace_rej(2, id1, Some((1, ClOrdId::EMPTY, 5, 0)), AccountSuspended),
            ),
            (resume_sym(4, 0), sym_status(false)),
            (
                replace_cmd(4, 2, OrderRef::Id(OrderId(7)), 100, 4),
                replace_rej(2, OrderRef::Id(OrderId(7)), None, UnknownOrder),
            ),
            (
                transfer(5, false, 2, BTC, 10, 8),
                admin_rej(AdminTarget::Account(AccountId(2)), AccountSuspended),
            ),
            (
                transfer(5, false, 2, AssetId(5), 10, 8),
                admin_rej(AdminTarget::Account(AccountId(2)), AccountSuspended),
            ),
            (
                transfer(5, true, 2, USD, 500, 9),
                vec![led(2, USD, 500, 0, 500, 0, Deposit, 9)],
            ),
            // Another account hits the suspended account's resting order.
            // lock_buy(100, 3) = 30_000 + 60. n = 30_000, maker fee -30, taker fee 60.
            (
                new(6, taker),
                vec![
                    accepted(3, taker),
                    led(1, USD, -30_060, 30_060, 969_940, 30_060, OrderLock, 3),
                    trade(
                        1,
                        100,
                        3,
                        Buy,
                        fill(1, 2, 2, 3, 300, -30),
                        fill(3, 1, 0, 3, 300, 60),
                    ),
                    led(1, USD, 0, -30_060, 969_940, 0, T, 1),
                    led(1, BTC, 30, 0, 30, 0, T, 1),
                    led(2, BTC, 0, -30, 930, 40, T, 1),
                    led(2, USD, 30_030, 0, 30_530, 0, T, 1),
                    led(FEE, USD, 30, 0, 30, 0, Fee, 1),
                    lvl(Sell, 100, 2, 1),
                ],
            ),
            (
                op(
                    7,
                    CommandKind::Cancel(CancelOrder {
                        account: AccountId(2),
                        symbol: S,
                        target: id1,
                        cl_ord_id: cl("k"),
                    }),
                ),
                vec![
                    canceled(
                        st(1, 2, Sell, ClOrdId::EMPTY, 100, 5, 0, 3, 300),
                        2,
                        CancelReason::UserRequest,
                        cl("k"),
                    ),
                    lvl(Sell, 100, 0, 0),
                    led(2, BTC, 20, -20, 950, 20, OrderUnlock, 1),
                ],
            ),
            (
                op(8, CommandKind::MassCancel(mc)),
                vec![
                    canceled(
                        st(2, 2, Sell, ClOrdId::EMPTY, 102, 2, 0, 0, 0),
                        2,
                        CancelReason::MassCancel,
                        cl("m"),
                    ),
                    lvl(Sell, 102, 0, 0),
                    led(2, BTC, 20, -20, 970, 0, OrderUnlock, 2),
                    Event::MassCancelReport {
                        account: AccountId(2),
                        scope: MassCancelScope::Account,
                        cl_ord_id: cl("m"),
                        canceled: 1,
                        reject: None,
                    },
                ],
            ),
            (resume_acc(9, 2), acc_status(2, false)),
            (resume_acc(9, 2), acc_status(2, false)),
            (
                transfer(10, false, 2, BTC, 70, 10),
                vec![led(2, BTC, -70, 0, 900, 0, LedgerReason::Withdrawal, 10)],
            ),
            (
                new(10, blocked),
                vec![
                    accepted(4, blocked),
                    led(2, BTC, -10, 10, 890, 10, OrderLock, 4),
                    lvl(Sell, 101, 1, 1),
                ],
            ),
        ],
    }
}

/// Operator commands naming nothing valid, the fee account, no-op resumes, and the check
/// order of other commands under both flags.
fn operator_rejects_and_check_order() -> Scenario {
    use RejectReason::*;
    let sym = |s: u16| AdminTarget::Symbol(SymbolId(s));
    let acc = |a: u32| AdminTarget::Account(AccountId(a));
    let o1 = limit(1, Buy, 100, 1);
    let o2 = limit(2, Buy, 100, 1);
    let mut o2_unknown_sym = o2;
    o2_unknown_sym.symbol = SymbolId(1);
    let o5 = limit(5, Buy, 100, 1);
    Scenario {
        name: "operator command rejects, idempotent resumes, check order under both flags",
        steps: vec![
            create(1, 1),
            create(1, 2),
            (halt(1, 1), admin_rej(sym(1), UnknownSymbol)),
            (resume_sym(1, 7), admin_rej(sym(7), UnknownSymbol)),
            (suspend(1, 3), admin_rej(acc(3), UnknownAccount)), // in range, not created
            (suspend(1, 8), admin_rej(acc(8), UnknownAccount)), // >= max_accounts
            (resume_acc(1, 9), admin_rej(acc(9), UnknownAccount)),
            (suspend(1, FEE), admin_rej(acc(FEE), InvalidAccount)),
            (resume_acc(1, FEE), admin_rej(acc(FEE), InvalidAccount)),
            // Resuming what is not halted/suspended: success, status unchanged.
            (resume_acc(1, 1), acc_status(1, false)),
            (resume_sym(1, 0), sym_status(false)),
            (suspend(2, 1), acc_status(1, true)),
            (halt(2, 0), sym_status(true)),
            (new(3, o1), rejected(o1, AccountSuspended)), // check 2 before 4
            (new(3, o5), rejected(o5, UnknownAccount)),
            (new(3, o2), rejected(o2, SymbolHalted)),
            (
                new(3, o2_unknown_sym),
                rejected(o2_unknown_sym, UnknownSymbol),
            ),
            // Deposits to a suspended account work; withdrawals of unknown accounts are
            // still UnknownAccount.
            fund(3, 1, USD, 100_000, 1),
            (
                transfer(3, false, 5, USD, 1, 2),
                admin_rej(acc(5), UnknownAccount),
            ),
            // Cancel checks are unchanged for a suspended account.
            (
                op(
                    3,
                    CommandKind::Cancel(CancelOrder {
                        account: AccountId(1),
                        symbol: S,
                        target: OrderRef::Id(OrderId(1)),
                        cl_ord_id: ClOrdId::EMPTY,
                    }),
                ),
                vec![Event::CancelRejected {
                    account: AccountId(1),
                    symbol: S,
                    target: OrderRef::Id(OrderId(1)),
                    cl_ord_id: ClOrdId::EMPTY,
                    order_id: OrderId(0),
                    order_cl_ord_id: ClOrdId::EMPTY,
                    leaves: Qty(0),
                    cum_qty: Qty(0),
                    is_replace: false,
                    reason: UnknownOrder,
                }],
            ),
            (
                op(
                    3,
                    CommandKind::MassCancel(MassCancel {
                        account: AccountId(1),
                        scope: MassCancelScope::Symbol(S),
                        cl_ord_id: ClOrdId::EMPTY,
                    }),
                ),
                vec![Event::MassCancelReport {
                    account: AccountId(1),
                    scope: MassCancelScope::Symbol(S),
                    cl_ord_id: ClOrdId::EMPTY,
                    canceled: 0,
                    reject: None,
                }],
            ),
            // Resuming the account alone: the halt still applies.
            (resume_acc(4, 1), acc_status(1, false)),
            (new(4, o1), rejected(o1, SymbolHalted)),
            (resume_sym(4, 0), sym_status(false)),
            // lock_buy(100, 1) = 10_000 + 20.
            (
                new(4, o1),
                vec![
                    accepted(1, o1),
                    led(1, USD, -10_020, 10_020, 89_980, 10_020, OrderLock, 1),
                    lvl(Buy, 100, 1, 1),
                ],
            ),
        ],
    }
}

pub fn all() -> Vec<Scenario> {
    vec![
        two_level_sweep(),
        budget_market_buy(),
        budget_extra_lot_same_maker(),
        stp_decrement(),
        stp_decrement_taker_finished(),
        lifecycle(),
        rejects(),
        transfers(),
        cancels(),
        halted_symbol(),
        suspended_account(),
        operator_rejects_and_check_order(),
    ]
}

#[test]
fn model_matches_hand_derived_scenarios() {
    for sc in all() {
        let mut m = super::Model::new(&config());
        for (i, (c, want)) in sc.steps.iter().enumerate() {
            let got = m.apply(c);
            assert_eq!(&got, want, "scenario {:?} step {i}: {c:?}", sc.name);
            m.check_invariants()
                .unwrap_or_else(|e| panic!("scenario {:?} step {i}: {e}", sc.name));
        }
    }
}
