//! Hand-run throughput check (not a test): how many trades per second the persister stores
//! with binary COPY, with everything a trade brings (order updates, ledger entries,
//! balances, checkpoint), and the raw COPY ceiling for the trades table alone.
//!
//! `cargo run --release -p tachyon-persister --example persist_throughput [sweeps] [batch_cmds]`
//! against `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); works in a
//! schema of its own, dropped at the end. `BENCH_PG_OPTIONS` adds server options to the
//! persister connection, e.g. `-c log_min_duration_statement=0` for a per-statement breakdown
//! in the server log.

use std::time::Instant;

use rust_decimal::Decimal;
use tachyon_engine::{
    AccountId, ClOrdId, Command, CommandKind, Engine, Event, NewOrder, OrdType, Price, Qty,
    SessionId, Side, StpMode, SymbolId, Tif,
};
use tachyon_persister::postgres::binary_copy::BinaryCopyInWriter;
use tachyon_persister::postgres::types::{ToSql, Type};
use tachyon_persister::postgres::{Client, Config, NoTls};
use tachyon_persister::{Persister, TickLot, Units};
use tachyon_pipeline::OutEvent;
use tachyon_testkit::{genesis, two_symbol_config, Limits};

const MAKERS_PER_SWEEP: i64 = 50;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sweeps: usize = args.get(1).map_or(4_000, |s| s.parse().unwrap());
    let batch_cmds: usize = args.get(2).map_or(2_000, |s| s.parse().unwrap());
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("tachyon_bench_{}", std::process::id());

    // Trade-heavy stream: 50 one-lot sells from 10 makers, swept by one 50-lot buy.
    let cfg = two_symbol_config(
        Limits {
            accounts: 64,
            orders: 100_000,
            levels: 10_000,
        },
        -1,
        5,
    );
    let t = TickLot {
        tick_size: Decimal::new(1, 2),
        lot_size: Decimal::new(1, 5),
    };
    let units = Units::new(&cfg, &[t, t]).unwrap();
    let mut cmds = genesis(11, 3, 1_000_000_000_000_000);
    let mut ts = 1_763_000_000_000_000_000u64;
    let mut cl = 0u64;
    let mut order = |account: u32, side, qty| {
        cl += 1;
        ts += 1_000;
        Command {
            ts_ns: ts,
            kind: CommandKind::NewOrder(NewOrder {
                account: AccountId(account),
                session: SessionId(0),
                cl_ord_id: ClOrdId::from_u64(cl),
                symbol: SymbolId(0),
                side,
                ord_type: OrdType::Limit,
                price: Price(100_000),
                qty: Qty(qty),
                quote_budget: 0,
                tif: Tif::Gtc,
                expire_ns: 0,
                post_only: false,
                stp: StpMode::CancelNewest,
            }),
        }
    };
    for _ in 0..sweeps {
        for m in 0..MAKERS_PER_SWEEP {
            cmds.push(order(1 + (m % 10) as u32, Side::Sell, 1));
        }
        cmds.push(order(11, Side::Buy, MAKERS_PER_SWEEP));
    }
    let mut engine = Engine::new(cfg).unwrap();
    let mut events = Vec::new();
    let mut evs = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        evs.clear();
        engine.apply(c, &mut evs);
        let n = evs.len();
        events.extend(evs.iter().enumerate().map(|(j, e)| OutEvent {
            cmd_seq: i as u64 + 1,
            ts_ns: c.ts_ns,
            event: *e,
            last: j + 1 == n,
            origin: 0,
        }));
    }
    let trades = events
        .iter()
        .filter(|e| matches!(e.event, Event::Trade(_)))
        .count();

    let mut admin = Client::connect(&url, NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let mut config: Config = url.parse().unwrap();
    config.options(&format!(
        "-c search_path={schema} {}",
        std::env::var("BENCH_PG_OPTIONS").unwrap_or_default()
    ));
    // The release profile aborts on panic: the run returns errors instead, so the schema is
    // always dropped, and prints only afterwards.
    let result = (move || -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let mut report = Vec::new();
        let mut p = Persister::connect(&config, units)?;
        let mut batches = Vec::new();
        let (mut start, mut n) = (0, 0);
        for (i, e) in events.iter().enumerate() {
            if e.last {
                n += 1;
                if n == batch_cmds || i + 1 == events.len() {
                    batches.push(&events[start..=i]);
                    start = i + 1;
                    n = 0;
                }
            }
        }
        let t0 = Instant::now();
        let mut ledger = 0;
        for b in &batches {
            ledger += p.write_batch(b)?.ledger_entries;
        }
        let dt = t0.elapsed().as_secs_f64();
        report.push(format!(
            "persister: {trades} trades ({} events, {ledger} ledger rows, {} commands) in {} batches: {dt:.2} s = {:.0} trades/s, {:.0} events/s",
            events.len(),
            cmds.len(),
            batches.len(),
            trades as f64 / dt,
            events.len() as f64 / dt
        ));

        // Raw ceiling: binary COPY of trade rows alone, 50k rows per transaction.
        let mut c = p.into_client();
        c.batch_execute("CREATE TABLE raw_trades (LIKE trades INCLUDING ALL)")?;
        let types = [
            Type::INT8,
            Type::INT4,
            Type::NUMERIC,
            Type::NUMERIC,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::NUMERIC,
            Type::NUMERIC,
            Type::INT8,
            Type::TIMESTAMPTZ,
        ];
        let rows = 500_000i64;
        let now = std::time::SystemTime::now();
        let t0 = Instant::now();
        for chunk in 0..rows / 50_000 {
            let mut tx = c.transaction()?;
            let sink = tx
                .copy_in("COPY raw_trades (trade_id, symbol_id, price, qty, aggressor_side, maker_order_id, maker_account_id, \
                          taker_order_id, taker_account_id, maker_fee, taker_fee, engine_seq, executed_at) FROM STDIN BINARY")?;
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for k in 0..50_000 {
                let id = chunk * 50_000 + k;
                let (price, qty, fee) = (
                    Decimal::new(100_000 + k % 100, 2),
                    Decimal::new(1 + k % 7, 5),
                    Decimal::new(-k % 11, 8),
                );
                let v: [&(dyn ToSql + Sync); 13] = [
                    &id, &0i32, &price, &qty, &"buy", &id, &1i64, &id, &2i64, &fee, &fee, &id, &now,
                ];
                w.write(&v)?;
            }
            w.finish()?;
            tx.commit()?;
        }
        let dt = t0.elapsed().as_secs_f64();
        report.push(format!(
            "raw binary COPY into trades (3 indexes): {rows} rows in {dt:.2} s = {:.0} rows/s",
            rows as f64 / dt
        ));
        Ok(report)
    })();
    let dropped = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    match result {
        Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
        Err(e) => eprintln!("persist_throughput failed: {e}"),
    }
    if let Err(e) = dropped {
        eprintln!("could not drop schema {schema}: {e}");
    }
}
