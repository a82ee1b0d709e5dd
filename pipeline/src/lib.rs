//! Tachyon's LMAX pipeline.
//!
//! Producers (gateway, admin plane, timer) publish [`Command`](tachyon_engine::Command)s
//! into the inbound ring. Two consumers read it in parallel: the journaler appends each
//! command to the journal (group commit at the end of every batch) and advances the
//! durable sequence; the matcher applies it to the engine and publishes the events into
//! the outbound ring. Outbound readers get an event only once the command that caused it
//! is durable ([`ReleasedEvents`]), so nothing a client sees can be lost by a crash.
//! Snapshots are serialised by the matcher and written by their own thread once the
//! journal covers them; start-up recovery is the newest valid snapshot plus the journal
//! after it.
#![deny(missing_docs)]

mod pipeline;
mod recovery;
mod slots;
mod wait;

pub use pipeline::{
    wall_clock_ns, CommandPublisher, CoreMode, Pipeline, PipelineOptions, PipelineStats,
    PollResult, RecoveryInfo, ReleaseWake, ReleasedEvents,
};
pub use recovery::{replay, ReplayReport};
pub use slots::{InSlot, OutEvent};
pub use tachyon_journal::FsyncPolicy;
pub use wait::{PhasedWait, WaitMode};

/// Why the pipeline cannot start or stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipelineError {
    /// Configuration problem (named).
    Config(String),
    /// Journal or snapshot problem (file and offset named where known).
    Journal(String),
    /// Other I/O.
    Io(String),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineError::Config(m) => write!(f, "configuration: {m}"),
            PipelineError::Journal(m) => write!(f, "journal: {m}"),
            PipelineError::Io(m) => write!(f, "I/O: {m}"),
        }
    }
}

impl std::error::Error for PipelineError {}
