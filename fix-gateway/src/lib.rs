//! FIX 4.4 gateway for Tachyon.
//!
//! - [`decode`] / [`MessageWriter`]: a zero-copy, allocation-free tag=value codec.
//! - [`validate`]: dictionary validation into SessionRejectReason(373) codes.
//! - [`parse_app`]: validated application messages into plain structs.
//! - [`Session`]: the session layer as a pure state machine (injected clock, no I/O).
//!
//! Custom tag 7928 ([`TAG_STP_MODE`]) selects self-trade prevention on D and G:
//! 1 cancel newest (default), 2 cancel oldest, 3 cancel both, 4 decrement.
//!
//! - [`Gateway`]: the mio I/O thread that runs sessions over TCP, publishes orders into
//!   the pipeline and turns released engine events into ExecutionReports.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codec;
mod dictionary;
mod messages;
mod server;
mod session;

pub use codec::decimal::{parse_decimal, DecimalError, Grid};
pub use codec::decode::{
    checksum, decode, Decoded, FieldError, Fields, Garble, Message, MAX_BODY_LEN,
};
pub use codec::encode::{BufferTooSmall, Header, MessageWriter, HEADER_ROOM};
pub use codec::time::{parse_utc_timestamp, write_utc_timestamp, TIMESTAMP_LEN};
pub use codec::{BEGIN_STRING, SOH};
pub use dictionary::{
    is_fix44_msg_type, validate, Invalid, SessionReject, SessionRejectReason, TAG_STP_MODE,
};
pub use messages::{
    parse_app, AppMessage, BusinessReject, BusinessRejectReason, MarketDataRequest, NewOrderSingle,
    OrderCancelReplaceRequest, OrderCancelRequest, OrderMassCancelRequest, OrderMassStatusRequest,
    OrderStatusRequest, PriceQtyGrid,
};
pub use server::{Gateway, GatewayOptions, GatewayStats, StoreMode};
pub use session::{
    prehash, sign, Action, Actions, AuthError, Authenticator, DisconnectReason, FileStore,
    LockoutPolicy, LogonContext, LogonFields, MemoryStore, SeqNums, Session, SessionConfig,
    SessionState, SessionStore, StoreLimits, ThrottleConfig,
};
