//! FIX order-entry load: wire-to-wire latency at a fixed offered rate and the highest
//! sustainable rate, for Tachyon's FIX gateway and, with `--compare`, for a QuickFIX C++
//! acceptor and a plain TCP ping-pong in the same process and run.
//!
//! `cargo run --release -p benches --bin fix-load -- --rate R --count N
//! [--target host:port|quickfix] [--compare] [--sender DEV1] [--target-comp TACHYON]
//! [--step-secs S] [--rounds R] [--sessions file|memory] [--journal-on-matcher] [--no-max-rate]`
//!
//! Without `--target`, Tachyon is started in this process (`tachyon::Exchange::start`) on
//! a temp config derived from config/dev.toml: port 0, temp journal and session-store
//! directories, session DEV1 → TACHYON without throttling, account 1 funded for N orders.
//! `--sessions file` (the default, what `Exchange::start` does) keeps FIX session state
//! in `FileStore`s under `fix.store_dir`; `--sessions memory` keeps it in memory, like
//! the QuickFIX peer's MemoryStore. `--journal-on-matcher` sets `engine.journal_on_matcher`.
//! `--target host:port` loads a running server instead (its sessions, throttles and
//! balances apply); `--target quickfix` loads the QuickFIX acceptor (a self-check of
//! the client).
//!
//! Method (see `benches::fixload`): open loop, order i due at t0 + i/R, latency = first
//! ExecutionReport for the ClOrdID − due time (no coordinated omission); IOC limit orders
//! priced away from the market, alternating buy/sell, so no book grows; max_rate = the
//! highest offered rate where every order is answered and p99 ≤ 10 ms over a step of
//! max(R × 1 s, 20,000) orders, found by doubling then bisecting.
//!
//! With `--compare` the peers are interleaved: the latency run is split into `--rounds`
//! chunks (default 4) and each round runs Tachyon, then QuickFIX, then the TCP ping-pong,
//! each server started afresh and stopped after its chunk (an idle server's threads do
//! not share the cores with another's measurement); the max-rate searches advance one
//! step per peer in turn. On a shared 2-core VM whose load drifts over tens of seconds,
//! this keeps the ratios fair: every peer sees the same mix of quiet and busy moments.

use std::net::SocketAddr;
use std::time::Duration;

use benches::fixload::client::{self, LoadResult, LoadSpec};
use benches::fixload::maxrate::{self, MaxRate};
use benches::fixload::{cores, pingpong, quickfix_peer, us};

struct Args {
    rate: u64,
    count: u64,
    target: Option<String>,
    compare: bool,
    sender: String,
    target_comp: String,
    step_secs: f64,
    max_rate: bool,
    memory_sessions: bool,
    journal_on_matcher: bool,
    rounds: u32,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: fix-load --rate R --count N [--target host:port|quickfix] [--compare] \
         [--sender DEV1] [--target-comp TACHYON] [--step-secs 1] [--rounds R] [--sessions file|memory] [--journal-on-matcher] [--no-max-rate]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        rate: 20_000,
        count: 200_000,
        target: None,
        compare: false,
        sender: "DEV1".into(),
        target_comp: "TACHYON".into(),
        step_secs: 1.0,
        max_rate: true,
        memory_sessions: false,
        journal_on_matcher: false,
        rounds: 0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = || {
            v.get(i + 1)
                .cloned()
                .unwrap_or_else(|| usage(&format!("{} needs a value", v[i])))
        };
        let num = |s: String| -> u64 {
            s.replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage(&format!("{} takes a number", v[i])))
        };
        match v[i].as_str() {
            "--rate" => a.rate = num(val()).max(1),
            "--count" => a.count = num(val()).max(1),
            "--target" => a.target = Some(val()),
            "--sender" => a.sender = val(),
            "--target-comp" => a.target_comp = val(),
            "--step-secs" => {
                a.step_secs = val()
                    .parse()
                    .unwrap_or_else(|_| usage("--step-secs takes seconds"))
            }
            "--compare" => {
                a.compare = true;
                i += 1;
                continue;
            }
            "--rounds" => a.rounds = num(val()).clamp(1, 100) as u32,
            "--sessions" => {
                a.memory_sessions = match val().as_str() {
                    "file" => false,
                    "memory" => true,
                    _ => usage("--sessions is file or memory"),
                }
            }
            "--journal-on-matcher" => {
                a.journal_on_matcher = true;
                i += 1;
                continue;
            }
            "--no-max-rate" => {
                a.max_rate = false;
                i += 1;
                continue;
            }
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    if a.rounds == 0 {
        a.rounds = if a.compare { 4 } else { 1 };
    }
    a
}

