//! The persister as a journal follower next to a running pipeline, against the real
//! PostgreSQL: while the database is unreachable the pipeline keeps going; a follower
//! started later catches up from the journal; a follower stopped and restarted mid-stream
//! resumes exactly once; the final database equals an uninterrupted direct write.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tachyon_engine::Command;
use tachyon_persister::{Follower, FollowerOptions, FollowerPriority};
use tachyon_pipeline::{CoreMode, FsyncPolicy, Pipeline, PipelineOptions, ReleasedEvents};

fn pipeline(dir: &std::path::Path) -> Pipeline {
    Pipeline::start(
        engine_config(),
        PipelineOptions {
            inbound_ring_size: 1024,
            outbound_ring_size: 8192,
            mode: CoreMode::Shared,
            matcher_core: None,
            journal_core: None,
            journal_dir: dir.to_path_buf(),
            fsync: FsyncPolicy::Os,
            segment_size_bytes: 256 * 1024,
            snapshot_interval: 2_000,
            prune_segments: false,
            outbound_pollers: 1,
            tick_interval: None,
            journal_on_matcher: false,
        },
    )
    .expect("pipeline")
}

/// Publishes `cmds` (sequences `first..`) and waits until all are released.
fn feed(p: &Pipeline, reader: &mut ReleasedEvents, cmds: &[Command], first: u64) {
    let mut publisher = p.publisher();
    let last = first + cmds.len() as u64 - 1;
    let mut sent = 0;
    let mut done = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done {
        while sent < cmds.len() && publisher.try_publish(cmds[sent]).is_ok() {
            sent += 1;
        }
        reader.poll(|ev| {
            if ev.last && ev.cmd_seq == last {
                done = true;
            }
        });
        assert!(Instant::now() < deadline, "pipeline stalled");
    }
}

fn options(dir: &std::path::Path) -> FollowerOptions {
    FollowerOptions {
        journal_dir: dir.to_path_buf(),
        batch_commands: 700,
        idle_poll: Duration::from_millis(2),
        max_backoff: Duration::from_millis(100),
        yield_to_traffic: None,
        burst_commands: 0,
        max_lag_commands: u64::MAX,
        priority: FollowerPriority::Nice10,
        connections: 2,
    }
}

#[test]
fn follower_survives_an_outage_and_a_restart_and_stores_everything_once() {
    let schema = TestSchema::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let cmds = commands(41, 12_000);
    let n = cmds.len() as u64;
    let (_, events) = run_engine(&cmds);
    let third = cmds.len() / 3;

    let mut p = pipeline(&dir);
    let mut reader = p.take_pollers().pop().unwrap();
    let stats = p.stats();
    let durable: Arc<dyn Fn() -> u64 + Send + Sync> = {
        let s = stats.clone();
        Arc::new(move || s.durable_seq.load(Ordering::Acquire))
    };

    // 1. Database unreachable (a dead port): the pipeline is not affected.
    let mut dead = schema.config();
    dead.port(1);
    let f = Follower::spawn(
        engine_config(),
        units(),
        dead,
        options(&dir),
        durable.clone(),
    )
    .unwrap();
    let t = Instant::now();
    feed(&p, &mut reader, &cmds[..third], 1);
    let phase1 = t.elapsed();
    let fs = f.stats();
    let t = Instant::now();
    // The follower refreshes its view at each retry (at most every 100 ms here).
    while (fs.lag_commands() != third as u64 || fs.last_error.lock().unwrap().is_none())
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!fs.connected.load(Ordering::Acquire));
    assert!(
        fs.last_error
            .lock()
            .unwrap()
            .as_deref()
            .unwrap_or("")
            .contains("connecting"),
        "{:?}",
        fs.last_error
    );
    assert_eq!(
        fs.lag_commands(),
        third as u64,
        "everything durable is still to be stored"
    );
    assert_eq!(fs.applied.load(Ordering::Acquire), 0);
    assert!(
        fs.lag_seconds() >= phase1.as_secs_f64(),
        "lag in seconds counts while nothing is stored: {} s",
        fs.lag_seconds()
    );
    f.stop();

    // 2. The database is back: a new follower catches up from the journal.
    let f = Follower::spawn(
        engine_config(),
        units(),
        schema.config(),
        options(&dir),
        durable.clone(),
    )
    .unwrap();
    assert!(
        f.wait_for(third as u64, Duration::from_secs(60)),
        "catch-up after the outage"
    );
    // 3. Live traffic, with the follower stopped and restarted in the middle.
    feed(&p, &mut reader, &cmds[third..2 * third], third as u64 + 1);
    f.stop();
    let f = Follower::spawn(
        engine_config(),
        units(),
        schema.config(),
        options(&dir),
        durable.clone(),
    )
    .unwrap();
    feed(&p, &mut reader, &cmds[2 * third..], 2 * third as u64 + 1);
    assert!(
        f.wait_for(n, Duration::from_secs(60)),
        "follower reaches the end"
    );
    let fs = f.stats();
    assert_eq!(fs.lag_commands(), 0);
    assert_eq!(fs.lag_seconds(), 0.0);
    assert!(fs.connected.load(Ordering::Acquire));
    f.stop();
    drop(reader);
    p.shutdown().unwrap();

    // The same events written directly, without interruption, give the same database.
    let reference = TestSchema::new();
    let mut direct = open(&reference);
    for b in batches(&events, 9, 50) {
        direct.write_batch(b).unwrap();
    }
    assert_eq!(dump(&mut schema.client()), dump(&mut reference.client()));
    eprintln!("phase 1 (database down) fed {third} commands in {phase1:?}");
}
