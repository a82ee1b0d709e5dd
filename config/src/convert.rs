//! From exact decimals to the engine's integer units, and back.

use rust_decimal::Decimal;
use tachyon_engine::{AccountId, AssetId, AssetSpec, EngineConfig, InstrumentSpec, SymbolId};

use crate::decimal::{multiple_of, times, to_units, Inexact};
use crate::error::{problem, Problem};
use crate::model::{Asset, Config, Instrument};

/// Tick and lot sizes may have at most this many significant digits, so that any `i64`
/// count of them times the size fits a `Decimal` exactly (mantissa < 2^33).
const SIZE_MAX_SIGNIFICANT_DIGITS: u32 = 9;
/// The engine requires `max_price × max_qty × quote_units_per_tick_lot × 11 / 10 < 2^62`
/// (the largest notional plus the largest fee, 10%, must fit with room for sums).
const ENGINE_NOTIONAL_NUM: i128 = 11;
const ENGINE_NOTIONAL_DEN: i128 = 10;
const ENGINE_UNITS_LIMIT: i128 = 1 << 62;

impl Config {
    /// Where the FIX session stores live: `fix.store_dir`, else `fix` next to
    /// `engine.journal_dir`.
    pub fn fix_store_dir(&self) -> std::path::PathBuf {
        match &self.fix.store_dir {
            Some(d) => d.clone(),
            None => match self.engine.journal_dir.parent() {
                Some(p) => p.join("fix"),
                None => std::path::PathBuf::from("fix"),
            },
        }
    }

    /// The engine's configuration: assets and instruments in file order (their indices
    /// are the `AssetId`s and `SymbolId`s) with every decimal converted to integer units.
    ///
    /// # Panics
    /// If the configuration no longer validates: [`Config::load`] and
    /// [`Config::from_str`] only return configurations for which this succeeds.
    pub fn engine_config(&self) -> EngineConfig {
        match engine_config_checked(self) {
            Ok(config) => config,
            Err((key, message)) => {
                panic!("engine_config on an invalid configuration: {key}: {message}")
            }
        }
    }

    /// The `AssetId` of the asset with this code (its index in `[[assets]]`).
    pub fn asset_index(&self, code: &str) -> Option<AssetId> {
        let i = self.assets.iter().position(|a| a.code == code)?;
        Some(AssetId(u16::try_from(i).ok()?))
    }

    /// The `SymbolId` of the instrument with this symbol (its index in `[[instruments]]`).
    pub fn symbol_index(&self, symbol: &str) -> Option<SymbolId> {
        let i = self.instruments.iter().position(|s| s.symbol == symbol)?;
        Some(SymbolId(u16::try_from(i).ok()?))
    }

    /// The initial deposits as `(account, asset, amount in integer units)`, in file order
    /// (accounts in order, each account's deposits in order). Zero amounts are included.
    ///
    /// # Panics
    /// If the configuration no longer validates (see [`Config::engine_config`]).
    pub fn initial_deposits(&self) -> Vec<(AccountId, AssetId, i64)> {
        let mut out = Vec::new();
        for account in &self.accounts {
            for deposit in &account.deposits {
                let asset = self
                    .asset_index(&deposit.asset)
                    .expect("validated: deposit asset exists");
                let units = self.assets[asset.0 as usize]
                    .decimal_to_units(deposit.amount)
                    .expect("validated: deposit is a whole number of units");
                out.push((AccountId(account.id), asset, units));
            }
        }
        out
    }
}

impl Asset {
    /// `units` smallest units of this asset as a decimal amount, e.g. 150_000_000 → 1.5
    /// for 8 decimals. Exact.
    pub fn units_to_decimal(&self, units: i64) -> Decimal {
        // An i64 fits a Decimal's 96-bit mantissa and decimals ≤ 18 ≤ 28.
        Decimal::from_i128_with_scale(units as i128, self.decimals as u32).normalize()
    }

    /// `amount` in smallest units, or `None` if it is finer than the asset's decimals or
    /// does not fit an `i64`. Never rounds.
    pub fn decimal_to_units(&self, amount: Decimal) -> Option<i64> {
        multiple_of(amount, Decimal::new(1, self.decimals as u32)).ok()
    }
}