/// A server under load: started afresh for every chunk of work (so none idles in the
/// background of another's measurement) and stopped after it.
enum Peer {
    /// `tachyon::Exchange` in this process.
    Tachyon,
    /// The QuickFIX C++ acceptor in this process.
    Quickfix,
    /// A server we did not start.
    External(SocketAddr),
}

impl Peer {
    fn name(&self) -> &'static str {
        match self {
            Peer::Tachyon => "tachyon",
            Peer::Quickfix => "quickfix",
            Peer::External(_) => "target",
        }
    }

    fn start(&self, args: &Args) -> (SocketAddr, Stop) {
        let started = match self {
            Peer::Tachyon => start_tachyon(args),
            Peer::Quickfix => {
                quickfix_peer::QuickfixAcceptor::start(&args.target_comp, &args.sender).map(|q| {
                    let addr = q.addr();
                    let stop: Stop = Box::new(move || q.stop());
                    (addr, stop)
                })
            }
            Peer::External(a) => Ok((*a, Box::new(|| {}) as Stop)),
        };
        started.unwrap_or_else(|e| {
            eprintln!("fix-load: start {}: {e}", self.name());
            std::process::exit(1)
        })
    }
}

/// What one peer measured over all rounds.
struct PeerRun {
    peer: Peer,
    lat: Option<LoadResult>,
    search: maxrate::Search,
}

impl PeerRun {
    fn max(&self) -> MaxRate {
        self.search.result()
    }
}

/// One max-rate step on a freshly started peer, after a warm-up of 0.5 s at 10,000/s
/// (first-touch page faults and cold caches of a new server are not its sustained rate).
fn max_rate_step(peer: &Peer, args: &Args, rate: u64) -> maxrate::Step {
    let (addr, stop) = peer.start(args);
    let base = LoadSpec::btc_usdt(rate, 1, &args.sender, &args.target_comp);
    if !matches!(peer, Peer::External(_)) {
        let warm = LoadSpec {
            rate: 10_000,
            count: 5_000,
            run_tag: client::run_tag(),
            ..base.clone()
        };
        let _ = client::run(addr, &warm);
    }
    let st = maxrate::step(addr, &base, rate, Duration::from_secs_f64(args.step_secs));
    stop();
    maxrate::print_step(peer.name(), &st);
    if matches!(peer, Peer::External(_)) {
        // Let a server we cannot restart drain before its next step.
        std::thread::sleep(Duration::from_millis(if st.pass { 200 } else { 1_000 }));
    }
    st
}

