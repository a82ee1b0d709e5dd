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
//! `fix-load` runs each step on a freshly started server after a short warm-up, and
//! tries a failed step once more (a neighbour's burst on the shared VM can sink any one
//! second); the rate passes if either attempt does.

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
        spin_ns: 0,
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

/// The search as a state machine, so several peers can be searched in lockstep (one
/// step each in turn: drifting machine load then affects them alike).
#[derive(Debug, Clone)]
pub struct Search {
    lo: u64,
    hi: Option<u64>,
    next: Option<u64>,
    ceiling: u64,
    bisections_left: u32,
    steps: Vec<Step>,
}

impl Search {
    /// Starts at `start`, doubling up to `ceiling`.
    pub fn new(start: u64, ceiling: u64) -> Search {
        Search {
            lo: 0,
            hi: None,
            next: Some(start.max(1).min(ceiling)),
            ceiling,
            bisections_left: BISECTIONS,
            steps: Vec::new(),
        }
    }

    /// The next rate to try, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<u64> {
        self.next
    }

    /// Records the step run at [`Search::next_rate`] and picks the next rate.
    pub fn record(&mut self, s: Step) {
        let rate = s.rate;
        if s.pass {
            self.lo = rate;
        } else {
            self.hi = Some(rate);
        }
        self.steps.push(s);
        self.next = match self.hi {
            None if rate >= self.ceiling => None,
            None => Some((rate * 2).min(self.ceiling)),
            Some(hi) => {
                let mid = (self.lo + hi) / 2;
                if self.bisections_left == 0 || mid <= self.lo || mid >= hi {
                    None
                } else {
                    self.bisections_left -= 1;
                    Some(mid)
                }
            }
        };
    }

    /// The result so far.
    pub fn result(&self) -> MaxRate {
        MaxRate {
            max_rate: self.lo,
            steps: self.steps.clone(),
        }
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
    let mut s = Search::new(start, ceiling);
    while let Some(rate) = s.next_rate() {
        let st = step(addr, base, rate, step_len);
        progress(&st);
        let pass = st.pass;
        s.record(st);
        // Let a server that fell behind drain before the next step.
        std::thread::sleep(Duration::from_millis(if pass { 200 } else { 1_000 }));
    }
    s.result()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn st(rate: u64, pass: bool) -> Step {
        Step {
            rate,
            sent: 0,
            answered: 0,
            answered_per_s: 0.0,
            p50_us: 0.0,
            p99_us: 0.0,
            max_us: 0.0,
            send_lag_p99_us: 0.0,
            pass,
            note: String::new(),
        }
    }

    #[test]
    fn doubles_then_bisects_between_last_pass_and_first_failure() {
        // Capacity 50k: 10k 20k 40k pass, 80k fails, then 60 (f) 50 (p) 55 (f) 52.5 (f).
        let mut s = Search::new(10_000, 4_000_000);
        let mut tried = Vec::new();
        while let Some(r) = s.next_rate() {
            tried.push(r);
            s.record(st(r, r <= 50_000));
        }
        assert_eq!(
            tried,
            [10_000, 20_000, 40_000, 80_000, 60_000, 50_000, 55_000, 52_500]
        );
        assert_eq!(s.result().max_rate, 50_000);
    }

    #[test]
    fn stops_at_the_ceiling_and_reports_zero_when_nothing_passes() {
        let mut s = Search::new(10_000, 30_000);
        let mut tried = Vec::new();
        while let Some(r) = s.next_rate() {
            tried.push(r);
            s.record(st(r, true));
        }
        assert_eq!(tried, [10_000, 20_000, 30_000]);
        assert_eq!(s.result().max_rate, 30_000);

        let mut s = Search::new(10_000, 4_000_000);
        while let Some(r) = s.next_rate() {
            s.record(st(r, false));
        }
        assert_eq!(s.result().max_rate, 0);
        assert_eq!(
            s.result().steps.iter().map(|x| x.rate).collect::<Vec<_>>(),
            [10_000, 5_000, 2_500, 1_250, 625]
        );
    }
}
