//! Pipeline benchmark: publish → (journal ∥ match) → outbound release, with the journal on.
//!
//! `cargo run --release -p benches --bin pipeline-bench -- [--mode shared|dedicated]
//! [--fsync os|always] [--rate R] [--count N]`
//!
//! One thread plays the gateway: it publishes commands and polls the released events, as
//! the real gateway I/O thread does. Besides it run the journaler and the matcher (and an
//! idle snapshot thread): 3 busy threads on this 2-core machine; in shared mode the
//! journaler and matcher back off (spin → yield → park, woken by the publisher), in
//! dedicated mode the matcher busy-spins pinned to core 1. `--pin` also pins the gateway
//! stand-in to core 0 and the journaler to core 1.
//!
//! Latency: command i is due at t0 + i/R; its latency is the time from that intended send
//! time to the release of its last event (so a stall delays every later command's figure:
//! no coordinated omission). Throughput: N commands published as fast as the ring takes
//! them, timed until the last one is released. Replay: the journal written by the
//! saturation run rebuilt offline from sequence 1.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tachyon_engine::*;
use tachyon_pipeline::*;

struct Args {
    pin: bool,
    journal_on_matcher: bool,
    mode: CoreMode,
    fsync: FsyncPolicy,
    rate: u64,
    count: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        pin: false,
        journal_on_matcher: false,
        mode: CoreMode::Shared,
        fsync: FsyncPolicy::Os,
        rate: 100_000,
        count: 1_000_000,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--mode" => {
                a.mode = match val.as_str() {
                    "shared" => CoreMode::Shared,
                    "dedicated" => CoreMode::Dedicated,
                    _ => usage("--mode is shared or dedicated"),
                }
            }
            "--fsync" => {
                a.fsync = match val.as_str() {
                    "os" => FsyncPolicy::Os,
                    "always" => FsyncPolicy::Always,
                    _ => usage("--fsync is os or always"),
                }
            }
            "--rate" => {
                a.rate = val
                    .parse()
                    .unwrap_or_else(|_| usage("--rate takes commands per second"))
            }
            "--count" => {
                a.count = val
                    .parse()
                    .unwrap_or_else(|_| usage("--count takes a number"))
            }
            "--pin" => {
                a.pin = true;
                i += 1;
                continue;
            }
            "--journal-on-matcher" => {
                a.journal_on_matcher = true;
                i += 1;
                continue;
            }
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    a
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: pipeline-bench [--mode shared|dedicated] [--fsync os|always] [--rate R] [--count N] [--pin]");
    std::process::exit(2)
}

use tachyon_testkit::SplitMix as Rng;

const ACCOUNTS: u32 = 1_000;

fn engine_config() -> EngineConfig {
    EngineConfig {
        assets: vec![
            AssetSpec {
                code: "USDT".into(),
                decimals: 8,
            },
            AssetSpec {
                code: "BTC".into(),
                decimals: 8,
            },
        ],
        instruments: vec![InstrumentSpec {
            symbol: "BTC-USDT".into(),
            base: AssetId(1),
            quote: AssetId(0),
            quote_units_per_tick_lot: 10,
            base_units_per_lot: 1000,
            min_qty_lots: 1,
            max_qty_lots: 1_000_000,
            min_notional_quote_units: 0,
            maker_fee_bps: 1,
            taker_fee_bps: 5,
            min_price_ticks: 1,
            max_price_ticks: 10_000_000,
        }],
        max_accounts: ACCOUNTS + 1,
        max_orders: 1 << 20,
        max_levels_per_side: 1 << 14,
        fee_account: AccountId(0),
    }
}

fn genesis() -> Vec<Command> {
    let mut v = Vec::new();
    for a in 1..=ACCOUNTS {
        v.push(Command {
            ts_ns: 1,
            kind: CommandKind::CreateAccount {
                account: AccountId(a),
            },
        });
        for asset in 0..2 {
            let t = Transfer {
                account: AccountId(a),
                asset: AssetId(asset),
                amount: 1 << 55,
                reference: 0,
            };
            v.push(Command {
                ts_ns: 1,
                kind: CommandKind::Deposit(t),
            });
        }
    }
    v
}

