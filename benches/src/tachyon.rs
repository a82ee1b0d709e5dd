//! The Tachyon adapter: the whole engine with risk checks on (funded accounts, balance
//! locks, fees, ledger events), one symbol, fed pre-built [`Command`]s.

use crate::books::Book;
use crate::workload::{Op, Side, Workload};
use tachyon_engine::{
    AccountId, AssetId, AssetSpec, CancelOrder, CancelReason, ClOrdId, Command, CommandKind,
    Engine, EngineConfig, Event, EventSink, InstrumentSpec, NewOrder, OrdType, OrderId, OrderRef,
    Price, Qty, ReplaceOrder, SessionId, StpMode, SymbolId, Tif, Transfer,
};

/// The one symbol.
pub const SYMBOL: SymbolId = SymbolId(0);
/// Base asset (BTC).
pub const BASE: AssetId = AssetId(0);
/// Quote asset (USDT).
pub const QUOTE: AssetId = AssetId(1);
/// Fee account.
pub const FEE_ACCOUNT: AccountId = AccountId(0);

/// BTC-USDT with tick 0.01 USDT and lot 0.001 BTC; maker 2 bps, taker 5 bps.
pub fn engine_config(accounts: u32) -> EngineConfig {
    EngineConfig {
        assets: vec![
            AssetSpec {
                code: "BTC".into(),
                decimals: 8,
            },
            AssetSpec {
                code: "USDT".into(),
                decimals: 6,
            },
        ],
        instruments: vec![InstrumentSpec {
            symbol: "BTC-USDT".into(),
            base: BASE,
            quote: QUOTE,
            // 0.01 USDT × 0.001 BTC × 10^6
            quote_units_per_tick_lot: 10,
            // 0.001 BTC × 10^8
            base_units_per_lot: 100_000,
            min_qty_lots: 1,
            max_qty_lots: 100_000,
            min_notional_quote_units: 1_000_000,
            maker_fee_bps: 2,
            taker_fee_bps: 5,
            min_price_ticks: 1,
            max_price_ticks: 10_000_000,
        }],
        max_accounts: accounts + 1,
        max_orders: 1 << 16,
        max_levels_per_side: 1 << 14,
        fee_account: FEE_ACCOUNT,
    }
}

/// Quote funded per account: 10^8 USDT.
pub const QUOTE_DEPOSIT: i64 = 100_000_000 * 1_000_000;
/// Base funded per account: 10^4 BTC.
pub const BASE_DEPOSIT: i64 = 10_000 * 100_000_000;

/// How cancels and replaces name their order.
pub trait Targeting {
    /// Row name suffix.
    const LABEL: &'static str;
    /// The reference for op id `id`.
    fn target(id: u64) -> OrderRef;
}

/// By the client order id every order is given (`ClOrdId::from_u64(op id)`), as a FIX
/// client's OrigClOrdID would: the engine looks it up in the account's open orders.
pub struct ByClOrdId;
impl Targeting for ByClOrdId {
    const LABEL: &'static str = "Tachyon engine (risk on)";
    fn target(id: u64) -> OrderRef {
        OrderRef::ClOrdId(ClOrdId::from_u64(id))
    }
}

/// By the engine's order id (ids are assigned from 1 in acceptance order, and every order
/// of the workload is accepted, so op id = `OrderId`).
pub struct ByOrderId;
impl Targeting for ByOrderId {
    const LABEL: &'static str = "Tachyon engine (risk on, by OrderId)";
    fn target(id: u64) -> OrderRef {
        OrderRef::Id(OrderId(id))
    }
}

/// An allocation-free sink that copies every event into a fixed ring (as publishing to
/// the outbound ring would) and counts the kinds the cross-check needs.
pub struct RingSink {
    ring: Box<[Event]>,
    /// Events seen.
    pub events: u64,
    /// Trades.
    pub trades: u64,
    /// Orders, cancels or replaces refused (expected 0).
    pub rejects: u64,
    /// Orders canceled by self-trade prevention (expected 0).
    pub stp_cancels: u64,
    /// IOC remainders canceled.
    pub ioc_cancels: u64,
    count_only: bool,
}

const RING: usize = 1024;

