//! `/metrics`: counters from the released events, pipeline sequences, server counters
//! and release-delay quantiles, encoded as OpenMetrics/Prometheus text by
//! `prometheus-client` from a snapshot taken under the state lock.

use std::fmt;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tachyon_engine::{CancelReason, Event, RejectReason};
use tachyon_pipeline::OutEvent;

use crate::state::Shared;

/// Reasons are counted by their stable code (`as u8`), below this.
const CODES: usize = 64;

/// Event counters, written by the consumer under the state lock.
#[derive(Clone, Debug)]
pub(crate) struct Counters {
    pub(crate) events: u64,
    pub(crate) commands: u64,
    pub(crate) last_cmd_seq: u64,
    pub(crate) orders_accepted: u64,
    pub(crate) orders_rejected: [u64; CODES],
    pub(crate) orders_canceled: [u64; CODES],
    pub(crate) cancel_rejected: [u64; CODES],
    pub(crate) admin_rejected: [u64; CODES],
    pub(crate) trades: Vec<u64>,
}

impl Counters {
    pub(crate) fn new(symbols: usize) -> Counters {
        Counters {
            events: 0,
            commands: 0,
            last_cmd_seq: 0,
            orders_accepted: 0,
            orders_rejected: [0; CODES],
            orders_canceled: [0; CODES],
            cancel_rejected: [0; CODES],
            admin_rejected: [0; CODES],
            trades: vec![0; symbols],
        }
    }

    pub(crate) fn count(&mut self, ev: &OutEvent) {
        self.events += 1;
        self.last_cmd_seq = ev.cmd_seq;
        if ev.last {
            self.commands += 1;
        }
        let code = |r: RejectReason| (r as u8 as usize).min(CODES - 1);
        match &ev.event {
            Event::OrderAccepted { .. } => self.orders_accepted += 1,
            Event::OrderRejected { reason, .. } => self.orders_rejected[code(*reason)] += 1,
            Event::OrderCanceled { reason, .. } => {
                self.orders_canceled[(*reason as u8 as usize).min(CODES - 1)] += 1
            }
            Event::CancelRejected { reason, .. } => self.cancel_rejected[code(*reason)] += 1,
            Event::AdminRejected { reason, .. } => self.admin_rejected[code(*reason)] += 1,
            Event::Trade(t) => {
                if let Some(n) = self.trades.get_mut(t.symbol.0 as usize) {
                    *n += 1;
                }
            }
            _ => {}
        }
    }
}

/// Every reject reason, with its metric label.
const REJECT_REASONS: [RejectReason; 26] = [
    RejectReason::UnknownAccount,
    RejectReason::UnknownSymbol,
    RejectReason::UnknownAsset,
    RejectReason::PriceOutOfBand,
    RejectReason::InvalidQuantity,
    RejectReason::BelowMinQty,
    RejectReason::BelowMinNotional,
    RejectReason::InsufficientBalance,
    RejectReason::PostOnlyWouldCross,
    RejectReason::UnknownOrder,
    RejectReason::NotOwner,
    RejectReason::DuplicateClOrdId,
    RejectReason::InvalidOrderType,
    RejectReason::InvalidTimeInForce,
    RejectReason::InvalidExpireTime,
    RejectReason::MarketBuyNeedsBudgetOrProtection,
    RejectReason::CapacityExceeded,
    RejectReason::InvalidAmount,
    RejectReason::AccountExists,
    RejectReason::InvalidAccount,
    RejectReason::SymbolHalted,
    RejectReason::AccountSuspended,
    RejectReason::ApiKeyExists,
    RejectReason::UnknownApiKey,
    RejectReason::TooManyApiKeys,
    RejectReason::InvalidApiKey,
];

