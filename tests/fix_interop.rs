//! Interop with an independent FIX engine: QuickFIX C++ (through quickfix-rs) as the
//! client of the real `tachyon` binary, through real sockets.
//!
//! Each test spawns `tachyon --config <temp.toml>` (dev.toml's assets, instruments,
//! accounts and sessions; a free port; temp journal and session-store directories) and
//! connects QuickFIX `Initiator`s (`SingleThreaded`, `UseDataDictionary=N`, MemoryStore).
//! The HMAC-SHA256 Logon signature of session MM1 is computed here, with the hmac/sha2/
//! base64 crates, from the header QuickFIX is about to send (`toAdmin`), and put into
//! Username(553)/RawDataLength(95)/RawData(96) through the quickfix message API.
//!
//! QuickFIX keeps global state (its session registry), so the tests hold one static lock.
//! Every test also checks that QuickFIX found nothing to complain about: it never sent a
//! Reject(3), ResendRequest(2) or SequenceReset(4), i.e. sequence numbers, CompIDs,
//! SendingTime, BodyLength and CheckSum of everything Tachyon sent were right.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use quickfix::dictionary_item::*;
use quickfix::{
    send_to_target, Application, ApplicationCallback, ConnectionHandler, Dictionary, FieldMap,
    FixSocketServerKind, Initiator, LogCallback, LogFactory, MemoryMessageStoreFactory, Message,
    MsgFromAdminError, MsgFromAppError, SessionContainer, SessionId, SessionSettings,
};

const BIN: &str = env!("CARGO_BIN_EXE_tachyon");
const WAIT: Duration = Duration::from_secs(10);
/// dev.toml's HMAC session (account 3) and its DEV-ONLY key.
const MM1_KEY_ID: &str = "dev-mm1";
const MM1_SECRET: &[u8] = b"dev-only-mm1-secret-not-for-production";

/// QuickFIX has process-global state: one test at a time.
static QUICKFIX: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    QUICKFIX.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// The server: the real binary on a temp config.

