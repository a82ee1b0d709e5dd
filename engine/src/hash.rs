//! Stable, seedless hashing for state and event-stream fingerprints.

use crate::event::{Event, EventSink};
use core::hash::{Hash, Hasher};

/// A deterministic 64-bit hasher (no random seed): the same input gives the same value in
/// every process, so live runs and journal replays can compare fingerprints.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher {
    state: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher {
            state: 0x243F_6A88_85A3_08D3,
        }
    }
}

impl StableHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        // Multiply-rotate-xor: cheap, and every input bit reaches the state.
        self.state = (self.state ^ x).wrapping_mul(K).rotate_left(29) ^ (self.state >> 17);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche (splitmix64).
        let mut z = self.state.wrapping_add(K);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

/// An [`EventSink`] that folds every event into a fingerprint and counts them; allocation
/// free, for determinism checks and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHasher {
    hasher: StableHasher,
    /// Number of events seen.
    pub count: u64,
}

impl EventHasher {
    /// Fingerprint of every event seen so far, in order.
    pub fn finish(&self) -> u64 {
        self.hasher.finish()
    }
}

impl EventSink for EventHasher {
    #[inline]
    fn emit(&mut self, event: Event) {
        event.hash(&mut self.hasher);
        self.count += 1;
    }
}

/// An [`EventSink`] that only counts events: for replay, where nobody reads them.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventCounter {
    /// Number of events seen.
    pub count: u64,
}

impl EventSink for EventCounter {
    #[inline]
    fn emit(&mut self, _event: Event) {
        self.count += 1;
    }
}