/// If set (by `--sink count`), the sink only counts: no event is copied anywhere. For
/// measuring what the event copies cost; the default ring is the realistic one.
pub static COUNT_ONLY_SINK: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl RingSink {
    /// An empty ring.
    pub fn new() -> RingSink {
        RingSink {
            ring: vec![
                Event::AccountCreated {
                    account: FEE_ACCOUNT
                };
                RING
            ]
            .into_boxed_slice(),
            events: 0,
            trades: 0,
            rejects: 0,
            stp_cancels: 0,
            ioc_cancels: 0,
            count_only: COUNT_ONLY_SINK.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

impl Default for RingSink {
    fn default() -> Self {
        RingSink::new()
    }
}

impl EventSink for RingSink {
    #[inline]
    fn emit(&mut self, event: Event) {
        match &event {
            Event::Trade(_) => self.trades += 1,
            Event::OrderRejected { .. }
            | Event::CancelRejected { .. }
            | Event::AdminRejected { .. } => self.rejects += 1,
            Event::OrderCanceled {
                reason: CancelReason::SelfTrade,
                ..
            } => self.stp_cancels += 1,
            Event::OrderCanceled {
                reason: CancelReason::Ioc,
                ..
            } => self.ioc_cancels += 1,
            _ => {}
        }
        if !self.count_only {
            self.ring[self.events as usize & (RING - 1)] = event;
        }
        self.events += 1;
    }
}

/// The engine plus its sink; `T` picks how cancels/replaces name orders.
pub struct Tachyon<T: Targeting> {
    /// The engine.
    pub engine: Engine,
    /// The sink of the timed loop.
    pub sink: RingSink,
    _t: core::marker::PhantomData<T>,
}

/// Start of the command timestamps (ns since the epoch; any increasing values do).
const TS0: u64 = 1_750_000_000_000_000_000;

fn side(s: Side) -> tachyon_engine::Side {
    match s {
        Side::Buy => tachyon_engine::Side::Buy,
        Side::Sell => tachyon_engine::Side::Sell,
    }
}

fn new_order(id: u64, account: u32, s: Side, price: i64, qty: i64, tif: Tif) -> CommandKind {
    CommandKind::NewOrder(NewOrder {
        account: AccountId(account),
        session: SessionId(1),
        cl_ord_id: ClOrdId::from_u64(id),
        symbol: SYMBOL,
        side: side(s),
        ord_type: OrdType::Limit,
        price: Price(price),
        qty: Qty(qty),
        quote_budget: 0,
        tif,
        expire_ns: 0,
        post_only: false,
        stp: StpMode::CancelNewest,
    })
}

impl<T: Targeting> Tachyon<T> {
    fn setup(accounts: u32) -> Self {
        let mut engine = Engine::new(engine_config(accounts)).expect("valid bench config");
        let mut out: Vec<Event> = Vec::new();
        let mut ts = TS0 - 10_000_000;
        for a in 1..=accounts {
            let account = AccountId(a);
            for kind in [
                CommandKind::CreateAccount { account },
                CommandKind::Deposit(Transfer {
                    account,
                    asset: BASE,
                    amount: BASE_DEPOSIT,
                    reference: a as u64,
                }),
                CommandKind::Deposit(Transfer {
                    account,
                    asset: QUOTE,
                    amount: QUOTE_DEPOSIT,
                    reference: a as u64,
                }),
            ] {
                ts += 1;
                engine.apply(&Command { ts_ns: ts, kind }, &mut out);
            }
        }
        let refused = out
            .iter()
            .filter(|e| matches!(e, Event::AdminRejected { .. }))
            .count();
        assert_eq!(
            refused,
            0,
            "account setup refused: {:?}",
            out.iter()
                .find(|e| matches!(e, Event::AdminRejected { .. }))
        );
        Tachyon {
            engine,
            sink: RingSink::new(),
            _t: core::marker::PhantomData,
        }
    }
}

impl<T: Targeting> Book for Tachyon<T> {
    type Input = Command;
    const NAME: &'static str = T::LABEL;

    fn new(w: &Workload) -> Self {
        let mut b = Self::setup(w.accounts);
        for (i, op) in w.prefill.iter().enumerate() {
            let mut c = Self::convert(op, 0);
            c.ts_ns = TS0 - 1_000_000 + i as u64;
            b.apply(&c);
        }
        assert_eq!(b.sink.rejects, 0, "pre-fill refused");
        b.sink = RingSink::new();
        b
    }

    fn convert(op: &Op, seq: u64) -> Command {
        let kind = match *op {
            Op::Gtc {
                id,
                account,
                side,
                price,
                qty,
            } => new_order(id, account, side, price, qty, Tif::Gtc),
            Op::Ioc {
                id,
                account,
                side,
                price,
                qty,
            } => new_order(id, account, side, price, qty, Tif::Ioc),
            Op::Cancel { id, account } => CommandKind::Cancel(CancelOrder {
                account: AccountId(account),
                symbol: SYMBOL,
                target: T::target(id),
                cl_ord_id: ClOrdId::EMPTY,
            }),
            Op::Move {
                id,
                account,
                new_price,
                qty,
                ..
            } => CommandKind::Replace(ReplaceOrder {
                account: AccountId(account),
                symbol: SYMBOL,
                target: T::target(id),
                cl_ord_id: ClOrdId::EMPTY,
                price: Price(new_price),
                qty: Qty(qty),
            }),
        };
        Command {
            ts_ns: TS0 + seq * 100,
            kind,
        }
    }

    #[inline]
    fn apply(&mut self, cmd: &Command) {
        self.engine.apply(cmd, &mut self.sink);
    }

    fn summary(&self) -> String {
        let bids = self.engine.book_levels(SYMBOL, tachyon_engine::Side::Buy);
        let asks = self.engine.book_levels(SYMBOL, tachyon_engine::Side::Sell);
        let bl: i64 = bids.iter().map(|l| l.1 .0).sum();
        let al: i64 = asks.iter().map(|l| l.1 .0).sum();
        format!(
            "trades={} resting_orders={} bid_lots={bl} ask_lots={al} rejects={} stp_cancels={} events={}",
            self.sink.trades,
            self.engine.open_orders(),
            self.sink.rejects,
            self.sink.stp_cancels,
            self.sink.events
        )
    }
}
