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
    /// Yield to the matcher: while a burst of traffic is under way (the journal grew
    /// faster than `burst_commands` per this period, within the last such period) and the
    /// lag is below `max_lag_commands`, wait instead of writing. On a machine with few
    /// cores this keeps bursts at full speed and persists in the gaps; slower traffic is
    /// persisted as it comes. `None` = always write as soon as possible.
    pub yield_to_traffic: Option<Duration>,
    /// Journal growth per `yield_to_traffic` period that counts as a burst (0 = any).
    pub burst_commands: u64,
    /// Lag (commands) beyond which the follower writes even while traffic flows.
    pub max_lag_commands: u64,
    /// How the follower thread yields the CPU to the exchange's threads.
    pub priority: FollowerPriority,
    /// PostgreSQL connections writing in parallel (1 to 3, see
    /// [`Persister::connect_parallel`]).
    pub connections: usize,
}

/// CPU priority of the follower thread (Linux; best effort elsewhere or when refused).
/// The PostgreSQL backend it feeds is a separate process and keeps its own priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FollowerPriority {
    /// `nice 10` (CFS weight 110 against 1,024 for the matcher): slowed, never starved.
    #[default]
    Nice10,
    /// `SCHED_IDLE`: runs only on CPU time no other thread of the machine wants. Protects
    /// the matcher best, but on a machine kept busy by other work the follower (and so the
    /// database) may fall arbitrarily far behind.
    Idle,
    /// Unchanged (the spawning thread's priority).
    Normal,
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
    /// Unix ns of the latest moment at which everything then durable is now processed:
    /// the data in PostgreSQL is at most `now - covered_at` old (see
    /// [`lag_seconds`](FollowerStats::lag_seconds)). Starts at the follower's spawn time.
    pub covered_at_ns: AtomicU64,
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

    /// How far behind the journal the database is, in seconds: 0 when nothing durable is
    /// waiting, else the time since the latest moment at which everything then durable had
    /// been processed (an upper bound of the age of the oldest command not yet stored,
    /// tight to about one batch). Counted from the follower's start for a follower that
    /// started behind (the time it was not running is not known to it).
    pub fn lag_seconds(&self) -> f64 {
        if self.lag_commands() == 0 {
            return 0.0;
        }
        let covered = self.covered_at_ns.load(Ordering::Acquire);
        now_ns().saturating_sub(covered) as f64 / 1e9
    }
}

/// Recent (durable sequence, wall time) observations, to turn "processed up to seq S" into
/// "everything durable at time T is stored".
struct DurableSamples(std::collections::VecDeque<(u64, u64)>);

impl DurableSamples {
    /// Records that `durable` was the durable sequence at `at_ns`.
    fn observe(&mut self, durable: u64, at_ns: u64) {
        match self.0.back_mut() {
            Some(last) if last.0 == durable => {}
            _ => {
                if self.0.len() == 4096 {
                    // Keep the bound conservative: forget the newest-but-one, not the oldest.
                    let newest = self.0.pop_back();
                    self.0.pop_back();
                    self.0.extend(newest);
                }
                self.0.push_back((durable, at_ns));
            }
        }
    }

    /// Everything up to `applied` is processed: the latest observation it covers.
    fn covered(&mut self, applied: u64) -> Option<u64> {
        let mut t = None;
        while let Some(&(d, at)) = self.0.front() {
            if d > applied {
                break;
            }
            t = Some(at);
            // Keep the newest covered sample: it still answers the next call.
            if self.0.len() == 1 || self.0[1].0 > applied {
                break;
            }
            self.0.pop_front();
        }
        t
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
        stats.covered_at_ns.store(now_ns(), Ordering::Release);
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
    set_priority(opts.priority);
    let mut samples = DurableSamples(Default::default());
    let mut backoff = Duration::from_millis(10);
    let mut events: Vec<OutEvent> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        stats.durable.store(durable_seq(), Ordering::Release);
        let mut p = match Persister::connect_parallel(&pg, units.clone(), opts.connections) {
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
        let mut window = (Instant::now(), durable_seq());
        let mut burst_at: Option<Instant> = None;
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let durable = durable_seq();
            stats.durable.store(durable, Ordering::Release);
            samples.observe(durable, now_ns());
            if let Some(t) = samples.covered(next - 1) {
                stats.covered_at_ns.store(t, Ordering::Release);
            }
            if let Some(quiet) = opts.yield_to_traffic {
                // The journal's growth rate over the last tenth of the period at least (or
                // since the last look, after a batch): faster than burst_commands per period
                // = burst. New growth seen over less than that is not judged yet: wait.
                let now = Instant::now();
                let (span, min_span) = (now - window.0, quiet / 10);
                let grew = durable.saturating_sub(window.1) as u128;
                if grew > 0
                    && grew * quiet.as_nanos()
                        > opts.burst_commands as u128 * span.max(min_span).as_nanos()
                {
                    burst_at = Some(now);
                }
                let undecided = grew > 0 && span < min_span;
                if span >= min_span {
                    window = (now, durable);
                }
                let lag = durable.saturating_sub(next.saturating_sub(1));
                let burst = burst_at.is_some_and(|t| now - t < quiet);
                if (burst || undecided) && lag < opts.max_lag_commands {
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
                    if let Some(t) = samples.covered(next - 1) {
                        stats.covered_at_ns.store(t, Ordering::Release);
                    }
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

/// The follower only uses CPU the matcher leaves: nice 10 (CFS weight 110 against 1,024)
/// or `SCHED_IDLE` on this thread, so on a machine with few cores a burst of traffic slows
/// the persister, not the exchange. (Best effort: ignored where not permitted.)
fn set_priority(p: FollowerPriority) {
    match p {
        FollowerPriority::Normal => {}
        // SAFETY: plain syscalls on the calling thread with integer arguments.
        FollowerPriority::Nice10 => unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10);
        },
        #[cfg(target_os = "linux")]
        // SAFETY: `sched_setscheduler` on the calling thread (pid 0) with a valid, fully
        // initialised `sched_param` that outlives the call; SCHED_IDLE requires priority 0.
        FollowerPriority::Idle => unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        },
        #[cfg(not(target_os = "linux"))]
        FollowerPriority::Idle => set_priority(FollowerPriority::Nice10),
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

#[cfg(test)]
mod tests {
    use super::DurableSamples;

    #[test]
    fn covered_is_the_latest_observation_the_processed_sequence_includes() {
        let mut s = DurableSamples(Default::default());
        s.observe(10, 100);
        s.observe(10, 150); // unchanged: the first time it was seen counts
        s.observe(20, 200);
        s.observe(30, 300);
        assert_eq!(s.covered(5), None);
        assert_eq!(s.covered(10), Some(100));
        assert_eq!(s.covered(25), Some(200));
        assert_eq!(
            s.covered(25),
            Some(200),
            "asking again gives the same answer"
        );
        assert_eq!(s.covered(30), Some(300));
        s.observe(40, 400);
        assert_eq!(s.covered(35), Some(300));
        // Bounded: old observations are merged, never making the bound optimistic.
        for i in 0..10_000u64 {
            s.observe(100 + i, 1_000 + i);
        }
        assert!(s.0.len() <= 4096);
        assert_eq!(s.covered(10_099), Some(10_999));
    }
}
