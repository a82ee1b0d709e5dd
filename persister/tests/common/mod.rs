//! Shared test support: a throw-away schema per test, the standard test market with its
//! decimal sizes, a random command generator and an engine run collecting `OutEvent`s.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use tachyon_engine::{
    AccountId, AssetId, CancelOrder, ClOrdId, Command, CommandKind, Engine, EngineConfig, Event,
    MassCancel, MassCancelScope, NewOrder, OrdType, OrderId, OrderRef, Price, Qty, ReplaceOrder,
    SessionId, Side, StpMode, SymbolId, Tif, Transfer,
};
use tachyon_persister::postgres::{Client, Config, NoTls};
use tachyon_persister::{Persister, TickLot, Units};
use tachyon_pipeline::OutEvent;
use tachyon_testkit::{genesis, two_symbol_config, Limits, SplitMix};

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh schema, dropped (with everything in it) when the guard goes out of scope, even
/// if the test panics.
pub struct TestSchema {
    pub name: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestSchema {
    pub fn new() -> TestSchema {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let mut rng = SplitMix(
            nanos ^ ((std::process::id() as u64) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed),
        );
        let name = format!("tachyon_test_{:016x}", rng.next_u64());
        let mut c = Client::connect(&database_url(), NoTls).expect("connect to DATABASE_URL");
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create test schema");
        TestSchema { name }
    }

    /// Connection settings with `search_path` set to the schema.
    pub fn config(&self) -> Config {
        let mut cfg: Config = database_url().parse().expect("DATABASE_URL");
        cfg.options(&format!("-c search_path={}", self.name));
        cfg.application_name(&format!("persister-{}", self.name));
        cfg
    }

    pub fn client(&self) -> Client {
        self.config().connect(NoTls).expect("connect")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&database_url(), NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

pub const ACCOUNTS: u32 = 20;
pub const MAX_ACCOUNTS: u32 = 48;

pub fn engine_config() -> EngineConfig {
    // Maker rebate, taker fee: negative fees are exercised too.
    two_symbol_config(
        Limits {
            accounts: MAX_ACCOUNTS,
            orders: 200_000,
            levels: 20_000,
        },
        -1,
        5,
    )
}

/// The test market's decimal sizes: 8-decimal assets, 10 quote units per tick-lot and
/// 1,000 base units per lot → tick 0.01, lot 0.00001.
pub fn tick_lots() -> Vec<TickLot> {
    let t = TickLot {
        tick_size: Decimal::new(1, 2),
        lot_size: Decimal::new(1, 5),
    };
    vec![t, t]
}

pub fn units() -> Units {
    Units::new(&engine_config(), &tick_lots()).expect("units")
}

pub fn open(schema: &TestSchema) -> Persister {
    Persister::connect(&schema.config(), units()).expect("open persister")
}

/// A random but mostly valid command stream (genesis first).
pub fn commands(seed: u64, n: usize) -> Vec<Command> {
    let mut rng = SplitMix(seed);
    let mut out = genesis(ACCOUNTS, 3, 1_000_000_000_000_000);
    let mut ts: u64 = 1_763_000_000_000_000_000;
    let mut cl = 0u64;
    let mut max_order_guess = 1u64;
    for c in out.iter_mut() {
        c.ts_ns = ts;
    }
    while out.len() < n {
        ts += rng.range(1_000, 2_000_000) as u64;
        let account = AccountId(if rng.pct(2) {
            rng.range(0, MAX_ACCOUNTS as i64 + 3) as u32
        } else {
            rng.range(1, ACCOUNTS as i64) as u32
        });
        let symbol = SymbolId(if rng.pct(1) { 7 } else { rng.below(2) as u16 });
        let side = if rng.pct(50) { Side::Buy } else { Side::Sell };
        cl += 1;
        let cl_ord_id = if rng.pct(3) {
            ClOrdId::from_u64(cl.saturating_sub(rng.below(5)))
        } else {
            ClOrdId::from_u64(cl)
        };
        let mid = 100_000 + (symbol.0 as i64) * 10_000;
        let kind = match rng.below(100) {
            0..=49 => {
                let (tif, expire_ns) = match rng.below(10) {
                    0 => (Tif::Ioc, 0),
                    1 => (Tif::Fok, 0),
                    2 => (Tif::Gtd, ts + rng.range(1_000_000, 50_000_000) as u64),
                    _ => (Tif::Gtc, 0),
                };
                let offset = rng.range(-40, 40);
                let price = if side == Side::Buy {
                    mid - 5 + offset
                } else {
                    mid + 5 + offset
                };
                max_order_guess += 1;
                CommandKind::NewOrder(NewOrder {
                    account,
                    session: SessionId(rng.below(3) as u16),
                    cl_ord_id,
                    symbol,
                    side,
                    ord_type: OrdType::Limit,
                    price: Price(if rng.pct(1) { 0 } else { price }),
                    qty: Qty(rng.range(1, 200)),
                    quote_budget: 0,
                    tif,
                    expire_ns,
                    post_only: rng.pct(10),
                    stp: rng.pick(&[
                        StpMode::CancelNewest,
                        StpMode::CancelOldest,
                        StpMode::CancelBoth,
                        StpMode::Decrement,
                    ]),
                })
            }
            50..=57 => {
                max_order_guess += 1;
                let by_budget = side == Side::Buy && rng.pct(50);
                CommandKind::NewOrder(NewOrder {
                    account,
                    session: SessionId(0),
                    cl_ord_id,
                    symbol,
                    side,
                    ord_type: OrdType::Market,
                    price: Price(if by_budget || rng.pct(50) {
                        0
                    } else if side == Side::Buy {
                        mid + 60
                    } else {
                        mid - 60
                    }),
                    qty: Qty(if by_budget { 0 } else { rng.range(1, 300) }),
                    quote_budget: if by_budget {
                        rng.range(1_000_000, 500_000_000)
                    } else {
                        0
                    },
                    tif: if by_budget || rng.pct(70) {
                        Tif::Ioc
                    } else {
                        Tif::Fok
                    },
                    expire_ns: 0,
                    post_only: false,
                    stp: rng.pick(&[
                        StpMode::CancelNewest,
                        StpMode::CancelOldest,
                        StpMode::CancelBoth,
                        StpMode::Decrement,
                    ]),
                })
            }
            58..=72 => CommandKind::Cancel(CancelOrder {
                account,
                symbol,
                target: if rng.pct(80) {
                    OrderRef::Id(OrderId(rng.range(1, max_order_guess as i64) as u64))
                } else {
                    OrderRef::ClOrdId(ClOrdId::from_u64(rng.range(1, cl as i64) as u64))
                },
                cl_ord_id,
            }),
            73..=84 => CommandKind::Replace(ReplaceOrder {
                account,
                symbol,
                target: OrderRef::Id(OrderId(rng.range(
                    max_order_guess.saturating_sub(300) as i64,
                    max_order_guess as i64,
                ) as u64)),
                cl_ord_id,
                price: Price(if side == Side::Buy {
                    mid - 5 + rng.range(-40, 40)
                } else {
                    mid + 5 + rng.range(-40, 40)
                }),
                qty: Qty(rng.range(1, 250)),
            }),
            85..=86 => CommandKind::MassCancel(MassCancel {
                account,
                scope: rng.pick(&[
                    MassCancelScope::Account,
                    MassCancelScope::Symbol(symbol),
                    MassCancelScope::Session(SessionId(1)),
                ]),
                cl_ord_id,
            }),
            87..=91 => CommandKind::Deposit(Transfer {
                account,
                asset: AssetId(rng.below(4) as u16),
                amount: if rng.pct(2) {
                    0
                } else {
                    rng.range(1, 10_000_000_000)
                },
                reference: rng.next_u64(),
            }),
            92..=96 => CommandKind::Withdraw(Transfer {
                account,
                asset: AssetId(rng.below(3) as u16),
                amount: if rng.pct(5) {
                    1 << 62
                } else {
                    rng.range(1, 5_000_000_000)
                },
                reference: rng.next_u64(),
            }),
            97 => CommandKind::CreateAccount {
                account: AccountId(rng.range(1, MAX_ACCOUNTS as i64 + 2) as u32),
            },
            // API keys (a few ids, so duplicates, revocations of unknown keys and
            // re-registrations of revoked ids all happen).
            98 if rng.pct(50) => CommandKind::RevokeApiKey {
                key: tachyon_engine::ApiKeyId(rng.range(1, 9) as u64),
            },
            98 => CommandKind::CreateApiKey(tachyon_engine::ApiKey {
                key: tachyon_engine::ApiKeyId(rng.range(1, 9) as u64),
                account: AccountId(rng.range(0, ACCOUNTS as i64 + 2) as u32),
                comp_id: tachyon_engine::CompId::new(format!("C{}", rng.below(3)).as_bytes())
                    .expect("valid CompID"),
                nonce: [rng.below(256) as u8; 16],
            }),
            _ => CommandKind::TimeTick,
        };
        out.push(Command { ts_ns: ts, kind });
    }
    out
}

/// Applies the commands (sequence = index + 1) and collects the events as the outbound
/// ring carries them.
pub fn run_engine(cmds: &[Command]) -> (Engine, Vec<OutEvent>) {
    let mut engine = Engine::new(engine_config()).expect("engine");
    let mut out = Vec::new();
    let mut evs = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        evs.clear();
        engine.apply(c, &mut evs);
        let n = evs.len();
        for (j, e) in evs.iter().enumerate() {
            out.push(OutEvent {
                cmd_seq: i as u64 + 1,
                ts_ns: c.ts_ns,
                event: *e,
                last: j + 1 == n,
                origin: 0,
            });
        }
    }
    (engine, out)
}

/// Splits the events into batches of whole commands of random sizes (1..=max_cmds commands).
pub fn batches(events: &[OutEvent], seed: u64, max_cmds: u64) -> Vec<&[OutEvent]> {
    let mut rng = SplitMix(seed);
    let mut out = Vec::new();
    let mut start = 0;
    let mut cmds = 0;
    let mut want = rng.range(1, max_cmds as i64) as u64;
    for (i, e) in events.iter().enumerate() {
        if e.last {
            cmds += 1;
            if cmds == want {
                out.push(&events[start..=i]);
                start = i + 1;
                cmds = 0;
                want = rng.range(1, max_cmds as i64) as u64;
            }
        }
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

/// Every table's full contents as text, in key order (wall-clock columns excluded).
pub fn dump(c: &mut Client) -> BTreeMap<&'static str, Vec<String>> {
    let tables: [(&str, &str); 10] = [
        ("assets", "SELECT t::text FROM assets t ORDER BY asset_id"),
        (
            "instruments",
            "SELECT t::text FROM instruments t ORDER BY symbol_id",
        ),
        (
            "accounts",
            "SELECT t::text FROM accounts t ORDER BY account_id",
        ),
        (
            "api_keys",
            "SELECT t::text FROM api_keys t ORDER BY key_id, created_seq",
        ),
        (
            "balances",
            "SELECT t::text FROM balances t ORDER BY account_id, asset_id",
        ),
        (
            "orders",
            "SELECT t::text FROM orders t ORDER BY created_seq",
        ),
        ("trades", "SELECT t::text FROM trades t ORDER BY trade_id"),
        (
            "ledger_entries",
            "SELECT t::text FROM ledger_entries t ORDER BY engine_seq, entry_no",
        ),
        (
            "persister_checkpoint",
            "SELECT last_seq::text FROM persister_checkpoint",
        ),
        (
            "persister_parts",
            "SELECT part || ' ' || last_seq FROM persister_parts ORDER BY part",
        ),
    ];
    tables
        .iter()
        .map(|(name, sql)| {
            (
                *name,
                c.query(*sql, &[])
                    .expect(sql)
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect(),
            )
        })
        .collect()
}

/// Number of trade events.
pub fn trade_count(events: &[OutEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.event, Event::Trade(_)))
        .count()
}
