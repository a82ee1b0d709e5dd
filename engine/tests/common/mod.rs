//! Shared test configuration and a state-aware random command generator.
//!
//! The generator is driven by a 64-bit seed per command (splitmix64), so the same code
//! serves the proptest suite (proptest generates and shrinks the seed vector) and the
//! fixed-seed million-command run. It peeks at the reference model to aim cancels and
//! replaces at live orders most of the time.
#![allow(dead_code)]

use crate::model::Model;
use tachyon_engine::{
    AccountId, AssetId, AssetSpec, CancelOrder, ClOrdId, Command, CommandKind, EngineConfig,
    InstrumentSpec, MassCancel, MassCancelScope, NewOrder, OrdType, OrderId, OrderRef, Price, Qty,
    ReplaceOrder, SessionId, Side, StpMode, SymbolId, Tif, Transfer,
};

pub use tachyon_testkit::SplitMix;

pub const BTC: AssetId = AssetId(0);
pub const USDT: AssetId = AssetId(1);
pub const ETH: AssetId = AssetId(2);
pub const FEE_ACCOUNT: AccountId = AccountId(0);
/// Accounts created and funded by the prelude (the fee account 0 exists from the start).
pub const TRADERS: [u32; 4] = [1, 2, 3, 4];
/// Mid price (ticks) of each instrument: the generator concentrates prices around it.
pub const MIDS: [i64; 3] = [100, 100, 50];

fn instruments() -> Vec<InstrumentSpec> {
    vec![
        // Maker rebate; min notional bites q = 1 below 99 ticks.
        InstrumentSpec {
            symbol: "BTC-USDT".into(),
            base: BTC,
            quote: USDT,
            quote_units_per_tick_lot: 7,
            base_units_per_lot: 1_000,
            min_qty_lots: 1,
            max_qty_lots: 40,
            min_notional_quote_units: 690,
            maker_fee_bps: -1,
            taker_fee_bps: 5,
            min_price_ticks: 60,
            max_price_ticks: 140,
        },
        // Narrow price band (PriceOutOfBand often), min qty 2, large fees.
        InstrumentSpec {
            symbol: "ETH-USDT".into(),
            base: ETH,
            quote: USDT,
            quote_units_per_tick_lot: 3,
            base_units_per_lot: 500,
            min_qty_lots: 2,
            max_qty_lots: 25,
            min_notional_quote_units: 0,
            maker_fee_bps: 20,
            taker_fee_bps: 30,
            min_price_ticks: 96,
            max_price_ticks: 104,
        },
        // Maker fee above the taker fee (r_lock = maker), taker pays nothing.
        InstrumentSpec {
            symbol: "ETH-BTC".into(),
            base: ETH,
            quote: BTC,
            quote_units_per_tick_lot: 11,
            base_units_per_lot: 100,
            min_qty_lots: 1,
            max_qty_lots: 60,
            min_notional_quote_units: 1_000,
            maker_fee_bps: 25,
            taker_fee_bps: 0,
            min_price_ticks: 20,
            max_price_ticks: 80,
        },
    ]
}

fn assets() -> Vec<AssetSpec> {
    vec![
        AssetSpec {
            code: "BTC".into(),
            decimals: 8,
        },
        AssetSpec {
            code: "USDT".into(),
            decimals: 6,
        },
        AssetSpec {
            code: "ETH".into(),
            decimals: 8,
        },
    ]
}

/// Very small capacities, so short proptest streams reach CapacityExceeded.
pub fn small_config() -> EngineConfig {
    EngineConfig {
        assets: assets(),
        instruments: instruments(),
        max_accounts: 6,
        max_orders: 24,
        max_levels_per_side: 5,
        fee_account: FEE_ACCOUNT,
    }
}

/// Capacities for the long run: still small enough to be reached by the deep profile.
pub fn large_config() -> EngineConfig {
    EngineConfig {
        max_orders: 64,
        max_levels_per_side: 8,
        ..small_config()
    }
}

pub const T0: u64 = 1_700_000_000_000_000_000;

/// Creates and funds the traders (and gives the fee account some of everything, so it
/// can trade too).
pub fn prelude() -> Vec<Command> {
    let mut v = Vec::new();
    let mut reference = 1;
    for &a in &TRADERS {
        v.push(Command {
            ts_ns: T0,
            kind: CommandKind::CreateAccount {
                account: AccountId(a),
            },
        });
    }
    for a in std::iter::once(0).chain(TRADERS) {
        for (asset, amount) in [(BTC, 30_000), (USDT, 80_000), (ETH, 30_000)] {
            let t = Transfer {
                account: AccountId(a),
                asset,
                amount,
                reference,
            };
            reference += 1;
            v.push(Command {
                ts_ns: T0,
                kind: CommandKind::Deposit(t),
            });
        }
    }
    v
}

