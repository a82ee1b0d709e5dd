//! The persister as a journal follower: its own thread, never in the matcher's way.
//!
//! Design choice (the issue leaves it open): the persister does not read the outbound ring
//! at all. It follows the journal — the durable, ordered record of every command — and
//! re-derives the events by applying each command to its own replica of the engine. The
//! matcher therefore never waits for PostgreSQL, however slow or absent it is; a follower
//! that fell behind (database down, restarted, slow) catches up from the same code path;
//! and it only ever stores what is durable (it reads up to the pipeline's `durable_seq`).
//! The price is a second application of every command on another thread.
//!
//! Start-up and reconnection: read the checkpoint `C`, rebuild the replica at `C` (the
//! newest snapshot at or below `C`, else from sequence 1) and follow from `C + 1`. A failed
//! batch or a lost connection drops the connection and the replica and starts over after a
//! back-off; `Persister::write_batch` skips what is already stored, so nothing is written
//! twice. With `engine.prune_segments` the journal must still hold the records after the
//! checkpoint; a follower further behind than that reports `MissingRecords` and waits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tachyon_engine::{decode_command, Engine, EngineConfig, Event, EventCounter, EventSink};
use tachyon_journal::JournalError;
use tachyon_pipeline::OutEvent;

use crate::{Persister, Units};

/// How the follower works.
#[derive(Clone, Debug)]
pub struct FollowerOptions {
    /// The pipeline's journal directory (snapshots in its `snapshots/` subdirectory).
    pub journal_dir: PathBuf,
    /// Commands per database transaction at most.
    pub batch_commands: u64,
    /// Sleep when caught up.
    pub idle_poll: Duration,
    /// Longest back-off between reconnection attempts.
    pub max_backoff: Duration,
    /// Yield to the matcher: while the journal grew within this period (traffic is
    /// flowing) and the lag is below `max_lag_commands`, wait instead of writing. On a
    /// machine with few cores this keeps bursts at full speed and persists in the gaps.
    /// `None` = always write as soon as possible.
    pub yield_to_traffic: Option<Duration>,
    /// Lag (commands) beyond which the follower writes even while traffic flows.
    pub max_lag_commands: u64,
}

/// What the follower reports (for the ops plane and tests).
#[derive(Debug, Default)]
pub struct FollowerStats {
    /// Last engine sequence stored in PostgreSQL.
    pub checkpoint: AtomicU64,
    /// Last engine sequence the follower has processed (stored, or produced no events).
    pub applied: AtomicU64,
    /// Durable sequence seen at the last check.
    pub durable: AtomicU64,
    /// Connected to PostgreSQL right now.
    pub connected: AtomicBool,
    /// Unix ns of the last time the follower was caught up with the journal.
    pub caught_up_at_ns: AtomicU64,
    /// Last error, for the operator.
    pub last_error: Mutex<Option<String>>,
}

impl FollowerStats {
    /// Commands durable in the journal but not yet processed.
    pub fn lag_commands(&self) -> u64 {
        self.durable
            .load(Ordering::Acquire)
            .saturating_sub(self.applied.load(Ordering::Acquire))
    }
}

/// A running follower thread.
pub struct Follower {
    stop: Arc<AtomicBool>,
    stats: Arc<FollowerStats>,
    handle: Option<JoinHandle<()>>,
}

impl Follower {
    /// Starts following. `durable_seq` is the pipeline's `PipelineStats::durable_seq`.
    pub fn spawn(
        engine_cfg: EngineConfig,
        units: Units,
        pg: postgres::Config,
        opts: FollowerOptions,
        durable_seq: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> std::io::Result<Follower> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(FollowerStats::default());
        let (s, st) = (stop.clone(), stats.clone());
        let handle = std::thread::Builder::new()
            .name("tachyon-persist".into())
            .spawn(move || run(engine_cfg, units, pg, opts, durable_seq, s, st))?;
        Ok(Follower {
            stop,
            stats,
            handle: Some(handle),
        })
    }

    /// Shared statistics.
    pub fn stats(&self) -> Arc<FollowerStats> {
        self.stats.clone()
    }

    /// Waits until everything durable up to `seq` is processed, or the timeout passes.
    pub fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let t = Instant::now();
        while self.stats.applied.load(Ordering::Acquire) < seq {
            if t.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Stops the thread (an unfinished batch is simply not stored: it is re-derived next
    /// time) and joins it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn note(stats: &FollowerStats, e: impl std::fmt::Display) {
    let mut slot = stats.last_error.lock().unwrap_or_else(|p| p.into_inner());
    *slot = Some(e.to_string());
}

/// Collects one command's events as `OutEvent`s.
struct Collect<'a> {
    out: &'a mut Vec<OutEvent>,
    cmd_seq: u64,
    ts_ns: u64,
}

impl EventSink for Collect<'_> {
    fn emit(&mut self, event: Event) {
        self.out.push(OutEvent {
            cmd_seq: self.cmd_seq,
            ts_ns: self.ts_ns,
            event,
            last: false,
            origin: 0,
        });
    }
}

enum ReadError {
    Journal(JournalError),
    Other(String),
}

