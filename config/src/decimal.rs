//! Exact decimals: parsing from TOML and integer-unit arithmetic, with no floating point.
//!
//! A decimal may be written as a TOML string (`"0.01"`, preferred), an integer (`100`) or a
//! float (`0.01`). A TOML float is never converted through `f64`: the deserializer asks for
//! the value's span and parses the original text of the file exactly. The text being
//! parsed is published to the deserializer through [`SourceGuard`] for the duration of
//! one parse on the current thread.

use core::cell::RefCell;
use core::fmt;
use std::rc::Rc;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// Largest number of decimal places a value may have (rust_decimal's limit).
const MAX_SCALE: u32 = 28;

thread_local! {
    static SOURCE: RefCell<Option<Rc<str>>> = const { RefCell::new(None) };
}

/// Publishes the TOML text being parsed so floats can be read from their original text.
/// Restores the previous state on drop.
pub(crate) struct SourceGuard {
    previous: Option<Rc<str>>,
}

impl SourceGuard {
    pub(crate) fn set(text: &str) -> Self {
        let previous = SOURCE.with(|s| s.borrow_mut().replace(Rc::from(text)));
        SourceGuard { previous }
    }
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SOURCE.with(|s| *s.borrow_mut() = previous);
    }
}

/// Parses a decimal written as text: optional sign, digits, optional fraction, with `_`
/// allowed between digits (as in TOML numbers). Exact: fails rather than round.
pub(crate) fn parse_decimal_text(text: &str) -> Option<Decimal> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let mut digits = String::with_capacity(body.len() + 1);
    if negative {
        digits.push('-');
    }
    push_digits(int_part, &mut digits)?;
    if let Some(frac) = frac_part {
        digits.push('.');
        push_digits(frac, &mut digits)?;
    }
    let value = Decimal::from_str_exact(&digits).ok()?;
    Some(value.normalize())
}

/// Appends the digits of `part` to `out`; `part` must be non-empty, made of ASCII digits
/// with single underscores only between digits.
fn push_digits(part: &str, out: &mut String) -> Option<()> {
    let bytes = part.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_digit() || !bytes[bytes.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                out.push(b as char);
                previous_underscore = false;
            }
            b'_' if !previous_underscore => previous_underscore = true,
            _ => return None,
        }
    }
    Some(())
}

/// Parses the original text of a TOML float exactly, exponent included (`1e-2`, `2.5E3`).
pub(crate) fn parse_float_text(text: &str) -> Option<Decimal> {
    let (mantissa_text, exponent) = match text.find(['e', 'E']) {
        Some(at) => {
            let exp_text: String = text[at + 1..].chars().filter(|&c| c != '_').collect();
            (&text[..at], exp_text.parse::<i32>().ok()?)
        }
        None => (text, 0),
    };
    let mantissa = parse_decimal_text(mantissa_text)?;
    scale_by_power_of_ten(mantissa, exponent)
}

/// `value × 10^exponent`, exactly, or `None` if that does not fit a `Decimal`.
fn scale_by_power_of_ten(value: Decimal, exponent: i32) -> Option<Decimal> {
    let scale = value.scale() as i64 - exponent as i64;
    let result = if scale >= 0 {
        if scale > MAX_SCALE as i64 {
            return None;
        }
        Decimal::try_from_i128_with_scale(value.mantissa(), scale as u32).ok()?
    } else {
        let factor = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
        Decimal::try_from_i128_with_scale(value.mantissa().checked_mul(factor)?, 0).ok()?
    };
    Some(result.normalize())
}

/// Why a decimal is not a whole number of steps that fits an `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inexact {
    /// Not an integer multiple of the step.
    NotMultiple,
    /// A multiple, but more than `i64` can hold.
    TooLarge,
}

