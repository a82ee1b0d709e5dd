//! The admin API: operator actions as engine commands through the inbound ring.
//!
//! Every action is published with an `origin` tag of its own ([`ADMIN_ORIGIN_BASE`] +
//! request number); the market-data consumer thread, which sees every released event,
//! hands the command's events back to the waiting request. So a reply means the command
//! is journaled (durable under the fsync policy) and applied, and it carries the engine's
//! answer: success with the resulting state, or the reject reason (HTTP 409).
//!
//! Guarded by `ops.admin_token` (`Authorization: Bearer <token>`, compared in constant
//! time); without a configured token the admin routes answer 404. Every action writes one
//! `audit` log line (action, parameters, peer, outcome; never the token).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tachyon_config::{derive_api_key_secret, Auth, SessionKind};
use tachyon_engine::{
    AccountId, ApiKey, ApiKeyId, AssetId, ClOrdId, Command, CommandKind, CompId, Event, MassCancel,
    MassCancelScope, RejectReason, SymbolId, Transfer,
};
use tachyon_pipeline::{wall_clock_ns, CommandPublisher, OutEvent};

use crate::http::ApiError;
use crate::render;
use crate::state::Shared;

/// Origins at or above this belong to admin requests (FIX sessions use 1..=65535).
pub const ADMIN_ORIGIN_BASE: u32 = 1 << 20;
/// How long a request waits for its command's events.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most admin requests in flight at once.
const MAX_IN_FLIGHT: usize = 256;

type Waiters = HashMap<u32, (Vec<Event>, tokio::sync::oneshot::Sender<Vec<Event>>)>;

/// Admin state: the token, a publisher, and the requests waiting for their events.
pub(crate) struct Admin {
    token: String,
    /// `None` once disabled (shutdown: the pipeline drains only when every publisher is
    /// gone).
    publisher: Mutex<Option<CommandPublisher>>,
    waiters: Mutex<Waiters>,
    next: AtomicU32,
    /// The active API keys, in creation order (seeded from the recovered engine state,
    /// then kept in step with `ApiKeyCreated`/`ApiKeyRevoked`, which only admin commands
    /// cause).
    keys: Mutex<Vec<ApiKey>>,
}

impl Admin {
    pub(crate) fn new(token: String, publisher: CommandPublisher) -> Admin {
        Admin {
            token,
            publisher: Mutex::new(Some(publisher)),
            waiters: Mutex::new(HashMap::new()),
            next: AtomicU32::new(0),
            keys: Mutex::new(Vec::new()),
        }
    }

    /// The recovered active keys (before the consumer thread starts).
    pub(crate) fn seed_api_keys(&self, keys: &[ApiKey]) {
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = keys.to_vec();
    }

    /// Drops the publisher: later requests get 503.
    pub(crate) fn disable(&self) {
        self.publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Called by the consumer thread for every event with an admin origin.
    pub(crate) fn on_event(&self, ev: &OutEvent) {
        match ev.event {
            Event::ApiKeyCreated(k) => self.keys.lock().unwrap_or_else(|p| p.into_inner()).push(k),
            Event::ApiKeyRevoked { key, .. } => self
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|k| k.key != key),
            _ => {}
        }
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((events, _)) = w.get_mut(&ev.origin) {
            events.push(ev.event);
            if ev.last {
                let (events, tx) = w.remove(&ev.origin).expect("present");
                let _ = tx.send(events);
            }
        }
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn admin_of(s: &Shared) -> Result<&Admin, ApiError> {
    s.admin.get().ok_or(ApiError {
        status: StatusCode::NOT_FOUND,
        code: -1,
        msg: "admin API disabled (no ops.admin_token configured)".into(),
        param: None,
    })
}

fn authorize<'s>(s: &'s Shared, headers: &HeaderMap) -> Result<&'s Admin, ApiError> {
    let admin = admin_of(s)?;
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !ct_eq(given.as_bytes(), admin.token.as_bytes()) {
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: -2015,
            msg: "missing or invalid admin token".into(),
            param: None,
        });
    }
    Ok(admin)
}

