//! Inbound sequence-number checks.

/// How an inbound MsgSeqNum(34) compares with the one expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqCheck {
    /// Equal: process, then expect the next.
    Expected,
    /// A gap: ask for a resend of `expected..`.
    TooHigh { expected: u64 },
    /// Already seen: a PossDup duplicate is ignored, otherwise the session is broken.
    TooLow { expected: u64 },
}

/// Both directions' next sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqNums {
    /// Next MsgSeqNum expected from the counterparty.
    pub next_in: u64,
    /// Next MsgSeqNum we will send.
    pub next_out: u64,
}

impl SeqNums {
    /// A fresh session: both 1.
    pub const INITIAL: SeqNums = SeqNums {
        next_in: 1,
        next_out: 1,
    };

    pub(crate) fn check(&self, received: u64) -> SeqCheck {
        use core::cmp::Ordering::*;
        match received.cmp(&self.next_in) {
            Equal => SeqCheck::Expected,
            Greater => SeqCheck::TooHigh {
                expected: self.next_in,
            },
            Less => SeqCheck::TooLow {
                expected: self.next_in,
            },
        }
    }
}
