//! The running pipeline: inbound ring → (journaler ∥ matcher) → outbound ring.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use disruptor::{
    build_multi_producer, build_single_producer, EventPoller, MultiConsumerBarrier, MultiProducer,
    ProcessorSettings, Producer, RingBufferFull, SingleConsumerBarrier, SingleProducer,
    SingleProducerBarrier,
};
use tachyon_engine::{encode_command, Command, Engine, Event, EventSink, MAX_COMMAND_LEN};
use tachyon_journal::{FsyncPolicy, JournalWriter};

use crate::recovery::{self, Recovered, RecoveryTap, TapOutcome};
use crate::slots::{InSlot, OutEvent};
use crate::wait::{wake_all, ParkSlot, PhasedWait, WaitMode};
use crate::PipelineError;

/// How the pipeline uses the machine's cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreMode {
    /// Matcher pinned (if a core is given) and busy-spinning; other consumers back off.
    Dedicated,
    /// Every consumer backs off (spin, yield, park): for machines with few cores.
    Shared,
}

/// Everything the pipeline needs besides the engine configuration.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Inbound ring size (power of two).
    pub inbound_ring_size: usize,
    /// Outbound ring size (power of two).
    pub outbound_ring_size: usize,
    /// Core usage.
    pub mode: CoreMode,
    /// Core to pin the matcher to (either mode).
    pub matcher_core: Option<usize>,
    /// Core to pin the journaler to (either mode).
    pub journal_core: Option<usize>,
    /// Journal directory (snapshots go to its `snapshots/` subdirectory).
    pub journal_dir: PathBuf,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Segment rotation size.
    pub segment_size_bytes: u64,
    /// Snapshot every this many commands (0 = only at shutdown).
    pub snapshot_interval: u64,
    /// Delete journal segments covered by a written snapshot.
    pub prune_segments: bool,
    /// Number of outbound event pollers handed out (gateway, tests, …); each must be
    /// polled, or the outbound ring fills and the matcher waits.
    pub outbound_pollers: usize,
    /// Publish a `TimeTick` this often (expires GTD orders while idle); `None` = no timer.
    pub tick_interval: Option<Duration>,
    /// Journal on the matcher thread (journal each command, then apply it) instead of a
    /// separate journaler thread consuming in parallel: one busy thread fewer, for
    /// machines with fewer cores than busy threads.
    pub journal_on_matcher: bool,
}

/// The inbound producer: its type depends on how many consumers the ring has (journaler
/// and matcher, or one thread doing both).
#[derive(Clone)]
enum InProducer {
    One(MultiProducer<InSlot, SingleConsumerBarrier>),
    Two(MultiProducer<InSlot, MultiConsumerBarrier>),
}

impl InProducer {
    #[inline]
    fn publish(&mut self, f: impl FnOnce(&mut InSlot)) {
        match self {
            InProducer::One(p) => p.publish(f),
            InProducer::Two(p) => p.publish(f),
        }
    }

    #[inline]
    fn try_publish(&mut self, f: impl FnOnce(&mut InSlot)) -> Result<(), RingBufferFull> {
        match self {
            InProducer::One(p) => p.try_publish(f).map(|_| ()),
            InProducer::Two(p) => p.try_publish(f).map(|_| ()),
        }
    }
}

/// The outbound producer: its type depends on how many consumers the ring has.
enum OutProducer {
    One(SingleProducer<OutEvent, SingleConsumerBarrier>),
    Many(SingleProducer<OutEvent, MultiConsumerBarrier>),
}

/// Spins on a full outbound ring this many times before yielding the core.
const FULL_RING_SPINS: u32 = 128;
/// Then yields this many times before sleeping between attempts.
const FULL_RING_YIELDS: u32 = 16;
/// The sleep between attempts on a ring that stays full. A full ring means a reader is a
/// whole ring (tens of ms of work) behind, so sleeping this long adds nothing to any
/// event's wait, while a matcher that kept yielding would hold a core that the reader
/// it waits for needs (fix-load past saturation on 2 cores: the matcher spent 70 % of
/// the process's CPU in `sched_yield` while the gateway fell further behind).
const FULL_RING_SLEEP: std::time::Duration = std::time::Duration::from_micros(50);

