//! The pipeline end to end, in process: the events that come out of the outbound ring
//! are exactly the events of applying the same commands to an engine directly; restart
//! recovers the same state; replay is deterministic over a 1,000,000-command journal.

use std::time::{Duration, Instant};

use tachyon_engine::*;
use tachyon_pipeline::*;

use tachyon_testkit::SplitMix as Rng;

fn config() -> EngineConfig {
    tachyon_testkit::two_symbol_config(
        tachyon_testkit::Limits {
            accounts: 128,
            orders: 200_000,
            levels: 20_000,
        },
        2,
        5,
    )
}

fn genesis() -> Vec<Command> {
    tachyon_testkit::genesis(20, 3, 1 << 50)
}

/// A mixed stream: orders (limit GTC/IOC, market), cancels and replaces by id.
fn stream(rng: &mut Rng, n: u64, first_ts: u64) -> Vec<Command> {
    (0..n)
        .map(|i| {
            let account = AccountId(1 + rng.below(20) as u32);
            let symbol = SymbolId(rng.below(2) as u16);
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let off = rng.below(500) as i64 - 50;
            let price = Price(if side == Side::Buy {
                100_000 - off
            } else {
                100_000 + off
            });
            let target = OrderRef::Id(OrderId(1 + rng.below(i + 1)));
            let kind = match rng.below(20) {
                0..=9 => CommandKind::NewOrder(NewOrder {
                    account,
                    session: SessionId(1),
                    cl_ord_id: ClOrdId::EMPTY,
                    symbol,
                    side,
                    ord_type: OrdType::Limit,
                    price,
                    qty: Qty(1 + rng.below(50) as i64),
                    quote_budget: 0,
                    tif: if rng.below(5) == 0 {
                        Tif::Ioc
                    } else {
                        Tif::Gtc
                    },
                    expire_ns: 0,
                    post_only: false,
                    stp: StpMode::CancelOldest,
                }),
                10 => CommandKind::NewOrder(NewOrder {
                    account,
                    session: SessionId(1),
                    cl_ord_id: ClOrdId::EMPTY,
                    symbol,
                    side: Side::Sell,
                    ord_type: OrdType::Market,
                    price: Price(0),
                    qty: Qty(1 + rng.below(20) as i64),
                    quote_budget: 0,
                    tif: Tif::Ioc,
                    expire_ns: 0,
                    post_only: false,
                    stp: StpMode::CancelNewest,
                }),
                11..=14 => CommandKind::Cancel(CancelOrder {
                    account,
                    symbol,
                    target,
                    cl_ord_id: ClOrdId::EMPTY,
                }),
                _ => CommandKind::Replace(ReplaceOrder {
                    account,
                    symbol,
                    target,
                    cl_ord_id: ClOrdId::EMPTY,
                    price,
                    qty: Qty(1 + rng.below(60) as i64),
                }),
            };
            Command {
                ts_ns: first_ts + i * 1_000,
                kind,
            }
        })
        .collect()
}

fn options(dir: &std::path::Path, snapshot_interval: u64) -> PipelineOptions {
    options_with(dir, snapshot_interval, false)
}

fn options_with(
    dir: &std::path::Path,
    snapshot_interval: u64,
    journal_on_matcher: bool,
) -> PipelineOptions {
    PipelineOptions {
        inbound_ring_size: 1024,
        outbound_ring_size: 8192,
        mode: CoreMode::Shared,
        matcher_core: None,
        journal_core: None,
        journal_dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Os,
        segment_size_bytes: 1 << 20,
        snapshot_interval,
        prune_segments: false,
        outbound_pollers: 2,
        tick_interval: None,
        journal_on_matcher,
    }
}

/// Publishes `cmds` and collects the released events until the last command's last event.
fn run(
    pipeline: &mut Pipeline,
    readers: &mut [ReleasedEvents],
    cmds: &[Command],
    first_seq: u64,
) -> Vec<Vec<(u64, Event, bool)>> {
    let mut publisher = pipeline.publisher();
    let last_seq = first_seq + cmds.len() as u64 - 1;
    let mut out: Vec<Vec<(u64, Event, bool)>> = vec![Vec::new(); readers.len()];
    let mut done = vec![false; readers.len()];
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.iter().any(|d| !d) {
        // Interleave publishing and polling: readers must keep up or the matcher waits.
        while sent < cmds.len() && publisher.try_publish(cmds[sent]).is_ok() {
            sent += 1;
        }
        for (r, reader) in readers.iter_mut().enumerate() {
            reader.poll(|ev| {
                out[r].push((ev.cmd_seq, ev.event, ev.last));
                if ev.last && ev.cmd_seq == last_seq {
                    done[r] = true;
                }
            });
        }
        assert!(Instant::now() < deadline, "pipeline stalled");
    }
    out
}

#[test]
fn outbound_events_equal_direct_engine_events_and_restart_recovers() {
    events_equal_direct_engine_events(false);
}

#[test]
fn journaling_on_the_matcher_thread_gives_the_same_events_and_journal() {
    events_equal_direct_engine_events(true);
}

