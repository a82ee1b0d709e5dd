//! Hand-computed cases: klines, the 24h window, sequence numbers and bounds.

use tachyon_engine::{
    AccountId, ClOrdId, Event, Fill, OrderId, Price, Qty, SessionId, Side, SymbolId, Trade,
};
use tachyon_market_data::{Interval, Kline, MarketData, MdLimits, Update};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_699_999_200 * S; // an hour boundary
const MIN: u64 = 60 * S;

fn md(tape: usize, klines: usize) -> MarketData {
    MarketData::with_symbols(
        vec!["BTC-USDT".into(), "ETH-USDT".into()],
        MdLimits {
            trade_tape_len: tape,
            kline_len: klines,
        },
    )
}

fn fill() -> Fill {
    Fill {
        order_id: OrderId(1),
        account: AccountId(1),
        session: SessionId(0),
        cl_ord_id: ClOrdId::EMPTY,
        leaves: Qty(0),
        cum_qty: Qty(0),
        cum_cost: 0,
        fee: 0,
    }
}

fn trade(id: u64, symbol: u16, price: i64, qty: i64, taker: Side) -> Event {
    Event::Trade(Trade {
        trade_id: id,
        symbol: SymbolId(symbol),
        price: Price(price),
        qty: Qty(qty),
        taker_side: taker,
        maker: fill(),
        taker: fill(),
    })
}

fn level(symbol: u16, side: Side, price: i64, qty: i64) -> Event {
    Event::BookLevel {
        symbol: SymbolId(symbol),
        side,
        price: Price(price),
        qty: Qty(qty),
        count: 1,
    }
}

#[allow(clippy::too_many_arguments)]
fn k(
    t: u64,
    o: i64,
    h: i64,
    l: i64,
    c: i64,
    v: i128,
    q: i128,
    bv: i128,
    bq: i128,
    n: u64,
) -> Kline {
    Kline {
        open_time_ns: t,
        open: Price(o),
        high: Price(h),
        low: Price(l),
        close: Price(c),
        volume_lots: v,
        quote_volume: q,
        taker_buy_volume_lots: bv,
        taker_buy_quote_volume: bq,
        trades: n,
    }
}

#[test]
fn klines_by_hand() {
    let mut m = md(10, 10);
    for (ts, ev) in [
        (T0, trade(1, 0, 100, 2, Side::Buy)),
        (T0 + 30 * S, trade(2, 0, 105, 1, Side::Sell)),
        (T0 + 61 * S, trade(3, 0, 95, 3, Side::Buy)),
        (T0 + 6 * MIN, trade(4, 0, 110, 1, Side::Sell)),
        // Late by 5 minutes (another producer's clock): counted in the newest candle.
        (T0 + MIN, trade(5, 0, 90, 1, Side::Sell)),
    ] {
        m.apply(ts, &ev).unwrap();
    }
    let sym = SymbolId(0);
    assert_eq!(
        m.klines(sym, Interval::M1, 10).unwrap(),
        vec![
            k(T0, 100, 105, 100, 105, 3, 305, 2, 200, 2),
            k(T0 + MIN, 95, 95, 95, 95, 3, 285, 3, 285, 1),
            k(T0 + 6 * MIN, 110, 110, 90, 90, 2, 200, 0, 0, 2),
        ]
    );
    let five = T0;
    assert_eq!(
        m.klines(sym, Interval::M5, 10).unwrap(),
        vec![
            k(five, 100, 105, 95, 95, 6, 590, 5, 485, 3),
            k(five + 5 * MIN, 110, 110, 90, 90, 2, 200, 0, 0, 2),
        ]
    );
    let hour = T0;
    assert_eq!(
        m.klines(sym, Interval::H1, 10).unwrap(),
        vec![k(hour, 100, 110, 90, 90, 8, 790, 5, 485, 5)]
    );
    assert_eq!(m.klines(sym, Interval::D1, 1).unwrap().len(), 1);
    assert_eq!(
        m.klines(sym, Interval::D1, 1).unwrap()[0].open_time_ns % (86_400 * S),
        0
    );
    // The other symbol saw nothing.
    assert!(m.klines(SymbolId(1), Interval::M1, 10).unwrap().is_empty());
    assert_eq!(m.klines(SymbolId(2), Interval::M1, 10), None);
}

#[test]
fn kline_and_tape_retention_is_bounded() {
    let mut m = md(3, 2);
    for i in 0..10u64 {
        m.apply(T0 + i * MIN, &trade(i + 1, 0, 100 + i as i64, 1, Side::Buy));
    }
    let ids: Vec<u64> = m
        .trades(SymbolId(0), 100)
        .unwrap()
        .iter()
        .map(|t| t.trade_id)
        .collect();
    assert_eq!(ids, [8, 9, 10]);
    let bars = m.klines(SymbolId(0), Interval::M1, 100).unwrap();
    assert_eq!(
        bars.iter().map(|b| b.open.0).collect::<Vec<_>>(),
        [108, 109]
    );
}