/// One chunk of the latency run: start, warm up (1 s at the rate), `count` orders, stop.
fn latency_chunk(peer: &Peer, args: &Args, count: u64, round: u32) -> LoadResult {
    let name = peer.name();
    let (addr, stop) = peer.start(args);
    let base = LoadSpec::btc_usdt(args.rate, count, &args.sender, &args.target_comp);
    let warm = LoadSpec {
        count: args.rate.clamp(1_000, 20_000),
        run_tag: client::run_tag(),
        ..base.clone()
    };
    match client::run(addr, &warm) {
        Ok(w) if !w.clean() => eprintln!("{name}: warm-up: {}", w.problems()),
        Ok(_) => {}
        Err(e) => {
            eprintln!("fix-load: {name} at {addr}: {e}");
            std::process::exit(1);
        }
    }
    let lat = client::run(addr, &base).unwrap_or_else(|e| {
        eprintln!("fix-load: {name} at {addr}: {e}");
        std::process::exit(1)
    });
    stop();
    println!(
        "  round {round} {name:<9} {:>8} orders: p50 {:>8} µs  p99 {:>9} µs  max {:>7} µs  load {}  {}",
        lat.sent,
        us(&lat.latency, 0.5),
        us(&lat.latency, 0.99),
        lat.latency.max() / 1000,
        load_avg(),
        lat.problems()
    );
    if round == 1 {
        println!("    threads: {}", lat.threads);
        println!("    scheduler over the send phase: {}", lat.sched);
    }
    lat
}

/// Stops a peer started in this process.
type Stop = Box<dyn FnOnce()>;

/// Tachyon in this process, on a temp config derived from config/dev.toml.
fn start_tachyon(args: &Args) -> Result<(SocketAddr, Stop), String> {
    let dir = tempfile::Builder::new()
        .prefix("tachyon-fix-load-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/dev.toml"))
        .map_err(|e| format!("config/dev.toml: {e}"))?;
    let text = tachyon_bench_config(&text, dir.path(), args.count)?;
    let mut cfg =
        tachyon_config::Config::from_str(&text, "fix-load.toml").map_err(|e| e.to_string())?;
    cfg.engine.journal_on_matcher = args.journal_on_matcher;
    let ex = tachyon::Exchange::start_with(
        cfg,
        tachyon::ExchangeOptions {
            memory_sessions: args.memory_sessions,
        },
    )?;
    let addr = ex.fix_addr();
    let stop: Stop = Box::new(move || {
        if let Err(e) = ex.shutdown() {
            eprintln!("fix-load: tachyon shutdown: {e}");
        }
        drop(dir);
    });
    Ok((addr, stop))
}

