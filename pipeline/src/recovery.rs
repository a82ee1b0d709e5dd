//! Start-up recovery and offline replay: newest valid snapshot + the journal after it.
//!
//! With a [`RecoveryTap`] (a reader that keeps state derived from events and saves it,
//! like market data), recovery starts from the newest valid snapshot at or below the
//! tap's newest usable saved state instead, and hands the tap the events of every
//! command after that state, so the derived state continues exactly where it was.

use std::path::Path;

use tachyon_engine::{decode_command, Engine, EngineConfig, Event, EventCounter, EventSink};
use tachyon_journal::{JournalError, JournalOptions, JournalWriter, Snapshot};

use crate::pipeline::PipelineOptions;
use crate::PipelineError;

/// Name of the file recording which engine configuration a journal belongs to.
const FINGERPRINT_FILE: &str = "engine.fingerprint";

enum ReplayError {
    Journal(JournalError),
    Other(String),
}

impl From<JournalError> for ReplayError {
    fn from(e: JournalError) -> Self {
        ReplayError::Journal(e)
    }
}

pub(crate) struct Recovered {
    pub engine: Engine,
    pub writer: JournalWriter,
    pub last_seq: u64,
    pub snapshot_seq: Option<u64>,
    pub replayed: u64,
    pub notes: Vec<String>,
    pub tap: Option<TapOutcome>,
}

/// A consumer of the outbound ring that keeps state derived from the events (market data's
/// tape, klines and ticker) and saves it now and then, tagged with the command it ends
/// at. At start-up recovery resumes one of its saved states and feeds it the events of
/// every later command of the journal, exactly as the live outbound ring delivered them
/// (same events, same command timestamps), so the state continues as if the process had
/// never stopped. The pipeline knows nothing of what the state is.
pub trait RecoveryTap {
    /// The commands the saved states end at, in any order: the state saved at `s`
    /// reflects the events of every command up to and including `s` and of none after.
    /// `0` is an empty state (before the first command), if the tap can start from one.
    fn saved_states(&self) -> Vec<u64>;

    /// Recovery resumes the state saved at `seq` (one of [`RecoveryTap::saved_states`]):
    /// the events of every later command in the journal follow through
    /// [`RecoveryTap::event`], in order. Called at most once, before any event. The
    /// state is brought up to date only if recovery then reports
    /// [`TapOutcome::Resumed`].
    fn resume(&mut self, seq: u64);

    /// One event of command `cmd_seq`, stamped `ts_ns` (the command's time), as the
    /// outbound ring would have carried it.
    fn event(&mut self, cmd_seq: u64, ts_ns: u64, event: &Event);
}

/// What recovery did for a [`RecoveryTap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TapOutcome {
    /// The tap resumed its state saved at `from_seq` and got the events of the
    /// `commands` commands after it (up to the journal's end), `events` in all.
    Resumed {
        /// The saved state it resumed.
        from_seq: u64,
        /// Commands replayed after it.
        commands: u64,
        /// Events handed to the tap.
        events: u64,
    },
    /// No saved state can be brought up to date exactly from the snapshots and the
    /// journal on disk; `why` names what is missing for each (or why replaying for the
    /// one chosen failed: then the tap was resumed and got some events, and must discard
    /// that state). The engine was recovered as without a tap.
    Unavailable {
        /// What is missing, per saved state.
        why: String,
    },
}

/// Forwards replayed events to the tap.
struct TapSink<'a> {
    tap: &'a mut dyn RecoveryTap,
    cmd_seq: u64,
    ts_ns: u64,
    events: u64,
}

impl EventSink for TapSink<'_> {
    fn emit(&mut self, event: Event) {
        self.events += 1;
        self.tap.event(self.cmd_seq, self.ts_ns, &event);
    }
}