/// Publishes `kind` and waits for its events.
async fn submit(admin: &Admin, kind: CommandKind) -> Result<Vec<Event>, ApiError> {
    let n = admin.next.fetch_add(1, Ordering::Relaxed) % (u32::MAX - ADMIN_ORIGIN_BASE);
    let origin = ADMIN_ORIGIN_BASE + n;
    let (tx, rx) = tokio::sync::oneshot::channel();
    {
        let mut w = admin.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() >= MAX_IN_FLIGHT {
            return Err(unavailable("too many admin requests in flight"));
        }
        w.insert(origin, (Vec::new(), tx));
    }
    let cmd = Command {
        ts_ns: wall_clock_ns(),
        kind,
    };
    let published = admin
        .publisher
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
        .is_some_and(|p| p.try_publish_from(origin, cmd).is_ok());
    if !published {
        admin
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&origin);
        return Err(unavailable("inbound ring full or shutting down; retry"));
    }
    match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
        Ok(Ok(events)) => Ok(events),
        _ => {
            admin
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&origin);
            Err(ApiError {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: -1007,
                msg: "no answer from the engine in time; the command may still apply".into(),
                param: None,
            })
        }
    }
}

fn unavailable(msg: &str) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: -1008,
        msg: msg.into(),
        param: None,
    }
}

fn rejected(reason: RejectReason) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: -2010,
        msg: format!(
            "rejected by the engine: {}",
            crate::metrics::reject_label(reason)
        ),
        param: None,
    }
}

fn field<'v>(body: &'v Value, name: &'static str) -> Result<&'v Value, ApiError> {
    body.get(name)
        .ok_or_else(|| ApiError::bad(-1102, name, format!("missing field {name:?}")))
}

fn account_field(body: &Value) -> Result<AccountId, ApiError> {
    let v = field(body, "account")?;
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .map(AccountId)
        .ok_or_else(|| ApiError::bad(-1102, "account", "account must be an integer id"))
}

fn asset_field(s: &Shared, body: &Value) -> Result<(AssetId, u32), ApiError> {
    let code = field(body, "asset")?
        .as_str()
        .ok_or_else(|| ApiError::bad(-1102, "asset", "asset must be a string"))?;
    s.cfg
        .assets
        .iter()
        .position(|a| a.code == code)
        .map(|i| (AssetId(i as u16), u32::from(s.cfg.assets[i].decimals)))
        .ok_or_else(|| ApiError::bad(-1121, "asset", format!("unknown asset {code:?}")))
}

/// A decimal string → smallest units, exactly (more decimals than the asset has is an
/// error, never rounded).
fn amount_field(body: &Value, decimals: u32) -> Result<i64, ApiError> {
    let text = field(body, "amount")?.as_str().ok_or_else(|| {
        ApiError::bad(
            -1102,
            "amount",
            "amount must be a decimal string, e.g. \"100.5\"",
        )
    })?;
    let d: Decimal = text
        .parse()
        .map_err(|_| ApiError::bad(-1102, "amount", format!("invalid decimal {text:?}")))?;
    let d = d.normalize();
    if d <= Decimal::ZERO {
        return Err(ApiError::bad(-1102, "amount", "amount must be positive"));
    }
    if d.scale() > decimals {
        return Err(ApiError::bad(
            -1102,
            "amount",
            format!("more than {decimals} decimals for this asset"),
        ));
    }
    // Exact: the scale was checked above, so this product is an integer.
    let units = d
        .checked_mul(Decimal::from(10i64.pow(decimals)))
        .ok_or_else(|| ApiError::bad(-1102, "amount", "amount too large"))?;
    rust_decimal::prelude::ToPrimitive::to_i64(&units)
        .filter(|u| *u > 0)
        .ok_or_else(|| ApiError::bad(-1102, "amount", "amount too large"))
}

fn units_text(units: i64, decimals: u32) -> String {
    render::fixed(i128::from(units), decimals)
}

fn audit(action: &str, peer: SocketAddr, params: &Value, outcome: &str) {
    tracing::info!(component = "audit", action, %peer, params = %params, outcome, "admin action");
}

type St = State<Arc<Shared>>;

