//! The routes: public market data (rate limited per IP) and the operator plane.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tachyon_engine::SymbolId;
use tachyon_market_data::Interval;
use tachyon_pipeline::wall_clock_ns;

use crate::render;
use crate::state::Shared;
use crate::ws;

/// Depth levels per side: default and maximum of `limit`.
const DEPTH_DEFAULT: usize = 100;
const DEPTH_MAX: usize = 5_000;
/// Trades: default and maximum of `limit` (also capped by the tape's length).
const TRADES_DEFAULT: usize = 500;
const TRADES_MAX: usize = 1_000;
/// Klines: default and maximum of `limit` (also capped by the retention).
const KLINES_DEFAULT: usize = 500;
const KLINES_MAX: usize = 1_000;
/// Query strings longer than this are refused.
const MAX_QUERY_LEN: usize = 1_024;

/// An error response: HTTP status and Binance-style `{code, msg, param}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: i32,
    pub(crate) msg: String,
    pub(crate) param: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn bad(code: i32, param: &'static str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            msg: msg.into(),
            param: Some(param),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(render::error(self.code, &self.msg, self.param)),
        )
            .into_response()
    }
}

/// The query string's parameters, each allowed once, all of them known to the route.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<String>, known: &[&'static str]) -> Result<Params, ApiError> {
        let raw = raw.unwrap_or_default();
        if raw.len() > MAX_QUERY_LEN {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                code: -1100,
                msg: format!("query string longer than {MAX_QUERY_LEN} bytes"),
                param: None,
            });
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (k, _)) in pairs.iter().enumerate() {
            let Some(name) = known.iter().find(|n| **n == k) else {
                return Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    code: -1104,
                    msg: format!("unknown parameter '{k}'; this endpoint takes {known:?}"),
                    param: None,
                });
            };
            if pairs[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(ApiError::bad(
                    -1101,
                    name,
                    format!("parameter '{name}' sent more than once"),
                ));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn symbol(&self, shared: &Shared) -> Result<SymbolId, ApiError> {
        match self.get("symbol") {
            None | Some("") => Err(ApiError::bad(
                -1102,
                "symbol",
                "mandatory parameter 'symbol' was not sent or was empty",
            )),
            Some(s) => symbol_id(shared, s),
        }
    }

    fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad(
                    -1100,
                    "limit",
                    format!("parameter 'limit' must be an integer from 1 to {max}, got {v:?}"),
                )),
            },
        }
    }

    fn interval(&self) -> Result<Interval, ApiError> {
        match self.get("interval") {
            None | Some("") => Err(ApiError::bad(
                -1102,
                "interval",
                "mandatory parameter 'interval' was not sent or was empty",
            )),
            Some(v) => Interval::parse(v).ok_or_else(|| {
                ApiError::bad(
                    -1120,
                    "interval",
                    format!("invalid interval {v:?}; use 1m, 5m, 1h or 1d"),
                )
            }),
        }
    }
}

pub(crate) fn symbol_id(shared: &Shared, name: &str) -> Result<SymbolId, ApiError> {
    shared
        .fmts
        .iter()
        .position(|f| f.name == name)
        .map(|i| SymbolId(i as u16))
        .ok_or_else(|| ApiError::bad(-1121, "symbol", format!("invalid symbol {name:?}")))
}

type St = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let public = Router::new()
        .route("/api/v1/exchangeInfo", get(exchange_info))
        .route("/api/v1/depth", get(depth))
        .route("/api/v1/ticker", get(ticker))
        .route("/api/v1/trades", get(trades))
        .route("/api/v1/klines", get(klines))
        .route("/ws/depth/{symbol}", get(ws::depth))
        .route("/ws/trades/{symbol}", get(ws::trades))
        .route_layer(middleware::from_fn_with_state(shared.clone(), rate_limit));
    let operator = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics));
    public
        .merge(operator)
        .merge(crate::admin::router())
        .fallback(not_found)
        .with_state(shared)
}

async fn rate_limit(
    State(s): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    s.server.http_requests.fetch_add(1, Ordering::Relaxed);
    let allowed = s.limiter().check(peer.ip(), Instant::now());
    if !allowed {
        s.server.http_rate_limited.fetch_add(1, Ordering::Relaxed);
        let o = &s.cfg.ops;
        let mut resp = ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: -1003,
            msg: format!(
                "too many requests: {} per second per IP (burst {})",
                o.rate_limit_per_ip_per_sec, o.rate_limit_burst
            ),
            param: None,
        }
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: -1000,
        msg: "no such endpoint".into(),
        param: None,
    }
}

async fn exchange_info(State(s): St, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    Params::parse(q, &[])?;
    let o = &s.cfg.ops;
    Ok(Json(render::exchange_info(
        &s.cfg,
        wall_clock_ns(),
        o.rate_limit_per_ip_per_sec,
        o.rate_limit_burst,
    )))
}

async fn depth(State(s): St, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(q, &["symbol", "limit"])?;
    let sym = p.symbol(&s)?;
    let limit = p.limit(DEPTH_DEFAULT, DEPTH_MAX)?;
    let d = s.core().md.depth(sym, limit).expect("known symbol");
    Ok(Json(render::depth(&s.fmts[sym.0 as usize], &d)))
}

async fn ticker(State(s): St, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(q, &["symbol"])?;
    let sym = p.symbol(&s)?;
    let now = wall_clock_ns();
    let t = s.core().md.ticker(sym, now).expect("known symbol");
    Ok(Json(render::ticker(&s.fmts[sym.0 as usize], &t, now)))
}

async fn trades(State(s): St, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(q, &["symbol", "limit"])?;
    let sym = p.symbol(&s)?;
    let limit = p.limit(TRADES_DEFAULT, TRADES_MAX)?;
    let ts = s.core().md.trades(sym, limit).expect("known symbol");
    Ok(Json(render::trades(&s.fmts[sym.0 as usize], &ts)))
}

async fn klines(State(s): St, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(q, &["symbol", "interval", "limit"])?;
    let sym = p.symbol(&s)?;
    let interval = p.interval()?;
    let limit = p.limit(KLINES_DEFAULT, KLINES_MAX)?;
    let ks = s
        .core()
        .md
        .klines(sym, interval, limit)
        .expect("known symbol");
    Ok(Json(render::klines(&s.fmts[sym.0 as usize], interval, &ks)))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready = the market-data consumer runs (so does the pipeline), the journal has not
/// failed, market data has not stopped, and the persister (if probed) is within bound.
async fn ready(State(s): St) -> Response {
    let running = s.consumer_running();
    let journal_failed = s.stats.journal_failed.load(Ordering::Acquire);
    let journal_error = if journal_failed {
        s.stats
            .journal_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    } else {
        None
    };
    let md_failed = s.md_failed.load(Ordering::Acquire);
    let max_lag = s.cfg.ops.ready_max_persister_lag;
    let lag = s.persister_lag.as_ref().and_then(|f| f());
    let lag_ok = !matches!(lag, Some(l) if l > max_lag);
    let ok = running && !journal_failed && !md_failed && lag_ok;
    let body = json!({
        "ready": ok,
        "checks": {
            "pipeline": if running { "ok" } else { "not running" },
            "journal": if journal_failed { "failed" } else { "ok" },
            "journal_error": journal_error,
            "market_data": if md_failed { "failed" } else { "ok" },
            "persister_lag": lag,
            "max_persister_lag": max_lag,
        },
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(s): St) -> Response {
    let body = crate::metrics::render(&s);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
