//! Per-client-IP token buckets for the public endpoints. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// IPs tracked at once; beyond this, idle (full) buckets are forgotten first, and if
/// every tracked IP is active a new IP is refused until some bucket refills.
pub(crate) const MAX_TRACKED_IPS: usize = 65_536;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens, scaled by `SCALE` so refills stay integer.
    tokens: u64,
    last: Instant,
}

/// Fixed-point scale of a token.
const SCALE: u64 = 1_000_000;

/// A token bucket per IP: `burst` tokens, refilled at `per_sec` tokens per second.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_sec: u64,
    burst: u64,
    buckets: HashMap<IpAddr, Bucket>,
    max_tracked: usize,
}

impl RateLimiter {
    pub(crate) fn new(per_sec: u32, burst: u32, max_tracked: usize) -> RateLimiter {
        assert!(per_sec > 0 && burst > 0 && max_tracked > 0);
        RateLimiter {
            per_sec: per_sec as u64,
            burst: burst as u64,
            buckets: HashMap::with_capacity(max_tracked.min(1024)),
            max_tracked,
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed_us = now.saturating_duration_since(b.last).as_micros() as u64;
        // per_sec tokens per 10^6 µs, in units of 1/SCALE tokens: per_sec × elapsed_us.
        let add = self.per_sec.saturating_mul(elapsed_us);
        b.tokens = b.tokens.saturating_add(add).min(self.burst * SCALE);
        b.last = now;
    }

    /// Takes a token for `ip` at `now`; false = over the limit.
    pub(crate) fn check(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_tracked {
            self.forget_idle(now);
            if self.buckets.len() >= self.max_tracked {
                return false;
            }
        }
        let full = self.burst * SCALE;
        let mut b = *self.buckets.entry(ip).or_insert(Bucket {
            tokens: full,
            last: now,
        });
        self.refill(&mut b, now);
        let ok = b.tokens >= SCALE;
        if ok {
            b.tokens -= SCALE;
        }
        self.buckets.insert(ip, b);
        ok
    }

    /// Drops buckets that have refilled completely (their IPs are as good as new).
    fn forget_idle(&mut self, now: Instant) {
        let full = self.burst * SCALE;
        let per_sec = self.per_sec;
        self.buckets.retain(|_, b| {
            let elapsed_us = now.saturating_duration_since(b.last).as_micros() as u64;
            b.tokens.saturating_add(per_sec.saturating_mul(elapsed_us)) < full
        });
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn burst_then_refill_per_ip() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, 3, 16);
        // A burst of 3, then refused.
        let got: Vec<bool> = (0..5).map(|_| rl.check(ip(1), t0)).collect();
        assert_eq!(got, [true, true, true, false, false]);
        // Another IP has its own bucket.
        assert!(rl.check(ip(2), t0));
        // 10/s: one token after 100 ms, not after 99 ms.
        assert!(!rl.check(ip(1), t0 + Duration::from_millis(99)));
        assert!(rl.check(ip(1), t0 + Duration::from_millis(100)));
        assert!(!rl.check(ip(1), t0 + Duration::from_millis(100)));
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(3600);
        let got: Vec<bool> = (0..4).map(|_| rl.check(ip(1), later)).collect();
        assert_eq!(got, [true, true, true, false]);
    }

    #[test]
    fn tracked_ips_are_bounded() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(1, 2, 4);
        for n in 0..4 {
            assert!(rl.check(ip(n), t0));
        }
        // Table full of active IPs: a new one is refused, known ones still served.
        assert!(!rl.check(ip(9), t0));
        assert!(rl.check(ip(0), t0));
        assert_eq!(rl.tracked(), 4);
        // Once they have refilled, idle entries are forgotten and the new IP gets in.
        assert!(rl.check(ip(9), t0 + Duration::from_secs(5)));
        assert_eq!(rl.tracked(), 1);
    }
}
