//! Tachyon's engine core: order books and accounts as a pure, deterministic state machine.
//!
//! [`Engine::apply`] takes a [`Command`] and emits [`Event`]s into an [`EventSink`]. It
//! does no I/O, reads no clock (time arrives in the command), uses no randomly seeded
//! hashing and never iterates an unordered map, so the same command stream always gives
//! the same events and the same [`Engine::state_hash`]. Every structure is sized from
//! [`EngineConfig`] at start-up; applying a command does not allocate.
//!
//! The exact rules (checks, event order, rounding) are in `engine/SEMANTICS.md`.
#![deny(missing_docs)]

mod codec;
mod command;
mod engine;
mod event;
mod hash;
mod snapshot;
mod spec;
mod types;

pub use codec::{decode_command, encode_command, DecodeError, MAX_COMMAND_LEN};
pub use command::{
    ApiKey, CancelOrder, Command, CommandKind, MassCancel, MassCancelScope, NewOrder, OrdType,
    OrderRef, ReplaceOrder, StpMode, Tif, Transfer,
};
pub use engine::{Balance, Engine, OrderView, MAX_API_KEYS};
pub use event::{
    AdminTarget, CancelReason, Event, EventSink, Fill, LedgerEntry, LedgerReason, OrderState,
    RejectReason, Trade,
};
pub use hash::{EventCounter, EventHasher, StableHasher};
pub use snapshot::SnapshotError;
pub use spec::{AssetSpec, EngineConfig, InstrumentSpec, SpecError, MAX_FEE_BPS};
pub use types::{
    AccountId, ApiKeyId, AssetId, ClOrdId, CompId, OrderId, Price, Qty, SessionId, Side, SymbolId,
    CL_ORD_ID_MAX_LEN, COMP_ID_MAX_LEN,
};