/// Shape of the generated stream.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// Prices are mid ± spread ticks most of the time.
    pub spread: i64,
    /// Percent of commands that are time ticks.
    pub tick_pct: u64,
    /// Percent of commands that are cancels or replaces (fewer → deeper books).
    pub churn_pct: u64,
}

pub const DEFAULT_PROFILE: Profile = Profile {
    spread: 5,
    tick_pct: 4,
    churn_pct: 18,
};
/// Prices within ±2 ticks and more time ticks: crossing, STP and expiry more often.
pub const TIGHT_PROFILE: Profile = Profile {
    spread: 2,
    tick_pct: 8,
    churn_pct: 18,
};
/// Wide prices, few cancels: deep books, capacity limits.
pub const DEEP_PROFILE: Profile = Profile {
    spread: 9,
    tick_pct: 2,
    churn_pct: 7,
};

/// `cost(k lots at the best ask) ± 2` where cost = notional + taker fee.
fn boundary_budget(r: &mut SplitMix, model: &Model, symbol: SymbolId) -> Option<i64> {
    let ins = model.config().instruments.get(symbol.0 as usize)?;
    let levels = model.book_levels(symbol, Side::Sell);
    let (p, q, _) = *levels.first()?;
    let k = r.range(1, q.0 + 1);
    let n = p.0 * k * ins.quote_units_per_tick_lot;
    Some(n + crate::model::fee(n, ins.taker_fee_bps) + r.range(-2, 2))
}

/// A random command generator; keeps only its clock between commands.
#[derive(Clone, Debug)]
pub struct Gen {
    pub ts: u64,
    pub profile: Profile,
    reference: u64,
}

impl Gen {
    pub fn new(profile: Profile) -> Gen {
        Gen {
            ts: T0,
            profile,
            reference: 1_000,
        }
    }

    /// One command from `seed`, looking at `model` for live orders.
    pub fn command(&mut self, seed: u64, model: &Model) -> Command {
        let mut r = SplitMix(seed);
        // Clock: mostly small steps, sometimes backwards (the engine clamps).
        let step = r.below(100);
        if step < 3 {
            self.ts = self.ts.saturating_sub(r.range(1, 10) as u64);
        } else if step < 30 {
            // unchanged
        } else {
            self.ts += r.range(1, 4) as u64;
        }
        let ts_ns = self.ts;
        let p = self.profile;
        let x = r.below(100);
        if x < p.tick_pct {
            self.ts += r.range(1, 25) as u64;
            return Command {
                ts_ns: self.ts,
                kind: CommandKind::TimeTick,
            };
        }
        let x = x - p.tick_pct; // 0..100 - tick_pct
        let cancels = p.churn_pct * 2 / 5;
        let kind = if x < cancels {
            CommandKind::Cancel(self.cancel(&mut r, model))
        } else if x < p.churn_pct {
            CommandKind::Replace(self.replace(&mut r, model))
        } else {
            match x - p.churn_pct {
                0..=1 => CommandKind::MassCancel(self.mass_cancel(&mut r)),
                2..=6 => CommandKind::Deposit(self.transfer(&mut r, true, model)),
                7..=11 => CommandKind::Withdraw(self.transfer(&mut r, false, model)),
                12 => CommandKind::CreateAccount {
                    account: AccountId(r.range(0, 7) as u32),
                },
                13 => self.operator(&mut r, model),
                _ => CommandKind::NewOrder(self.new_order(&mut r, model)),
            }
        };
        Command { ts_ns, kind }
    }

    /// An operator command (about 1% of commands). Halts and suspensions are much rarer
    /// than resumes, and a resume usually names what is halted or suspended, so each
    /// symbol is halted and each trader suspended only a few percent of the time (a halt
    /// lasts a few hundred commands: long enough to span most of a proptest stream).
    fn operator(&mut self, r: &mut SplitMix, model: &Model) -> CommandKind {
        match r.below(100) {
            0..=5 => CommandKind::HaltSymbol {
                symbol: self.symbol(r),
            },
            6..=49 => {
                let halted = model.halted_symbols();
                let symbol = if !halted.is_empty() && r.pct(80) {
                    halted[r.below(halted.len() as u64) as usize]
                } else {
                    self.symbol(r)
                };
                CommandKind::ResumeSymbol { symbol }
            }
            50..=55 => CommandKind::SuspendAccount {
                account: self.account(r),
            },
            _ => {
                let suspended = model.suspended_accounts();
                let account = if !suspended.is_empty() && r.pct(80) {
                    suspended[r.below(suspended.len() as u64) as usize]
                } else {
                    self.account(r)
                };
                CommandKind::ResumeAccount { account }
            }
        }
    }

