//! A deterministic generator of realistic mixed command streams, shared by engine tests.
#![allow(dead_code)]

use tachyon_engine::*;

/// splitmix64.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub const ACCOUNTS: u32 = 20;

pub fn config() -> EngineConfig {
    let ins = |symbol: &str, base, quote| InstrumentSpec {
        symbol: symbol.into(),
        base: AssetId(base),
        quote: AssetId(quote),
        quote_units_per_tick_lot: 10,
        base_units_per_lot: 1000,
        min_qty_lots: 1,
        max_qty_lots: 1_000_000,
        min_notional_quote_units: 0,
        maker_fee_bps: -1,
        taker_fee_bps: 5,
        min_price_ticks: 1,
        max_price_ticks: 10_000_000,
    };
    EngineConfig {
        assets: vec![
            AssetSpec { code: "USDT".into(), decimals: 8 },
            AssetSpec { code: "BTC".into(), decimals: 8 },
            AssetSpec { code: "ETH".into(), decimals: 8 },
        ],
        instruments: vec![ins("BTC-USDT", 1, 0), ins("ETH-USDT", 2, 0)],
        max_accounts: 64,
        max_orders: 20_000,
        max_levels_per_side: 4_096,
        fee_account: AccountId(0),
    }
}

/// A random command near a mid price so books cross often.
pub fn command(rng: &mut Rng, ts: u64, next_id: u64) -> Command {
    let account = AccountId(1 + rng.below(ACCOUNTS as u64) as u32);
    let symbol = SymbolId(rng.below(2) as u16);
    let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
    // Mostly passive (buys below the mid, sells above), a fifth aggressive.
    let offset = rng.below(1_000) as i64 - if rng.below(5) == 0 { 150 } else { 0 };
    let price = Price(match side {
        Side::Buy => 5_000_000 - offset,
        Side::Sell => 5_000_000 + offset,
    });
    let qty = Qty(1 + rng.below(500) as i64);
    let target = if rng.below(2) == 0 {
        OrderRef::Id(OrderId(next_id.saturating_sub(1 + rng.below(400))))
    } else {
        OrderRef::ClOrdId(ClOrdId::from_u64(next_id.saturating_sub(1 + rng.below(400))))
    };
    let stp = [StpMode::CancelNewest, StpMode::CancelOldest, StpMode::CancelBoth, StpMode::Decrement]
        [rng.below(4) as usize];
    let kind = match rng.below(100) {
        0..=39 => {
            let tif = [Tif::Gtc, Tif::Gtc, Tif::Ioc, Tif::Fok, Tif::Gtd][rng.below(5) as usize];
            CommandKind::NewOrder(NewOrder {
                account,
                session: SessionId(rng.below(3) as u16),
                cl_ord_id: ClOrdId::from_u64(next_id),
                symbol,
                side,
                ord_type: OrdType::Limit,
                price,
                qty,
                quote_budget: 0,
                tif,
                expire_ns: if tif == Tif::Gtd { ts + rng.below(5_000_000) + 1 } else { 0 },
                post_only: tif == Tif::Gtc && rng.below(10) == 0,
                stp,
            })
        }
        40..=44 => CommandKind::NewOrder(NewOrder {
            account,
            session: SessionId(0),
            cl_ord_id: ClOrdId::EMPTY,
            symbol,
            side: Side::Buy,
            ord_type: OrdType::Market,
            price: Price(0),
            qty: Qty(0),
            quote_budget: 1 + rng.below(50_000_000_000) as i64,
            tif: Tif::Ioc,
            expire_ns: 0,
            post_only: false,
            stp,
        }),
        45..=49 => CommandKind::NewOrder(NewOrder {
            account,
            session: SessionId(0),
            cl_ord_id: ClOrdId::EMPTY,
            symbol,
            side,
            ord_type: OrdType::Market,
            price: if side == Side::Buy { Price(5_001_000) } else { Price(0) },
            qty,
            quote_budget: 0,
            tif: Tif::Ioc,
            expire_ns: 0,
            post_only: false,
            stp,
        }),
        50..=69 => CommandKind::Cancel(CancelOrder { account, symbol, target, cl_ord_id: ClOrdId::EMPTY }),
        70..=92 => CommandKind::Replace(ReplaceOrder {
            account,
            symbol,
            target,
            cl_ord_id: ClOrdId::EMPTY,
            price,
            qty: Qty(1 + rng.below(600) as i64),
        }),
        93 if rng.below(20) == 0 => CommandKind::MassCancel(MassCancel {
            account,
            scope: [MassCancelScope::Account, MassCancelScope::Symbol(symbol), MassCancelScope::Session(SessionId(1))]
                [rng.below(3) as usize],
            cl_ord_id: ClOrdId::EMPTY,
        }),
        94..=96 => CommandKind::Deposit(Transfer {
            account,
            asset: AssetId(rng.below(3) as u16),
            amount: 1 + rng.below(1_000_000_000_000) as i64,
            reference: next_id,
        }),
        97..=98 => CommandKind::Withdraw(Transfer {
            account,
            asset: AssetId(rng.below(3) as u16),
            amount: 1 + rng.below(1_000_000_000_000) as i64,
            reference: next_id,
        }),
        _ => CommandKind::TimeTick,
    };
    Command { ts_ns: ts, kind }
}


/// A funded engine: accounts 1..=ACCOUNTS created, deposits in every asset.
pub fn funded_engine() -> (Engine, Vec<Command>) {
    let mut engine = Engine::new(config()).unwrap();
    let mut genesis = Vec::new();
    for a in 1..=ACCOUNTS {
        genesis.push(Command { ts_ns: 0, kind: CommandKind::CreateAccount { account: AccountId(a) } });
        for asset in 0..3 {
            let amount = if asset == 0 { 1_000_000_000_000_000 } else { 1_000_000_000_000 };
            let t = Transfer { account: AccountId(a), asset: AssetId(asset), amount, reference: 0 };
            genesis.push(Command { ts_ns: 0, kind: CommandKind::Deposit(t) });
        }
    }
    let mut sink = EventHasher::default();
    for c in &genesis {
        engine.apply(c, &mut sink);
    }
    (engine, genesis)
}

/// `n` commands starting at id `first_id`, timestamps from `ts` in 1 µs steps.
pub fn stream(rng: &mut Rng, ts: &mut u64, first_id: u64, n: u64) -> Vec<Command> {
    (0..n)
        .map(|i| {
            *ts += 1_000;
            command(rng, *ts, first_id + i)
        })
        .collect()
}
