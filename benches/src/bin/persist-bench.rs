//! Persister benchmark: trades and events stored per second at saturation, and the
//! matcher's throughput with the persister on vs off, in the same run.
//!
//! `cargo run --release -p benches --bin persist-bench -- [--events N] [--rounds R]
//! [--connections 1-3] [--batch B] [--idle] [--no-yield] [--quiet-ms M] [--ceiling]`,
//! or `-- --direct [--connections N] [--batch B]` for the `Persister` alone with a
//! per-phase breakdown. Needs PostgreSQL at `DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres); works in throw-away schemas it drops.
//!
//! A trade-heavy flow (every other order crosses) goes through the pipeline at saturation
//! in R rounds of two runs on fresh journals, in alternating order: without the persister,
//! and with the journal follower writing to PostgreSQL. Matcher throughput = commands /
//! time from the first publish until the last command's events are released; the slowdown
//! is the median of the rounds' off/on ratios. Persister throughput = trades (events) /
//! time from the first publish until the follower has stored the last command. Each round
//! also shows what the persister stored, and the CPU its threads and backends used, while
//! the matcher was timed. Threads: publisher+poller (this thread), journaler, matcher, and
//! with the persister its follower and writer threads plus the PostgreSQL backends — all on
//! the machine's cores, unpinned. `--ceiling` adds raw binary COPY of the same row counts
//! into the same tables without the persister's logic, on 1 and 3 connections.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tachyon_engine::*;
use tachyon_persister::postgres::{Client, NoTls};
use tachyon_persister::{Follower, FollowerOptions, FollowerPriority, TickLot, Units};
use tachyon_pipeline::*;
use tachyon_testkit::{genesis, two_symbol_config, Limits, SplitMix};

fn config() -> EngineConfig {
    two_symbol_config(
        Limits {
            accounts: 128,
            orders: 1 << 20,
            levels: 1 << 14,
        },
        1,
        5,
    )
}

fn units() -> Units {
    let t = TickLot {
        tick_size: Decimal::new(1, 2),
        lot_size: Decimal::new(1, 5),
    };
    Units::new(&config(), &[t, t]).expect("units")
}

/// Every other order crosses: a passive order, then one that trades against it.
fn flow(n: usize) -> Vec<Command> {
    let mut rng = SplitMix(7);
    let mut v = genesis(100, 3, 1 << 55);
    for i in 0..n as u64 {
        let account = AccountId(1 + rng.below(100) as u32);
        let symbol = SymbolId(rng.below(2) as u16);
        let buy = rng.below(2) == 0;
        let aggressive = i % 2 == 1;
        let off = rng.below(20) as i64;
        let price = match (buy, aggressive) {
            (true, false) => 100_000 - off,
            (false, false) => 100_000 + off,
            (true, true) => 100_030,
            (false, true) => 99_970,
        };
        v.push(Command {
            ts_ns: 1_000_000 + i,
            kind: CommandKind::NewOrder(NewOrder {
                account,
                session: SessionId(1),
                cl_ord_id: ClOrdId::EMPTY,
                symbol,
                side: if buy { Side::Buy } else { Side::Sell },
                ord_type: OrdType::Limit,
                price: Price(price),
                qty: Qty(1 + rng.below(20) as i64),
                quote_budget: 0,
                tif: if aggressive { Tif::Ioc } else { Tif::Gtc },
                expire_ns: 0,
                post_only: false,
                stp: StpMode::CancelOldest,
            }),
        });
    }
    v
}

fn start(dir: &std::path::Path) -> Pipeline {
    Pipeline::start(
        config(),
        PipelineOptions {
            inbound_ring_size: 1 << 14,
            outbound_ring_size: 1 << 16,
            mode: CoreMode::Shared,
            matcher_core: None,
            journal_core: None,
            journal_dir: dir.to_path_buf(),
            fsync: FsyncPolicy::Os,
            segment_size_bytes: 64 << 20,
            snapshot_interval: 0,
            prune_segments: false,
            outbound_pollers: 1,
            tick_interval: None,
            journal_on_matcher: false,
        },
    )
    .expect("pipeline")
}