impl Instrument {
    /// `price` in ticks, or `None` if it is not an exact multiple of `tick_size` or the
    /// tick count does not fit an `i64`. Never rounds. The price band is not checked here:
    /// the engine rejects out-of-band prices with its own reason.
    pub fn price_to_ticks(&self, price: Decimal) -> Option<i64> {
        multiple_of(price, self.tick_size).ok()
    }

    /// `qty` in lots, or `None` if it is not an exact multiple of `lot_size` or the lot
    /// count does not fit an `i64`. Never rounds; min/max quantity are not checked here.
    pub fn qty_to_lots(&self, qty: Decimal) -> Option<i64> {
        multiple_of(qty, self.lot_size).ok()
    }

    /// `ticks × tick_size`, exact.
    ///
    /// # Panics
    /// If `tick_size` has more than 9 significant digits (which loading rejects).
    pub fn ticks_to_price(&self, ticks: i64) -> Decimal {
        times(self.tick_size, ticks).expect("validated: tick_size has at most 9 significant digits")
    }

    /// `lots × lot_size`, exact.
    ///
    /// # Panics
    /// If `lot_size` has more than 9 significant digits (which loading rejects).
    pub fn lots_to_qty(&self, lots: i64) -> Decimal {
        times(self.lot_size, lots).expect("validated: lot_size has at most 9 significant digits")
    }
}