impl OutProducer {
    /// Publishes, waiting while the ring is full: a short spin, a few `yield`s, then
    /// short sleeps between attempts. The matcher only waits here when a reader is
    /// behind; on shared cores that reader (market data, the gateway) may need the very
    /// core the matcher would otherwise burn spinning (the crate's `publish` spins
    /// without end).
    #[inline]
    fn publish(&mut self, ev: OutEvent) {
        let mut spins = 0u32;
        loop {
            let r = match self {
                OutProducer::One(p) => p.try_publish(|slot| *slot = ev),
                OutProducer::Many(p) => p.try_publish(|slot| *slot = ev),
            };
            if r.is_ok() {
                return;
            }
            spins = spins.saturating_add(1);
            if spins <= FULL_RING_SPINS {
                std::hint::spin_loop();
            } else if spins <= FULL_RING_SPINS + FULL_RING_YIELDS {
                std::thread::yield_now();
            } else {
                std::thread::sleep(FULL_RING_SLEEP);
            }
        }
    }
}

/// Counters shared between the pipeline threads and observers (ops plane, tests).
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Highest journal sequence known durable (by the fsync policy).
    pub durable_seq: AtomicU64,
    /// Highest sequence applied by the matcher.
    pub applied_seq: AtomicU64,
    /// Highest sequence covered by a written snapshot.
    pub snapshot_seq: AtomicU64,
    /// Set when the journal failed: nothing more becomes durable; the process must stop.
    pub journal_failed: AtomicBool,
    /// First journal error, for the operator.
    pub journal_error: Mutex<Option<String>>,
    /// Highest command sequence whose events are all in the outbound ring.
    pub emitted_seq: AtomicU64,
    /// Wake-up of a sleeping event consumer (the gateway's I/O thread).
    pub release_wake: ReleaseWake,
}

/// Lets one event consumer sleep (e.g. in `epoll_wait`) and be woken when an event may
/// have become releasable: the matcher checks after each batch it emitted, the journaler
/// after each commit. The check is one fence and one load while the consumer is awake;
/// the wake-up callback (a syscall, typically) runs only when it sleeps.
#[derive(Default)]
pub struct ReleaseWake {
    sleeping: AtomicBool,
    waker: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for ReleaseWake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseWake")
            .field("sleeping", &self.sleeping.load(Ordering::Relaxed))
            .field("waker_set", &self.waker.get().is_some())
            .finish()
    }
}

impl ReleaseWake {
    /// Installs the wake-up callback (once; later calls are ignored).
    pub fn set_waker(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(f);
    }

    #[inline]
    fn notify(&self) {
        // Pairs with the SeqCst store in `ReleasedEvents::prepare_sleep`: either the
        // sleeper sees our progress, or we see it asleep.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::SeqCst) {
            if let Some(f) = self.waker.get() {
                f();
            }
        }
    }
}

/// A handle to publish commands (cloneable per producer thread).
#[derive(Clone)]
pub struct CommandPublisher {
    producer: InProducer,
    /// The inbound consumers' park slots: woken after every publish if asleep.
    wakers: Arc<[Arc<ParkSlot>]>,
}

impl CommandPublisher {
    /// Publishes a command, waiting while the ring is full.
    pub fn publish(&mut self, cmd: Command) {
        self.publish_from(0, cmd);
    }

    /// Publishes unless the ring is full (back-pressure: the caller stops reading input).
    pub fn try_publish(&mut self, cmd: Command) -> Result<(), RingBufferFull> {
        self.try_publish_from(0, cmd)
    }

    /// [`CommandPublisher::publish`] with a producer tag copied to the command's events
    /// ([`OutEvent::origin`]).
    pub fn publish_from(&mut self, origin: u32, cmd: Command) {
        self.producer.publish(|slot| {
            slot.cmd = cmd;
            slot.origin = origin;
        });
        wake_all(&self.wakers);
    }

    /// [`CommandPublisher::try_publish`] with a producer tag.
    pub fn try_publish_from(&mut self, origin: u32, cmd: Command) -> Result<(), RingBufferFull> {
        self.producer.try_publish(|slot| {
            slot.cmd = cmd;
            slot.origin = origin;
        })?;
        wake_all(&self.wakers);
        Ok(())
    }
}

