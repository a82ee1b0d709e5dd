//! `engine-bench`: the exchange-core workload through Tachyon and two peer order books.
//!
//! ```text
//! cargo run --release -p benches --bin engine-bench -- [--ops N] [--rate R] [--seed S]
//! ```
//! Defaults: 3,000,000 ops, 1,000,000 ops/s offered, 3 throughput reps (1 for the slow
//! orderbook-rs). Other options: `--reps K`, `--pin CORE` (pin the one thread; default
//! unpinned), `--by-order-id` (cancel/replace by `OrderId` instead of client order id),
//! `--peer-latency-ops N` (ops in the peers' latency runs, default 1,000,000),
//! `--drift` (prices follow the book's mid), `--sink count` (count events without
//! copying them), `--no-baseline`, `--no-idle`, `--no-latency`, `--peers-only`,
//! `--tachyon-only`.
//! See the `benches` crate docs for the workload and the method. The last line is
//! `engine ops_per_s=.. p50_ns=.. p99_ns=.. p9999_ns=.. vs_orderbook_rs=.. vs_lobster=..`.

use benches::books::{Baseline, Book, Idle, Lobster, OrderbookRs};
use benches::measure::{self, Latency, Throughput};
use benches::tachyon::{ByClOrdId, ByOrderId, Tachyon};
use benches::workload::{self, Op, Params};
use std::time::Instant;

struct Args {
    ops: usize,
    rate: u64,
    seed: u64,
    reps: usize,
    pin: Option<usize>,
    by_order_id: bool,
    peer_latency_ops: usize,
    baseline: bool,
    idle: bool,
    peers_only: bool,
    tachyon_only: bool,
    no_latency: bool,
    drift: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: engine-bench [--ops N (3000000)] [--rate R ops/s (1000000)] [--seed S] [--reps K (3)]\n\
         \x20   [--pin CORE] [--by-order-id] [--peer-latency-ops N (1000000)] [--drift] [--sink ring|count]\n\
         \x20   [--no-baseline] [--no-idle] [--no-latency] [--peers-only] [--tachyon-only]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        ops: 3_000_000,
        rate: 1_000_000,
        seed: 0x7AC4_10E5,
        reps: 3,
        pin: None,
        by_order_id: false,
        peer_latency_ops: 1_000_000,
        baseline: true,
        idle: true,
        peers_only: false,
        tachyon_only: false,
        no_latency: false,
        drift: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> u64 {
            let v = it.next().unwrap_or_else(|| usage());
            let v = v.replace(['_', ','], "");
            v.parse().unwrap_or_else(|_| {
                eprintln!("{name}: not a number: {v}");
                usage()
            })
        };
        match flag.as_str() {
            "--ops" => a.ops = num("--ops") as usize,
            "--rate" => a.rate = num("--rate"),
            "--seed" => a.seed = num("--seed"),
            "--reps" => a.reps = (num("--reps") as usize).max(1),
            "--pin" => a.pin = Some(num("--pin") as usize),
            "--peer-latency-ops" => a.peer_latency_ops = num("--peer-latency-ops") as usize,
            "--by-order-id" => a.by_order_id = true,
            "--no-baseline" => a.baseline = false,
            "--no-idle" => a.idle = false,
            "--peers-only" => a.peers_only = true,
            "--tachyon-only" => a.tachyon_only = true,
            "--no-latency" => a.no_latency = true,
            "--drift" => a.drift = true,
            "--sink" => match it.next().as_deref() {
                Some("ring") => {}
                Some("count") => benches::tachyon::COUNT_ONLY_SINK
                    .store(true, std::sync::atomic::Ordering::Relaxed),
                _ => usage(),
            },
            "-h" | "--help" => usage(),
            _ => {
                eprintln!("unknown argument {flag}");
                usage()
            }
        }
    }
    if a.ops == 0 || a.rate == 0 {
        usage()
    }
    a
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One table row.
struct Row {
    name: &'static str,
    tput: Option<Throughput>,
    /// Ops/s of every rep, for the spread.
    reps: Vec<f64>,
    lat: Option<Latency>,
}