struct Server {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml"))
            .unwrap();
        let edits = [
            (
                "journal_dir = \"data/dev/journal\"".to_string(),
                format!("journal_dir = {:?}", dir.path().join("journal")),
            ),
            (
                "listen = \"127.0.0.1:9878\"".to_string(),
                format!(
                    "listen = \"127.0.0.1:{port}\"\nstore_dir = {:?}",
                    dir.path().join("fix")
                ),
            ),
            (
                "listen = \"127.0.0.1:9880\"".to_string(),
                "listen = \"127.0.0.1:0\"".to_string(),
            ),
        ];
        let mut text = text;
        for (from, to) in edits {
            assert!(text.contains(&from), "dev.toml has no {from:?}");
            text = text.replacen(&from, &to, 1);
        }
        let cfg = dir.path().join("interop.toml");
        std::fs::write(&cfg, text).unwrap();
        let log = std::fs::File::create(dir.path().join("tachyon.log")).unwrap();
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut s = Server {
            child,
            addr: ([127, 0, 0, 1], port).into(),
            dir,
        };
        let t = Instant::now();
        while TcpStream::connect(s.addr).is_err() {
            if let Some(status) = s.child.try_wait().unwrap() {
                panic!("tachyon exited with {status}:\n{}", s.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no listener on {}:\n{}",
                s.addr,
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tachyon.log")).unwrap_or_default()
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }
}

// ---------------------------------------------------------------------------------------
// The QuickFIX side.

/// A message as QuickFIX handed it to us, fields in its order.
#[derive(Clone, Debug)]
struct Msg {
    msg_type: String,
    fields: Vec<(u32, String)>,
}

impl Msg {
    fn from_quickfix(m: &Message) -> Msg {
        let text = m.to_fix_string().unwrap_or_default();
        let fields: Vec<(u32, String)> = text
            .split('\x01')
            .filter_map(|f| f.split_once('='))
            .filter_map(|(t, v)| Some((t.parse().ok()?, v.to_string())))
            .collect();
        let msg_type = fields
            .iter()
            .find(|(t, _)| *t == 35)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Msg { msg_type, fields }
    }

    fn get(&self, tag: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, tag: u32) -> &str {
        self.get(tag)
            .unwrap_or_else(|| panic!("tag {tag} missing in {self:?}"))
    }
}

/// Asserts `tag = value` for every pair, showing the whole message on failure.
fn check(m: &Msg, want: &[(u32, &str)]) {
    for (t, v) in want {
        assert_eq!(m.get(*t), Some(*v), "tag {t} in {m:?}");
    }
}

/// What one session (by our SenderCompID) has seen.
#[derive(Default, Debug)]
struct Seen {
    app: VecDeque<Msg>,
    admin_in: Vec<Msg>,
    admin_out: Vec<String>,
    logons: u32,
    logouts: u32,
}

/// The application callbacks: records everything per session; signs MM1's Logon.
struct Client {
    seen: Mutex<HashMap<String, Seen>>,
    cv: Condvar,
    /// SenderCompID → (key id, secret) for sessions that sign their Logon.
    keys: HashMap<String, (String, Vec<u8>)>,
}

fn sender_of(s: &SessionId) -> String {
    s.get_sender_comp_id().unwrap_or_default()
}

/// base64(HMAC-SHA256(secret, prehash)), computed independently of the gateway's code.
fn signature(secret: &[u8], prehash: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(prehash.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Client {
    fn new(keys: &[(&str, &str, &[u8])]) -> Client {
        Client {
            seen: Mutex::new(HashMap::new()),
            cv: Condvar::new(),
            keys: keys
                .iter()
                .map(|(s, k, secret)| (s.to_string(), (k.to_string(), secret.to_vec())))
                .collect(),
        }
    }

    fn with<T>(&self, session: &SessionId, f: impl FnOnce(&mut Seen) -> T) -> T {
        let mut g = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(g.entry(sender_of(session)).or_default());
        self.cv.notify_all();
        r
    }

    /// Waits until `f` returns `Some` for `sender`'s record.
    fn wait<T>(&self, sender: &str, what: &str, mut f: impl FnMut(&mut Seen) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut g = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(v) = f(g.entry(sender.to_string()).or_default()) {
                return v;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "{sender}: timed out waiting for {what}; seen: {:#?}",
                g.get(sender)
            );
            g = self.cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// The next application message of `sender`, which must be of `msg_type`.
    fn expect(&self, sender: &str, msg_type: &str) -> Msg {
        let m = self.wait(sender, msg_type, |s| s.app.pop_front());
        assert_eq!(
            m.msg_type, msg_type,
            "{sender}: expected 35={msg_type}, got {m:?}"
        );
        m
    }

    fn wait_logon(&self, sender: &str) {
        self.wait(sender, "logon", |s| (s.logons > 0).then_some(()));
    }

    /// QuickFIX accepted everything Tachyon sent: no Reject, ResendRequest or
    /// SequenceReset went out, and no application message is left unexamined.
    fn assert_clean(&self, sender: &str) {
        let g = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let s = g.get(sender).expect("session seen");
        for t in &s.admin_out {
            assert!(
                !matches!(t.as_str(), "2" | "3" | "4"),
                "{sender}: QuickFIX sent 35={t}: {s:#?}"
            );
        }
        assert!(
            s.app.is_empty(),
            "{sender}: unexamined messages {:#?}",
            s.app
        );
    }
}

impl ApplicationCallback for Client {
    fn on_logon(&self, session: &SessionId) {
        self.with(session, |s| s.logons += 1);
    }

    fn on_logout(&self, session: &SessionId) {
        self.with(session, |s| s.logouts += 1);
    }

    fn on_msg_to_admin(&self, msg: &mut Message, session: &SessionId) {
        let msg_type = msg.with_header(|h| h.get_field(35)).unwrap_or_default();
        if msg_type == "A" {
            if let Some((key_id, secret)) = self.keys.get(&sender_of(session)) {
                // QuickFIX has filled the header (34, 49, 52, 56) before calling toAdmin;
                // these are the exact values it will send.
                let h = |t| msg.with_header(|h| h.get_field(t)).unwrap_or_default();
                let prehash = format!("{}\x01A\x01{}\x01{}\x01{}", h(52), h(34), h(49), h(56));
                let sig = signature(secret, &prehash);
                msg.set_field(553, key_id.as_str()).unwrap();
                msg.set_field(95, sig.len()).unwrap();
                msg.set_field(96, sig.as_str()).unwrap();
            }
        }
        self.with(session, |s| s.admin_out.push(msg_type));
    }

    fn on_msg_from_admin(
        &self,
        msg: &Message,
        session: &SessionId,
    ) -> Result<(), MsgFromAdminError> {
        let m = Msg::from_quickfix(msg);
        self.with(session, |s| s.admin_in.push(m));
        Ok(())
    }

    fn on_msg_from_app(&self, msg: &Message, session: &SessionId) -> Result<(), MsgFromAppError> {
        let m = Msg::from_quickfix(msg);
        self.with(session, |s| s.app.push_back(m));
        Ok(())
    }
}

/// QuickFIX's own log, kept for failure messages.
#[derive(Default)]
struct QfLog(Mutex<Vec<String>>);

impl LogCallback for QfLog {
    fn on_incoming(&self, _: Option<&SessionId>, msg: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("in:  {}", msg.replace('\x01', "|")));
    }
    fn on_outgoing(&self, _: Option<&SessionId>, msg: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("out: {}", msg.replace('\x01', "|")));
    }
    fn on_event(&self, _: Option<&SessionId>, msg: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("ev:  {msg}"));
    }
}

fn session_id(sender: &str) -> SessionId {
    SessionId::try_new("FIX.4.4", sender, "TACHYON", "").unwrap()
}

/// Initiator settings for `senders` → TACHYON on `port`.
fn settings(port: u16, senders: &[&str]) -> SessionSettings {
    let mut s = SessionSettings::new();
    s.set(
        None,
        Dictionary::try_from_items(&[
            &ConnectionType::Initiator,
            &SocketConnectHost("127.0.0.1"),
            &SocketConnectPort(port),
            &HeartBtInt(30),
            &StartTime("00:00:00"),
            &EndTime("00:00:00"),
            &UseDataDictionary(false),
            &ResetOnLogon(true),
            // One attempt per test: a retry would count as another failed Logon.
            &ReconnectInterval(60),
        ])
        .unwrap(),
    )
    .unwrap();
    for sender in senders {
        s.set(Some(&session_id(sender)), Dictionary::new()).unwrap();
    }
    s
}

/// An application message with `fields` in order.
fn app_msg(msg_type: &str, fields: &[(u32, &str)]) -> Message {
    let mut m = Message::new();
    m.with_header_mut(|h| h.set_field(35, msg_type)).unwrap();
    for (t, v) in fields {
        m.set_field(*t as i32, *v).unwrap();
    }
    m
}

fn send(sender: &str, msg_type: &str, fields: &[(u32, &str)]) {
    send_to_target(app_msg(msg_type, fields), &session_id(sender)).unwrap();
}

const TRANSACT: (u32, &str) = (60, "20261122-00:00:00.000");

/// NewOrderSingle, limit unless `extra` says otherwise.
fn new_order(
    sender: &str,
    cl: &str,
    side: &str,
    px: Option<&str>,
    qty: &str,
    extra: &[(u32, &str)],
) {
    let mut f = vec![(11, cl), (55, "BTC-USDT"), (54, side), TRANSACT, (38, qty)];
    match px {
        Some(p) => f.extend([(40, "2"), (44, p)]),
        None => f.push((40, "1")),
    }
    f.extend_from_slice(extra);
    send(sender, "D", &f);
}

// ---------------------------------------------------------------------------------------
// Scenarios.

#[test]
fn hmac_logon_then_place_replace_cancel_mass_cancel_and_logout() {
    let _g = serial();
    let server = Server::start();
    let client = Client::new(&[("MM1", MM1_KEY_ID, MM1_SECRET)]);
    let qf_log = QfLog::default();
    let app = Application::try_new(&client).unwrap();
    let log = LogFactory::try_new(&qf_log).unwrap();
    let store = MemoryMessageStoreFactory::new();
    let settings = settings(server.port(), &["MM1"]);
    let mut init = Initiator::try_new(
        &settings,
        &app,
        &store,
        &log,
        FixSocketServerKind::SingleThreaded,
    )
    .unwrap();
    init.start().unwrap();
    client.wait_logon("MM1");
    let logon = client.wait("MM1", "Logon reply", |s| {
        s.admin_in.iter().find(|m| m.msg_type == "A").cloned()
    });
    check(
        &logon,
        &[
            (49, "TACHYON"),
            (56, "MM1"),
            (34, "1"),
            (108, "30"),
            (98, "0"),
        ],
    );
    assert!(init.is_logged_on().unwrap());

    // A GTC limit buy rests: ExecutionReport New.
    new_order("MM1", "q1", "1", Some("40000.00"), "0.01", &[(59, "1")]);
    let new = client.expect("MM1", "8");
    check(
        &new,
        &[
            (11, "q1"),
            (150, "0"),
            (39, "0"),
            (1, "3"),
            (55, "BTC-USDT"),
            (54, "1"),
            (40, "2"),
            (44, "40000.00"),
            (38, "0.01000"),
            (151, "0.01000"),
            (14, "0.00000"),
            (6, "0"),
        ],
    );
    let order_id = new.req(37).to_string();
    assert!(order_id.parse::<u64>().is_ok(), "{new:?}");
    let exec_new: u64 = new.req(17).parse().unwrap();

    // Replace: new price and quantity, same order.
    send(
        "MM1",
        "G",
        &[
            (11, "q2"),
            (41, "q1"),
            (55, "BTC-USDT"),
            (54, "1"),
            TRANSACT,
            (38, "0.02"),
            (40, "2"),
            (44, "40001.00"),
        ],
    );
    let rep = client.expect("MM1", "8");
    check(
        &rep,
        &[
            (37, &order_id),
            (11, "q2"),
            (41, "q1"),
            (150, "5"),
            (39, "0"),
            (44, "40001.00"),
            (38, "0.02000"),
            (151, "0.02000"),
            (14, "0.00000"),
        ],
    );
    assert!(
        rep.req(17).parse::<u64>().unwrap() > exec_new,
        "ExecIDs increase"
    );

    // Cancel by the replaced ClOrdID.
    send(
        "MM1",
        "F",
        &[
            (11, "q3"),
            (41, "q2"),
            (55, "BTC-USDT"),
            (54, "1"),
            TRANSACT,
        ],
    );
    let can = client.expect("MM1", "8");
    check(
        &can,
        &[
            (37, &order_id),
            (11, "q3"),
            (41, "q2"),
            (150, "4"),
            (39, "4"),
            (151, "0.00000"),
            (14, "0.00000"),
        ],
    );

    // Cancel again: OrderCancelReject, unknown order.
    send(
        "MM1",
        "F",
        &[
            (11, "q4"),
            (41, "q2"),
            (55, "BTC-USDT"),
            (54, "1"),
            TRANSACT,
        ],
    );
    let rej = client.expect("MM1", "9");
    check(
        &rej,
        &[(11, "q4"), (41, "q2"), (434, "1"), (102, "1"), (39, "8")],
    );

    // An order off the tick grid is rejected, not rounded.
    new_order("MM1", "bad", "1", Some("40000.005"), "0.01", &[]);
    let bad = client.expect("MM1", "8");
    check(&bad, &[(11, "bad"), (150, "8"), (39, "8"), (103, "99")]);
    assert!(bad.req(58).contains("tick"), "{bad:?}");

    // Two resting orders (one post-only), then mass cancel of everything.
    new_order("MM1", "q5", "1", Some("39000.00"), "0.001", &[(18, "6")]);
    let q5 = client.expect("MM1", "8");
    check(&q5, &[(11, "q5"), (150, "0"), (39, "0")]);
    new_order("MM1", "q6", "2", Some("60000.00"), "0.001", &[]);
    let q6 = client.expect("MM1", "8");
    check(&q6, &[(11, "q6"), (150, "0"), (54, "2"), (151, "0.00100")]);
    let (q5_id, q6_id) = (q5.req(37).to_string(), q6.req(37).to_string());
    assert_ne!(q5_id, q6_id);
    send("MM1", "q", &[(11, "mc1"), (530, "7"), TRANSACT]);
    let mut canceled = Vec::new();
    for _ in 0..2 {
        let m = client.expect("MM1", "8");
        check(
            &m,
            &[(150, "4"), (39, "4"), (151, "0.00000"), (14, "0.00000")],
        );
        canceled.push(m.req(37).to_string());
    }
    canceled.sort();
    let mut open = vec![q5_id, q6_id];
    open.sort();
    assert_eq!(canceled, open, "one cancel per open order");
    let report = client.expect("MM1", "r");
    check(&report, &[(11, "mc1"), (530, "7"), (531, "7"), (533, "2")]);

    // Status of a canceled order: unknown to the open-order cache.
    send("MM1", "H", &[(11, "q6"), (55, "BTC-USDT"), (54, "2")]);
    check(
        &client.expect("MM1", "8"),
        &[(150, "I"), (39, "8"), (103, "5")],
    );

    // Logout initiated by QuickFIX: Tachyon answers with a Logout.
    init.session(session_id("MM1")).unwrap().logout().unwrap();
    client.wait("MM1", "Logout reply", |s| {
        (s.logouts > 0 && s.admin_in.iter().any(|m| m.msg_type == "5")).then_some(())
    });
    client.assert_clean("MM1");
    init.stop().unwrap();
    let _ = &qf_log;
}

#[test]
fn two_quickfix_clients_trade_against_each_other() {
    let _g = serial();
    let server = Server::start();
    let client = Client::new(&[("MM1", MM1_KEY_ID, MM1_SECRET)]);
    let qf_log = QfLog::default();
    let app = Application::try_new(&client).unwrap();
    let log = LogFactory::try_new(&qf_log).unwrap();
    let store = MemoryMessageStoreFactory::new();
    let settings = settings(server.port(), &["MM1", "DEV2"]);
    let mut init = Initiator::try_new(
        &settings,
        &app,
        &store,
        &log,
        FixSocketServerKind::SingleThreaded,
    )
    .unwrap();
    init.start().unwrap();
    client.wait_logon("MM1");
    client.wait_logon("DEV2");

    // MM1 (account 3) offers 0.002 at 50000.00.
    new_order("MM1", "m1", "2", Some("50000.00"), "0.002", &[]);
    let m_new = client.expect("MM1", "8");
    check(
        &m_new,
        &[
            (11, "m1"),
            (150, "0"),
            (39, "0"),
            (1, "3"),
            (151, "0.00200"),
        ],
    );
    let maker_id = m_new.req(37).to_string();

    // DEV2 (account 2) would cross it post-only: rejected, nothing trades.
    new_order("DEV2", "p1", "1", Some("50000.00"), "0.001", &[(18, "6")]);
    let po = client.expect("DEV2", "8");
    check(&po, &[(11, "p1"), (150, "8"), (39, "8"), (1, "2")]);

    // DEV2 lifts 0.0015 with an IOC limit buy: New, then one fill at the maker's price.
    new_order("DEV2", "d1", "1", Some("50000.00"), "0.0015", &[(59, "3")]);
    check(
        &client.expect("DEV2", "8"),
        &[(11, "d1"), (150, "0"), (39, "0"), (1, "2")],
    );
    let taker = client.expect("DEV2", "8");
    check(
        &taker,
        &[
            (11, "d1"),
            (150, "F"),
            (39, "2"),
            (31, "50000.00"),
            (32, "0.00150"),
            (151, "0.00000"),
            (14, "0.00150"),
            (6, "50000.000000"),
            // 75 USDT notional × 5 bps taker fee.
            (12, "0.03750000"),
            (13, "3"),
            (479, "USDT"),
            (851, "2"),
        ],
    );
    let maker = client.expect("MM1", "8");
    check(
        &maker,
        &[
            (37, &maker_id),
            (11, "m1"),
            (150, "F"),
            (39, "1"),
            (31, "50000.00"),
            (32, "0.00150"),
            (151, "0.00050"),
            (14, "0.00150"),
            (38, "0.00200"),
            // 1 bp maker fee on 75 USDT.
            (12, "0.00750000"),
            (851, "1"),
        ],
    );
    assert_ne!(taker.req(17), maker.req(17), "each side has its own ExecID");

    // MM1 bids 0.001 at 49000.00; DEV2 hits it with a market sell (IOC: a market order
    // cannot rest, so it must say so).
    new_order("MM1", "m2", "1", Some("49000.00"), "0.001", &[]);
    check(&client.expect("MM1", "8"), &[(11, "m2"), (150, "0")]);
    new_order("DEV2", "d2", "2", None, "0.001", &[(59, "3")]);
    let d2_new = client.expect("DEV2", "8");
    check(&d2_new, &[(11, "d2"), (150, "0"), (40, "1")]);
    let d2_fill = client.expect("DEV2", "8");
    check(
        &d2_fill,
        &[
            (11, "d2"),
            (150, "F"),
            (39, "2"),
            (40, "1"),
            (31, "49000.00"),
            (32, "0.00100"),
            (14, "0.00100"),
            (151, "0.00000"),
            // 49 USDT × 5 bps.
            (12, "0.02450000"),
            (851, "2"),
        ],
    );
    check(
        &client.expect("MM1", "8"),
        &[
            (11, "m2"),
            (150, "F"),
            (39, "2"),
            (31, "49000.00"),
            (32, "0.00100"),
            (151, "0.00000"),
            // 49 USDT × 1 bp.
            (12, "0.00490000"),
            (851, "1"),
        ],
    );

    // Self-trade prevention (tag 7928 = 1, cancel newest): MM1 buying into its own
    // remaining ask is canceled instead of trading with itself.
    new_order("MM1", "m3", "1", Some("50000.00"), "0.0005", &[(7928, "1")]);
    check(&client.expect("MM1", "8"), &[(11, "m3"), (150, "0")]);
    let stp = client.expect("MM1", "8");
    check(&stp, &[(11, "m3"), (150, "4"), (39, "4"), (14, "0.00000")]);
    assert!(stp.req(58).contains("Self-trade"), "{stp:?}");

    // MM1's ask is untouched by the STP cancel: DEV2 takes the rest of it.
    new_order("DEV2", "d3", "1", Some("50000.00"), "0.0005", &[(59, "3")]);
    check(&client.expect("DEV2", "8"), &[(11, "d3"), (150, "0")]);
    check(
        &client.expect("DEV2", "8"),
        &[(11, "d3"), (150, "F"), (39, "2"), (32, "0.00050")],
    );
    check(
        &client.expect("MM1", "8"),
        &[
            (37, &maker_id),
            (11, "m1"),
            (150, "F"),
            (39, "2"),
            (151, "0.00000"),
            (14, "0.00200"),
        ],
    );

    for s in ["MM1", "DEV2"] {
        init.session(session_id(s)).unwrap().logout().unwrap();
    }
    for s in ["MM1", "DEV2"] {
        client.wait(s, "Logout reply", |x| {
            (x.logouts > 0 && x.admin_in.iter().any(|m| m.msg_type == "5")).then_some(())
        });
        client.assert_clean(s);
    }
    init.stop().unwrap();
}

#[test]
fn wrong_signature_is_refused_with_a_logout_and_no_session() {
    let _g = serial();
    let server = Server::start();
    for (secret, accepted) in [(&b"not-the-secret"[..], false), (MM1_SECRET, true)] {
        let client = Client::new(&[("MM1", MM1_KEY_ID, secret)]);
        let qf_log = QfLog::default();
        let app = Application::try_new(&client).unwrap();
        let log = LogFactory::try_new(&qf_log).unwrap();
        let store = MemoryMessageStoreFactory::new();
        let settings = settings(server.port(), &["MM1"]);
        let mut init = Initiator::try_new(
            &settings,
            &app,
            &store,
            &log,
            FixSocketServerKind::SingleThreaded,
        )
        .unwrap();
        init.start().unwrap();
        if accepted {
            // The refused attempt neither burned the key nor left a session behind.
            client.wait_logon("MM1");
            init.session(session_id("MM1")).unwrap().logout().unwrap();
            client.wait("MM1", "Logout reply", |s| (s.logouts > 0).then_some(()));
        } else {
            let logout = client.wait("MM1", "Logout", |s| {
                s.admin_in.iter().find(|m| m.msg_type == "5").cloned()
            });
            assert_eq!(
                logout.req(58),
                "Authentication failed: invalid signature",
                "{logout:?}"
            );
            // No session: no Logon reply came, and none comes later.
            std::thread::sleep(Duration::from_millis(500));
            let g = client.seen.lock().unwrap_or_else(|e| e.into_inner());
            let s = &g["MM1"];
            assert_eq!(s.logons, 0, "{s:#?}");
            assert!(s.admin_in.iter().all(|m| m.msg_type != "A"), "{s:#?}");
            drop(g);
            assert!(!init.is_logged_on().unwrap());
            let lines = qf_log.0.lock().unwrap();
            assert!(
                lines.iter().any(|l| l.starts_with("out: ")
                    && l.contains("|35=A|")
                    && l.contains("|553=dev-mm1|")),
                "QuickFIX sent a signed Logon: {lines:#?}"
            );
        }
        init.stop().unwrap();
    }
    drop(server);
}
