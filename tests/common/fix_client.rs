//! A minimal blocking FIX 4.4 initiator for end-to-end tests: our own codec on a plain
//! `TcpStream`, so tests see exactly what went over the wire.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tachyon_fix_gateway::{decode, Decoded, Header, MessageWriter};

/// A received message: its type and fields in wire order.
#[derive(Clone, Debug)]
pub struct Msg {
    pub msg_type: String,
    pub fields: Vec<(u32, String)>,
}

impl Msg {
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
    /// The value of `tag`, panicking with the whole message if absent.
    pub fn req(&self, tag: u32) -> &str {
        self.get(tag)
            .unwrap_or_else(|| panic!("tag {tag} missing in {self:?}"))
    }
}

pub struct FixClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub next_out: u64,
    pub sender: String,
    pub target: String,
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

impl FixClient {
    pub fn connect(addr: SocketAddr, sender: &str, target: &str) -> FixClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        FixClient {
            stream,
            buf: Vec::new(),
            next_out: 1,
            sender: sender.into(),
            target: target.into(),
        }
    }

    /// Encodes a message with the next sequence number (or `seq` if given).
    pub fn frame(
        &self,
        msg_type: &str,
        seq: u64,
        sending_ns: u64,
        fields: &[(u32, &str)],
    ) -> Vec<u8> {
        let mut out = vec![0u8; 4096];
        let h = Header {
            msg_type: msg_type.as_bytes(),
            seq_num: seq,
            sender_comp_id: self.sender.as_bytes(),
            target_comp_id: self.target.as_bytes(),
            sending_time_ns: sending_ns,
        };
        let mut w = MessageWriter::new(&mut out, &h);
        for (t, v) in fields {
            w.field(*t, v.as_bytes());
        }
        let r = w.finish().unwrap();
        out[r].to_vec()
    }

    pub fn send(&mut self, msg_type: &str, fields: &[(u32, &str)]) {
        let f = self.frame(msg_type, self.next_out, now_ns(), fields);
        self.next_out += 1;
        self.stream.write_all(&f).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Next message, or `None` on timeout or EOF.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Msg> {
        let deadline = Instant::now() + timeout;
        loop {
            match decode(&self.buf) {
                Decoded::Message { msg, consumed } => {
                    let m = Msg {
                        msg_type: String::from_utf8_lossy(msg.msg_type()).into_owned(),
                        fields: msg
                            .fields()
                            .filter_map(|f| f.ok())
                            .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                    };
                    self.buf.drain(..consumed);
                    return Some(m);
                }
                Decoded::Garbled { consumed, error } => {
                    panic!(
                        "exchange sent a garbled frame ({error:?}): {:?}",
                        &self.buf[..consumed]
                    );
                }
                Decoded::Incomplete { .. } => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return None
                }
                Err(_) => return None,
            }
        }
    }

    /// Next message that is not a Heartbeat.
    pub fn recv(&mut self) -> Msg {
        loop {
            let m = self
                .recv_timeout(Duration::from_secs(10))
                .expect("a message within 10 s");
            if m.msg_type != "0" {
                return m;
            }
        }
    }

    /// Next message, which must have type `t`.
    pub fn expect(&mut self, t: &str) -> Msg {
        loop {
            let m = self
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("expected MsgType {t} within 10 s"));
            if m.msg_type == t {
                return m;
            }
            assert_eq!(m.msg_type, "0", "expected MsgType {t}, got {m:?}");
        }
    }

    /// True if the exchange closes the connection within `timeout` (messages before the
    /// close are returned).
    pub fn closed_within(&mut self, timeout: Duration) -> (bool, Vec<Msg>) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (false, seen);
            }
            match self.recv_timeout(left) {
                Some(m) => seen.push(m),
                None => {
                    // Distinguish EOF from timeout.
                    self.stream
                        .set_read_timeout(Some(Duration::from_millis(1)))
                        .unwrap();
                    let mut b = [0u8; 1];
                    return match self.stream.read(&mut b) {
                        Ok(0) => (true, seen),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => (true, seen),
                        _ => (Instant::now() < deadline, seen),
                    };
                }
            }
        }
    }

    /// Logon (ResetSeqNumFlag=Y, HeartBtInt 30) signed with an API key: Username(553) =
    /// `key_id`, RawData(96) = base64 HMAC-SHA256 of the prehash under `secret`. Returns
    /// the exchange's answer (Logon, or Logout with the reason).
    #[allow(dead_code)]
    pub fn signed_logon(&mut self, key_id: &str, secret: &[u8]) -> Msg {
        let ts = now_ns();
        let mut t = [0u8; tachyon_fix_gateway::TIMESTAMP_LEN];
        tachyon_fix_gateway::write_utc_timestamp(ts, &mut t);
        let prehash = format!(
            "{}\x01A\x01{}\x01{}\x01{}",
            std::str::from_utf8(&t).unwrap(),
            self.next_out,
            self.sender,
            self.target
        );
        let sig = tachyon_fix_gateway::sign(secret, prehash.as_bytes());
        let len = sig.len().to_string();
        let f = self.frame(
            "A",
            self.next_out,
            ts,
            &[
                (98, "0"),
                (108, "30"),
                (141, "Y"),
                (553, key_id),
                (95, &len),
                (96, &sig),
            ],
        );
        self.next_out += 1;
        self.stream.write_all(&f).unwrap();
        self.recv()
    }

    /// Logon (ResetSeqNumFlag=Y, HeartBtInt 30) with optional extra fields; returns the
    /// exchange's Logon.
    pub fn logon(&mut self, extra: &[(u32, &str)]) -> Msg {
        let mut f: Vec<(u32, &str)> = vec![(98, "0"), (108, "30"), (141, "Y")];
        f.extend_from_slice(extra);
        self.send("A", &f);
        self.expect("A")
    }
}
