//! The whole hot path allocates nothing once warm: FIX frames from two real TCP clients →
//! gateway decode + session → inbound ring → journal ∥ matcher → outbound ring → release →
//! ExecutionReport encode + session store → socket. A counting global allocator counts
//! every thread of this process (the clients too: they send pre-encoded frames and read
//! into fixed buffers) while 10,000 crossing order pairs go through.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fix_client::{now_ns, FixClient};
use tachyon::{Exchange, ExchangeOptions};

tachyon_testkit::counting_allocator!();

const WARM_PAIRS: usize = 5_000;
const PAIRS: usize = 10_000;

fn frames(c: &FixClient, side: &str, first: usize, n: usize, seq0: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let cl = format!("{side}{}", first + i);
        out.extend_from_slice(&c.frame(
            "D",
            seq0 + i as u64,
            now_ns(),
            &[
                (11, &cl),
                (55, "BTC-USDT"),
                (54, side),
                (60, "20261122-00:00:00.000"),
                (38, "0.0001"),
                (40, "2"),
                (44, "50000.00"),
            ],
        ));
    }
    out
}

/// Counts complete FIX frames (their `␁10=xxx␁` trailers) arriving on `s`, without
/// allocating.
fn reader(mut s: TcpStream, count: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1 << 16];
        let mut carry = [0u8; 8];
        let mut carry_len = 0usize;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        loop {
            let n = match s.read(&mut buf[8..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Prepend the last bytes of the previous read so trailers split across
            // reads are seen once.
            let start = 8 - carry_len;
            buf[start..8].copy_from_slice(&carry[..carry_len]);
            let data = &buf[start..8 + n];
            let found = data.windows(4).filter(|w| w == b"\x0110=").count();
            count.fetch_add(found as u64, Ordering::Relaxed);
            carry_len = data.len().min(3);
            carry[..carry_len].copy_from_slice(&data[data.len() - carry_len..]);
        }
    })
}

fn wait_for(count: &AtomicU64, want: u64) {
    let t = Instant::now();
    while count.load(Ordering::Relaxed) < want {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "only {} of {want} replies",
            count.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn fix_to_engine_to_fix_allocates_nothing_when_warm() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    let text = text
        .replace(
            "journal_dir = \"data/dev/journal\"",
            &format!("journal_dir = {:?}", dir.path().join("journal")),
        )
        .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "throttle = { msgs_per_sec = 1_000, burst = 2_000, max_violations = 10 }",
            "throttle = { msgs_per_sec = 1_000_000, burst = 1_000_000, max_violations = 10 }",
        );
    let cfg = tachyon_config::Config::from_str(&text, "test.toml").unwrap();
    let ex = Exchange::start_with(
        cfg,
        ExchangeOptions {
            memory_sessions: true,
        },
    )
    .unwrap();

    let mut buyer = FixClient::connect(ex.fix_addr(), "DEV1", "TACHYON");
    let mut seller = FixClient::connect(ex.fix_addr(), "DEV2", "TACHYON");
    buyer.logon(&[]);
    seller.logon(&[]);
    let total = WARM_PAIRS + PAIRS;
    let buys = frames(&buyer, "1", 0, total, buyer.next_out);
    let sells = frames(&seller, "2", 0, total, seller.next_out);
    // Frame boundaries, to send the warm-up and the measured part separately.
    let cut = |f: &[u8], n: usize| -> usize {
        let mut at = 0;
        for _ in 0..n {
            let rel = f[at..].windows(4).position(|w| w == b"\x0110=").unwrap();
            at += rel + 8; // ␁10=xxx␁
        }
        at
    };
    let (bw, sw) = (cut(&buys, WARM_PAIRS), cut(&sells, WARM_PAIRS));
    let b_count = Arc::new(AtomicU64::new(0));
    let s_count = Arc::new(AtomicU64::new(0));
    let mut b_stream = buyer.stream.try_clone().unwrap();
    let mut s_stream = seller.stream.try_clone().unwrap();
    let rb = reader(buyer.stream.try_clone().unwrap(), b_count.clone());
    let rs = reader(seller.stream.try_clone().unwrap(), s_count.clone());

    // Warm-up: every order gets New and Fill (2 replies per order per side).
    for k in 0..WARM_PAIRS / 100 {
        let (b0, b1) = (cut(&buys, k * 100), cut(&buys, (k + 1) * 100));
        let (s0, s1) = (cut(&sells, k * 100), cut(&sells, (k + 1) * 100));
        b_stream.write_all(&buys[b0..b1]).unwrap();
        wait_for(&b_count, 2 * (k as u64 + 1) * 100 - 100);
        s_stream.write_all(&sells[s0..s1]).unwrap();
        wait_for(&s_count, 2 * (k as u64 + 1) * 100);
    }
    wait_for(&b_count, 2 * WARM_PAIRS as u64);
    // Precompute the measured chunk boundaries (this allocates nothing later).
    let chunks: Vec<(usize, usize, usize, usize)> = (0..PAIRS / 100)
        .map(|k| {
            (
                cut(&buys, WARM_PAIRS + k * 100),
                cut(&buys, WARM_PAIRS + (k + 1) * 100),
                cut(&sells, WARM_PAIRS + k * 100),
                cut(&sells, WARM_PAIRS + (k + 1) * 100),
            )
        })
        .collect();
    assert_eq!(chunks[0].0, bw);
    assert_eq!(chunks[0].2, sw);

    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for (k, &(b0, b1, s0, s1)) in chunks.iter().enumerate() {
        let done = (WARM_PAIRS + (k + 1) * 100) as u64;
        b_stream.write_all(&buys[b0..b1]).unwrap();
        wait_for(&b_count, 2 * done - 100);
        s_stream.write_all(&sells[s0..s1]).unwrap();
        wait_for(&s_count, 2 * done);
    }
    wait_for(&b_count, 2 * total as u64);
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);

    drop(b_stream);
    drop(s_stream);
    drop(buyer);
    drop(seller);
    let _ = (rb, rs);
    ex.shutdown().unwrap();
    assert_eq!(
        allocs, 0,
        "{allocs} allocations over {PAIRS} crossing order pairs (40,000 ExecutionReports)"
    );
}
