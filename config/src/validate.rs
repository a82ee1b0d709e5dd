//! Semantic checks run after parsing: everything serde's types cannot say. The first
//! problem found is returned, named by its key path.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tachyon_engine::{AssetSpec, EngineConfig, MAX_FEE_BPS};

use crate::convert::{engine_config_checked, instrument_spec};
use crate::decimal::{multiple_of, Inexact};
use crate::error::{problem, Problem};
use crate::model::{Auth, Config, FixSession, SessionKind};

/// Ring capacities accepted (powers of two in this range).
const RING_SIZE_MIN: u32 = 16;
const RING_SIZE_MAX: u32 = 1 << 24;
/// Upper bounds that keep start-up allocation sane.
const MAX_ACCOUNTS_LIMIT: u32 = 1 << 24;
const MAX_ORDERS_LIMIT: u32 = 100_000_000;
const MAX_LEVELS_LIMIT: u32 = 1 << 24;
const SEGMENT_SIZE_MIN_BYTES: u64 = 64 << 10;
const SEGMENT_SIZE_MAX_BYTES: u64 = 1 << 30;
const BATCH_SIZE_MAX: u32 = 1_000_000;
const MSGS_PER_SEC_MAX: u32 = 1_000_000;
const TRADE_TAPE_LEN_MAX: u32 = 1_000_000;
const KLINE_LEN_MAX: u32 = 100_000;
const MAX_WS_CLIENTS_LIMIT: u32 = 100_000;
const WS_BUFFER_MAX: u32 = 1 << 20;
const WS_SEND_TIMEOUT_MS_MAX: u32 = 600_000;
/// Asset decimals accepted; 10^18 still fits an i64 unit count of 9.2.
pub(crate) const ASSET_DECIMALS_MAX: u8 = 18;
const ASSET_CODE_MAX_LEN: usize = 16;
const SYMBOL_MAX_LEN: usize = 32;
const COMP_ID_MAX_LEN: usize = 64;
const SECRET_MIN_LEN: usize = 16;
/// Minimum length of `fix.api_key_master`.
pub const API_KEY_MASTER_MIN_LEN: usize = 32;

pub(crate) fn validate(c: &Config) -> Result<(), Problem> {
    engine(c)?;
    endpoints(c)?;
    ops(c)?;
    persister(c)?;
    assets(c)?;
    instruments(c)?;
    accounts(c)?;
    sessions(c)?;
    log(c)?;
    // Backstop: the engine's own checks on the whole converted configuration.
    let engine_config: EngineConfig = engine_config_checked(c)?;
    engine_config
        .validate()
        .or_else(|e| problem("engine", format!("rejected by the engine: {e}")))
}

fn log(c: &Config) -> Result<(), Problem> {
    let level = &c.log.level;
    if level.trim().is_empty() {
        return problem("log.level", "must not be empty (e.g. \"info\")");
    }
    if let Some(ch) = level
        .chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || "_:=,-.[]{}*\" ".contains(*ch)))
    {
        return problem(
            "log.level",
            format!("{ch:?} cannot appear in a filter such as \"info\" or \"info,tachyon_fix_gateway=debug\""),
        );
    }
    Ok(())
}

fn range_u32(key: &str, value: u32, min: u32, max: u32) -> Result<(), Problem> {
    if value < min || value > max {
        return problem(key, format!("must be between {min} and {max}, got {value}"));
    }
    Ok(())
}

