//! Integer ticks, lots and units to exact decimal strings, and the JSON documents of the
//! public API (Binance's layout: amounts are strings, times are Unix milliseconds).

use rust_decimal::Decimal;
use serde_json::{json, Value};
use tachyon_config::Config;
use tachyon_engine::{Price, Side};
use tachyon_market_data::{Depth, DepthUpdate, Interval, Kline, TapeTrade, Ticker};

/// `mantissa × 10^-scale` as a decimal string with exactly `scale` decimals.
pub(crate) fn fixed(mantissa: i128, scale: u32) -> String {
    match Decimal::try_from_i128_with_scale(mantissa, scale) {
        Ok(d) => d.to_string(),
        // Beyond rust_decimal's 96-bit mantissa (absurd volumes): same digits by hand.
        Err(_) => {
            let digits = mantissa.unsigned_abs().to_string();
            let scale = scale as usize;
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (int, frac) = padded.split_at(padded.len() - scale);
            let sign = if mantissa < 0 { "-" } else { "" };
            if scale == 0 {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            }
        }
    }
}

/// How one symbol's integers become decimals.
#[derive(Clone, Debug)]
pub(crate) struct SymbolFmt {
    pub(crate) name: String,
    /// `name` as a JSON string literal (quotes and escapes included).
    name_json: String,
    tick_m: i128,
    tick_s: u32,
    lot_m: i128,
    lot_s: u32,
    /// Quote amounts are shown with the quote asset's decimals (never fewer than a
    /// tick × lot has, so always exact): `ticks × lots × quote_m`, scale `quote_s`.
    quote_m: i128,
    quote_s: u32,
}

impl SymbolFmt {
    pub(crate) fn all(cfg: &Config) -> Vec<SymbolFmt> {
        cfg.instruments
            .iter()
            .map(|i| {
                let tick = i.tick_size.normalize();
                let lot = i.lot_size.normalize();
                let exact_s = tick.scale() + lot.scale();
                let asset_s = cfg
                    .assets
                    .iter()
                    .find(|a| a.code == i.quote)
                    .map_or(0, |a| a.decimals as u32);
                let quote_s = exact_s.max(asset_s);
                SymbolFmt {
                    name: i.symbol.clone(),
                    name_json: Value::from(i.symbol.as_str()).to_string(),
                    tick_m: tick.mantissa(),
                    tick_s: tick.scale(),
                    lot_m: lot.mantissa(),
                    lot_s: lot.scale(),
                    quote_m: tick.mantissa() * lot.mantissa() * 10i128.pow(quote_s - exact_s),
                    quote_s,
                }
            })
            .collect()
    }

    /// A price in ticks, with the tick size's decimals.
    pub(crate) fn price(&self, p: Price) -> String {
        fixed(p.0 as i128 * self.tick_m, self.tick_s)
    }

    /// A quantity in lots, with the lot size's decimals.
    pub(crate) fn qty(&self, lots: i128) -> String {
        fixed(lots.saturating_mul(self.lot_m), self.lot_s)
    }

    /// A quote amount given in ticks × lots, exact, with the quote asset's decimals.
    pub(crate) fn quote(&self, tick_lots: i128) -> String {
        fixed(tick_lots.saturating_mul(self.quote_m), self.quote_s)
    }

    /// A price as a `Decimal` (for arithmetic such as percentages).
    fn price_decimal(&self, p: Price) -> Option<Decimal> {
        Decimal::try_from_i128_with_scale(p.0 as i128 * self.tick_m, self.tick_s).ok()
    }
}

pub(crate) fn ms(ts_ns: u64) -> u64 {
    ts_ns / 1_000_000
}