pub(crate) fn reject_label(r: RejectReason) -> &'static str {
    match r {
        RejectReason::UnknownAccount => "unknown_account",
        RejectReason::UnknownSymbol => "unknown_symbol",
        RejectReason::UnknownAsset => "unknown_asset",
        RejectReason::PriceOutOfBand => "price_out_of_band",
        RejectReason::InvalidQuantity => "invalid_quantity",
        RejectReason::BelowMinQty => "below_min_qty",
        RejectReason::BelowMinNotional => "below_min_notional",
        RejectReason::InsufficientBalance => "insufficient_balance",
        RejectReason::PostOnlyWouldCross => "post_only_would_cross",
        RejectReason::UnknownOrder => "unknown_order",
        RejectReason::NotOwner => "not_owner",
        RejectReason::DuplicateClOrdId => "duplicate_cl_ord_id",
        RejectReason::InvalidOrderType => "invalid_order_type",
        RejectReason::InvalidTimeInForce => "invalid_time_in_force",
        RejectReason::InvalidExpireTime => "invalid_expire_time",
        RejectReason::MarketBuyNeedsBudgetOrProtection => "market_buy_needs_budget_or_protection",
        RejectReason::CapacityExceeded => "capacity_exceeded",
        RejectReason::InvalidAmount => "invalid_amount",
        RejectReason::AccountExists => "account_exists",
        RejectReason::InvalidAccount => "invalid_account",
        RejectReason::SymbolHalted => "symbol_halted",
        RejectReason::AccountSuspended => "account_suspended",
        RejectReason::ApiKeyExists => "api_key_exists",
        RejectReason::UnknownApiKey => "unknown_api_key",
        RejectReason::TooManyApiKeys => "too_many_api_keys",
        RejectReason::InvalidApiKey => "invalid_api_key",
    }
}

const CANCEL_REASONS: [CancelReason; 6] = [
    CancelReason::UserRequest,
    CancelReason::MassCancel,
    CancelReason::Ioc,
    CancelReason::Fok,
    CancelReason::Expired,
    CancelReason::SelfTrade,
];

fn cancel_label(r: CancelReason) -> &'static str {
    match r {
        CancelReason::UserRequest => "user_request",
        CancelReason::MassCancel => "mass_cancel",
        CancelReason::Ioc => "ioc",
        CancelReason::Fok => "fok",
        CancelReason::Expired => "expired",
        CancelReason::SelfTrade => "self_trade",
    }
}

/// Quantiles exported for the release delay.
const QUANTILES: [(f64, &str); 5] = [
    (0.5, "0.5"),
    (0.9, "0.9"),
    (0.99, "0.99"),
    (0.999, "0.999"),
    (1.0, "1"),
];