    fn account(&self, r: &mut SplitMix) -> AccountId {
        match r.below(100) {
            0..=2 => AccountId(0),                // fee account trades too
            3..=5 => AccountId(5),                // exists only after CreateAccount
            6 => AccountId(r.range(6, 9) as u32), // never exists
            _ => AccountId(r.pick(&TRADERS)),
        }
    }

    fn symbol(&self, r: &mut SplitMix) -> SymbolId {
        if r.pct(2) {
            SymbolId(3)
        } else {
            SymbolId(r.below(3) as u16)
        }
    }

    fn cl_ord_id(&self, r: &mut SplitMix) -> ClOrdId {
        if r.pct(25) {
            ClOrdId::EMPTY
        } else {
            ClOrdId::from_u64(r.range(1, 40) as u64)
        }
    }

    /// A price for `side`: usually on its own side of the mid (so books build up), often
    /// a tick or two through it (so they cross), sometimes invalid.
    fn price(&self, r: &mut SplitMix, symbol: SymbolId, side: Side) -> Price {
        let mid = MIDS.get(symbol.0 as usize).copied().unwrap_or(100);
        let away = if side == Side::Buy { -1 } else { 1 };
        match r.below(100) {
            0 => Price(0),
            1 => Price(-r.range(1, 5)),
            2..=3 => Price(mid + r.pick(&[-1, 1]) * r.range(40, 100)), // mostly off band
            5..=24 => Price(mid + r.range(-self.profile.spread, self.profile.spread)),
            _ => Price(mid + away * r.range(-1, self.profile.spread)),
        }
    }

    fn qty(&self, r: &mut SplitMix) -> Qty {
        match r.below(100) {
            0 => Qty(0),
            1 => Qty(-r.range(1, 3)),
            2 => Qty(r.range(25, 80)), // around/above max
            3..=17 => Qty(1),
            _ => Qty(r.range(2, 12)),
        }
    }

    fn new_order(&mut self, r: &mut SplitMix, model: &Model) -> NewOrder {
        let symbol = self.symbol(r);
        let side = if r.pct(50) { Side::Buy } else { Side::Sell };
        let mut o = NewOrder {
            account: self.account(r),
            session: SessionId(r.below(3) as u16),
            cl_ord_id: self.cl_ord_id(r),
            symbol,
            side,
            ord_type: OrdType::Limit,
            price: self.price(r, symbol, side),
            qty: self.qty(r),
            quote_budget: 0,
            tif: Tif::Gtc,
            expire_ns: 0,
            post_only: false,
            stp: r.pick(&[
                StpMode::CancelNewest,
                StpMode::CancelOldest,
                StpMode::CancelBoth,
                StpMode::Decrement,
            ]),
        };
        if r.pct(75) {
            o.tif = match r.below(100) {
                0..=59 => Tif::Gtc,
                60..=72 => Tif::Ioc,
                73..=82 => Tif::Fok,
                _ => Tif::Gtd,
            };
            o.post_only = r.pct(10);
            if r.pct(2) {
                o.quote_budget = r.range(-5, 5_000);
            }
        } else {
            o.ord_type = OrdType::Market;
            o.tif = match r.below(100) {
                0..=66 => Tif::Ioc,
                67..=96 => Tif::Fok,
                97..=98 => Tif::Gtc,
                _ => Tif::Gtd,
            };
            o.post_only = r.pct(2);
            match r.below(100) {
                // Budget (buys; sometimes a sell or a qty to hit the shape checks).
                0..=34 => {
                    o.quote_budget = match r.below(20) {
                        0 => -r.range(1, 100),
                        1 => r.range(1, 1_000), // often below min notional
                        _ => r.range(500, 60_000),
                    };
                    if r.pct(35) {
                        // Right at a lot boundary of the best ask: the budget covers
                        // exactly k lots with the taker fee, give or take 2 units.
                        if let Some(b) = boundary_budget(r, model, symbol) {
                            o.quote_budget = b;
                        }
                    }
                    if r.pct(85) {
                        o.qty = Qty(0);
                    }
                    if r.pct(70) {
                        o.price = Price(0);
                    }
                    if r.pct(80) {
                        o.side = Side::Buy;
                    }
                }
                // Protected (price kept).
                35..=69 => {}
                // Unprotected (a buy without budget is rejected: keep those rarer).
                _ => {
                    o.price = Price(0);
                    if r.pct(60) {
                        o.side = Side::Sell;
                    }
                }
            }
        }
        // Expiry: GTD around now; sometimes an expiry on a non-GTD order.
        if o.tif == Tif::Gtd {
            o.expire_ns = match r.below(100) {
                0..=4 => 0,
                5..=12 => self.ts.saturating_sub(r.range(0, 3) as u64),
                _ => self.ts + r.range(1, 40) as u64,
            };
        } else if r.pct(2) {
            o.expire_ns = self.ts + r.range(0, 40) as u64;
        }
        o
    }