fn engine(c: &Config) -> Result<(), Problem> {
    let e = &c.engine;
    for (key, size) in [
        ("engine.inbound_ring_size", e.inbound_ring_size),
        ("engine.outbound_ring_size", e.outbound_ring_size),
    ] {
        if !size.is_power_of_two() || !(RING_SIZE_MIN..=RING_SIZE_MAX).contains(&size) {
            return problem(
                key,
                format!(
                    "must be a power of two between {RING_SIZE_MIN} and {RING_SIZE_MAX}, got {size}"
                ),
            );
        }
    }
    range_u32("engine.max_accounts", e.max_accounts, 1, MAX_ACCOUNTS_LIMIT)?;
    range_u32("engine.max_orders", e.max_orders, 1, MAX_ORDERS_LIMIT)?;
    range_u32(
        "engine.max_levels_per_side",
        e.max_levels_per_side,
        1,
        MAX_LEVELS_LIMIT,
    )?;
    if e.fee_account >= e.max_accounts {
        return problem(
            "engine.fee_account",
            format!(
                "must be below engine.max_accounts ({}), got {}",
                e.max_accounts, e.fee_account
            ),
        );
    }
    if e.journal_dir.as_os_str().is_empty() {
        return problem("engine.journal_dir", "must not be empty");
    }
    if !(SEGMENT_SIZE_MIN_BYTES..=SEGMENT_SIZE_MAX_BYTES).contains(&e.segment_size_bytes) {
        return problem(
            "engine.segment_size_bytes",
            format!(
                "must be between {SEGMENT_SIZE_MIN_BYTES} and {SEGMENT_SIZE_MAX_BYTES}, got {}",
                e.segment_size_bytes
            ),
        );
    }
    if e.snapshot_interval_commands == 0 {
        return problem("engine.snapshot_interval_commands", "must be at least 1");
    }
    Ok(())
}

fn endpoints(c: &Config) -> Result<(), Problem> {
    if c.ops.listen == c.fix.listen && c.ops.listen.port() != 0 {
        return problem("ops.listen", format!("{} is also fix.listen", c.ops.listen));
    }
    Ok(())
}

fn ops(c: &Config) -> Result<(), Problem> {
    let o = &c.ops;
    if let Some(t) = &o.admin_token {
        if t.expose().len() < 24 || !printable(t.expose()) {
            return problem(
                "ops.admin_token",
                "must be at least 24 printable ASCII characters without spaces",
            );
        }
    }
    range_u32(
        "ops.rate_limit_per_ip_per_sec",
        o.rate_limit_per_ip_per_sec,
        1,
        MSGS_PER_SEC_MAX,
    )?;
    range_u32(
        "ops.rate_limit_burst",
        o.rate_limit_burst,
        1,
        MSGS_PER_SEC_MAX,
    )?;
    range_u32(
        "ops.trade_tape_len",
        o.trade_tape_len,
        1,
        TRADE_TAPE_LEN_MAX,
    )?;
    range_u32("ops.kline_len", o.kline_len, 1, KLINE_LEN_MAX)?;
    range_u32(
        "ops.max_ws_clients",
        o.max_ws_clients,
        1,
        MAX_WS_CLIENTS_LIMIT,
    )?;
    range_u32("ops.ws_buffer", o.ws_buffer, 1, WS_BUFFER_MAX)?;
    range_u32(
        "ops.ws_send_timeout_ms",
        o.ws_send_timeout_ms,
        1,
        WS_SEND_TIMEOUT_MS_MAX,
    )
}

fn persister(c: &Config) -> Result<(), Problem> {
    let p = &c.persister;
    match &p.database_url {
        None if p.enabled => {
            return problem(
                "persister.database_url",
                "missing required key (persister.enabled = true)",
            )
        }
        Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
            return problem(
                "persister.database_url",
                "must be a postgres:// or postgresql:// URL",
            )
        }
        _ => {}
    }
    range_u32("persister.batch_size", p.batch_size, 1, BATCH_SIZE_MAX)
}

