//! Decoded application messages as plain structs borrowing the receive buffer.
//!
//! Call [`crate::validate`] first: these parsers assume a message that passed the
//! dictionary (required tags present, enums in range) and only report what the
//! dictionary cannot know, as a [`BusinessReject`] (BusinessMessageReject(j) with
//! BusinessRejectReason(380)), e.g. a ClOrdID longer than the engine's 36 bytes.
//!
//! Prices and quantities are kept as exact [`Decimal`]s; [`PriceQtyGrid`] turns them
//! into engine ticks and lots, refusing any value off the instrument's grid. Symbol is
//! kept as text: mapping it to a `SymbolId` is the caller's (it owns the instrument list).
//!
//! Self-trade prevention: custom tag 7928 ([`crate::TAG_STP_MODE`]) on D and G —
//! `1` cancel newest (default), `2` cancel oldest, `3` cancel both, `4` decrement.

use rust_decimal::Decimal;
use tachyon_engine::{ClOrdId, OrdType, Side, StpMode, Tif};

use crate::codec::decimal::{parse_decimal, DecimalError, Grid};
use crate::codec::decode::{parse_int, parse_uint, Message};
use crate::codec::time::parse_utc_timestamp;
use crate::dictionary::TAG_STP_MODE;

/// BusinessRejectReason(380) values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BusinessRejectReason {
    /// 0: other.
    Other = 0,
    /// 3: unsupported message type.
    UnsupportedMsgType = 3,
    /// 5: conditionally required field missing.
    ConditionallyRequiredFieldMissing = 5,
}

/// A BusinessMessageReject(j) to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusinessReject {
    /// BusinessRejectReason(380).
    pub reason: BusinessRejectReason,
    /// BusinessRejectRefID(379) source: the tag whose value identifies the message
    /// (ClOrdID(11) etc.), if any.
    pub ref_tag: Option<u32>,
    /// Text(58).
    pub text: &'static str,
}

fn biz(reason: BusinessRejectReason, ref_tag: Option<u32>, text: &'static str) -> BusinessReject {
    BusinessReject {
        reason,
        ref_tag,
        text,
    }
}

/// NewOrderSingle(D).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrderSingle<'a> {
    /// ClOrdID(11).
    pub cl_ord_id: ClOrdId,
    /// Symbol(55), to be mapped by the caller.
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
    /// OrdType(40).
    pub ord_type: OrdType,
    /// Price(44): required for limit, optional protection price for market.
    pub price: Option<Decimal>,
    /// OrderQty(38).
    pub order_qty: Option<Decimal>,
    /// CashOrderQty(152): market buy by quote amount.
    pub cash_order_qty: Option<Decimal>,
    /// TimeInForce(59), default GTC.
    pub tif: Tif,
    /// ExpireTime(126) for GTD, ns since the epoch (0 if absent).
    pub expire_ns: u64,
    /// ExecInst(18) contains `6` (participate, don't initiate).
    pub post_only: bool,
    /// Tag 7928.
    pub stp: StpMode,
    /// TransactTime(60), ns since the epoch.
    pub transact_time_ns: u64,
}

/// OrderCancelRequest(F).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelRequest<'a> {
    /// ClOrdID(11) of this request.
    pub cl_ord_id: ClOrdId,
    /// OrigClOrdID(41), if the order is addressed by client id.
    pub orig_cl_ord_id: Option<ClOrdId>,
    /// OrderID(37), if addressed by exchange id (decimal u64).
    pub order_id: Option<u64>,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
}

/// OrderCancelReplaceRequest(G).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelReplaceRequest<'a> {
    /// ClOrdID(11) of the replacement.
    pub cl_ord_id: ClOrdId,
    /// OrigClOrdID(41).
    pub orig_cl_ord_id: Option<ClOrdId>,
    /// OrderID(37).
    pub order_id: Option<u64>,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
    /// New Price(44) (required).
    pub price: Decimal,
    /// New total OrderQty(38) (required).
    pub order_qty: Decimal,
}

/// OrderStatusRequest(H).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderStatusRequest<'a> {
    /// ClOrdID(11).
    pub cl_ord_id: ClOrdId,
    /// OrderID(37).
    pub order_id: Option<u64>,
    /// Symbol(55).
    pub symbol: &'a [u8],
    /// Side(54).
    pub side: Side,
}