#[test]
fn ticker_window_rolls_by_the_minute() {
    let mut m = md(10, 10);
    let sym = SymbolId(0);
    m.apply(T0, &trade(1, 0, 100, 1, Side::Buy));
    m.apply(T0 + 2 * 3600 * S, &trade(2, 0, 120, 2, Side::Sell));
    m.apply(T0 + 2 * 3600 * S, &level(0, Side::Buy, 99, 5));
    m.apply(T0 + 2 * 3600 * S, &level(0, Side::Sell, 101, 7));
    // Just under a day after the first trade: both count.
    let t = m.ticker(sym, T0 + 1439 * MIN + 59 * S).unwrap();
    let w = t.window.unwrap();
    assert_eq!(
        (w.open.0, w.high.0, w.low.0, w.close.0),
        (100, 120, 100, 120)
    );
    assert_eq!((w.volume_lots, w.trades), (3, 2));
    assert_eq!(t.window_start_ns, T0);
    assert_eq!(t.best_bid.map(|l| (l.price.0, l.qty.0)), Some((99, 5)));
    assert_eq!(t.best_ask.map(|l| (l.price.0, l.qty.0)), Some((101, 7)));
    // A day after: the first trade has left the window.
    let t = m.ticker(sym, T0 + 1440 * MIN).unwrap();
    let w = t.window.unwrap();
    assert_eq!(
        (w.open.0, w.low.0, w.volume_lots, w.trades),
        (120, 120, 2, 1)
    );
    // Two days later: nothing in the window, but the last trade is still known.
    let t = m.ticker(sym, T0 + 3 * 1440 * MIN).unwrap();
    assert_eq!(t.window, None);
    assert_eq!(t.last.unwrap().trade_id, 2);
}

#[test]
fn sequence_numbers_count_book_and_trade_changes() {
    let mut m = md(10, 10);
    let evs = [
        level(0, Side::Buy, 99, 5),     // seq 1 depth
        level(1, Side::Buy, 50, 1),     // other symbol: its own seq 1
        trade(1, 0, 99, 2, Side::Sell), // seq 2 trade
        level(0, Side::Buy, 99, 3),     // seq 3 depth, prev 1
        trade(2, 0, 99, 3, Side::Sell), // seq 4 trade, prev 2
        level(0, Side::Buy, 99, 0),     // seq 5 depth, prev 3
        Event::AccountCreated {
            account: AccountId(9),
        }, // private: no update, no seq
    ];
    let got: Vec<Option<(u16, u64, u64)>> = evs
        .iter()
        .map(|e| {
            m.apply(T0, e).map(|u| match u {
                Update::Depth(d) => (d.symbol.0, d.seq, d.prev_seq),
                Update::Trade(t) => (t.symbol.0, t.trade.seq, t.prev_seq),
            })
        })
        .collect();
    assert_eq!(
        got,
        vec![
            Some((0, 1, 0)),
            Some((1, 1, 0)),
            Some((0, 2, 0)),
            Some((0, 3, 1)),
            Some((0, 4, 2)),
            Some((0, 5, 3)),
            None
        ]
    );
    assert_eq!(m.seq(SymbolId(0)), Some(5));
    assert!(m.book(SymbolId(0)).unwrap().best(Side::Buy).is_none());
    // An event for a symbol that does not exist changes nothing.
    assert_eq!(m.apply(T0, &level(7, Side::Buy, 1, 1)), None);
}

#[test]
fn depth_limits_and_order() {
    let mut m = md(10, 10);
    for (i, p) in [100, 98, 99, 97].into_iter().enumerate() {
        m.apply(T0, &level(0, Side::Buy, p, i as i64 + 1));
        m.apply(T0, &level(0, Side::Sell, p + 10, i as i64 + 1));
    }
    let d = m.depth(SymbolId(0), 2).unwrap();
    assert_eq!(
        d.bids.iter().map(|l| l.price.0).collect::<Vec<_>>(),
        [100, 99]
    );
    assert_eq!(
        d.asks.iter().map(|l| l.price.0).collect::<Vec<_>>(),
        [107, 108]
    );
    assert_eq!(d.seq, 8);
    assert_eq!(Interval::parse("5m"), Some(Interval::M5));
    assert_eq!(Interval::parse("2m"), None);
    for i in Interval::ALL {
        assert_eq!(Interval::parse(i.as_str()), Some(i));
    }
}