fn assets(c: &Config) -> Result<(), Problem> {
    if c.assets.is_empty() {
        return problem("assets", "at least one [[assets]] entry is required");
    }
    if c.assets.len() > u16::MAX as usize {
        return problem("assets", format!("at most {} assets", u16::MAX));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, a) in c.assets.iter().enumerate() {
        let code_ok = !a.code.is_empty()
            && a.code.len() <= ASSET_CODE_MAX_LEN
            && a.code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !code_ok {
            return problem(
                format!("assets[{i}].code"),
                format!(
                    "must be 1 to {ASSET_CODE_MAX_LEN} upper-case letters or digits, got {:?}",
                    a.code
                ),
            );
        }
        if let Some(first) = seen.insert(&a.code, i) {
            return problem(
                format!("assets[{i}].code"),
                format!("duplicate asset code {:?} (also assets[{first}])", a.code),
            );
        }
        if a.decimals > ASSET_DECIMALS_MAX {
            return problem(
                format!("assets[{i}].decimals"),
                format!("must be at most {ASSET_DECIMALS_MAX}, got {}", a.decimals),
            );
        }
    }
    Ok(())
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

fn instruments(c: &Config) -> Result<(), Problem> {
    if c.instruments.len() > u16::MAX as usize {
        return problem("instruments", format!("at most {} instruments", u16::MAX));
    }
    let asset_specs: Vec<AssetSpec> = c
        .assets
        .iter()
        .map(|a| AssetSpec {
            code: a.code.clone(),
            decimals: a.decimals,
        })
        .collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, ins) in c.instruments.iter().enumerate() {
        let at = |field: &str| format!("instruments[{i}].{field}");
        if ins.symbol.is_empty() || ins.symbol.len() > SYMBOL_MAX_LEN || !printable(&ins.symbol) {
            return problem(
                at("symbol"),
                format!(
                    "must be 1 to {SYMBOL_MAX_LEN} printable ASCII characters without spaces, got {:?}",
                    ins.symbol
                ),
            );
        }
        if let Some(first) = seen.insert(&ins.symbol, i) {
            return problem(
                at("symbol"),
                format!(
                    "duplicate symbol {:?} (also instruments[{first}])",
                    ins.symbol
                ),
            );
        }
        for (field, value) in [
            ("maker_fee_bps", ins.maker_fee_bps),
            ("taker_fee_bps", ins.taker_fee_bps),
        ] {
            if value.abs() > MAX_FEE_BPS {
                return problem(
                    at(field),
                    format!("must be within ±{MAX_FEE_BPS} bps, got {value}"),
                );
            }
        }
        if ins.taker_fee_bps < 0 {
            return problem(
                at("taker_fee_bps"),
                format!(
                    "must not be negative (only makers get rebates), got {}",
                    ins.taker_fee_bps
                ),
            );
        }
        if ins.maker_fee_bps < 0 && -ins.maker_fee_bps > ins.taker_fee_bps {
            return problem(
                at("maker_fee_bps"),
                format!(
                    "rebate of {} bps exceeds the taker fee of {} bps; the fee account would pay out",
                    -ins.maker_fee_bps, ins.taker_fee_bps
                ),
            );
        }
        // Grids, unit conversions and capacity.
        let spec = instrument_spec(c, i)?;
        // Backstop: the engine's checks, on this instrument alone so the key is precise.
        let single = EngineConfig {
            assets: asset_specs.clone(),
            instruments: vec![spec],
            max_accounts: c.engine.max_accounts,
            max_orders: c.engine.max_orders,
            max_levels_per_side: c.engine.max_levels_per_side,
            fee_account: tachyon_engine::AccountId(c.engine.fee_account),
        };
        single.validate().or_else(|e| {
            problem(
                format!("instruments[{i}]"),
                format!("rejected by the engine: {e}"),
            )
        })?;
    }
    Ok(())
}