/// The integer `k` such that `value = k × step` exactly. Pure integer arithmetic on the
/// mantissas; never rounds. `step` must be positive.
pub(crate) fn multiple_of(value: Decimal, step: Decimal) -> Result<i64, Inexact> {
    assert!(step > Decimal::ZERO, "multiple_of: step must be positive");
    let (num_m, num_s) = (value.mantissa(), value.scale());
    let (den_m, den_s) = (step.mantissa(), step.scale());
    if num_m == 0 {
        return Ok(0);
    }
    // Decimal scales are at most 28, so both powers of ten below fit an i128.
    let k = if den_s >= num_s {
        // k = num_m × 10^d / den_m. Reduce by the gcd first: with n, m coprime, k is an
        // integer iff m divides 10^d, and then k = n × (10^d / m).
        let p = 10i128.pow(den_s - num_s);
        let g = gcd(num_m.unsigned_abs(), den_m.unsigned_abs()) as i128;
        let (n, m) = (num_m / g, den_m / g);
        if p % m != 0 {
            return Err(Inexact::NotMultiple);
        }
        // Overflow means |k| ≥ 2^127, far beyond i64.
        n.checked_mul(p / m).ok_or(Inexact::TooLarge)?
    } else {
        // k = num_m / (den_m × 10^d). If the divisor overflows it exceeds |num_m| < 2^96,
        // so a non-zero value cannot be a multiple.
        let divisor = den_m
            .checked_mul(10i128.pow(num_s - den_s))
            .ok_or(Inexact::NotMultiple)?;
        if num_m % divisor != 0 {
            return Err(Inexact::NotMultiple);
        }
        num_m / divisor
    };
    i64::try_from(k).map_err(|_| Inexact::TooLarge)
}

/// `value × 10^decimals` as a whole number of units, where `value = mantissa / 10^scale`
/// (scale may exceed a Decimal's 28, e.g. for the product of two sizes).
pub(crate) fn to_units(mantissa: i128, scale: u32, decimals: u32) -> Result<i64, Inexact> {
    let (mut m, mut s) = (mantissa, scale);
    while s > 0 && m % 10 == 0 {
        m /= 10;
        s -= 1;
    }
    if m == 0 {
        return Ok(0);
    }
    if s > decimals {
        return Err(Inexact::NotMultiple);
    }
    let factor = 10i128.checked_pow(decimals - s).ok_or(Inexact::TooLarge)?;
    let units = m.checked_mul(factor).ok_or(Inexact::TooLarge)?;
    i64::try_from(units).map_err(|_| Inexact::TooLarge)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `count × step` as a `Decimal`, exact. `None` if the product does not fit 96 bits.
pub(crate) fn times(step: Decimal, count: i64) -> Option<Decimal> {
    let mantissa = step.mantissa().checked_mul(count as i128)?;
    Decimal::try_from_i128_with_scale(mantissa, step.scale())
        .ok()
        .map(|d| d.normalize())
}

/// A decimal as found in the file, before its sign is checked.
enum Raw {
    Text(String),
    Integer(i128),
    Float,
    Other(String),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Integer(v as i128))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Integer(v as i128))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Raw, E> {
        // The value itself is deliberately unused: it went through binary floating point.
        Ok(Raw::Float)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Raw, E> {
        Ok(Raw::Other("a boolean".into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        // TOML dates and times arrive as a map with one private key.
        let mut kind = "a table";
        if let Some(key) = map.next_key::<String>()? {
            map.next_value::<de::IgnoredAny>()?;
            if key.starts_with("$__toml_private_datetime") {
                kind = "a date or time";
            }
        }
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Raw::Other(kind.into()))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Raw, A::Error> {
        Ok(Raw::Other("an array".into()))
    }
}

/// Which values a decimal field accepts.
#[derive(Clone, Copy)]
enum Sign {
    Positive,
    NonNegative,
}

impl Sign {
    fn describe(self) -> &'static str {
        match self {
            Sign::Positive => "a positive decimal",
            Sign::NonNegative => "a non-negative decimal",
        }
    }
    fn accepts(self, value: Decimal) -> bool {
        match self {
            Sign::Positive => value > Decimal::ZERO,
            Sign::NonNegative => value >= Decimal::ZERO,
        }
    }
}

fn deserialize_decimal<'de, D: Deserializer<'de>>(d: D, sign: Sign) -> Result<Decimal, D::Error> {
    let spanned = Spanned::<Raw>::deserialize(d)?;
    let span = spanned.span();
    let wanted = sign.describe();
    let (parsed, shown) = match spanned.into_inner() {
        Raw::Text(text) => (parse_decimal_text(&text), format!("{text:?}")),
        Raw::Integer(i) => (Some(Decimal::from_i128_with_scale(i, 0)), i.to_string()),
        Raw::Float => {
            let text = SOURCE.with(|s| {
                s.borrow()
                    .as_ref()
                    .and_then(|src| src.get(span.clone()).map(|t| t.trim().to_owned()))
            });
            let Some(text) = text else {
                return Err(de::Error::custom(format!(
                    "must be {wanted} written as a string, e.g. \"0.01\""
                )));
            };
            (parse_float_text(&text), text)
        }
        Raw::Other(kind) => {
            return Err(de::Error::custom(format!(
                "must be {wanted} (a string such as \"0.01\"), got {kind}"
            )))
        }
    };
    match parsed {
        Some(value) if sign.accepts(value) => Ok(value),
        _ => Err(de::Error::custom(format!("must be {wanted}, got {shown}"))),
    }
}

/// `deserialize_with` for a decimal that must be > 0.
pub(crate) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    deserialize_decimal(d, Sign::Positive)
}

