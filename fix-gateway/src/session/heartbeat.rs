//! Heartbeat, TestRequest and silence detection with an injected clock.
//!
//! We send a Heartbeat when we have sent nothing for HeartBtInt. When the counterparty
//! has sent nothing for HeartBtInt + grace we send a TestRequest; if it still sends
//! nothing for HeartBtInt + grace after that, the connection is dead and we disconnect.

/// What the timer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeartbeatDue {
    Nothing,
    Heartbeat,
    /// Send a TestRequest with this TestReqID counter.
    TestRequest(u64),
    /// Silent after a TestRequest.
    Timeout,
}

#[derive(Clone, Debug)]
pub(crate) struct Heartbeat {
    pub(crate) interval_ns: u64,
    grace_ns: u64,
    last_recv_ns: u64,
    last_sent_ns: u64,
    test_sent_ns: Option<u64>,
    test_counter: u64,
}

impl Heartbeat {
    pub(crate) fn new(interval_ns: u64, grace_ns: u64, now_ns: u64) -> Heartbeat {
        Heartbeat {
            interval_ns,
            grace_ns,
            last_recv_ns: now_ns,
            last_sent_ns: now_ns,
            test_sent_ns: None,
            test_counter: 0,
        }
    }

    /// Any inbound message proves the peer alive (not only the Heartbeat answering our
    /// TestRequest: FIX counts all traffic).
    pub(crate) fn received(&mut self, now_ns: u64) {
        self.last_recv_ns = now_ns;
        self.test_sent_ns = None;
    }

    pub(crate) fn sent(&mut self, now_ns: u64) {
        self.last_sent_ns = now_ns;
    }

    pub(crate) fn poll(&mut self, now_ns: u64) -> HeartbeatDue {
        let limit = self.interval_ns + self.grace_ns;
        if let Some(t) = self.test_sent_ns {
            if now_ns.saturating_sub(t) >= limit {
                return HeartbeatDue::Timeout;
            }
        } else if now_ns.saturating_sub(self.last_recv_ns) >= limit {
            self.test_counter += 1;
            self.test_sent_ns = Some(now_ns);
            return HeartbeatDue::TestRequest(self.test_counter);
        }
        if now_ns.saturating_sub(self.last_sent_ns) >= self.interval_ns {
            return HeartbeatDue::Heartbeat;
        }
        HeartbeatDue::Nothing
    }
}