/// Reads outbound events, handing out only those whose causing command is durable.
/// Events not yet durable wait in a preallocated queue (bounded by the ring size).
pub struct ReleasedEvents {
    poller: EventPoller<OutEvent, SingleProducerBarrier>,
    stats: Arc<PipelineStats>,
    pending: std::collections::VecDeque<OutEvent>,
    capacity: usize,
    /// Command sequence of the last event taken from the ring.
    seen_seq: u64,
}

/// Result of [`ReleasedEvents::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollResult {
    /// This many events were released to the callback (maybe 0).
    Released(usize),
    /// The pipeline has shut down and every event was released.
    Shutdown,
}

impl ReleasedEvents {
    /// Announces that the caller is about to sleep until woken through
    /// [`ReleaseWake::set_waker`]'s callback (or its own timeout). Returns false, and
    /// cancels the announcement, if an event may already be releasable: poll again
    /// instead of sleeping. Call [`ReleasedEvents::woke`] after the sleep.
    pub fn prepare_sleep(&mut self) -> bool {
        let w = &self.stats.release_wake;
        w.sleeping.store(true, Ordering::SeqCst);
        let durable = self.stats.durable_seq.load(Ordering::SeqCst);
        let ready = self.pending.front().is_some_and(|e| e.cmd_seq <= durable)
            || self.stats.emitted_seq.load(Ordering::SeqCst) > self.seen_seq;
        if ready {
            w.sleeping.store(false, Ordering::Relaxed);
        }
        !ready
    }

    /// Ends a sleep announced by [`ReleasedEvents::prepare_sleep`].
    pub fn woke(&mut self) {
        self.stats
            .release_wake
            .sleeping
            .store(false, Ordering::Relaxed);
    }

    /// Calls `f` for every newly releasable event, in order. Never blocks.
    pub fn poll(&mut self, mut f: impl FnMut(&OutEvent)) -> PollResult {
        let mut durable = self.stats.durable_seq.load(Ordering::Acquire);
        let mut n = 0;
        while let Some(ev) = self.pending.front() {
            if ev.cmd_seq > durable {
                break;
            }
            f(ev);
            self.pending.pop_front();
            n += 1;
        }
        let room = self.capacity - self.pending.len();
        if room == 0 {
            return PollResult::Released(n);
        }
        match self.poller.take(room as u64) {
            Ok(mut guard) => {
                for ev in &mut guard {
                    self.seen_seq = ev.cmd_seq;
                    if self.pending.is_empty() && ev.cmd_seq <= durable {
                        f(ev);
                        n += 1;
                    } else {
                        if self.pending.is_empty() {
                            durable = self.stats.durable_seq.load(Ordering::Acquire);
                            if ev.cmd_seq <= durable {
                                f(ev);
                                n += 1;
                                continue;
                            }
                        }
                        self.pending.push_back(*ev);
                    }
                }
                PollResult::Released(n)
            }
            Err(disruptor::Polling::NoEvents) => PollResult::Released(n),
            Err(disruptor::Polling::Shutdown) => {
                if self.pending.is_empty() {
                    PollResult::Shutdown
                } else {
                    PollResult::Released(n)
                }
            }
        }
    }
}

/// The matcher's outbound sink: holds back one event so the last of each command can be
/// flagged.
struct OutSink {
    producer: OutProducer,
    held: Option<Event>,
    cmd_seq: u64,
    ts_ns: u64,
    origin: u32,
}

impl EventSink for OutSink {
    #[inline]
    fn emit(&mut self, event: Event) {
        if let Some(prev) = self.held.replace(event) {
            self.producer.publish(OutEvent {
                cmd_seq: self.cmd_seq,
                ts_ns: self.ts_ns,
                event: prev,
                last: false,
                origin: self.origin,
            });
        }
    }
}

impl OutSink {
    /// Flags the command's last event; true if it had any.
    #[inline]
    fn end(&mut self) -> bool {
        let Some(prev) = self.held.take() else {
            return false;
        };
        self.producer.publish(OutEvent {
            cmd_seq: self.cmd_seq,
            ts_ns: self.ts_ns,
            event: prev,
            last: true,
            origin: self.origin,
        });
        true
    }
}