/// `deserialize_with` for a decimal that must be ≥ 0.
pub(crate) fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    deserialize_decimal(d, Sign::NonNegative)
}

/// A non-negative decimal as a map value (`deposits = { BTC = "1" }`).
pub(crate) struct NonNegative(pub(crate) Decimal);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        non_negative(d).map(NonNegative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn text_grammar() {
        assert_eq!(parse_decimal_text("0.01"), Some(d("0.01")));
        assert_eq!(parse_decimal_text("1_000.000_1"), Some(d("1000.0001")));
        assert_eq!(parse_decimal_text("-2.50"), Some(d("-2.5")));
        assert_eq!(parse_decimal_text("+7"), Some(d("7")));
        for bad in [
            "", ".5", "5.", "1__0", "_1", "1_", "abc", "1e3", "0x10", "1.2.3", " 1", "NaN",
        ] {
            assert_eq!(parse_decimal_text(bad), None, "{bad:?}");
        }
        // 29 decimal places cannot be held exactly: rejected, not rounded.
        assert_eq!(parse_decimal_text("0.00000000000000000000000000001"), None);
    }

    #[test]
    fn float_text_is_exact() {
        assert_eq!(parse_float_text("0.1"), Some(d("0.1")));
        assert_eq!(parse_float_text("1e-2"), Some(d("0.01")));
        assert_eq!(parse_float_text("2.5E+3"), Some(d("2500")));
        assert_eq!(parse_float_text("1_0.5e1"), Some(d("105")));
        assert_eq!(parse_float_text("inf"), None);
        assert_eq!(parse_float_text("nan"), None);
        assert_eq!(parse_float_text("1e-40"), None);
        assert_eq!(parse_float_text("1e40"), None);
    }

    #[test]
    fn multiples() {
        use Inexact::*;
        let cases = [
            ("1.23", "0.01", Ok(123)),
            ("0.005", "0.01", Err(NotMultiple)),
            ("0.5", "0.25", Ok(2)),
            ("-0.75", "0.25", Ok(-3)),
            ("0", "0.25", Ok(0)),
            ("0.3", "0.1", Ok(3)),
            ("1.50", "0.5", Ok(3)),
            ("10", "0.000001", Ok(10_000_000)),
            ("92233720368547758.07", "0.01", Ok(i64::MAX)),
            ("92233720368547758.08", "0.01", Err(TooLarge)),
            ("-92233720368547758.08", "0.01", Ok(i64::MIN)),
            (
                "79228162514264337593543950335",
                "0.0000000000000000000000000001",
                Err(TooLarge),
            ),
            (
                "0.0000000000000000000000000001",
                "79228162514264337593543950335",
                Err(NotMultiple),
            ),
            // Decimal division would round this 1/3 to an integer; integer arithmetic does not.
            ("300000000000000000.0000000001", "3", Err(NotMultiple)),
        ];
        for (value, step, want) in cases {
            assert_eq!(multiple_of(d(value), d(step)), want, "{value} / {step}");
        }
    }

    #[test]
    fn units() {
        use Inexact::*;
        assert_eq!(to_units(1, 7, 8), Ok(10)); // 0.01 × 0.00001 USDT at 8 decimals
        assert_eq!(to_units(1, 9, 8), Err(NotMultiple));
        assert_eq!(to_units(10, 9, 8), Ok(1)); // trailing zeros stripped
        assert_eq!(to_units(0, 40, 8), Ok(0));
        assert_eq!(to_units(1, 0, 18), Ok(1_000_000_000_000_000_000));
        assert_eq!(to_units(10, 0, 18), Err(TooLarge));
        assert_eq!(to_units(1, 0, 60), Err(TooLarge));
    }
}
