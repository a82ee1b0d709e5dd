//! Exact decimal text ↔ integer steps of a grid (price ticks, quantity lots, asset units).
//!
//! A FIX price or quantity is decimal text. The engine counts integer ticks and lots, so
//! the text must land exactly on the instrument's grid: `"100.25"` on a 0.5 tick is an
//! error, never rounded. No floating point is involved anywhere: the text is read as an
//! integer mantissa and a decimal scale and compared to the grid step the same way.

use rust_decimal::Decimal;

/// Why decimal text could not be turned into grid steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalError {
    /// Not FIX float syntax (`-`? digits, optional `.` digits; no exponent, no `+`).
    Syntax,
    /// Valid number, but not a whole multiple of the grid step.
    OffGrid,
    /// More digits than fit the arithmetic (or the result overflows i64).
    Overflow,
}

/// A grid of `step × 10^-scale` (e.g. tick 0.01 = step 1, scale 2; tick 0.5 = step 5,
/// scale 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    step: i64,
    scale: u32,
}

/// Largest scale handled: 10^18 still fits an i64 multiplier.
const MAX_SCALE: u32 = 18;

impl Grid {
    /// A grid of a positive decimal step (tick size, lot size). `None` if not positive or
    /// if its mantissa does not fit an i64.
    pub fn new(step: Decimal) -> Option<Grid> {
        let step = step.normalize();
        if step <= Decimal::ZERO || step.scale() > MAX_SCALE {
            return None;
        }
        Some(Grid {
            step: i64::try_from(step.mantissa()).ok()?,
            scale: step.scale(),
        })
    }

    /// The grid of `10^-scale` units (an asset with `scale` decimals).
    pub fn units(scale: u32) -> Option<Grid> {
        (scale <= MAX_SCALE).then_some(Grid { step: 1, scale })
    }

    /// The step as a decimal.
    pub fn step(&self) -> Decimal {
        Decimal::new(self.step, self.scale)
    }

    /// Decimal text → number of steps, exactly.
    pub fn parse(&self, text: &[u8]) -> Result<i64, DecimalError> {
        let (mantissa, scale) = parse_fixed(text)?;
        // Bring the text to the grid's scale: extra fraction digits must all be zero.
        let at_grid = if scale > self.scale {
            let div = pow10(scale - self.scale);
            if mantissa % div != 0 {
                return Err(DecimalError::OffGrid);
            }
            mantissa / div
        } else {
            mantissa
                .checked_mul(pow10(self.scale - scale))
                .ok_or(DecimalError::Overflow)?
        };
        if at_grid % self.step as i128 != 0 {
            return Err(DecimalError::OffGrid);
        }
        i64::try_from(at_grid / self.step as i128).map_err(|_| DecimalError::Overflow)
    }

    /// Decimal value → number of steps, exactly.
    pub fn to_steps(&self, v: Decimal) -> Result<i64, DecimalError> {
        let v = v.normalize();
        let (m, s) = (v.mantissa(), v.scale());
        let at_grid = if s > self.scale {
            let div = pow10(s - self.scale);
            if m % div != 0 {
                return Err(DecimalError::OffGrid);
            }
            m / div
        } else {
            m.checked_mul(pow10(self.scale - s))
                .ok_or(DecimalError::Overflow)?
        };
        if at_grid % self.step as i128 != 0 {
            return Err(DecimalError::OffGrid);
        }
        i64::try_from(at_grid / self.step as i128).map_err(|_| DecimalError::Overflow)
    }

    /// Steps → decimal text written into `out`; returns the length. `out` of 48 bytes
    /// always suffices. Trailing fraction zeros are kept to the grid's scale (FIX allows
    /// them and it keeps the output width stable).
    pub fn write(&self, steps: i64, out: &mut [u8; 48]) -> usize {
        let v = steps as i128 * self.step as i128;
        write_fixed(v, self.scale, out)
    }

    /// `total / count` steps (an average price from Σ ticks × lots and Σ lots) written
    /// with [`AVG_EXTRA_DECIMALS`] more decimals than the grid, rounded half away from
    /// zero; "0" if `count` is 0. Integer arithmetic only.
    pub fn write_ratio(&self, total: i64, count: i64, out: &mut [u8; 48]) -> usize {
        if count == 0 {
            out[0] = b'0';
            return 1;
        }
        let num = total as i128 * self.step as i128 * pow10(AVG_EXTRA_DECIMALS) * 2;
        let den = count as i128 * 2;
        // Round half away from zero: (2n ± d) / 2d.
        let v = if num >= 0 {
            (num + den / 2) / den
        } else {
            (num - den / 2) / den
        };
        write_fixed(v, self.scale + AVG_EXTRA_DECIMALS, out)
    }
}

