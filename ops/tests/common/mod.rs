//! Shared by the ops tests: a small configuration derived from config/dev.toml, event
//! builders in dev.toml's units, an HTTP client and a random order flow.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use tachyon_config::Config;
use tachyon_engine::{
    AccountId, CancelOrder, ClOrdId, Command, CommandKind, Engine, Event, Fill, NewOrder, OrdType,
    OrderId, OrderRef, Price, Qty, SessionId, Side, StpMode, SymbolId, Tif, Trade,
};
use tachyon_ops::{OpsHandle, OpsState};
use tachyon_pipeline::PipelineStats;
pub use tachyon_testkit::SplitMix;

pub const BTC: SymbolId = SymbolId(0);

/// config/dev.toml with small capacities, the ops endpoint on port 0, and `ops_extra`
/// lines appended to `[ops]` (later keys must not repeat dev.toml's: we replace them).
pub fn config(ops: &[(&str, &str)]) -> Config {
    let mut text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/dev.toml"))
            .expect("read dev.toml");
    for (from, to) in [
        ("inbound_ring_size = 65_536", "inbound_ring_size = 1_024"),
        ("outbound_ring_size = 65_536", "outbound_ring_size = 4_096"),
        ("max_accounts = 10_000", "max_accounts = 64"),
        ("max_orders = 1_000_000", "max_orders = 20_000"),
        (
            "max_levels_per_side = 65_536",
            "max_levels_per_side = 4_096",
        ),
        ("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\""),
    ] {
        assert!(text.contains(from), "dev.toml no longer has {from}");
        text = text.replacen(from, to, 1);
    }
    for (key, value) in ops {
        let start = text
            .find(&format!("\n{key} = "))
            .unwrap_or_else(|| panic!("dev.toml has no ops key {key}"));
        let end = start + 1 + text[start + 1..].find('\n').unwrap();
        text.replace_range(start + 1..end, &format!("{key} = {value}"));
    }
    Config::from_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// An ops server over `cfg` fed by hand (no pipeline).
pub fn server(cfg: &Config) -> OpsHandle {
    let state = OpsState::new(cfg, Arc::new(PipelineStats::default()), None);
    tachyon_ops::spawn(cfg.ops.listen, state).expect("spawn ops server")
}

/// `(status, body)` of a GET.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    match ureq::get(&format!("http://{addr}{path}")).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = get(addr, path);
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
    (status, v)
}

pub fn level(symbol: SymbolId, side: Side, price: i64, qty: i64, count: u32) -> Event {
    Event::BookLevel {
        symbol,
        side,
        price: Price(price),
        qty: Qty(qty),
        count,
    }
}

fn fill() -> Fill {
    Fill {
        order_id: OrderId(1),
        account: AccountId(1),
        session: SessionId(0),
        cl_ord_id: ClOrdId::EMPTY,
        leaves: Qty(0),
        cum_qty: Qty(0),
        cum_cost: 0,
        fee: 0,
    }
}

pub fn trade(id: u64, symbol: SymbolId, price: i64, qty: i64, taker: Side) -> Event {
    Event::Trade(Trade {
        trade_id: id,
        symbol,
        price: Price(price),
        qty: Qty(qty),
        taker_side: taker,
        maker: fill(),
        taker: fill(),
    })
}

pub fn limit_order(
    account: u32,
    symbol: SymbolId,
    side: Side,
    price: i64,
    qty: i64,
    tif: Tif,
) -> NewOrder {
    NewOrder {
        account: AccountId(account),
        session: SessionId(0),
        cl_ord_id: ClOrdId::EMPTY,
        symbol,
        side,
        ord_type: OrdType::Limit,
        price: Price(price),
        qty: Qty(qty),
        quote_budget: 0,
        tif,
        expire_ns: 0,
        post_only: false,
        stp: StpMode::CancelNewest,
    }
}

/// The dev accounts and deposits (dev.toml's genesis), as commands.
pub fn genesis(cfg: &Config, ts_ns: u64) -> Vec<Command> {
    let mut cmds: Vec<Command> = cfg
        .accounts
        .iter()
        .map(|a| Command {
            ts_ns,
            kind: CommandKind::CreateAccount {
                account: AccountId(a.id),
            },
        })
        .collect();
    for (account, asset, amount) in cfg.initial_deposits() {
        cmds.push(Command {
            ts_ns,
            kind: CommandKind::Deposit(tachyon_engine::Transfer {
                account,
                asset,
                amount,
                reference: 0,
            }),
        });
    }
    cmds
}

/// A random BTC-USDT command around 50,000.00: mostly resting limit orders, some
/// crossing, some cancels. Orders are 10..=200 lots (0.0001..0.002 BTC, above the
/// minimum notional).
pub fn random_command(rng: &mut SplitMix, ts_ns: u64, next_order: u64) -> Command {
    let side = if rng.pct(50) { Side::Buy } else { Side::Sell };
    let account = 1 + rng.below(3) as u32;
    let kind = if rng.pct(25) && next_order > 1 {
        CommandKind::Cancel(CancelOrder {
            account: AccountId(account),
            symbol: BTC,
            target: OrderRef::Id(OrderId(1 + rng.below(next_order))),
            cl_ord_id: ClOrdId::EMPTY,
        })
    } else {
        let offset = rng.range(-10, 60);
        let price = match side {
            Side::Buy => 5_000_000 - offset,
            Side::Sell => 5_000_000 + offset,
        };
        let tif = if rng.pct(80) { Tif::Gtc } else { Tif::Ioc };
        CommandKind::NewOrder(limit_order(
            account,
            BTC,
            side,
            price,
            rng.range(10, 200),
            tif,
        ))
    };
    Command { ts_ns, kind }
}

/// The engine's book of `symbol` as `(bids, asks)` of `(price ticks, qty lots)`.
/// `(price ticks, qty lots)` per level, best first.
pub type Levels = Vec<(i64, i64)>;

pub fn engine_book(engine: &Engine, symbol: SymbolId) -> (Levels, Levels) {
    let side = |s| {
        engine
            .book_levels(symbol, s)
            .into_iter()
            .map(|(p, q, _)| (p.0, q.0))
            .collect()
    };
    (side(Side::Buy), side(Side::Sell))
}