/// dev.toml with: FIX and ops on port 0, journal and session stores under `dir`, session
/// DEV1 unthrottled (1,000,000 msg/s, the configuration maximum), account 1 (dev-1)
/// funded for `count` orders (or a 10 M-order max-rate search) even if nothing were
/// released: 11 USDT per buy, 0.001 BTC per sell.
fn tachyon_bench_config(dev: &str, dir: &std::path::Path, count: u64) -> Result<String, String> {
    let must = |text: String, from: &str, to: &str| -> Result<String, String> {
        if text.contains(from) {
            Ok(text.replacen(from, to, 1))
        } else {
            Err(format!("config/dev.toml changed: {from:?} not found"))
        }
    };
    let n = count.max(10_000_000);
    let t = must(
        dev.to_string(),
        "journal_dir = \"data/dev/journal\"",
        &format!("journal_dir = {:?}", dir.join("journal")),
    )?;
    let t = must(
        t,
        "listen = \"127.0.0.1:9878\"",
        &format!(
            "listen = \"127.0.0.1:0\"\nstore_dir = {:?}",
            dir.join("fix")
        ),
    )?;
    let t = must(t, "listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"")?;
    let t = must(
        t,
        "throttle = { msgs_per_sec = 1_000, burst = 2_000, max_violations = 10 }",
        "throttle = { msgs_per_sec = 1_000_000, burst = 1_000_000, max_violations = 10 }",
    )?;
    must(
        t,
        "deposits = { USDT = \"1000000\", BTC = \"100\", ETH = \"1000\" }",
        &format!(
            "deposits = {{ USDT = \"{}\", BTC = \"{}\" }}",
            n * 11,
            n / 1000 + 1
        ),
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `/proc/loadavg`'s 1-minute figure: other tenants' load on this shared 2-core machine.
fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "na".into()
    }
}

fn main() {
    let args = parse_args();
    // The in-process exchange's warnings (e.g. why a session was disconnected) go to
    // stderr; TACHYON_LOG overrides the level.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TACHYON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    println!(
        "fix-load: {} cores ({}), load average {} at start; no thread is pinned \
         (2 cores, ≥ 4 busy threads: pinning would only serialise them)",
        cores(),
        cpu_model(),
        load_avg()
    );
    println!(
        "order flow: IOC limit orders on BTC-USDT priced away from the market (buy 0.1 @ 100.00, \
         sell 0.001 @ 9000000.00, alternating), so each is answered and none rests; \
         latency = first ExecutionReport − intended send time"
    );
    println!(
        "client threads: fixload-send (sleeps, then yield-spins the last {} µs before each due time \
         in latency runs, only sleeps in max-rate steps; sends every order due when it wakes in one write), \
         fixload-recv (blocking read, stamps each read)",
        client::SPIN_BELOW_NS / 1_000
    );

    let main_peer = match args.target.as_deref() {
        Some("quickfix") => Peer::Quickfix,
        Some(t) => Peer::External(
            t.parse()
                .or_else(|_| {
                    std::net::ToSocketAddrs::to_socket_addrs(t)
                        .map_err(|e| e.to_string())
                        .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
                })
                .unwrap_or_else(|e| usage(&format!("--target {t}: {e}"))),
        ),
        None => Peer::Tachyon,
    };
    match &main_peer {
        Peer::Tachyon => println!(
            "target: Tachyon in this process (tachyon::Exchange), session stores in {}",
            if args.memory_sessions {
                "memory"
            } else {
                "files (fix.store_dir)"
            }
        ),
        Peer::Quickfix => println!("target: the QuickFIX acceptor in this process"),
        Peer::External(a) => {
            println!("target: {a} (external process; its config's throttles and balances apply)")
        }
    }
    let mut peers = vec![main_peer];
    if args.compare && !matches!(peers[0], Peer::Quickfix) {
        peers.push(Peer::Quickfix);
    }
    let mut runs: Vec<PeerRun> = peers
        .into_iter()
        .map(|peer| PeerRun {
            peer,
            lat: None,
            search: maxrate::Search::new(10_000, 4_000_000),
        })
        .collect();
    let rounds = args.rounds.max(1);
    let tcp_count = args.count.min(100_000);
    let mut tcp: Option<hdrhistogram::Histogram<u64>> = None;

    // 1. Latency at the offered rate: `rounds` chunks per peer, interleaved, so load
    //    drifting on the shared machine hits every peer alike.
    println!(
        "latency at {}/s: {} orders per peer in {rounds} round(s), peers interleaved, each \
         started afresh per round (1 s warm-up, not counted)",
        args.rate, args.count
    );
    for round in 1..=rounds {
        let chunk =
            args.count / rounds as u64 + u64::from(round <= (args.count % rounds as u64) as u32);
        for r in runs.iter_mut() {
            let lat = latency_chunk(&r.peer, &args, chunk.max(1), round);
            match &mut r.lat {
                Some(l) => l.merge(lat),
                None => r.lat = Some(lat),
            }
        }
        if args.compare {
            let first = runs[0].lat.as_ref().expect("ran");
            let (req, reply) = (first.order_bytes.max(1), first.exec_report_len().max(1));
            let n = (tcp_count / rounds as u64).max(1);
            let h = pingpong::run(req, reply, args.rate, n).unwrap_or_else(|e| {
                eprintln!("fix-load: tcp ping-pong: {e}");
                std::process::exit(1)
            });
            println!(
                "  round {round} tcp ping-pong {n} round trips of {req} B → {reply} B: p50 {} µs  p99 {} µs  load {}",
                us(&h, 0.5),
                us(&h, 0.99),
                load_avg()
            );
            // A blocking ping-pong slower than the period falls behind and its quantiles
            // measure a queue, not a round trip (on a quiet VM whose idle vCPUs halt,
            // each wake-up costs a VM exit: see BENCHMARKS.md).
            let period_ns = 1_000_000_000 / args.rate.max(1);
            if h.value_at_quantile(0.5) > 20 * period_ns {
                println!(
                    "  warning: the ping-pong could not sustain {}/s (p50 > 20 periods): its figures are a queue, not a baseline",
                    args.rate
                );
            }
            match &mut tcp {
                Some(t) => t.add(&h).expect("same bounds"),
                None => tcp = Some(h),
            }
        }
    }

    // 2. max_rate: the searches advance in lockstep, one step per peer in turn, each step
    //    on a freshly started server.
    if args.max_rate {
        println!(
            "max_rate search: steps of max(R × {} s, {}) orders, pass = all answered, none \
             refused, p99 ≤ {} ms (a failed step is tried once more); doubling from 10,000/s \
             then {} bisections; peers in turn, each step on a fresh server after a warm-up",
            args.step_secs,
            maxrate::MIN_STEP_ORDERS,
            maxrate::P99_BOUND_NS / 1_000_000,
            maxrate::BISECTIONS
        );
        maxrate::print_header();
        loop {
            let mut any = false;
            for r in runs.iter_mut() {
                let Some(rate) = r.search.next_rate() else {
                    continue;
                };
                any = true;
                // A failed step is tried once more: on this shared VM a neighbour's burst
                // can sink one second of any server; a rate counts as sustainable if
                // either attempt passes (the same rule for every peer).
                let mut st = max_rate_step(&r.peer, &args, rate);
                if !st.pass {
                    st = max_rate_step(&r.peer, &args, rate);
                }
                r.search.record(st);
            }
            if !any {
                break;
            }
        }
        for r in &runs {
            println!("{}: max_rate = {}/s", r.peer.name(), r.max().max_rate);
        }
    }
    let tcp_p50 = tcp
        .as_ref()
        .map(|h| (us(h, 0.5), us(h, 0.99), us(h, 0.999), h.max()));

    // 3. Table and the final line.
    println!();
    println!("load average {} at the end", load_avg());
    println!(
        "| peer | offered/s | orders | answered | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | max_rate/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &runs {
        let l = r.lat.as_ref().expect("ran");
        let h = &l.latency;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.peer.name(),
            args.rate,
            l.sent,
            l.answered,
            us(h, 0.5),
            us(h, 0.9),
            us(h, 0.99),
            us(h, 0.999),
            h.max() / 1000,
            if args.max_rate {
                r.max().max_rate.to_string()
            } else {
                "—".into()
            }
        );
    }
    if let Some((p50, p99, p999, max)) = tcp_p50 {
        println!(
            "| tcp ping-pong | {} | {} | — | {p50} | — | {p99} | {p999} | {} | — |",
            args.rate,
            tcp.as_ref().map_or(0, |h| h.len()),
            max / 1000
        );
    }
    let main = &runs[0];
    let main_lat = main.lat.as_ref().expect("ran");
    let qf = runs.iter().find(|r| matches!(r.peer, Peer::Quickfix));
    let p99 = us(&main_lat.latency, 0.99);
    let max_rate = main.max().max_rate;
    let (vs_p99, vs_max) = match qf {
        Some(q) if args.compare => (
            ratio(p99, us(&q.lat.as_ref().expect("ran").latency, 0.99)),
            if args.max_rate {
                ratio(max_rate as f64, q.max().max_rate as f64)
            } else {
                "na".into()
            },
        ),
        _ => ("na".into(), "na".into()),
    };
    println!();
    println!(
        "fix rate={} p50_us={} p99_us={} p999_us={} max_rate={} tcp_p50_us={} vs_quickfix_p99={} vs_quickfix_max_rate={}",
        args.rate,
        us(&main_lat.latency, 0.5),
        p99,
        us(&main_lat.latency, 0.999),
        if args.max_rate { max_rate.to_string() } else { "na".into() },
        tcp_p50.map_or("na".into(), |t| t.0.to_string()),
        vs_p99,
        vs_max
    );
}
