//! FIX order-entry load: wire-to-wire latency at a fixed offered rate and the highest
//! sustainable rate, for Tachyon's FIX gateway and, with `--compare`, for a QuickFIX C++
//! acceptor and a plain TCP ping-pong in the same process and run.
//!
//! `cargo run --release -p benches --bin fix-load -- --rate R --count N
//! [--target host:port|quickfix] [--compare] [--sender DEV1] [--target-comp TACHYON]
//! [--step-secs S] [--sessions file|memory] [--no-max-rate]`
//!
//! Without `--target`, Tachyon is started in this process (`tachyon::Exchange::start`) on
//! a temp config derived from config/dev.toml: port 0, temp journal and session-store
//! directories, session DEV1 → TACHYON without throttling, account 1 funded for N orders.
//! `--sessions file` (the default, what `Exchange::start` does) keeps FIX session state
//! in `FileStore`s under `fix.store_dir`; `--sessions memory` keeps it in memory, like
//! the QuickFIX peer's MemoryStore.
//! `--target host:port` loads a running server instead (its sessions, throttles and
//! balances apply); `--target quickfix` loads the QuickFIX acceptor (a self-check of
//! the client).
//!
//! Method (see `benches::fixload`): open loop, order i due at t0 + i/R, latency = first
//! ExecutionReport for the ClOrdID − due time (no coordinated omission); IOC limit orders
//! priced away from the market, alternating buy/sell, so no book grows; max_rate = the
//! highest offered rate where every order is answered and p99 ≤ 10 ms over a step of
//! max(R × 1 s, 20,000) orders, found by doubling then bisecting.

use std::net::SocketAddr;
use std::time::Duration;

use benches::fixload::client::{self, LoadResult, LoadSpec};
use benches::fixload::maxrate::{self, MaxRate};
use benches::fixload::{cores, describe_threads, pingpong, quickfix_peer, us};

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
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: fix-load --rate R --count N [--target host:port|quickfix] [--compare] \
         [--sender DEV1] [--target-comp TACHYON] [--step-secs 1] [--sessions file|memory] [--no-max-rate]"
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
            "--sessions" => {
                a.memory_sessions = match val().as_str() {
                    "file" => false,
                    "memory" => true,
                    _ => usage("--sessions is file or memory"),
                }
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
    a
}

/// What one peer measured.
struct PeerRun {
    name: &'static str,
    lat: LoadResult,
    max: Option<MaxRate>,
}

