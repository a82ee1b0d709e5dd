//! Candles (OHLCV) per fixed interval, and the rolling 24-hour window behind the ticker.

use std::collections::VecDeque;

use tachyon_engine::{Price, Qty, Side};

pub(crate) const NS_PER_MIN: u64 = 60_000_000_000;
/// Minutes in the rolling ticker window.
pub(crate) const DAY_MINUTES: u64 = 24 * 60;

/// A kline interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interval {
    /// One minute (`1m`).
    M1,
    /// Five minutes (`5m`).
    M5,
    /// One hour (`1h`).
    H1,
    /// One day (`1d`, UTC days).
    D1,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 4] = [Interval::M1, Interval::M5, Interval::H1, Interval::D1];

    /// Parses `1m`, `5m`, `1h` or `1d`.
    pub fn parse(s: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// The interval's name as clients write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::H1 => "1h",
            Interval::D1 => "1d",
        }
    }

    /// Length in nanoseconds.
    pub fn ns(self) -> u64 {
        NS_PER_MIN
            * match self {
                Interval::M1 => 1,
                Interval::M5 => 5,
                Interval::H1 => 60,
                Interval::D1 => DAY_MINUTES,
            }
    }

    /// Start of the interval containing `ts_ns` (intervals are aligned to the Unix epoch).
    pub fn start_of(self, ts_ns: u64) -> u64 {
        ts_ns - ts_ns % self.ns()
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One candle: the trades of one interval. Volumes are exact integer sums: base volume in
/// lots, quote volume in ticks × lots (multiply by tick size × lot size for the amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kline {
    /// Start of the interval, ns since the Unix epoch.
    pub open_time_ns: u64,
    /// First trade's price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade's price.
    pub close: Price,
    /// Σ qty, in lots.
    pub volume_lots: i128,
    /// Σ price × qty, in ticks × lots.
    pub quote_volume: i128,
    /// Σ qty of trades whose taker bought, in lots.
    pub taker_buy_volume_lots: i128,
    /// Σ price × qty of trades whose taker bought, in ticks × lots.
    pub taker_buy_quote_volume: i128,
    /// Number of trades.
    pub trades: u64,
}

impl Kline {
    fn first(open_time_ns: u64, price: Price, qty: Qty, taker: Side) -> Kline {
        let mut k = Kline {
            open_time_ns,
            open: price,
            high: price,
            low: price,
            close: price,
            volume_lots: 0,
            quote_volume: 0,
            taker_buy_volume_lots: 0,
            taker_buy_quote_volume: 0,
            trades: 0,
        };
        k.add(price, qty, taker);
        k
    }

    fn add(&mut self, price: Price, qty: Qty, taker: Side) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        let notional = price.0 as i128 * qty.0 as i128;
        self.volume_lots += qty.0 as i128;
        self.quote_volume += notional;
        if taker == Side::Buy {
            self.taker_buy_volume_lots += qty.0 as i128;
            self.taker_buy_quote_volume += notional;
        }
        self.trades += 1;
    }

    /// Merges a later candle into this one (for windows spanning several candles).
    fn merge(&mut self, later: &Kline) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume_lots += later.volume_lots;
        self.quote_volume += later.quote_volume;
        self.taker_buy_volume_lots += later.taker_buy_volume_lots;
        self.taker_buy_quote_volume += later.taker_buy_quote_volume;
        self.trades += later.trades;
    }
}

/// The most recent candles of each interval, at most `cap` per interval. Intervals
/// without trades have no candle. A trade stamped before the newest candle (producers'
/// clocks may disagree by a little) is counted in the newest candle.
#[derive(Clone, Debug)]
pub(crate) struct KlineSet {
    /// Candles per interval (index [`Interval::index`]), oldest first.
    pub(crate) series: [VecDeque<Kline>; 4],
    pub(crate) cap: usize,
}

impl KlineSet {
    pub(crate) fn new(cap: usize) -> KlineSet {
        assert!(cap > 0, "kline retention must be positive");
        KlineSet {
            series: std::array::from_fn(|_| VecDeque::with_capacity(cap.min(4096))),
            cap,
        }
    }

    pub(crate) fn add(&mut self, ts_ns: u64, price: Price, qty: Qty, taker: Side) {
        for interval in Interval::ALL {
            let bars = &mut self.series[interval.index()];
            let start = interval.start_of(ts_ns);
            match bars.back_mut() {
                Some(last) if start <= last.open_time_ns => last.add(price, qty, taker),
                _ => {
                    if bars.len() == self.cap {
                        bars.pop_front();
                    }
                    bars.push_back(Kline::first(start, price, qty, taker));
                }
            }
            debug_assert!(bars.len() <= self.cap);
        }
    }

    /// The newest `limit` candles of `interval`, oldest first.
    pub(crate) fn recent(&self, interval: Interval, limit: usize) -> Vec<Kline> {
        let bars = &self.series[interval.index()];
        bars.iter()
            .skip(bars.len().saturating_sub(limit))
            .copied()
            .collect()
    }
}

/// A rolling 24-hour window at one-minute resolution: 1,440 one-minute buckets in a ring.
#[derive(Clone, Debug)]
pub(crate) struct Rolling24h {
    /// Bucket for minute `m` at index `m % DAY_MINUTES`, tagged by its start time.
    pub(crate) minutes: Vec<Option<Kline>>,
    /// Newest minute seen, so late trades land in a bucket still in the ring.
    pub(crate) newest_minute: u64,
}

impl Rolling24h {
    pub(crate) fn new() -> Rolling24h {
        Rolling24h {
            minutes: vec![None; DAY_MINUTES as usize],
            newest_minute: 0,
        }
    }

    pub(crate) fn add(&mut self, ts_ns: u64, price: Price, qty: Qty, taker: Side) {
        let minute = (ts_ns / NS_PER_MIN).max(self.newest_minute);
        self.newest_minute = minute;
        let start = minute * NS_PER_MIN;
        let slot = &mut self.minutes[(minute % DAY_MINUTES) as usize];
        match slot {
            Some(k) if k.open_time_ns == start => k.add(price, qty, taker),
            _ => *slot = Some(Kline::first(start, price, qty, taker)),
        }
    }

    /// The trades of the 1,440 whole minutes ending with the minute of `now_ns` merged
    /// into one candle (its `open_time_ns` is the first traded minute), or `None` if
    /// there was no trade in that window.
    pub(crate) fn window(&self, now_ns: u64) -> Option<Kline> {
        let now_minute = now_ns / NS_PER_MIN;
        let first = (now_minute + 1).saturating_sub(DAY_MINUTES);
        let mut out: Option<Kline> = None;
        for minute in first..=now_minute {
            let start = minute * NS_PER_MIN;
            if let Some(k) = &self.minutes[(minute % DAY_MINUTES) as usize] {
                if k.open_time_ns == start {
                    match &mut out {
                        None => out = Some(*k),
                        Some(acc) => acc.merge(k),
                    }
                }
            }
        }
        out
    }
}

/// Start of the rolling window that ends at `now_ns` (see [`Rolling24h::window`]).
pub fn window_start_ns(now_ns: u64) -> u64 {
    ((now_ns / NS_PER_MIN + 1).saturating_sub(DAY_MINUTES)) * NS_PER_MIN
}
