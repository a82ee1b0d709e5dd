//! The typed configuration. Field names are the TOML keys; every struct rejects unknown
//! keys. Semantic checks (cross references, grids, limits) live in `validate.rs`.

use core::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::decimal;

/// A whole Tachyon configuration file.
///
/// Build it with [`Config::load`] or [`Config::from_str`], which validate it; the
/// `Deserialize` impl alone checks only the shape, not the values.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[engine]`: capacity limits, threading and the journal.
    pub engine: EngineSection,
    /// `[fix]`: the FIX gateway's listener and its sessions.
    pub fix: FixSection,
    /// `[ops]`: the HTTP/WebSocket endpoint (market data, health, metrics).
    pub ops: OpsSection,
    /// `[persister]`: the PostgreSQL persister.
    pub persister: PersisterSection,
    /// `[[assets]]`, in file order; the index is the engine's `AssetId`.
    pub assets: Vec<Asset>,
    /// `[[instruments]]`, in file order; the index is the engine's `SymbolId`.
    pub instruments: Vec<Instrument>,
    /// `[[accounts]]`: named client accounts and their initial deposits (optional).
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// `[log]`: the binary's log format and level (optional).
    #[serde(default)]
    pub log: LogSection,
}

/// `[log]`: how the `tachyon` binary logs (to stderr). The environment overrides both
/// keys: `TACHYON_LOG` (a filter) and `TACHYON_LOG_FORMAT` (`text` or `json`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `"text"` (human-readable, the default) or `"json"` (one JSON object per line,
    /// every field of the event included: session, CompID, order ids, ...).
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter: a level (`"info"`, the default) or directives such as
    /// `"info,tachyon_fix_gateway=debug"`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            format: LogFormat::Text,
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".to_string()
}

/// `log.format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// JSON lines.
    Json,
}

/// `[engine]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Capacity of the inbound (command) ring; a power of two.
    pub inbound_ring_size: u32,
    /// Capacity of the outbound (event) ring; a power of two.
    pub outbound_ring_size: u32,
    /// Account ids must be below this; balances are preallocated for all of them.
    pub max_accounts: u32,
    /// Maximum number of resting orders across all books.
    pub max_orders: u32,
    /// Maximum number of price levels per side of one book.
    pub max_levels_per_side: u32,
    /// The account that collects fees and pays rebates. The engine creates it; it must
    /// not be one of the `[[accounts]]`.
    pub fee_account: u32,
    /// How the engine's threads use the CPUs.
    pub core_mode: CoreMode,
    /// CPU core to pin the matcher thread to; unpinned if absent.
    pub matcher_core: Option<usize>,
    /// Journal on the matcher thread (each command is journaled, then applied) instead
    /// of on a journaler thread consuming the inbound ring in parallel: one busy thread
    /// fewer, for hosts with fewer cores than busy threads (optional, default false).
    #[serde(default)]
    pub journal_on_matcher: bool,
    /// Directory of journal segments and snapshots. A relative path is resolved against
    /// the process's current working directory, not the config file's directory.
    pub journal_dir: PathBuf,
    /// When journal writes are made durable.
    pub fsync: Fsync,
    /// Size at which a journal segment is closed and a new one started.
    pub segment_size_bytes: u64,
    /// Take a snapshot every this many commands.
    pub snapshot_interval_commands: u64,
    /// Delete journal segments wholly covered by a durable snapshot.
    pub prune_segments: bool,
}

/// `engine.core_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoreMode {
    /// `"shared"`: waiting threads spin briefly, then yield, then sleep briefly; for
    /// machines where the engine shares its cores (development, CI, two-core hosts).
    Shared,
    /// `"dedicated"`: waiting threads busy-spin on cores of their own; lowest latency.
    Dedicated,
}

/// `engine.fsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// `"always"`: fsync each batch before its replies are released (survives power loss).
    Always,
    /// `"os"`: written to the page cache before release (survives a process crash only).
    Os,
}

