//! Start-up recovery and offline replay: newest valid snapshot + the journal after it.

use std::path::Path;

use tachyon_engine::{decode_command, Engine, EngineConfig, EventCounter};
use tachyon_journal::{JournalError, JournalOptions, JournalWriter};

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
        let latest = tachyon_journal::latest_snapshot(&snap_dir)
            .map_err(|e| PipelineError::Journal(e.to_string()))?;
        notes.extend(
            latest
                .skipped
                .iter()
                .map(|e| format!("skipped snapshot: {e}")),
        );
        latest.snapshot
    } else {
        None
    };
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
        engine.apply(&cmd, &mut sink);
        expected += 1;
        Ok(())
    })
    .map_err(|e| match e {
        ReplayError::Journal(e) => PipelineError::Journal(e.to_string()),
        ReplayError::Other(m) => PipelineError::Journal(m),
    })?;
    Ok((engine, snapshot_seq, expected - from, expected - 1))
}

pub(crate) fn recover(
    cfg: EngineConfig,
    opts: &PipelineOptions,
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
    let (engine, snapshot_seq, replayed, last) = rebuild(cfg, dir, true, &mut notes)?;
    let journal_last = writer.last_seq().unwrap_or(0);
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
