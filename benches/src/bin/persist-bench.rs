//! Persister benchmark: events stored per second at saturation, and the matcher's
//! throughput with the persister on vs off, in the same run.
//!
//! `cargo run --release -p benches --bin persist-bench -- [--events N]`
//! (needs PostgreSQL at `DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres;
//! works in a throw-away schema it drops at the end).
//!
//! A trade-heavy flow (every other order crosses) goes through the pipeline at saturation
//! twice on fresh journals: once without the persister, once with the journal follower
//! writing to PostgreSQL. Matcher throughput = commands / time until the last command's
//! events are released. Persister throughput = events (and trades) / time from the first
//! publish until the follower has stored the last command. Threads: publisher+poller
//! (this thread), journaler, matcher, and with the persister its follower thread plus the
//! PostgreSQL server processes — all on the machine's 2 cores, unpinned.

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
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) : state is field 3.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
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

fn main() {
    let mut n = 500_000usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args
        .iter()
        .position(|a| a == "--events" || a == "--commands")
    {
        n = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                eprintln!(
                    "usage: persist-bench [--events N]   (N commands of the trade-heavy flow)"
                );
                std::process::exit(2)
            });
    }
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
    let connections: usize = args
        .iter()
        .position(|a| a == "--connections")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    if args.iter().any(|a| a == "--direct") {
        let batch = args
            .iter()
            .position(|a| a == "--batch")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(4_000);
        direct(&url, &schema, &cmds, batch, connections);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("persist-bench: {cores} cores; {} commands (trade-heavy flow), PostgreSQL at 127.0.0.1, schemas {schema}_<round>, 3 alternating off/on rounds", cmds.len());
    println!("threads: publisher+poller (main), journaler, matcher, [persister follower], PostgreSQL backend; unpinned");

    let base = std::env::temp_dir().join(format!("tachyon-persist-bench-{}", std::process::id()));
    // The VM's speed drifts a lot between runs: alternate off/on rounds and compare each
    // pair (median of the ratios), as engine-bench does.
    let rounds = 3;
    let (mut offs, mut ons, mut ratios, mut t_rates, mut e_rates) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut events, mut trades) = (0, 0);
    for r in 0..rounds {
        // A. Persister off.
        let mut p = start(&base.join(format!("off{r}")));
        let (off, ev, tr) = drive(&mut p, &cmds);
        p.shutdown().unwrap();
        (events, trades) = (ev, tr);
        let off_rate = cmds.len() as f64 / off.as_secs_f64();

        // B. Persister on (journal follower into PostgreSQL), fresh schema.
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
        let follower = Follower::spawn(
            config(),
            units(),
            pg,
            FollowerOptions {
                journal_dir: dir.clone(),
                batch_commands: 4_000,
                idle_poll: Duration::from_millis(1),
                max_backoff: Duration::from_millis(200),
                yield_to_traffic: Some(Duration::from_millis(5)),
                max_lag_commands: 2_000_000,
                priority: FollowerPriority::Nice10,
                connections,
            },
            durable,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300)); // connect and migrate before timing
        let t0 = Instant::now();
        let (on, _, _) = drive(&mut p, &cmds);
        let on_rate = cmds.len() as f64 / on.as_secs_f64();
        let stored = follower.wait_for(cmds.len() as u64, Duration::from_secs(600));
        let persist_time = t0.elapsed();
        let err = follower.stats().last_error.lock().unwrap().clone();
        follower.stop();
        p.shutdown().unwrap();
        let rows: i64 = admin
            .query_one(&format!("SELECT count(*) FROM {round_schema}.trades"), &[])
            .map(|r| r.get(0))
            .unwrap_or(-1);
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {round_schema} CASCADE"))
            .unwrap();
        if !stored {
            eprintln!("persist-bench: the persister did not finish ({err:?})");
            std::process::exit(1);
        }
        assert_eq!(rows as u64, trades, "every trade stored once");
        println!(
            "round {r}: matcher off {off_rate:.0}/s, on {on_rate:.0}/s (ratio {:.2}); stored {trades} trades in {:.2} s",
            off_rate / on_rate,
            persist_time.as_secs_f64()
        );
        offs.push(off_rate);
        ons.push(on_rate);
        ratios.push(off_rate / on_rate);
        t_rates.push(trades as f64 / persist_time.as_secs_f64());
        e_rates.push(events as f64 / persist_time.as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&base);
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
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
    println!("persist trades_per_s={trades_per_s:.0} events_per_s={events_per_s:.0} matcher_slowdown={slowdown:.2}");
}