/// Publishes everything at saturation; returns (time to release, events, trades).
fn drive(p: &mut Pipeline, cmds: &[Command]) -> (Duration, u64, u64) {
    let mut publisher = p.publisher();
    let mut reader = p.take_pollers().pop().unwrap();
    let last = cmds.len() as u64;
    let (mut sent, mut done, mut events, mut trades) = (0usize, false, 0u64, 0u64);
    let t0 = Instant::now();
    while !done {
        while sent < cmds.len() && publisher.try_publish(cmds[sent]).is_ok() {
            sent += 1;
        }
        if reader.poll(|ev| {
            events += 1;
            if matches!(ev.event, Event::Trade(_)) {
                trades += 1;
            }
            if ev.last && ev.cmd_seq == last {
                done = true;
            }
        }) == PollResult::Released(0)
        {
            std::thread::yield_now();
        }
    }
    let elapsed = t0.elapsed();
    std::thread::spawn(move || {
        while reader.poll(|_| {}) != PollResult::Shutdown {
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    (elapsed, events, trades)
}

/// CPU seconds (user + system) of a process, from /proc (Linux; 0 elsewhere).
fn cpu_secs(pid: u32) -> f64 {
    cpu_secs_of(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user + system) from a /proc `stat` file.
fn cpu_secs_of(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) : state is field 3.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

/// CPU seconds of this process's threads named `name` (Linux; 0 elsewhere).
fn thread_cpu_secs(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| t.file_name().to_str()?.parse::<u32>().ok())
        .map(|tid| cpu_secs_of(&format!("/proc/self/task/{tid}/stat")))
        .sum()
}

/// The flow's events, computed in-process (sequence = index + 1), as the follower derives them.
fn engine_events(cmds: &[Command]) -> Vec<OutEvent> {
    let mut engine = Engine::new(config()).expect("engine");
    let mut out = Vec::new();
    let mut evs = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        evs.clear();
        engine.apply(c, &mut evs);
        let n = evs.len();
        out.extend(evs.iter().enumerate().map(|(j, e)| OutEvent {
            cmd_seq: i as u64 + 1,
            ts_ns: c.ts_ns,
            event: *e,
            last: j + 1 == n,
            origin: 0,
        }));
    }
    out
}

/// `--direct`: the `Persister` alone over the flow's events (no pipeline, no follower),
/// with a per-phase breakdown and the CPU used by this process and the server backend.
fn direct(url: &str, schema: &str, cmds: &[Command], batch_cmds: usize, connections: usize) {
    let events = engine_events(cmds);
    let mut admin = Client::connect(url, NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let mut pg: tachyon_persister::postgres::Config = url.parse().unwrap();
    pg.options(&format!(
        "-c search_path={schema} {}",
        std::env::var("BENCH_PG_OPTIONS").unwrap_or_default()
    ));
    pg.application_name(schema);
    let mut p = tachyon_persister::Persister::connect_parallel(&pg, units(), connections)
        .expect("persister");
    if let Ok(sql) = std::env::var("BENCH_SQL") {
        // Experiments only: e.g. drop an index to see what it costs.
        admin
            .batch_execute(&format!(
                "SET search_path={schema}; {sql}; RESET search_path"
            ))
            .unwrap();
    }
    let backends: Vec<u32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i32>(0) as u32)
        .collect();
    let server_cpu = || backends.iter().map(|&b| cpu_secs(b)).sum::<f64>();
    let mut batches = Vec::new();
    let (mut start, mut k) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        if e.last {
            k += 1;
            if k == batch_cmds || i + 1 == events.len() {
                batches.push(&events[start..=i]);
                start = i + 1;
                k = 0;
            }
        }
    }
    let (c0, b0) = (cpu_secs(std::process::id()), server_cpu());
    let t0 = Instant::now();
    let mut tot = tachyon_persister::BatchOutcome::default();
    for b in &batches {
        let o = p.write_batch(b).expect("write_batch");
        tot.trades += o.trades;
        tot.ledger_entries += o.ledger_entries;
        tot.orders_inserted += o.orders_inserted;
        tot.orders_updated += o.orders_updated;
    }
    let dt = t0.elapsed().as_secs_f64();
    let (c1, b1) = (cpu_secs(std::process::id()), server_cpu());
    let t = p.phase_times();
    drop(p);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
    println!(
        "direct: {} commands, {} events in {} batches of {batch_cmds} commands, {connections} connection(s): {dt:.2} s",
        cmds.len(),
        events.len(),
        batches.len()
    );
    println!(
        "rows: trades {} ledger {} orders inserted {} orders updated {}",
        tot.trades, tot.ledger_entries, tot.orders_inserted, tot.orders_updated
    );
    println!(
        "cpu: client {:.2} s, server backends {:.2} s",
        c1 - c0,
        b1 - b0
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "phases (ms): fold {:.0} accounts {:.0} orders {:.0} order_updates {:.0} trades {:.0} ledger {:.0} balances {:.0} commit {:.0}",
        ms(t.fold), ms(t.accounts), ms(t.orders), ms(t.order_updates), ms(t.trades), ms(t.ledger), ms(t.balances), ms(t.commit)
    );
    println!(
        "direct trades_per_s={:.0} events_per_s={:.0}",
        tot.trades as f64 / dt,
        events.len() as f64 / dt
    );
}

/// SplitMix-style scramble for synthetic ids.
fn mix(i: i64) -> i64 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// `--ceiling`: what PostgreSQL ingests here without any of the persister's logic: binary
/// COPY of synthetic rows, as many orders, trades and ledger entries as the flow stores,
/// in the same tables (same indexes and constraints: the schema is migrated by the
/// `Persister`), the same number of transactions, on 1 connection, then on 3 connections
/// in parallel (orders + trades | odd ledger | even ledger). No engine, no folding, no
/// order updates, no balances, no checkpoint. Returns the seconds for each.
fn ceiling(url: &str, schema: &str, rows: (usize, usize, usize), batches: usize) -> [f64; 2] {
    use tachyon_persister::postgres::binary_copy::BinaryCopyInWriter;
    use tachyon_persister::postgres::types::{ToSql, Type};
    let (orders, trades, ledger) = rows;
    let mut out = [0.0; 2];
    for (k, conns) in [1usize, 3].into_iter().enumerate() {
        let mut admin = Client::connect(url, NoTls).unwrap();
        let sch = format!("{schema}_ceiling{conns}");
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {sch} CASCADE; CREATE SCHEMA {sch}"
            ))
            .unwrap();
        let mut pg: tachyon_persister::postgres::Config = url.parse().unwrap();
        pg.options(&format!("-c search_path={sch} -c synchronous_commit=off"));
        drop(tachyon_persister::Persister::connect(&pg, units()).expect("migrate"));
        let mut clients: Vec<Client> = (0..conns).map(|_| pg.connect(NoTls).unwrap()).collect();
        let now = std::time::SystemTime::now();
        let dec = |v: i64, s: u32| Decimal::new(v, s);
        let copy_orders = |c: &mut tachyon_persister::postgres::Transaction<'_>,
                           r: std::ops::Range<i64>| {
            let sink = c.copy_in("COPY orders (created_seq, order_id, account_id, session_id, cl_ord_id, symbol_id, side, \
                ord_type, tif, post_only, stp, price, qty, quote_budget, expire_at, status, leaves_qty, filled_qty, filled_quote, \
                avg_price, reject_reason, cancel_reason, created_at, updated_seq, updated_at) FROM STDIN BINARY").unwrap();
            let types = [
                Type::INT8,
                Type::INT8,
                Type::INT8,
                Type::INT4,
                Type::TEXT,
                Type::INT4,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::BOOL,
                Type::TEXT,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::TIMESTAMPTZ,
                Type::TEXT,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::TEXT,
                Type::TEXT,
                Type::TIMESTAMPTZ,
                Type::INT8,
                Type::TIMESTAMPTZ,
            ];
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for i in r {
                let m = mix(i);
                let (price, qty) = (dec(100_000 + m % 20, 2), dec(1 + m % 20, 5));
                let v: [&(dyn ToSql + Sync); 25] = [
                    &i,
                    &i,
                    &(1 + m % 100),
                    &1i32,
                    &"",
                    &((m % 2) as i32),
                    &if m % 3 == 0 { "buy" } else { "sell" },
                    &"limit",
                    &"gtc",
                    &false,
                    &"cancel_oldest",
                    &price,
                    &qty,
                    &None::<Decimal>,
                    &None::<std::time::SystemTime>,
                    &"filled",
                    &Decimal::ZERO,
                    &qty,
                    &dec(m % 2_000_000, 7),
                    &Some(price),
                    &None::<&str>,
                    &None::<&str>,
                    &now,
                    &i,
                    &now,
                ];
                w.write(&v).unwrap();
            }
            w.finish().unwrap();
        };
        let copy_trades = |c: &mut tachyon_persister::postgres::Transaction<'_>,
                           r: std::ops::Range<i64>| {
            let sink = c.copy_in("COPY trades (trade_id, symbol_id, price, qty, aggressor_side, maker_order_id, \
                maker_account_id, taker_order_id, taker_account_id, maker_fee, taker_fee, engine_seq, executed_at) FROM STDIN BINARY").unwrap();
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
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for i in r {
                let m = mix(i);
                let (price, qty, fee) = (
                    dec(100_000 + m % 20, 2),
                    dec(1 + m % 20, 5),
                    dec(m % 1000, 8),
                );
                let v: [&(dyn ToSql + Sync); 13] = [
                    &i,
                    &((m % 2) as i32),
                    &price,
                    &qty,
                    &"buy",
                    &i,
                    &(1 + m % 100),
                    &(i + 1),
                    &(1 + (m >> 8) % 100),
                    &fee,
                    &fee,
                    &i,
                    &now,
                ];
                w.write(&v).unwrap();
            }
            w.finish().unwrap();
        };
        // Ledger row i belongs to command i / 6 (6 entries per command).
        let copy_ledger = |c: &mut tachyon_persister::postgres::Transaction<'_>,
                           r: std::ops::Range<i64>,
                           parity: Option<i64>| {
            let sink = c.copy_in("COPY ledger_entries (engine_seq, entry_no, account_id, asset_id, delta_available, \
                delta_locked, available_after, locked_after, reason, reference, created_at) FROM STDIN BINARY").unwrap();
            let types = [
                Type::INT8,
                Type::INT4,
                Type::INT8,
                Type::INT4,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::TEXT,
                Type::NUMERIC,
                Type::TIMESTAMPTZ,
            ];
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for i in r {
                if parity.is_some_and(|p| (i / 6) % 2 != p) {
                    continue;
                }
                let m = mix(i);
                let v: [&(dyn ToSql + Sync); 11] = [
                    &(i / 6),
                    &((i % 6) as i32),
                    &(1 + m % 100),
                    &((m % 3) as i32),
                    &dec(m % 1_000_000, 8),
                    &dec(-(m % 1_000_000), 8),
                    &dec(1 << 50, 8),
                    &dec(m % 1_000_000_000, 8),
                    &"trade",
                    &Decimal::from(i),
                    &now,
                ];
                w.write(&v).unwrap();
            }
            w.finish().unwrap();
        };
        let slice = |total: usize, b: usize| {
            let per = total.div_ceil(batches);
            (b * per) as i64..((b + 1) * per).min(total) as i64
        };
        let t0 = Instant::now();
        for b in 0..batches {
            if conns == 1 {
                let mut tx = clients[0].transaction().unwrap();
                copy_orders(&mut tx, slice(orders, b));
                copy_trades(&mut tx, slice(trades, b));
                copy_ledger(&mut tx, slice(ledger, b), None);
                tx.commit().unwrap();
            } else {
                std::thread::scope(|s| {
                    for (i, c) in clients.iter_mut().enumerate() {
                        let (co, ct, cl) = (&copy_orders, &copy_trades, &copy_ledger);
                        s.spawn(move || {
                            let mut tx = c.transaction().unwrap();
                            if i == 0 {
                                co(&mut tx, slice(orders, b));
                                ct(&mut tx, slice(trades, b));
                            } else {
                                cl(&mut tx, slice(ledger, b), Some(i as i64 - 1));
                            }
                            tx.commit().unwrap();
                        });
                    }
                });
            }
        }
        out[k] = t0.elapsed().as_secs_f64();
        drop(clients);
        admin
            .batch_execute(&format!("DROP SCHEMA {sch} CASCADE; CHECKPOINT"))
            .unwrap();
    }
    out
}