struct MatcherState {
    engine: Engine,
    sink: OutSink,
    base_seq: u64,
    last_seq: u64,
    snapshot_interval: u64,
    snapshots: crossbeam_channel::Sender<(u64, Vec<u8>)>,
    stats: Arc<PipelineStats>,
    /// Events emitted since the last [`ReleaseWake`] check.
    emitted_unnotified: bool,
}

impl MatcherState {
    #[inline]
    fn handle(&mut self, slot: &InSlot, seq: i64, eob: bool) {
        let cmd_seq = self.base_seq + seq as u64 + 1;
        self.sink.cmd_seq = cmd_seq;
        self.sink.ts_ns = slot.cmd.ts_ns;
        self.sink.origin = slot.origin;
        self.engine.apply(&slot.cmd, &mut self.sink);
        if self.sink.end() {
            self.stats.emitted_seq.store(cmd_seq, Ordering::Release);
            self.emitted_unnotified = true;
        }
        if eob && self.emitted_unnotified {
            self.emitted_unnotified = false;
            self.stats.release_wake.notify();
        }
        self.last_seq = cmd_seq;
        self.stats.applied_seq.store(cmd_seq, Ordering::Release);
        if self.snapshot_interval > 0 && cmd_seq.is_multiple_of(self.snapshot_interval) {
            self.snapshot(false);
        }
    }

    fn snapshot(&mut self, blocking: bool) {
        let mut bytes = Vec::new();
        self.engine.snapshot(&mut bytes);
        if blocking {
            let _ = self.snapshots.send((self.last_seq, bytes));
        } else {
            // Skip if the writer is still busy with the previous one.
            let _ = self.snapshots.try_send((self.last_seq, bytes));
        }
    }
}

impl Drop for MatcherState {
    fn drop(&mut self) {
        // Shutdown: the rings are drained; record the final state.
        if self.last_seq > self.stats.snapshot_seq.load(Ordering::Acquire) {
            self.snapshot(true);
        }
    }
}

/// The journaler and the matcher on one thread (`journal_on_matcher`). Field order is
/// drop order: the journal's final sync before the matcher's final snapshot.
struct JournalingMatcher {
    journal: JournalState,
    matcher: MatcherState,
}

struct JournalState {
    writer: JournalWriter,
    base_seq: u64,
    buf: [u8; MAX_COMMAND_LEN],
    uncommitted: u32,
    stats: Arc<PipelineStats>,
}

impl Drop for JournalState {
    fn drop(&mut self) {
        // Clean shutdown: the ring is drained; make everything durable whatever the policy.
        if !self.stats.journal_failed.load(Ordering::Acquire) {
            if let Err(e) = self.writer.sync() {
                self.fail("final sync", e);
            }
        }
    }
}

/// Commit at least every this many records even inside one long batch.
const MAX_GROUP: u32 = 4096;

impl JournalState {
    fn fail(&self, what: &str, e: impl std::fmt::Display) {
        let mut slot = self
            .stats
            .journal_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(format!("journal {what} failed: {e}"));
        }
        self.stats.journal_failed.store(true, Ordering::Release);
    }

    fn handle(&mut self, slot: &InSlot, seq: i64, end_of_batch: bool) {
        if self.stats.journal_failed.load(Ordering::Relaxed) {
            return;
        }
        let jseq = self.base_seq + seq as u64 + 1;
        let n = encode_command(&slot.cmd, &mut self.buf);
        if let Err(e) = self.writer.append(jseq, &self.buf[..n]) {
            return self.fail("append", e);
        }
        self.uncommitted += 1;
        if end_of_batch || self.uncommitted >= MAX_GROUP {
            if let Err(e) = self.writer.commit() {
                return self.fail("commit", e);
            }
            self.uncommitted = 0;
            self.stats.durable_seq.store(jseq, Ordering::Release);
            self.stats.release_wake.notify();
        }
    }
}

/// A started pipeline.
pub struct Pipeline {
    publisher: Option<CommandPublisher>,
    pollers: Vec<ReleasedEvents>,
    stats: Arc<PipelineStats>,
    snapshot_thread: Option<JoinHandle<()>>,
    timer: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    recovered: RecoveryInfo,
    open_orders: Vec<tachyon_engine::OrderView>,
    api_keys: Vec<tachyon_engine::ApiKey>,
}

