//! Crash safety with a real process: the harness runs the pipeline on a temp journal with
//! `fsync = "os"`; this driver feeds it random commands, records every acknowledged
//! (released) command, SIGKILLs it at random moments and restarts it, 25 times. After
//! each restart: every acknowledged command is in the journal exactly as sent, the journal
//! holds nothing that was not sent and nothing twice, and the state the process recovered
//! (snapshot + replay) hashes equal to a full offline replay of the journal.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command as Proc, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tachyon_engine::*;

const HARNESS: &str = env!("CARGO_BIN_EXE_pipeline-harness");

use tachyon_testkit::SplitMix as Rng;

/// A random command with a unique marker (`cl_ord_id` or transfer reference = `uid`).
fn command(rng: &mut Rng, uid: u64) -> Command {
    let account = AccountId(1 + rng.below(8) as u32);
    let side = if rng.below(2) == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let offset = rng.below(400) as i64 - 60;
    let price = Price(if side == Side::Buy {
        100_000 - offset
    } else {
        100_000 + offset
    });
    let kind = match rng.below(10) {
        0..=5 => CommandKind::NewOrder(NewOrder {
            account,
            session: SessionId(0),
            cl_ord_id: ClOrdId::from_u64(uid),
            symbol: SymbolId(rng.below(2) as u16),
            side,
            ord_type: OrdType::Limit,
            price,
            qty: Qty(1 + rng.below(100) as i64),
            quote_budget: 0,
            tif: if rng.below(4) == 0 {
                Tif::Ioc
            } else {
                Tif::Gtc
            },
            expire_ns: 0,
            post_only: false,
            stp: StpMode::CancelOldest,
        }),
        6..=7 => CommandKind::Cancel(CancelOrder {
            account,
            symbol: SymbolId(rng.below(2) as u16),
            target: OrderRef::Id(OrderId(1 + rng.below(uid.max(1)))),
            cl_ord_id: ClOrdId::from_u64(uid),
        }),
        _ => CommandKind::Deposit(Transfer {
            account,
            asset: AssetId(rng.below(3) as u16),
            amount: 1 + rng.below(1_000_000) as i64,
            reference: uid,
        }),
    };
    Command {
        ts_ns: 1_000_000 + uid * 1_000,
        kind,
    }
}

fn marker(c: &Command) -> u64 {
    match &c.kind {
        CommandKind::NewOrder(o) => std::str::from_utf8(o.cl_ord_id.as_bytes())
            .unwrap()
            .parse()
            .unwrap(),
        CommandKind::Cancel(x) => std::str::from_utf8(x.cl_ord_id.as_bytes())
            .unwrap()
            .parse()
            .unwrap(),
        CommandKind::Deposit(t) => t.reference,
        CommandKind::CreateAccount { account } => 1_000_000_000 + account.0 as u64,
        other => panic!("unexpected command {other:?}"),
    }
}

fn write_frame(stdin: &mut ChildStdin, c: &Command) -> std::io::Result<()> {
    let mut buf = [0u8; MAX_COMMAND_LEN + 1];
    let n = encode_command(c, &mut buf[1..]);
    buf[0] = n as u8;
    stdin.write_all(&buf[..n + 1])
}

struct Run {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    last_seq: u64,
    state_hash: String,
    snapshot_seq: u64,
}

