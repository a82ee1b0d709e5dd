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
//! after it. A [`RecoveryTap`] (market data) gets the replayed events after its own
//! saved state, so state derived from events survives a restart too.
#![deny(missing_docs)]

mod pipeline;
mod recovery;
mod slots;
mod wait;

pub use pipeline::{
    wall_clock_ns, CommandPublisher, CoreMode, Pipeline, PipelineOptions, PipelineStats,
    PollResult, RecoveryInfo, ReleaseWake, ReleasedEvents,
};
pub use recovery::{replay, RecoveryTap, ReplayReport, TapOutcome};
pub use slots::{InSlot, OutEvent};
pub use tachyon_journal::FsyncPolicy;
pub use wait::{PhasedWait, WaitMode};

/// Lowers the calling thread's scheduling priority to `nice` (Linux: per thread; a
/// no-op where that is unsupported or refused). For threads that fan data out to clients
/// in shared-cores mode: under a burst they yield the two cores to the matcher, the
/// journaler and the outbound ring's readers, and catch up once it passes.
pub fn lower_thread_priority(nice: i32) {
    // SAFETY: gettid and setpriority take and return plain integers; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

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