/// exchange-core-like flow: mostly passive GTC, some IOC, cancels and replaces ("moves")
/// of recent orders by client id (unique per order).
fn flow(rng: &mut Rng, n: u64, first_uid: u64) -> Vec<Command> {
    let mut live: Vec<(u32, u64)> = Vec::with_capacity(4096);
    (0..n)
        .map(|i| {
            let uid = first_uid + i;
            let r = rng.below(100);
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let kind = if r < 12 || live.is_empty() {
                let account = 1 + rng.below(ACCOUNTS as u64) as u32;
                let ioc = r < 3;
                let off = if ioc {
                    -(rng.below(20) as i64)
                } else {
                    rng.below(850) as i64
                };
                let price = Price(if side == Side::Buy {
                    1_000_000 - off
                } else {
                    1_000_000 + off
                });
                if !ioc {
                    if live.len() == 4096 {
                        live.swap_remove(rng.below(4096) as usize);
                    }
                    live.push((account, uid));
                }
                CommandKind::NewOrder(NewOrder {
                    account: AccountId(account),
                    session: SessionId(1),
                    cl_ord_id: ClOrdId::from_u64(uid),
                    symbol: SymbolId(0),
                    side,
                    ord_type: OrdType::Limit,
                    price,
                    qty: Qty(1 + rng.below(100) as i64),
                    quote_budget: 0,
                    tif: if ioc { Tif::Ioc } else { Tif::Gtc },
                    expire_ns: 0,
                    post_only: false,
                    stp: StpMode::CancelOldest,
                })
            } else {
                let k = rng.below(live.len() as u64) as usize;
                let (account, target) = live[k];
                let target = OrderRef::ClOrdId(ClOrdId::from_u64(target));
                if r < 18 {
                    live.swap_remove(k);
                    CommandKind::Cancel(CancelOrder {
                        account: AccountId(account),
                        symbol: SymbolId(0),
                        target,
                        cl_ord_id: ClOrdId::from_u64(uid),
                    })
                } else {
                    live[k].1 = uid;
                    let off = rng.below(850) as i64;
                    CommandKind::Replace(ReplaceOrder {
                        account: AccountId(account),
                        symbol: SymbolId(0),
                        target,
                        cl_ord_id: ClOrdId::from_u64(uid),
                        price: Price(if side == Side::Buy {
                            1_000_000 - off
                        } else {
                            1_000_000 + off
                        }),
                        qty: Qty(1 + rng.below(100) as i64),
                    })
                }
            };
            Command {
                ts_ns: 1_000 + i,
                kind,
            }
        })
        .collect()
}

/// Cores of the machine, read before this thread pins itself (affinity is inherited, and
/// `available_parallelism` reads the calling thread's mask).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn start(dir: &std::path::Path, args: &Args) -> Pipeline {
    let opts = PipelineOptions {
        inbound_ring_size: 1 << 14,
        outbound_ring_size: 1 << 16,
        mode: args.mode,
        // 2+ cores: the gateway stand-in on core 0, journaler and matcher on core 1.
        matcher_core: if args.pin || args.mode == CoreMode::Dedicated {
            Some(1)
        } else {
            None
        },
        journal_core: if args.pin { Some(1) } else { None },
        journal_dir: dir.to_path_buf(),
        fsync: args.fsync,
        segment_size_bytes: 256 << 20,
        snapshot_interval: 0,
        prune_segments: false,
        outbound_pollers: 1,
        tick_interval: None,
        journal_on_matcher: args.journal_on_matcher,
    };
    Pipeline::start(engine_config(), opts).expect("pipeline starts")
}

/// Publishes and releases `cmds` on this thread. With `rate`, command i is due at
/// t0 + i/rate and its latency (release of its last event − due time) is recorded.
/// Runs [`drive_here`] on a gateway stand-in thread, pinned to core 0 with `--pin` (the
/// journaler and matcher then go to core 1). The main thread stays unpinned: pinning is
/// inherited and `pin_at_core` checks the caller's mask.
fn drive(
    p: &mut Pipeline,
    cmds: &[Command],
    first_seq: u64,
    rate: Option<u64>,
    hist: &mut Histogram<u64>,
    pin: bool,
) -> Duration {
    std::thread::scope(|s| {
        s.spawn(|| {
            if pin && cores() > 1 {
                core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
            }
            drive_here(p, cmds, first_seq, rate, hist)
        })
        .join()
        .expect("gateway stand-in")
    })
}