/// Refuses a journal written under another engine configuration; records the
/// fingerprint on first use.
fn check_fingerprint(dir: &Path, cfg: &EngineConfig, create: bool) -> Result<(), PipelineError> {
    let path = dir.join(FINGERPRINT_FILE);
    let want = format!("{:016x}\n", cfg.fingerprint());
    match std::fs::read_to_string(&path) {
        Ok(have) if have == want => Ok(()),
        Ok(have) => Err(PipelineError::Config(format!(
            "{}: journal was written under engine configuration {} but the current one is {}; \
             instruments, assets or limits changed (start on a new journal_dir or restore the old config)",
            path.display(),
            have.trim(),
            want.trim()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let tmp = dir.join(format!("{FINGERPRINT_FILE}.tmp"));
            std::fs::write(&tmp, &want)
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| PipelineError::Io(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PipelineError::Io(format!("{}: {e}", path.display()))),
    }
}

/// Restores the newest valid snapshot (if any) and replays the journal after it,
/// read-only. Returns the engine, the snapshot used, records replayed and notes.
fn rebuild(
    cfg: EngineConfig,
    dir: &Path,
    use_snapshot: bool,
    notes: &mut Vec<String>,
) -> Result<(Engine, Option<u64>, u64, u64), PipelineError> {
    let snap_dir = dir.join("snapshots");
    let snapshot = if use_snapshot && snap_dir.exists() {
        newest_snapshot(&snap_dir, u64::MAX, notes)?
    } else {
        None
    };
    replay_from(cfg, dir, snapshot, None)
}

/// The newest valid snapshot at or below `max_seq`; corrupt ones passed over are noted
/// (once each).
fn newest_snapshot(
    snap_dir: &Path,
    max_seq: u64,
    notes: &mut Vec<String>,
) -> Result<Option<Snapshot>, PipelineError> {
    let latest = tachyon_journal::latest_snapshot_at_most(snap_dir, max_seq)
        .map_err(|e| PipelineError::Journal(e.to_string()))?;
    for e in &latest.skipped {
        let note = format!("skipped snapshot: {e}");
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    Ok(latest.snapshot)
}

/// Restores `snapshot` (or starts empty) and replays the journal after it; with a tap,
/// the events of commands after `tap.0` go to the tap. Returns the engine, the snapshot
/// used, records replayed and the last sequence applied.
fn replay_from(
    cfg: EngineConfig,
    dir: &Path,
    snapshot: Option<Snapshot>,
    mut tap: Option<(u64, &mut dyn RecoveryTap, &mut u64)>,
) -> Result<(Engine, Option<u64>, u64, u64), PipelineError> {
    let (mut engine, snapshot_seq) = match snapshot {
        Some(snap) => {
            let e = Engine::restore(cfg, &snap.payload)
                .map_err(|e| PipelineError::Journal(format!("{}: {e}", snap.file.display())))?;
            (e, Some(snap.seq))
        }
        None => (
            Engine::new(cfg).map_err(|e| PipelineError::Config(e.to_string()))?,
            None,
        ),
    };
    let from = snapshot_seq.unwrap_or(0) + 1;
    let mut expected = from;
    let mut sink = EventCounter::default();
    tachyon_journal::for_each_record::<ReplayError, _>(dir, from.., |seq, payload| {
        if seq != expected {
            return Err(ReplayError::Other(format!(
                "journal gap: expected sequence {expected}, found {seq}"
            )));
        }
        let cmd = decode_command(payload)
            .map_err(|e| ReplayError::Other(format!("record {seq}: {e}")))?;
        match &mut tap {
            Some((after, tap, events)) if seq > *after => {
                let mut s = TapSink {
                    tap: &mut **tap,
                    cmd_seq: seq,
                    ts_ns: cmd.ts_ns,
                    events: 0,
                };
                engine.apply(&cmd, &mut s);
                **events += s.events;
            }
            _ => engine.apply(&cmd, &mut sink),
        }
        expected += 1;
        Ok(())
    })
    .map_err(|e| match e {
        ReplayError::Journal(e) => PipelineError::Journal(e.to_string()),
        ReplayError::Other(m) => PipelineError::Journal(m),
    })?;
    Ok((engine, snapshot_seq, expected - from, expected - 1))
}

/// Picks the newest saved state of the tap that the snapshots and the journal can bring up
/// to date exactly, and the snapshot to start from (the newest valid one at or below it;
/// none = replay from the first command). `Err` lists why each state cannot be used.
fn plan_tap(
    dir: &Path,
    saved: Vec<u64>,
    first: Option<u64>,
    last: u64,
    notes: &mut Vec<String>,
) -> Result<Result<(u64, Option<Snapshot>), String>, PipelineError> {
    let snap_dir = dir.join("snapshots");
    let mut saved = saved;
    saved.sort_unstable_by(|a, b| b.cmp(a));
    saved.dedup();
    let mut why = Vec::new();
    for at in saved {
        if at > last {
            why.push(format!(
                "state at {at} is ahead of the journal, which ends at {last}"
            ));
            continue;
        }
        let snapshot = newest_snapshot(&snap_dir, at, notes)?;
        let from = snapshot.as_ref().map_or(1, |s| s.seq + 1);
        // Records from..=last must all be there (none are needed if from > last).
        if from > last || first.is_none_or(|f| f <= from) {
            return Ok(Ok((at, snapshot)));
        }
        let first = first.unwrap_or(0);
        why.push(match &snapshot {
            Some(s) => format!(
                "state at {at}: the newest valid snapshot at or below it is at {}, but the \
                 journal starts at {first}",
                s.seq
            ),
            None => format!(
                "state at {at}: no valid snapshot at or below it, and the journal starts at \
                 {first}, not 1"
            ),
        });
    }
    if why.is_empty() {
        why.push("no saved state".into());
    }
    Ok(Err(why.join("; ")))
}

pub(crate) fn recover(
    cfg: EngineConfig,
    opts: &PipelineOptions,
    tap: Option<&mut dyn RecoveryTap>,
) -> Result<Recovered, PipelineError> {
    let dir = &opts.journal_dir;
    let (writer, report) = JournalWriter::open(
        dir,
        JournalOptions {
            segment_size_bytes: opts.segment_size_bytes,
            fsync: opts.fsync,
            ..JournalOptions::default()
        },
    )
    .map_err(|e| PipelineError::Journal(e.to_string()))?;
    check_fingerprint(dir, &cfg, true)?;
    let mut notes: Vec<String> = Vec::new();
    if let Some(t) = &report.truncated {
        notes.push(format!(
            "torn tail truncated: {} at offset {} ({} bytes dropped: {})",
            t.file.display(),
            t.offset,
            t.dropped_bytes,
            t.detail
        ));
    }
    let journal_last = writer.last_seq().unwrap_or(0);
    let (engine, snapshot_seq, replayed, last, tap) = match tap {
        None => {
            let (e, s, r, l) = rebuild(cfg, dir, true, &mut notes)?;
            (e, s, r, l, None)
        }
        Some(tap) => {
            let saved = tap.saved_states();
            match plan_tap(dir, saved, report.first_seq, journal_last, &mut notes)? {
                Ok((at, snapshot)) => {
                    tap.resume(at);
                    let mut events = 0u64;
                    let tapped =
                        replay_from(cfg.clone(), dir, snapshot, Some((at, tap, &mut events)));
                    match tapped {
                        Ok((e, s, r, l)) => {
                            let outcome = TapOutcome::Resumed {
                                from_seq: at,
                                commands: l.saturating_sub(at),
                                events,
                            };
                            (e, s, r, l, Some(outcome))
                        }
                        // The older snapshot or journal stretch the tap needs is unusable
                        // (what the newest snapshot covers is never read without a tap):
                        // recover as without one; the tap's state is to be discarded.
                        Err(err) => {
                            let why = format!("replaying from its state at {at} failed: {err}");
                            let (e, s, r, l) = rebuild(cfg, dir, true, &mut notes)?;
                            (e, s, r, l, Some(TapOutcome::Unavailable { why }))
                        }
                    }
                }
                Err(why) => {
                    let (e, s, r, l) = rebuild(cfg, dir, true, &mut notes)?;
                    (e, s, r, l, Some(TapOutcome::Unavailable { why }))
                }
            }
        }
    };
    if last != journal_last {
        return Err(PipelineError::Journal(format!(
            "recovery reached sequence {last} but the journal ends at {journal_last} \
             (snapshot {snapshot_seq:?} is ahead of the journal, or segments are missing)"
        )));
    }
    Ok(Recovered {
        engine,
        writer,
        last_seq: last,
        snapshot_seq,
        replayed,
        notes,
        tap,
    })
}

/// Result of an offline replay.
#[derive(Clone, Debug)]
pub struct ReplayReport {
    /// Snapshot the replay started from (`None` = from the first record).
    pub snapshot_seq: Option<u64>,
    /// Records applied.
    pub replayed: u64,
    /// Last sequence applied.
    pub last_seq: u64,
    /// State hash at the end.
    pub state_hash: u64,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

/// Rebuilds the state offline from a journal directory without modifying it.
/// `use_snapshot = false` replays every record from sequence 1 (fails if pruned).
pub fn replay(
    cfg: EngineConfig,
    dir: &Path,
    use_snapshot: bool,
) -> Result<(Engine, ReplayReport), PipelineError> {
    if !dir.is_dir() {
        return Err(PipelineError::Io(format!(
            "{}: not a journal directory",
            dir.display()
        )));
    }
    check_fingerprint(dir, &cfg, false)?;
    let mut notes = Vec::new();
    let (engine, snapshot_seq, replayed, last_seq) = rebuild(cfg, dir, use_snapshot, &mut notes)?;
    let state_hash = engine.state_hash();
    Ok((
        engine,
        ReplayReport {
            snapshot_seq,
            replayed,
            last_seq,
            state_hash,
            notes,
        },
    ))
}
