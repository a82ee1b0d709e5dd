//! A deterministic generator of realistic mixed command streams, shared by engine tests.
#![allow(dead_code)]

use tachyon_engine::*;

pub use tachyon_testkit::SplitMix as Rng;

pub const ACCOUNTS: u32 = 20;

pub fn config() -> EngineConfig {
    tachyon_testkit::two_symbol_config(
        tachyon_testkit::Limits {
            accounts: 64,
            orders: 20_000,
            levels: 4_096,
        },
        -1,
        5,
    )
}

/// A random command near a mid price so books cross often.
pub fn command(rng: &mut Rng, ts: u64, next_id: u64) -> Command {
    let account = AccountId(1 + rng.below(ACCOUNTS as u64) as u32);
    let symbol = SymbolId(rng.below(2) as u16);
    let side = if rng.below(2) == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
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
        OrderRef::ClOrdId(ClOrdId::from_u64(
            next_id.saturating_sub(1 + rng.below(400)),
        ))
    };
    let stp = [
        StpMode::CancelNewest,
        StpMode::CancelOldest,
        StpMode::CancelBoth,
        StpMode::Decrement,
    ][rng.below(4) as usize];
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
                expire_ns: if tif == Tif::Gtd {
                    ts + rng.below(5_000_000) + 1
                } else {
                    0
                },
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
            price: if side == Side::Buy {
                Price(5_001_000)
            } else {
                Price(0)
            },
            qty,
            quote_budget: 0,
            tif: Tif::Ioc,
            expire_ns: 0,
            post_only: false,
            stp,
        }),
        50..=69 => CommandKind::Cancel(CancelOrder {
            account,
            symbol,
            target,
            cl_ord_id: ClOrdId::EMPTY,
        }),
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
            scope: [
                MassCancelScope::Account,
                MassCancelScope::Symbol(symbol),
                MassCancelScope::Session(SessionId(1)),
            ][rng.below(3) as usize],
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
        // Operator commands, 0.25%: resumes 15× as often as halts/suspensions, so a symbol
        // is halted (an account suspended) about 6% of the time.
        99 if rng.below(4) == 0 => match rng.below(40) {
            0 => CommandKind::HaltSymbol { symbol },
            1..=15 => CommandKind::ResumeSymbol { symbol },
            16 => CommandKind::SuspendAccount { account },
            17..=31 => CommandKind::ResumeAccount { account },
            // API keys: few ids, so duplicates and revocations of unknown keys happen;
            // sometimes an invalid id (0), the fee account or a missing account.
            32..=36 => CommandKind::CreateApiKey(ApiKey {
                key: ApiKeyId(rng.below(12)),
                account: AccountId(rng.below(ACCOUNTS as u64 + 2) as u32),
                comp_id: CompId::new(format!("CLIENT{}", rng.below(4)).as_bytes()).unwrap(),
                nonce: rng
                    .below(u64::MAX)
                    .to_le_bytes()
                    .repeat(2)
                    .try_into()
                    .unwrap(),
            }),
            _ => CommandKind::RevokeApiKey {
                key: ApiKeyId(rng.below(12)),
            },
        },
        _ => CommandKind::TimeTick,
    };
    Command { ts_ns: ts, kind }
}

/// A funded engine: accounts 1..=ACCOUNTS created, deposits in every asset.
pub fn funded_engine() -> (Engine, Vec<Command>) {
    let mut engine = Engine::new(config()).unwrap();
    let mut genesis = tachyon_testkit::genesis(ACCOUNTS, 1, 1_000_000_000_000_000);
    // Base assets: a smaller amount (still far more than the flow can spend).
    for a in 1..=ACCOUNTS {
        for asset in 1..3 {
            let t = Transfer {
                account: AccountId(a),
                asset: AssetId(asset),
                amount: 1_000_000_000_000,
                reference: 0,
            };
            genesis.push(Command {
                ts_ns: 0,
                kind: CommandKind::Deposit(t),
            });
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
