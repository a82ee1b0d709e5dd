//! Conversion from the engine's integer units to exact decimals.

use rust_decimal::Decimal;
use tachyon_engine::{AccountId, AssetId, EngineConfig, SymbolId};

use crate::error::Error;

/// Extra decimal places kept in `orders.avg_price` beyond the tick size's (rounded half to
/// even). The exact figure is always `filled_quote / filled_qty`.
pub const AVG_PRICE_EXTRA_DP: u32 = 8;

/// The human sizes of one instrument (from the configuration's decimals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickLot {
    /// Price increment, in quote asset per base asset.
    pub tick_size: Decimal,
    /// Quantity increment, in base asset.
    pub lot_size: Decimal,
}

/// One asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetUnits {
    /// Code, e.g. "BTC".
    pub code: String,
    /// Decimals of the asset's smallest unit.
    pub decimals: u8,
}

/// One instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentUnits {
    /// Symbol, e.g. "BTC-USDT".
    pub symbol: String,
    /// Base asset.
    pub base: AssetId,
    /// Quote asset.
    pub quote: AssetId,
    /// Price of one tick.
    pub tick_size: Decimal,
    /// Quantity of one lot.
    pub lot_size: Decimal,
    /// Decimals of the base asset.
    pub base_decimals: u8,
    /// Decimals of the quote asset.
    pub quote_decimals: u8,
}

/// Everything needed to turn engine integers into decimals, indexed like the engine's
/// configuration (`AssetId`, `SymbolId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Units {
    assets: Vec<AssetUnits>,
    instruments: Vec<InstrumentUnits>,
    fee_account: AccountId,
}

fn pow10(d: u8) -> Decimal {
    Decimal::from_i128_with_scale(10i128.pow(d as u32), 0)
}

impl Units {
    /// Builds the description from the engine configuration and each instrument's tick and
    /// lot sizes (same order as `cfg.instruments`). Refuses sizes that do not reproduce the
    /// engine's integer factors exactly (`tick × lot × 10^quote_decimals =
    /// quote_units_per_tick_lot`, `lot × 10^base_decimals = base_units_per_lot`).
    pub fn new(cfg: &EngineConfig, sizes: &[TickLot]) -> Result<Units, Error> {
        if sizes.len() != cfg.instruments.len() {
            return Err(Error::Units(format!(
                "{} instruments configured but {} tick/lot sizes given",
                cfg.instruments.len(),
                sizes.len()
            )));
        }
        let assets: Vec<AssetUnits> = cfg
            .assets
            .iter()
            .map(|a| AssetUnits {
                code: a.code.clone(),
                decimals: a.decimals,
            })
            .collect();
        if let Some(a) = assets.iter().find(|a| a.decimals > 18) {
            return Err(Error::Units(format!(
                "asset {}: {} decimals (at most 18 supported)",
                a.code, a.decimals
            )));
        }
        let mut instruments = Vec::with_capacity(sizes.len());
        for (spec, s) in cfg.instruments.iter().zip(sizes) {
            let name = &spec.symbol;
            let asset = |id: AssetId| {
                assets
                    .get(id.0 as usize)
                    .ok_or_else(|| Error::Units(format!("{name}: unknown asset id {}", id.0)))
            };
            let (b, q) = (asset(spec.base)?, asset(spec.quote)?);
            if s.tick_size <= Decimal::ZERO || s.lot_size <= Decimal::ZERO {
                return Err(Error::Units(format!(
                    "{name}: tick and lot sizes must be positive"
                )));
            }
            let qu = s
                .tick_size
                .checked_mul(s.lot_size)
                .and_then(|x| x.checked_mul(pow10(q.decimals)))
                .ok_or_else(|| Error::Units(format!("{name}: tick × lot overflows")))?;
            if qu != Decimal::from(spec.quote_units_per_tick_lot) {
                return Err(Error::Units(format!(
                    "{name}: tick {} × lot {} × 10^{} = {qu}, engine has quote_units_per_tick_lot {}",
                    s.tick_size, s.lot_size, q.decimals, spec.quote_units_per_tick_lot
                )));
            }
            let bu = s
                .lot_size
                .checked_mul(pow10(b.decimals))
                .ok_or_else(|| Error::Units(format!("{name}: lot overflows")))?;
            if bu != Decimal::from(spec.base_units_per_lot) {
                return Err(Error::Units(format!(
                    "{name}: lot {} × 10^{} = {bu}, engine has base_units_per_lot {}",
                    s.lot_size, b.decimals, spec.base_units_per_lot
                )));
            }
            instruments.push(InstrumentUnits {
                symbol: spec.symbol.clone(),
                base: spec.base,
                quote: spec.quote,
                tick_size: s.tick_size.normalize(),
                lot_size: s.lot_size.normalize(),
                base_decimals: b.decimals,
                quote_decimals: q.decimals,
            });
        }
        Ok(Units {
            assets,
            instruments,
            fee_account: cfg.fee_account,
        })
    }

    /// The assets, indexed by `AssetId`.
    pub fn assets(&self) -> &[AssetUnits] {
        &self.assets
    }

    /// The instruments, indexed by `SymbolId`.
    pub fn instruments(&self) -> &[InstrumentUnits] {
        &self.instruments
    }

    /// The fee account (exists from the start, without an `AccountCreated` event).
    pub fn fee_account(&self) -> AccountId {
        self.fee_account
    }

    pub(crate) fn instrument(&self, s: SymbolId) -> Result<&InstrumentUnits, Error> {
        self.instruments
            .get(s.0 as usize)
            .ok_or_else(|| Error::Inconsistent(format!("unknown symbol id {}", s.0)))
    }

    pub(crate) fn asset_decimals(&self, a: AssetId) -> Result<u32, Error> {
        self.assets
            .get(a.0 as usize)
            .map(|x| x.decimals as u32)
            .ok_or_else(|| Error::Inconsistent(format!("unknown asset id {}", a.0)))
    }
}

impl InstrumentUnits {
    /// `ticks × tick_size`.
    pub fn price(&self, ticks: i64) -> Decimal {
        Decimal::from(ticks) * self.tick_size
    }

    /// `lots × lot_size`.
    pub fn qty(&self, lots: i64) -> Decimal {
        Decimal::from(lots) * self.lot_size
    }

    /// Σ price × qty of fills (`cum_cost` in ticks × lots) in quote asset.
    pub fn notional(&self, tick_lots: i64) -> Decimal {
        Decimal::from(tick_lots) * self.tick_size * self.lot_size
    }

    /// Average fill price `cum_cost / cum_qty × tick_size`, rounded half to even to the
    /// tick size's decimals + [`AVG_PRICE_EXTRA_DP`]; `None` before any fill.
    pub fn avg_price(&self, cum_cost: i64, cum_qty: i64) -> Option<Decimal> {
        if cum_qty == 0 {
            return None;
        }
        let v = Decimal::from(cum_cost) * self.tick_size / Decimal::from(cum_qty);
        Some(
            v.round_dp(self.tick_size.scale() + AVG_PRICE_EXTRA_DP)
                .normalize(),
        )
    }

    /// Quote-asset amount from engine units (fees, budgets).
    pub fn quote_amount(&self, units: i64) -> Decimal {
        Decimal::new(units, self.quote_decimals as u32)
    }
}
