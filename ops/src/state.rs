//! The state shared by the market-data consumer thread and the HTTP/WebSocket server:
//! market data, counters, the latency histogram (one mutex), the WebSocket fan-out
//! channels, and what `/ready` looks at.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use hdrhistogram::Histogram;
use tachyon_config::Config;
use tachyon_engine::{Engine, Event};
use tachyon_market_data::{DepthUpdate, MarketData, Update};
use tachyon_pipeline::{wall_clock_ns, OutEvent, PipelineStats, PollResult, ReleasedEvents};
use tokio::sync::broadcast;

use crate::md_store::{MdRecovery, Saver};
use crate::metrics::Counters;
use crate::ratelimit::{RateLimiter, MAX_TRACKED_IPS};
use crate::render::{self, SymbolFmt};

/// Reports the persister's lag in commands (`None` = unknown or not running).
pub type LagProbe = Box<dyn Fn() -> Option<u64> + Send + Sync>;

/// Depth updates of one symbol held back until the end of the batch of released events
/// the consumer polled (one or more whole commands under load), so one WebSocket message
/// carries a batch's changes. Flushed earlier at this size.
const MAX_PENDING_DEPTH: usize = 512;
/// How long the final market data save waits for the journal to cover the last commands.
const FINAL_SAVE_WAIT: Duration = Duration::from_secs(2);
/// Slowest recordable release delay; larger ones are recorded as this.
const MAX_DELAY_NS: u64 = 60_000_000_000;

/// Consumer states for `/ready`.
const CONSUMER_NONE: u8 = 0;
const CONSUMER_RUNNING: u8 = 1;
const CONSUMER_SHUTDOWN: u8 = 2;

/// Rendered WebSocket messages sent together: one depth diff, or the trades of one
/// symbol in one batch of released events (at most [`MAX_PENDING_TRADES`]). A client
/// gets each as its own WebSocket message; one broadcast item per batch means one
/// wake-up and one socket flush per client per batch, not per trade.
pub(crate) type Batch = Arc<[Utf8Bytes]>;

/// Trades of one symbol held back until the end of the batch, sent early at this size.
const MAX_PENDING_TRADES: usize = 512;

/// The WebSocket fan-out of one symbol: bounded broadcast channels of rendered messages.
pub(crate) struct Feeds {
    pub(crate) depth: broadcast::Sender<Batch>,
    pub(crate) trades: broadcast::Sender<Batch>,
}

/// What the consumer thread writes and the server reads, under one lock.
pub(crate) struct Core {
    pub(crate) md: MarketData,
    pub(crate) counters: Counters,
    /// Release delay (now − command timestamp) per command, ns.
    pub(crate) release_delay_ns: Histogram<u64>,
    pending: Vec<Vec<DepthUpdate>>,
    pending_ts_ns: Vec<u64>,
    pending_trades: Vec<Vec<Utf8Bytes>>,
    /// Symbols with pending depth updates or trades.
    dirty: Vec<usize>,
}

/// Counters touched by the server tasks (no lock).
#[derive(Default)]
pub(crate) struct ServerCounters {
    pub(crate) http_requests: AtomicU64,
    pub(crate) http_rate_limited: AtomicU64,
    pub(crate) ws_connects: AtomicU64,
    pub(crate) ws_refused: AtomicU64,
    pub(crate) ws_dropped_slow: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) cfg: Config,
    pub(crate) fmts: Vec<SymbolFmt>,
    core: Mutex<Core>,
    pub(crate) feeds: Vec<Feeds>,
    pub(crate) stats: Arc<PipelineStats>,
    pub(crate) persister_lag: Option<LagProbe>,
    pub(crate) limiter: Mutex<RateLimiter>,
    pub(crate) ws_clients: AtomicUsize,
    pub(crate) server: ServerCounters,
    consumer: AtomicU8,
    /// Set if applying an event panicked: market data is stale; the consumer only drains.
    pub(crate) md_failed: AtomicBool,
    /// Set to true when the server stops: WebSocket sessions say goodbye and end.
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
    /// The admin API, once enabled ([`OpsState::enable_admin`]).
    pub(crate) admin: std::sync::OnceLock<crate::admin::Admin>,
    /// Saving of market data state, once enabled ([`OpsState::save_market_data`]);
    /// taken by the consumer thread.
    saver: Mutex<Option<Saver>>,
}

