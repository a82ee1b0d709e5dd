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
use std::time::Duration;

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
        /// Yields before parking.
        yields: u32,
        /// Longest single park (the safety net if a wake-up is missed: none should be).
        max_park: Duration,
    },
}

impl WaitMode {
    /// The "shared cores" default: a short spin, then `sched_yield` for a few milliseconds
    /// of idleness (another runnable thread on the core gets it at once, and this one is
    /// back within one yield when work arrives), then park until the next publish.
    /// Measured at 100k commands/s on 2 cores (pipeline-bench, p50 / p90): spin 10 /
    /// yield 20,000: 4.7 / 6.4 µs; spin 100: 7.3 / 9.2 µs; spin 20,000: 0.85–0.9 ms (a
    /// spinning consumer holds a core the others need); spin 300 / yield 4 / park:
    /// 15–22 µs at p50 (every command pays a cross-core wake-up, ~10–30 µs on this VM).
    pub const SHARED: WaitMode = WaitMode::Backoff {
        spins: 10,
        yields: 20_000,
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
    /// (awaited sequence, calls so far for it): the back-off restarts for every new
    /// sequence, so a busy consumer never parks between close events.
    static STATE: Cell<(Sequence, u32)> = const { Cell::new((-1, 0)) };
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
                yields,
                max_park,
            } => {
                let n = STATE.with(|s| {
                    let (seq, n) = s.get();
                    let n = if seq == sequence {
                        n.saturating_add(1)
                    } else {
                        0
                    };
                    s.set((sequence, n));
                    n
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
                } else if n < spins + yields {
                    std::thread::yield_now();
                } else {
                    park(n == spins + yields, max_park);
                }
            }
        }
    }
}

/// First call: announce the park and return, so the caller re-checks the ring (a publish
/// that raced with the announcement is then seen, or its publisher saw the flag and will
/// unpark us). Later calls: park; an unpark that came first makes this return at once.
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