/// [`Config::engine_config`], reporting the first problem instead of panicking.
pub(crate) fn engine_config_checked(c: &Config) -> Result<EngineConfig, Problem> {
    let instruments = (0..c.instruments.len())
        .map(|i| instrument_spec(c, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EngineConfig {
        assets: c
            .assets
            .iter()
            .map(|a| AssetSpec {
                code: a.code.clone(),
                decimals: a.decimals,
            })
            .collect(),
        instruments,
        max_accounts: c.engine.max_accounts,
        max_orders: c.engine.max_orders,
        max_levels_per_side: c.engine.max_levels_per_side,
        fee_account: AccountId(c.engine.fee_account),
    })
}

/// Converts instrument `i` to engine units, checking every grid on the way.
pub(crate) fn instrument_spec(c: &Config, i: usize) -> Result<InstrumentSpec, Problem> {
    let ins = &c.instruments[i];
    let at = |field: &str| format!("instruments[{i}].{field}");
    let find = |field: &str, code: &str| match c.asset_index(code) {
        Some(id) => Ok(id),
        None => problem(
            at(field),
            format!("unknown asset {code:?} (not in [[assets]])"),
        ),
    };
    let base = find("base", &ins.base)?;
    let quote = find("quote", &ins.quote)?;
    if base == quote {
        return problem(
            at("quote"),
            format!("must differ from base, both are {:?}", ins.base),
        );
    }
    let base_asset = &c.assets[base.0 as usize];
    let quote_asset = &c.assets[quote.0 as usize];

    for (field, size) in [("tick_size", ins.tick_size), ("lot_size", ins.lot_size)] {
        if size.mantissa() >= 10i128.pow(SIZE_MAX_SIGNIFICANT_DIGITS) {
            return problem(
                at(field),
                format!("{size} has more than {SIZE_MAX_SIGNIFICANT_DIGITS} significant digits"),
            );
        }
    }

    let finer = |field: &str, what: String, asset: &Asset| -> Problem {
        (
            at(field),
            format!(
                "{what} is finer than {code}'s {d} decimals; the engine holds {code} in whole \
                 units of 10^-{d}",
                code = asset.code,
                d = asset.decimals
            ),
        )
    };
    let too_large = |field: &str, what: String| -> Problem {
        (
            at(field),
            format!("{what} is too large for 64-bit engine units"),
        )
    };

    // Base units per lot: lot_size × 10^base_decimals must be a whole number.
    let lot = ins.lot_size;
    let base_units_per_lot = match to_units(lot.mantissa(), lot.scale(), base_asset.decimals as u32)
    {
        Ok(u) => u,
        Err(Inexact::NotMultiple) => {
            return Err(finer(
                "lot_size",
                format!("lot_size {lot} {}", base_asset.code),
                base_asset,
            ))
        }
        Err(Inexact::TooLarge) => return Err(too_large("lot_size", format!("lot_size {lot}"))),
    };
    // Quote units per tick × lot: tick_size × lot_size × 10^quote_decimals.
    let tick = ins.tick_size;
    let quote_units_per_tick_lot = match to_units(
        tick.mantissa() * lot.mantissa(),
        tick.scale() + lot.scale(),
        quote_asset.decimals as u32,
    ) {
        Ok(u) => u,
        Err(Inexact::NotMultiple) => {
            let product = format!(
                "tick_size × lot_size = {tick} × {lot} = {} {}",
                format_scaled(tick.mantissa() * lot.mantissa(), tick.scale() + lot.scale()),
                quote_asset.code
            );
            return Err(finer("tick_size", product, quote_asset));
        }
        Err(Inexact::TooLarge) => {
            return Err(too_large(
                "tick_size",
                format!("tick_size × lot_size = {tick} × {lot}"),
            ))
        }
    };

    let steps = |field: &str, value: Decimal, step: Decimal, step_name: &str| match multiple_of(
        value, step,
    ) {
        Ok(n) => Ok(n),
        Err(Inexact::NotMultiple) => problem(
            at(field),
            format!("{value} is not a multiple of {step_name} {step}"),
        ),
        Err(Inexact::TooLarge) => Err(too_large(field, format!("{value}"))),
    };
    let min_qty_lots = steps("min_qty", ins.min_qty, lot, "lot_size")?;
    let max_qty_lots = steps("max_qty", ins.max_qty, lot, "lot_size")?;
    if max_qty_lots < min_qty_lots {
        return problem(
            at("max_qty"),
            format!("{} is below min_qty {}", ins.max_qty, ins.min_qty),
        );
    }
    let band = &ins.price_band;
    let min_price_ticks = steps("price_band.min", band.min, tick, "tick_size")
        .map_err(|(k, m)| (k, format!("{m} (the tick does not divide the band)")))?;
    let max_price_ticks = steps("price_band.max", band.max, tick, "tick_size")
        .map_err(|(k, m)| (k, format!("{m} (the tick does not divide the band)")))?;
    if max_price_ticks < min_price_ticks {
        return problem(
            at("price_band.max"),
            format!("{} is below price_band.min {}", band.max, band.min),
        );
    }
    let notional = ins.min_notional;
    let min_notional_quote_units = match to_units(
        notional.mantissa(),
        notional.scale(),
        quote_asset.decimals as u32,
    ) {
        Ok(u) => u,
        Err(Inexact::NotMultiple) => {
            return Err(finer(
                "min_notional",
                format!("min_notional {notional} {}", quote_asset.code),
                quote_asset,
            ))
        }
        Err(Inexact::TooLarge) => {
            return Err(too_large(
                "min_notional",
                format!("min_notional {notional}"),
            ))
        }
    };

    // Every order's notional plus fee must fit the engine's 64-bit arithmetic.
    let max_notional_units =
        max_price_ticks as i128 * max_qty_lots as i128 * quote_units_per_tick_lot as i128;
    if max_notional_units * ENGINE_NOTIONAL_NUM / ENGINE_NOTIONAL_DEN >= ENGINE_UNITS_LIMIT {
        let limit_units =
            ((ENGINE_UNITS_LIMIT - 1) * ENGINE_NOTIONAL_DEN / ENGINE_NOTIONAL_NUM) as i64;
        let limit = quote_asset.units_to_decimal(limit_units).trunc();
        return problem(
            at("max_qty"),
            format!(
                "max_qty × price_band.max = {} × {} {q} exceeds the engine's 64-bit limit of about \
                 {limit} {q} per order; lower max_qty or price_band.max",
                ins.max_qty,
                band.max,
                q = quote_asset.code
            ),
        );
    }

    Ok(InstrumentSpec {
        symbol: ins.symbol.clone(),
        base,
        quote,
        quote_units_per_tick_lot,
        base_units_per_lot,
        min_qty_lots,
        max_qty_lots,
        min_notional_quote_units,
        maker_fee_bps: ins.maker_fee_bps,
        taker_fee_bps: ins.taker_fee_bps,
        min_price_ticks,
        max_price_ticks,
    })
}

/// `mantissa / 10^scale` in plain decimal notation, for any scale (products of two sizes
/// may have more decimals than a `Decimal` holds).
fn format_scaled(mantissa: i128, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    let scale = scale as usize;
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn format_scaled() {
        assert_eq!(super::format_scaled(1, 9), "0.000000001");
        assert_eq!(super::format_scaled(150, 2), "1.5");
        assert_eq!(super::format_scaled(100, 2), "1");
        assert_eq!(super::format_scaled(-25, 1), "-2.5");
        assert_eq!(super::format_scaled(7, 0), "7");
    }
}
