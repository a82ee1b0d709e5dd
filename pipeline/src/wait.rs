//! Wait strategies for ring consumers.
//!
//! On a 2-core machine at most one thread may busy-spin besides the gateway, so the
//! "shared cores" mode backs off in phases: spin briefly (lowest latency when events are
//! close together), then yield the core, then park for short, growing periods. Producers
//! send no wake-up, so parking can only be `park_timeout`; the cap bounds the added
//! latency of an idle consumer.

use std::cell::Cell;
use std::time::Duration;

use disruptor::wait_strategies::WaitStrategy;
use disruptor::Sequence;

/// How consumers wait for the next event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// Spin forever (with a spin-loop hint): for a thread that owns a dedicated core.
    BusySpin,
    /// Spin, then yield, then park with a bounded timeout.
    Backoff {
        /// Iterations spent spinning before yielding.
        spins: u32,
        /// Yields before parking.
        yields: u32,
        /// Longest single park.
        max_park: Duration,
    },
}

impl WaitMode {
    /// The "shared cores" default: a short spin, then `sched_yield` for a few
    /// milliseconds of idleness (another runnable thread on the core gets it at once,
    /// and this one is back within one yield when work arrives), then parks of at most
    /// 1 ms while the exchange is idle.
    pub const SHARED: WaitMode =
        WaitMode::Backoff { spins: 100, yields: 20_000, max_park: Duration::from_millis(1) };
}

/// A `disruptor` wait strategy implementing [`WaitMode`].
#[derive(Clone, Copy, Debug)]
pub struct PhasedWait(pub WaitMode);

thread_local! {
    /// (awaited sequence, calls so far for it): the back-off restarts for every new
    /// sequence, so a busy consumer never parks between close events.
    static STATE: Cell<(Sequence, u32)> = const { Cell::new((-1, 0)) };
}

impl WaitStrategy for PhasedWait {
    #[inline]
    fn wait_for(&self, sequence: Sequence) {
        match self.0 {
            WaitMode::BusySpin => std::hint::spin_loop(),
            WaitMode::Backoff { spins, yields, max_park } => {
                let n = STATE.with(|s| {
                    let (seq, n) = s.get();
                    let n = if seq == sequence { n.saturating_add(1) } else { 0 };
                    s.set((sequence, n));
                    n
                });
                if n < spins {
                    std::hint::spin_loop();
                } else if n < spins + yields {
                    std::thread::yield_now();
                } else {
                    // 10 µs, doubling up to the cap.
                    let k = (n - spins - yields).min(16);
                    let park = Duration::from_micros(10u64 << k.min(10)).min(max_park);
                    std::thread::park_timeout(park);
                }
            }
        }
    }
}