/// `GET /api/v1/exchangeInfo`.
pub(crate) fn exchange_info(cfg: &Config, server_time_ns: u64, per_sec: u32, burst: u32) -> Value {
    let assets: Vec<Value> = cfg
        .assets
        .iter()
        .map(|a| json!({ "asset": a.code, "decimals": a.decimals }))
        .collect();
    let symbols: Vec<Value> = cfg
        .instruments
        .iter()
        .map(|i| {
            let tick = i.tick_size.normalize();
            let lot = i.lot_size.normalize();
            json!({
                "symbol": i.symbol,
                "status": "TRADING",
                "baseAsset": i.base,
                "quoteAsset": i.quote,
                "pricePrecision": tick.scale(),
                "quantityPrecision": lot.scale(),
                "tickSize": tick.to_string(),
                "stepSize": lot.to_string(),
                "minQty": i.min_qty.normalize().to_string(),
                "maxQty": i.max_qty.normalize().to_string(),
                "minPrice": i.price_band.min.normalize().to_string(),
                "maxPrice": i.price_band.max.normalize().to_string(),
                "minNotional": i.min_notional.normalize().to_string(),
                "makerFeeBps": i.maker_fee_bps,
                "takerFeeBps": i.taker_fee_bps,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": i.price_band.min.normalize().to_string(),
                        "maxPrice": i.price_band.max.normalize().to_string(),
                        "tickSize": tick.to_string(),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": i.min_qty.normalize().to_string(),
                        "maxQty": i.max_qty.normalize().to_string(),
                        "stepSize": lot.to_string(),
                    },
                    {
                        "filterType": "MIN_NOTIONAL",
                        "minNotional": i.min_notional.normalize().to_string(),
                    },
                ],
            })
        })
        .collect();
    json!({
        "timezone": "UTC",
        "serverTime": ms(server_time_ns),
        "rateLimits": [{
            "rateLimitType": "REQUEST_PER_IP",
            "interval": "SECOND",
            "intervalNum": 1,
            "limit": per_sec,
            "burst": burst,
        }],
        "assets": assets,
        "symbols": symbols,
    })
}

fn levels(f: &SymbolFmt, ls: &[tachyon_market_data::Level]) -> Vec<Value> {
    ls.iter()
        .map(|l| json!([f.price(l.price), f.qty(l.qty.0 as i128)]))
        .collect()
}

/// `GET /api/v1/depth`.
pub(crate) fn depth(f: &SymbolFmt, d: &Depth) -> Value {
    json!({
        "symbol": f.name,
        "lastUpdateId": d.seq,
        "bids": levels(f, &d.bids),
        "asks": levels(f, &d.asks),
    })
}

/// The first message of a depth stream: the whole book and its `seq`.
pub(crate) fn depth_snapshot_msg(f: &SymbolFmt, d: &Depth) -> String {
    json!({
        "e": "depthSnapshot",
        "s": f.name,
        "u": d.seq,
        "b": levels(f, &d.bids),
        "a": levels(f, &d.asks),
    })
    .to_string()
}

/// One depth-stream message: the level changes of one command (or part of one), in
/// order. `U`/`u` are the first and last `seq`, `pu` the `u` of the previous message.
/// Written directly (not through `serde_json::Value`): this runs on the consumer thread.
pub(crate) fn depth_update_msg(f: &SymbolFmt, ts_ns: u64, ups: &[DepthUpdate]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(96 + ups.len() * 32);
    let _ = write!(
        out,
        r#"{{"e":"depthUpdate","E":{},"s":{},"U":{},"u":{},"pu":{},"b":["#,
        ms(ts_ns),
        f.name_json,
        ups[0].seq,
        ups[ups.len() - 1].seq,
        ups[0].prev_seq,
    );
    for (i, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
        if i == 1 {
            out.push_str(r#"],"a":["#);
        }
        let mut first = true;
        for u in ups.iter().filter(|u| u.side == side) {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(
                out,
                r#"["{}","{}"]"#,
                f.price(u.price),
                f.qty(u.qty.0 as i128)
            );
        }
    }
    out.push_str("]}");
    out
}

/// The first message of a trade stream: trades after `seq` follow.
pub(crate) fn subscribed_msg(f: &SymbolFmt, seq: u64) -> String {
    json!({ "e": "subscribed", "s": f.name, "seq": seq }).to_string()
}

/// One trade-stream message (written directly, as [`depth_update_msg`]).
pub(crate) fn trade_msg(f: &SymbolFmt, prev_seq: u64, t: &TapeTrade) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(160);
    let _ = write!(
        out,
        r#"{{"e":"trade","E":{ms},"s":{},"seq":{},"pu":{prev_seq},"t":{},"p":"{}","q":"{}","T":{ms},"m":{}}}"#,
        f.name_json,
        t.seq,
        t.trade_id,
        f.price(t.price),
        f.qty(t.qty.0 as i128),
        t.taker_side == Side::Sell,
        ms = ms(t.ts_ns),
    );
    out
}