/// Locks, ignoring poisoning: every writer leaves the state consistent event by event.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    pub(crate) fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.limiter)
    }

    /// True while a consumer thread is attached and the pipeline has not shut down.
    pub(crate) fn consumer_running(&self) -> bool {
        self.consumer.load(Ordering::Acquire) == CONSUMER_RUNNING
    }

    /// Applies one released event. Never blocks (broadcast sends drop for lagging
    /// receivers; they notice and are disconnected).
    fn apply(&self, core: &mut Core, ev: &OutEvent) {
        core.counters.count(ev);
        match core.md.apply(ev.ts_ns, &ev.event) {
            Some(Update::Depth(d)) => {
                let i = d.symbol.0 as usize;
                if core.pending[i].is_empty() && core.pending_trades[i].is_empty() {
                    core.dirty.push(i);
                }
                core.pending[i].push(d);
                core.pending_ts_ns[i] = ev.ts_ns;
                if core.pending[i].len() >= MAX_PENDING_DEPTH {
                    self.flush_symbol(core, i);
                }
            }
            Some(Update::Trade(t)) => {
                let i = t.symbol.0 as usize;
                if self.feeds[i].trades.receiver_count() > 0 {
                    let msg = render::trade_msg(&self.fmts[i], t.prev_seq, &t.trade);
                    if core.pending[i].is_empty() && core.pending_trades[i].is_empty() {
                        core.dirty.push(i);
                    }
                    core.pending_trades[i].push(msg.into());
                    if core.pending_trades[i].len() >= MAX_PENDING_TRADES {
                        self.flush_symbol(core, i);
                    }
                }
            }
            None => {}
        }
        if ev.last {
            let delay = wall_clock_ns()
                .saturating_sub(ev.ts_ns)
                .clamp(1, MAX_DELAY_NS);
            let _ = core.release_delay_ns.record(delay);
        }
    }

    fn flush_symbol(&self, core: &mut Core, i: usize) {
        let feed = &self.feeds[i].depth;
        if !core.pending[i].is_empty() && feed.receiver_count() > 0 {
            let msg =
                render::depth_update_msg(&self.fmts[i], core.pending_ts_ns[i], &core.pending[i]);
            let batch: Batch = Arc::new([Utf8Bytes::from(msg)]);
            let _ = feed.send(batch);
        }
        core.pending[i].clear();
        if !core.pending_trades[i].is_empty() {
            let batch: Batch = core.pending_trades[i].drain(..).collect();
            let _ = self.feeds[i].trades.send(batch);
        }
    }

    /// Sends the held-back depth updates of every symbol that has some.
    fn flush(&self, core: &mut Core) {
        let mut dirty = std::mem::take(&mut core.dirty);
        for &i in &dirty {
            self.flush_symbol(core, i);
        }
        dirty.clear();
        core.dirty = dirty;
    }

    /// Applies a batch of released events under one lock acquisition.
    fn apply_all<'e>(&self, core: &mut Core, events: impl IntoIterator<Item = &'e OutEvent>) {
        for ev in events {
            self.apply_guarded(core, ev);
        }
        self.flush(core);
    }

    /// At shutdown, after every event was applied: saves the state at the last command
    /// the matcher applied (the sequence of the engine's final snapshot).
    fn save_final(&self, saver: &mut Saver) {
        if self.md_failed.load(Ordering::Acquire) {
            tracing::warn!(
                component = "market-data",
                "market data failed earlier: its state is not saved"
            );
            return;
        }
        // Every event was applied, so the state reflects every command the matcher
        // applied. The journaler may still be committing the last ones (commands without
        // events, like timer ticks, are released to nobody and need not be durable yet):
        // wait a little, so the state can carry the final sequence (the final snapshot's).
        let applied = self.stats.applied_seq.load(Ordering::Acquire);
        let deadline = std::time::Instant::now() + FINAL_SAVE_WAIT;
        let mut durable = self.stats.durable_seq.load(Ordering::Acquire);
        while durable < applied
            && !self.stats.journal_failed.load(Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
            durable = self.stats.durable_seq.load(Ordering::Acquire);
        }
        // Never tag a state past the journal. Released events are durable, so
        // `applied_through` ≤ `durable`, and the commands between had no events: the
        // state is the same at any sequence in that range.
        let at = saver.applied_through().max(durable.min(applied));
        let core = self.core();
        saver.encode(&core.md, at);
        drop(core);
        saver.write_pending();
    }

    /// [`Shared::apply`], but a panic (a bug) stops market data instead of the
    /// consumer: the thread keeps draining the ring so the matcher never waits on it.
    fn apply_guarded(&self, core: &mut Core, ev: &OutEvent) {
        if ev.origin >= crate::admin::ADMIN_ORIGIN_BASE {
            if let Some(a) = self.admin.get() {
                a.on_event(ev);
            }
        }
        if self.md_failed.load(Ordering::Relaxed) {
            core.counters.count(ev);
            return;
        }
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| self.apply(core, ev)));
        if r.is_err() {
            self.md_failed.store(true, Ordering::Release);
            tracing::error!(
                component = "market-data",
                cmd_seq = ev.cmd_seq,
                "applying an event panicked; market data stopped (the ring keeps draining)"
            );
        }
    }
}