/// Everything `/metrics` shows, copied at one instant.
#[derive(Debug)]
struct Snapshot {
    counters: Counters,
    symbols: Vec<String>,
    delay_quantiles_s: Vec<(&'static str, f64)>,
    delay_count: u64,
    applied_seq: u64,
    durable_seq: u64,
    snapshot_seq: u64,
    journal_failed: bool,
    persister_lag: Option<u64>,
    http_requests: u64,
    http_rate_limited: u64,
    ws_clients: u64,
    ws_connects: u64,
    ws_refused: u64,
    ws_dropped_slow: u64,
    md_failed: bool,
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// A counter family with one label.
fn counter_family<'a>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, value)];
        ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let c = &self.counters;
        counter(
            &mut e,
            "tachyon_events",
            "Engine events released to market data.",
            c.events,
        )?;
        counter(
            &mut e,
            "tachyon_commands",
            "Commands whose events were all released.",
            c.commands,
        )?;
        counter(
            &mut e,
            "tachyon_orders_accepted",
            "New orders accepted.",
            c.orders_accepted,
        )?;
        counter_family(
            &mut e,
            "tachyon_orders_rejected",
            "New orders rejected, by reason.",
            "reason",
            REJECT_REASONS
                .iter()
                .map(|r| (reject_label(*r), c.orders_rejected[*r as u8 as usize])),
        )?;
        counter_family(
            &mut e,
            "tachyon_cancel_rejected",
            "Cancel and replace requests rejected, by reason.",
            "reason",
            REJECT_REASONS
                .iter()
                .map(|r| (reject_label(*r), c.cancel_rejected[*r as u8 as usize])),
        )?;
        counter_family(
            &mut e,
            "tachyon_admin_rejected",
            "Account, deposit and withdrawal commands rejected, by reason.",
            "reason",
            REJECT_REASONS
                .iter()
                .map(|r| (reject_label(*r), c.admin_rejected[*r as u8 as usize])),
        )?;
        counter_family(
            &mut e,
            "tachyon_orders_canceled",
            "Orders done without a full fill, by reason.",
            "reason",
            CANCEL_REASONS
                .iter()
                .map(|r| (cancel_label(*r), c.orders_canceled[*r as u8 as usize])),
        )?;
        counter_family(
            &mut e,
            "tachyon_trades",
            "Trades, by symbol.",
            "symbol",
            self.symbols
                .iter()
                .zip(&c.trades)
                .map(|(s, n)| (s.as_str(), *n)),
        )?;
        gauge(
            &mut e,
            "tachyon_applied_seq",
            "Highest command sequence applied by the matcher.",
            self.applied_seq as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_durable_seq",
            "Highest command sequence durable in the journal.",
            self.durable_seq as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_snapshot_seq",
            "Highest command sequence covered by a written snapshot.",
            self.snapshot_seq as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_md_seq",
            "Sequence of the last command whose events market data applied.",
            c.last_cmd_seq as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_unreleased_commands",
            "Commands applied by the matcher but not yet durable (their events wait in the outbound ring).",
            self.applied_seq.saturating_sub(self.durable_seq) as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_md_backlog_commands",
            "Commands applied by the matcher whose events market data has not yet applied (outbound ring occupancy as seen by market data, in commands).",
            self.applied_seq.saturating_sub(c.last_cmd_seq) as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_journal_failed",
            "1 if the journal failed (nothing more becomes durable).",
            self.journal_failed as i64,
        )?;
        gauge(
            &mut e,
            "tachyon_md_failed",
            "1 if market data stopped after an internal error.",
            self.md_failed as i64,
        )?;
        if let Some(lag) = self.persister_lag {
            gauge(
                &mut e,
                "tachyon_persister_lag_commands",
                "Commands the persister is behind the journal.",
                lag as i64,
            )?;
        }
        {
            let mut m = e.encode_descriptor(
                "tachyon_release_delay_seconds",
                "Per command: time from the command's timestamp to market data applying its last event (hdrhistogram since start), by quantile.",
                None,
                MetricType::Gauge,
            )?;
            for (q, v) in &self.delay_quantiles_s {
                let labels = [("quantile", *q)];
                ConstGauge::new(*v).encode(m.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut e,
            "tachyon_release_delay_samples",
            "Commands measured by tachyon_release_delay_seconds.",
            self.delay_count,
        )?;
        counter(
            &mut e,
            "tachyon_http_requests",
            "Public HTTP requests and WebSocket connects.",
            self.http_requests,
        )?;
        counter(
            &mut e,
            "tachyon_http_rate_limited",
            "Public requests refused with 429.",
            self.http_rate_limited,
        )?;
        gauge(
            &mut e,
            "tachyon_ws_clients",
            "WebSocket clients connected.",
            self.ws_clients as i64,
        )?;
        counter(
            &mut e,
            "tachyon_ws_connects",
            "WebSocket connections accepted.",
            self.ws_connects,
        )?;
        counter(
            &mut e,
            "tachyon_ws_refused",
            "WebSocket connections refused (max_ws_clients).",
            self.ws_refused,
        )?;
        counter(
            &mut e,
            "tachyon_ws_dropped_slow",
            "WebSocket clients disconnected for falling behind.",
            self.ws_dropped_slow,
        )?;
        Ok(())
    }
}

/// The `/metrics` body.
pub(crate) fn render(shared: &Shared) -> String {
    let (counters, delay_quantiles_s, delay_count) = {
        let core = shared.core();
        let h = &core.release_delay_ns;
        let qs = if h.is_empty() {
            Vec::new()
        } else {
            QUANTILES
                .iter()
                .map(|(q, label)| (*label, h.value_at_quantile(*q) as f64 / 1e9))
                .collect()
        };
        (core.counters.clone(), qs, h.len())
    };
    let st = &shared.stats;
    let sv = &shared.server;
    let snap = Snapshot {
        counters,
        symbols: shared.fmts.iter().map(|f| f.name.clone()).collect(),
        delay_quantiles_s,
        delay_count,
        applied_seq: st.applied_seq.load(Ordering::Acquire),
        durable_seq: st.durable_seq.load(Ordering::Acquire),
        snapshot_seq: st.snapshot_seq.load(Ordering::Acquire),
        journal_failed: st.journal_failed.load(Ordering::Acquire),
        persister_lag: shared.persister_lag.as_ref().and_then(|f| f()),
        http_requests: sv.http_requests.load(Ordering::Relaxed),
        http_rate_limited: sv.http_rate_limited.load(Ordering::Relaxed),
        ws_clients: shared.ws_clients.load(Ordering::Relaxed) as u64,
        ws_connects: sv.ws_connects.load(Ordering::Relaxed),
        ws_refused: sv.ws_refused.load(Ordering::Relaxed),
        ws_dropped_slow: sv.ws_dropped_slow.load(Ordering::Relaxed),
        md_failed: shared.md_failed.load(Ordering::Relaxed),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snap));
    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}