/// `GET /api/v1/trades`.
pub(crate) fn trades(f: &SymbolFmt, ts: &[TapeTrade]) -> Value {
    Value::Array(
        ts.iter()
            .map(|t| {
                json!({
                    "id": t.trade_id,
                    "seq": t.seq,
                    "price": f.price(t.price),
                    "qty": f.qty(t.qty.0 as i128),
                    "quoteQty": f.quote(t.price.0 as i128 * t.qty.0 as i128),
                    "time": ms(t.ts_ns),
                    "isBuyerMaker": t.taker_side == Side::Sell,
                })
            })
            .collect(),
    )
}

/// `GET /api/v1/klines`: Binance's array layout.
pub(crate) fn klines(f: &SymbolFmt, interval: Interval, ks: &[Kline]) -> Value {
    Value::Array(
        ks.iter()
            .map(|k| {
                json!([
                    ms(k.open_time_ns),
                    f.price(k.open),
                    f.price(k.high),
                    f.price(k.low),
                    f.price(k.close),
                    f.qty(k.volume_lots),
                    ms(k.open_time_ns + interval.ns()) - 1,
                    f.quote(k.quote_volume),
                    k.trades,
                    f.qty(k.taker_buy_volume_lots),
                    f.quote(k.taker_buy_quote_volume),
                    "0",
                ])
            })
            .collect(),
    )
}

/// `GET /api/v1/ticker`: last trade, best prices, 24h statistics.
pub(crate) fn ticker(f: &SymbolFmt, t: &Ticker, now_ns: u64) -> Value {
    let opt_price = |l: Option<tachyon_market_data::Level>| match l {
        Some(l) => (
            Value::from(f.price(l.price)),
            Value::from(f.qty(l.qty.0 as i128)),
        ),
        None => (Value::Null, Value::Null),
    };
    let (bid_p, bid_q) = opt_price(t.best_bid);
    let (ask_p, ask_q) = opt_price(t.best_ask);
    let (last_p, last_q) = match &t.last {
        Some(l) => (
            Value::from(f.price(l.price)),
            Value::from(f.qty(l.qty.0 as i128)),
        ),
        None => (Value::Null, Value::Null),
    };
    let zero_qty = f.qty(0);
    let zero_quote = f.quote(0);
    let mut v = json!({
        "symbol": f.name,
        "lastPrice": last_p,
        "lastQty": last_q,
        "bidPrice": bid_p,
        "bidQty": bid_q,
        "askPrice": ask_p,
        "askQty": ask_q,
        "openPrice": Value::Null,
        "highPrice": Value::Null,
        "lowPrice": Value::Null,
        "priceChange": Value::Null,
        "priceChangePercent": Value::Null,
        "volume": zero_qty,
        "quoteVolume": zero_quote,
        "openTime": ms(t.window_start_ns),
        "closeTime": ms(now_ns),
        "count": 0,
        "lastUpdateId": t.seq,
    });
    if let Some(w) = &t.window {
        v["openPrice"] = f.price(w.open).into();
        v["highPrice"] = f.price(w.high).into();
        v["lowPrice"] = f.price(w.low).into();
        v["volume"] = f.qty(w.volume_lots).into();
        v["quoteVolume"] = f.quote(w.quote_volume).into();
        v["count"] = w.trades.into();
        v["priceChange"] = f.price(Price(w.close.0 - w.open.0)).into();
        if let (Some(open), Some(close)) = (f.price_decimal(w.open), f.price_decimal(w.close)) {
            if !open.is_zero() {
                let mut pct = ((close - open) * Decimal::ONE_HUNDRED / open).round_dp(3);
                pct.rescale(3);
                v["priceChangePercent"] = pct.to_string().into();
            }
        }
    }
    v
}