fn events_equal_direct_engine_events(journal_on_matcher: bool) {
    let options = |dir: &std::path::Path, snapshot_interval: u64| {
        options_with(dir, snapshot_interval, journal_on_matcher)
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut rng = Rng(11);
    let mut cmds = genesis();
    cmds.extend(stream(&mut rng, 60_000, 10));

    // Reference: the engine applied directly.
    let mut direct = Engine::new(config()).unwrap();
    let mut expected: Vec<(u64, Event, bool)> = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        let mut evs = Vec::new();
        direct.apply(c, &mut evs);
        let n = evs.len();
        for (k, e) in evs.into_iter().enumerate() {
            expected.push((i as u64 + 1, e, k + 1 == n));
        }
    }
    assert!(
        expected
            .iter()
            .filter(|e| matches!(e.1, Event::Trade(_)))
            .count()
            > 5_000,
        "flow must trade"
    );

    let mut p = Pipeline::start(config(), options(&dir, 7_000)).unwrap();
    assert_eq!(p.recovery().last_seq, 0);
    let mut readers = p.take_pollers();
    let got = run(&mut p, &mut readers, &cmds, 1);
    for r in &got {
        assert_eq!(r.len(), expected.len());
        assert!(
            r == &expected,
            "released events differ from the direct engine's"
        );
    }
    let stats = p.stats();
    assert_eq!(
        stats.durable_seq.load(std::sync::atomic::Ordering::Acquire),
        cmds.len() as u64
    );
    drop(readers);
    p.shutdown().unwrap();

    // Restart: recovery from the shutdown snapshot gives the same state; the pipeline goes on.
    let mut p = Pipeline::start(config(), options(&dir, 7_000)).unwrap();
    assert_eq!(p.recovery().last_seq, cmds.len() as u64);
    assert_eq!(
        p.recovery().snapshot_seq,
        Some(cmds.len() as u64),
        "clean shutdown writes a final snapshot"
    );
    assert_eq!(p.recovery().state_hash, direct.state_hash());
    let more = stream(&mut rng, 5_000, 10 + 60_000 * 1_000);
    let mut readers = p.take_pollers();
    let got = run(&mut p, &mut readers, &more, cmds.len() as u64 + 1);
    let mut expected = Vec::new();
    for (i, c) in more.iter().enumerate() {
        let mut evs = Vec::new();
        direct.apply(c, &mut evs);
        let n = evs.len();
        for (k, e) in evs.into_iter().enumerate() {
            expected.push((cmds.len() as u64 + 1 + i as u64, e, k + 1 == n));
        }
    }
    assert!(got[0] == expected, "events after restart differ");
    drop(readers);
    p.shutdown().unwrap();
    let (_, rep) = replay(config(), &dir, false).unwrap();
    assert_eq!(
        rep.state_hash,
        direct.state_hash(),
        "full offline replay equals the live state"
    );
}

#[test]
fn replay_of_a_million_command_journal_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut rng = Rng(3);
    let mut cmds = genesis();
    cmds.extend(stream(&mut rng, 1_000_000, 10));
    // Write the journal directly (the pipeline's journaler format) and keep the live hash.
    let (mut w, _) = tachyon_journal::JournalWriter::open(
        &dir,
        tachyon_journal::JournalOptions {
            segment_size_bytes: 16 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    let mut live = Engine::new(config()).unwrap();
    let mut sink = EventHasher::default();
    let mut buf = [0u8; MAX_COMMAND_LEN];
    for (i, c) in cmds.iter().enumerate() {
        let n = encode_command(c, &mut buf);
        w.append(i as u64 + 1, &buf[..n]).unwrap();
        live.apply(c, &mut sink);
    }
    w.commit().unwrap();
    drop(w);
    let t0 = Instant::now();
    let (_, a) = replay(config(), &dir, false).unwrap();
    let first = t0.elapsed();
    let (_, b) = replay(config(), &dir, false).unwrap();
    assert_eq!(a.replayed, cmds.len() as u64);
    assert_eq!(a.state_hash, b.state_hash, "two replays differ");
    assert_eq!(
        a.state_hash,
        live.state_hash(),
        "replay differs from the live engine"
    );
    eprintln!(
        "replayed {} commands in {:?} (test profile)",
        a.replayed, first
    );
}

#[test]
fn mid_journal_corruption_stops_start_up_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut p = Pipeline::start(config(), options(&dir, 0)).unwrap();
    let mut readers = p.take_pollers();
    let cmds = genesis();
    run(&mut p, &mut readers, &cmds, 1);
    drop(readers);
    p.shutdown().unwrap();
    std::fs::remove_dir_all(dir.join("snapshots")).unwrap();
    let seg = dir.join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    // Flip a payload bit of the third record (records of 9-byte-header commands differ in
    // size; find the third record by walking the length prefixes).
    let mut off = 0usize;
    for _ in 0..2 {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        off += 16 + len;
    }
    bytes[off + 17] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let err = Pipeline::start(config(), options(&dir, 0))
        .err()
        .expect("must refuse to start");
    let msg = err.to_string();
    assert!(
        msg.contains("00000000000000000001.seg") && msg.contains(&off.to_string()),
        "{msg}"
    );
}

#[test]
fn a_journal_from_another_configuration_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    Pipeline::start(config(), options(&dir, 0))
        .unwrap()
        .shutdown()
        .unwrap();
    let mut other = config();
    other.instruments[1].taker_fee_bps = 9;
    let err = Pipeline::start(other, options(&dir, 0))
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("engine configuration"), "{err}");
}
