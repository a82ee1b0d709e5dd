//! UTCTimestamp text (`YYYYMMDD-HH:MM:SS[.sss]`) ↔ nanoseconds since the Unix epoch.
//!
//! Civil-date arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (proleptic Gregorian, exact for every date after 1970), so no date crate is needed.

/// Length of `YYYYMMDD-HH:MM:SS.sss`.
pub const TIMESTAMP_LEN: usize = 21;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Writes `YYYYMMDD-HH:MM:SS.sss` (milliseconds, truncated) for `ns` since the epoch.
/// Years past 9999 cannot be written in four digits and are clamped to 9999-12-31.
pub fn write_utc_timestamp(ns: u64, out: &mut [u8; TIMESTAMP_LEN]) {
    let secs = ns / NS_PER_SEC;
    let ms = (ns % NS_PER_SEC) / 1_000_000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let (y, mo, d, h, mi, s, ms) = if y > 9999 {
        (9999, 12, 31, 23, 59, 59, 999)
    } else {
        (y as u64, mo, d, sod / 3600, (sod / 60) % 60, sod % 60, ms)
    };
    let put = |out: &mut [u8; TIMESTAMP_LEN], at: usize, width: usize, mut v: u64| {
        for k in (0..width).rev() {
            out[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(out, 0, 4, y);
    put(out, 4, 2, mo as u64);
    put(out, 6, 2, d as u64);
    out[8] = b'-';
    put(out, 9, 2, h);
    out[11] = b':';
    put(out, 12, 2, mi);
    out[14] = b':';
    put(out, 15, 2, s);
    out[17] = b'.';
    put(out, 18, 3, ms);
}

/// Parses `YYYYMMDD-HH:MM:SS` with an optional `.sss` (FIX 4.4 allows milliseconds;
/// we also accept micro/nanoseconds, 6 or 9 digits) into ns since the epoch. `None` for
/// any malformed or out-of-range component (leap second 60 is accepted as FIX allows),
/// and for a time past the last u64 nanosecond (2554-07-21T23:34:33.709551615Z).
pub fn parse_utc_timestamp(v: &[u8]) -> Option<u64> {
    if v.len() < 17 || v[8] != b'-' || v[11] != b':' || v[14] != b':' {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<u64> {
        let mut n = 0u64;
        for &c in &v[a..b] {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (c - b'0') as u64;
        }
        Some(n)
    };
    let (y, mo, d) = (num(0, 4)?, num(4, 6)? as u32, num(6, 8)? as u32);
    let (h, mi, s) = (num(9, 11)?, num(12, 14)?, num(15, 17)?);
    if y < 1970
        || !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y as i64, mo)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let frac_ns = match v.len() {
        17 => 0,
        21 | 24 | 27 if v[17] == b'.' => {
            let digits = v.len() - 18;
            num(18, v.len())? * 10u64.pow(9 - digits as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(y as i64, mo, d) as u64;
    // u64 nanoseconds end in 2554: a later time is out of range, not wrapped around.
    (days * 86_400 + h * 3600 + mi * 60 + s)
        .checked_mul(NS_PER_SEC)?
        .checked_add(frac_ns)
}
