//! The hot path does not allocate: with a counting global allocator, 200,000 commands go
//! gateway stand-in → inbound ring → journal ∥ matcher → outbound ring → release, and no
//! thread allocates once warmed up (snapshots off: they are taken off the hot path and do
//! allocate; segment rotation off: it opens files). The flow is steady-state: the engine's
//! order indexes grow (allocate) only when open orders reach a new high-water mark above
//! their preallocation.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tachyon_engine::*;
use tachyon_pipeline::*;

tachyon_testkit::counting_allocator!();

fn config() -> EngineConfig {
    tachyon_testkit::two_symbol_config(
        tachyon_testkit::Limits {
            accounts: 64,
            orders: 100_000,
            levels: 4_096,
        },
        1,
        5,
    )
}

/// A steady-state flow: every resting order has a client id kept in a window of at most
/// 1,500; cancels and replaces pick from the window, and a full window forces a cancel of
/// its oldest order, so the number of open orders stays bounded.
fn flow(n: u64, first_ts: u64) -> Vec<Command> {
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut window: std::collections::VecDeque<(AccountId, u64)> =
        std::collections::VecDeque::new();
    (0..n)
        .map(|i| {
            let r = next();
            let account = AccountId(1 + (r % 20) as u32);
            let side = if (r >> 8) & 1 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let off = ((r >> 16) % 300) as i64 - 40;
            let price = Price(if side == Side::Buy {
                100_000 - off
            } else {
                100_000 + off
            });
            let uid = 1_000_000 + i;
            let pick = (r >> 24) as usize % window.len().max(1);
            let kind = if window.len() >= 1_500 {
                let (a, id) = window.pop_front().unwrap();
                CommandKind::Cancel(CancelOrder {
                    account: a,
                    symbol: SymbolId(0),
                    target: OrderRef::ClOrdId(ClOrdId::from_u64(id)),
                    cl_ord_id: ClOrdId::EMPTY,
                })
            } else {
                match (r >> 32) % 10 {
                    0..=5 => {
                        let ioc = (r >> 50) % 5 == 0;
                        if !ioc {
                            window.push_back((account, uid));
                        }
                        CommandKind::NewOrder(NewOrder {
                            account,
                            session: SessionId(1),
                            cl_ord_id: ClOrdId::from_u64(uid),
                            symbol: SymbolId(0),
                            side,
                            ord_type: OrdType::Limit,
                            price,
                            qty: Qty(1 + ((r >> 40) % 50) as i64),
                            quote_budget: 0,
                            tif: if ioc { Tif::Ioc } else { Tif::Gtc },
                            expire_ns: 0,
                            post_only: false,
                            stp: StpMode::CancelOldest,
                        })
                    }
                    6..=7 if !window.is_empty() => {
                        let (a, id) = window.remove(pick).unwrap();
                        CommandKind::Cancel(CancelOrder {
                            account: a,
                            symbol: SymbolId(0),
                            target: OrderRef::ClOrdId(ClOrdId::from_u64(id)),
                            cl_ord_id: ClOrdId::EMPTY,
                        })
                    }
                    _ if !window.is_empty() => {
                        let (a, id) = window[pick];
                        window[pick].1 = uid;
                        CommandKind::Replace(ReplaceOrder {
                            account: a,
                            symbol: SymbolId(0),
                            target: OrderRef::ClOrdId(ClOrdId::from_u64(id)),
                            cl_ord_id: ClOrdId::from_u64(uid),
                            price,
                            qty: Qty(1 + ((r >> 44) % 60) as i64),
                        })
                    }
                    _ => CommandKind::Deposit(Transfer {
                        account,
                        asset: AssetId(0),
                        amount: 1,
                        reference: uid,
                    }),
                }
            };
            Command {
                ts_ns: first_ts + i * 1_000,
                kind,
            }
        })
        .collect()
}

#[test]
fn publish_journal_match_release_allocates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = PipelineOptions {
        inbound_ring_size: 1024,
        outbound_ring_size: 8192,
        mode: CoreMode::Shared,
        matcher_core: None,
        journal_core: None,
        journal_dir: tmp.path().join("j"),
        fsync: FsyncPolicy::Os,
        segment_size_bytes: 1 << 40,
        snapshot_interval: 0,
        prune_segments: false,
        outbound_pollers: 1,
        tick_interval: None,
        journal_on_matcher: false,
    };
    let mut p = Pipeline::start(config(), opts).unwrap();
    let mut publisher = p.publisher();
    let mut reader = p.take_pollers().pop().unwrap();
    let mut cmds = tachyon_testkit::genesis(20, 2, 1 << 55);
    let warm = cmds.len() as u64 + 100_000;
    cmds.extend(flow(300_000, 10));
    let total = cmds.len() as u64;

    let mut sent = 0usize;
    let mut released_cmds = 0u64;
    let mut events = 0u64;
    let mut trades = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    // Phase 1 (warm-up, not counted) up to `warm`, phase 2 (counted) to the end.
    for (phase_end, counted) in [(warm, false), (total, true)] {
        COUNTING.store(counted, Ordering::SeqCst);
        while released_cmds < phase_end {
            while (sent as u64) < phase_end && publisher.try_publish(cmds[sent]).is_ok() {
                sent += 1;
            }
            reader.poll(|ev| {
                events += 1;
                if matches!(ev.event, Event::Trade(_)) {
                    trades += 1;
                }
                if ev.last {
                    released_cmds += 1;
                }
            });
            assert!(
                Instant::now() < deadline,
                "stalled at {released_cmds}/{total}"
            );
        }
        assert_eq!(released_cmds, phase_end);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    drop(publisher);
    let drain = std::thread::spawn(move || while reader.poll(|_| {}) != PollResult::Shutdown {});
    p.shutdown().unwrap();
    drain.join().unwrap();
    assert!(
        trades > 10_000 && events > 500_000,
        "the flow must trade: {trades} trades, {events} events"
    );
    assert_eq!(
        allocs,
        0,
        "the hot path allocated {allocs} times over {} commands",
        total - warm
    );
}
