//! The shipped configurations load, convert to exact engine units, and the unit helpers
//! never round.

mod common;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tachyon_config::{Auth, Config, CoreMode, Fsync, Instrument, PriceBand};
use tachyon_engine::{AccountId, AssetId, SymbolId};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn load(name: &str) -> Config {
    Config::load(&shipped(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn dev_config_loads_and_converts_exactly() {
    let c = load("dev.toml");
    let e = c.engine_config();
    e.validate().expect("validated at load");

    let codes: Vec<_> = e
        .assets
        .iter()
        .map(|a| (a.code.as_str(), a.decimals))
        .collect();
    assert_eq!(codes, [("USDT", 8), ("BTC", 10), ("ETH", 8)]);
    assert_eq!(
        (e.max_accounts, e.max_orders, e.max_levels_per_side),
        (10_000, 1_000_000, 65_536)
    );
    assert_eq!(e.fee_account, AccountId(0));

    // (symbol, base, quote, quote units per tick-lot, base units per lot, min lots,
    //  max lots, min notional units, min ticks, max ticks, maker bps, taker bps)
    type Row = (
        &'static str,
        u16,
        u16,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i32,
        i32,
    );
    let want: [Row; 3] = [
        // 0.01 × 0.00001 × 10^8 = 10 USDT units; 0.00001 × 10^10 = 100,000 BTC units;
        // max 1000 BTC = 10^8 lots; 5 USDT = 5e8 units; band 1..10,000,000 USDT.
        (
            "BTC-USDT",
            1,
            0,
            10,
            100_000,
            1,
            100_000_000,
            500_000_000,
            100,
            1_000_000_000,
            1,
            5,
        ),
        // 0.01 × 0.0001 × 10^8 = 100; band 0.01..1,000,000 USDT.
        (
            "ETH-USDT",
            2,
            0,
            100,
            10_000,
            1,
            100_000_000,
            500_000_000,
            1,
            100_000_000,
            -1,
            5,
        ),
        // 0.000001 × 0.001 × 10^10 = 10 BTC units; 0.0001 BTC = 10^6 units.
        (
            "ETH-BTC", 2, 1, 10, 100_000, 1, 10_000_000, 1_000_000, 100, 1_000_000, 2, 6,
        ),
    ];
    assert_eq!(e.instruments.len(), want.len());
    for (spec, w) in e.instruments.iter().zip(want) {
        let got: Row = (
            w.0,
            spec.base.0,
            spec.quote.0,
            spec.quote_units_per_tick_lot,
            spec.base_units_per_lot,
            spec.min_qty_lots,
            spec.max_qty_lots,
            spec.min_notional_quote_units,
            spec.min_price_ticks,
            spec.max_price_ticks,
            spec.maker_fee_bps,
            spec.taker_fee_bps,
        );
        assert_eq!(spec.symbol, w.0);
        assert_eq!(got, w, "{}", w.0);
    }

    assert_eq!(c.engine.core_mode, CoreMode::Shared);
    assert_eq!(c.engine.fsync, Fsync::Os);
    assert_eq!(c.engine.journal_dir, Path::new("data/dev/journal"));
    assert_eq!(c.fix.listen.to_string(), "127.0.0.1:9878");
    assert_eq!(c.ops.listen.to_string(), "127.0.0.1:9880");
    assert_eq!(c.ops.max_ws_clients, 256);
    assert_eq!(c.ops.trade_tape_len, 1_000);
    assert!(!c.persister.enabled);

    // Three funded accounts, deposits in file order.
    let deposits = c.initial_deposits();
    assert_eq!(deposits.len(), 9);
    for (n, account) in [1u32, 2, 3].into_iter().enumerate() {
        assert_eq!(
            deposits[n * 3..n * 3 + 3],
            [
                (AccountId(account), AssetId(0), 1_000_000 * 100_000_000),
                (AccountId(account), AssetId(1), 100 * 10_000_000_000),
                (AccountId(account), AssetId(2), 1_000 * 100_000_000),
            ]
        );
    }

    // Sessions: DEV1 and DEV2 unauthenticated, MM1 with an HMAC key; all to TACHYON.
    let sessions: Vec<_> = c
        .fix
        .sessions
        .iter()
        .map(|s| {
            (
                s.sender_comp_id.as_str(),
                s.target_comp_id.as_str(),
                s.account,
                s.reset_on_logon,
            )
        })
        .collect();
    assert_eq!(
        sessions,
        [
            ("DEV1", "TACHYON", 1, true),
            ("DEV2", "TACHYON", 2, true),
            ("MM1", "TACHYON", 3, true),
            ("MD1", "TACHYON", 0, true),
            ("DC1", "TACHYON", 0, true)
        ]
    );
    assert_eq!(
        c.fix.sessions[3].kind,
        tachyon_config::SessionKind::MarketData
    );
    assert_eq!(
        c.fix.sessions[4].kind,
        tachyon_config::SessionKind::DropCopy
    );
    assert_eq!(c.fix.sessions[4].accounts, [1, 2, 3]);
    assert_eq!(
        c.fix.sessions[0].kind,
        tachyon_config::SessionKind::OrderEntry
    );
    assert_eq!(c.fix.sessions[0].auth, Auth::None {});
    match &c.fix.sessions[2].auth {
        Auth::HmacSha256 { key_id, secret } => {
            assert_eq!(key_id.as_deref(), Some("dev-mm1"));
            assert!(secret.as_ref().unwrap().expose().starts_with("dev-only"));
        }
        other => panic!("MM1 must use HMAC, got {other:?}"),
    }
}

#[test]
fn prod_example_loads_with_placeholders() {
    let c = load("prod.example.toml");
    c.engine_config().validate().expect("validated at load");
    assert_eq!(c.engine.core_mode, CoreMode::Dedicated);
    assert_eq!(c.engine.matcher_core, Some(1));
    assert_eq!(c.engine.fsync, Fsync::Always);
    assert!(c.persister.enabled);
    assert!(c
        .persister
        .database_url
        .as_deref()
        .unwrap()
        .contains("PLACEHOLDER"));
    assert!(c.initial_deposits().is_empty());
    assert!(c
        .fix
        .api_key_master
        .as_ref()
        .unwrap()
        .expose()
        .contains("PLACEHOLDER"));
    for s in &c.fix.sessions {
        match &s.auth {
            Auth::HmacSha256 {
                secret: Some(secret),
                ..
            } => assert!(secret.expose().contains("PLACEHOLDER")),
            Auth::HmacSha256 { secret: None, .. } => {}
            other => panic!("prod sessions authenticate, got {other:?}"),
        }
    }
}

#[test]
fn ops_keys_default_when_omitted() {
    // The common test file names only ops.listen: every other [ops] key takes the
    // default documented in config/prod.example.toml.
    let c = Config::from_str(common::BASE, "base.toml").unwrap_or_else(|e| panic!("{e}"));
    let o = &c.ops;
    assert_eq!(
        (
            o.rate_limit_per_ip_per_sec,
            o.rate_limit_burst,
            o.trade_tape_len,
            o.kline_len,
            o.max_ws_clients,
            o.ws_buffer,
            o.ws_send_timeout_ms,
            o.ready_max_persister_lag
        ),
        (50, 100, 1000, 1000, 1024, 1024, 2000, 1_000_000)
    );
    // Every [ops] key is written out (and so documented) in both shipped files.
    for file in ["prod.example.toml", "dev.toml"] {
        let text = std::fs::read_to_string(shipped(file)).unwrap();
        for key in [
            "rate_limit_per_ip_per_sec",
            "rate_limit_burst",
            "trade_tape_len",
            "kline_len",
            "max_ws_clients",
            "ws_buffer",
            "ws_send_timeout_ms",
            "ready_max_persister_lag",
        ] {
            assert!(
                text.contains(&format!("\n{key} = ")),
                "{file} does not set ops.{key}"
            );
        }
    }
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let c = load("dev.toml");
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("dev-only-mm1-secret"),
        "secret leaked into Debug output"
    );
    assert!(shown.contains("<redacted>"));
}

#[test]
fn lookups_use_file_order() {
    let c = load("dev.toml");
    assert_eq!(c.asset_index("USDT"), Some(AssetId(0)));
    assert_eq!(c.asset_index("ETH"), Some(AssetId(2)));
    assert_eq!(c.asset_index("DOGE"), None);
    assert_eq!(c.symbol_index("BTC-USDT"), Some(SymbolId(0)));
    assert_eq!(c.symbol_index("ETH-BTC"), Some(SymbolId(2)));
    assert_eq!(c.symbol_index("btc-usdt"), None);
}

#[test]
fn decimals_may_be_strings_integers_or_floats_and_stay_exact() {
    // 0.1 and 0.000015 are not representable in binary floating point; read from the
    // file's text they are exact.
    let text = common::edit("tick_size = \"0.01\"", "tick_size = 0.1")
        .replace("min_qty = \"0.0001\"", "min_qty = 0.000_15")
        .replace("max_qty = \"4\"", "max_qty = 4")
        .replace(
            "{ min = \"1\", max = \"1000000\" }",
            "{ min = 1e-1, max = 1.0E6 }",
        )
        .replace("BTC = \"2\" }", "BTC = 2.00000001 }");
    let c = Config::from_str(&text, "floats.toml").unwrap_or_else(|e| panic!("{e}"));
    let btc_usdt = &c.instruments[0];
    assert_eq!(btc_usdt.tick_size, d("0.1"));
    assert_eq!(btc_usdt.min_qty, d("0.00015"));
    assert_eq!(btc_usdt.max_qty, d("4"));
    assert_eq!(
        btc_usdt.price_band,
        PriceBand {
            min: d("0.1"),
            max: d("1000000")
        }
    );
    assert_eq!(
        c.engine_config().instruments[0].quote_units_per_tick_lot,
        100
    );
    assert_eq!(
        c.initial_deposits()[1],
        (AccountId(1), AssetId(1), 200_000_001)
    );
    assert_eq!(
        c.initial_deposits()[0],
        (AccountId(1), AssetId(0), 100_050_000_000)
    );
}

#[test]
fn unit_helpers_never_round() {
    let c = load("dev.toml");
    let btc_usdt = &c.instruments[0];
    assert_eq!(btc_usdt.price_to_ticks(d("0.01")), Some(1));
    assert_eq!(btc_usdt.price_to_ticks(d("65432.10")), Some(6_543_210));
    assert_eq!(btc_usdt.price_to_ticks(d("0.005")), None); // off the 0.01 grid
    assert_eq!(btc_usdt.price_to_ticks(d("100.001")), None);
    assert_eq!(btc_usdt.price_to_ticks(d("0")), Some(0));
    assert_eq!(
        btc_usdt.price_to_ticks(d("1000000000000000000000000")),
        None
    ); // beyond i64 ticks
    assert_eq!(btc_usdt.ticks_to_price(6_543_210), d("65432.1"));
    assert_eq!(btc_usdt.qty_to_lots(d("0.00123")), Some(123));
    assert_eq!(btc_usdt.qty_to_lots(d("0.000015")), None);
    assert_eq!(btc_usdt.lots_to_qty(123), d("0.00123"));

    let eth_btc = &c.instruments[2];
    assert_eq!(eth_btc.price_to_ticks(d("0.052341")), Some(52_341));
    assert_eq!(eth_btc.price_to_ticks(d("0.0523415")), None);

    let btc = &c.assets[1]; // 10 decimals in dev.toml
    assert_eq!(btc.decimal_to_units(d("1.5")), Some(15_000_000_000));
    assert_eq!(btc.decimal_to_units(d("0.00000000001")), None);
    assert_eq!(btc.decimal_to_units(d("1000000000")), None); // 10^19 units > i64
    assert_eq!(btc.units_to_decimal(15_000_000_000), d("1.5"));
    assert_eq!(btc.units_to_decimal(-1), d("-0.0000000001"));
}

fn instrument(tick_size: Decimal) -> Instrument {
    Instrument {
        symbol: "X-Y".into(),
        base: "X".into(),
        quote: "Y".into(),
        tick_size,
        lot_size: tick_size,
        min_qty: tick_size,
        max_qty: tick_size,
        min_notional: Decimal::ZERO,
        maker_fee_bps: 0,
        taker_fee_bps: 0,
        price_band: PriceBand {
            min: tick_size,
            max: tick_size,
        },
    }
}

/// Tick sizes as loading accepts them: 1 to 9 significant digits, 0 to 18 decimals.
fn tick_size() -> impl Strategy<Value = Decimal> {
    (1i64..1_000_000_000, 0u32..=18).prop_map(|(m, s)| Decimal::new(m, s).normalize())
}

proptest! {
    #[test]
    fn ticks_round_trip(tick in tick_size(), ticks in any::<i64>()) {
        let ins = instrument(tick);
        let price = ins.ticks_to_price(ticks);
        prop_assert_eq!(ins.price_to_ticks(price), Some(ticks));
        prop_assert_eq!(ins.qty_to_lots(ins.lots_to_qty(ticks)), Some(ticks));
    }

    #[test]
    fn off_grid_prices_are_rejected(tick in tick_size(), ticks in -1_000_000_000_000i64..1_000_000_000_000) {
        let ins = instrument(tick);
        // A positive amount smaller than one tick, so price lies strictly between two
        // grid points.
        let epsilon = Decimal::new(1, tick.scale() + 1);
        let price = ins.ticks_to_price(ticks) + epsilon;
        prop_assert_eq!(ins.price_to_ticks(price), None);
    }

    #[test]
    fn units_round_trip(decimals in 0u8..=18, units in any::<i64>()) {
        let asset = tachyon_config::Asset { code: "X".into(), decimals };
        prop_assert_eq!(asset.decimal_to_units(asset.units_to_decimal(units)), Some(units));
    }
}

#[test]
fn hmac_session_may_rely_on_admin_created_keys_only() {
    let text = common::edit(", key_id = \"k2\", secret = \"0123456789abcdef\"", "");
    let c = Config::from_str(&text, "base.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.fix.sessions[1].auth,
        Auth::HmacSha256 {
            key_id: None,
            secret: None
        }
    );
    assert!(c.fix.api_key_master.is_none());
    assert!(
        !c.engine.journal_on_matcher,
        "a separate journaler by default"
    );
    let on = Config::from_str(
        &common::edit("[engine]\n", "[engine]\njournal_on_matcher = true\n"),
        "base.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(on.engine.journal_on_matcher);
    let dev = load("dev.toml");
    assert!(dev
        .fix
        .api_key_master
        .as_ref()
        .unwrap()
        .expose()
        .starts_with("dev-only"));
}
