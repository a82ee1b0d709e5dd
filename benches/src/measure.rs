//! Throughput at saturation and open-loop latency at a fixed offered rate.

use crate::books::Book;
use crate::workload::Workload;
use hdrhistogram::Histogram;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Result of a saturation run.
pub struct Throughput {
    /// Wall time of the timed loop.
    pub elapsed: Duration,
    /// Operations applied.
    pub ops: usize,
    /// Cross-check summary of the book after the run.
    pub summary: String,
}

impl Throughput {
    /// Operations per second.
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Pre-converts the timed ops for book `B`.
pub fn convert<B: Book>(w: &Workload) -> Vec<B::Input> {
    w.ops
        .iter()
        .enumerate()
        .map(|(i, op)| B::convert(op, i as u64))
        .collect()
}

/// Applies every input as fast as possible to a fresh book.
pub fn throughput<B: Book>(w: &Workload, inputs: &[B::Input]) -> Throughput {
    let mut book = B::new(w);
    let t0 = Instant::now();
    for x in inputs {
        book.apply(black_box(x));
    }
    let elapsed = t0.elapsed();
    let summary = book.summary();
    drop(black_box(book));
    Throughput {
        elapsed,
        ops: inputs.len(),
        summary,
    }
}

/// Result of a fixed-rate run.
pub struct Latency {
    /// Per-command latency in ns, measured from the command's intended start.
    pub hist: Histogram<u64>,
    /// Per-command service time in ns, from the command's actual start (a diagnostic:
    /// it leaves out queueing behind a stall, so it is *not* the latency figure).
    pub service: Histogram<u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Commands applied.
    pub ops: usize,
    /// Offered rate (commands/s).
    pub rate: u64,
    /// What else took the CPU during the run.
    pub interference: Interference,
}

impl Latency {
    /// True if the book could not keep up with the offered rate (it finished more than
    /// 5% late), so its latencies are queueing delay.
    pub fn saturated(&self) -> bool {
        let planned = self.ops as f64 / self.rate as f64;
        self.elapsed.as_secs_f64() > planned * 1.05 + 0.001
    }
}

/// Histogram from 1 ns to 100 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

/// Open-loop replay at `rate` commands/s onto a fresh book: command `i` is due at
/// `t0 + i / rate`; the loop busy-waits until then (or not at all when behind), and the
/// latency is completion time − due time. A stall therefore shows up in the latency of
/// every command queued behind it (no coordinated omission).
pub fn latency<B: Book>(w: &Workload, inputs: &[B::Input], rate: u64) -> Latency {
    let mut book = B::new(w);
    let mut hist = histogram();
    let mut service = histogram();
    let before = Interference::now();
    let t0 = Instant::now();
    for (i, x) in inputs.iter().enumerate() {
        let due_ns = (i as u128 * 1_000_000_000 / rate as u128) as u64;
        let mut start_ns = t0.elapsed().as_nanos() as u64;
        while start_ns < due_ns {
            std::hint::spin_loop();
            start_ns = t0.elapsed().as_nanos() as u64;
        }
        book.apply(black_box(x));
        let done_ns = t0.elapsed().as_nanos() as u64;
        hist.saturating_record(done_ns.saturating_sub(due_ns).max(1));
        service.saturating_record(done_ns.saturating_sub(start_ns).max(1));
    }
    let elapsed = t0.elapsed();
    let after = Interference::now();
    drop(black_box(book));
    Latency {
        hist,
        service,
        elapsed,
        ops: inputs.len(),
        rate,
        interference: after.since(&before),
    }
}

/// Median cost of one `Instant::now()` in ns (the clock read included in each latency).
pub fn clock_cost_ns() -> u64 {
    let mut h = histogram();
    for _ in 0..100_000 {
        let a = Instant::now();
        let b = Instant::now();
        h.saturating_record((b - a).as_nanos() as u64 + 1);
    }
    h.value_at_quantile(0.5)
}

/// Signs that something else had the CPU: involuntary context switches of this thread and
/// the machine's steal time (the hypervisor running another guest).
#[derive(Clone, Copy, Debug, Default)]
pub struct Interference {
    /// Involuntary context switches of the calling thread.
    pub involuntary_switches: u64,
    /// Steal time of all CPUs, ms.
    pub steal_ms: u64,
}

impl Interference {
    /// Current counters (zeros where /proc is unavailable).
    pub fn now() -> Interference {
        let involuntary_switches = std::fs::read_to_string("/proc/thread-self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("nonvoluntary_ctxt_switches"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0);
        // USER_HZ is 100 on Linux: one tick = 10 ms.
        let steal_ms = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .next()
                    .and_then(|l| l.split_whitespace().nth(8))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map_or(0, |t| t * 10);
        Interference {
            involuntary_switches,
            steal_ms,
        }
    }
    /// Counters accumulated since `earlier`.
    pub fn since(&self, earlier: &Interference) -> Interference {
        Interference {
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(earlier.involuntary_switches),
            steal_ms: self.steal_ms.saturating_sub(earlier.steal_ms),
        }
    }
}