/// The body of every error response: Binance's `{code, msg}` plus the parameter named.
pub(crate) fn error(code: i32, msg: &str, param: Option<&str>) -> Value {
    match param {
        Some(p) => json!({ "code": code, "msg": msg, "param": p }),
        None => json!({ "code": code, "msg": msg }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_engine::{Qty, SymbolId};
    use tachyon_market_data::TapeTrade;

    fn fmt() -> SymbolFmt {
        SymbolFmt {
            name: "A\"B".into(),
            name_json: Value::from("A\"B").to_string(),
            tick_m: 1,
            tick_s: 2,
            lot_m: 1,
            lot_s: 3,
            quote_m: 1,
            quote_s: 5,
        }
    }

    #[test]
    fn stream_messages_are_the_json_they_claim() {
        let f = fmt();
        let up = |seq, prev_seq, side, price, qty| DepthUpdate {
            symbol: SymbolId(0),
            seq,
            prev_seq,
            side,
            price: Price(price),
            qty: Qty(qty),
            count: 1,
        };
        let ups = [
            up(5, 2, Side::Sell, 10_001, 1_500),
            up(6, 5, Side::Buy, 9_999, 0),
            up(8, 6, Side::Sell, 10_002, 7),
        ];
        let v: Value = serde_json::from_str(&depth_update_msg(&f, 3_000_000, &ups)).unwrap();
        assert_eq!(
            v,
            json!({"e": "depthUpdate", "E": 3, "s": "A\"B", "U": 5, "u": 8, "pu": 2,
                   "b": [["99.99", "0.000"]], "a": [["100.01", "1.500"], ["100.02", "0.007"]]})
        );
        let only_bids = [up(9, 8, Side::Buy, 1, 1)];
        let v: Value = serde_json::from_str(&depth_update_msg(&f, 0, &only_bids)).unwrap();
        assert_eq!(v["a"], json!([]));
        assert_eq!(v["b"], json!([["0.01", "0.001"]]));
        let t = TapeTrade {
            trade_id: 77,
            seq: 12,
            price: Price(12_345),
            qty: Qty(2),
            taker_side: Side::Sell,
            ts_ns: 5_999_999,
        };
        let v: Value = serde_json::from_str(&trade_msg(&f, 9, &t)).unwrap();
        assert_eq!(
            v,
            json!({"e": "trade", "E": 5, "s": "A\"B", "seq": 12, "pu": 9, "t": 77,
                   "p": "123.45", "q": "0.002", "T": 5, "m": true})
        );
    }

    #[test]
    fn fixed_decimals_are_exact() {
        for (m, s, want) in [
            (0i128, 2u32, "0.00"),
            (5, 2, "0.05"),
            (-5, 2, "-0.05"),
            (123_456, 3, "123.456"),
            (100, 0, "100"),
            (1, 8, "0.00000001"),
            // Past rust_decimal's 96-bit mantissa: formatted by hand, same digits.
            (
                123_456_789_012_345_678_901_234_567_890_123,
                4,
                "12345678901234567890123456789.0123",
            ),
            (-(10i128.pow(30)), 2, "-10000000000000000000000000000.00"),
        ] {
            assert_eq!(fixed(m, s), want, "{m} e-{s}");
        }
    }
}
