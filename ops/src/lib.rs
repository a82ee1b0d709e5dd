//! Tachyon's HTTP/WebSocket plane on `[ops] listen`:
//!
//! - public market data, JSON in Binance's layout (amounts as exact decimal strings):
//!   `GET /api/v1/exchangeInfo`, `/api/v1/depth?symbol=&limit=`, `/api/v1/ticker?symbol=`,
//!   `/api/v1/trades?symbol=&limit=`, `/api/v1/klines?symbol=&interval=1m|5m|1h|1d&limit=`;
//!   bad parameters get 400 with `{code, msg, param}`; per-IP token-bucket rate limit
//!   with 429;
//! - WebSocket streams `/ws/depth/<symbol>` (snapshot, then diffs with sequence numbers)
//!   and `/ws/trades/<symbol>`; slow clients are disconnected;
//! - the operator plane: `GET /health`, `/ready`, `/metrics` (OpenMetrics text).
//!
//! Market data comes from one outbound-ring reader ([`ReleasedEvents`]) polled by its own
//! thread (`tachyon-md`), which applies events to [`tachyon_market_data::MarketData`]
//! under a mutex and fans out rendered messages, in batches, through bounded broadcast
//! channels. The server runs on a single-threaded tokio runtime on its own thread
//! (`tachyon-ops`; nice 10 in shared-cores mode).
//!
//! Market data's event-built history (tape, klines, 24-hour ticker) is saved under
//! `<journal_dir>/md` by the same thread and resumed at start-up ([`MdRecovery`], the
//! pipeline's recovery tap), so it survives restarts.
//!
//! Architecture Invariant: market data never blocks the matcher. The ring waits only on
//! the consumer thread, whose per-event work is a map update and, when clients listen,
//! rendering a trade; it sends (non-blocking broadcast) once per polled batch per stream
//! and keeps draining even if market data fails.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admin;
mod http;
mod md_store;
mod metrics;
mod ratelimit;
mod render;
mod state;
mod ws;

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tachyon_config::Config;
use tachyon_pipeline::{PipelineStats, ReleasedEvents};

pub use admin::ADMIN_ORIGIN_BASE;
pub use md_store::MdRecovery;
pub use state::{LagProbe, OpsState};

/// Nice value of the `tachyon-ops` thread in shared-cores mode.
const OPS_NICE: i32 = 10;

/// How long [`OpsHandle::stop`] lets open HTTP connections finish.
const GRACEFUL_STOP: Duration = Duration::from_secs(2);

/// A running ops server (and, if started by [`start`], its market-data consumer).
pub struct OpsHandle {
    addr: SocketAddr,
    state: OpsState,
    server: Option<JoinHandle<()>>,
    consumer: Option<JoinHandle<()>>,
}

impl OpsHandle {
    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Attaches a market-data consumer thread started with
    /// [`OpsState::spawn_consumer`], so [`OpsHandle::join`] waits for it.
    pub fn set_consumer(&mut self, consumer: JoinHandle<()>) {
        self.consumer = Some(consumer);
    }

    /// The shared state (to feed events or seed books in tests and tools).
    pub fn state(&self) -> &OpsState {
        &self.state
    }

    /// Stops the HTTP/WebSocket server: WebSocket clients get a close frame, open HTTP
    /// requests up to 2 s to finish. The market-data consumer thread, if any, is not
    /// stopped: it must keep polling until the pipeline shuts down (an unpolled reader
    /// would stall the outbound ring); it ends by itself at `PollResult::Shutdown` and is
    /// joined here if that already happened, else detached.
    pub fn stop(mut self) {
        self.stop_server();
        if let Some(h) = self.consumer.take() {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }

    /// Waits for the market-data consumer to end (after the pipeline shut down), then
    /// stops the server. Call after `Pipeline::shutdown`.
    pub fn join(mut self) {
        if let Some(h) = self.consumer.take() {
            let _ = h.join();
        }
        self.stop_server();
    }

    fn stop_server(&mut self) {
        let _ = self.state.shared.shutdown.send(true);
        if let Some(h) = self.server.take() {
            let _ = h.join();
        }
    }
}

impl Drop for OpsHandle {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Serves `state` on `listen` from a new thread (`tachyon-ops`, a single-threaded tokio
/// runtime). Binds before returning, so a bad address fails here.
pub fn spawn(listen: SocketAddr, state: OpsState) -> std::io::Result<OpsHandle> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("tachyon-ops")
        .build()?;
    let shared = state.shared.clone();
    let mut stopping = shared.shutdown.subscribe();
    let shared_cores = shared.cfg.engine.core_mode == tachyon_config::CoreMode::Shared;
    let server = std::thread::Builder::new()
        .name("tachyon-ops".into())
        .spawn(move || {
            if shared_cores {
                // Writing to WebSocket clients is fan-out, never on the matcher's path:
                // under a burst it waits (queued in the broadcast channels, bounded by
                // ws_buffer) and catches up after.
                tachyon_pipeline::lower_thread_priority(OPS_NICE);
            }
            rt.block_on(async move {
                // TCP_NODELAY on every connection: WebSocket messages are small and a
                // client's delayed ACK would otherwise hold one back for up to 40 ms.
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    }),
                    Err(e) => {
                        tracing::error!(component = "ops", "listener: {e}");
                        return;
                    }
                };
                let app = http::router(shared).into_make_service_with_connect_info::<SocketAddr>();
                let mut graceful = stopping.clone();
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = graceful.wait_for(|stop| *stop).await;
                });
                let mut serve = std::pin::pin!(std::future::IntoFuture::into_future(serve));
                tokio::select! {
                    r = &mut serve => {
                        if let Err(e) = r {
                            tracing::error!(component = "ops", "server: {e}");
                        }
                    }
                    _ = async {
                        let _ = stopping.wait_for(|stop| *stop).await;
                        tokio::time::sleep(GRACEFUL_STOP).await;
                    } => {}
                }
            });
            // Dropping the runtime cancels whatever is left (sessions past the grace).
            drop(rt);
        })?;
    Ok(OpsHandle {
        addr,
        state,
        server: Some(server),
        consumer: None,
    })
}

/// Everything the binary needs: market data and metrics fed by `events` (one outbound
/// poller of its own), served on `cfg.ops.listen`. `stats` are the pipeline's;
/// `persister_lag` is polled by `/ready` and `/metrics`. `seed`, if given, is the engine
/// state the pipeline recovered (the books the outbound ring's first event applies to).
pub fn start(
    cfg: &Config,
    events: ReleasedEvents,
    stats: Arc<PipelineStats>,
    persister_lag: Option<LagProbe>,
    seed: Option<&tachyon_engine::Engine>,
) -> Result<OpsHandle, String> {
    let state = OpsState::new(cfg, stats, persister_lag);
    if let Some(engine) = seed {
        state.seed_books(engine);
    }
    let consumer = state
        .spawn_consumer(events)
        .map_err(|e| format!("ops: spawn market-data thread: {e}"))?;
    match spawn(cfg.ops.listen, state) {
        Ok(mut h) => {
            h.consumer = Some(consumer);
            Ok(h)
        }
        Err(e) => Err(format!("ops: listen on {}: {e}", cfg.ops.listen)),
    }
}