/// What recovery found at start-up.
#[derive(Clone, Debug)]
pub struct RecoveryInfo {
    /// Last journal sequence at start (0 = empty journal).
    pub last_seq: u64,
    /// Snapshot the state was restored from, if any.
    pub snapshot_seq: Option<u64>,
    /// Journal records replayed after the snapshot.
    pub replayed: u64,
    /// State hash after recovery.
    pub state_hash: u64,
    /// Things the operator should know (truncated tails, skipped snapshots).
    pub notes: Vec<String>,
    /// What recovery did for the tap given to [`Pipeline::start_with_tap`] (`None`
    /// without one).
    pub tap: Option<TapOutcome>,
}

impl Pipeline {
    /// Recovers state from the journal directory and starts the threads.
    pub fn start(
        engine_cfg: tachyon_engine::EngineConfig,
        opts: PipelineOptions,
    ) -> Result<Pipeline, PipelineError> {
        Pipeline::start_inner(engine_cfg, opts, None)
    }

    /// [`Pipeline::start`], and brings `tap`'s derived state up to date during recovery:
    /// the engine starts from the newest valid snapshot at or below the tap's newest
    /// usable saved state and the tap gets the events of every journaled command after
    /// that state (see [`RecoveryTap`]; [`RecoveryInfo::tap`] says what happened). If no
    /// saved state can be brought up to date exactly, recovery is as without a tap.
    pub fn start_with_tap(
        engine_cfg: tachyon_engine::EngineConfig,
        opts: PipelineOptions,
        tap: &mut dyn RecoveryTap,
    ) -> Result<Pipeline, PipelineError> {
        Pipeline::start_inner(engine_cfg, opts, Some(tap))
    }