impl Row {
    fn ops_per_s(&self) -> f64 {
        if self.reps.is_empty() {
            f64::NAN
        } else {
            median(&self.reps)
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    s[s.len() / 2]
}

fn run<B: Book>(w: &workload::Workload, a: &Args, reps: usize, latency_ops: usize) -> Row {
    let t = Instant::now();
    let inputs = measure::convert::<B>(w);
    eprintln!(
        "[{}] converted {} ops in {:.2?}",
        B::NAME,
        inputs.len(),
        t.elapsed()
    );
    let mut rates = Vec::with_capacity(reps);
    let mut last = None;
    for r in 0..reps {
        let tp = measure::throughput::<B>(w, &inputs);
        eprintln!(
            "[{}] rep {}: {:.3} M ops/s ({:.2?})",
            B::NAME,
            r + 1,
            tp.ops_per_s() / 1e6,
            tp.elapsed
        );
        rates.push(tp.ops_per_s());
        last = Some(tp);
    }
    let lat = (latency_ops > 0 && !a.no_latency).then(|| {
        let n = latency_ops.min(inputs.len());
        let l = measure::latency::<B>(w, &inputs[..n], a.rate);
        eprintln!(
            "[{}] latency run: {} ops at {} ops/s in {:.2?}{}; {} involuntary context switches, {} ms steal",
            B::NAME,
            n,
            a.rate,
            l.elapsed,
            if l.saturated() { " (saturated)" } else { "" },
            l.interference.involuntary_switches,
            l.interference.steal_ms
        );
        l
    });
    Row {
        name: B::NAME,
        tput: last,
        reps: rates,
        lat,
    }
}

/// Tachyon and a peer alternately, `reps` rounds; the median of the per-round throughput
/// ratios. The VM's speed drifts by up to 1.5× within a run, so comparing adjacent reps is
/// fairer than comparing medians taken a few seconds apart.
fn head_to_head<T: Book, P: Book>(w: &workload::Workload, reps: usize) -> (f64, Vec<f64>) {
    let t_in = measure::convert::<T>(w);
    let p_in = measure::convert::<P>(w);
    let mut ratios = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = measure::throughput::<T>(w, &t_in).ops_per_s();
        let p = measure::throughput::<P>(w, &p_in).ops_per_s();
        ratios.push(t / p);
    }
    (median(&ratios), ratios)
}

fn q(l: &Latency, quantile: f64) -> u64 {
    l.hist.value_at_quantile(quantile)
}

fn main() {
    let a = parse_args();
    let pinned = match a.pin {
        Some(core) => {
            let ok = core_affinity::set_for_current(core_affinity::CoreId { id: core });
            if ok {
                format!("1 thread, pinned to core {core}")
            } else {
                format!("1 thread, unpinned (pinning to core {core} failed)")
            }
        }
        None => "1 thread, unpinned".to_string(),
    };

    println!("# engine-bench: exchange-core workload, Tachyon vs peer order books");
    println!(
        "machine: {} logical CPUs, {}; load avg {} at start",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model(),
        loadavg()
    );
    println!(
        "threads: {pinned}; clock: std::time::Instant (clock_gettime via vDSO), {} ns per read",
        measure::clock_cost_ns()
    );

    let t = Instant::now();
    let w = workload::generate(&Params {
        drift: a.drift,
        ..Params::exchange_core(a.ops, a.seed)
    });
    let s = &w.stats;
    let pct = |n: usize| 100.0 * n as f64 / w.ops.len() as f64;
    println!(
        "workload: seed {:#x}, {} accounts, {}, pre-fill {} GTC (untimed), {} timed ops generated in {:.2?}",
        a.seed,
        w.accounts,
        if a.drift { "prices follow the book mid (--drift)" } else { "prices anchored at mid 1,000,000 ± 850 ticks" },
        w.prefill.len(),
        w.ops.len(),
        t.elapsed()
    );
    println!(
        "  mix: GTC {} ({:.2}%, {} marketable), IOC {} ({:.2}%), cancel {} ({:.2}%), move {} ({:.2}%, {} crossing)",
        s.gtc,
        pct(s.gtc),
        s.gtc_marketable,
        s.ioc,
        pct(s.ioc),
        s.cancel,
        pct(s.cancel),
        s.moves,
        pct(s.moves),
        s.moves_crossing
    );
    println!(
        "  book: mean {:.0} resting orders (min {}, max {}) over mean {:.0} levels; prices {}..{} ticks; {} trades; \
         cancels/moves on filled orders: {}; takers re-drawn to avoid self-trade: {}",
        s.mean_orders,
        s.min_orders,
        s.max_orders,
        s.mean_levels,
        s.price_range.0,
        s.price_range.1,
        s.trades,
        s.stale_targets,
        s.stp_avoided
    );
    debug_assert!(w
        .ops
        .iter()
        .all(|op| !matches!(op, Op::Cancel { id: 0, .. })));

    let mut rows = Vec::new();
    if !a.peers_only {
        let tachyon = if a.by_order_id {
            run::<Tachyon<ByOrderId>>(&w, &a, a.reps, a.ops)
        } else {
            run::<Tachyon<ByClOrdId>>(&w, &a, a.reps, a.ops)
        };
        rows.push(tachyon);
    }
    if a.tachyon_only {
        println!(
            "size_of: Command {} B, Event {} B",
            std::mem::size_of::<tachyon_engine::Command>(),
            std::mem::size_of::<tachyon_engine::Event>()
        );
        let r = &rows[0];
        println!("{} ops/s={:.0} (reps: {:?})", r.name, r.ops_per_s(), r.reps);
        if let Some(l) = &r.lat {
            println!(
                "latency at {} ops/s: p50 {} p99 {} p99.99 {} max {} ns; service time: p50 {} p99 {} p99.99 {} max {} ns; {} involuntary context switches",
                a.rate,
                q(l, 0.5),
                q(l, 0.99),
                q(l, 0.9999),
                l.hist.max(),
                l.service.value_at_quantile(0.5),
                l.service.value_at_quantile(0.99),
                l.service.value_at_quantile(0.9999),
                l.service.max(),
                l.interference.involuntary_switches
            );
        }
        return;
    }
    rows.push(run::<Lobster>(&w, &a, a.reps, a.peer_latency_ops));
    rows.push(run::<OrderbookRs>(&w, &a, 1, a.peer_latency_ops));
    if a.baseline {
        rows.push(run::<Baseline>(&w, &a, a.reps, a.peer_latency_ops));
    }
    if a.idle {
        rows.push(run::<Idle>(&w, &a, 0, a.ops));
    }

    println!();
    println!(
        "throughput: {} ops at saturation, median of {} reps ({} for orderbook-rs); latency: open loop at {} ops/s offered \
         ({} ops for Tachyon, first {} for the others), ns from due time to completion",
        w.ops.len(),
        a.reps,
        1,
        a.rate,
        w.ops.len(),
        a.peer_latency_ops.min(w.ops.len())
    );
    let h = [
        "book",
        "ops/s",
        "ours/it",
        "p50 ns",
        "p99 ns",
        "p99.99 ns",
        "max ns",
        "inv.cs",
        "reps M ops/s",
    ];
    println!(
        "{:<38} {:>10} {:>8} {:>8} {:>10} {:>11} {:>14} {:>7}  {}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    );
    let ours = rows[0].ops_per_s();
    for r in &rows {
        let (p50, p99, p9999, max, cs) = match &r.lat {
            Some(l) => (
                q(l, 0.5).to_string(),
                q(l, 0.99).to_string(),
                q(l, 0.9999).to_string(),
                format!(
                    "{}{}",
                    l.hist.max(),
                    if l.saturated() { " SAT" } else { "" }
                ),
                l.interference.involuntary_switches.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        let (tput, ratio) = if r.reps.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format!("{:.0}", r.ops_per_s()),
                format!("{:.2}", ours / r.ops_per_s()),
            )
        };
        let reps: Vec<String> = r.reps.iter().map(|x| format!("{:.2}", x / 1e6)).collect();
        println!(
            "{:<38} {:>10} {:>8} {:>8} {:>10} {:>11} {:>14} {:>7}  {}",
            r.name,
            tput,
            ratio,
            p50,
            p99,
            p9999,
            max,
            cs,
            reps.join(" ")
        );
    }
    println!(
        "(ours/it: Tachyon's throughput over the row's; SAT: the book could not sustain the offered rate, its \
         latencies are queueing delay; inv.cs: involuntary context switches during the latency run)"
    );
    println!(
        "service time (actual start to completion; a diagnostic that leaves out queueing behind stalls, NOT the latency above):"
    );
    for r in &rows {
        if let Some(l) = &r.lat {
            println!(
                "  {:<38} p50 {} ns, p99 {} ns, p99.99 {} ns, max {} ns",
                r.name,
                l.service.value_at_quantile(0.5),
                l.service.value_at_quantile(0.99),
                l.service.value_at_quantile(0.9999),
                l.service.max()
            );
        }
    }
    println!();
    println!(
        "cross-check (timed part; model: trades={} resting_orders={} bid_lots={} ask_lots={}):",
        s.trades, s.final_orders, s.final_bid_lots, s.final_ask_lots
    );
    for r in &rows {
        if let Some(t) = &r.tput {
            println!("  {:<38} {}", r.name, t.summary);
        }
    }
    println!();

    if a.peers_only {
        return;
    }
    let Some(l) = rows[0].lat.as_ref() else {
        return;
    };
    let vs = |name: &str| {
        rows.iter()
            .find(|r| r.name.starts_with(name))
            .map(|r| ours / r.ops_per_s())
            .unwrap_or(f64::NAN)
    };
    // lobster runs at a third of our speed, so drift between the two measurement blocks
    // skews the ratio of medians; alternate them instead (orderbook-rs is 25× slower:
    // drift cannot matter there, and one rep takes seconds).
    let (vs_lobster, rounds) = if a.by_order_id {
        head_to_head::<Tachyon<ByOrderId>, Lobster>(&w, a.reps.max(3))
    } else {
        head_to_head::<Tachyon<ByClOrdId>, Lobster>(&w, a.reps.max(3))
    };
    let rounds: Vec<String> = rounds.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "head to head (Tachyon and lobster alternating): throughput ratio per round {}; median {:.2}",
        rounds.join(" "),
        vs_lobster
    );
    println!(
        "engine ops_per_s={:.0} p50_ns={} p99_ns={} p9999_ns={} vs_orderbook_rs={:.2} vs_lobster={:.2}",
        ours,
        q(l, 0.5),
        q(l, 0.99),
        q(l, 0.9999),
        vs("orderbook-rs"),
        vs_lobster
    );
}