/// `[fix]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSection {
    /// Address the FIX acceptor listens on, e.g. `127.0.0.1:9878`.
    pub listen: SocketAddr,
    /// `[[fix.sessions]]`: the sessions allowed to log on.
    #[serde(default)]
    pub sessions: Vec<FixSession>,
    /// Directory of the sessions' sequence numbers and outbound message stores (optional;
    /// default: `fix` next to `engine.journal_dir`).
    #[serde(default)]
    pub store_dir: Option<PathBuf>,
    /// Maximum |SendingTime − now| accepted on every inbound message, Logon signatures
    /// included (optional, default 5000 ms).
    #[serde(default = "default_recv_window_ms")]
    pub recv_window_ms: u64,
    /// Accepted HeartBtInt(108) range in seconds (optional, default 1..=120).
    #[serde(default = "default_heartbeat_min_s")]
    pub heartbeat_min_s: u32,
    /// Upper bound of HeartBtInt(108), seconds (optional, default 120).
    #[serde(default = "default_heartbeat_max_s")]
    pub heartbeat_max_s: u32,
    /// Failed Logons per key id or source address, within `lockout_window_s`, before
    /// that key or address is locked out (optional, default 5).
    #[serde(default = "default_lockout_max_failures")]
    pub lockout_max_failures: u32,
    /// Window in which failed Logons are counted, seconds (optional, default 60).
    #[serde(default = "default_lockout_window_s")]
    pub lockout_window_s: u64,
    /// How long a locked-out key or address is refused, seconds (optional, default 300).
    #[serde(default = "default_lockout_duration_s")]
    pub lockout_duration_s: u64,
    /// Bound on a session's unsent outbound bytes; a client that reads slower than this
    /// is disconnected (optional, default 8 MiB).
    #[serde(default = "default_max_outbound_bytes")]
    pub max_outbound_bytes: usize,
    /// Simultaneous TCP connections accepted, logged on or not (optional, default 256).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Master secret from which the secrets of admin-created API keys are derived, at
    /// least 32 bytes (optional; without it the admin API cannot create keys and only
    /// static keys work). Rotating it invalidates every admin-created key.
    #[serde(default)]
    pub api_key_master: Option<Secret>,
}

fn default_recv_window_ms() -> u64 {
    5_000
}
fn default_heartbeat_min_s() -> u32 {
    1
}
fn default_heartbeat_max_s() -> u32 {
    120
}
fn default_lockout_max_failures() -> u32 {
    5
}
fn default_lockout_window_s() -> u64 {
    60
}
fn default_lockout_duration_s() -> u64 {
    300
}
fn default_max_outbound_bytes() -> usize {
    8 << 20
}
fn default_max_connections() -> usize {
    256
}

/// One `[[fix.sessions]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSession {
    /// The client's CompID (SenderCompID(49) on messages it sends).
    pub sender_comp_id: String,
    /// Our CompID (TargetCompID(56) on messages the client sends), e.g. `TACHYON`.
    pub target_comp_id: String,
    /// What the session is for (optional, default `"order-entry"`).
    #[serde(default)]
    pub kind: SessionKind,
    /// The `[[accounts]]` id this session trades for (order-entry sessions; ignored by
    /// the other kinds, where it may be omitted).
    #[serde(default)]
    pub account: u32,
    /// Drop-copy sessions: the accounts whose ExecutionReports it receives.
    #[serde(default)]
    pub accounts: Vec<u32>,
    /// How the Logon is authenticated.
    pub auth: Auth,
    /// Reset both sequence numbers at every Logon.
    pub reset_on_logon: bool,
    /// Cancel the session's open orders when it disconnects or logs out.
    pub cancel_on_disconnect: bool,
    /// Inbound message rate limit.
    pub throttle: Throttle,
}

