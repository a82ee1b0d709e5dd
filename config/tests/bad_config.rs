//! Every way a configuration can be wrong, as a table: (name, the bad file, the key path
//! the error must name, a substring of its message).

mod common;

use common::{edit, BASE};
use tachyon_config::Config;

/// One bad-config case.
struct Case {
    name: &'static str,
    toml: String,
    key: &'static str,
    message: &'static str,
}

fn case(name: &'static str, toml: String, key: &'static str, message: &'static str) -> Case {
    Case {
        name,
        toml,
        key,
        message,
    }
}

fn cases() -> Vec<Case> {
    let append = |extra: &str| format!("{BASE}\n{extra}");
    vec![
        // Syntax and shape.
        case(
            "toml syntax error",
            append("[engine\n"),
            "",
            "TOML error at line",
        ),
        case(
            "duplicate toml key",
            edit("fee_account = 0", "fee_account = 0\nfee_account = 1"),
            "",
            "duplicate key",
        ),
        case(
            "unknown top-level section",
            append("[extra]\nx = 1"),
            "extra",
            "unknown key",
        ),
        case(
            "unknown engine key",
            edit(
                "prune_segments = false",
                "prune_segments = false\nprune = true",
            ),
            "engine.prune",
            "unknown key",
        ),
        case(
            "unknown instrument key",
            edit(
                "lot_size = \"0.00001\"",
                "lot_size = \"0.00001\"\nlot_sz = \"1\"",
            ),
            "instruments[0].lot_sz",
            "unknown key",
        ),
        case(
            "unknown price band key",
            edit("max = \"1\" }", "max = \"1\", mid = \"0.5\" }"),
            "instruments[1].price_band.mid",
            "unknown key",
        ),
        case(
            "unknown throttle key",
            edit("max_violations = 3 }", "max_violations = 3, rate = 1 }"),
            "fix.sessions[0].throttle.rate",
            "unknown key",
        ),
        case(
            "unknown key in auth none",
            edit("{ kind = \"none\" }", "{ kind = \"none\", secret = \"x\" }"),
            "fix.sessions[0].auth.secret",
            "unknown key",
        ),
        case(
            "unknown auth kind",
            edit("{ kind = \"none\" }", "{ kind = \"password\" }"),
            "fix.sessions[0].auth.kind",
            "unknown variant `password`",
        ),
        case(
            "missing instrument key",
            edit("taker_fee_bps = 5\n", ""),
            "instruments[0].taker_fee_bps",
            "missing required key",
        ),
        case(
            "missing section",
            edit("[ops]\nlisten = \"127.0.0.1:9880\"\n", ""),
            "ops",
            "missing required key",
        ),
        case(
            "missing hmac secret",
            edit(", secret = \"0123456789abcdef\"", ""),
            "fix.sessions[1].auth.secret",
            "required when key_id is given",
        ),
        case(
            "hmac secret without key id",
            edit("key_id = \"k2\", ", ""),
            "fix.sessions[1].auth.key_id",
            "required when secret is given",
        ),
        case(
            "static key id in the admin-created namespace",
            edit("key_id = \"k2\"", "key_id = \"tk_0000000000000001\""),
            "fix.sessions[1].auth.key_id",
            "reserved for keys the admin API creates",
        ),
        case(
            "api key master too short",
            edit(
                "[fix]\nlisten = \"127.0.0.1:9878\"\n",
                "[fix]\nlisten = \"127.0.0.1:9878\"\napi_key_master = \"short-master\"\n",
            ),
            "fix.api_key_master",
            "at least 32 printable ASCII characters",
        ),
        case(
            "missing database url when enabled",
            edit("enabled = false", "enabled = true"),
            "persister.database_url",
            "missing required key",
        ),
        case(
            "wrong type: string for integer",
            edit("max_orders = 1000", "max_orders = \"1000\""),
            "engine.max_orders",
            "invalid type: string",
        ),
        case(
            "wrong type: string for bool",
            edit("reset_on_logon = true", "reset_on_logon = \"yes\""),
            "fix.sessions[0].reset_on_logon",
            "invalid type",
        ),
        case(
            "wrong type: negative core",
            edit(
                "core_mode = \"shared\"",
                "core_mode = \"shared\"\nmatcher_core = -1",
            ),
            "engine.matcher_core",
            "invalid value",
        ),
        case(
            "unknown core mode",
            edit("core_mode = \"shared\"", "core_mode = \"turbo\""),
            "engine.core_mode",
            "unknown variant `turbo`",
        ),
        case(
            "unknown fsync policy",
            edit("fsync = \"os\"", "fsync = \"never\""),
            "engine.fsync",
            "unknown variant `never`",
        ),
        case(
            "bad socket address",
            edit("listen = \"127.0.0.1:9878\"", "listen = \"localhost\""),
            "fix.listen",
            "invalid socket address",
        ),
        // Decimals.
        case(
            "bad decimal",
            edit("tick_size = \"0.000001\"", "tick_size = \"abc\""),
            "instruments[1].tick_size",
            "must be a positive decimal, got \"abc\"",
        ),
        case(
            "negative decimal",
            edit("min_qty = \"0.0001\"", "min_qty = \"-1\""),
            "instruments[0].min_qty",
            "must be a positive decimal, got \"-1\"",
        ),
        case(
            "zero lot size",
            edit("lot_size = \"0.01\"", "lot_size = \"0\""),
            "instruments[1].lot_size",
            "must be a positive decimal, got \"0\"",
        ),
        case(
            "decimal of wrong type",
            edit("tick_size = \"0.01\"", "tick_size = true"),
            "instruments[0].tick_size",
            "got a boolean",
        ),
        case(
            "negative min notional",
            edit("min_notional = \"5\"", "min_notional = \"-5\""),
            "instruments[0].min_notional",
            "must be a non-negative decimal",
        ),
        case(
            "more decimals than exact",
            edit(
                "min_notional = \"5\"",
                "min_notional = \"0.00000000000000000000000000001\"",
            ),
            "instruments[0].min_notional",
            "must be a non-negative decimal",
        ),
        case(
            "float infinity",
            edit("tick_size = \"0.01\"", "tick_size = inf"),
            "instruments[0].tick_size",
            "must be a positive decimal, got inf",
        ),
        case(
            "decimal as a date",
            edit("tick_size = \"0.01\"", "tick_size = 1979-05-27"),
            "instruments[0].tick_size",
            "must be a positive decimal",
        ),
        case(
            "exponent in a string",
            edit("max_qty = \"4\"", "max_qty = \"4e0\""),
            "instruments[0].max_qty",
            "must be a positive decimal, got \"4e0\"",
        ),
        case(
            "too many significant digits",
            edit("tick_size = \"0.01\"", "tick_size = \"0.01234567891\""),
            "instruments[0].tick_size",
            "more than 9 significant digits",
        ),
        // Grids.
        case(
            "min qty off the lot grid",
            edit("min_qty = \"0.0001\"", "min_qty = \"0.000015\""),
            "instruments[0].min_qty",
            "0.000015 is not a multiple of lot_size 0.00001",
        ),
        case(
            "min qty off the lot grid, as a float",
            edit("min_qty = \"0.0001\"", "min_qty = 0.000015"),
            "instruments[0].min_qty",
            "0.000015 is not a multiple of lot_size 0.00001",
        ),
        case(
            "max qty off the lot grid",
            edit("max_qty = \"4\"", "max_qty = \"3.999995\""),
            "instruments[0].max_qty",
            "not a multiple of lot_size",
        ),
        case(
            "max qty below min qty",
            edit("min_qty = \"0.01\"", "min_qty = \"2000\""),
            "instruments[1].max_qty",
            "1000 is below min_qty 2000",
        ),
        case(
            "tick not dividing band min",
            edit("{ min = \"1\",", "{ min = \"1.005\","),
            "instruments[0].price_band.min",
            "tick does not divide the band",
        ),
        case(
            "tick not dividing band max",
            edit("max = \"1000000\"", "max = \"999999.999\""),
            "instruments[0].price_band.max",
            "tick does not divide the band",
        ),
        case(
            "band max below min",
            edit(
                "{ min = \"0.0001\", max = \"1\" }",
                "{ min = \"1\", max = \"0.5\" }",
            ),
            "instruments[1].price_band.max",
            "below price_band.min",
        ),
        case(
            "min notional finer than quote",
            edit("min_notional = \"5\"", "min_notional = \"0.000000005\""),
            "instruments[0].min_notional",
            "finer than USDT's 8 decimals",
        ),
        case(
            "lot finer than base decimals",
            edit("lot_size = \"0.00001\"", "lot_size = \"0.000000001\""),
            "instruments[0].lot_size",
            "lot_size 0.000000001 BTC is finer than BTC's 8 decimals",
        ),
        case(
            "tick x lot finer than quote decimals",
            edit("lot_size = \"0.01\"", "lot_size = \"0.001\""),
            "instruments[1].tick_size",
            "= 0.000000001 BTC is finer than BTC's 8 decimals",
        ),
        case(
            "order too large for 64-bit units",
            edit("max_qty = \"4\"", "max_qty = \"100000\""),
            "instruments[0].max_qty",
            "exceeds the engine's 64-bit limit",
        ),
        // Cross references and duplicates.
        case(
            "duplicate symbol",
            edit("symbol = \"ETH-BTC\"", "symbol = \"BTC-USDT\""),
            "instruments[1].symbol",
            "duplicate symbol \"BTC-USDT\"",
        ),
        case(
            "duplicate asset code",
            edit("code = \"ETH\"", "code = \"BTC\""),
            "assets[2].code",
            "duplicate asset code \"BTC\"",
        ),
        case(
            "bad asset code",
            edit("code = \"ETH\"", "code = \"eth\""),
            "assets[2].code",
            "upper-case",
        ),
        case(
            "asset decimals too large",
            edit(
                "code = \"ETH\"\ndecimals = 8",
                "code = \"ETH\"\ndecimals = 19",
            ),
            "assets[2].decimals",
            "at most 18",
        ),
        case(
            "instrument with unknown asset",
            edit("base = \"BTC\"", "base = \"XBT\""),
            "instruments[0].base",
            "unknown asset \"XBT\"",
        ),
        case(
            "instrument with base = quote",
            edit("quote = \"BTC\"", "quote = \"ETH\""),
            "instruments[1].quote",
            "must differ from base",
        ),
        case(
            "duplicate account id",
            edit("id = 2", "id = 1"),
            "accounts[1].id",
            "duplicate account id 1",
        ),
        case(
            "duplicate account name",
            edit("name = \"two\"", "name = \"one\""),
            "accounts[1].name",
            "duplicate account name",
        ),
        case(
            "account id beyond max_accounts",
            edit("id = 2", "id = 100"),
            "accounts[1].id",
            "below engine.max_accounts",
        ),
        case(
            "fee account is a client account",
            edit("fee_account = 0", "fee_account = 2"),
            "accounts[1].id",
            "engine.fee_account",
        ),
        case(
            "fee account beyond max_accounts",
            edit("fee_account = 0", "fee_account = 100"),
            "engine.fee_account",
            "below engine.max_accounts",
        ),
        case(
            "deposit of unknown asset",
            edit("BTC = \"2\" }", "BTC = \"2\", DOGE = \"1\" }"),
            "accounts[0].deposits.DOGE",
            "unknown asset",
        ),
        case(
            "deposit finer than asset decimals",
            edit("BTC = \"2\" }", "BTC = \"0.000000001\" }"),
            "accounts[0].deposits.BTC",
            "0.000000001 BTC is finer than BTC's 8 decimals",
        ),
        case(
            "deposit too large",
            edit("BTC = \"2\" }", "BTC = \"100000000000\" }"),
            "accounts[0].deposits.BTC",
            "too large for 64-bit",
        ),
        case(
            "deposits not a table",
            edit(
                "deposits = { USDT = \"1000.5\", BTC = \"2\" }",
                "deposits = 5",
            ),
            "accounts[0].deposits",
            "invalid type: integer",
        ),
        case(
            "negative deposit",
            edit("BTC = \"2\" }", "BTC = \"-2\" }"),
            "accounts[0].deposits.BTC",
            "must be a non-negative decimal",
        ),
        case(
            "duplicate CompID pair",
            edit("sender_comp_id = \"C2\"", "sender_comp_id = \"C1\""),
            "fix.sessions[1].sender_comp_id",
            "duplicate CompID pair C1 -> TACHYON",
        ),
        case(
            "CompID with a space",
            edit("sender_comp_id = \"C2\"", "sender_comp_id = \"C 2\""),
            "fix.sessions[1].sender_comp_id",
            "printable ASCII",
        ),
        case(
            "session with unknown account",
            edit("account = 1\n", "account = 7\n"),
            "fix.sessions[0].account",
            "unknown account 7",
        ),
        case(
            "session for the fee account",
            edit("account = 1\n", "account = 0\n"),
            "fix.sessions[0].account",
            "unknown account 0",
        ),
        case(
            "hmac secret too short",
            edit("secret = \"0123456789abcdef\"", "secret = \"short\""),
            "fix.sessions[1].auth.secret",
            "at least 16 bytes",
        ),
        case(
            "throttle rate zero",
            edit("msgs_per_sec = 10,", "msgs_per_sec = 0,"),
            "fix.sessions[0].throttle.msgs_per_sec",
            "between 1 and",
        ),
        // Engine limits.
        case(
            "ring size not a power of two",
            edit("inbound_ring_size = 1024", "inbound_ring_size = 1000"),
            "engine.inbound_ring_size",
            "power of two",
        ),
        case(
            "ring size zero",
            edit("outbound_ring_size = 2048", "outbound_ring_size = 0"),
            "engine.outbound_ring_size",
            "power of two",
        ),
        case(
            "max orders zero",
            edit("max_orders = 1000", "max_orders = 0"),
            "engine.max_orders",
            "between 1 and",
        ),
        case(
            "segment too small",
            edit("segment_size_bytes = 1_048_576", "segment_size_bytes = 10"),
            "engine.segment_size_bytes",
            "between",
        ),
        case(
            "snapshot interval zero",
            edit(
                "snapshot_interval_commands = 1000",
                "snapshot_interval_commands = 0",
            ),
            "engine.snapshot_interval_commands",
            "at least 1",
        ),
        case(
            "ops and fix on one address",
            edit("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:9878\""),
            "ops.listen",
            "also fix.listen",
        ),
        case(
            "recv window zero",
            edit(
                "listen = \"127.0.0.1:9878\"",
                "listen = \"127.0.0.1:9878\"\nrecv_window_ms = 0",
            ),
            "fix.recv_window_ms",
            "between 1 and 3600000",
        ),
        case(
            "heartbeat range inverted",
            edit(
                "listen = \"127.0.0.1:9878\"",
                "listen = \"127.0.0.1:9878\"\nheartbeat_min_s = 30\nheartbeat_max_s = 10",
            ),
            "fix.heartbeat_max_s",
            "between 30 and 3600",
        ),
        case(
            "outbound bound too small",
            edit(
                "listen = \"127.0.0.1:9878\"",
                "listen = \"127.0.0.1:9878\"\nmax_outbound_bytes = 100",
            ),
            "fix.max_outbound_bytes",
            "between 65536",
        ),
        case(
            "no connections",
            edit(
                "listen = \"127.0.0.1:9878\"",
                "listen = \"127.0.0.1:9878\"\nmax_connections = 0",
            ),
            "fix.max_connections",
            "between 1 and 65536",
        ),
        case(
            "lockout window zero",
            edit(
                "listen = \"127.0.0.1:9878\"",
                "listen = \"127.0.0.1:9878\"\nlockout_window_s = 0",
            ),
            "fix.lockout_window_s",
            "at least 1",
        ),
        case(
            "drop copy without accounts",
            edit("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:9878\"")
                .replace("reset_on_logon", "kind = \"drop-copy\"\nreset_on_logon"),
            "fix.sessions[0].accounts",
            "at least one account",
        ),
        case(
            "ops rate limit zero",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nrate_limit_per_ip_per_sec = 0",
            ),
            "ops.rate_limit_per_ip_per_sec",
            "between 1 and",
        ),
        case(
            "ops burst zero",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nrate_limit_burst = 0",
            ),
            "ops.rate_limit_burst",
            "between 1 and",
        ),
        case(
            "ops trade tape zero",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\ntrade_tape_len = 0",
            ),
            "ops.trade_tape_len",
            "between 1 and",
        ),
        case(
            "ops kline retention too large",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nkline_len = 100_001",
            ),
            "ops.kline_len",
            "between 1 and 100000",
        ),
        case(
            "ops no websocket clients",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nmax_ws_clients = 0",
            ),
            "ops.max_ws_clients",
            "between 1 and",
        ),
        case(
            "ops websocket buffer zero",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nws_buffer = 0",
            ),
            "ops.ws_buffer",
            "between 1 and",
        ),
        case(
            "ops websocket send timeout zero",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nws_send_timeout_ms = 0",
            ),
            "ops.ws_send_timeout_ms",
            "between 1 and",
        ),
        case(
            "ops persister lag negative",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nready_max_persister_lag = -1",
            ),
            "ops.ready_max_persister_lag",
            "invalid value",
        ),
        case(
            "ops unknown key",
            edit(
                "listen = \"127.0.0.1:9880\"",
                "listen = \"127.0.0.1:9880\"\nrate_limit = 5",
            ),
            "ops.rate_limit",
            "unknown key",
        ),
        case(
            "log format unknown",
            append("[log]\nformat = \"xml\""),
            "log.format",
            "unknown variant",
        ),
        case(
            "log level empty",
            append("[log]\nlevel = \" \""),
            "log.level",
            "must not be empty",
        ),
        case(
            "log level with a stray character",
            append("[log]\nlevel = \"info;rm\""),
            "log.level",
            "cannot appear",
        ),
        case(
            "log unknown key",
            append("[log]\ncolour = true"),
            "log.colour",
            "unknown key",
        ),
        case(
            "batch size zero",
            edit("batch_size = 100", "batch_size = 0"),
            "persister.batch_size",
            "between 1 and",
        ),
        case(
            "database url not postgres",
            edit(
                "batch_size = 100",
                "batch_size = 100\ndatabase_url = \"mysql://x\"",
            ),
            "persister.database_url",
            "postgres://",
        ),
        // Fees.
        case(
            "taker fee above 1000 bps",
            edit("taker_fee_bps = 5", "taker_fee_bps = 1001"),
            "instruments[0].taker_fee_bps",
            "within ±1000 bps",
        ),
        case(
            "maker fee below -1000 bps",
            edit("maker_fee_bps = 2", "maker_fee_bps = -1001"),
            "instruments[1].maker_fee_bps",
            "within ±1000 bps",
        ),
        case(
            "negative taker fee",
            edit("taker_fee_bps = 6", "taker_fee_bps = -1"),
            "instruments[1].taker_fee_bps",
            "must not be negative",
        ),
        case(
            "rebate above taker fee",
            edit("maker_fee_bps = -1", "maker_fee_bps = -6"),
            "instruments[0].maker_fee_bps",
            "rebate of 6 bps exceeds the taker fee of 5 bps",
        ),
        case(
            "fee not an integer",
            edit("maker_fee_bps = 2", "maker_fee_bps = 1.5"),
            "instruments[1].maker_fee_bps",
            "invalid type: floating point",
        ),
    ]
}

