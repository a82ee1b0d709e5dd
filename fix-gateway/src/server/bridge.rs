//! Decoded application messages → engine commands, with exact decimal → tick/lot/unit
//! conversion. A value off its grid is refused here, never rounded.

use tachyon_config::Config;
use tachyon_engine::{
    AccountId, CancelOrder, ClOrdId, Command, CommandKind, MassCancel, MassCancelScope, NewOrder,
    OrderId, OrderRef, Price, Qty, ReplaceOrder, SessionId, SymbolId, Tif,
};

use crate::codec::decimal::{DecimalError, Grid};
use crate::messages::{
    NewOrderSingle, OrderCancelReplaceRequest, OrderCancelRequest, OrderMassCancelRequest,
};

/// One instrument as the gateway sees it.
#[derive(Clone, Debug)]
pub(crate) struct Market {
    pub symbol: String,
    pub price: Grid,
    pub qty: Grid,
    /// The quote asset's smallest unit (CashOrderQty, Commission).
    pub quote_units: Grid,
    pub quote_code: String,
}

/// Every instrument, by `SymbolId`.
#[derive(Clone, Debug)]
pub(crate) struct Markets {
    pub list: Vec<Market>,
}

/// Why the gateway refused an application message before it reached the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GatewayReject {
    UnknownSymbol,
    PriceOffGrid,
    QtyOffGrid,
    CashQtyOffGrid,
    PriceOutOfRange,
    QtyOutOfRange,
    MissingQty,
    SideFilterUnsupported,
}

impl GatewayReject {
    pub fn text(self) -> &'static str {
        match self {
            GatewayReject::UnknownSymbol => "Unknown symbol",
            GatewayReject::PriceOffGrid => "Price is not a multiple of the tick size",
            GatewayReject::QtyOffGrid => "OrderQty is not a multiple of the lot size",
            GatewayReject::CashQtyOffGrid => "CashOrderQty has more decimals than the quote asset",
            GatewayReject::PriceOutOfRange => "Price must be positive and within range",
            GatewayReject::QtyOutOfRange => "Quantity must be positive and within range",
            GatewayReject::MissingQty => "OrderQty (or CashOrderQty for a market buy) required",
            GatewayReject::SideFilterUnsupported => {
                "Side(54) filter on OrderMassCancelRequest is not supported"
            }
        }
    }
    /// OrdRejReason(103) for an ExecutionReport.
    pub fn ord_rej_reason(self) -> u32 {
        match self {
            GatewayReject::UnknownSymbol => 1,
            GatewayReject::QtyOffGrid
            | GatewayReject::QtyOutOfRange
            | GatewayReject::MissingQty
            | GatewayReject::CashQtyOffGrid => 13,
            _ => 99,
        }
    }
}

fn grid_err(e: DecimalError, off_grid: GatewayReject, range: GatewayReject) -> GatewayReject {
    match e {
        DecimalError::OffGrid => off_grid,
        _ => range,
    }
}

impl Markets {
    pub fn from_config(cfg: &Config) -> Markets {
        let list = cfg
            .instruments
            .iter()
            .map(|i| {
                let quote = cfg
                    .assets
                    .iter()
                    .find(|a| a.code == i.quote)
                    .expect("validated config: quote asset exists");
                Market {
                    symbol: i.symbol.clone(),
                    price: Grid::new(i.tick_size).expect("validated tick size"),
                    qty: Grid::new(i.lot_size).expect("validated lot size"),
                    quote_units: Grid::units(u32::from(quote.decimals)).expect("decimals ≤ 18"),
                    quote_code: quote.code.clone(),
                }
            })
            .collect();
        Markets { list }
    }

    /// Symbol text → id (a handful of instruments: a linear scan beats hashing).
    pub fn lookup(&self, symbol: &[u8]) -> Option<SymbolId> {
        self.list
            .iter()
            .position(|m| m.symbol.as_bytes() == symbol)
            .map(|i| SymbolId(i as u16))
    }

    pub fn get(&self, id: SymbolId) -> Option<&Market> {
        self.list.get(id.0 as usize)
    }

    fn ticks(&self, m: &Market, p: rust_decimal::Decimal) -> Result<i64, GatewayReject> {
        let t = m.price.to_steps(p).map_err(|e| {
            grid_err(
                e,
                GatewayReject::PriceOffGrid,
                GatewayReject::PriceOutOfRange,
            )
        })?;
        if t <= 0 {
            return Err(GatewayReject::PriceOutOfRange);
        }
        Ok(t)
    }

