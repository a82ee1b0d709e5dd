//! The market data that only events can rebuild — per-symbol sequence numbers, the trade
//! tape, the klines and the 24-hour window — as bytes, so a restart can resume it instead
//! of starting empty. The books are not in it: the engine's recovered state is their
//! source ([`MarketData::seed_books`](crate::MarketData::seed_books)).
//!
//! Pure: bytes in, bytes out; where they are stored is the caller's business. The state
//! is tagged with `at_seq`, the last command whose events it reflects (every command up
//! to it, none after), so the caller knows which events to feed it next.
//!
//! # Format 1, little-endian
//!
//! | field | size |
//! | --- | --- |
//! | magic `b"TCHYMDST"` | 8 |
//! | format version, `1` | 4 |
//! | `at_seq` | 8 |
//! | body length `n` | 8 |
//! | body | `n` |
//! | CRC32C of every byte before this field | 4 |
//!
//! Body: symbol count u16 and each name (length u16, UTF-8 bytes), then per symbol:
//! `seq` u64, previous depth `seq` u64, previous trade `seq` u64; the tape (count u32,
//! oldest first, each: trade id u64, `seq` u64, price i64, qty i64, taker side u8
//! (0 buy, 1 sell), `ts_ns` u64); the klines of 1m, 5m, 1h, 1d (each: count u32, oldest
//! first, each kline as below); the 24-hour window (newest minute u64, bucket count u16,
//! each: ring slot u16 ascending, kline). A kline: open time u64, open, high, low, close
//! i64, volume, quote volume, taker-buy volume, taker-buy quote volume i128, trades u64.

use std::collections::VecDeque;

use tachyon_engine::{Price, Qty, Side};

use crate::crc::crc32c;
use crate::kline::{Interval, Kline, DAY_MINUTES, NS_PER_MIN};
use crate::{MarketData, TapeTrade};

const MAGIC: &[u8; 8] = b"TCHYMDST";
/// The format [`MarketData::encode_state`] writes (and the only one it reads).
pub const STATE_FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 + 8 + 8;
const CRC_BYTES: usize = 4;
const TRADE_BYTES: usize = 8 + 8 + 8 + 8 + 1 + 8;
const KLINE_BYTES: usize = 8 + 4 * 8 + 4 * 16 + 8;

/// Why bytes are not a market data state this build can restore. Nothing is changed
/// when restoring fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Shorter than its header says (or than a header): a partial write.
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes the header (or the minimum header) calls for.
        need: usize,
    },
    /// Longer than its header says.
    TrailingBytes {
        /// Bytes given.
        len: usize,
        /// Bytes the header calls for.
        need: usize,
    },
    /// Not a market data state at all.
    BadMagic,
    /// Written in a format this build does not read.
    UnsupportedVersion(u32),
    /// The bytes do not match their checksum.
    Checksum {
        /// CRC32C stored in the state.
        stored: u32,
        /// CRC32C of the bytes as read.
        computed: u32,
    },
    /// The state belongs to other instruments than this market data's.
    Symbols {
        /// Symbols in the state, by `SymbolId`.
        state: Vec<String>,
        /// Symbols of this market data.
        ours: Vec<String>,
    },
    /// Checksum fine but the content is impossible (a bug in the writer).
    Malformed {
        /// Byte offset of the bad field.
        offset: usize,
        /// What is wrong.
        detail: String,
    },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Truncated { len, need } => {
                write!(f, "truncated market data state: {len} bytes, {need} expected")
            }
            StateError::TrailingBytes { len, need } => write!(
                f,
                "market data state has {len} bytes, its header says {need}"
            ),
            StateError::BadMagic => write!(f, "not a market data state (bad magic)"),
            StateError::UnsupportedVersion(v) => write!(
                f,
                "market data state format {v} is not supported (this build reads {STATE_FORMAT_VERSION})"
            ),
            StateError::Checksum { stored, computed } => write!(
                f,
                "market data state checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            StateError::Symbols { state, ours } => write!(
                f,
                "market data state is for symbols {state:?}, the configuration has {ours:?}"
            ),
            StateError::Malformed { offset, detail } => {
                write!(f, "malformed market data state at byte {offset}: {detail}")
            }
        }
    }
}