impl From<JournalError> for ReadError {
    fn from(e: JournalError) -> Self {
        ReadError::Journal(e)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Journal(e) => write!(f, "{e}"),
            ReadError::Other(m) => f.write_str(m),
        }
    }
}

/// The replica engine at sequence `checkpoint`.
fn rebuild(cfg: &EngineConfig, dir: &std::path::Path, checkpoint: u64) -> Result<Engine, String> {
    let snap_dir = dir.join("snapshots");
    let snap = if snap_dir.exists() {
        tachyon_journal::latest_snapshot(&snap_dir)
            .map_err(|e| e.to_string())?
            .snapshot
    } else {
        None
    };
    let (mut engine, from) = match snap {
        Some(s) if s.seq <= checkpoint => (
            Engine::restore(cfg.clone(), &s.payload).map_err(|e| e.to_string())?,
            s.seq + 1,
        ),
        _ => (Engine::new(cfg.clone()).map_err(|e| e.to_string())?, 1),
    };
    if from <= checkpoint {
        let mut sink = EventCounter::default();
        tachyon_journal::for_each_record::<ReadError, _>(dir, from..=checkpoint, |seq, payload| {
            let cmd = decode_command(payload)
                .map_err(|e| ReadError::Other(format!("record {seq}: {e}")))?;
            engine.apply(&cmd, &mut sink);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(engine)
}

fn run(
    cfg: EngineConfig,
    units: Units,
    pg: postgres::Config,
    opts: FollowerOptions,
    durable_seq: Arc<dyn Fn() -> u64 + Send + Sync>,
    stop: Arc<AtomicBool>,
    stats: Arc<FollowerStats>,
) {
    lower_priority();
    let mut backoff = Duration::from_millis(10);
    let mut events: Vec<OutEvent> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        stats.durable.store(durable_seq(), Ordering::Release);
        let mut p = match Persister::connect(&pg, units.clone()) {
            Ok(p) => p,
            Err(e) => {
                stats.connected.store(false, Ordering::Release);
                note(&stats, e);
                sleep_unless_stopped(&stop, backoff);
                backoff = (backoff * 2).min(opts.max_backoff);
                continue;
            }
        };
        stats.connected.store(true, Ordering::Release);
        let checkpoint = p.checkpoint();
        stats.checkpoint.store(checkpoint, Ordering::Release);
        let mut engine = match rebuild(&cfg, &opts.journal_dir, checkpoint) {
            Ok(e) => e,
            Err(e) => {
                note(
                    &stats,
                    format!("rebuilding the replica at {checkpoint}: {e}"),
                );
                sleep_unless_stopped(&stop, opts.max_backoff);
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let mut next = checkpoint + 1;
        stats.applied.store(checkpoint, Ordering::Release);
        let (mut seen_durable, mut changed_at) = (0u64, Instant::now());
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let durable = durable_seq();
            stats.durable.store(durable, Ordering::Release);
            if durable != seen_durable {
                seen_durable = durable;
                changed_at = Instant::now();
            }
            if let Some(quiet) = opts.yield_to_traffic {
                let lag = durable.saturating_sub(next.saturating_sub(1));
                if changed_at.elapsed() < quiet && lag < opts.max_lag_commands {
                    sleep_unless_stopped(&stop, opts.idle_poll);
                    continue;
                }
            }
            if next > durable {
                stats.caught_up_at_ns.store(now_ns(), Ordering::Release);
                sleep_unless_stopped(&stop, opts.idle_poll);
                continue;
            }
            let upto = durable.min(next + opts.batch_commands - 1);
            events.clear();
            let read = tachyon_journal::for_each_record::<ReadError, _>(
                &opts.journal_dir,
                next..=upto,
                |seq, payload| {
                    let cmd = decode_command(payload)
                        .map_err(|e| ReadError::Other(format!("record {seq}: {e}")))?;
                    let before = events.len();
                    engine.apply(
                        &cmd,
                        &mut Collect {
                            out: &mut events,
                            cmd_seq: seq,
                            ts_ns: cmd.ts_ns,
                        },
                    );
                    if events.len() > before {
                        events.last_mut().expect("non-empty").last = true;
                    }
                    Ok(())
                },
            );
            match read {
                Ok(0) => {
                    // Durable but not yet readable (the writer's buffer reached the page
                    // cache after our check): try again shortly.
                    sleep_unless_stopped(&stop, opts.idle_poll);
                    continue;
                }
                Ok(n) => {
                    if let Err(e) = p.write_batch(&events) {
                        note(&stats, &e);
                        stats.connected.store(false, Ordering::Release);
                        break; // reconnect, rebuild from the stored checkpoint
                    }
                    stats.checkpoint.store(p.checkpoint(), Ordering::Release);
                    next += n;
                    stats.applied.store(next - 1, Ordering::Release);
                }
                Err(e) => {
                    note(&stats, format!("reading the journal from {next}: {e}"));
                    sleep_unless_stopped(&stop, opts.max_backoff);
                    break;
                }
            }
        }
    }
}

/// The follower only uses CPU the matcher leaves: nice 10 on this thread (CFS weight 110
/// against 1,024), so on a machine with few cores a burst of traffic slows the
/// persister, not the exchange. (Best effort: ignored where not permitted.)
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread with integer arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
