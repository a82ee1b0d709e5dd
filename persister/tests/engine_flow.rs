//! A random engine run persisted in batches of varying sizes: PostgreSQL must agree with
//! the engine on every balance, trade and order.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use common::*;
use rust_decimal::Decimal;
use tachyon_engine::{
    AccountId, AssetId, CancelReason, ClOrdId, Command, CommandKind, Engine, Event, NewOrder,
    OrdType, Price, Qty, RejectReason, SessionId, Side, StpMode, SymbolId, Tif,
};
use tachyon_persister::postgres::Client;
use tachyon_pipeline::OutEvent;

fn dec(units: i64) -> Decimal {
    Decimal::new(units, 8)
}

fn verify(c: &mut Client, engine: &Engine, events: &[OutEvent]) {
    let u = units();
    // Balances: equal to the engine for every account and asset.
    let mut db: HashMap<(i64, i32), (Decimal, Decimal)> = HashMap::new();
    for r in c
        .query(
            "SELECT account_id, asset_id, available, locked FROM balances",
            &[],
        )
        .unwrap()
    {
        db.insert((r.get(0), r.get(1)), (r.get(2), r.get(3)));
    }
    let mut nonzero = 0;
    for a in 0..MAX_ACCOUNTS {
        for asset in 0..3u16 {
            let b = engine
                .balance(AccountId(a), AssetId(asset))
                .unwrap_or_default();
            match db.get(&(a as i64, asset as i32)) {
                Some(&(av, lk)) => {
                    assert_eq!(
                        (av, lk),
                        (dec(b.available), dec(b.locked)),
                        "balance of {a}/{asset}"
                    );
                    nonzero += 1;
                }
                None => assert_eq!(
                    (b.available, b.locked),
                    (0, 0),
                    "missing balance row {a}/{asset}"
                ),
            }
        }
    }
    assert!(nonzero > 40, "only {nonzero} balance rows");
    // The ledger sums to the balances.
    let sums = c
        .query(
            "SELECT l.account_id, l.asset_id, sum(l.delta_available), sum(l.delta_locked), b.available, b.locked \
             FROM ledger_entries l LEFT JOIN balances b USING (account_id, asset_id) \
             GROUP BY l.account_id, l.asset_id, b.available, b.locked",
            &[],
        )
        .unwrap();
    assert_eq!(sums.len(), db.len());
    for r in &sums {
        let (sa, sl, ba, bl): (Decimal, Decimal, Option<Decimal>, Option<Decimal>) =
            (r.get(2), r.get(3), r.get(4), r.get(5));
        assert_eq!(
            (Some(sa), Some(sl)),
            (ba, bl),
            "ledger sum of {}/{}",
            r.get::<_, i64>(0),
            r.get::<_, i32>(1)
        );
    }
    // Ledger rows: one per event, in order.
    let ledger_events = events
        .iter()
        .filter(|e| matches!(e.event, Event::Ledger(_)))
        .count() as i64;
    let n: i64 = c
        .query_one("SELECT count(*) FROM ledger_entries", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, ledger_events);
    // Trades: each exactly once, with its price, quantity and fees.
    let trades: BTreeMap<i64, (Decimal, Decimal, Decimal, Decimal, i64)> = c
        .query(
            "SELECT trade_id, price, qty, maker_fee, taker_fee, engine_seq FROM trades",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))))
        .collect();
    let mut expected_trades = 0;
    for e in events {
        if let Event::Trade(t) = e.event {
            expected_trades += 1;
            let i = &u.instruments()[t.symbol.0 as usize];
            let row = trades
                .get(&(t.trade_id as i64))
                .unwrap_or_else(|| panic!("trade {} missing", t.trade_id));
            assert_eq!(
                *row,
                (
                    i.price(t.price.0),
                    i.qty(t.qty.0),
                    dec(t.maker.fee),
                    dec(t.taker.fee),
                    e.cmd_seq as i64
                ),
                "trade {}",
                t.trade_id
            );
        }
    }
    assert_eq!(trades.len(), expected_trades);
    assert!(
        expected_trades > 100,
        "only {expected_trades} trades: generator too tame"
    );
    // Orders: open ones as in the engine; the others terminal, as the events say.
    let mut last: HashMap<u64, (i64, i64, Option<CancelReason>)> = HashMap::new(); // cum_qty, cum_cost, cancel
    let mut rejected = 0i64;
    let mut accepted = BTreeSet::new();
    for e in events {
        match e.event {
            Event::OrderAccepted { order_id, .. } => {
                accepted.insert(order_id.0);
                last.insert(order_id.0, (0, 0, None));
            }
            Event::OrderRejected { .. } => rejected += 1,
            Event::Trade(t) => {
                for f in [t.maker, t.taker] {
                    let x = last.get_mut(&f.order_id.0).unwrap();
                    x.0 = f.cum_qty.0;
                    x.1 = f.cum_cost;
                }
            }
            Event::OrderCanceled { state, reason, .. } => {
                last.insert(
                    state.order_id.0,
                    (state.cum_qty.0, state.cum_cost, Some(reason)),
                );
            }
            _ => {}
        }
    }
    let mut open = HashMap::new();
    for s in 0..2u16 {
        for side in [Side::Buy, Side::Sell] {
            for o in engine.book_orders(SymbolId(s), side) {
                open.insert(o.order_id.0, o);
            }
        }
    }
    let rows = c
        .query(
            "SELECT order_id, status, leaves_qty, filled_qty, filled_quote, price, qty, cl_ord_id, avg_price, symbol_id \
             FROM orders WHERE order_id IS NOT NULL",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), accepted.len());
    let mut open_rows = 0;
    for r in &rows {
        let id: i64 = r.get(0);
        let status: String = r.get(1);
        let (leaves, filled, quote): (Decimal, Decimal, Decimal) = (r.get(2), r.get(3), r.get(4));
        let i = &u.instruments()[r.get::<_, i32>(9) as usize];
        let avg: Option<Decimal> = r.get(8);
        if let Some(o) = open.get(&(id as u64)) {
            open_rows += 1;
            assert!(
                status == "new" || status == "partially_filled",
                "open order {id} stored as {status}"
            );
            assert_eq!(status == "new", o.cum_qty.0 == 0, "order {id}");
            assert_eq!(
                (leaves, filled, quote),
                (
                    i.qty(o.leaves.0),
                    i.qty(o.cum_qty.0),
                    i.notional(o.cum_cost)
                ),
                "order {id}"
            );
            let (price, qty, cl): (Option<Decimal>, Option<Decimal>, String) =
                (r.get(5), r.get(6), r.get(7));
            assert_eq!(
                (price, qty),
                (Some(i.price(o.price.0)), Some(i.qty(o.qty.0))),
                "order {id}"
            );
            assert_eq!(cl.as_bytes(), o.cl_ord_id.as_bytes());
            assert_eq!(avg, i.avg_price(o.cum_cost, o.cum_qty.0));
        } else {
            let (cum_qty, cum_cost, cancel) = last[&(id as u64)];
            let expected = match cancel {
                Some(CancelReason::Expired) => "expired",
                Some(_) => "canceled",
                None => "filled",
            };
            assert_eq!(status, expected, "order {id}");
            assert_eq!(
                (leaves, filled, quote),
                (Decimal::ZERO, i.qty(cum_qty), i.notional(cum_cost)),
                "order {id}"
            );
            assert_eq!(avg, i.avg_price(cum_cost, cum_qty));
        }
    }
    assert_eq!(
        open_rows,
        open.len(),
        "open orders in the engine missing from orders"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders WHERE status = 'rejected'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, rejected);
    // The generator reaches every status and both kinds of fee.
    let statuses: i64 = c
        .query_one("SELECT count(DISTINCT status) FROM orders", &[])
        .unwrap()
        .get(0);
    assert_eq!(statuses, 6, "not every order status reached");
    let rebates: i64 = c
        .query_one("SELECT count(*) FROM trades WHERE maker_fee < 0", &[])
        .unwrap()
        .get(0);
    assert!(rebates > 0);
    // Accounts: the fee account plus every AccountCreated.
    let created = events
        .iter()
        .filter(|e| matches!(e.event, Event::AccountCreated { .. }))
        .count() as i64;
    let n: i64 = c
        .query_one("SELECT count(*) FROM accounts", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, created + 1);
    // API keys: one row per ApiKeyCreated, the active ones exactly the engine's table.
    let created = events
        .iter()
        .filter(|e| matches!(e.event, Event::ApiKeyCreated(_)))
        .count() as i64;
    let n: i64 = c
        .query_one("SELECT count(*) FROM api_keys", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, created);
    let active: Vec<(String, i64, String)> = c
        .query(
            "SELECT key_id, account_id, comp_id FROM api_keys WHERE revoked_at IS NULL \
             ORDER BY created_seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(String, i64, String)> = engine
        .api_keys()
        .iter()
        .map(|k| {
            (
                k.key.text(),
                k.account.0 as i64,
                k.comp_id.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(active, want);
    let cp: i64 = c
        .query_one("SELECT last_seq FROM persister_checkpoint", &[])
        .unwrap()
        .get(0);
    assert_eq!(cp as u64, events.last().unwrap().cmd_seq);
}

fn persist_and_verify(seed: u64, n: usize, max_batch_cmds: u64) {
    let t0 = Instant::now();
    let cmds = commands(seed, n);
    let (engine, events) = run_engine(&cmds);
    engine.check_invariants().unwrap();
    let schema = TestSchema::new();
    let mut p = open(&schema);
    let t1 = Instant::now();
    let mut trades = 0;
    for b in batches(&events, seed ^ 1, max_batch_cmds) {
        let o = p.write_batch(b).unwrap();
        assert_eq!(o.skipped_events, 0);
        assert_eq!(o.written_events, b.len());
        trades += o.trades;
    }
    let write = t1.elapsed();
    assert_eq!(trades, trade_count(&events));
    let mut c = schema.client();
    verify(&mut c, &engine, &events);
    eprintln!(
        "{n} commands, {} events, {trades} trades: engine+gen {:?}, persist {:?}, total {:?}",
        events.len(),
        t1 - t0,
        write,
        t0.elapsed()
    );
}

#[test]
fn engine_flow_20k_commands_matches_engine() {
    persist_and_verify(0x5eed_0001, 20_000, 400);
}

#[test]
fn engine_flow_100k_commands_matches_engine() {
    persist_and_verify(0x5eed_0002, 100_000, 2_000);
}

#[test]
fn single_command_batches_match_engine() {
    persist_and_verify(0x5eed_0003, 2_000, 1);
}

/// Orders refused by an operator halt or suspension are stored as rejected with their
/// reason text; the status events themselves are consumed without a row (and without
/// breaking a batch).
#[test]
fn operator_rejects_are_stored_with_their_reason() {
    let mut cmds = commands(0x5eed_0004, 0); // genesis only
    let ts = cmds.last().unwrap().ts_ns;
    let order = |account: u32, symbol: u16, cl: u64| NewOrder {
        account: AccountId(account),
        session: SessionId(0),
        cl_ord_id: ClOrdId::from_u64(cl),
        symbol: SymbolId(symbol),
        side: Side::Buy,
        ord_type: OrdType::Limit,
        price: Price(99_000),
        qty: Qty(1),
        quote_budget: 0,
        tif: Tif::Gtc,
        expire_ns: 0,
        post_only: false,
        stp: StpMode::CancelNewest,
    };
    for kind in [
        CommandKind::HaltSymbol {
            symbol: SymbolId(0),
        },
        CommandKind::NewOrder(order(1, 0, 1)),
        CommandKind::SuspendAccount {
            account: AccountId(2),
        },
        CommandKind::NewOrder(order(2, 1, 2)),
        CommandKind::NewOrder(order(1, 1, 3)),
        CommandKind::ResumeSymbol {
            symbol: SymbolId(0),
        },
        CommandKind::NewOrder(order(1, 0, 4)),
    ] {
        cmds.push(Command {
            ts_ns: ts + 1,
            kind,
        });
    }
    let (engine, events) = run_engine(&cmds);
    engine.check_invariants().unwrap();
    let rejects: Vec<RejectReason> = events
        .iter()
        .filter_map(|e| match e.event {
            Event::OrderRejected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejects,
        [RejectReason::SymbolHalted, RejectReason::AccountSuspended]
    );
    let schema = TestSchema::new();
    let mut p = open(&schema);
    let o = p.write_batch(&events).unwrap();
    assert_eq!(o.written_events, events.len());
    let mut c = schema.client();
    let rows: Vec<(String, String, Option<String>)> = c
        .query(
            "SELECT cl_ord_id, status, reject_reason FROM orders ORDER BY created_seq",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let row = |cl: &str, status: &str, reason: Option<&str>| {
        (cl.to_string(), status.to_string(), reason.map(String::from))
    };
    assert_eq!(
        rows,
        vec![
            row("1", "rejected", Some("symbol_halted")),
            row("2", "rejected", Some("account_suspended")),
            row("3", "new", None),
            row("4", "new", None),
        ]
    );
}

/// API keys: one row per registration with its account and CompID binding, revocation
/// time and sequence; the active rows are exactly the engine's key table. No column can
/// hold a secret (the engine has none). Written once in one batch and once command by
/// command.
#[test]
fn api_keys_are_stored_per_registration() {
    use tachyon_engine::{ApiKey, ApiKeyId, CompId};
    let mut cmds = commands(0x5eed_0005, 0); // genesis only
    let ts = cmds.last().unwrap().ts_ns;
    let key = |id: u64, account: u32, comp: &str| ApiKey {
        key: ApiKeyId(id),
        account: AccountId(account),
        comp_id: CompId::new(comp.as_bytes()).unwrap(),
        nonce: [7; 16],
    };
    for (i, kind) in [
        CommandKind::CreateApiKey(key(1, 1, "ALICE")),
        CommandKind::CreateApiKey(key(2, 1, "ALICE")),
        CommandKind::CreateApiKey(key(2, 2, "BOB")), // duplicate id: rejected, no row
        CommandKind::CreateApiKey(key(3, 2, "BOB")),
        CommandKind::RevokeApiKey { key: ApiKeyId(1) },
        CommandKind::RevokeApiKey { key: ApiKeyId(9) }, // unknown: rejected
        CommandKind::CreateApiKey(key(1, 2, "BOB")),    // a revoked id registered again
    ]
    .into_iter()
    .enumerate()
    {
        cmds.push(Command {
            ts_ns: ts + 1_000_000 * (i as u64 + 1),
            kind,
        });
    }
    let (engine, events) = run_engine(&cmds);
    engine.check_invariants().unwrap();
    let genesis = cmds.len() as i64 - 7;
    let expected = vec![
        (
            ApiKeyId(1).text(),
            genesis + 1,
            1i64,
            "ALICE".to_string(),
            Some(genesis + 5),
        ),
        (ApiKeyId(2).text(), genesis + 2, 1, "ALICE".into(), None),
        (ApiKeyId(3).text(), genesis + 4, 2, "BOB".into(), None),
        (ApiKeyId(1).text(), genesis + 7, 2, "BOB".into(), None),
    ];
    for max_batch in [u64::MAX, 1] {
        let schema = TestSchema::new();
        let mut p = open(&schema);
        for b in batches(&events, 5, max_batch) {
            p.write_batch(b).unwrap();
        }
        let mut c = schema.client();
        let rows: Vec<(String, i64, i64, String, Option<i64>)> = c
            .query(
                "SELECT key_id, created_seq, account_id, comp_id, revoked_seq FROM api_keys \
                 ORDER BY created_seq",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect();
        assert_eq!(rows, expected, "batches of at most {max_batch} commands");
        let revoked_at_ok: bool = c
            .query_one(
                "SELECT bool_and((revoked_at IS NULL) = (revoked_seq IS NULL) \
                 AND created_at IS NOT NULL) FROM api_keys",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(revoked_at_ok);
        let active: Vec<String> = c
            .query(
                "SELECT key_id FROM api_keys WHERE revoked_at IS NULL ORDER BY created_seq",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let engine_keys: Vec<String> = engine.api_keys().iter().map(|k| k.key.text()).collect();
        assert_eq!(active, engine_keys);
        let columns: Vec<String> = c
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = 'api_keys' AND table_schema = current_schema()",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            columns
                .iter()
                .all(|c| !c.contains("secret") && !c.contains("nonce")),
            "{columns:?}"
        );
    }
}