/// The state behind the ops server: market data, counters and the pipeline's stats.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct OpsState {
    pub(crate) shared: Arc<Shared>,
}

impl OpsState {
    /// Empty market data for the configuration's instruments; limits from `[ops]`.
    /// `stats` are the pipeline's (for `/ready` and `/metrics`); `persister_lag`, if
    /// given, is asked by `/ready` and `/metrics`.
    pub fn new(
        cfg: &Config,
        stats: Arc<PipelineStats>,
        persister_lag: Option<LagProbe>,
    ) -> OpsState {
        let n = cfg.instruments.len();
        let buffer = cfg.ops.ws_buffer as usize;
        let core = Core {
            md: MarketData::new(cfg),
            counters: Counters::new(n),
            release_delay_ns: Histogram::new_with_bounds(1, MAX_DELAY_NS, 3)
                .expect("static histogram bounds"),
            pending: (0..n)
                .map(|_| Vec::with_capacity(MAX_PENDING_DEPTH))
                .collect(),
            pending_ts_ns: vec![0; n],
            pending_trades: (0..n)
                .map(|_| Vec::with_capacity(MAX_PENDING_TRADES))
                .collect(),
            dirty: Vec::with_capacity(n),
        };
        let feeds = (0..n)
            .map(|_| Feeds {
                depth: broadcast::channel(buffer).0,
                trades: broadcast::channel(buffer).0,
            })
            .collect();
        OpsState {
            shared: Arc::new(Shared {
                cfg: cfg.clone(),
                fmts: SymbolFmt::all(cfg),
                core: Mutex::new(core),
                feeds,
                stats,
                persister_lag,
                limiter: Mutex::new(RateLimiter::new(
                    cfg.ops.rate_limit_per_ip_per_sec,
                    cfg.ops.rate_limit_burst,
                    MAX_TRACKED_IPS,
                )),
                ws_clients: AtomicUsize::new(0),
                server: ServerCounters::default(),
                consumer: AtomicU8::new(CONSUMER_NONE),
                md_failed: AtomicBool::new(false),
                shutdown: tokio::sync::watch::channel(false).0,
                admin: std::sync::OnceLock::new(),
                saver: Mutex::new(None),
            }),
        }
    }

    /// Sets every book to the engine's (the state recovered at start-up), before any
    /// event is applied.
    pub fn seed_books(&self, engine: &Engine) {
        self.shared.core().md.seed_books(engine);
    }

    /// Replaces the market data with the one recovery resumed from a saved state and
    /// brought up to date (trade tape, klines, 24-hour window and sequence numbers as
    /// they were; see [`MdRecovery`]); call before seeding the books. Returns false, and
    /// leaves the market data empty, if recovery resumed none.
    pub fn resume_market_data(&self, recovery: &mut MdRecovery) -> bool {
        match recovery.take_resumed() {
            Some(md) => {
                self.shared.core().md = md;
                true
            }
            None => false,
        }
    }

    /// Has the consumer thread save market data state under `dir` (`<journal_dir>/md`)
    /// each time it has applied the events of another `every_commands` commands (the
    /// engine's snapshot interval) and once more when the pipeline shuts down. The market
    /// data reflects every command up to `at_seq` (recovery's last sequence); states
    /// saved after it are deleted (they are ahead of the journal). Call before
    /// [`OpsState::spawn_consumer`].
    pub fn save_market_data(&self, dir: std::path::PathBuf, every_commands: u64, at_seq: u64) {
        match crate::md_store::remove_after(&dir, at_seq) {
            Ok(removed) => {
                for p in removed {
                    tracing::warn!(
                        component = "market-data",
                        file = %p.display(),
                        "deleted a saved state ahead of the journal (its tail was lost)"
                    );
                }
            }
            Err(e) => tracing::warn!(
                component = "market-data",
                dir = %dir.display(),
                "cannot list saved states: {e}"
            ),
        }
        *lock(&self.shared.saver) = Some(Saver::new(dir, every_commands, at_seq));
    }

    /// Enables the admin API with `cfg.ops.admin_token`: admin actions are published
    /// with `publisher` (no-op if no token is configured).
    pub fn enable_admin(&self, publisher: tachyon_pipeline::CommandPublisher) {
        if let Some(t) = &self.shared.cfg.ops.admin_token {
            let _ = self
                .shared
                .admin
                .set(crate::admin::Admin::new(t.expose().to_string(), publisher));
        }
    }

    /// Gives the admin API the active API keys recovered with the engine state
    /// ([`tachyon_pipeline::Pipeline::take_api_keys`]); call after
    /// [`OpsState::enable_admin`] and before the consumer thread starts.
    pub fn seed_api_keys(&self, keys: &[tachyon_engine::ApiKey]) {
        if let Some(a) = self.shared.admin.get() {
            a.seed_api_keys(keys);
        }
    }