/// The admin routes (nested under `/admin/v1`).
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/v1/accounts", post(create_account))
        .route("/admin/v1/deposits", post(deposit))
        .route("/admin/v1/withdrawals", post(withdraw))
        .route("/admin/v1/symbols/{symbol}/halt", post(halt))
        .route("/admin/v1/symbols/{symbol}/resume", post(resume_symbol))
        .route("/admin/v1/accounts/{account}/suspend", post(suspend))
        .route("/admin/v1/accounts/{account}/resume", post(resume_account))
        .route("/admin/v1/accounts/{account}/cancel-all", post(cancel_all))
        .route(
            "/admin/v1/api-keys",
            post(create_api_key).get(list_api_keys),
        )
        .route("/admin/v1/api-keys/{key_id}", delete(revoke_api_key))
}

/// Runs one action: authorize, build the command, submit, turn the events into a reply.
async fn run(
    s: &Shared,
    headers: &HeaderMap,
    peer: SocketAddr,
    action: &'static str,
    params: Value,
    build: impl FnOnce(&Shared) -> Result<CommandKind, ApiError>,
    reply: impl FnOnce(&Shared, &[Event]) -> Result<Value, ApiError>,
) -> Response {
    let result = async {
        let admin = authorize(s, headers)?;
        let kind = build(s)?;
        let events = submit(admin, kind).await?;
        reply(s, &events)
    }
    .await;
    match result {
        Ok(v) => {
            audit(action, peer, &params, "ok");
            (StatusCode::OK, Json(v)).into_response()
        }
        Err(e) => {
            audit(action, peer, &params, &e.msg);
            e.into_response()
        }
    }
}

/// The engine's answer to an admin command: its reject (409), or what `pick` finds in
/// its events (`what` names the event in the 503 if it is missing).
fn answer<T>(
    events: &[Event],
    what: &str,
    pick: impl FnMut(&Event) -> Option<T>,
) -> Result<T, ApiError> {
    if let Some(r) = admin_reject(events) {
        return Err(rejected(r));
    }
    events
        .iter()
        .find_map(pick)
        .ok_or_else(|| unavailable(&format!("no {what} event")))
}

fn admin_reject(events: &[Event]) -> Option<RejectReason> {
    events.iter().find_map(|e| match e {
        Event::AdminRejected { reason, .. } => Some(*reason),
        _ => None,
    })
}

async fn create_account(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let params = body.clone();
    run(
        &s,
        &headers,
        peer,
        "create_account",
        params,
        |_| {
            Ok(CommandKind::CreateAccount {
                account: account_field(&body)?,
            })
        },
        |_, events| {
            if let Some(r) = admin_reject(events) {
                return Err(rejected(r));
            }
            let account = events.iter().find_map(|e| match e {
                Event::AccountCreated { account } => Some(account.0),
                _ => None,
            });
            Ok(json!({ "result": "ok", "account": account }))
        },
    )
    .await
}

async fn transfer(
    s: Arc<Shared>,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Value,
    deposit: bool,
) -> Response {
    let params = body.clone();
    let action = if deposit { "deposit" } else { "withdraw" };
    run(
        &s,
        &headers,
        peer,
        action,
        params,
        |s| {
            let account = account_field(&body)?;
            let (asset, dec) = asset_field(s, &body)?;
            let amount = amount_field(&body, dec)?;
            let reference = match body.get("reference") {
                None => 0,
                Some(v) => v.as_u64().ok_or_else(|| {
                    ApiError::bad(
                        -1102,
                        "reference",
                        "reference must be a non-negative integer",
                    )
                })?,
            };
            let t = Transfer {
                account,
                asset,
                amount,
                reference,
            };
            Ok(if deposit {
                CommandKind::Deposit(t)
            } else {
                CommandKind::Withdraw(t)
            })
        },
        |s, events| {
            let entry = answer(events, "ledger", |e| match e {
                Event::Ledger(l) => Some(*l),
                _ => None,
            })?;
            let asset = &s.cfg.assets[entry.asset.0 as usize];
            let decimals = u32::from(asset.decimals);
            Ok(json!({
                "result": "ok",
                "account": entry.account.0,
                "asset": asset.code,
                "available": units_text(entry.available_after, decimals),
                "locked": units_text(entry.locked_after, decimals),
            }))
        },
    )
    .await
}

