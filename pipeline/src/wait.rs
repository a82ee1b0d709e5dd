//! Wait strategies for ring consumers.
//!
//! On a 2-core machine at most one thread may busy-spin besides the gateway. Three busy
//! threads (gateway, journaler, matcher) on two cores make the scheduler time-slice them,
//! and a consumer that yields in a loop stays runnable: measured, that gives p99 latencies
//! of milliseconds. So the "shared cores" mode spins briefly (events close together cost
//! nothing), yields while the traffic lasts, then **parks** — and does not rely on the timeout alone: the
//! disruptor crate's producers send no wake-up, so our publisher does. A consumer about to
//! park announces it in its [`ParkSlot`]; [`CommandPublisher`](crate::CommandPublisher)
//! checks the slots after every publish (one fence and a load when nobody sleeps) and
//! unparks the sleepers. A parked, idle consumer is not runnable, so the threads that do
//! have work get the cores.
//!
//! The back-off state (calls so far for the awaited sequence) lives in a thread-local
//! keyed by that sequence, since the crate's `WaitStrategy` is `Copy` and stateless.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use disruptor::wait_strategies::WaitStrategy;
use disruptor::Sequence;

/// How consumers wait for the next event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// Spin forever (with a spin-loop hint): for a thread that owns a dedicated core.
    BusySpin,
    /// Spin, then yield, then park (woken by the next publish, or after `max_park`).
    Backoff {
        /// Iterations spent spinning before yielding.
        spins: u32,
        /// How long to keep yielding (from the first yield) before parking.
        yield_for: Duration,
        /// Longest single park (the safety net if a wake-up is missed: none should be).
        max_park: Duration,
    },
}

impl WaitMode {
    /// The "shared cores" default: a short spin, then `sched_yield` for up to 1 ms of
    /// idleness (another runnable thread on the core gets it at once, and this one is
    /// back within one yield when work arrives), then park until the next publish.
    /// Measured at 100k commands/s on 2 cores (pipeline-bench, p50 / p90): spin 10, then
    /// yields: 4.7 / 6.4 µs; spin 100: 7.3 / 9.2 µs; spin 20,000: 0.85–0.9 ms (a
    /// spinning consumer holds a core the others need); spin 300 / yield 4 / park:
    /// 15–22 µs at p50 (every command pays a cross-core wake-up, ~10–30 µs on this VM).
    /// The yield phase is bounded in time, not in calls: at any rate above 1,000
    /// commands/s the gaps stay inside it, and an idle exchange (a `TimeTick` every
    /// 100 ms) parks its consumers between ticks instead of yielding non-stop (measured
    /// with 20,000 yields, which outlast the tick: an idle `tachyon` used 2/3 of a core).
    pub const SHARED: WaitMode = WaitMode::Backoff {
        spins: 10,
        yield_for: Duration::from_millis(1),
        max_park: Duration::from_millis(2),
    };
}

/// Where a consumer thread announces that it is about to park, so publishers can wake it.
#[derive(Debug, Default)]
pub struct ParkSlot {
    parked: AtomicBool,
    thread: OnceLock<Thread>,
}

impl ParkSlot {
    /// Binds the slot to the calling thread and makes it this thread's slot.
    pub(crate) fn register(self: &Arc<Self>) {
        let _ = self.thread.set(std::thread::current());
        SLOT.with(|s| *s.borrow_mut() = Some(self.clone()));
    }

    /// Wakes the thread if it announced a park. Call after publishing and a SeqCst fence.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }
}

thread_local! {
    /// (awaited sequence, calls so far for it, when its yield phase began, park
    /// announced): the back-off restarts for every new sequence, so a busy consumer never
    /// parks between close events.
    static STATE: Cell<(Sequence, u32, Option<Instant>, bool)> =
        const { Cell::new((-1, 0, None, false)) };
    /// This consumer thread's park slot, if it registered one.
    static SLOT: RefCell<Option<Arc<ParkSlot>>> = const { RefCell::new(None) };
}

/// A `disruptor` wait strategy implementing [`WaitMode`].
#[derive(Clone, Copy, Debug)]
pub struct PhasedWait(pub WaitMode);

