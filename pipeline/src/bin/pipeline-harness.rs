//! Test harness: runs the pipeline on a journal directory and feeds it commands read from
//! stdin, printing an `ack <seq>` line once every event of a command has been released
//! (i.e. the command is durable). Used by the crash-safety test, which SIGKILLs it.
//!
//! stdin: frames of `[len u8][encoded command]`. stdout: `ready <last_seq> <state_hash> <snapshot_seq>`
//! after recovery, then `ack <seq>` lines.
//! Usage: `pipeline-harness <journal_dir> <snapshot_interval>`, or
//! `pipeline-harness replay <journal_dir>` to print `replay <last_seq> <state_hash>` of a
//! full offline replay from sequence 1 (no snapshot).

use std::io::{BufWriter, Read, Write};
use std::time::Duration;

use tachyon_engine::{decode_command, AccountId, AssetId, AssetSpec, EngineConfig, InstrumentSpec};
use tachyon_pipeline::{CoreMode, FsyncPolicy, Pipeline, PipelineOptions, PollResult};

/// The engine configuration of the harness.
fn harness_config() -> EngineConfig {
    let ins = |symbol: &str, base| InstrumentSpec {
        symbol: symbol.into(),
        base: AssetId(base),
        quote: AssetId(0),
        quote_units_per_tick_lot: 10,
        base_units_per_lot: 1000,
        min_qty_lots: 1,
        max_qty_lots: 1_000_000,
        min_notional_quote_units: 0,
        maker_fee_bps: -1,
        taker_fee_bps: 5,
        min_price_ticks: 1,
        max_price_ticks: 10_000_000,
    };
    EngineConfig {
        assets: vec![
            AssetSpec {
                code: "USDT".into(),
                decimals: 8,
            },
            AssetSpec {
                code: "BTC".into(),
                decimals: 8,
            },
            AssetSpec {
                code: "ETH".into(),
                decimals: 8,
            },
        ],
        instruments: vec![ins("BTC-USDT", 1), ins("ETH-USDT", 2)],
        max_accounts: 64,
        max_orders: 100_000,
        max_levels_per_side: 10_000,
        fee_account: AccountId(0),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("replay") {
        let dir = std::path::Path::new(args.get(2).expect("replay <dir>"));
        let (_, r) = tachyon_pipeline::replay(harness_config(), dir, false).unwrap_or_else(|e| {
            eprintln!("pipeline-harness: {e}");
            std::process::exit(2)
        });
        println!("replay {} {:016x}", r.last_seq, r.state_hash);
        return;
    }
    let dir = args
        .get(1)
        .expect("usage: pipeline-harness <journal_dir> <snapshot_interval> [journal-on-matcher]");
    let snapshot_interval: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let journal_on_matcher = args.get(3).map(String::as_str) == Some("journal-on-matcher");
    let opts = PipelineOptions {
        inbound_ring_size: 1024,
        outbound_ring_size: 4096,
        mode: CoreMode::Shared,
        matcher_core: None,
        journal_core: None,
        journal_dir: dir.into(),
        fsync: FsyncPolicy::Os,
        segment_size_bytes: 64 * 1024,
        snapshot_interval,
        prune_segments: false,
        outbound_pollers: 1,
        tick_interval: None,
        journal_on_matcher,
    };
    let mut pipeline = match Pipeline::start(harness_config(), opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pipeline-harness: {e}");
            std::process::exit(2);
        }
    };
    let rec = pipeline.recovery().clone();
    let mut released = pipeline.take_pollers().pop().unwrap();
    let mut out = BufWriter::new(std::io::stdout());
    writeln!(
        out,
        "ready {} {:016x} {}",
        rec.last_seq,
        rec.state_hash,
        rec.snapshot_seq.unwrap_or(0)
    )
    .unwrap();
    out.flush().unwrap();

    // Acks on their own thread (the real gateway polls on its I/O thread).
    let acker = std::thread::spawn(move || loop {
        let mut acked = false;
        match released.poll(|ev| {
            if ev.last {
                writeln!(out, "ack {}", ev.cmd_seq).unwrap();
                acked = true;
            }
        }) {
            PollResult::Shutdown => {
                out.flush().unwrap();
                return;
            }
            PollResult::Released(0) => std::thread::sleep(Duration::from_micros(100)),
            PollResult::Released(_) => {}
        }
        if acked {
            out.flush().unwrap();
        }
    });

    let mut publisher = pipeline.publisher();
    let mut stdin = std::io::stdin().lock();
    let mut len = [0u8; 1];
    let mut buf = [0u8; 256];
    while stdin.read_exact(&mut len).is_ok() {
        let n = len[0] as usize;
        if stdin.read_exact(&mut buf[..n]).is_err() {
            break;
        }
        let cmd = decode_command(&buf[..n]).expect("driver sends valid commands");
        publisher.publish(cmd);
    }
    drop(publisher);
    pipeline.shutdown().unwrap();
    acker.join().unwrap();
}