/// `fix.sessions[].kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionKind {
    /// Places and manages orders for `account`; may also request market data.
    #[default]
    OrderEntry,
    /// Market data only (MarketDataRequest); order messages are refused.
    MarketData,
    /// Read-only copy of every ExecutionReport of `accounts`, whichever session caused
    /// it; application messages are refused.
    DropCopy,
}

/// `fix.sessions[].auth`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Auth {
    /// `{ kind = "none" }`: CompIDs alone identify the client (development only).
    None {},
    /// `{ kind = "hmac-sha256" [, key_id = "...", secret = "..."] }`: Username(553)
    /// carries an API key id and RawData(96) the base64 HMAC-SHA256 of the Logon's
    /// prehash. The keys are the ones the admin API creates for this session's CompID
    /// (derived from `fix.api_key_master`) plus, optionally, one static key given here
    /// (both `key_id` and `secret`, or neither).
    HmacSha256 {
        /// Static API key id, sent as Username(553). Unique across sessions; must not
        /// start with `tk_` (reserved for admin-created keys).
        #[serde(default)]
        key_id: Option<String>,
        /// The static key's shared secret.
        #[serde(default)]
        secret: Option<Secret>,
    },
}

/// A secret string. Its `Debug` output is redacted so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret held in memory (e.g. one derived for an API key).
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret's bytes, for computing the HMAC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `fix.sessions[].throttle`: a token bucket of `burst` tokens refilled at
/// `msgs_per_sec`. A message without a token is rejected; after `max_violations`
/// rejected messages in one connection the session is logged out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Sustained inbound messages per second.
    pub msgs_per_sec: u32,
    /// Messages that may arrive at once after a quiet period (bucket size).
    pub burst: u32,
    /// Throttled messages tolerated per connection before logout (0 = logout at once).
    pub max_violations: u32,
}

/// `[ops]`: the HTTP/WebSocket endpoint (public market data, health, readiness,
/// metrics). Every key but `listen` has a default, given in its description.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSection {
    /// Address of the HTTP endpoint (market data, WebSocket streams, health, metrics),
    /// e.g. `127.0.0.1:9880`.
    pub listen: SocketAddr,
    /// Public HTTP requests (and WebSocket connects) allowed per client IP per second,
    /// sustained; more get HTTP 429. Default 50.
    #[serde(default = "default_rate_limit_per_ip_per_sec")]
    pub rate_limit_per_ip_per_sec: u32,
    /// Requests a client IP may make at once after a quiet period (token bucket size).
    /// Default 100.
    #[serde(default = "default_rate_limit_burst")]
    pub rate_limit_burst: u32,
    /// Recent trades kept per symbol for `/api/v1/trades`. Default 1000.
    #[serde(default = "default_trade_tape_len")]
    pub trade_tape_len: u32,
    /// Klines kept per symbol and interval (1m, 5m, 1h, 1d) for `/api/v1/klines`.
    /// Default 1000.
    #[serde(default = "default_kline_len")]
    pub kline_len: u32,
    /// WebSocket clients connected at once; more are refused with HTTP 503. Default 1024.
    #[serde(default = "default_max_ws_clients")]
    pub max_ws_clients: u32,
    /// Batches queued per WebSocket stream for its clients (a depth diff, or up to 512
    /// trades released together); a client this far behind is disconnected (never
    /// buffered without bound). Default 1024.
    #[serde(default = "default_ws_buffer")]
    pub ws_buffer: u32,
    /// A WebSocket client whose socket accepts no message for this long is
    /// disconnected. Default 2000.
    #[serde(default = "default_ws_send_timeout_ms")]
    pub ws_send_timeout_ms: u32,
    /// `/ready` fails while the persister is more than this many commands behind the
    /// journal. Default 1_000_000.
    #[serde(default = "default_ready_max_persister_lag")]
    pub ready_max_persister_lag: u64,
    /// Bearer token of the admin API (`/admin/v1/...`), at least 24 bytes (optional;
    /// without it the admin API is disabled).
    #[serde(default)]
    pub admin_token: Option<Secret>,
}