fn arg<T: std::str::FromStr>(args: &[String], names: &[&str], default: T) -> T {
    match args.iter().position(|a| names.contains(&a.as_str())) {
        None => default,
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                eprintln!(
                    "usage: persist-bench [--events N] [--rounds R] [--connections 1-3] [--batch B] \
                     [--idle] [--no-yield] [--direct] [--ceiling]"
                );
                std::process::exit(2)
            }),
    }
}

/// Pause between starting a pipeline and timing it, in both runs: the freshly started
/// threads settle (first page faults of the engine's arenas, journal segment creation).
const SETTLE: Duration = Duration::from_millis(500);

/// Waits until the follower is connected, has built its replica and seen the journal.
fn wait_ready(f: &Follower) {
    let s = f.stats();
    let t = Instant::now();
    while s.caught_up_at_ns.load(Ordering::Acquire) == 0 {
        if t.elapsed() > Duration::from_secs(60) {
            eprintln!(
                "persist-bench: the follower never got ready ({:?})",
                s.last_error.lock().unwrap()
            );
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = arg(&args, &["--events", "--commands"], 500_000);
    let rounds: usize = arg(&args, &["--rounds"], 5);
    let connections: usize = arg(&args, &["--connections"], 3);
    let batch: u64 = arg(&args, &["--batch"], 10_000);
    let flag = |f: &str| args.iter().any(|a| a == f);
    let priority = if flag("--idle") {
        FollowerPriority::Idle
    } else {
        FollowerPriority::Nice10
    };
    let quiet_ms: u64 = arg(&args, &["--quiet-ms"], 50);
    let yield_to_traffic = (!flag("--no-yield")).then_some(Duration::from_millis(quiet_ms));
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("tachyon_bench_{}", std::process::id());
    let mut admin = Client::connect(&url, NoTls).unwrap_or_else(|e| {
        eprintln!("persist-bench: PostgreSQL at {url}: {e}");
        std::process::exit(2)
    });
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    let cmds = flow(n);
    if flag("--direct") {
        direct(&url, &schema, &cmds, batch as usize, connections);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "persist-bench: {cores} cores; {} commands (trade-heavy flow); PostgreSQL at 127.0.0.1, fresh schema per round; \
         {rounds} rounds of persister off/on (order alternating)",
        cmds.len()
    );
    println!(
        "persister: journal follower, {connections} connection(s), {batch} commands per batch, priority {priority:?}, \
         yield to traffic {}",
        if yield_to_traffic.is_some() { format!("on (bursts = over 1,000 commands per {quiet_ms} ms)") } else { "off".into() }
    );
    println!("threads: publisher+poller (main), journaler, matcher, [follower + {connections} writer thread(s), {connections} PostgreSQL backend(s)]; unpinned");
    println!("matcher throughput = commands / time until the last command's events are released (same run, persister off vs on);");
    println!("persister throughput = trades (events) / time from the first publish until the follower stored the last command");

    let base = std::env::temp_dir().join(format!("tachyon-persist-bench-{}", std::process::id()));
    // The VM's speed drifts a lot between runs: alternate off/on rounds and compare each
    // pair (median of the ratios), as engine-bench does.
    let (mut offs, mut ons, mut ratios, mut t_rates, mut e_rates) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut events, mut trades) = (0, 0);
    println!();
    println!("| round | matcher off /s | matcher on /s | off/on | stored / persister CPU during the matcher's run | all stored in | trades stored /s | events stored /s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in 0..rounds {
        let off_run = |events: &mut u64, trades: &mut u64| {
            let mut p = start(&base.join(format!("off{r}")));
            std::thread::sleep(SETTLE);
            let (off, ev, tr) = drive(&mut p, &cmds);
            p.shutdown().unwrap();
            (*events, *trades) = (ev, tr);
            cmds.len() as f64 / off.as_secs_f64()
        };
        let on_run = |admin: &mut Client| {
            let round_schema = format!("{schema}_{r}");
            admin
                .batch_execute(&format!("CREATE SCHEMA {round_schema}"))
                .unwrap();
            let dir = base.join(format!("on{r}"));
            let mut p = start(&dir);
            let stats = p.stats();
            let durable: Arc<dyn Fn() -> u64 + Send + Sync> =
                Arc::new(move || stats.durable_seq.load(Ordering::Acquire));
            let mut pg: tachyon_persister::postgres::Config = url.parse().unwrap();
            pg.options(&format!("-c search_path={round_schema}"));
            pg.application_name(&round_schema);
            let follower = Follower::spawn(
                config(),
                units(),
                pg,
                FollowerOptions {
                    journal_dir: dir.clone(),
                    batch_commands: batch,
                    idle_poll: Duration::from_millis(1),
                    max_backoff: Duration::from_millis(200),
                    yield_to_traffic,
                    burst_commands: 1_000,
                    max_lag_commands: 2_000_000,
                    priority,
                    connections,
                },
                durable,
            )
            .unwrap();
            wait_ready(&follower); // connected, migrated, replica built: before timing
            std::thread::sleep(SETTLE);
            let backends: Vec<u32> = admin
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                    &[&round_schema],
                )
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i32>(0) as u32)
                .collect();
            let persister_cpu = || {
                backends.iter().map(|&b| cpu_secs(b)).sum::<f64>()
                    + thread_cpu_secs("tachyon-persist")
            };
            let cpu0 = persister_cpu();
            let t0 = Instant::now();
            let (on, _, _) = drive(&mut p, &cmds);
            let cpu_during = persister_cpu() - cpu0;
            let on_rate = cmds.len() as f64 / on.as_secs_f64();
            // How much the persister stored while the matcher was being timed.
            let during = follower.stats().checkpoint.load(Ordering::Acquire);
            let stored = follower.wait_for(cmds.len() as u64, Duration::from_secs(900));
            let persist_time = t0.elapsed();
            let err = follower.stats().last_error.lock().unwrap().clone();
            follower.stop();
            p.shutdown().unwrap();
            let rows: i64 = admin
                .query_one(&format!("SELECT count(*) FROM {round_schema}.trades"), &[])
                .map(|r| r.get(0))
                .unwrap_or(-1);
            // Drop the round's data and flush what it dirtied before the next measurement.
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {round_schema} CASCADE; CHECKPOINT"
                ))
                .unwrap();
            if !stored {
                eprintln!("persist-bench: the persister did not finish ({err:?})");
                std::process::exit(1);
            }
            (on_rate, persist_time, rows, (during, cpu_during))
        };
        let (off_rate, (on_rate, persist_time, rows, (during, cpu_during))) = if r % 2 == 0 {
            let off = off_run(&mut events, &mut trades);
            (off, on_run(&mut admin))
        } else {
            let on = on_run(&mut admin);
            (off_run(&mut events, &mut trades), on)
        };
        assert_eq!(rows as u64, trades, "every trade stored once");
        let secs = persist_time.as_secs_f64();
        println!(
            "| {r} | {off_rate:.0} | {on_rate:.0} | {:.2} | {during} / {:.0} ms | {secs:.2} s | {:.0} | {:.0} |",
            off_rate / on_rate,
            cpu_during * 1e3,
            trades as f64 / secs,
            events as f64 / secs
        );
        offs.push(off_rate);
        ons.push(on_rate);
        ratios.push(off_rate / on_rate);
        t_rates.push(trades as f64 / secs);
        e_rates.push(events as f64 / secs);
    }
    let _ = std::fs::remove_dir_all(&base);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (off_rate, on_rate) = (median(&mut offs), median(&mut ons));
    let slowdown = median(&mut ratios);
    let (trades_per_s, events_per_s) = (median(&mut t_rates), median(&mut e_rates));
    println!();
    println!(
        "{:<44} {:>12.0}",
        "matcher commands/s, persister off (median)", off_rate
    );
    println!(
        "{:<44} {:>12.0}",
        "matcher commands/s, persister on (median)", on_rate
    );
    println!(
        "{:<44} {:>12}",
        "events / trades stored",
        format!("{events} / {trades}")
    );
    if flag("--ceiling") {
        // Row counts of this flow as the persister stores them (see --direct).
        let ledger_rows = events_ledger(&cmds);
        let batches = (cmds.len() as u64).div_ceil(batch) as usize;
        let [one, three] = ceiling(
            &url,
            &schema,
            (cmds.len(), trades as usize, ledger_rows),
            batches,
        );
        println!(
            "ceiling: raw binary COPY of {} orders, {trades} trades, {ledger_rows} ledger rows in {batches} transactions: \
             1 connection {one:.2} s = {:.0} trades/s; 3 connections {three:.2} s = {:.0} trades/s",
            cmds.len(),
            trades as f64 / one,
            trades as f64 / three
        );
    }
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    println!("persist trades_per_s={trades_per_s:.0} events_per_s={events_per_s:.0} matcher_slowdown={slowdown:.2}");
}

/// Ledger entries the flow produces.
fn events_ledger(cmds: &[Command]) -> usize {
    engine_events(cmds)
        .iter()
        .filter(|e| matches!(e.event, Event::Ledger(_)))
        .count()
}