fn drive_here(
    p: &mut Pipeline,
    cmds: &[Command],
    first_seq: u64,
    rate: Option<u64>,
    hist: &mut Histogram<u64>,
) -> Duration {
    let mut publisher = p.publisher();
    let mut reader = p.take_pollers().pop().expect("poller");
    let n = cmds.len() as u64;
    let last_seq = first_seq + n - 1;
    let period_ns = rate.map(|r| 1e9 / r as f64);
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut done = false;
    while !done {
        // Publish everything that is due.
        let now_ns = t0.elapsed().as_nanos() as f64;
        while sent < n {
            if let Some(p) = period_ns {
                if (sent as f64) * p > now_ns {
                    break;
                }
            }
            if publisher.try_publish(cmds[sent as usize]).is_err() {
                break; // back-pressure: poll, then try again
            }
            sent += 1;
        }
        let released = reader.poll(|ev| {
            if ev.last {
                if let Some(p) = period_ns {
                    let i = ev.cmd_seq - first_seq;
                    let due = (i as f64 * p) as u64;
                    let lat = (t0.elapsed().as_nanos() as u64).saturating_sub(due);
                    hist.record(lat.max(1)).unwrap();
                }
                if ev.cmd_seq == last_seq {
                    done = true;
                }
            }
        });
        if released == PollResult::Released(0) {
            // Idle: give the core to the journaler and matcher (3 busy threads, 2 cores),
            // as a real gateway blocked in epoll_wait would.
            std::thread::yield_now();
        }
    }
    let elapsed = t0.elapsed();
    // Hand the poller back so shutdown can drain.
    std::thread::spawn(move || {
        while reader.poll(|_| {}) != PollResult::Shutdown {
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    elapsed
}

fn main() {
    if let Some(dir) = std::env::var_os("TACHYON_BENCH_REPLAY") {
        // Profiling aid: replay a kept journal only.
        let t = Instant::now();
        let (_, rep) = tachyon_pipeline::replay(engine_config(), std::path::Path::new(&dir), false)
            .expect("replay");
        println!("replayed {} in {:?}", rep.replayed, t.elapsed());
        return;
    }
    let args = parse_args();
    let _ = cores();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());

    let mode = if args.mode == CoreMode::Shared {
        "shared"
    } else {
        "dedicated"
    };
    let fsync = if args.fsync == FsyncPolicy::Os {
        "os"
    } else {
        "always"
    };
    println!("pipeline-bench: {} cores ({cpu})", cores());
    println!(
        "threads: 3 busy + 1 idle: gateway stand-in (publish + poll; spins, yields when idle{}), journaler ({}), matcher ({}), snapshot writer (idle)",
        if args.pin { ", pinned to core 0" } else { ", unpinned" },
        if args.pin { "spin→yield→park, pinned to core 1" } else { "spin→yield→park, unpinned" },
        match (args.mode, args.pin) {
            (CoreMode::Dedicated, _) => "busy-spin, pinned to core 1",
            (CoreMode::Shared, true) => "spin→yield→park, pinned to core 1",
            (CoreMode::Shared, false) => "spin→yield→park, unpinned",
        }
    );
    println!(
        "mode={mode} fsync={fsync} offered rate={} cmds/s, {} commands per run",
        args.rate, args.count
    );

    let base = std::env::temp_dir().join(format!("tachyon-pipeline-bench-{}", std::process::id()));
    let mut rng = Rng(42);
    let warm = genesis();
    let body = flow(&mut rng, args.count, 1);
    let mut scratch = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();

    // 1. Latency at the fixed offered rate.
    let dir = base.join("latency");
    let mut p = start(&dir, &args);
    drive(&mut p, &warm, 1, None, &mut scratch, args.pin);
    let mut p_hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let p2 = p;
    // A fresh poller cannot be created, so latency and warm-up share one pipeline run:
    // re-start it to get a new poller after the warm-up.
    p2.shutdown().unwrap();
    let mut p = start(&dir, &args);
    let first = p.recovery().last_seq + 1;
    let lat_elapsed = drive(&mut p, &body, first, Some(args.rate), &mut p_hist, args.pin);
    p.shutdown().unwrap();
    let achieved = args.count as f64 / lat_elapsed.as_secs_f64();

    // 2. Saturation throughput.
    let dir2 = base.join("throughput");
    let mut p = start(&dir2, &args);
    drive(&mut p, &warm, 1, None, &mut scratch, args.pin);
    p.shutdown().unwrap();
    let mut p = start(&dir2, &args);
    let first = p.recovery().last_seq + 1;
    let sat = drive(&mut p, &body, first, None, &mut scratch, args.pin);
    p.shutdown().unwrap();
    let ops_per_s = args.count as f64 / sat.as_secs_f64();

    // 3. Offline replay of the saturation run's journal (no snapshot).
    let t = Instant::now();
    let (_, rep) = tachyon_pipeline::replay(engine_config(), &dir2, false).expect("replay");
    let replay_per_s = rep.replayed as f64 / t.elapsed().as_secs_f64();
    if std::env::var_os("TACHYON_BENCH_KEEP").is_some() {
        println!("kept journals under {}", base.display());
    } else {
        let _ = std::fs::remove_dir_all(&base);
    }

    println!();
    println!(
        "{:<34} {:>14}",
        "latency run: achieved cmds/s",
        format!("{achieved:.0}")
    );
    for (q, name) in [
        (50.0, "p50"),
        (90.0, "p90"),
        (99.0, "p99"),
        (99.9, "p99.9"),
        (99.99, "p99.99"),
    ] {
        println!(
            "{:<34} {:>11} ns",
            format!("release latency {name}"),
            p_hist.value_at_percentile(q)
        );
    }
    println!("{:<34} {:>11} ns", "release latency max", p_hist.max());
    println!(
        "{:<34} {:>14}",
        "saturation cmds/s",
        format!("{ops_per_s:.0}")
    );
    println!(
        "{:<34} {:>14}",
        "journal replay cmds/s",
        format!("{replay_per_s:.0}")
    );
    println!(
        "pipeline mode={mode} fsync={fsync} ops_per_s={:.0} p50_ns={} p99_ns={} p9999_ns={}",
        ops_per_s,
        p_hist.value_at_percentile(50.0),
        p_hist.value_at_percentile(99.0),
        p_hist.value_at_percentile(99.99)
    );
}