impl WaitStrategy for PhasedWait {
    #[inline]
    fn wait_for(&self, sequence: Sequence) {
        match self.0 {
            WaitMode::BusySpin => std::hint::spin_loop(),
            WaitMode::Backoff {
                spins,
                yield_for,
                max_park,
            } => {
                let (n, yielding_since, announced) = STATE.with(|s| {
                    let (seq, n, since, announced) = s.get();
                    let (n, since, announced) = if seq == sequence {
                        (n.saturating_add(1), since, announced)
                    } else {
                        (0, None, false)
                    };
                    // The yield phase's clock starts at its first call.
                    let since = match since {
                        None if n >= spins => Some(Instant::now()),
                        other => other,
                    };
                    s.set((sequence, n, since, announced));
                    (n, since, announced)
                });
                if n == 0 {
                    // A new wait: forget a stale announcement, so publishers do not
                    // unpark a thread that is not asleep.
                    SLOT.with(|s| {
                        if let Some(slot) = &*s.borrow() {
                            slot.parked.store(false, Ordering::Relaxed);
                        }
                    });
                }
                if n < spins {
                    std::hint::spin_loop();
                } else if !announced && yielding_since.is_some_and(|t| t.elapsed() < yield_for) {
                    std::thread::yield_now();
                } else {
                    // Announce, let the caller re-check the ring, then park; after each
                    // park (woken or timed out) announce again, so a publisher can
                    // always wake us.
                    STATE.with(|s| {
                        let (seq, n, since, _) = s.get();
                        s.set((seq, n, since, !announced));
                    });
                    park(!announced, max_park);
                }
            }
        }
    }
}

/// `announce`: announce the park and return, so the caller re-checks the ring (a publish
/// that raced with the announcement is then seen, or its publisher saw the flag and will
/// unpark us). Otherwise park; an unpark that came first makes this return at once.
/// Calls alternate, so every park follows its own announcement and re-check (a park that
/// timed out is never followed by one the publishers cannot see).
#[cold]
fn park(announce: bool, max_park: Duration) {
    SLOT.with(|s| match &*s.borrow() {
        Some(slot) if announce => slot.parked.store(true, Ordering::SeqCst),
        Some(slot) => {
            std::thread::park_timeout(max_park);
            slot.parked.store(false, Ordering::Relaxed);
        }
        None => std::thread::park_timeout(Duration::from_micros(50)),
    });
}

/// Publisher side: wake every parked consumer (after the publish).
#[inline]
pub(crate) fn wake_all(slots: &[Arc<ParkSlot>]) {
    // Orders the publish before the loads of the flags (pairs with the SeqCst store of
    // the announcement, which precedes the consumer's re-check of the ring).
    std::sync::atomic::fence(Ordering::SeqCst);
    for s in slots {
        s.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After the spin and yield phases every park is preceded by its own announcement,
    /// also after a park that timed out: a publisher can always wake the consumer.
    #[test]
    fn every_park_is_announced_even_after_a_timeout() {
        let slot = Arc::new(ParkSlot::default());
        slot.register();
        let wait = PhasedWait(WaitMode::Backoff {
            spins: 2,
            yield_for: Duration::ZERO,
            max_park: Duration::from_micros(100),
        });
        let mut announced_after_call = Vec::new();
        for _ in 0..8 {
            wait.wait_for(7);
            announced_after_call.push(slot.parked.load(Ordering::SeqCst));
        }
        // spin, spin, announce, park (timed out), announce, park, announce, park
        assert_eq!(
            announced_after_call,
            [false, false, true, false, true, false, true, false]
        );
        // A publisher's wake-up while announced reaches the thread: the next park returns
        // at once instead of after max_park (the unpark token is kept).
        wait.wait_for(7); // announce
        assert!(slot.parked.load(Ordering::SeqCst));
        slot.wake();
        assert!(!slot.parked.load(Ordering::SeqCst));
        let long = PhasedWait(WaitMode::Backoff {
            spins: 2,
            yield_for: Duration::ZERO,
            max_park: Duration::from_secs(30),
        });
        let t = Instant::now();
        long.wait_for(7); // park: the token makes it return at once
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "woken, not timed out"
        );
        // A new sequence starts over with spinning.
        wait.wait_for(8);
        assert!(!slot.parked.load(Ordering::SeqCst));
    }

    /// The yield phase lasts `yield_for`, then the consumer parks.
    #[test]
    fn yield_phase_is_bounded_in_time() {
        let slot = Arc::new(ParkSlot::default());
        slot.register();
        let wait = PhasedWait(WaitMode::Backoff {
            spins: 0,
            yield_for: Duration::from_millis(20),
            max_park: Duration::from_micros(100),
        });
        let t = Instant::now();
        let mut calls = 0u64;
        while !slot.parked.load(Ordering::SeqCst) {
            wait.wait_for(3);
            calls += 1;
        }
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "yielded {:?}",
            t.elapsed()
        );
        assert!(calls > 1);
    }
}
