//! The books under test behind one trait, and the adapters for the reference book and the
//! two peer crates. Each adapter converts the neutral [`Op`] stream into its own input
//! type before timing, so the timed loop only calls the book.

use crate::workload::{Op, RefBook, Side, Workload};

/// A book under test.
pub trait Book: Sized {
    /// What one timed call consumes (pre-converted from an [`Op`]).
    type Input;
    /// Row name in the report.
    const NAME: &'static str;
    /// A fresh book with the workload's accounts set up and its pre-fill applied.
    fn new(w: &Workload) -> Self;
    /// Converts the op at position `seq` of the timed stream.
    fn convert(op: &Op, seq: u64) -> Self::Input;
    /// Applies one input.
    fn apply(&mut self, input: &Self::Input);
    /// Cross-check line after a run over the whole stream: what the book ended with.
    fn summary(&self) -> String;
}

/// The reference book (`BTreeMap` + `VecDeque`, no accounts): the baseline.
pub struct Baseline {
    book: RefBook,
}

impl Book for Baseline {
    type Input = Op;
    const NAME: &'static str = "baseline BTreeMap+VecDeque";

    fn new(w: &Workload) -> Self {
        let mut book = RefBook::new();
        for op in &w.prefill {
            book.apply(op);
        }
        Baseline { book }
    }
    fn convert(op: &Op, _seq: u64) -> Op {
        *op
    }
    #[inline]
    fn apply(&mut self, op: &Op) {
        self.book.apply(op);
    }
    fn summary(&self) -> String {
        let (_, _, bl, al) = self.book.depth();
        format!(
            "trades={} resting_orders={} bid_lots={bl} ask_lots={al}",
            self.book.trades,
            self.book.len()
        )
    }
}

/// `lobster` 0.7: limit, market and cancel only. IOC = limit order, then a cancel of the
/// remainder if it rested; move = cancel + new limit order (same id, open quantity).
pub struct Lobster {
    ob: lobster::OrderBook,
    fills: u64,
    ioc_rest_cancels: u64,
}

/// Input of the `lobster` adapter.
pub enum LobsterInput {
    /// A limit order that may rest.
    Gtc(lobster::OrderType),
    /// A limit order whose rested remainder is canceled at once.
    Ioc(lobster::OrderType, u128),
    /// Cancel.
    Cancel(lobster::OrderType),
    /// Cancel, then a new limit order for the open quantity.
    Move(lobster::OrderType, lobster::OrderType),
}

fn lobster_side(s: Side) -> lobster::Side {
    match s {
        Side::Buy => lobster::Side::Bid,
        Side::Sell => lobster::Side::Ask,
    }
}

impl Lobster {
    #[inline]
    fn exec(&mut self, o: lobster::OrderType) -> bool {
        match self.ob.execute(o) {
            lobster::OrderEvent::Filled { fills, .. } => {
                self.fills += fills.len() as u64;
                false
            }
            lobster::OrderEvent::PartiallyFilled { fills, .. } => {
                self.fills += fills.len() as u64;
                true
            }
            lobster::OrderEvent::Placed { .. } => true,
            _ => false,
        }
    }
}

impl Book for Lobster {
    type Input = LobsterInput;
    const NAME: &'static str = "lobster 0.7";

    fn new(w: &Workload) -> Self {
        let mut b = Lobster {
            ob: lobster::OrderBook::default(),
            fills: 0,
            ioc_rest_cancels: 0,
        };
        for (i, op) in w.prefill.iter().enumerate() {
            let x = Self::convert(op, i as u64);
            b.apply(&x);
        }
        b
    }
    fn convert(op: &Op, _seq: u64) -> LobsterInput {
        use lobster::OrderType as O;
        match *op {
            Op::Gtc {
                id,
                side,
                price,
                qty,
                ..
            } => LobsterInput::Gtc(O::Limit {
                id: id as u128,
                side: lobster_side(side),
                qty: qty as u64,
                price: price as u64,
            }),
            Op::Ioc {
                id,
                side,
                price,
                qty,
                ..
            } => LobsterInput::Ioc(
                O::Limit {
                    id: id as u128,
                    side: lobster_side(side),
                    qty: qty as u64,
                    price: price as u64,
                },
                id as u128,
            ),
            Op::Cancel { id, .. } => LobsterInput::Cancel(O::Cancel { id: id as u128 }),
            Op::Move {
                id,
                side,
                new_price,
                leaves,
                ..
            } => LobsterInput::Move(
                O::Cancel { id: id as u128 },
                O::Limit {
                    id: id as u128,
                    side: lobster_side(side),
                    qty: leaves as u64,
                    price: new_price as u64,
                },
            ),
        }
    }
    #[inline]
    fn apply(&mut self, x: &LobsterInput) {
        match *x {
            LobsterInput::Gtc(o) => {
                self.exec(o);
            }
            LobsterInput::Ioc(o, id) => {
                if self.exec(o) {
                    self.ioc_rest_cancels += 1;
                    self.exec(lobster::OrderType::Cancel { id });
                }
            }
            LobsterInput::Cancel(o) => {
                self.exec(o);
            }
            LobsterInput::Move(c, o) => {
                self.exec(c);
                self.exec(o);
            }
        }
    }
    fn summary(&self) -> String {
        let d = self.ob.depth(1 << 16);
        let bl: u64 = d.bids.iter().map(|l| l.qty).sum();
        let al: u64 = d.asks.iter().map(|l| l.qty).sum();
        format!(
            "trades={} bid_lots={bl} ask_lots={al} ioc_remainder_cancels={}",
            self.fills, self.ioc_rest_cancels
        )
    }
}

