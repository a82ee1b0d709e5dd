//! Hand-derived scenarios: command → expected events, worked out from SEMANTICS.md by hand
//! (the arithmetic is in the comments). They document the spec and check the model; the
//! differential suite runs the same table against the engine.
//!
//! Config: one instrument BTC-USD with `quote_units_per_tick_lot = 100`,
//! `base_units_per_lot = 10`, maker −10 bps (rebate), taker 20 bps, so
//! `r_lock = 20` and `lock_buy(p, q) = 100pq + trunc(100pq × 20 / 10_000)`.

use tachyon_engine::{
    AccountId, AssetId, AssetSpec, CancelOrder, CancelReason, ClOrdId, Command, CommandKind,
    EngineConfig, Event, Fill, InstrumentSpec, LedgerEntry, LedgerReason, MassCancel,
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
            account: AccountId(a),
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
