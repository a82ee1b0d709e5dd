//! A small valid configuration that the bad-config table mutates line by line.
#![allow(dead_code)]

pub const BASE: &str = r#"
[engine]
inbound_ring_size = 1024
outbound_ring_size = 2048
max_accounts = 100
max_orders = 1000
max_levels_per_side = 100
fee_account = 0
core_mode = "shared"
journal_dir = "data/test/journal"
fsync = "os"
segment_size_bytes = 1_048_576
snapshot_interval_commands = 1000
prune_segments = false

[fix]
listen = "127.0.0.1:9878"

[ops]
listen = "127.0.0.1:9880"

[persister]
enabled = false
batch_size = 100

[[assets]]
code = "USDT"
decimals = 8

[[assets]]
code = "BTC"
decimals = 8

[[assets]]
code = "ETH"
decimals = 8

[[instruments]]
symbol = "BTC-USDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_qty = "0.0001"
max_qty = "4"
min_notional = "5"
maker_fee_bps = -1
taker_fee_bps = 5
price_band = { min = "1", max = "1000000" }

[[instruments]]
symbol = "ETH-BTC"
base = "ETH"
quote = "BTC"
tick_size = "0.000001"
lot_size = "0.01"
min_qty = "0.01"
max_qty = "1000"
min_notional = "0"
maker_fee_bps = 2
taker_fee_bps = 6
price_band = { min = "0.0001", max = "1" }

[[accounts]]
id = 1
name = "one"
deposits = { USDT = "1000.5", BTC = "2" }

[[accounts]]
id = 2
name = "two"

[[fix.sessions]]
sender_comp_id = "C1"
target_comp_id = "TACHYON"
account = 1
auth = { kind = "none" }
reset_on_logon = true
cancel_on_disconnect = true
throttle = { msgs_per_sec = 10, burst = 20, max_violations = 3 }

[[fix.sessions]]
sender_comp_id = "C2"
target_comp_id = "TACHYON"
account = 2
auth = { kind = "hmac-sha256", key_id = "k2", secret = "0123456789abcdef" }
reset_on_logon = false
cancel_on_disconnect = false
throttle = { msgs_per_sec = 100, burst = 100, max_violations = 0 }
"#;

/// `BASE` with the one occurrence of `old` replaced by `new`.
pub fn edit(old: &str, new: &str) -> String {
    assert_eq!(
        BASE.matches(old).count(),
        1,
        "{old:?} must occur exactly once in BASE"
    );
    BASE.replacen(old, new, 1)
}
