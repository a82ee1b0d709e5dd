//! Inbound token bucket (messages per second with a burst), with an injected clock.
//!
//! Tokens are counted in nano-tokens (1 token = 10^9) so refill is exact integer
//! arithmetic: `elapsed_ns × msgs_per_sec` nano-tokens, no floating point.

/// Throttle settings (from `fix.sessions[].throttle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Sustained messages per second.
    pub msgs_per_sec: u32,
    /// Bucket size.
    pub burst: u32,
    /// Throttled messages tolerated per connection before logout (0 = logout at once).
    pub max_violations: u32,
}

impl From<tachyon_config::Throttle> for ThrottleConfig {
    fn from(t: tachyon_config::Throttle) -> Self {
        ThrottleConfig {
            msgs_per_sec: t.msgs_per_sec,
            burst: t.burst,
            max_violations: t.max_violations,
        }
    }
}

const NANO: u128 = 1_000_000_000;

#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    rate: u128,
    capacity: u128,
    tokens: u128,
    last_ns: u64,
}

impl TokenBucket {
    /// Starts full.
    pub(crate) fn new(cfg: &ThrottleConfig, now_ns: u64) -> TokenBucket {
        let capacity = cfg.burst.max(1) as u128 * NANO;
        TokenBucket {
            rate: cfg.msgs_per_sec as u128,
            capacity,
            tokens: capacity,
            last_ns: now_ns,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns) as u128;
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= NANO {
            self.tokens -= NANO;
            true
        } else {
            false
        }
    }
}
