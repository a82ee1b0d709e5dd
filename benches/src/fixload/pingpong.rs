//! Plain TCP ping-pong on loopback: the floor under any FIX round trip on this machine.
//!
//! One echo thread answers each `request_len`-byte message with a `reply_len`-byte one
//! (the sizes of a NewOrderSingle and of an ExecutionReport in the FIX run); the client
//! thread sends request `i` at `t0 + i / rate` (or at once if the previous round trip ran
//! late), blocks until the whole reply is in, and records `now − due(i)`. Both sockets
//! are blocking with TCP_NODELAY, as the FIX client's are, so each round trip pays the
//! same two wake-ups a FIX order and its ExecutionReport pay.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Runs `count` round trips at `rate` per second; returns the round-trip histogram (ns).
pub fn run(
    request_len: usize,
    reply_len: usize,
    rate: u64,
    count: u64,
) -> io::Result<Histogram<u64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo =
        std::thread::Builder::new()
            .name("tcp-echo".into())
            .spawn(move || -> io::Result<()> {
                let (mut s, _) = listener.accept()?;
                s.set_nodelay(true)?;
                let mut req = vec![0u8; request_len];
                let reply = vec![b'r'; reply_len];
                loop {
                    match s.read_exact(&mut req) {
                        Ok(()) => s.write_all(&reply)?,
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            })?;
    super::client::tighten_timer_slack();
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let req = vec![b'q'; request_len];
    let mut reply = vec![0u8; reply_len];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let period = 1_000_000_000u128 / rate.max(1) as u128;
    // Warm-up: connection, page faults, caches.
    for _ in 0..1_000 {
        c.write_all(&req)?;
        c.read_exact(&mut reply)?;
    }
    let t0 = Instant::now();
    for i in 0..count {
        let due = (i as u128 * period) as u64;
        let mut now = t0.elapsed().as_nanos() as u64;
        while now < due {
            let rem = due - now;
            if rem > super::client::SPIN_BELOW_NS {
                std::thread::sleep(Duration::from_nanos(rem - super::client::SPIN_BELOW_NS));
            } else {
                std::thread::yield_now();
            }
            now = t0.elapsed().as_nanos() as u64;
        }
        c.write_all(&req)?;
        c.read_exact(&mut reply)?;
        let done = t0.elapsed().as_nanos() as u64;
        hist.record((done - due).max(1)).expect("in range");
    }
    drop(c);
    echo.join().expect("echo thread")?;
    Ok(hist)
}