async fn deposit(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    transfer(s, peer, headers, body, true).await
}

async fn withdraw(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    transfer(s, peer, headers, body, false).await
}

fn symbol_param(s: &Shared, name: &str) -> Result<SymbolId, ApiError> {
    crate::http::symbol_id(s, name)
}

async fn symbol_status(
    s: Arc<Shared>,
    peer: SocketAddr,
    headers: HeaderMap,
    symbol: String,
    halt: bool,
) -> Response {
    let params = json!({ "symbol": symbol });
    let action = if halt { "halt_symbol" } else { "resume_symbol" };
    run(
        &s,
        &headers,
        peer,
        action,
        params,
        |s| {
            let symbol = symbol_param(s, &symbol)?;
            Ok(if halt {
                CommandKind::HaltSymbol { symbol }
            } else {
                CommandKind::ResumeSymbol { symbol }
            })
        },
        |s, events| {
            answer(events, "status", |e| match e {
                Event::SymbolStatus { symbol, halted } => Some(json!({
                    "result": "ok",
                    "symbol": s.fmts[symbol.0 as usize].name,
                    "halted": halted,
                })),
                _ => None,
            })
        },
    )
    .await
}

async fn halt(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
) -> Response {
    symbol_status(s, peer, headers, symbol, true).await
}

async fn resume_symbol(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
) -> Response {
    symbol_status(s, peer, headers, symbol, false).await
}

async fn account_status(
    s: Arc<Shared>,
    peer: SocketAddr,
    headers: HeaderMap,
    account: u32,
    suspend: bool,
) -> Response {
    let params = json!({ "account": account });
    let action = if suspend {
        "suspend_account"
    } else {
        "resume_account"
    };
    run(
        &s,
        &headers,
        peer,
        action,
        params,
        |_| {
            let account = AccountId(account);
            Ok(if suspend {
                CommandKind::SuspendAccount { account }
            } else {
                CommandKind::ResumeAccount { account }
            })
        },
        |_, events| {
            answer(events, "status", |e| match e {
                Event::AccountStatus { account, suspended } => Some(json!({
                    "result": "ok",
                    "account": account.0,
                    "suspended": suspended,
                })),
                _ => None,
            })
        },
    )
    .await
}

async fn suspend(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(account): Path<u32>,
) -> Response {
    account_status(s, peer, headers, account, true).await
}

async fn resume_account(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(account): Path<u32>,
) -> Response {
    account_status(s, peer, headers, account, false).await
}

async fn cancel_all(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(account): Path<u32>,
) -> Response {
    let params = json!({ "account": account });
    run(
        &s,
        &headers,
        peer,
        "cancel_all",
        params,
        |_| {
            Ok(CommandKind::MassCancel(MassCancel {
                account: AccountId(account),
                scope: MassCancelScope::Account,
                cl_ord_id: ClOrdId::new(b"admin-cancel-all").expect("valid id"),
            }))
        },
        |_, events| {
            events
                .iter()
                .find_map(|e| match e {
                    Event::MassCancelReport {
                        canceled, reject, ..
                    } => Some(match reject {
                        Some(r) => Err(rejected(*r)),
                        None => Ok(json!({
                            "result": "ok",
                            "account": account,
                            "canceled": canceled,
                        })),
                    }),
                    _ => None,
                })
                .unwrap_or_else(|| Err(unavailable("no mass cancel report")))
        },
    )
    .await
}