fn accounts(c: &Config) -> Result<(), Problem> {
    let mut ids: BTreeMap<u32, usize> = BTreeMap::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    // Per-asset totals, so the engine's conservation sums cannot overflow either.
    let mut totals = vec![0i64; c.assets.len()];
    for (i, a) in c.accounts.iter().enumerate() {
        if let Some(first) = ids.insert(a.id, i) {
            return problem(
                format!("accounts[{i}].id"),
                format!("duplicate account id {} (also accounts[{first}])", a.id),
            );
        }
        if a.id == c.engine.fee_account {
            return problem(
                format!("accounts[{i}].id"),
                format!(
                    "account {} is engine.fee_account, which the engine creates itself",
                    a.id
                ),
            );
        }
        if a.id >= c.engine.max_accounts {
            return problem(
                format!("accounts[{i}].id"),
                format!(
                    "must be below engine.max_accounts ({}), got {}",
                    c.engine.max_accounts, a.id
                ),
            );
        }
        if a.name.trim().is_empty() {
            return problem(format!("accounts[{i}].name"), "must not be empty");
        }
        if let Some(first) = names.insert(&a.name, i) {
            return problem(
                format!("accounts[{i}].name"),
                format!(
                    "duplicate account name {:?} (also accounts[{first}])",
                    a.name
                ),
            );
        }
        for d in &a.deposits {
            let key = format!("accounts[{i}].deposits.{}", d.asset);
            let Some(asset_index) = c.assets.iter().position(|x| x.code == d.asset) else {
                return problem(
                    key,
                    format!("unknown asset {:?} (not in [[assets]])", d.asset),
                );
            };
            let asset = &c.assets[asset_index];
            let units = match multiple_of(d.amount, Decimal::new(1, asset.decimals as u32)) {
                Ok(units) => units,
                Err(Inexact::NotMultiple) => {
                    return problem(
                        key,
                        format!(
                            "{} {code} is finer than {code}'s {} decimals",
                            d.amount,
                            asset.decimals,
                            code = asset.code
                        ),
                    )
                }
                Err(Inexact::TooLarge) => {
                    return problem(
                        key,
                        format!(
                            "{} {} is too large for 64-bit engine units",
                            d.amount, asset.code
                        ),
                    )
                }
            };
            totals[asset_index] = match totals[asset_index].checked_add(units) {
                Some(t) => t,
                None => {
                    return problem(
                        key,
                        format!(
                            "total initial deposits of {} overflow 64-bit units",
                            asset.code
                        ),
                    )
                }
            };
        }
    }
    Ok(())
}

fn comp_id(key: String, value: &str) -> Result<(), Problem> {
    if value.is_empty() || value.len() > COMP_ID_MAX_LEN || !printable(value) {
        return problem(
            key,
            format!(
                "must be 1 to {COMP_ID_MAX_LEN} printable ASCII characters without spaces, got {value:?}"
            ),
        );
    }
    Ok(())
}

