//! Recovery with a `RecoveryTap` (how market data survives a restart): the engine starts
//! from the newest valid snapshot at or below the tap's newest usable saved state, and the
//! tap gets exactly the events — same commands, same timestamps, same order — that the
//! live outbound ring carried for every command after that state. When no saved state can
//! be brought up to date (journal pruned, snapshot missing), the tap gets nothing, the
//! outcome says why, and the engine recovers as without a tap.

#[path = "../../engine/tests/gen/mod.rs"]
mod gen;

use std::path::{Path, PathBuf};

use tachyon_engine::*;
use tachyon_pipeline::*;

/// Snapshots written into the prepared journal directory.
const SNAPSHOTS: [u64; 2] = [1_000, 2_000];

/// A journal of genesis + a random flow, with engine snapshots at [`SNAPSHOTS`], and the
/// events each command produced (index = seq - 1).
struct Prepared {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    events: Vec<(u64, Vec<Event>)>,
    last: u64,
    hash: u64,
}

fn prepare() -> Prepared {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (_, mut cmds) = gen::funded_engine();
    let mut rng = gen::Rng(17);
    let mut ts = 1_700_000_000_000_000_000u64;
    let first_id = 1;
    cmds.extend(gen::stream(&mut rng, &mut ts, first_id, 3_000));
    let (mut w, _) = tachyon_journal::JournalWriter::open(
        &dir,
        tachyon_journal::JournalOptions {
            // Many small segments, so pruning leaves a journal starting mid-way.
            segment_size_bytes: 16 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    let mut engine = Engine::new(gen::config()).unwrap();
    let mut buf = [0u8; MAX_COMMAND_LEN];
    let mut events = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        let seq = i as u64 + 1;
        let n = encode_command(c, &mut buf);
        w.append(seq, &buf[..n]).unwrap();
        if seq.is_multiple_of(50) {
            w.commit().unwrap(); // segments rotate between commits
        }
        let mut evs = Vec::new();
        engine.apply(c, &mut evs);
        events.push((c.ts_ns, evs));
        if SNAPSHOTS.contains(&seq) {
            let mut bytes = Vec::new();
            engine.snapshot(&mut bytes);
            tachyon_journal::write_snapshot(&dir.join("snapshots"), seq, &bytes).unwrap();
        }
    }
    w.commit().unwrap();
    drop(w);
    let segments = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count();
    assert!(segments > 10, "{segments} segments");
    let trades = events
        .iter()
        .flat_map(|(_, e)| e)
        .filter(|e| matches!(e, Event::Trade(_)))
        .count();
    assert!(trades > 100, "the flow must trade ({trades} trades)");
    Prepared {
        _tmp: tmp,
        dir,
        last: cmds.len() as u64,
        events,
        hash: engine.state_hash(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn options(dir: &Path) -> PipelineOptions {
    PipelineOptions {
        inbound_ring_size: 1024,
        outbound_ring_size: 1024,
        mode: CoreMode::Shared,
        matcher_core: None,
        journal_core: None,
        journal_dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Os,
        segment_size_bytes: 16 << 10,
        snapshot_interval: 0,
        prune_segments: false,
        outbound_pollers: 1,
        tick_interval: None,
        journal_on_matcher: false,
    }
}

/// A tap that records what recovery did with it.
#[derive(Default)]
struct Recorder {
    saved: Vec<u64>,
    resumed: Option<u64>,
    got: Vec<(u64, u64, Event)>,
}

impl RecoveryTap for Recorder {
    fn saved_states(&self) -> Vec<u64> {
        self.saved.clone()
    }
    fn resume(&mut self, seq: u64) {
        assert!(self.resumed.is_none(), "resumed twice");
        assert!(self.saved.contains(&seq), "resumed {seq}, not offered");
        self.resumed = Some(seq);
    }
    fn event(&mut self, cmd_seq: u64, ts_ns: u64, event: &Event) {
        assert!(self.resumed.is_some(), "event before resume");
        self.got.push((cmd_seq, ts_ns, *event));
    }
}

/// Starts a pipeline on a copy of the prepared journal (after `damage`) with a tap that
/// offers `saved`; returns the tap and what recovery reported.
fn recover(p: &Prepared, saved: &[u64], damage: impl Fn(&Path)) -> (Recorder, RecoveryInfo) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    copy_dir(&p.dir, &dir);
    damage(&dir);
    let mut tap = Recorder {
        saved: saved.to_vec(),
        ..Recorder::default()
    };
    let mut pipeline = Pipeline::start_with_tap(gen::config(), options(&dir), &mut tap).unwrap();
    let info = pipeline.recovery().clone();
    drop(pipeline.take_pollers());
    pipeline.shutdown().unwrap();
    assert_eq!(info.last_seq, p.last);
    assert_eq!(
        info.state_hash, p.hash,
        "recovery with a tap must reach the same engine state"
    );
    (tap, info)
}

/// The events the live ring carried for commands after `after`.
fn expected_after(p: &Prepared, after: u64) -> Vec<(u64, u64, Event)> {
    p.events
        .iter()
        .enumerate()
        .skip(after as usize)
        .flat_map(|(i, (ts, evs))| evs.iter().map(move |e| (i as u64 + 1, *ts, *e)))
        .collect()
}

fn corrupt_snapshot(dir: &Path, seq: u64) {
    let path = dir
        .join("snapshots")
        .join(format!("snapshot-{seq:020}.snap"));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
}

fn prune_to(dir: &Path, seq: u64) {
    let deleted = tachyon_journal::prune(dir, seq).unwrap();
    assert!(!deleted.is_empty());
}

fn none(_: &Path) {}

#[test]
fn tap_resumes_the_newest_usable_state_and_gets_exactly_the_later_events() {
    let p = prepare();
    let last = p.last;
    // (saved states offered, damage, state resumed, snapshot the engine started from)
    type Damage = fn(&Path);
    let cases: &[(&[u64], Damage, u64, Option<u64>)] = &[
        // Between snapshots: the one below it, events after the state only.
        (&[1_500, 700], none, 1_500, Some(1_000)),
        // Exactly at a snapshot.
        (&[2_000], none, 2_000, Some(2_000)),
        // At the journal's end (a clean shutdown's state): nothing to feed.
        (&[last, 2_000], none, last, Some(2_000)),
        // A state ahead of the journal (its tail was lost) is passed over.
        (&[last + 50, 1_200], none, 1_200, Some(1_000)),
        // Below every snapshot: replay from the first command.
        (&[600], none, 600, None),
        // An empty state (no saved state yet) with the whole journal: from scratch.
        (&[0], none, 0, None),
        // The snapshot below the state is corrupt: the next older one, here none.
        (&[1_500], |d| corrupt_snapshot(d, 1_000), 1_500, None),
        // Pruned up to the older snapshot: a state above it still works.
        (&[1_500], |d| prune_to(d, 1_000), 1_500, Some(1_000)),
        // Pruned: the newer state works, so the older one is not needed.
        (&[2_500, 300], |d| prune_to(d, 1_000), 2_500, Some(2_000)),
    ];
    for (i, (saved, damage, resumed, snapshot)) in cases.iter().enumerate() {
        let (tap, info) = recover(&p, saved, damage);
        assert_eq!(tap.resumed, Some(*resumed), "case {i}");
        assert_eq!(info.snapshot_seq, *snapshot, "case {i}");
        let want = expected_after(&p, *resumed);
        assert_eq!(tap.got.len(), want.len(), "case {i}: event count");
        assert!(
            tap.got == want,
            "case {i}: events differ from the live run's"
        );
        assert_eq!(
            info.tap,
            Some(TapOutcome::Resumed {
                from_seq: *resumed,
                commands: last - resumed,
                events: want.len() as u64,
            }),
            "case {i}"
        );
        assert_eq!(
            info.replayed,
            last - snapshot.unwrap_or(0),
            "case {i}: replayed from the snapshot"
        );
    }
}

#[test]
fn without_a_usable_state_the_tap_gets_nothing_and_the_engine_recovers_as_usual() {
    let p = prepare();
    type Damage = fn(&Path);
    let cases: &[(&[u64], Damage, &[&str])] = &[
        (&[], none, &["no saved state"]),
        // Pruned: a state below every kept snapshot needs the journal from 1.
        (
            &[900, 0],
            |d| prune_to(d, 1_000),
            &[
                "state at 900: no valid snapshot at or below it, and the journal starts at",
                "state at 0: no valid snapshot",
            ],
        ),
        // Pruned past the only snapshot below the state, which is corrupt anyway.
        (
            &[1_500],
            |d| {
                prune_to(d, 2_000);
                corrupt_snapshot(d, 1_000);
            },
            &["state at 1500: no valid snapshot at or below it"],
        ),
        (
            &[p.last + 1],
            none,
            &[&format!(
                "state at {} is ahead of the journal, which ends at {}",
                p.last + 1,
                p.last
            )],
        ),
    ];
    for (i, (saved, damage, reasons)) in cases.iter().enumerate() {
        let (tap, info) = recover(&p, saved, damage);
        assert_eq!(tap.resumed, None, "case {i}");
        assert!(tap.got.is_empty(), "case {i}");
        let Some(TapOutcome::Unavailable { why }) = &info.tap else {
            panic!("case {i}: {:?}", info.tap);
        };
        for r in *reasons {
            assert!(why.contains(r), "case {i}: {why:?} lacks {r:?}");
        }
        // As without a tap: the newest valid snapshot and the journal after it.
        assert_eq!(info.snapshot_seq, Some(2_000), "case {i}");
    }
}

#[test]
fn without_a_tap_recovery_is_unchanged() {
    let p = prepare();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    copy_dir(&p.dir, &dir);
    let mut pipeline = Pipeline::start(gen::config(), options(&dir)).unwrap();
    let info = pipeline.recovery().clone();
    drop(pipeline.take_pollers());
    pipeline.shutdown().unwrap();
    assert_eq!(info.tap, None);
    assert_eq!(info.snapshot_seq, Some(2_000));
    assert_eq!(info.state_hash, p.hash);
}

#[test]
fn an_unusable_older_snapshot_falls_back_to_recovery_without_the_tap() {
    // A snapshot file that verifies but is no engine state, below the tap's state: the
    // tap is resumed, replay fails, and recovery goes on from the newest snapshot.
    let p = prepare();
    let (tap, info) = recover(&p, &[1_500], |d| {
        tachyon_journal::write_snapshot(&d.join("snapshots"), 1_000, b"not an engine state")
            .unwrap();
    });
    assert_eq!(tap.resumed, Some(1_500));
    let Some(TapOutcome::Unavailable { why }) = &info.tap else {
        panic!("{:?}", info.tap);
    };
    assert!(
        why.contains("replaying from its state at 1500 failed"),
        "{why}"
    );
    assert_eq!(info.snapshot_seq, Some(2_000));
}