/// The `CreateApiKey` command for a request `{ "comp_id": "...", "account": n? }`: the
/// CompID must be a configured session that authenticates with `hmac-sha256`; an
/// order-entry session's key belongs to the account the session trades for (`account`
/// may be omitted, or must name that account). The id and nonce are random.
fn api_key_command(s: &Shared, body: &Value) -> Result<CommandKind, ApiError> {
    let comp = field(body, "comp_id")?
        .as_str()
        .ok_or_else(|| ApiError::bad(-1102, "comp_id", "comp_id must be a string"))?;
    let session = s
        .cfg
        .fix
        .sessions
        .iter()
        .find(|x| x.sender_comp_id == comp)
        .ok_or_else(|| {
            ApiError::bad(
                -1102,
                "comp_id",
                format!("no configured FIX session has SenderCompID {comp:?}"),
            )
        })?;
    if !matches!(session.auth, Auth::HmacSha256 { .. }) {
        return Err(ApiError::bad(
            -1102,
            "comp_id",
            format!("session {comp:?} does not authenticate with hmac-sha256, so it would never check the key"),
        ));
    }
    let account = match body.get("account") {
        None => AccountId(session.account),
        Some(_) => account_field(body)?,
    };
    if session.kind == SessionKind::OrderEntry && account.0 != session.account {
        return Err(ApiError::bad(
            -1102,
            "account",
            format!(
                "session {comp:?} trades for account {}; its keys belong to that account",
                session.account
            ),
        ));
    }
    let comp_id = CompId::new(comp.as_bytes()).ok_or_else(|| {
        ApiError::bad(
            -1102,
            "comp_id",
            "comp_id must be 1 to 64 printable ASCII characters",
        )
    })?;
    if s.cfg.fix.api_key_master.is_none() {
        return Err(unavailable(
            "API key creation is disabled: fix.api_key_master is not configured",
        ));
    }
    let mut random = [0u8; 24];
    getrandom::getrandom(&mut random)
        .map_err(|e| unavailable(&format!("no randomness for the key: {e}")))?;
    let id = u64::from_le_bytes(random[..8].try_into().expect("8 bytes")).max(1);
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&random[8..]);
    Ok(CommandKind::CreateApiKey(ApiKey {
        key: ApiKeyId(id),
        account,
        comp_id,
        nonce,
    }))
}

/// `POST /admin/v1/api-keys`: creates a key and returns its secret, once (it is derived
/// from `fix.api_key_master` and stored nowhere).
async fn create_api_key(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let params = body.clone();
    run(
        &s,
        &headers,
        peer,
        "create_api_key",
        params,
        |s| api_key_command(s, &body),
        |s, events| {
            let k = answer(events, "ApiKeyCreated", |e| match e {
                Event::ApiKeyCreated(k) => Some(*k),
                _ => None,
            })?;
            let master = s
                .cfg
                .fix
                .api_key_master
                .as_ref()
                .ok_or_else(|| unavailable("fix.api_key_master is not configured"))?;
            let secret = derive_api_key_secret(master, k.key, &k.nonce);
            Ok(json!({
                "result": "ok",
                "key_id": k.key.text(),
                "secret": secret.expose(),
                "account": k.account.0,
                "comp_id": k.comp_id.as_str(),
            }))
        },
    )
    .await
}

/// `DELETE /admin/v1/api-keys/{key_id}`: revokes a key; sessions logged on with it are
/// logged out by the gateway.
async fn revoke_api_key(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> Response {
    let params = json!({ "key_id": key_id });
    run(
        &s,
        &headers,
        peer,
        "revoke_api_key",
        params,
        |_| {
            let key = ApiKeyId::parse(key_id.as_bytes()).ok_or_else(|| {
                ApiError::bad(
                    -1102,
                    "key_id",
                    format!("{key_id:?} is not an API key id (tk_ + 16 hex digits)"),
                )
            })?;
            Ok(CommandKind::RevokeApiKey { key })
        },
        |_, events| {
            answer(events, "ApiKeyRevoked", |e| match e {
                Event::ApiKeyRevoked { key, account } => Some(json!({
                    "result": "ok",
                    "key_id": key.text(),
                    "account": account.0,
                })),
                _ => None,
            })
        },
    )
    .await
}

/// `GET /admin/v1/api-keys`: the active keys (id, account, CompID), never a secret.
async fn list_api_keys(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let params = json!({});
    match authorize(&s, &headers) {
        Ok(admin) => {
            let keys: Vec<Value> = admin
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|k| {
                    json!({
                        "key_id": k.key.text(),
                        "account": k.account.0,
                        "comp_id": k.comp_id.as_str(),
                    })
                })
                .collect();
            audit("list_api_keys", peer, &params, "ok");
            (StatusCode::OK, Json(json!({ "api_keys": keys }))).into_response()
        }
        Err(e) => {
            audit("list_api_keys", peer, &params, &e.msg);
            e.into_response()
        }
    }
}