    fn start_inner(
        engine_cfg: tachyon_engine::EngineConfig,
        opts: PipelineOptions,
        tap: Option<&mut dyn RecoveryTap>,
    ) -> Result<Pipeline, PipelineError> {
        let Recovered {
            engine,
            writer,
            last_seq,
            snapshot_seq,
            replayed,
            notes,
            tap,
        } = recovery::recover(engine_cfg, &opts, tap)?;
        let stats = Arc::new(PipelineStats::default());
        stats.durable_seq.store(last_seq, Ordering::Release);
        stats.applied_seq.store(last_seq, Ordering::Release);
        stats.emitted_seq.store(last_seq, Ordering::Release);
        stats
            .snapshot_seq
            .store(snapshot_seq.unwrap_or(0), Ordering::Release);
        // The resting orders as recovered, for readers that keep their own view (the
        // gateway's open-order cache) and start after the journal's last record.
        let mut open_orders = Vec::with_capacity(engine.open_orders());
        for sym in 0..engine.config().instruments.len() {
            for side in [tachyon_engine::Side::Buy, tachyon_engine::Side::Sell] {
                open_orders.extend(engine.book_orders(tachyon_engine::SymbolId(sym as u16), side));
            }
        }
        let api_keys = engine.api_keys().to_vec();
        let recovered = RecoveryInfo {
            last_seq,
            snapshot_seq,
            replayed,
            state_hash: engine.state_hash(),
            notes,
            tap,
        };

        let wait = match opts.mode {
            CoreMode::Dedicated => PhasedWait(WaitMode::BusySpin),
            CoreMode::Shared => PhasedWait(WaitMode::SHARED),
        };
        let backoff = PhasedWait(WaitMode::SHARED);

        // Outbound ring and its pollers.
        let n_pollers = opts.outbound_pollers.max(1);
        let out_builder =
            build_single_producer(opts.outbound_ring_size, OutEvent::default, backoff);
        let mut raw_pollers = Vec::with_capacity(n_pollers);
        let (p, sc) = out_builder.new_event_poller();
        raw_pollers.push(p);
        let out_producer = if n_pollers == 1 {
            OutProducer::One(sc.build())
        } else {
            let (p, mut mc) = sc.new_event_poller();
            raw_pollers.push(p);
            for _ in 2..n_pollers {
                let (p, next) = mc.new_event_poller();
                raw_pollers.push(p);
                mc = next;
            }
            OutProducer::Many(mc.build())
        };
        let pollers = raw_pollers
            .into_iter()
            .map(|poller| ReleasedEvents {
                poller,
                stats: stats.clone(),
                pending: std::collections::VecDeque::with_capacity(opts.outbound_ring_size),
                capacity: opts.outbound_ring_size,
                seen_seq: last_seq,
            })
            .collect::<Vec<_>>();

        // Snapshot writer: waits until the journal covers a snapshot before publishing it.
        let (snap_tx, snap_rx) = crossbeam_channel::bounded::<(u64, Vec<u8>)>(1);
        let snapshot_thread = {
            let stats = stats.clone();
            let dir = opts.journal_dir.clone();
            let prune = opts.prune_segments;
            std::thread::Builder::new()
                .name("tachyon-snapshot".into())
                .spawn(move || snapshot_writer(snap_rx, stats, dir, prune))
                .map_err(|e| PipelineError::Io(format!("spawn snapshot thread: {e}")))?
        };

        let matcher = MatcherState {
            engine,
            sink: OutSink {
                producer: out_producer,
                held: None,
                cmd_seq: 0,
                ts_ns: 0,
                origin: 0,
            },
            base_seq: last_seq,
            last_seq,
            snapshot_interval: opts.snapshot_interval,
            snapshots: snap_tx,
            stats: stats.clone(),
            emitted_unnotified: false,
        };
        let journal = JournalState {
            writer,
            base_seq: last_seq,
            buf: [0; MAX_COMMAND_LEN],
            uncommitted: 0,
            stats: stats.clone(),
        };

        let (producer, wakers) = if opts.journal_on_matcher {
            // One consumer thread journals each command, then applies it: for machines
            // with fewer cores than busy threads. Events are still released only once
            // the journal's durable sequence covers them (the commit at the end of each
            // batch precedes the batch's last apply).
            let slot = Arc::new(ParkSlot::default());
            let wakers: Arc<[Arc<ParkSlot>]> = Arc::from(vec![slot.clone()]);
            let builder = build_multi_producer(opts.inbound_ring_size, InSlot::default, backoff)
                .thread_name("tachyon-matcher");
            let builder = match opts.matcher_core {
                Some(core) => builder.pin_at_core(core),
                None => builder,
            };
            let producer = builder
                .handle_events_and_state_with_wait_strategy(
                    |st: &mut JournalingMatcher, slot: &InSlot, seq, eob| {
                        st.journal.handle(slot, seq, eob);
                        st.matcher.handle(slot, seq, eob);
                    },
                    move || {
                        slot.register();
                        JournalingMatcher { journal, matcher }
                    },
                    wait,
                )
                .build();
            (InProducer::One(producer), wakers)
        } else {
            let journal_slot = Arc::new(ParkSlot::default());
            let matcher_slot = Arc::new(ParkSlot::default());
            let wakers: Arc<[Arc<ParkSlot>]> =
                Arc::from(vec![journal_slot.clone(), matcher_slot.clone()]);
            let builder = build_multi_producer(opts.inbound_ring_size, InSlot::default, backoff)
                .thread_name("tachyon-journal");
            let builder = match opts.journal_core {
                Some(core) => builder.pin_at_core(core),
                None => builder,
            };
            let builder = builder
                .handle_events_and_state_with(
                    |st: &mut JournalState, slot: &InSlot, seq, eob| st.handle(slot, seq, eob),
                    move || {
                        journal_slot.register();
                        journal
                    },
                )
                .thread_name("tachyon-matcher");
            let builder = match opts.matcher_core {
                Some(core) => builder.pin_at_core(core),
                None => builder,
            };
            let producer = builder
                .handle_events_and_state_with_wait_strategy(
                    |st: &mut MatcherState, slot: &InSlot, seq, eob| st.handle(slot, seq, eob),
                    move || {
                        matcher_slot.register();
                        matcher
                    },
                    wait,
                )
                .build();
            (InProducer::Two(producer), wakers)
        };
        let publisher = CommandPublisher { producer, wakers };

        let timer = match opts.tick_interval {
            None => None,
            Some(every) => {
                let stop = Arc::new(AtomicBool::new(false));
                let mut p = publisher.clone();
                let stop2 = stop.clone();
                let h = std::thread::Builder::new()
                    .name("tachyon-timer".into())
                    .spawn(move || {
                        let mut next = Instant::now() + every;
                        while !stop2.load(Ordering::Acquire) {
                            let now = Instant::now();
                            if now >= next {
                                let _ = p.try_publish(Command {
                                    ts_ns: wall_clock_ns(),
                                    kind: tachyon_engine::CommandKind::TimeTick,
                                });
                                next += every;
                            } else {
                                std::thread::park_timeout(
                                    (next - now).min(Duration::from_millis(50)),
                                );
                            }
                        }
                    })
                    .map_err(|e| PipelineError::Io(format!("spawn timer thread: {e}")))?;
                Some((stop, h))
            }
        };

        Ok(Pipeline {
            publisher: Some(publisher),
            pollers,
            stats,
            snapshot_thread: Some(snapshot_thread),
            timer,
            recovered,
            open_orders,
            api_keys,
        })
    }

