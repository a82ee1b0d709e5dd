//! `handoff-floor`: the machine's floor for pipeline-bench's latency figure. The same
//! open-loop driver (command i due at t0 + i/R, latency = acknowledgement − due time, no
//! coordinated omission) hands sequence numbers to 1 or 2 consumer threads that do no
//! work at all: each spins briefly, then yields (as the shared-cores wait strategy does
//! while traffic lasts), or with `--spin` busy-spins (driver too), and acknowledges what
//! it saw. The driver counts a number done
//! when every consumer has acknowledged it. No ring, journal, engine or allocation: what
//! this measures is thread hand-off and scheduling on this machine.
//!
//! ```text
//! cargo run --release -p benches --bin handoff-floor -- [--rate R] [--count N] [--consumers 1|2] [--spin]
//! ```
//! Threads: the driver plus 1 or 2 consumers, none pinned (2 busy threads with one
//! consumer, 3 with two: the shapes of pipeline-bench with `--journal-on-matcher` and
//! without). Last line: `floor consumers=<c> p50_ns=.. p90_ns=.. p99_ns=.. p999_ns=..`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;

fn main() {
    let mut rate = 100_000u64;
    let mut count = 1_000_000u64;
    let mut consumers = 1usize;
    let mut spin = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--spin" {
            spin = true;
            i += 1;
            continue;
        }
        let v = args
            .get(i + 1)
            .and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match (args[i].as_str(), v) {
            ("--rate", Some(v)) => rate = v.max(1),
            ("--count", Some(v)) => count = v.max(1),
            ("--consumers", Some(v @ 1..=2)) => consumers = v as usize,
            _ => {
                eprintln!("usage: handoff-floor [--rate R] [--count N] [--consumers 1|2] [--spin]");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acks: Vec<Arc<AtomicU64>> = (0..consumers)
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let threads: Vec<_> = acks
        .iter()
        .enumerate()
        .map(|(k, ack)| {
            let (sent, stop, ack) = (sent.clone(), stop.clone(), ack.clone());
            std::thread::Builder::new()
                .name(format!("floor-consumer{k}"))
                .spawn(move || {
                    let mut idle = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let s = sent.load(Ordering::Acquire);
                        if s != ack.load(Ordering::Relaxed) {
                            ack.store(s, Ordering::Release);
                            idle = 0;
                        } else if spin || idle < 10 {
                            idle += 1;
                            std::hint::spin_loop();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                })
                .expect("spawn consumer")
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let period = 1e9 / rate as f64;
    let t0 = Instant::now();
    let (mut published, mut done) = (0u64, 0u64);
    while done < count {
        let now = t0.elapsed().as_nanos() as f64;
        let due_now = ((now / period) as u64 + 1).min(count);
        if due_now > published {
            published = due_now;
            sent.store(published, Ordering::Release);
        }
        let acked = acks
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        if acked > done {
            let at = t0.elapsed().as_nanos() as u64;
            for i in done..acked {
                let due = (i as f64 * period) as u64;
                hist.record(at.saturating_sub(due).max(1)).unwrap();
            }
            done = acked;
        } else if spin {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("consumer");
    }
    let q = |p: f64| hist.value_at_percentile(p);
    println!(
        "handoff-floor: {} cores, driver + {consumers} consumer(s), none pinned, {count} hand-offs at {rate}/s",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "floor consumers={consumers} wait={} p50_ns={} p90_ns={} p99_ns={} p999_ns={}",
        if spin { "spin" } else { "spin-yield" },
        q(50.0),
        q(90.0),
        q(99.0),
        q(99.9)
    );
}