/// Warm-up (1 s at the rate, at most N orders), the latency run, the max-rate search.
fn measure(name: &'static str, addr: SocketAddr, args: &Args) -> PeerRun {
    let base = LoadSpec::btc_usdt(args.rate, args.count, &args.sender, &args.target_comp);
    let warm = LoadSpec {
        count: args.rate.min(args.count).max(1_000),
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
    println!(
        "{name}: {} orders at {}/s: answered {}, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs; {}",
        lat.sent,
        args.rate,
        lat.answered,
        us(&lat.latency, 0.5),
        us(&lat.latency, 0.99),
        us(&lat.latency, 0.999),
        lat.latency.max() / 1000,
        lat.problems()
    );
    println!("  during the run: {}", lat.threads);
    println!("  scheduler, send phase: {}", lat.sched);
    let max = args.max_rate.then(|| {
        println!(
            "{name}: max_rate search (steps of max(R × {} s, {}) orders):",
            args.step_secs,
            maxrate::MIN_STEP_ORDERS
        );
        maxrate::print_header();
        let m = maxrate::search(
            addr,
            &base,
            10_000,
            4_000_000,
            Duration::from_secs_f64(args.step_secs),
            |s| maxrate::print_step(name, s),
        );
        println!("{name}: max_rate = {}/s", m.max_rate);
        m
    });
    PeerRun { name, lat, max }
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
    let cfg =
        tachyon_config::Config::from_str(&text, "fix-load.toml").map_err(|e| e.to_string())?;
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
        "client threads: fixload-send (sleeps, then yield-spins the last {} µs before each due time; \
         batches late orders into one write), fixload-recv (blocking read, stamps each read)",
        client::SPIN_BELOW_NS / 1_000
    );

    let mut runs: Vec<PeerRun> = Vec::new();
    // 1. The system under test.
    match args.target.as_deref() {
        Some("quickfix") => {
            let qf = quickfix_peer::QuickfixAcceptor::start(&args.target_comp, &args.sender)
                .unwrap_or_else(|e| {
                    eprintln!("fix-load: {e}");
                    std::process::exit(1)
                });
            println!(
                "target: QuickFIX acceptor at {} ({})",
                qf.addr(),
                describe_threads()
            );
            runs.push(measure("quickfix", qf.addr(), &args));
            qf.stop();
        }
        Some(t) => {
            let addr: SocketAddr = t
                .parse()
                .or_else(|_| {
                    std::net::ToSocketAddrs::to_socket_addrs(t)
                        .map_err(|e| e.to_string())
                        .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
                })
                .unwrap_or_else(|e| usage(&format!("--target {t}: {e}")));
            println!(
                "target: {addr} (external process; its config's throttles and balances apply)"
            );
            runs.push(measure("target", addr, &args));
        }
        None => {
            let (addr, stop) = start_tachyon(&args).unwrap_or_else(|e| {
                eprintln!("fix-load: {e}");
                std::process::exit(1)
            });
            println!(
                "target: Tachyon in this process at {addr} ({})",
                describe_threads()
            );
            runs.push(measure("tachyon", addr, &args));
            stop();
        }
    }

    // 2. The peers, one at a time so they never compete for the two cores.
    let mut tcp_p50 = None;
    if args.compare {
        if args.target.as_deref() != Some("quickfix") {
            let qf = quickfix_peer::QuickfixAcceptor::start(&args.target_comp, &args.sender)
                .unwrap_or_else(|e| {
                    eprintln!("fix-load: {e}");
                    std::process::exit(1)
                });
            println!(
                "peer: QuickFIX acceptor at {} ({})",
                qf.addr(),
                describe_threads()
            );
            runs.push(measure("quickfix", qf.addr(), &args));
            qf.stop();
        }
        let first = &runs[0].lat;
        let (req, reply) = (first.order_bytes.max(1), first.exec_report_len().max(1));
        let n = args.count.min(100_000);
        let h = pingpong::run(req, reply, args.rate, n).unwrap_or_else(|e| {
            eprintln!("fix-load: tcp ping-pong: {e}");
            std::process::exit(1)
        });
        println!(
            "tcp ping-pong: {n} round trips of {req} B → {reply} B at {}/s: p50 {} µs, p99 {} µs, p99.9 {} µs",
            args.rate,
            us(&h, 0.5),
            us(&h, 0.99),
            us(&h, 0.999)
        );
        tcp_p50 = Some((us(&h, 0.5), us(&h, 0.99), us(&h, 0.999), h.max()));
    }

    // 3. Table and the final line.
    println!();
    println!("load average {} at the end", load_avg());
    println!(
        "| peer | offered/s | orders | answered | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | max_rate/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &runs {
        let h = &r.lat.latency;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            args.rate,
            r.lat.sent,
            r.lat.answered,
            us(h, 0.5),
            us(h, 0.9),
            us(h, 0.99),
            us(h, 0.999),
            h.max() / 1000,
            r.max
                .as_ref()
                .map_or("—".into(), |m| m.max_rate.to_string())
        );
    }
    if let Some((p50, p99, p999, max)) = tcp_p50 {
        println!(
            "| tcp ping-pong | {} | {} | — | {p50} | — | {p99} | {p999} | {} | — |",
            args.rate,
            args.count.min(100_000),
            max / 1000
        );
    }
    let main = &runs[0];
    let qf = runs
        .iter()
        .skip(1)
        .find(|r| r.name == "quickfix")
        .or(if main.name == "quickfix" {
            Some(main)
        } else {
            None
        });
    let p99 = us(&main.lat.latency, 0.99);
    let max_rate = main.max.as_ref().map_or(0, |m| m.max_rate);
    let (vs_p99, vs_max) = match (qf, args.compare) {
        (Some(q), true) => (
            ratio(p99, us(&q.lat.latency, 0.99)),
            ratio(
                max_rate as f64,
                q.max.as_ref().map_or(0, |m| m.max_rate) as f64,
            ),
        ),
        _ => ("na".into(), "na".into()),
    };
    println!();
    println!(
        "fix rate={} p50_us={} p99_us={} p999_us={} max_rate={} tcp_p50_us={} vs_quickfix_p99={} vs_quickfix_max_rate={}",
        args.rate,
        us(&main.lat.latency, 0.5),
        p99,
        us(&main.lat.latency, 0.999),
        if args.max_rate { max_rate.to_string() } else { "na".into() },
        tcp_p50.map_or("na".into(), |t| t.0.to_string()),
        vs_p99,
        vs_max
    );
}