    /// The resting orders recovered at start (taken once; empty afterwards).
    pub fn take_open_orders(&mut self) -> Vec<tachyon_engine::OrderView> {
        std::mem::take(&mut self.open_orders)
    }

    /// The active API keys recovered at start, in creation order (taken once; empty
    /// afterwards). Later changes arrive as `ApiKeyCreated` / `ApiKeyRevoked` events.
    pub fn take_api_keys(&mut self) -> Vec<tachyon_engine::ApiKey> {
        std::mem::take(&mut self.api_keys)
    }

    /// A new publisher handle (one per producing thread).
    pub fn publisher(&self) -> CommandPublisher {
        self.publisher.as_ref().expect("pipeline running").clone()
    }

    /// Takes the outbound pollers (once).
    pub fn take_pollers(&mut self) -> Vec<ReleasedEvents> {
        std::mem::take(&mut self.pollers)
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    /// What recovery found.
    pub fn recovery(&self) -> &RecoveryInfo {
        &self.recovered
    }

    /// Clean shutdown: stops the timer, drains both rings (every published command is
    /// journaled and applied), writes a final snapshot once the journal covers it.
    /// Every other `CommandPublisher` clone must have been dropped, and every poller must
    /// keep being polled (or be dropped) until it reports `Shutdown`.
    pub fn shutdown(mut self) -> Result<(), PipelineError> {
        if let Some((stop, h)) = self.timer.take() {
            stop.store(true, Ordering::Release);
            h.thread().unpark();
            let _ = h.join();
        }
        // Dropping the last publisher drains the inbound ring and joins its consumers;
        // the matcher's state (with the final snapshot request) is dropped on its thread.
        drop(self.publisher.take());
        if let Some(h) = self.snapshot_thread.take() {
            let _ = h.join();
        }
        if let Some(e) = self
            .stats
            .journal_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(PipelineError::Journal(e));
        }
        Ok(())
    }
}

fn snapshot_writer(
    rx: crossbeam_channel::Receiver<(u64, Vec<u8>)>,
    stats: Arc<PipelineStats>,
    dir: PathBuf,
    prune: bool,
) {
    let snap_dir = dir.join("snapshots");
    // The snapshots kept on disk (the newest two written by this process): the journal is
    // pruned only up to the OLDER one, so recovery still has what it needs if the newest
    // turns out unreadable.
    let mut kept: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
    while let Ok((seq, bytes)) = rx.recv() {
        // Never publish a snapshot of state the journal does not yet hold.
        while stats.durable_seq.load(Ordering::Acquire) < seq {
            if stats.journal_failed.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        match tachyon_journal::write_snapshot(&snap_dir, seq, &bytes) {
            Ok(_) => {
                stats.snapshot_seq.store(seq, Ordering::Release);
                let _ = tachyon_journal::prune_snapshots(&snap_dir, 2);
                kept.push_back(seq);
                if kept.len() > 2 {
                    kept.pop_front();
                }
                if prune && kept.len() == 2 {
                    let _ = tachyon_journal::prune(&dir, kept[0]);
                }
            }
            Err(e) => eprintln!("tachyon: snapshot at {seq} failed: {e}"),
        }
    }
}

/// Wall-clock time in ns since the Unix epoch (producers stamp commands with it).
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