#[test]
fn base_is_valid() {
    Config::from_str(BASE, "base.toml").expect("the base of the bad-config table must be valid");
}

#[test]
fn every_bad_config_fails_with_key_and_message() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for c in &cases {
        match Config::from_str(&c.toml, "test.toml") {
            Ok(_) => failures.push(format!("{}: loaded, expected an error", c.name)),
            Err(e) => {
                let ok = e.file == "test.toml" && e.key == c.key && e.message.contains(c.message);
                if !ok {
                    failures.push(format!(
                        "{}: expected key {:?} and message containing {:?}, got: {e}",
                        c.name, c.key, c.message
                    ));
                }
                // SHOW_CONFIG_ERRORS=1 prints every message, to review their wording.
                if std::env::var_os("SHOW_CONFIG_ERRORS").is_some() {
                    println!("{:<40} {e}", c.name);
                }
                // One line, naming the file first.
                let shown = e.to_string();
                assert!(shown.starts_with("test.toml: "), "{shown}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn display_names_file_key_and_problem() {
    let e = Config::from_str(
        &edit("tick_size = \"0.000001\"", "tick_size = \"abc\""),
        "config/dev.toml",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config/dev.toml: instruments[1].tick_size: must be a positive decimal, got \"abc\""
    );
}

#[test]
fn unreadable_file_names_the_file() {
    let e = Config::load(std::path::Path::new("/nonexistent/tachyon.toml")).unwrap_err();
    assert_eq!(e.file, "/nonexistent/tachyon.toml");
    assert!(e.message.starts_with("cannot read"), "{e}");
}