    /// Disables the admin API (drops its publisher so the pipeline can drain at
    /// shutdown); later admin requests get 503.
    pub fn disable_admin(&self) {
        if let Some(a) = self.shared.admin.get() {
            a.disable();
        }
    }

    /// Sets the books from resting orders (the pipeline's recovered open orders,
    /// [`tachyon_pipeline::Pipeline::take_open_orders`]), before any event is applied.
    /// Every symbol's `seq` advances by one (a client's older book is no longer valid).
    pub fn seed_orders(&self, orders: &[tachyon_engine::OrderView]) {
        self.shared.core().md.seed_orders(orders);
    }

    /// [`OpsState::seed_orders`] without advancing `seq`, after
    /// [`OpsState::resume_market_data`] restored the history exactly: the recovered books
    /// are the ones the depth updates up to the restored `seq` describe.
    pub fn set_books_from_orders(&self, orders: &[tachyon_engine::OrderView]) {
        self.shared.core().md.set_books_from_orders(orders);
    }

    /// Applies released events as the consumer thread does (for tests and tools that
    /// have events but no pipeline).
    pub fn feed(&self, events: &[OutEvent]) {
        let mut core = self.shared.core();
        self.shared.apply_all(&mut core, events);
    }

    /// Convenience for [`OpsState::feed`]: one command's events, stamped `ts_ns`.
    pub fn feed_command(&self, cmd_seq: u64, ts_ns: u64, events: &[Event]) {
        let n = events.len();
        let out: Vec<OutEvent> = events
            .iter()
            .enumerate()
            .map(|(i, e)| OutEvent {
                cmd_seq,
                ts_ns,
                event: *e,
                last: i + 1 == n,
                origin: 0,
            })
            .collect();
        self.feed(&out);
    }

    /// Starts the market-data consumer thread (`tachyon-md`): it polls `events` until the
    /// pipeline shuts down, applying each released event. It never blocks on anything but
    /// the state lock (held by readers only to copy small snapshots); while idle it backs
    /// off (spin, yield, then sleeps of at most 200 µs) so it costs no core.
    pub fn spawn_consumer(
        &self,
        mut events: ReleasedEvents,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let shared = self.shared.clone();
        shared.consumer.store(CONSUMER_RUNNING, Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name("tachyon-md".into())
            .spawn(move || {
                let mut idle: u32 = 0;
                let mut saver = lock(&shared.saver).take();
                loop {
                    let mut guard: Option<MutexGuard<'_, Core>> = None;
                    let r = events.poll(|ev| {
                        let core = guard.get_or_insert_with(|| shared.core());
                        shared.apply_guarded(core, ev);
                        if let Some(s) = &mut saver {
                            s.saw(ev);
                        }
                    });
                    if let Some(mut core) = guard {
                        shared.flush(&mut core);
                        if let Some(s) = saver.as_mut().filter(|s| s.due()) {
                            if !shared.md_failed.load(Ordering::Acquire) {
                                let at = s.applied_through();
                                s.encode(&core.md, at);
                            }
                        }
                    }
                    // The file is written without the lock (readers are not held up).
                    if let Some(s) = &mut saver {
                        s.write_pending();
                    }
                    match r {
                        PollResult::Shutdown => {
                            if let Some(s) = &mut saver {
                                shared.save_final(s);
                            }
                            break;
                        }
                        PollResult::Released(0) => {
                            idle = idle.saturating_add(1);
                            back_off(idle);
                        }
                        PollResult::Released(_) => idle = 0,
                    }
                }
                shared.consumer.store(CONSUMER_SHUTDOWN, Ordering::Release);
            });
        if spawned.is_err() {
            self.shared.consumer.store(CONSUMER_NONE, Ordering::Release);
        }
        spawned
    }
}

/// Idle back-off of the consumer: spin, then yield, then sleep 50 µs, 100 µs, 200 µs,
/// and after ~100 ms without events 1 ms (a release-to-WebSocket delay of at most ~0.2 ms
/// while traffic flows, ~1 ms for the first event after a quiet spell). Measured on the
/// idle `tachyon` binary on this VM: 200 µs sleeps forever (5,000 wake-ups a second) cost
/// ~8 % of a core; with the 1 ms stage, ~2 %.
fn back_off(idle: u32) {
    match idle {
        0..=63 => std::hint::spin_loop(),
        64..=127 => std::thread::yield_now(),
        n => {
            let us = if n >= 640 {
                1_000
            } else {
                50u64 << ((n - 128) / 16).min(2)
            };
            std::thread::sleep(Duration::from_micros(us));
        }
    }
}