    /// A target: usually a live order (by id or client id), else something random.
    fn target(&self, r: &mut SplitMix, model: &Model) -> (Option<(AccountId, SymbolId)>, OrderRef) {
        let live: Vec<_> = model.resting().collect();
        if !live.is_empty() && r.pct(80) {
            let o = live[r.below(live.len() as u64) as usize];
            let target = if !o.cl_ord_id.is_empty() && r.pct(40) {
                OrderRef::ClOrdId(o.cl_ord_id)
            } else {
                OrderRef::Id(o.id)
            };
            return (Some((o.account, o.symbol)), target);
        }
        let target = if r.pct(50) {
            let n = model.next_order_id();
            OrderRef::Id(OrderId(r.range(0, n as i64 + 1) as u64))
        } else {
            OrderRef::ClOrdId(self.cl_ord_id(r))
        };
        (None, target)
    }

    /// Account and symbol of a request: usually the target's own.
    fn requester(
        &self,
        r: &mut SplitMix,
        owner: Option<(AccountId, SymbolId)>,
    ) -> (AccountId, SymbolId) {
        match owner {
            Some((a, s)) if r.pct(88) => (a, if r.pct(95) { s } else { self.symbol(r) }),
            _ => (self.account(r), self.symbol(r)),
        }
    }

    fn cancel(&mut self, r: &mut SplitMix, model: &Model) -> CancelOrder {
        let (owner, target) = self.target(r, model);
        let (account, symbol) = self.requester(r, owner);
        CancelOrder {
            account,
            symbol,
            target,
            cl_ord_id: self.cl_ord_id(r),
        }
    }

    fn replace(&mut self, r: &mut SplitMix, model: &Model) -> ReplaceOrder {
        let (owner, target) = self.target(r, model);
        let (account, symbol) = self.requester(r, owner);
        let found = match target {
            OrderRef::Id(id) => model.resting().find(|o| o.id == id),
            OrderRef::ClOrdId(c) => model
                .resting()
                .find(|o| o.account == account && o.cl_ord_id == c),
        };
        let (price, qty) = match found {
            Some(o) if r.pct(85) => {
                let price = match r.below(100) {
                    0..=44 => o.price,
                    45..=89 => Price(o.price.0 + r.range(-3, 3)),
                    _ => self.price(r, o.symbol, o.side),
                };
                let qty = match r.below(100) {
                    0..=24 => o.qty,
                    25..=54 => Qty(o.cum_qty.0 + r.range(1, o.leaves.0.max(1))), // down (or same)
                    55..=89 => Qty(o.qty.0 + r.range(1, 6)),                     // up
                    _ => self.qty(r),
                };
                (price, qty)
            }
            _ => {
                let side = if r.pct(50) { Side::Buy } else { Side::Sell };
                (self.price(r, symbol, side), self.qty(r))
            }
        };
        let cl_ord_id = match r.below(100) {
            0..=39 => ClOrdId::EMPTY,
            40..=59 => found.map_or(ClOrdId::EMPTY, |o| o.cl_ord_id),
            _ => self.cl_ord_id(r),
        };
        ReplaceOrder {
            account,
            symbol,
            target,
            cl_ord_id,
            price,
            qty,
        }
    }

    fn mass_cancel(&mut self, r: &mut SplitMix) -> MassCancel {
        let scope = match r.below(3) {
            0 => MassCancelScope::Account,
            1 => MassCancelScope::Symbol(self.symbol(r)),
            _ => MassCancelScope::Session(SessionId(r.below(4) as u16)),
        };
        MassCancel {
            account: self.account(r),
            scope,
            cl_ord_id: self.cl_ord_id(r),
        }
    }

    fn transfer(&mut self, r: &mut SplitMix, deposit: bool, model: &Model) -> Transfer {
        self.reference += 1;
        let asset = if r.pct(3) {
            AssetId(3)
        } else {
            AssetId(r.below(3) as u16)
        };
        let account = self.account(r);
        let available = model.balance(account, asset).map_or(0, |b| b.available);
        let amount = match r.below(100) {
            // Drain most of what is available, so orders later fail for balance.
            10..=24 if !deposit && available > 0 => (available - r.range(0, 3_000)).max(1),
            0 => 0,
            1 => -r.range(1, 1_000),
            2 if deposit => r.pick(&[i64::MAX, (1 << 62) + 1]),
            2..=9 if !deposit => r.range(50_000, 1_000_000), // usually too much
            _ if asset == USDT => r.range(1_000, 25_000),
            _ => r.range(100, 8_000),
        };
        Transfer {
            account,
            asset,
            amount,
            reference: self.reference,
        }
    }
}
