//! The reference peer: a QuickFIX C++ acceptor (through quickfix-rs 0.2) that answers
//! every NewOrderSingle with one ExecutionReport (ExecType New).
//!
//! Settings: `SingleThreaded` socket server (one C++ thread for all sessions, like our
//! one gateway I/O thread), `UseDataDictionary=N` (no validation), `MemoryStore` with the
//! default `PersistMessages=Y` (outbound messages kept for resends, as Tachyon keeps them;
//! a Logon with 141=Y resets it, so memory is bounded per connection), no log, TCP_NODELAY.
//! The ExecutionReport carries the fields Tachyon's does for an accepted order (37, 17,
//! 150, 39, 55, 54, 38, 44, 151, 14, 6, 11, 60), built through the quickfix `Message` API
//! as an application on quickfix-rs would build it.
//!
//! quickfix-rs objects are not `Send`, so one host thread builds, starts and finally
//! stops the acceptor; [`QuickfixAcceptor::stop`] signals it.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use quickfix::dictionary_item::*;
use quickfix::{
    send_to_target, Acceptor, Application, ApplicationCallback, ConnectionHandler, Dictionary,
    FieldMap, FixSocketServerKind, LogFactory, MemoryMessageStoreFactory, Message, MsgFromAppError,
    NullLogger, SessionId, SessionSettings,
};
use tachyon_fix_gateway::{write_utc_timestamp, TIMESTAMP_LEN};

/// A running QuickFIX acceptor on loopback.
pub struct QuickfixAcceptor {
    addr: SocketAddr,
    stop: mpsc::Sender<()>,
    host: Option<JoinHandle<()>>,
}

struct Executor {
    next_id: AtomicU64,
    answered: AtomicU64,
}

impl ApplicationCallback for Executor {
    fn on_msg_from_app(&self, msg: &Message, session: &SessionId) -> Result<(), MsgFromAppError> {
        if msg.with_header(|h| h.get_field(35)).as_deref() != Some("D") {
            return Err(MsgFromAppError::UnsupportedMessageType);
        }
        let field = |t| msg.get_field(t).ok_or(MsgFromAppError::FieldNotFound);
        let (cl, sym, side, qty) = (field(11)?, field(55)?, field(54)?, field(38)?);
        let price = msg.get_field(44).unwrap_or_else(|| "0".into());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut ts = [0u8; TIMESTAMP_LEN];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        write_utc_timestamp(now, &mut ts);
        let ts = std::str::from_utf8(&ts).unwrap_or("");
        let mut er = Message::new();
        let build = (|| {
            er.with_header_mut(|h| h.set_field(35, "8"))?;
            er.set_field(37, id)?;
            er.set_field(17, id)?;
            er.set_field(150, "0")?;
            er.set_field(39, "0")?;
            er.set_field(55, sym.as_str())?;
            er.set_field(54, side.as_str())?;
            er.set_field(38, qty.as_str())?;
            er.set_field(44, price.as_str())?;
            er.set_field(151, qty.as_str())?;
            er.set_field(14, "0")?;
            er.set_field(6, "0")?;
            er.set_field(11, cl.as_str())?;
            er.set_field(60, ts)
        })();
        if build.is_ok() && send_to_target(er, session).is_ok() {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A free loopback port (bound then released: QuickFIX cannot listen on port 0 and tell).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl QuickfixAcceptor {
    /// Starts an acceptor for the session `client_comp_id` → `our_comp_id`.
    pub fn start(our_comp_id: &str, client_comp_id: &str) -> Result<QuickfixAcceptor, String> {
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let (ready_tx, ready) = mpsc::channel::<Result<(), String>>();
        let (ours, theirs) = (our_comp_id.to_string(), client_comp_id.to_string());
        let host = std::thread::Builder::new()
            .name("quickfix-host".into())
            .spawn(move || {
                let run = || -> Result<(), quickfix::QuickFixError> {
                    let mut settings = SessionSettings::new();
                    settings.set(
                        None,
                        Dictionary::try_from_items(&[
                            &ConnectionType::Acceptor,
                            &SocketAcceptPort(port),
                            &SocketNodelay(true),
                            &StartTime("00:00:00"),
                            &EndTime("00:00:00"),
                            &UseDataDictionary(false),
                            &ResetOnLogon(true),
                        ])?,
                    )?;
                    settings.set(
                        Some(&SessionId::try_new("FIX.4.4", &ours, &theirs, "")?),
                        Dictionary::new(),
                    )?;
                    let exec = Executor {
                        next_id: AtomicU64::new(1),
                        answered: AtomicU64::new(0),
                    };
                    let app = Application::try_new(&exec)?;
                    let store = MemoryMessageStoreFactory::new();
                    let log = LogFactory::try_new(&NullLogger)?;
                    let mut acceptor = Acceptor::try_new(
                        &settings,
                        &app,
                        &store,
                        &log,
                        FixSocketServerKind::SingleThreaded,
                    )?;
                    acceptor.start()?;
                    let _ = ready_tx.send(Ok(()));
                    let _ = stopped.recv();
                    acceptor.stop()?;
                    Ok(())
                };
                if let Err(e) = run() {
                    let _ = ready_tx.send(Err(format!("quickfix acceptor: {e:?}")));
                }
            })
            .map_err(|e| e.to_string())?;
        ready
            .recv()
            .map_err(|_| "quickfix host thread died".to_string())??;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // Wait until the port accepts (start() returns before the listener is up).
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if t.elapsed() > std::time::Duration::from_secs(5) {
                return Err(format!("quickfix acceptor not listening on {addr}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(QuickfixAcceptor {
            addr,
            stop,
            host: Some(host),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the acceptor and joins its host thread.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(h) = self.host.take() {
            let _ = h.join();
        }
    }
}
