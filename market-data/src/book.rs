//! An aggregated (L2) order book: one entry per price level, maintained from the engine's
//! `BookLevel` events, which carry the level's new total (0 = gone).

use std::collections::BTreeMap;

use tachyon_engine::{Price, Qty, Side};

/// One aggregated price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Level {
    /// Price in ticks.
    pub price: Price,
    /// Total open quantity in lots (> 0).
    pub qty: Qty,
    /// Number of resting orders at the level.
    pub count: u32,
}

/// Both sides of one symbol's book, sorted by price.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L2Book {
    /// Price (ticks) → (qty lots, order count); best bid is the last entry.
    bids: BTreeMap<i64, (i64, u32)>,
    /// Price (ticks) → (qty lots, order count); best ask is the first entry.
    asks: BTreeMap<i64, (i64, u32)>,
}

impl L2Book {
    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, (i64, u32)> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Sets a level to its new aggregate; `qty` 0 removes it.
    pub(crate) fn set(&mut self, side: Side, price: Price, qty: Qty, count: u32) {
        assert!(qty.0 >= 0, "negative level quantity {qty:?} at {price:?}");
        let levels = self.side_mut(side);
        if qty.0 == 0 {
            levels.remove(&price.0);
        } else {
            levels.insert(price.0, (qty.0, count));
        }
    }

    /// Removes every level.
    pub(crate) fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Levels of one side, best first (highest bid, lowest ask).
    pub fn levels(&self, side: Side) -> Box<dyn Iterator<Item = Level> + '_> {
        let to_level = |(&p, &(q, c)): (&i64, &(i64, u32))| Level {
            price: Price(p),
            qty: Qty(q),
            count: c,
        };
        match side {
            Side::Buy => Box::new(self.bids.iter().rev().map(to_level)),
            Side::Sell => Box::new(self.asks.iter().map(to_level)),
        }
    }

    /// The best level of a side, if any.
    pub fn best(&self, side: Side) -> Option<Level> {
        self.levels(side).next()
    }

    /// Number of levels on a side.
    pub fn depth(&self, side: Side) -> usize {
        match side {
            Side::Buy => self.bids.len(),
            Side::Sell => self.asks.len(),
        }
    }
}
