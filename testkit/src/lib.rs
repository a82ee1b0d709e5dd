//! Test and benchmark support shared by the workspace's tests and benches (never by
//! production code): a deterministic RNG, the standard test engine configuration, genesis
//! commands, and a counting global allocator for no-allocation proofs.
#![deny(missing_docs)]

use tachyon_engine::{
    AccountId, AssetId, AssetSpec, Command, CommandKind, EngineConfig, InstrumentSpec, Transfer,
};

/// splitmix64: tiny, fast, and deterministic from its seed.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (n > 0; the tiny modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// One of `xs` (non-empty).
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Capacity limits of a test configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `EngineConfig::max_accounts`.
    pub accounts: u32,
    /// `EngineConfig::max_orders`.
    pub orders: u32,
    /// `EngineConfig::max_levels_per_side`.
    pub levels: u32,
}

/// The standard test market: assets USDT, BTC, ETH (8 decimals); BTC-USDT and ETH-USDT
/// with 10 quote units per tick-lot, 1,000 base units per lot, prices 1..=10^7 ticks,
/// quantities 1..=10^6 lots, no minimum notional; fee account 0.
pub fn two_symbol_config(limits: Limits, maker_fee_bps: i32, taker_fee_bps: i32) -> EngineConfig {
    let ins = |symbol: &str, base| InstrumentSpec {
        symbol: symbol.into(),
        base: AssetId(base),
        quote: AssetId(0),
        quote_units_per_tick_lot: 10,
        base_units_per_lot: 1000,
        min_qty_lots: 1,
        max_qty_lots: 1_000_000,
        min_notional_quote_units: 0,
        maker_fee_bps,
        taker_fee_bps,
        min_price_ticks: 1,
        max_price_ticks: 10_000_000,
    };
    EngineConfig {
        assets: ["USDT", "BTC", "ETH"]
            .iter()
            .map(|c| AssetSpec {
                code: (*c).into(),
                decimals: 8,
            })
            .collect(),
        instruments: vec![ins("BTC-USDT", 1), ins("ETH-USDT", 2)],
        max_accounts: limits.accounts,
        max_orders: limits.orders,
        max_levels_per_side: limits.levels,
        fee_account: AccountId(0),
    }
}

/// Opens accounts `1..=accounts` and deposits `amount` of every asset `0..assets` into each.
pub fn genesis(accounts: u32, assets: u16, amount: i64) -> Vec<Command> {
    let mut v = Vec::new();
    for a in 1..=accounts {
        v.push(Command {
            ts_ns: 1,
            kind: CommandKind::CreateAccount {
                account: AccountId(a),
            },
        });
        for asset in 0..assets {
            let t = Transfer {
                account: AccountId(a),
                asset: AssetId(asset),
                amount,
                reference: 0,
            };
            v.push(Command {
                ts_ns: 1,
                kind: CommandKind::Deposit(t),
            });
        }
    }
    v
}

/// Defines a global allocator that counts allocations while `COUNTING` is set: statics
/// `COUNTING: AtomicBool` and `ALLOCS: AtomicU64` in the calling module.
#[macro_export]
macro_rules! counting_allocator {
    () => {
        struct CountingAllocator;
        static COUNTING: ::std::sync::atomic::AtomicBool =
            ::std::sync::atomic::AtomicBool::new(false);
        static ALLOCS: ::std::sync::atomic::AtomicU64 = ::std::sync::atomic::AtomicU64::new(0);

        // SAFETY: forwards every call unchanged to the system allocator; only counts.
        unsafe impl ::std::alloc::GlobalAlloc for CountingAllocator {
            unsafe fn alloc(&self, layout: ::std::alloc::Layout) -> *mut u8 {
                if COUNTING.load(::std::sync::atomic::Ordering::Relaxed) {
                    ALLOCS.fetch_add(1, ::std::sync::atomic::Ordering::Relaxed);
                }
                // SAFETY: same contract as the caller's.
                unsafe { ::std::alloc::GlobalAlloc::alloc(&::std::alloc::System, layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: ::std::alloc::Layout) {
                // SAFETY: same contract as the caller's.
                unsafe { ::std::alloc::GlobalAlloc::dealloc(&::std::alloc::System, ptr, layout) }
            }
            unsafe fn realloc(
                &self,
                ptr: *mut u8,
                layout: ::std::alloc::Layout,
                new_size: usize,
            ) -> *mut u8 {
                if COUNTING.load(::std::sync::atomic::Ordering::Relaxed) {
                    ALLOCS.fetch_add(1, ::std::sync::atomic::Ordering::Relaxed);
                }
                // SAFETY: same contract as the caller's.
                unsafe {
                    ::std::alloc::GlobalAlloc::realloc(&::std::alloc::System, ptr, layout, new_size)
                }
            }
        }

        #[global_allocator]
        static GLOBAL: CountingAllocator = CountingAllocator;
    };
}