fn default_rate_limit_per_ip_per_sec() -> u32 {
    50
}
fn default_rate_limit_burst() -> u32 {
    100
}
fn default_trade_tape_len() -> u32 {
    1000
}
fn default_kline_len() -> u32 {
    1000
}
fn default_max_ws_clients() -> u32 {
    1024
}
fn default_ws_buffer() -> u32 {
    1024
}
fn default_ws_send_timeout_ms() -> u32 {
    2000
}
fn default_ready_max_persister_lag() -> u64 {
    1_000_000
}

/// `[persister]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersisterSection {
    /// Run the PostgreSQL persister.
    pub enabled: bool,
    /// `postgres://` connection URL; required when `enabled`.
    pub database_url: Option<String>,
    /// Maximum rows per COPY batch (one transaction per batch).
    pub batch_size: u32,
}

/// One `[[assets]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Asset code, e.g. `BTC`: 1–16 upper-case ASCII letters or digits.
    pub code: String,
    /// Decimals of the smallest unit: balances are integers of `10^-decimals` (0–18).
    pub decimals: u8,
}

/// One `[[instruments]]` entry. Sizes are exact decimals in asset terms.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// Symbol, e.g. `BTC-USDT`.
    pub symbol: String,
    /// Code of the asset bought and sold.
    pub base: String,
    /// Code of the asset prices are quoted in (and fees are charged in).
    pub quote: String,
    /// Price increment, in quote per base.
    #[serde(deserialize_with = "decimal::positive")]
    pub tick_size: Decimal,
    /// Quantity increment, in base.
    #[serde(deserialize_with = "decimal::positive")]
    pub lot_size: Decimal,
    /// Smallest order quantity, in base; a multiple of `lot_size`.
    #[serde(deserialize_with = "decimal::positive")]
    pub min_qty: Decimal,
    /// Largest order quantity, in base; a multiple of `lot_size`.
    #[serde(deserialize_with = "decimal::positive")]
    pub max_qty: Decimal,
    /// Smallest price × quantity, in quote.
    #[serde(deserialize_with = "decimal::non_negative")]
    pub min_notional: Decimal,
    /// Maker fee in basis points of notional; negative is a rebate.
    pub maker_fee_bps: i32,
    /// Taker fee in basis points of notional.
    pub taker_fee_bps: i32,
    /// Static bounds on accepted prices.
    pub price_band: PriceBand,
}

/// `instruments[].price_band`: the lowest and highest accepted price, in quote per base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBand {
    /// Lowest accepted price; a multiple of `tick_size`.
    #[serde(deserialize_with = "decimal::positive")]
    pub min: Decimal,
    /// Highest accepted price; a multiple of `tick_size`.
    #[serde(deserialize_with = "decimal::positive")]
    pub max: Decimal,
}

/// One `[[accounts]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Account id (the engine's `AccountId`); below `engine.max_accounts`.
    pub id: u32,
    /// Human-readable name, unique.
    pub name: String,
    /// Initial deposits made at start-up, in file order, e.g. `{ USDT = "1000000" }`.
    #[serde(default, deserialize_with = "deposits")]
    pub deposits: Vec<Deposit>,
}

/// One initial deposit of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deposit {
    /// Asset code.
    pub asset: String,
    /// Amount in the asset's whole units (e.g. BTC, not satoshi).
    pub amount: Decimal,
}

/// Reads `deposits = { CODE = amount, ... }` keeping the file's order.
fn deposits<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Deposit>, D::Error> {
    struct DepositsVisitor;
    impl<'de> Visitor<'de> for DepositsVisitor {
        type Value = Vec<Deposit>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of asset code = amount")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Deposit>, A::Error> {
            let mut out = Vec::new();
            while let Some(asset) = map.next_key::<String>()? {
                let decimal::NonNegative(amount) = map.next_value()?;
                out.push(Deposit { asset, amount });
            }
            Ok(out)
        }
    }
    d.deserialize_map(DepositsVisitor)
}