/// Starts the harness; `journal_on_matcher` selects the one-thread topology (the journal
/// format is the same, so runs may alternate between the two).
fn start(dir: &std::path::Path, journal_on_matcher: bool) -> Run {
    let mut child = Proc::new(HARNESS)
        .arg(dir)
        .arg("97")
        .args(journal_on_matcher.then_some("journal-on-matcher"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn harness");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let ready = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("harness ready line");
    let parts: Vec<&str> = ready.split_whitespace().collect();
    assert_eq!(parts[0], "ready", "{ready}");
    Run {
        child,
        stdin,
        lines,
        last_seq: parts[1].parse().unwrap(),
        state_hash: parts[2].to_string(),
        snapshot_seq: parts[3].parse().unwrap(),
    }
}

fn full_replay(dir: &std::path::Path) -> (u64, String) {
    let out = Proc::new(HARNESS)
        .arg("replay")
        .arg(dir)
        .output()
        .expect("replay");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = s.split_whitespace().collect();
    (parts[1].parse().unwrap(), parts[2].to_string())
}

fn journal(dir: &std::path::Path) -> Vec<(u64, Command)> {
    let mut v = Vec::new();
    tachyon_journal::for_each_record::<tachyon_journal::JournalError, _>(dir, 1.., |seq, p| {
        v.push((seq, decode_command(p).expect("journal record decodes")));
        Ok(())
    })
    .expect("journal reads");
    v
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut rng = Rng(0xC0FFEE);
    // Every command ever journaled, by sequence, as the driver sent it.
    let mut sent: BTreeMap<u64, Command> = BTreeMap::new();
    let mut acked_total = 0u64;
    let mut uid = 1u64;
    let cycles = 25;
    let mut recovered_from_snapshot_and_tail = 0;
    for cycle in 0..=cycles {
        // Odd cycles journal on the matcher thread, even ones on a journaler thread.
        let mut run = start(&dir, cycle % 2 == 1);
        // 1. Recovery kept every acknowledged command, exactly as sent, once.
        let j = journal(&dir);
        assert_eq!(
            j.len() as u64,
            run.last_seq,
            "cycle {cycle}: journal length"
        );
        let mut markers = HashSet::new();
        for (i, (seq, cmd)) in j.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "cycle {cycle}: contiguous sequences");
            assert_eq!(
                sent.get(seq),
                Some(cmd),
                "cycle {cycle}: record {seq} differs from what was sent"
            );
            assert!(
                markers.insert(marker(cmd)),
                "cycle {cycle}: command {seq} applied twice"
            );
        }
        // Unacknowledged commands past the recovered end are forgotten by both sides.
        sent.retain(|&s, _| s <= run.last_seq);
        // 2. Snapshot + replay state equals a full replay of the journal.
        let (replay_last, replay_hash) = full_replay(&dir);
        assert_eq!(replay_last, run.last_seq);
        assert_eq!(
            run.state_hash, replay_hash,
            "cycle {cycle}: recovered state differs from full replay"
        );
        if run.snapshot_seq > 0 && run.snapshot_seq < run.last_seq {
            recovered_from_snapshot_and_tail += 1;
        }
        if cycle == cycles {
            drop(run.stdin);
            let status = run.child.wait().unwrap();
            assert!(status.success(), "clean exit on EOF");
            break;
        }
        // 3. Feed commands until a random kill point, recording acks.
        let base = run.last_seq;
        let mut next_seq = base + 1;
        if base == 0 {
            for a in 1..=8 {
                let c = Command {
                    ts_ns: 1,
                    kind: CommandKind::CreateAccount {
                        account: AccountId(a),
                    },
                };
                write_frame(&mut run.stdin, &c).unwrap();
                sent.insert(next_seq, c);
                next_seq += 1;
            }
        }
        let kill_after = Duration::from_millis(5 + rng.below(60));
        let started = Instant::now();
        let mut acked: Vec<u64> = Vec::new();
        while started.elapsed() < kill_after {
            for _ in 0..1 + rng.below(50) {
                let c = command(&mut rng, uid);
                uid += 1;
                if write_frame(&mut run.stdin, &c).is_err() {
                    break;
                }
                sent.insert(next_seq, c);
                next_seq += 1;
            }
            let _ = run.stdin.flush();
            while let Ok(l) = run.lines.try_recv() {
                acked.push(l.strip_prefix("ack ").expect("ack line").parse().unwrap());
            }
            std::thread::sleep(Duration::from_micros(200 + rng.below(800)));
        }
        run.child.kill().unwrap(); // SIGKILL
        run.child.wait().unwrap();
        while let Ok(l) = run.lines.recv_timeout(Duration::from_millis(200)) {
            acked.push(l.strip_prefix("ack ").expect("ack line").parse().unwrap());
        }
        // Acks arrive in order and only for commands this run published.
        assert!(
            acked.windows(2).all(|w| w[0] < w[1]),
            "cycle {cycle}: acks out of order"
        );
        assert!(
            acked.iter().all(|&s| s > base && s < next_seq),
            "cycle {cycle}: ack outside this run"
        );
        acked_total += acked.len() as u64;
        if let Some(&max_ack) = acked.last() {
            // Checked on the next start: the journal must reach at least max_ack.
            let j = journal(&dir);
            assert!(
                j.len() as u64 >= max_ack,
                "cycle {cycle}: acknowledged {max_ack} but journal ends at {}",
                j.len()
            );
        }
    }
    assert!(
        acked_total > 1_000,
        "the test must acknowledge real traffic, got {acked_total}"
    );
    assert!(
        recovered_from_snapshot_and_tail > 5,
        "recovery must often combine a snapshot with a journal tail"
    );
}
