//! The hot paths allocate nothing: decode, field iteration, validation, parsing into
//! structs, encoding, the session's steady-state inbound path (heartbeats, test
//! requests, application messages) once warm, and the outbound path
//! (`Session::send_app` → store → `Session::flush_store`) on a `MemoryStore` and on a
//! `FileStore`, including eviction and serving a ResendRequest. Counted per thread.
mod common;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use tachyon_fix_gateway::*;

struct Counting;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; only counts calls made
// on the current thread (a `const` thread-local needs no allocation to access).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System.alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = COUNT.with(|c| c.get());
    let r = f();
    (r, COUNT.with(|c| c.get()) - before)
}

const T0: u64 = 1_795_316_400_000_000_000;

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

#[test]
fn hot_paths_do_not_allocate() {
    let frames: Vec<Vec<u8>> = [
        "35=D|34=2|49=C1|52=20261122-03:00:00.000|56=TACHYON|11=o1|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=100.5|38=0.25|7928=2|",
        "35=V|34=3|49=C1|52=20261122-03:00:00.000|56=TACHYON|262=m|263=1|264=5|267=2|269=0|269=1|146=1|55=BTC-USDT|",
        "35=D|34=4|49=C1|52=20261122-03:00:00.000|56=TACHYON|11=o1|55=X|54=9|",
    ]
    .iter()
    .map(|b| common::frame(b))
    .collect();
    let grid = PriceQtyGrid::new("0.5".parse().unwrap(), "0.01".parse().unwrap()).unwrap();
    let mut out = vec![0u8; 1024];
    let (_, n) = allocations(|| {
        for f in &frames {
            let Decoded::Message { msg, .. } = decode(f) else {
                panic!()
            };
            for _ in msg.fields() {}
            if validate(&msg).is_ok() {
                if let Ok(AppMessage::NewOrderSingle(o)) = parse_app(&msg) {
                    assert_eq!(grid.ticks(o.price.unwrap()), Ok(201));
                    assert_eq!(grid.price.parse(b"100.5"), Ok(201));
                }
            }
            let h = Header {
                msg_type: b"8",
                seq_num: 9,
                sender_comp_id: b"TACHYON",
                target_comp_id: b"C1",
                sending_time_ns: T0,
            };
            let mut w = MessageWriter::new(&mut out, &h);
            w.field(11, b"o1")
                .field_steps(44, 201, &grid.price)
                .field_timestamp(60, T0);
            w.finish().unwrap();
        }
    });
    assert_eq!(n, 0, "codec allocated");

    // Session steady state.
    let mut s = Session::new(config(), MemoryStore::new());
    let mut auth = Authenticator::new(
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
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    s.on_connect(T0);
    let logon = common::frame("35=A|34=1|49=C1|52=20261122-03:00:00.000|56=TACHYON|98=0|108=30|");
    let Decoded::Message { msg, .. } = decode(&logon) else {
        panic!()
    };
    let mut ctx = LogonContext {
        source: src,
        logged_on_elsewhere: false,
        auth: &mut auth,
    };
    assert!(s
        .on_message(T0, &msg, &mut ctx)
        .iter()
        .any(|a| *a == Action::LoggedOn));
    let n_out = s.outbound().len();
    s.consume_outbound(n_out);
    let inbound: Vec<Vec<u8>> = (2..200u64)
        .map(|seq| {
            let body = match seq % 3 {
                0 => format!("35=0|34={seq}|49=C1|52=20261122-03:00:00.000|56=TACHYON|"),
                1 => format!("35=1|34={seq}|49=C1|52=20261122-03:00:00.000|56=TACHYON|112=t{seq}|"),
                _ => format!("35=D|34={seq}|49=C1|52=20261122-03:00:00.000|56=TACHYON|11=o{seq}|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=1|38=1|"),
            };
            common::frame(&body)
        })
        .collect();
    let (delivered, n) = allocations(|| {
        let mut delivered = 0;
        for f in &inbound {
            let Decoded::Message { msg, .. } = decode(f) else {
                panic!()
            };
            let mut ctx = LogonContext {
                source: src,
                logged_on_elsewhere: false,
                auth: &mut auth,
            };
            let acts = s.on_message(T0, &msg, &mut ctx);
            delivered += acts
                .iter()
                .filter(|a| matches!(a, Action::Deliver { .. }))
                .count();
            assert!(acts.disconnect().is_none());
            let _ = s.on_timer(T0);
            let n_out = s.outbound().len();
            s.consume_outbound(n_out);
        }
        delivered
    });
    assert_eq!(delivered, 66);
    assert_eq!(n, 0, "session steady state allocated");
}

fn inbound(seq: u64) -> Vec<u8> {
    common::frame(&format!(
        "35=D|34={seq}|49=C1|52=20261122-03:00:00.000|56=TACHYON|11=o{seq}|55=BTC-USDT|54=1|60=20261122-03:00:00.000|40=2|44=1|38=1|"
    ))
}

/// Logs on, warms up, then counts: 2,000 ExecutionReports through `send_app` (the store
/// evicts all along), an inbound order every 4th, a store flush every 10th; then a
/// ResendRequest for everything.
fn outbound_path<S: SessionStore>(store: S, name: &str) {
    let mut s = Session::new(config(), store);
    let mut auth = Authenticator::new(
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
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    s.on_connect(T0);
    let logon = common::frame("35=A|34=1|49=C1|52=20261122-03:00:00.000|56=TACHYON|98=0|108=30|");
    let frames: Vec<Vec<u8>> = (2..1000).map(inbound).collect();
    let resend = common::frame("35=2|34=1000|49=C1|52=20261122-03:00:00.000|56=TACHYON|7=1|16=0|");
    let mut on_message = |s: &mut Session<S>, f: &[u8]| {
        let Decoded::Message { msg, .. } = decode(f) else {
            panic!()
        };
        let mut ctx = LogonContext {
            source: src,
            logged_on_elsewhere: false,
            auth: &mut auth,
        };
        assert!(s.on_message(T0, &msg, &mut ctx).disconnect().is_none());
    };
    on_message(&mut s, &logon);
    let er = |s: &mut Session<S>, i: u64| {
        s.send_app(T0, b"8", |w| {
            w.field_uint(37, i)
                .field(11, b"client-order-id-1")
                .field(150, b"F")
                .field(39, b"1")
                .field(55, b"BTC-USDT")
                .field(54, b"1")
                .field(32, b"0.25")
                .field(31, b"100.5")
                .field(151, b"0.75")
                .field(14, b"0.25")
                .field(6, b"100.5")
                .field_timestamp(60, T0);
        })
        .unwrap();
    };
    for i in 0..300 {
        er(&mut s, i);
        s.flush_store().unwrap();
        let n = s.outbound().len();
        s.consume_outbound(n);
    }
    let (_, n) = allocations(|| {
        let mut next_in = frames.iter();
        for i in 0..2000 {
            er(&mut s, i);
            if i % 4 == 0 {
                on_message(&mut s, next_in.next().unwrap());
            }
            if i % 10 == 9 {
                s.flush_store().unwrap();
                let n = s.outbound().len();
                s.consume_outbound(n);
            }
        }
        s.flush_store().unwrap();
    });
    assert_eq!(n, 0, "{name}: send_app/flush_store allocated");
    let n = s.outbound().len();
    s.consume_outbound(n);
    // The resend: a gap fill, then the retained messages (they fit the outbox).
    let (_, n) = allocations(|| on_message(&mut s, &resend));
    assert!(s.outbound().len() > 10_000, "{name}: resend sent");
    assert_eq!(n, 0, "{name}: serving a ResendRequest allocated");
}

#[test]
fn outbound_path_does_not_allocate() {
    let limits = StoreLimits {
        max_bytes: 32 << 10,
        max_messages: 200,
    };
    outbound_path(MemoryStore::with_limits(limits), "memory");
    for sync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        outbound_path(
            FileStore::open_with(dir.path(), limits, sync).unwrap(),
            &format!("file, sync={sync}"),
        );
    }
}