/// OrderMassCancelRequest(q).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderMassCancelRequest<'a> {
    /// ClOrdID(11).
    pub cl_ord_id: ClOrdId,
    /// Symbol(55) when MassCancelRequestType(530)=1; `None` for 7 (all orders).
    pub symbol: Option<&'a [u8]>,
    /// Side(54) filter.
    pub side: Option<Side>,
}

/// OrderMassStatusRequest(AF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderMassStatusRequest<'a> {
    /// MassStatusReqID(584).
    pub req_id: &'a [u8],
    /// Symbol(55) when MassStatusReqType(585)=1; `None` for 7.
    pub symbol: Option<&'a [u8]>,
}

/// MarketDataRequest(V). Symbols and entry types are left in the message: iterate them
/// with [`MarketDataRequest::symbols`] (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketDataRequest<'a> {
    /// MDReqID(262).
    pub req_id: &'a [u8],
    /// SubscriptionRequestType(263): b'0' snapshot, b'1' subscribe, b'2' unsubscribe.
    pub subscription: u8,
    /// MarketDepth(264), 0 = full book.
    pub depth: u32,
    /// MDUpdateType(265): true = incremental.
    pub incremental: bool,
    msg: Message<'a>,
}

impl<'a> MarketDataRequest<'a> {
    /// The Symbol(55) values of NoRelatedSym(146).
    pub fn symbols(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.msg
            .fields()
            .filter_map(|f| f.ok())
            .filter(|(t, _)| *t == 55)
            .map(|(_, v)| v)
    }
    /// True if MDUpdateType(265) = 0 (full refresh updates) was asked for explicitly.
    pub fn full_refresh_requested(&self) -> bool {
        self.msg.get(265) == Some(b"0")
    }
    /// The MDEntryType(269) values requested.
    pub fn entry_types(&self) -> impl Iterator<Item = u8> + 'a {
        self.msg
            .fields()
            .filter_map(|f| f.ok())
            .filter(|(t, _)| *t == 269)
            .map(|(_, v)| v[0])
    }
}