fn sessions(c: &Config) -> Result<(), Problem> {
    let f = &c.fix;
    if !(1..=3_600_000).contains(&f.recv_window_ms) {
        return problem(
            "fix.recv_window_ms",
            format!("must be between 1 and 3600000, got {}", f.recv_window_ms),
        );
    }
    range_u32("fix.heartbeat_min_s", f.heartbeat_min_s, 1, 3600)?;
    range_u32(
        "fix.heartbeat_max_s",
        f.heartbeat_max_s,
        f.heartbeat_min_s,
        3600,
    )?;
    range_u32(
        "fix.lockout_max_failures",
        f.lockout_max_failures,
        1,
        1_000_000,
    )?;
    if f.lockout_window_s == 0 {
        return problem("fix.lockout_window_s", "must be at least 1");
    }
    if f.lockout_duration_s == 0 {
        return problem("fix.lockout_duration_s", "must be at least 1");
    }
    if !(64 << 10..=1 << 30).contains(&f.max_outbound_bytes) {
        return problem(
            "fix.max_outbound_bytes",
            format!(
                "must be between 65536 and 1073741824, got {}",
                f.max_outbound_bytes
            ),
        );
    }
    if !(1..=65_536).contains(&f.max_connections) {
        return problem(
            "fix.max_connections",
            format!("must be between 1 and 65536, got {}", f.max_connections),
        );
    }
    if let Some(m) = &f.api_key_master {
        if m.expose().len() < API_KEY_MASTER_MIN_LEN || !printable(m.expose()) {
            return problem(
                "fix.api_key_master",
                format!(
                    "must be at least {API_KEY_MASTER_MIN_LEN} printable ASCII characters without spaces"
                ),
            );
        }
    }
    let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut key_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in c.fix.sessions.iter().enumerate() {
        let at = |field: &str| format!("fix.sessions[{i}].{field}");
        comp_id(at("sender_comp_id"), &s.sender_comp_id)?;
        comp_id(at("target_comp_id"), &s.target_comp_id)?;
        if s.sender_comp_id == s.target_comp_id {
            return problem(at("target_comp_id"), "must differ from sender_comp_id");
        }
        if let Some(first) = pairs.insert((&s.sender_comp_id, &s.target_comp_id), i) {
            return problem(
                at("sender_comp_id"),
                format!(
                    "duplicate CompID pair {} -> {} (also fix.sessions[{first}])",
                    s.sender_comp_id, s.target_comp_id
                ),
            );
        }
        match s.kind {
            SessionKind::OrderEntry => {
                if !c.accounts.iter().any(|a| a.id == s.account) {
                    return problem(
                        at("account"),
                        format!("unknown account {} (not in [[accounts]])", s.account),
                    );
                }
                if !s.accounts.is_empty() {
                    return problem(at("accounts"), "only for kind = \"drop-copy\"");
                }
            }
            SessionKind::DropCopy => {
                if s.accounts.is_empty() {
                    return problem(
                        at("accounts"),
                        "a drop-copy session needs at least one account",
                    );
                }
                for a in &s.accounts {
                    if !c.accounts.iter().any(|x| x.id == *a) {
                        return problem(
                            at("accounts"),
                            format!("unknown account {a} (not in [[accounts]])"),
                        );
                    }
                }
            }
            SessionKind::MarketData => {
                if !s.accounts.is_empty() {
                    return problem(at("accounts"), "only for kind = \"drop-copy\"");
                }
            }
        }
        auth(s, i, &mut key_ids)?;
        let t = &s.throttle;
        range_u32(
            &at("throttle.msgs_per_sec"),
            t.msgs_per_sec,
            1,
            MSGS_PER_SEC_MAX,
        )?;
        range_u32(&at("throttle.burst"), t.burst, 1, MSGS_PER_SEC_MAX)?;
    }
    Ok(())
}

fn auth<'c>(
    s: &'c FixSession,
    i: usize,
    key_ids: &mut BTreeMap<&'c str, usize>,
) -> Result<(), Problem> {
    let at = |field: &str| format!("fix.sessions[{i}].auth.{field}");
    match &s.auth {
        Auth::None {} => Ok(()),
        Auth::HmacSha256 { key_id, secret } => {
            let (key_id, secret) = match (key_id, secret) {
                (None, None) => return Ok(()),
                (Some(k), Some(s)) => (k, s),
                (Some(_), None) => return problem(at("secret"), "required when key_id is given"),
                (None, Some(_)) => return problem(at("key_id"), "required when secret is given"),
            };
            if key_id.is_empty() || !printable(key_id) {
                return problem(
                    at("key_id"),
                    "must be non-empty printable ASCII without spaces",
                );
            }
            if key_id.starts_with(tachyon_engine::ApiKeyId::PREFIX) {
                return problem(
                    at("key_id"),
                    format!(
                        "must not start with {:?} (reserved for keys the admin API creates)",
                        tachyon_engine::ApiKeyId::PREFIX
                    ),
                );
            }
            if let Some(first) = key_ids.insert(key_id, i) {
                return problem(
                    at("key_id"),
                    format!("duplicate key id {key_id:?} (also fix.sessions[{first}])"),
                );
            }
            if secret.expose().len() < SECRET_MIN_LEN {
                return problem(
                    at("secret"),
                    format!("must be at least {SECRET_MIN_LEN} bytes long"),
                );
            }
            Ok(())
        }
    }
}
