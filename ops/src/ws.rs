//! WebSocket streams: `/ws/depth/<symbol>` (a snapshot, then one message per batch of
//! released events the consumer polled — one command's level changes when traffic is
//! light, several commands' under load, at most 512 changes) and `/ws/trades/<symbol>`
//! (a `subscribed` message with the symbol's `seq`, then one message per trade after it).
//!
//! Each stream is a bounded `tokio::sync::broadcast` channel of batches of rendered
//! messages shared by its clients (a depth diff; the trades of one batch of released
//! events, at most 512). A client's task writes every message already queued for it
//! (about 1,024 at most) before one flush, so a burst costs a client one wake-up and one
//! socket write per batch rather than per message; each trade is still its own WebSocket
//! message. A client more than `ws_buffer` batches behind, or whose socket accepts
//! nothing for `ws_send_timeout_ms`, is disconnected (close code 1008): nothing is
//! buffered for it without bound, and the consumer thread never waits for it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use tachyon_engine::SymbolId;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use crate::http::{symbol_id, ApiError};
use crate::render;
use crate::state::{Batch, Shared};

/// Largest message a client may send us (we expect none but pings).
const MAX_INBOUND_MESSAGE: usize = 4 * 1024;
/// Messages written to a client with one flush (a batch already begun is finished).
const MAX_BATCH: usize = 1024;
/// How long a goodbye (close frame) may take before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Clone, Copy)]
enum Stream {
    Depth,
    Trades,
}

/// A connected client's slot in `max_ws_clients`; freed on drop.
struct ClientSlot(Arc<Shared>);

impl ClientSlot {
    fn take(shared: &Arc<Shared>) -> Option<ClientSlot> {
        let max = shared.cfg.ops.max_ws_clients as usize;
        shared
            .ws_clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ClientSlot(shared.clone()))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.ws_clients.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) async fn depth(
    State(s): State<Arc<Shared>>,
    Path(symbol): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    accept(s, symbol, ws, Stream::Depth)
}

pub(crate) async fn trades(
    State(s): State<Arc<Shared>>,
    Path(symbol): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    accept(s, symbol, ws, Stream::Trades)
}

fn accept(
    s: Arc<Shared>,
    symbol: String,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    stream: Stream,
) -> Response {
    let sym = match symbol_id(&s, &symbol) {
        Ok(sym) => sym,
        Err(e) => return e.into_response(),
    };
    let Ok(ws) = ws else {
        return ApiError {
            status: StatusCode::BAD_REQUEST,
            code: -1000,
            msg: "this is a WebSocket endpoint: send an Upgrade request".into(),
            param: None,
        }
        .into_response();
    };
    let Some(slot) = ClientSlot::take(&s) else {
        s.server.ws_refused.fetch_add(1, Ordering::Relaxed);
        return ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: -1003,
            msg: format!(
                "too many WebSocket clients (max_ws_clients = {})",
                s.cfg.ops.max_ws_clients
            ),
            param: None,
        }
        .into_response();
    };
    s.server.ws_connects.fetch_add(1, Ordering::Relaxed);
    ws.max_message_size(MAX_INBOUND_MESSAGE)
        .max_frame_size(MAX_INBOUND_MESSAGE)
        .on_upgrade(move |socket| session(s, sym, stream, socket, slot))
}

async fn session(
    s: Arc<Shared>,
    sym: SymbolId,
    stream: Stream,
    mut socket: WebSocket,
    slot: ClientSlot,
) {
    let i = sym.0 as usize;
    let mut shutdown = s.shutdown.subscribe();
    // Subscribe and copy the book under the lock the consumer applies events under, so the
    // first update received follows the snapshot exactly (no gap, no overlap).
    let (mut rx, first): (broadcast::Receiver<Batch>, String) = {
        let core = s.core();
        match stream {
            Stream::Depth => {
                let rx = s.feeds[i].depth.subscribe();
                let d = core.md.depth(sym, usize::MAX).expect("known symbol");
                drop(core);
                (rx, render::depth_snapshot_msg(&s.fmts[i], &d))
            }
            Stream::Trades => {
                let rx = s.feeds[i].trades.subscribe();
                let seq = core.md.seq(sym).expect("known symbol");
                drop(core);
                (rx, render::subscribed_msg(&s.fmts[i], seq))
            }
        }
    };
    let send_timeout = Duration::from_millis(s.cfg.ops.ws_send_timeout_ms as u64);
    if !send(&s, &mut socket, Message::Text(first.into()), send_timeout).await {
        return;
    }
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(batch) => {
                    match send_batch(&s, &mut socket, &mut rx, batch, send_timeout).await {
                        Outcome::Delivered => {}
                        Outcome::Gone => break,
                        Outcome::Lagged(n) => {
                            s.server.ws_dropped_slow.fetch_add(1, Ordering::Relaxed);
                            close(&mut socket, close_code::POLICY, format!("slow consumer: {n} batches behind")).await;
                            break;
                        }
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    s.server.ws_dropped_slow.fetch_add(1, Ordering::Relaxed);
                    close(&mut socket, close_code::POLICY, format!("slow consumer: {n} batches behind")).await;
                    break;
                }
                Err(RecvError::Closed) => {
                    close(&mut socket, close_code::AWAY, "server stopping".into()).await;
                    break;
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer; anything else is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => {
                close(&mut socket, close_code::AWAY, "server stopping".into()).await;
                break;
            }
        }
    }
    drop(slot);
}

/// How a batch went.
enum Outcome {
    Delivered,
    /// The client is gone or too slow to take the batch (counted).
    Gone,
    /// The client fell this many messages behind while we sent.
    Lagged(u64),
}

/// Sends the messages of `first` and of the batches already queued behind it (until
/// [`MAX_BATCH`] messages) with one flush: under a burst a client costs one socket write
/// per wake-up, not one per message.
async fn send_batch(
    s: &Shared,
    socket: &mut WebSocket,
    rx: &mut broadcast::Receiver<Batch>,
    first: Batch,
    timeout: Duration,
) -> Outcome {
    let mut lagged = None;
    let feed_all = async {
        let mut n = first.len();
        for m in first.iter() {
            socket.feed(Message::Text(m.clone())).await?;
        }
        while n < MAX_BATCH {
            match rx.try_recv() {
                Ok(b) => {
                    n += b.len();
                    for m in b.iter() {
                        socket.feed(Message::Text(m.clone())).await?;
                    }
                }
                Err(TryRecvError::Lagged(n)) => {
                    lagged = Some(n);
                    break;
                }
                Err(_) => break,
            }
        }
        socket.flush().await
    };
    match tokio::time::timeout(timeout, feed_all).await {
        Ok(Ok(())) => match lagged {
            Some(n) => Outcome::Lagged(n),
            None => Outcome::Delivered,
        },
        Ok(Err(_)) => Outcome::Gone,
        Err(_) => {
            s.server.ws_dropped_slow.fetch_add(1, Ordering::Relaxed);
            Outcome::Gone
        }
    }
}

/// Sends one message; false if the client is gone or too slow (then it is dropped).
async fn send(s: &Shared, socket: &mut WebSocket, msg: Message, timeout: Duration) -> bool {
    match tokio::time::timeout(timeout, socket.send(msg)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            s.server.ws_dropped_slow.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}
