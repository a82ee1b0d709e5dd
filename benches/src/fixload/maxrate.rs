//! The highest offered rate a server sustains.
//!
//! Definition: a step at offered rate R sends `max(R × step, MIN_STEP_ORDERS)` orders
//! open-loop on a fresh session and **passes** when every order gets its ExecutionReport,
//! none is refused, and the p99 latency (from intended send time, so a growing backlog
//! shows up in it) stays ≤ [`P99_BOUND_NS`]. A server that falls behind the offered rate
//! by a fraction `f` builds a backlog of `f × R × t`, so over a one-second step it fails
//! once `f` exceeds roughly 1 % (the backlog's wait then passes the bound for the last
//! 1 % of orders, which is what p99 looks at). `max_rate` is the highest passing rate
//! found by doubling from `start` until a step fails, then bisecting between the last
//! pass and the first failure [`BISECTIONS`] times (resolution: 1/16 of that interval).

use std::net::SocketAddr;
use std::time::Duration;

use super::client::{self, LoadSpec};
use super::us;

/// p99 bound of a passing step.
pub const P99_BOUND_NS: u64 = 10_000_000;
/// Smallest step.
pub const MIN_STEP_ORDERS: u64 = 20_000;
/// Bisection rounds after the first failure.
pub const BISECTIONS: u32 = 4;

/// One step of the search.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offered rate.
    pub rate: u64,
    /// Orders sent / answered.
    pub sent: u64,
    /// Orders answered.
    pub answered: u64,
    /// Answers per second over the step (answered / time to the last answer).
    pub answered_per_s: f64,
    /// Latency p50 / p99 / max (µs).
    pub p50_us: f64,
    /// p99 (µs).
    pub p99_us: f64,
    /// max (µs).
    pub max_us: f64,
    /// The sender's own lag p99 (µs): large means the client, not the server, fell behind.
    pub send_lag_p99_us: f64,
    /// Whether the step passed.
    pub pass: bool,
    /// What went wrong, or `ok`.
    pub note: String,
}

/// Result of the search.
#[derive(Debug, Clone)]
pub struct MaxRate {
    /// Highest passing offered rate (0 if none passed).
    pub max_rate: u64,
    /// Every step in the order run.
    pub steps: Vec<Step>,
}

/// Runs one step.
pub fn step(addr: SocketAddr, base: &LoadSpec, rate: u64, step: Duration) -> Step {
    let count = ((rate as f64 * step.as_secs_f64()) as u64).max(MIN_STEP_ORDERS);
    let spec = LoadSpec {
        rate,
        count,
        run_tag: client::run_tag(),
        drain_timeout: Duration::from_secs(2),
        ..base.clone()
    };
    match client::run(addr, &spec) {
        Ok(r) => {
            let p99 = r.latency.value_at_quantile(0.99);
            let pass = r.clean() && p99 <= P99_BOUND_NS;
            let mut note = r.problems();
            if r.clean() && !pass {
                note = format!(
                    "p99 {} ms > {} ms",
                    p99 / 1_000_000,
                    P99_BOUND_NS / 1_000_000
                );
            }
            Step {
                rate,
                sent: r.sent,
                answered: r.answered,
                answered_per_s: r.answered as f64 / r.answer_elapsed.as_secs_f64().max(1e-9),
                p50_us: us(&r.latency, 0.5),
                p99_us: us(&r.latency, 0.99),
                max_us: r.latency.max() as f64 / 1000.0,
                send_lag_p99_us: us(&r.send_lag, 0.99),
                pass,
                note,
            }
        }
        Err(e) => Step {
            rate,
            sent: 0,
            answered: 0,
            answered_per_s: 0.0,
            p50_us: 0.0,
            p99_us: 0.0,
            max_us: 0.0,
            send_lag_p99_us: 0.0,
            pass: false,
            note: format!("error: {e}"),
        },
    }
}

/// Doubles from `start` (at most up to `ceiling`), then bisects. `progress` sees each step.
pub fn search(
    addr: SocketAddr,
    base: &LoadSpec,
    start: u64,
    ceiling: u64,
    step_len: Duration,
    mut progress: impl FnMut(&Step),
) -> MaxRate {
    let mut steps = Vec::new();
    let mut run = |rate: u64, steps: &mut Vec<Step>| {
        let s = step(addr, base, rate, step_len);
        progress(&s);
        let pass = s.pass;
        steps.push(s);
        // Let a server that fell behind drain before the next step.
        std::thread::sleep(Duration::from_millis(if pass { 200 } else { 1_000 }));
        pass
    };
    let mut lo = 0u64;
    let mut hi = None;
    let mut rate = start.max(1);
    loop {
        if run(rate, &mut steps) {
            lo = rate;
            if rate >= ceiling {
                break;
            }
            rate = (rate * 2).min(ceiling);
        } else {
            hi = Some(rate);
            break;
        }
    }
    if let Some(mut hi) = hi {
        for _ in 0..BISECTIONS {
            let mid = (lo + hi) / 2;
            if mid <= lo || mid >= hi {
                break;
            }
            if run(mid, &mut steps) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    MaxRate {
        max_rate: lo,
        steps,
    }
}

/// Prints a step as a table row.
pub fn print_step(name: &str, s: &Step) {
    println!(
        "  {name:<9} {:>9} {:>9} {:>9} {:>11.0} {:>9.1} {:>9.1} {:>10.1} {:>9.1}  {}  {}",
        s.rate,
        s.sent,
        s.answered,
        s.answered_per_s,
        s.p50_us,
        s.p99_us,
        s.max_us,
        s.send_lag_p99_us,
        if s.pass { "pass" } else { "FAIL" },
        s.note
    );
}

/// The table header matching [`print_step`].
pub fn print_header() {
    println!(
        "  {:<9} {:>9} {:>9} {:>9} {:>11} {:>9} {:>9} {:>10} {:>9}",
        "peer",
        "offered/s",
        "sent",
        "answered",
        "answered/s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "lag99 µs"
    );
}