/// `orderbook-rs` 0.15: every op maps directly. GTC/IOC = `add_limit_order` with that
/// time in force, cancel = `cancel_order`, move = `update_order(UpdatePrice)`.
pub struct OrderbookRs {
    ob: orderbook_rs::OrderBook<()>,
    errors: u64,
    ioc_remainders: u64,
}

/// Input of the `orderbook-rs` adapter.
pub enum OrderbookRsInput {
    /// Limit order.
    Limit {
        /// Id.
        id: pricelevel::Id,
        /// Price.
        price: u128,
        /// Quantity.
        qty: u64,
        /// Side.
        side: pricelevel::Side,
        /// GTC or IOC.
        tif: pricelevel::TimeInForce,
    },
    /// Cancel.
    Cancel(pricelevel::Id),
    /// Price update.
    Move(pricelevel::Id, pricelevel::Price),
}

fn ob_side(s: Side) -> pricelevel::Side {
    match s {
        Side::Buy => pricelevel::Side::Buy,
        Side::Sell => pricelevel::Side::Sell,
    }
}

impl Book for OrderbookRs {
    type Input = OrderbookRsInput;
    const NAME: &'static str = "orderbook-rs 0.15";

    fn new(w: &Workload) -> Self {
        let mut b = OrderbookRs {
            ob: orderbook_rs::OrderBook::new("BTC-USDT"),
            errors: 0,
            ioc_remainders: 0,
        };
        for (i, op) in w.prefill.iter().enumerate() {
            let x = Self::convert(op, i as u64);
            b.apply(&x);
        }
        b
    }
    fn convert(op: &Op, _seq: u64) -> OrderbookRsInput {
        use pricelevel::{Id, Price, TimeInForce};
        match *op {
            Op::Gtc {
                id,
                side,
                price,
                qty,
                ..
            } => OrderbookRsInput::Limit {
                id: Id::from_u64(id),
                price: price as u128,
                qty: qty as u64,
                side: ob_side(side),
                tif: TimeInForce::Gtc,
            },
            Op::Ioc {
                id,
                side,
                price,
                qty,
                ..
            } => OrderbookRsInput::Limit {
                id: Id::from_u64(id),
                price: price as u128,
                qty: qty as u64,
                side: ob_side(side),
                tif: TimeInForce::Ioc,
            },
            Op::Cancel { id, .. } => OrderbookRsInput::Cancel(Id::from_u64(id)),
            Op::Move { id, new_price, .. } => {
                OrderbookRsInput::Move(Id::from_u64(id), Price::new(new_price as u128))
            }
        }
    }
    #[inline]
    fn apply(&mut self, x: &OrderbookRsInput) {
        let ok = match *x {
            OrderbookRsInput::Limit {
                id,
                price,
                qty,
                side,
                tif,
            } => {
                match self.ob.add_limit_order(id, price, qty, side, tif, None) {
                    Ok(_) => true,
                    // An IOC's unfilled remainder is reported as an error.
                    Err(orderbook_rs::OrderBookError::InsufficientLiquidity { .. })
                        if tif == pricelevel::TimeInForce::Ioc =>
                    {
                        self.ioc_remainders += 1;
                        true
                    }
                    Err(_) => false,
                }
            }
            OrderbookRsInput::Cancel(id) => matches!(self.ob.cancel_order(id), Ok(Some(_))),
            OrderbookRsInput::Move(id, new_price) => self
                .ob
                .update_order(pricelevel::OrderUpdate::UpdatePrice {
                    order_id: id,
                    new_price,
                })
                .is_ok(),
        };
        self.errors += !ok as u64;
    }
    fn summary(&self) -> String {
        let orders = self.ob.get_all_orders();
        let (mut bl, mut al) = (0u64, 0u64);
        for o in &orders {
            match o.side() {
                pricelevel::Side::Buy => bl += o.visible_quantity().as_u64(),
                pricelevel::Side::Sell => al += o.visible_quantity().as_u64(),
            }
        }
        format!(
            "resting_orders={} bid_lots={bl} ask_lots={al} ioc_remainders={} errors={}",
            orders.len(),
            self.ioc_remainders,
            self.errors
        )
    }
}

/// No book at all: measures the harness and the machine (timer, scheduler, hypervisor
/// stalls). Its latency is the floor every other row's latency includes.
pub struct Idle;

impl Book for Idle {
    type Input = ();
    const NAME: &'static str = "no-op (harness + machine floor)";
    fn new(_: &Workload) -> Self {
        Idle
    }
    fn convert(_: &Op, _: u64) {}
    #[inline]
    fn apply(&mut self, _: &()) {}
    fn summary(&self) -> String {
        "-".into()
    }
}
