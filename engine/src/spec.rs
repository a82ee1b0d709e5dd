//! Static engine configuration: assets, instruments and capacity limits. Built from the
//! operator's TOML by the `tachyon-config` crate, which converts decimals to integer units.

use crate::types::{AccountId, AssetId};

/// One asset (currency).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetSpec {
    /// Asset code, e.g. "BTC".
    pub code: String,
    /// Number of decimals of the smallest unit; balances are integers of `10^-decimals`.
    pub decimals: u8,
}

/// One spot instrument. All values are integers in the engine's units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Symbol, e.g. "BTC-USDT".
    pub symbol: String,
    /// Asset bought and sold.
    pub base: AssetId,
    /// Asset prices are quoted in (and fees are charged in).
    pub quote: AssetId,
    /// Quote-asset units per (1 tick × 1 lot): `tick_size × lot_size × 10^quote_decimals`.
    /// A trade of `q` lots at `p` ticks moves `p × q × quote_units_per_tick_lot` quote units.
    pub quote_units_per_tick_lot: i64,
    /// Base-asset units per lot: `lot_size × 10^base_decimals`.
    pub base_units_per_lot: i64,
    /// Minimum order quantity in lots (≥ 1).
    pub min_qty_lots: i64,
    /// Maximum order quantity in lots (bounds every product so arithmetic cannot overflow).
    pub max_qty_lots: i64,
    /// Minimum notional (price × qty) in quote units, checked on limit orders and on a
    /// market buy's budget.
    pub min_notional_quote_units: i64,
    /// Maker fee in basis points of notional; negative is a rebate.
    pub maker_fee_bps: i32,
    /// Taker fee in basis points of notional (≥ 0, ≥ |maker rebate|).
    pub taker_fee_bps: i32,
    /// Lowest accepted price in ticks (≥ 1).
    pub min_price_ticks: i64,
    /// Highest accepted price in ticks.
    pub max_price_ticks: i64,
}

/// Everything the engine needs to start: the instruments and the capacity limits that
/// size every preallocated structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Assets, indexed by `AssetId`.
    pub assets: Vec<AssetSpec>,
    /// Instruments, indexed by `SymbolId`.
    pub instruments: Vec<InstrumentSpec>,
    /// Account ids must be below this; balances are preallocated for all of them.
    pub max_accounts: u32,
    /// Maximum number of resting orders across all books.
    pub max_orders: u32,
    /// Maximum number of price levels per side of one book.
    pub max_levels_per_side: u32,
    /// The account that collects fees (and pays maker rebates). Created at start.
    pub fee_account: AccountId,
}

/// Why an `EngineConfig` is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError(pub String);

impl core::fmt::Display for SpecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// Largest absolute basis-point fee the engine accepts (10%).
pub const MAX_FEE_BPS: i32 = 1000;

impl EngineConfig {
    /// Checks every limit the engine relies on for overflow-free integer arithmetic.
    pub fn validate(&self) -> Result<(), SpecError> {
        let err = |m: String| Err(SpecError(m));
        if self.assets.is_empty() || self.assets.len() > u16::MAX as usize {
            return err(format!("need 1..=65535 assets, have {}", self.assets.len()));
        }
        if self.instruments.len() > u16::MAX as usize {
            return err("too many instruments".into());
        }
        if self.max_accounts == 0 || self.fee_account.0 >= self.max_accounts {
            return err(format!(
                "fee account {} must be below max_accounts {}",
                self.fee_account.0, self.max_accounts
            ));
        }
        if self.max_orders == 0 || self.max_levels_per_side == 0 {
            return err("max_orders and max_levels_per_side must be positive".into());
        }
        for (i, ins) in self.instruments.iter().enumerate() {
            let name = &ins.symbol;
            let n_assets = self.assets.len();
            if ins.base.0 as usize >= n_assets || ins.quote.0 as usize >= n_assets {
                return err(format!("instrument {name}: unknown asset id"));
            }
            if ins.base == ins.quote {
                return err(format!(
                    "instrument {name}: base and quote are the same asset"
                ));
            }
            if ins.quote_units_per_tick_lot <= 0 || ins.base_units_per_lot <= 0 {
                return err(format!("instrument {name}: unit sizes must be positive"));
            }
            if ins.min_qty_lots < 1 || ins.max_qty_lots < ins.min_qty_lots {
                return err(format!("instrument {name}: need 1 <= min_qty <= max_qty"));
            }
            if ins.min_price_ticks < 1 || ins.max_price_ticks < ins.min_price_ticks {
                return err(format!(
                    "instrument {name}: need 1 <= min_price <= max_price"
                ));
            }
            if ins.min_notional_quote_units < 0 {
                return err(format!("instrument {name}: min notional is negative"));
            }
            if !(0..=MAX_FEE_BPS).contains(&ins.taker_fee_bps)
                || !(-MAX_FEE_BPS..=MAX_FEE_BPS).contains(&ins.maker_fee_bps)
            {
                return err(format!(
                    "instrument {name}: fees out of range ±{MAX_FEE_BPS} bps"
                ));
            }
            if ins.maker_fee_bps < 0 && -ins.maker_fee_bps > ins.taker_fee_bps {
                return err(format!(
                    "instrument {name}: maker rebate exceeds taker fee; the fee account would pay out"
                ));
            }
            // Largest notional plus the largest fee (10%) must stay below 2^62, so every
            // sum of two such amounts fits in an i64.
            let max_notional = (ins.max_price_ticks as i128)
                * (ins.max_qty_lots as i128)
                * (ins.quote_units_per_tick_lot as i128)
                * 11
                / 10;
            let max_base = (ins.max_qty_lots as i128) * (ins.base_units_per_lot as i128);
            if max_notional >= (1i128 << 62) || max_base >= (1i128 << 62) {
                return err(format!(
                    "instrument {name} (#{i}): max_price × max_qty is too large for 64-bit units"
                ));
            }
        }
        Ok(())
    }
}

impl EngineConfig {
    /// A stable fingerprint of everything that changes the engine's behaviour; snapshots
    /// record it so state is never restored under different instruments or limits.
    pub fn fingerprint(&self) -> u64 {
        use core::hash::{Hash, Hasher};
        let mut h = crate::hash::StableHasher::default();
        (self.assets.len() as u64).hash(&mut h);
        for a in &self.assets {
            a.code.as_bytes().hash(&mut h);
            a.decimals.hash(&mut h);
        }
        (self.instruments.len() as u64).hash(&mut h);
        for i in &self.instruments {
            i.symbol.as_bytes().hash(&mut h);
            (i.base.0, i.quote.0).hash(&mut h);
            (
                i.quote_units_per_tick_lot,
                i.base_units_per_lot,
                i.min_qty_lots,
                i.max_qty_lots,
            )
                .hash(&mut h);
            (i.min_notional_quote_units, i.maker_fee_bps, i.taker_fee_bps).hash(&mut h);
            (i.min_price_ticks, i.max_price_ticks).hash(&mut h);
        }
        (
            self.max_accounts,
            self.max_orders,
            self.max_levels_per_side,
            self.fee_account.0,
        )
            .hash(&mut h);
        h.finish()
    }
}
