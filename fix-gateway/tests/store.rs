//! Session stores: `FileStore` round trips across reopen, torn and corrupt tails at every
//! byte of the last flush, bounded retention (eviction keeps the newest; a resend of
//! evicted numbers gap-fills, driven through `Session`), compaction, reset, and a
//! proptest of random operations (with reopens and kills) against a model.
mod common;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use proptest::prelude::*;
use tachyon_fix_gateway::*;

const T0: u64 = 1_795_316_400_000_000_000; // 2026-11-22 03:00:00 UTC

type Contents = Vec<(u64, Vec<u8>)>;
type State = (Contents, SeqNums);

fn contents<S: SessionStore + ?Sized>(s: &S) -> Contents {
    let mut v = Vec::new();
    s.outbound(0, u64::MAX, &mut |seq, m| v.push((seq, m.to_vec())))
        .unwrap();
    v
}

/// A recognisable frame of `len` bytes for `seq` (the store does not parse frames).
fn blob(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize * 31 + i * 7) as u8 | 1)
        .collect()
}

fn seqs(next_in: u64, next_out: u64) -> SeqNums {
    SeqNums { next_in, next_out }
}

/// What a session does per outbound message: store it, then bump next_out.
fn send<S: SessionStore + ?Sized>(s: &mut S, len: usize) -> u64 {
    let n = s.seq_nums();
    s.save_outbound(n.next_out, &blob(n.next_out, len)).unwrap();
    s.set_seq_nums(seqs(n.next_in, n.next_out + 1)).unwrap();
    n.next_out
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn small(max_bytes: usize, max_messages: usize) -> StoreLimits {
    StoreLimits {
        max_bytes,
        max_messages,
    }
}

fn disk_len(dir: &Path) -> u64 {
    fs::metadata(dir.join("outbound")).unwrap().len()
}

#[test]
fn round_trip_across_reopen() {
    // (name, sync, message lengths, flush explicitly before dropping)
    let cases: &[(&str, bool, &[usize], bool)] = &[
        ("empty", false, &[], true),
        ("few", false, &[120, 300, 1, 4096], true),
        ("few, synced", true, &[120, 300, 1, 4096], true),
        ("drop flushes", false, &[200; 50], false),
        // > WRITE_BUFFER_BYTES in total: the buffer is written early.
        ("buffer fills", false, &[40_000; 60], false),
        // One record larger than the write buffer: written directly.
        ("huge frame", true, &[100, 1_500_000, 100], true),
    ];
    for &(name, sync, lens, flush) in cases {
        let dir = tmp();
        let (want, want_seq) = {
            let mut s = FileStore::open_with(dir.path(), StoreLimits::default(), sync).unwrap();
            for &len in lens {
                send(&mut s, len);
            }
            s.set_seq_nums(seqs(77, s.seq_nums().next_out)).unwrap();
            if flush {
                s.flush().unwrap();
                assert_eq!(s.file_len(), disk_len(dir.path()), "{name}");
            }
            (contents(&s), s.seq_nums())
        };
        assert_eq!(want.len(), lens.len(), "{name}");
        for _ in 0..2 {
            let s = FileStore::open_with(dir.path(), StoreLimits::default(), sync).unwrap();
            assert_eq!(contents(&s), want, "{name}");
            assert_eq!(s.seq_nums(), want_seq, "{name}");
            assert_eq!(s.truncated_at_open(), 0, "{name}");
        }
    }
}

#[test]
fn seq_nums_survive_reopen() {
    // (name, operations, expected after reopen). `Some(s)` sets, `None` stores a message
    // under next_out without recording the bump (as if that record were lost).
    let cases: &[(&str, &[Option<SeqNums>], SeqNums)] = &[
        ("fresh", &[], SeqNums::INITIAL),
        ("one", &[Some(seqs(5, 9))], seqs(5, 9)),
        (
            "last wins",
            &[Some(seqs(5, 9)), Some(seqs(6, 9)), Some(seqs(6, 10))],
            seqs(6, 10),
        ),
        (
            "may go down",
            &[Some(seqs(50, 50)), Some(seqs(2, 3))],
            seqs(2, 3),
        ),
        // A stored message whose bump was lost: next_out moves past it.
        (
            "message without bump",
            &[Some(seqs(4, 7)), None],
            seqs(4, 8),
        ),
        (
            "message, then bump",
            &[Some(seqs(4, 7)), None, Some(seqs(4, 8))],
            seqs(4, 8),
        ),
    ];
    for &(name, ops, want) in cases {
        let dir = tmp();
        {
            let mut s = FileStore::open(dir.path()).unwrap();
            for op in ops {
                match op {
                    Some(n) => s.set_seq_nums(*n).unwrap(),
                    None => {
                        let n = s.seq_nums().next_out;
                        s.save_outbound(n, &blob(n, 10)).unwrap();
                    }
                }
            }
            s.flush().unwrap();
        }
        assert_eq!(
            FileStore::open(dir.path()).unwrap().seq_nums(),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_killed_process_loses_only_what_was_not_flushed() {
    let dir = tmp();
    let mut s = FileStore::open(dir.path()).unwrap();
    for len in [10, 20, 30] {
        send(&mut s, len);
    }
    s.flush().unwrap();
    let (want, want_seq) = (contents(&s), s.seq_nums());
    send(&mut s, 40);
    s.set_seq_nums(seqs(9, 9)).unwrap();
    std::mem::forget(s); // no Drop: nothing more reaches the file
    let s = FileStore::open(dir.path()).unwrap();
    assert_eq!(contents(&s), want);
    assert_eq!(s.seq_nums(), want_seq);
}

/// Three flushed messages, then the last flush as given; returns (state after the first
/// flushes, its file length, state after all, file length, file bytes).
fn two_flushes(dir: &Path, last: &dyn Fn(&mut FileStore)) -> (State, u64, State, u64, Vec<u8>) {
    let mut s = FileStore::open(dir).unwrap();
    for len in [60, 70, 80] {
        send(&mut s, len);
    }
    s.flush().unwrap();
    let (a, la) = ((contents(&s), s.seq_nums()), s.file_len());
    last(&mut s);
    s.flush().unwrap();
    let lb = s.file_len();
    drop(s);
    let s = FileStore::open(dir).unwrap();
    let b = (contents(&s), s.seq_nums());
    drop(s);
    let bytes = fs::read(dir.join("outbound")).unwrap();
    assert_eq!(bytes.len() as u64, lb);
    (a, la, b, lb, bytes)
}

type LastFlush = (&'static str, fn(&mut FileStore));

const LAST_FLUSHES: &[LastFlush] = &[
    ("message and seq nums", |s| {
        send(s, 90);
    }),
    ("seq nums only", |s| s.set_seq_nums(seqs(40, 4)).unwrap()),
    ("message only", |s| {
        s.save_outbound(4, &blob(4, 50)).unwrap()
    }),
    ("two messages", |s| {
        send(s, 5);
        send(s, 300);
    }),
];

#[test]
fn torn_tail_at_every_offset_is_truncated() {
    for &(name, last) in LAST_FLUSHES {
        let src = tmp();
        let (a, la, b, lb, bytes) = two_flushes(src.path(), &last);
        assert!(lb > la, "{name}");
        for cut in la..=lb {
            let dir = tmp();
            fs::write(dir.path().join("outbound"), &bytes[..cut as usize]).unwrap();
            let mut s = FileStore::open(dir.path()).unwrap();
            let got = (contents(&s), s.seq_nums());
            if cut == lb {
                assert_eq!(got, b, "{name}: whole file");
                assert_eq!(s.truncated_at_open(), 0, "{name}");
                continue;
            }
            // A cut inside the last flush keeps whole records of it only: the first
            // flush's state, plus perhaps some of the last flush's messages (then
            // next_out is past them).
            let at = format!("{name}: cut at {cut}");
            assert!(s.file_len() >= la && s.file_len() <= cut, "{at}");
            assert!(got.0.starts_with(&a.0) && b.0.starts_with(&got.0), "{at}");
            if got.0 == a.0 {
                assert_eq!(got.1, a.1, "{at}");
            } else {
                assert_eq!(got.1.next_out, got.0.last().unwrap().0 + 1, "{at}");
            }
            assert_eq!(s.file_len(), disk_len(dir.path()), "{name}: cut at {cut}");
            assert_eq!(
                s.truncated_at_open(),
                cut - s.file_len(),
                "{name}: cut at {cut}"
            );
            // The store appends after the cut and reopens cleanly.
            let n = send(&mut s, 33);
            drop(s);
            let s = FileStore::open(dir.path()).unwrap();
            assert_eq!(s.truncated_at_open(), 0, "{name}: cut at {cut}");
            assert_eq!(contents(&s).last().unwrap().0, n, "{name}: cut at {cut}");
        }
    }
}

#[test]
fn torn_tail_within_one_record_gives_the_previous_state() {
    // The last flush holds exactly one record: every cut inside it gives state `a`.
    let src = tmp();
    let (a, la, _, lb, bytes) = two_flushes(src.path(), &|s| s.set_seq_nums(seqs(40, 4)).unwrap());
    for cut in la..lb {
        let dir = tmp();
        fs::write(dir.path().join("outbound"), &bytes[..cut as usize]).unwrap();
        let s = FileStore::open(dir.path()).unwrap();
        assert_eq!((contents(&s), s.seq_nums()), a, "cut at {cut}");
        assert_eq!(s.file_len(), la, "cut at {cut}");
        assert_eq!(s.truncated_at_open(), cut - la, "cut at {cut}");
    }
}

#[test]
fn corrupt_byte_in_the_last_flush_is_truncated() {
    for &(name, last) in LAST_FLUSHES {
        let src = tmp();
        let (a, la, _, lb, bytes) = two_flushes(src.path(), &last);
        for at in la..lb {
            let dir = tmp();
            let mut b = bytes.clone();
            b[at as usize] ^= 0x5a;
            fs::write(dir.path().join("outbound"), &b).unwrap();
            let s = FileStore::open(dir.path()).unwrap();
            // Everything from the damaged record on is gone; what precedes it is kept.
            assert!(
                s.file_len() >= la && s.file_len() <= at,
                "{name}: byte {at}"
            );
            assert_eq!(
                s.truncated_at_open(),
                lb - s.file_len(),
                "{name}: byte {at}"
            );
            let got = contents(&s);
            assert_eq!(got[..a.0.len()], a.0[..], "{name}: byte {at}");
            if s.file_len() == la {
                assert_eq!((got, s.seq_nums()), a, "{name}: byte {at}");
            }
        }
    }
}

#[test]
fn open_refuses_foreign_files_and_cleans_up() {
    let dir = tmp();
    fs::write(dir.path().join("outbound"), b"8=FIX.4.4\x019=5\x01").unwrap();
    let e = FileStore::open(dir.path()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    // Torn while being created (a prefix of the magic): starts afresh.
    let dir = tmp();
    fs::write(dir.path().join("outbound"), b"TCH").unwrap();
    let s = FileStore::open(dir.path()).unwrap();
    assert_eq!(s.seq_nums(), SeqNums::INITIAL);
    assert_eq!(s.file_len(), 8);
    // A compaction interrupted before its rename leaves a temporary, removed at open.
    drop(s);
    fs::write(dir.path().join("outbound.tmp"), b"junk").unwrap();
    let _s = FileStore::open(dir.path()).unwrap();
    assert!(!dir.path().join("outbound.tmp").exists());
}

#[test]
fn frames_that_cannot_be_retained_are_refused() {
    let dir = tmp();
    let mut f = FileStore::open_with(dir.path(), small(100, 10), false).unwrap();
    let mut m = MemoryStore::with_limits(small(100, 10));
    let stores: [&mut dyn SessionStore; 2] = [&mut f, &mut m];
    for s in stores {
        s.save_outbound(1, &blob(1, 100)).unwrap();
        for len in [0, 101] {
            let e = s.save_outbound(2, &blob(2, len)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        }
        assert_eq!(contents(&*s), vec![(1, blob(1, 100))]);
    }
    drop(f);
    let f = FileStore::open_with(dir.path(), small(100, 10), false).unwrap();
    assert_eq!(contents(&f), vec![(1, blob(1, 100))]);
}

#[test]
fn eviction_keeps_the_newest() {
    // (name, limits, message lengths, expected retained seqs)
    let cases: &[(&str, StoreLimits, &[usize], std::ops::RangeInclusive<u64>)] = &[
        ("fits", small(1000, 10), &[100; 10], 1..=10),
        ("by count", small(1000, 3), &[10; 10], 8..=10),
        ("by bytes", small(1000, 100), &[100; 25], 16..=25),
        // 7 × 130 = 910: the 8th wraps to 0, evicting the 1st (the tail is given up).
        ("wrap", small(1000, 100), &[130; 8], 2..=8),
        ("frame = ring", small(100, 100), &[60, 60, 100], 3..=3),
        // 400 + 700 > 1000: it wraps to 0 and overlaps all four (contiguous frames are
        // the price of handing out plain slices).
        (
            "a big one evicts many",
            small(1000, 100),
            &[100, 100, 100, 100, 700],
            5..=5,
        ),
        (
            "after a wrap",
            small(1000, 100),
            &[300, 300, 300, 200, 200, 500],
            4..=6,
        ),
    ];
    for (name, limits, lens, want) in cases {
        let dir = tmp();
        let mut f = FileStore::open_with(dir.path(), *limits, false).unwrap();
        let mut m = MemoryStore::with_limits(*limits);
        for &len in *lens {
            send(&mut f, len);
            send(&mut m, len);
        }
        let want: Contents = want
            .clone()
            .map(|s| (s, blob(s, lens[s as usize - 1])))
            .collect();
        assert_eq!(contents(&m), want, "{name}: memory");
        assert_eq!(contents(&f), want, "{name}: file");
        drop(f);
        // The file keeps everything (until compaction); open retains the same newest.
        let f = FileStore::open_with(dir.path(), *limits, false).unwrap();
        assert_eq!(contents(&f), want, "{name}: reopened");
        assert_eq!(f.seq_nums().next_out, lens.len() as u64 + 1, "{name}");
    }
}

#[test]
fn reopening_with_other_limits_retains_what_fits() {
    let dir = tmp();
    {
        let mut s = FileStore::open(dir.path()).unwrap();
        for _ in 0..20 {
            send(&mut s, 50);
        }
    }
    let s = FileStore::open_with(dir.path(), small(200, 100), false).unwrap();
    assert_eq!(
        contents(&s).iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![17, 18, 19, 20]
    );
    assert_eq!(s.seq_nums().next_out, 21);
}

#[test]
fn compaction_keeps_content() {
    for sync in [false, true] {
        let dir = tmp();
        let limits = small(4096, 16);
        let (want, want_seq, big) = {
            let mut s = FileStore::open_with(dir.path(), limits, sync).unwrap();
            for i in 0..30_000u64 {
                send(&mut s, 60 + (i % 40) as usize);
                if i % 1000 == 0 {
                    s.flush().unwrap();
                }
            }
            s.set_seq_nums(seqs(12_345, s.seq_nums().next_out)).unwrap();
            s.flush().unwrap();
            (contents(&s), s.seq_nums(), s.file_len())
        };
        assert!(big > 2 << 20, "{big}");
        assert_eq!(want.len(), 16);
        // Open compacts: the file shrinks to the retained state.
        let s = FileStore::open_with(dir.path(), limits, sync).unwrap();
        let compacted = s.file_len();
        assert!(compacted < 4096 + 16 * 17 + 8 + 25, "{compacted}");
        assert_eq!(compacted, disk_len(dir.path()));
        assert!(!dir.path().join("outbound.tmp").exists());
        assert_eq!(contents(&s), want);
        assert_eq!(s.seq_nums(), want_seq);
        drop(s);
        let mut s = FileStore::open_with(dir.path(), limits, sync).unwrap();
        assert_eq!(s.file_len(), compacted, "no second compaction");
        assert_eq!((contents(&s), s.seq_nums()), (want.clone(), want_seq));
        // Explicit compaction mid-session, with unflushed data, then appends.
        let n = send(&mut s, 99);
        s.compact().unwrap();
        let n2 = send(&mut s, 98);
        let (want, want_seq) = (contents(&s), s.seq_nums());
        assert_eq!(
            want[14..].iter().map(|m| m.0).collect::<Vec<_>>(),
            vec![n, n2]
        );
        drop(s);
        let s = FileStore::open_with(dir.path(), limits, sync).unwrap();
        assert_eq!((contents(&s), s.seq_nums()), (want, want_seq));
    }
}

#[test]
fn reset_returns_to_the_initial_state() {
    let dir = tmp();
    let mut f = FileStore::open(dir.path()).unwrap();
    let mut m = MemoryStore::new();
    for s in [&mut f as &mut dyn SessionStore, &mut m] {
        for _ in 0..5 {
            send(s, 100);
        }
        s.flush().unwrap();
        send(s, 100); // unflushed: discarded too
        s.set_seq_nums(seqs(9, 9)).unwrap();
        s.reset().unwrap();
        assert_eq!(s.seq_nums(), SeqNums::INITIAL);
        assert!(contents(&*s).is_empty());
    }
    assert_eq!(f.file_len(), 8);
    assert_eq!(disk_len(dir.path()), 8);
    drop(f);
    let mut f = FileStore::open(dir.path()).unwrap();
    assert_eq!(f.seq_nums(), SeqNums::INITIAL);
    assert!(contents(&f).is_empty());
    // Life goes on after a reset.
    assert_eq!(send(&mut f, 10), 1);
    drop(f);
    let f = FileStore::open(dir.path()).unwrap();
    assert_eq!(contents(&f), vec![(1, blob(1, 10))]);
    assert_eq!(f.seq_nums(), seqs(1, 2));
}

// ---------------------------------------------------------------------------------------
// Through the session: eviction, then a ResendRequest.

struct H<S: SessionStore> {
    s: Session<S>,
    auth: Authenticator,
    in_seq: u64,
}

fn config() -> SessionConfig {
    SessionConfig {
        our_comp_id: "TACHYON".into(),
        their_comp_id: "C1".into(),
        require_hmac: false,
        reset_on_logon: false,
        heartbeat_min_s: 1,
        heartbeat_max_s: 120,
        grace_ns: 1_000_000_000,
        sending_time_window_ns: 120_000_000_000,
        logon_timeout_ns: 10_000_000_000,
        logout_timeout_ns: 10_000_000_000,
        throttle: ThrottleConfig {
            msgs_per_sec: 1_000_000,
            burst: 1_000_000,
            max_violations: 0,
        },
        max_message_len: 4096,
    }
}

/// Frames as `35=…|34=…|…` without 49, 52, 56 and 122 (all fixed by the clock).
fn frames(mut buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Decoded::Message { msg, consumed } = decode(buf) {
        out.push(
            msg.fields()
                .map(|f| f.unwrap())
                .filter(|(t, _)| ![49, 52, 56, 122].contains(t))
                .map(|(t, v)| format!("{t}={}", String::from_utf8_lossy(v)))
                .collect::<Vec<_>>()
                .join("|"),
        );
        buf = &buf[consumed..];
    }
    assert!(buf.is_empty(), "trailing bytes");
    out
}

impl<S: SessionStore> H<S> {
    fn new(store: S) -> H<S> {
        let mut s = Session::new(config(), store);
        s.on_connect(T0);
        let auth = Authenticator::new(
            &[],
            None,
            5_000_000_000,
            LockoutPolicy {
                max_failures: 3,
                window_ns: 1,
                lockout_ns: 1,
                max_tracked: 10,
            },
        );
        let in_seq = s.seq_nums().next_in;
        H { s, auth, in_seq }
    }

    /// A client message `body` (after the header); returns our frames.
    fn recv(&mut self, body: &str) -> Vec<String> {
        let f = common::frame(&format!(
            "{}|34={}|49=C1|52=20261122-03:00:00.000|56=TACHYON|{}",
            &body[..4],
            self.in_seq,
            &body[5..]
        ));
        self.in_seq += 1;
        let Decoded::Message { msg, .. } = decode(&f) else {
            panic!("{body}")
        };
        let mut ctx = LogonContext {
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            logged_on_elsewhere: false,
            auth: &mut self.auth,
        };
        let acts = self.s.on_message(T0, &msg, &mut ctx);
        assert!(acts.disconnect().is_none(), "{body}");
        self.take()
    }

    fn take(&mut self) -> Vec<String> {
        let out = frames(self.s.outbound());
        let n = self.s.outbound().len();
        self.s.consume_outbound(n);
        out
    }

    /// We send an ExecutionReport; returns its MsgSeqNum.
    fn er(&mut self, i: u64) -> u64 {
        let seq = self
            .s
            .send_app(T0, b"8", |w| {
                w.field(37, b"1")
                    .field_uint(11, i)
                    .field(150, b"0")
                    .field(58, &[b'x'; 40]);
            })
            .unwrap();
        self.s.flush_store().unwrap();
        self.take();
        seq
    }
}

fn er_resent(seq: u64) -> String {
    format!(
        "35=8|34={seq}|43=Y|37=1|11={seq}|150=0|58={}",
        "x".repeat(40)
    )
}

fn gap(from: u64, to: u64) -> String {
    format!("35=4|34={from}|43=Y|123=Y|36={to}")
}

/// Logon (reply 1), ERs 2..=11 (ER i has 11=i), a TestRequest (our Heartbeat is 12),
/// ER 13; a retention of 3 messages keeps 10, 11 and 13.
fn fill<S: SessionStore>(h: &mut H<S>) {
    assert_eq!(h.recv("35=A|98=0|108=30|"), ["35=A|34=1|98=0|108=30"]);
    for i in 2..=11 {
        assert_eq!(h.er(i), i);
    }
    assert_eq!(h.recv("35=1|112=t|"), ["35=0|34=12|112=t"]);
    assert_eq!(h.er(13), 13);
    let kept: Vec<u64> = contents(h.s.store()).iter().map(|m| m.0).collect();
    assert_eq!(kept, [10, 11, 13]);
}

#[test]
fn resend_of_evicted_messages_is_gap_filled() {
    let limits = small(1 << 20, 3);
    // (name, ResendRequest 7, 16, expected frames)
    let cases: Vec<(&str, u64, u64, Vec<String>)> = vec![
        (
            "everything",
            1,
            0,
            vec![
                gap(1, 10),
                er_resent(10),
                er_resent(11),
                gap(12, 13),
                er_resent(13),
            ],
        ),
        ("all evicted", 2, 5, vec![gap(2, 6)]),
        ("evicted then kept", 5, 10, vec![gap(5, 10), er_resent(10)]),
        ("kept only", 11, 11, vec![er_resent(11)]),
        ("kept and admin", 11, 12, vec![er_resent(11), gap(12, 13)]),
        ("beyond the last sent", 13, 99, vec![er_resent(13)]),
    ];
    for (name, begin, end, want) in &cases {
        let resend = format!("35=2|7={begin}|16={end}|");
        let mut h = H::new(MemoryStore::with_limits(limits));
        fill(&mut h);
        assert_eq!(&h.recv(&resend), want, "{name}: memory");

        let dir = tmp();
        let mut h = H::new(FileStore::open_with(dir.path(), limits, false).unwrap());
        fill(&mut h);
        assert_eq!(&h.recv(&resend), want, "{name}: file");

        // After a restart: the same retention from the file; our Logon reply is 14.
        let dir = tmp();
        fill(&mut H::new(
            FileStore::open_with(dir.path(), limits, false).unwrap(),
        ));
        let mut h = H::new(FileStore::open_with(dir.path(), limits, false).unwrap());
        assert_eq!(h.s.seq_nums(), seqs(3, 14));
        assert_eq!(h.recv("35=A|98=0|108=30|"), ["35=A|34=14|98=0|108=30"]);
        let mut want = want.clone();
        if *end == 0 || *end >= 14 {
            want.push(gap(14, 15));
        }
        assert_eq!(h.recv(&resend), want, "{name}: reopened");
    }
}

// ---------------------------------------------------------------------------------------
// Random operations against a model.

#[derive(Clone, Debug)]
enum Op {
    /// Send a message of this length (store it, bump next_out).
    Send(usize),
    /// Store a message `k` below next_out again (drops the newer ones), then bump.
    Resend(u64, usize),
    /// An inbound message: bump next_in.
    Inbound,
    Flush,
    Reset,
    /// Drop and open again.
    Reopen,
    /// Lose everything not flushed (no Drop), then open again.
    Kill,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..=MAX_LEN).prop_map(Op::Send),
        1 => (1u64..4, 1usize..=MAX_LEN).prop_map(|(k, l)| Op::Resend(k, l)),
        3 => Just(Op::Inbound),
        2 => Just(Op::Flush),
        1 => Just(Op::Reset),
        1 => Just(Op::Reopen),
        1 => Just(Op::Kill),
    ]
}

const MAX_LEN: usize = 120;

#[derive(Clone, Debug, PartialEq)]
struct Model {
    seq: SeqNums,
    msgs: Contents,
    /// A `Resend` dropped newer messages: older ones evicted before do not come back,
    /// so the retention lower bound no longer applies (until a reset).
    resent: bool,
}

impl Model {
    fn new() -> Model {
        Model {
            seq: SeqNums::INITIAL,
            msgs: Vec::new(),
            resent: false,
        }
    }
    fn save(&mut self, seq: u64, m: Vec<u8>) {
        self.msgs.retain(|x| x.0 < seq);
        self.msgs.push((seq, m));
    }
}

/// Applies `op` to the store and the model (the FileStore-only ones return false).
fn apply<S: SessionStore + ?Sized>(s: &mut S, m: &mut Model, op: &Op) -> bool {
    match *op {
        Op::Send(len) => {
            let n = m.seq.next_out;
            m.save(n, blob(n, len));
            m.seq.next_out += 1;
            assert_eq!(send(s, len), n);
        }
        Op::Resend(k, len) => {
            let n = m.seq.next_out.saturating_sub(k).max(1);
            m.save(n, blob(n, len));
            m.seq.next_out = n + 1;
            m.resent = true;
            s.save_outbound(n, &blob(n, len)).unwrap();
            s.set_seq_nums(m.seq).unwrap();
        }
        Op::Inbound => {
            m.seq.next_in += 1;
            s.set_seq_nums(m.seq).unwrap();
        }
        Op::Flush => s.flush().unwrap(),
        Op::Reset => {
            *m = Model::new();
            s.reset().unwrap();
        }
        Op::Reopen | Op::Kill => return false,
    }
    true
}

/// The store holds a suffix of the model's messages, within the limits, and gives up
/// at most two frames' worth of bytes (the wrap-around and the partly overwritten one).
fn check<S: SessionStore + ?Sized>(s: &S, m: &Model, l: StoreLimits) -> Result<(), TestCaseError> {
    let got = contents(s);
    prop_assert_eq!(s.seq_nums(), m.seq);
    prop_assert!(got.len() <= m.msgs.len());
    prop_assert_eq!(&got[..], &m.msgs[m.msgs.len() - got.len()..]);
    let bytes: usize = got.iter().map(|x| x.1.len()).sum();
    prop_assert!(got.len() <= l.max_messages && bytes <= l.max_bytes);
    prop_assert!(
        m.resent
            || got.len() == m.msgs.len()
            || got.len() == l.max_messages
            || bytes + 2 * MAX_LEN > l.max_bytes,
        "kept {} of {} messages, {} bytes",
        got.len(),
        m.msgs.len(),
        bytes
    );
    Ok(())
}

fn limits() -> impl Strategy<Value = StoreLimits> {
    (MAX_LEN..2000, 1usize..40).prop_map(|(b, n)| small(b, n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_store_matches_model(l in limits(), ops in prop::collection::vec(op(), 0..200)) {
        let mut s = MemoryStore::with_limits(l);
        let mut m = Model::new();
        for op in &ops {
            apply(&mut s, &mut m, op);
            check(&s, &m, l)?;
        }
    }
}

proptest! {
    // Each case opens files (and with `sync`, fsyncs): fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn file_store_matches_model(
        l in limits(),
        sync in any::<bool>(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let dir = tmp();
        let mut s = FileStore::open_with(dir.path(), l, sync).unwrap();
        let mut m = Model::new();
        // The state a kill falls back to (nothing here fills the write buffer early).
        let mut flushed = Model::new();
        for op in &ops {
            if !apply(&mut s, &mut m, op) {
                if let Op::Kill = op {
                    std::mem::forget(s);
                    m = flushed.clone();
                } else {
                    drop(s);
                }
                s = FileStore::open_with(dir.path(), l, sync).unwrap();
                prop_assert_eq!(s.truncated_at_open(), 0);
            }
            if matches!(op, Op::Flush | Op::Reset | Op::Reopen | Op::Kill) {
                flushed = m.clone();
            }
            check(&s, &m, l)?;
        }
    }
}