/// Extra decimals of an average price beyond the tick grid.
pub const AVG_EXTRA_DECIMALS: u32 = 4;

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// FIX float text → (mantissa, scale). At most 28 significant digits.
pub(crate) fn parse_fixed(text: &[u8]) -> Result<(i128, u32), DecimalError> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(DecimalError::Syntax);
    }
    let mut m: i128 = 0;
    let mut scale: u32 = 0;
    let mut seen_dot = false;
    let mut n_digits = 0;
    for &b in digits {
        match b {
            b'.' if !seen_dot => seen_dot = true,
            b'0'..=b'9' => {
                n_digits += 1;
                if n_digits > 28 {
                    return Err(DecimalError::Overflow);
                }
                m = m * 10 + (b - b'0') as i128;
                if seen_dot {
                    scale += 1;
                }
            }
            _ => return Err(DecimalError::Syntax),
        }
    }
    if n_digits == 0 {
        return Err(DecimalError::Syntax);
    }
    Ok((if neg { -m } else { m }, scale))
}

/// Decimal text → exact `Decimal` (no rounding: too many digits is an error).
pub fn parse_decimal(text: &[u8]) -> Result<Decimal, DecimalError> {
    let (m, s) = parse_fixed(text)?;
    Decimal::try_from_i128_with_scale(m, s).map_err(|_| DecimalError::Overflow)
}

/// Writes `v × 10^-scale` as text; returns the length.
fn write_fixed(v: i128, scale: u32, out: &mut [u8; 48]) -> usize {
    // Digits, least significant first, at least `scale + 1` of them (leading zeros).
    // Values that fit in a u64 (every price and quantity in practice) avoid 128-bit
    // division, which costs tens of cycles per digit.
    let mut digits = [0u8; 48];
    let mut nd = 0;
    let scale = scale as usize;
    let u = v.unsigned_abs();
    if let Ok(mut x) = u64::try_from(u) {
        while x != 0 || nd <= scale {
            digits[nd] = b'0' + (x % 10) as u8;
            x /= 10;
            nd += 1;
        }
    } else {
        let mut x = u;
        while x != 0 || nd <= scale {
            digits[nd] = b'0' + (x % 10) as u8;
            x /= 10;
            nd += 1;
        }
    }
    let mut n = 0;
    if v < 0 {
        out[0] = b'-';
        n = 1;
    }
    for i in (scale..nd).rev() {
        out[n] = digits[i];
        n += 1;
    }
    if scale > 0 {
        out[n] = b'.';
        n += 1;
        for i in (0..scale).rev() {
            out[n] = digits[i];
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(v: i128, scale: u32) -> String {
        let mut out = [0u8; 48];
        let n = write_fixed(v, scale, &mut out);
        String::from_utf8(out[..n].to_vec()).expect("ascii")
    }

    #[test]
    fn write_fixed_cases() {
        for (v, scale, want) in [
            (0, 0, "0"),
            (0, 2, "0.00"),
            (5, 2, "0.05"),
            (-5, 2, "-0.05"),
            (12345, 2, "123.45"),
            (-12345, 0, "-12345"),
            (100, 5, "0.00100"),
            (i64::MAX as i128, 0, "9223372036854775807"),
            (i64::MIN as i128, 3, "-9223372036854775.808"),
            (u64::MAX as i128 + 1, 4, "1844674407370955.1616"),
        ] {
            assert_eq!(text(v, scale), want, "{v} scale {scale}");
        }
    }

    proptest! {
        /// Differential: the same text as rust_decimal, on both sides of the u64 fast path.
        #[test]
        fn write_fixed_matches_rust_decimal(
            v in prop_oneof![any::<i64>().prop_map(i128::from), -(1i128 << 95)..(1i128 << 95)],
            scale in 0u32..=28,
        ) {
            let want = Decimal::from_i128_with_scale(v, scale).to_string();
            prop_assert_eq!(text(v, scale), want);
        }
    }
}