    fn lots(&self, m: &Market, q: rust_decimal::Decimal) -> Result<i64, GatewayReject> {
        let l = m
            .qty
            .to_steps(q)
            .map_err(|e| grid_err(e, GatewayReject::QtyOffGrid, GatewayReject::QtyOutOfRange))?;
        if l <= 0 {
            return Err(GatewayReject::QtyOutOfRange);
        }
        Ok(l)
    }

    /// NewOrderSingle(D) → NewOrder.
    pub fn new_order(
        &self,
        now_ns: u64,
        account: AccountId,
        session: SessionId,
        o: &NewOrderSingle<'_>,
    ) -> Result<Command, GatewayReject> {
        let symbol = self.lookup(o.symbol).ok_or(GatewayReject::UnknownSymbol)?;
        let m = &self.list[symbol.0 as usize];
        let price = match o.price {
            Some(p) => self.ticks(m, p)?,
            None => 0,
        };
        let qty = match o.order_qty {
            Some(q) => self.lots(m, q)?,
            None => 0,
        };
        let quote_budget = match o.cash_order_qty {
            Some(c) => {
                let u = m.quote_units.to_steps(c).map_err(|e| {
                    grid_err(
                        e,
                        GatewayReject::CashQtyOffGrid,
                        GatewayReject::QtyOutOfRange,
                    )
                })?;
                if u <= 0 {
                    return Err(GatewayReject::QtyOutOfRange);
                }
                u
            }
            None => 0,
        };
        if qty == 0 && quote_budget == 0 {
            return Err(GatewayReject::MissingQty);
        }
        Ok(Command {
            ts_ns: now_ns,
            kind: CommandKind::NewOrder(NewOrder {
                account,
                session,
                cl_ord_id: o.cl_ord_id,
                symbol,
                side: o.side,
                ord_type: o.ord_type,
                price: Price(price),
                qty: Qty(qty),
                quote_budget,
                tif: o.tif,
                expire_ns: if o.tif == Tif::Gtd { o.expire_ns } else { 0 },
                post_only: o.post_only,
                stp: o.stp,
            }),
        })
    }

    /// OrderCancelRequest(F) → Cancel.
    pub fn cancel(
        &self,
        now_ns: u64,
        account: AccountId,
        o: &OrderCancelRequest<'_>,
    ) -> Result<Command, GatewayReject> {
        let symbol = self.lookup(o.symbol).ok_or(GatewayReject::UnknownSymbol)?;
        Ok(Command {
            ts_ns: now_ns,
            kind: CommandKind::Cancel(CancelOrder {
                account,
                symbol,
                target: order_ref(o.order_id, o.orig_cl_ord_id),
                cl_ord_id: o.cl_ord_id,
            }),
        })
    }

    /// OrderCancelReplaceRequest(G) → Replace.
    pub fn replace(
        &self,
        now_ns: u64,
        account: AccountId,
        o: &OrderCancelReplaceRequest<'_>,
    ) -> Result<Command, GatewayReject> {
        let symbol = self.lookup(o.symbol).ok_or(GatewayReject::UnknownSymbol)?;
        let m = &self.list[symbol.0 as usize];
        let price = self.ticks(m, o.price)?;
        let qty = self.lots(m, o.order_qty)?;
        Ok(Command {
            ts_ns: now_ns,
            kind: CommandKind::Replace(ReplaceOrder {
                account,
                symbol,
                target: order_ref(o.order_id, o.orig_cl_ord_id),
                cl_ord_id: o.cl_ord_id,
                price: Price(price),
                qty: Qty(qty),
            }),
        })
    }

    /// OrderMassCancelRequest(q) → MassCancel.
    pub fn mass_cancel(
        &self,
        now_ns: u64,
        account: AccountId,
        o: &OrderMassCancelRequest<'_>,
    ) -> Result<Command, GatewayReject> {
        if o.side.is_some() {
            return Err(GatewayReject::SideFilterUnsupported);
        }
        let scope = match o.symbol {
            Some(s) => MassCancelScope::Symbol(self.lookup(s).ok_or(GatewayReject::UnknownSymbol)?),
            None => MassCancelScope::Account,
        };
        Ok(Command {
            ts_ns: now_ns,
            kind: CommandKind::MassCancel(MassCancel {
                account,
                scope,
                cl_ord_id: o.cl_ord_id,
            }),
        })
    }
}

fn order_ref(order_id: Option<u64>, orig: Option<ClOrdId>) -> OrderRef {
    match (order_id, orig) {
        (Some(id), _) => OrderRef::Id(OrderId(id)),
        (None, Some(cl)) => OrderRef::ClOrdId(cl),
        // The dictionary requires one of them; an empty id matches no order.
        (None, None) => OrderRef::ClOrdId(ClOrdId::EMPTY),
    }
}