/// A decoded application message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppMessage<'a> {
    /// D.
    NewOrderSingle(NewOrderSingle<'a>),
    /// F.
    OrderCancelRequest(OrderCancelRequest<'a>),
    /// G.
    OrderCancelReplaceRequest(OrderCancelReplaceRequest<'a>),
    /// H.
    OrderStatusRequest(OrderStatusRequest<'a>),
    /// q.
    OrderMassCancelRequest(OrderMassCancelRequest<'a>),
    /// AF.
    OrderMassStatusRequest(OrderMassStatusRequest<'a>),
    /// V.
    MarketDataRequest(MarketDataRequest<'a>),
}

/// Tag values of one message, gathered in a single pass (no allocation).
struct Tags<'a>([Option<&'a [u8]>; N_TAGS]);

/// Tags the parsers read, by index.
const WANTED: [u32; 19] = [
    11,
    41,
    37,
    55,
    54,
    40,
    44,
    38,
    152,
    59,
    126,
    18,
    TAG_STP_MODE,
    60,
    530,
    584,
    585,
    262,
    263,
];
const N_TAGS: usize = 21;
const T264: usize = 19;
const T265: usize = 20;

impl<'a> Tags<'a> {
    fn of(msg: &Message<'a>) -> Tags<'a> {
        let mut t = Tags([None; N_TAGS]);
        for (tag, v) in msg.fields().filter_map(|f| f.ok()) {
            let idx = match tag {
                264 => Some(T264),
                265 => Some(T265),
                _ => WANTED.iter().position(|&w| w == tag),
            };
            if let Some(i) = idx {
                // First occurrence wins (validation already refused repeats).
                t.0[i].get_or_insert(v);
            }
        }
        t
    }
    fn get(&self, tag: u32) -> Option<&'a [u8]> {
        match tag {
            264 => self.0[T264],
            265 => self.0[T265],
            _ => WANTED
                .iter()
                .position(|&w| w == tag)
                .and_then(|i| self.0[i]),
        }
    }
}

fn cl_ord_id(v: Option<&[u8]>, tag: u32) -> Result<ClOrdId, BusinessReject> {
    let v = v.ok_or(biz(
        BusinessRejectReason::ConditionallyRequiredFieldMissing,
        Some(tag),
        "ClOrdID missing",
    ))?;
    ClOrdId::new(v).ok_or(biz(
        BusinessRejectReason::Other,
        Some(tag),
        "ClOrdID longer than 36 characters or not printable ASCII",
    ))
}

fn side(v: Option<&[u8]>) -> Result<Side, BusinessReject> {
    match v {
        Some(b"1") => Ok(Side::Buy),
        Some(b"2") => Ok(Side::Sell),
        _ => Err(biz(
            BusinessRejectReason::Other,
            Some(54),
            "Side must be 1 (buy) or 2 (sell)",
        )),
    }
}

fn dec(v: Option<&[u8]>, tag: u32) -> Result<Option<Decimal>, BusinessReject> {
    v.map(|v| {
        parse_decimal(v).map_err(|_| {
            biz(
                BusinessRejectReason::Other,
                Some(tag),
                "Decimal value out of range",
            )
        })
    })
    .transpose()
}

fn order_id(v: Option<&[u8]>) -> Result<Option<u64>, BusinessReject> {
    v.map(|v| {
        parse_uint(v).ok_or(biz(
            BusinessRejectReason::Other,
            Some(37),
            "OrderID is not a Tachyon order id",
        ))
    })
    .transpose()
}

/// Parses a validated application message.
pub fn parse_app<'a>(msg: &Message<'a>) -> Result<AppMessage<'a>, BusinessReject> {
    let t = Tags::of(msg);
    let sym = || {
        t.get(55).ok_or(biz(
            BusinessRejectReason::ConditionallyRequiredFieldMissing,
            Some(55),
            "Symbol missing",
        ))
    };
    match msg.msg_type() {
        b"D" => {
            let ord_type = if t.get(40) == Some(b"1") {
                OrdType::Market
            } else {
                OrdType::Limit
            };
            let price = dec(t.get(44), 44)?;
            let order_qty = dec(t.get(38), 38)?;
            let cash_order_qty = dec(t.get(152), 152)?;
            if ord_type == OrdType::Limit && price.is_none() {
                return Err(biz(
                    BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    Some(44),
                    "Price required for a limit order",
                ));
            }
            if order_qty.is_some() == cash_order_qty.is_some() {
                return Err(biz(
                    BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    Some(38),
                    "Exactly one of OrderQty and CashOrderQty is required",
                ));
            }
            let tif = match t.get(59) {
                None | Some(b"1") => Tif::Gtc,
                Some(b"3") => Tif::Ioc,
                Some(b"4") => Tif::Fok,
                _ => Tif::Gtd,
            };
            let expire_ns = match t.get(126) {
                Some(v) => parse_utc_timestamp(v).unwrap_or(0),
                None if tif == Tif::Gtd => {
                    return Err(biz(
                        BusinessRejectReason::ConditionallyRequiredFieldMissing,
                        Some(126),
                        "ExpireTime required for GTD",
                    ))
                }
                None => 0,
            };
            let stp = match t.get(TAG_STP_MODE) {
                None | Some(b"1") => StpMode::CancelNewest,
                Some(b"2") => StpMode::CancelOldest,
                Some(b"3") => StpMode::CancelBoth,
                _ => StpMode::Decrement,
            };
            Ok(AppMessage::NewOrderSingle(NewOrderSingle {
                cl_ord_id: cl_ord_id(t.get(11), 11)?,
                symbol: sym()?,
                side: side(t.get(54))?,
                ord_type,
                price,
                order_qty,
                cash_order_qty,
                tif,
                expire_ns,
                post_only: t
                    .get(18)
                    .is_some_and(|v| v.split(|&b| b == b' ').any(|c| c == b"6")),
                stp,
                transact_time_ns: t.get(60).and_then(parse_utc_timestamp).unwrap_or(0),
            }))
        }
        b"F" if t.get(41).is_none() && t.get(37).is_none() => Err(biz(
            BusinessRejectReason::ConditionallyRequiredFieldMissing,
            Some(11),
            "OrigClOrdID(41) or OrderID(37) required",
        )),
        b"F" => Ok(AppMessage::OrderCancelRequest(OrderCancelRequest {
            cl_ord_id: cl_ord_id(t.get(11), 11)?,
            orig_cl_ord_id: t.get(41).map(|v| cl_ord_id(Some(v), 41)).transpose()?,
            order_id: order_id(t.get(37))?,
            symbol: sym()?,
            side: side(t.get(54))?,
        })),
        b"G" => {
            // The engine replaces a limit order's price and total quantity: both required.
            let (Some(price), Some(order_qty)) = (dec(t.get(44), 44)?, dec(t.get(38), 38)?) else {
                return Err(biz(
                    BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    Some(11),
                    "OrderCancelReplaceRequest needs Price(44) and OrderQty(38)",
                ));
            };
            if t.get(41).is_none() && t.get(37).is_none() {
                return Err(biz(
                    BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    Some(11),
                    "OrigClOrdID(41) or OrderID(37) required",
                ));
            }
            Ok(AppMessage::OrderCancelReplaceRequest(
                OrderCancelReplaceRequest {
                    cl_ord_id: cl_ord_id(t.get(11), 11)?,
                    orig_cl_ord_id: t.get(41).map(|v| cl_ord_id(Some(v), 41)).transpose()?,
                    order_id: order_id(t.get(37))?,
                    symbol: sym()?,
                    side: side(t.get(54))?,
                    price,
                    order_qty,
                },
            ))
        }
        b"H" => Ok(AppMessage::OrderStatusRequest(OrderStatusRequest {
            cl_ord_id: cl_ord_id(t.get(11), 11)?,
            order_id: order_id(t.get(37))?,
            symbol: sym()?,
            side: side(t.get(54))?,
        })),
        b"q" => {
            let symbol = t.get(55);
            if t.get(530) == Some(b"1") && symbol.is_none() {
                return Err(biz(
                    BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    Some(55),
                    "Symbol required for MassCancelRequestType 1",
                ));
            }
            Ok(AppMessage::OrderMassCancelRequest(OrderMassCancelRequest {
                cl_ord_id: cl_ord_id(t.get(11), 11)?,
                symbol: if t.get(530) == Some(b"1") {
                    symbol
                } else {
                    None
                },
                side: t.get(54).map(|v| side(Some(v))).transpose()?,
            }))
        }
        b"AF" => Ok(AppMessage::OrderMassStatusRequest(OrderMassStatusRequest {
            req_id: t.get(584).unwrap_or(b""),
            symbol: if t.get(585) == Some(b"1") {
                t.get(55)
            } else {
                None
            },
        })),
        b"V" => Ok(AppMessage::MarketDataRequest(MarketDataRequest {
            req_id: t.get(262).unwrap_or(b""),
            subscription: t.get(263).map_or(b'0', |v| v[0]),
            depth: t
                .get(264)
                .and_then(parse_int)
                .unwrap_or(0)
                .clamp(0, u32::MAX as i64) as u32,
            incremental: t.get(265) == Some(b"1"),
            msg: *msg,
        })),
        _ => Err(biz(
            BusinessRejectReason::UnsupportedMsgType,
            None,
            "Unsupported message type",
        )),
    }
}

/// An instrument's price and quantity grids, for turning decoded decimals into engine
/// ticks and lots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceQtyGrid {
    /// Tick size grid.
    pub price: Grid,
    /// Lot size grid.
    pub qty: Grid,
}

impl PriceQtyGrid {
    /// From tick and lot sizes; `None` if either is not positive.
    pub fn new(tick_size: Decimal, lot_size: Decimal) -> Option<PriceQtyGrid> {
        Some(PriceQtyGrid {
            price: Grid::new(tick_size)?,
            qty: Grid::new(lot_size)?,
        })
    }
    /// Price → ticks, exactly.
    pub fn ticks(&self, price: Decimal) -> Result<i64, DecimalError> {
        self.price.to_steps(price)
    }
    /// Quantity → lots, exactly.
    pub fn lots(&self, qty: Decimal) -> Result<i64, DecimalError> {
        self.qty.to_steps(qty)
    }
}