impl std::error::Error for StateError {}

/// One symbol's restorable state, decoded and checked before anything is replaced.
struct Decoded {
    seq: u64,
    last_depth_seq: u64,
    last_trade_seq: u64,
    tape: VecDeque<TapeTrade>,
    klines: [VecDeque<Kline>; 4],
    newest_minute: u64,
    minutes: Vec<(u16, Kline)>,
}

fn put_kline(out: &mut Vec<u8>, k: &Kline) {
    out.extend_from_slice(&k.open_time_ns.to_le_bytes());
    for p in [k.open, k.high, k.low, k.close] {
        out.extend_from_slice(&p.0.to_le_bytes());
    }
    for v in [
        k.volume_lots,
        k.quote_volume,
        k.taker_buy_volume_lots,
        k.taker_buy_quote_volume,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&k.trades.to_le_bytes());
}

impl MarketData {
    /// Appends the state that events alone rebuild — every symbol's `seq` counters, tape,
    /// klines and 24-hour window, not the books — tagged `at_seq`: the caller promises it
    /// reflects the events of every command up to `at_seq` and of none after. Format in
    /// the module docs; a few hundred bytes per symbol plus 41 per trade on the tape and
    /// 112 per kline and per traded minute of the last day.
    pub fn encode_state(&self, at_seq: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&STATE_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&at_seq.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // body length, patched below
        let body = out.len();
        assert!(self.names.len() <= u16::MAX as usize, "too many symbols");
        out.extend_from_slice(&(self.names.len() as u16).to_le_bytes());
        for name in &self.names {
            assert!(name.len() <= u16::MAX as usize, "symbol name too long");
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
        for s in &self.symbols {
            for v in [s.seq, s.last_depth_seq, s.last_trade_seq] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let n = u32::try_from(s.tape.len()).expect("tape length fits u32");
            out.extend_from_slice(&n.to_le_bytes());
            for t in &s.tape {
                out.extend_from_slice(&t.trade_id.to_le_bytes());
                out.extend_from_slice(&t.seq.to_le_bytes());
                out.extend_from_slice(&t.price.0.to_le_bytes());
                out.extend_from_slice(&t.qty.0.to_le_bytes());
                out.push(match t.taker_side {
                    Side::Buy => 0,
                    Side::Sell => 1,
                });
                out.extend_from_slice(&t.ts_ns.to_le_bytes());
            }
            for bars in &s.klines.series {
                let n = u32::try_from(bars.len()).expect("kline count fits u32");
                out.extend_from_slice(&n.to_le_bytes());
                for k in bars {
                    put_kline(out, k);
                }
            }
            out.extend_from_slice(&s.day.newest_minute.to_le_bytes());
            let n = s.day.minutes.iter().filter(|m| m.is_some()).count();
            out.extend_from_slice(&(n as u16).to_le_bytes());
            for (slot, k) in s.day.minutes.iter().enumerate() {
                if let Some(k) = k {
                    out.extend_from_slice(&(slot as u16).to_le_bytes());
                    put_kline(out, k);
                }
            }
        }
        let body_len = (out.len() - body) as u64;
        out[body - 8..body].copy_from_slice(&body_len.to_le_bytes());
        let crc = crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// Replaces every symbol's `seq` counters, tape, klines and 24-hour window with those
    /// of a state written by [`MarketData::encode_state`] and returns its `at_seq`; the
    /// books are left as they are. The state must be for the same symbols, in the same
    /// order. Retention follows this market data's limits: if they are smaller than the
    /// writer's, only the newest trades and klines are kept. On error nothing changes.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<u64, StateError> {
        let (at_seq, decoded) = self.decode(bytes)?;
        let tape_cap = self.limits.trade_tape_len;
        let kline_cap = self.limits.kline_len;
        for (s, d) in self.symbols.iter_mut().zip(decoded) {
            s.seq = d.seq;
            s.last_depth_seq = d.last_depth_seq;
            s.last_trade_seq = d.last_trade_seq;
            s.tape = d.tape;
            while s.tape.len() > tape_cap {
                s.tape.pop_front();
            }
            for (series, mut bars) in s.klines.series.iter_mut().zip(d.klines) {
                while bars.len() > kline_cap {
                    bars.pop_front();
                }
                *series = bars;
            }
            s.day.newest_minute = d.newest_minute;
            s.day.minutes.iter_mut().for_each(|m| *m = None);
            for (slot, k) in d.minutes {
                s.day.minutes[slot as usize] = Some(k);
            }
        }
        Ok(at_seq)
    }

    fn decode(&self, bytes: &[u8]) -> Result<(u64, Vec<Decoded>), StateError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            // A short prefix of the magic is a truncated state, anything else is not ours.
            if bytes.len() < 8 && MAGIC.starts_with(bytes) {
                return Err(StateError::Truncated {
                    len: bytes.len(),
                    need: HEADER_BYTES + CRC_BYTES,
                });
            }
            return Err(StateError::BadMagic);
        }
        if bytes.len() < HEADER_BYTES + CRC_BYTES {
            return Err(StateError::Truncated {
                len: bytes.len(),
                need: HEADER_BYTES + CRC_BYTES,
            });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != STATE_FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion(version));
        }
        let at_seq = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let body_len = u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes"));
        let need = (body_len as usize)
            .checked_add(HEADER_BYTES + CRC_BYTES)
            .filter(|_| body_len <= usize::MAX as u64)
            .unwrap_or(usize::MAX);
        if bytes.len() < need {
            return Err(StateError::Truncated {
                len: bytes.len(),
                need,
            });
        }
        if bytes.len() > need {
            return Err(StateError::TrailingBytes {
                len: bytes.len(),
                need,
            });
        }
        let crc_at = need - CRC_BYTES;
        let stored = u32::from_le_bytes(bytes[crc_at..].try_into().expect("4 bytes"));
        let computed = crc32c(&bytes[..crc_at]);
        if stored != computed {
            return Err(StateError::Checksum { stored, computed });
        }
        let mut r = Reader {
            bytes: &bytes[..crc_at],
            pos: HEADER_BYTES,
        };
        let n = r.u16()? as usize;
        let mut names = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u16()? as usize;
            let at = r.pos;
            let raw = r.take(len)?;
            let name = std::str::from_utf8(raw).map_err(|_| r.bad(at, "symbol name not UTF-8"))?;
            names.push(name.to_string());
        }
        if names != self.names {
            return Err(StateError::Symbols {
                state: names,
                ours: self.names.clone(),
            });
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(r.symbol()?);
        }
        if r.pos != r.bytes.len() {
            return Err(r.bad(r.pos, "bytes left after the last symbol"));
        }
        Ok((at_seq, out))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bad(&self, offset: usize, detail: impl Into<String>) -> StateError {
        StateError::Malformed {
            offset,
            detail: detail.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.bad(self.pos, format!("{n} bytes past the end of the body")))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u16(&mut self) -> Result<u16, StateError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, StateError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn i128(&mut self) -> Result<i128, StateError> {
        Ok(i128::from_le_bytes(self.array()?))
    }

    /// A count of `size`-byte records that must fit in what is left (so a bad count can
    /// never make us allocate more than the state's own size).
    fn count(&mut self, n: usize, size: usize) -> Result<usize, StateError> {
        let left = self.bytes.len() - self.pos;
        if n.checked_mul(size).is_none_or(|b| b > left) {
            return Err(self.bad(
                self.pos,
                format!("{n} records of {size} bytes but only {left} bytes left"),
            ));
        }
        Ok(n)
    }

    fn kline(&mut self) -> Result<Kline, StateError> {
        let at = self.pos;
        let k = Kline {
            open_time_ns: self.u64()?,
            open: Price(self.i64()?),
            high: Price(self.i64()?),
            low: Price(self.i64()?),
            close: Price(self.i64()?),
            volume_lots: self.i128()?,
            quote_volume: self.i128()?,
            taker_buy_volume_lots: self.i128()?,
            taker_buy_quote_volume: self.i128()?,
            trades: self.u64()?,
        };
        let inside = |p: Price| k.low <= p && p <= k.high;
        if k.trades == 0 || !inside(k.open) || !inside(k.close) {
            return Err(self.bad(at, format!("impossible kline {k:?}")));
        }
        Ok(k)
    }

    fn symbol(&mut self) -> Result<Decoded, StateError> {
        let seq = self.u64()?;
        let last_depth_seq = self.u64()?;
        let last_trade_seq = self.u64()?;
        if last_depth_seq > seq || last_trade_seq > seq {
            return Err(self.bad(
                self.pos - 24,
                format!("previous update seqs {last_depth_seq}/{last_trade_seq} past seq {seq}"),
            ));
        }
        let n = self.u32()? as usize;
        let n = self.count(n, TRADE_BYTES)?;
        let mut tape = VecDeque::with_capacity(n);
        let mut prev_seq = 0;
        for _ in 0..n {
            let at = self.pos;
            let t = TapeTrade {
                trade_id: self.u64()?,
                seq: self.u64()?,
                price: Price(self.i64()?),
                qty: Qty(self.i64()?),
                taker_side: match self.array::<1>()?[0] {
                    0 => Side::Buy,
                    1 => Side::Sell,
                    b => return Err(self.bad(self.pos - 1, format!("taker side {b}"))),
                },
                ts_ns: self.u64()?,
            };
            if t.seq <= prev_seq || t.seq > seq {
                return Err(self.bad(at, format!("trade seq {} out of order", t.seq)));
            }
            prev_seq = t.seq;
            tape.push_back(t);
        }
        let mut klines: [VecDeque<Kline>; 4] = Default::default();
        for interval in Interval::ALL {
            let n = self.u32()? as usize;
            let n = self.count(n, KLINE_BYTES)?;
            let bars = &mut klines[interval.index()];
            bars.reserve_exact(n);
            for _ in 0..n {
                let at = self.pos;
                let k = self.kline()?;
                let aligned = k.open_time_ns % interval.ns() == 0;
                if !aligned
                    || bars
                        .back()
                        .is_some_and(|b| b.open_time_ns >= k.open_time_ns)
                {
                    return Err(self.bad(
                        at,
                        format!(
                            "{} kline at {} misplaced",
                            interval.as_str(),
                            k.open_time_ns
                        ),
                    ));
                }
                bars.push_back(k);
            }
        }
        let newest_minute = self.u64()?;
        let n = self.u16()? as usize;
        let n = self.count(n, 2 + KLINE_BYTES)?;
        let mut minutes = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.pos;
            let slot = self.u16()?;
            let k = self.kline()?;
            let minute = k.open_time_ns / NS_PER_MIN;
            let in_place = k.open_time_ns % NS_PER_MIN == 0
                && minute % DAY_MINUTES == slot as u64
                && minute <= newest_minute
                && minutes.last().is_none_or(|(s, _): &(u16, Kline)| *s < slot);
            if !in_place {
                return Err(self.bad(
                    at,
                    format!("minute bucket {slot} at {} misplaced", k.open_time_ns),
                ));
            }
            minutes.push((slot, k));
        }
        Ok(Decoded {
            seq,
            last_depth_seq,
            last_trade_seq,
            tape,
            klines,
            newest_minute,
            minutes,
        })
    }
}
