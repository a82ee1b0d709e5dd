//! Ring slot types.

use tachyon_engine::{Command, CommandKind, Event};

/// An inbound ring slot: one command, stamped by its producer.
#[derive(Clone, Copy, Debug)]
pub struct InSlot {
    /// The command.
    pub cmd: Command,
    /// Opaque tag of the producer (e.g. the gateway's session slot + 1; 0 = none), copied
    /// to every event of the command so replies can be routed. Not journaled: events
    /// re-derived by replay carry 0.
    pub origin: u32,
}

impl Default for InSlot {
    fn default() -> Self {
        InSlot {
            cmd: Command {
                ts_ns: 0,
                kind: CommandKind::TimeTick,
            },
            origin: 0,
        }
    }
}

/// An outbound ring slot: one engine event with the sequence of the command that caused it.
#[derive(Clone, Copy, Debug)]
pub struct OutEvent {
    /// Journal sequence of the causing command (contiguous from 1 across restarts).
    pub cmd_seq: u64,
    /// The causing command's timestamp.
    pub ts_ns: u64,
    /// The event.
    pub event: Event,
    /// True for the last event of its command.
    pub last: bool,
    /// The producer's tag from [`InSlot::origin`].
    pub origin: u32,
}

impl Default for OutEvent {
    fn default() -> Self {
        OutEvent {
            cmd_seq: 0,
            ts_ns: 0,
            event: Event::AccountCreated {
                account: tachyon_engine::AccountId(0),
            },
            last: false,
            origin: 0,
        }
    }
}
