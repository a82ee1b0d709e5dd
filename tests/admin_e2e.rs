//! The admin API over real sockets: auth, exact amounts, engine rejects, halt/suspend seen
//! by FIX clients, the `tachyon admin` CLI, and a deposit that shows up in the balance,
//! the journal and after a restart.

mod common;

use std::time::Duration;

use common::fix_client::FixClient;
use serde_json::{json, Value};
use tachyon::{Exchange, ExchangeOptions};

const TOKEN: &str = "dev-only-admin-token-not-for-production";

fn config(dir: &std::path::Path) -> tachyon_config::Config {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    let text = text
        .replace(
            "journal_dir = \"data/dev/journal\"",
            &format!("journal_dir = {:?}", dir.join("journal")),
        )
        .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"");
    tachyon_config::Config::from_str(&text, "test.toml").unwrap()
}

fn start(dir: &std::path::Path) -> Exchange {
    Exchange::start_with(
        config(dir),
        ExchangeOptions {
            memory_sessions: true,
        },
    )
    .unwrap()
}

/// POST with the token (or `auth`), returning (status, JSON body).
fn post(ex: &Exchange, path: &str, auth: Option<&str>, body: Value) -> (u16, Value) {
    let url = format!("http://{}{path}", ex.ops_addr());
    let mut req = ureq::post(&url);
    if let Some(t) = auth {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn order(c: &mut FixClient, cl: &str) -> common::fix_client::Msg {
    c.send(
        "D",
        &[
            (11, cl),
            (55, "BTC-USDT"),
            (54, "1"),
            (60, "20261122-00:00:00.000"),
            (38, "0.001"),
            (40, "2"),
            (44, "40000.00"),
        ],
    );
    c.expect("8")
}

#[test]
fn admin_api_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ex = start(dir.path());
    let dep =
        |amount: &str| json!({"account": 1, "asset": "USDT", "amount": amount, "reference": 7});

    // Auth: none, wrong, right.
    assert_eq!(post(&ex, "/admin/v1/deposits", None, dep("1")).0, 401);
    assert_eq!(
        post(
            &ex,
            "/admin/v1/deposits",
            Some("dev-only-admin-token-not-for-productioN"),
            dep("1")
        )
        .0,
        401
    );
    let (code, body) = post(&ex, "/admin/v1/deposits", Some(TOKEN), dep("100.5"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["available"], "1000100.50000000", "{body}");
    assert_eq!(body["asset"], "USDT");

    // Bad parameters name the parameter; engine rejects are 409.
    for (b, param) in [
        (dep("0.000000001"), "amount"),
        (dep("-5"), "amount"),
        (
            json!({"account": 1, "asset": "DOGE", "amount": "1"}),
            "asset",
        ),
        (json!({"asset": "USDT", "amount": "1"}), "account"),
    ] {
        let (code, body) = post(&ex, "/admin/v1/deposits", Some(TOKEN), b);
        assert_eq!((code, body["param"].as_str()), (400, Some(param)), "{body}");
    }
    let (code, body) = post(
        &ex,
        "/admin/v1/withdrawals",
        Some(TOKEN),
        json!({"account": 999, "asset": "USDT", "amount": "1"}),
    );
    assert_eq!(code, 409, "{body}");
    assert!(
        body["msg"].as_str().unwrap().contains("unknown_account"),
        "{body}"
    );
    let (code, body) = post(
        &ex,
        "/admin/v1/accounts",
        Some(TOKEN),
        json!({"account": 50}),
    );
    assert_eq!((code, &body["account"]), (200, &json!(50)), "{body}");
    let (code, body) = post(
        &ex,
        "/admin/v1/accounts",
        Some(TOKEN),
        json!({"account": 50}),
    );
    assert_eq!(code, 409, "{body}");

    // Halt and suspend, as a FIX client sees them.
    let mut c = FixClient::connect(ex.fix_addr(), "DEV1", "TACHYON");
    c.logon(&[]);
    assert_eq!(order(&mut c, "before").req(150), "0");
    let (code, body) = post(
        &ex,
        "/admin/v1/symbols/BTC-USDT/halt",
        Some(TOKEN),
        json!({}),
    );
    assert_eq!((code, &body["halted"]), (200, &json!(true)), "{body}");
    let m = order(&mut c, "halted");
    assert_eq!((m.req(150), m.req(103)), ("8", "2"), "{m:?}");
    assert_eq!(
        post(&ex, "/admin/v1/symbols/NOPE/halt", Some(TOKEN), json!({})).0,
        400
    );
    post(
        &ex,
        "/admin/v1/symbols/BTC-USDT/resume",
        Some(TOKEN),
        json!({}),
    );
    assert_eq!(order(&mut c, "resumed").req(150), "0");

    let (code, body) = post(&ex, "/admin/v1/accounts/1/suspend", Some(TOKEN), json!({}));
    assert_eq!((code, &body["suspended"]), (200, &json!(true)), "{body}");
    let m = order(&mut c, "suspended");
    assert_eq!(m.req(150), "8");
    assert!(m.req(58).contains("suspended"), "{m:?}");
    // A suspended account can still cancel: the operator cancels everything.
    let (code, body) = post(
        &ex,
        "/admin/v1/accounts/1/cancel-all",
        Some(TOKEN),
        json!({}),
    );
    assert_eq!((code, &body["canceled"]), (200, &json!(2)), "{body}");
    for _ in 0..2 {
        assert_eq!(c.expect("8").req(150), "4");
    }
    post(&ex, "/admin/v1/accounts/1/resume", Some(TOKEN), json!({}));
    assert_eq!(order(&mut c, "back").req(150), "0");
    drop(c);

    // The CLI calls the same API.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tachyon"))
        .args(["admin", "--url"])
        .arg(format!("http://{}", ex.ops_addr()))
        .args(["--token", TOKEN, "deposit", "2", "BTC", "0.5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["available"], "100.5000000000", "{v}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tachyon"))
        .args(["admin", "--url"])
        .arg(format!("http://{}", ex.ops_addr()))
        .args(["--token", "wrong-token-wrong-token!!", "halt", "BTC-USDT"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
    ex.shutdown().unwrap();

    // The journal holds the deposit: an offline replay shows the balance.
    let engine_cfg = config(dir.path()).engine_config();
    let (engine, _) =
        tachyon_pipeline::replay(engine_cfg, &dir.path().join("journal"), false).unwrap();
    let usdt = engine
        .balance(tachyon_engine::AccountId(1), tachyon_engine::AssetId(0))
        .unwrap();
    assert_eq!(usdt.available + usdt.locked, 100_010_050_000_000);

    // And so does the restarted exchange.
    let ex = start(dir.path());
    let (code, body) = post(&ex, "/admin/v1/deposits", Some(TOKEN), dep("1"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["available"], "1000101.50000000", "{body}");
    ex.shutdown().unwrap();
    let _ = Duration::ZERO;
}

/// The active keys' ids as `GET /admin/v1/api-keys` lists them (checking no secret shows).
fn listed_keys(ex: &Exchange) -> Vec<String> {
    let url = format!("http://{}/admin/v1/api-keys", ex.ops_addr());
    let v: Value = ureq::get(&url)
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert!(!v.to_string().contains("secret"), "{v}");
    v["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(
                (&k["account"], &k["comp_id"]),
                (&json!(3), &json!("MM1")),
                "{k}"
            );
            k["key_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// DELETE with the token, returning (status, JSON body).
fn delete(ex: &Exchange, path: &str) -> (u16, Value) {
    let url = format!("http://{}{path}", ex.ops_addr());
    match ureq::delete(&url)
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
    {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("{url}: {e}"),
    }
}

fn cli(ex: &Exchange, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tachyon"))
        .args(["admin", "--url"])
        .arg(format!("http://{}", ex.ops_addr()))
        .args(["--token", TOKEN])
        .args(args)
        .output()
        .unwrap()
}

/// Logs on MM1 with a key; returns the client and the exchange's answer.
fn mm1_logon(ex: &Exchange, key: &str, secret: &str) -> (FixClient, common::fix_client::Msg) {
    let mut c = FixClient::connect(ex.fix_addr(), "MM1", "TACHYON");
    let m = c.signed_logon(key, secret.as_bytes());
    (c, m)
}

/// API keys through the admin API and the CLI: issued for a session's CompID, usable for
/// a signed FIX Logon at once, revoked (the logged-on session is logged out and the key
/// refused), and still valid (or still revoked) after a restart.
#[test]
fn api_keys_are_issued_used_revoked_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ex = start(dir.path());

    // Bad requests name the parameter; no token is 401.
    assert_eq!(
        post(&ex, "/admin/v1/api-keys", None, json!({"comp_id": "MM1"})).0,
        401
    );
    for (b, param) in [
        (json!({}), "comp_id"),
        (json!({"comp_id": "NOPE"}), "comp_id"),
        // DEV1 logs on without authentication: a key would never be checked.
        (json!({"comp_id": "DEV1"}), "comp_id"),
        // MM1 trades for account 3.
        (json!({"comp_id": "MM1", "account": 1}), "account"),
    ] {
        let (code, body) = post(&ex, "/admin/v1/api-keys", Some(TOKEN), b.clone());
        assert_eq!(
            (code, body["param"].as_str()),
            (400, Some(param)),
            "{b} -> {body}"
        );
    }

    // Issue a key; the secret comes back once and signs a Logon.
    let (code, k1) = post(
        &ex,
        "/admin/v1/api-keys",
        Some(TOKEN),
        json!({"comp_id": "MM1"}),
    );
    assert_eq!(code, 200, "{k1}");
    assert_eq!((&k1["account"], &k1["comp_id"]), (&json!(3), &json!("MM1")));
    let (id1, secret1) = (
        k1["key_id"].as_str().unwrap(),
        k1["secret"].as_str().unwrap(),
    );
    assert!(
        tachyon_engine::ApiKeyId::parse(id1.as_bytes()).is_some(),
        "{id1}"
    );
    assert!(secret1.len() >= 32, "{k1}");
    // A wrong secret for the key is refused.
    let (mut bad, m) = mm1_logon(&ex, id1, "not-the-secret");
    assert_eq!(m.msg_type, "5", "{m:?}");
    assert!(m.req(58).contains("invalid signature"), "{m:?}");
    assert!(bad.closed_within(Duration::from_secs(5)).0);
    let (mut c, m) = mm1_logon(&ex, id1, secret1);
    assert_eq!(m.msg_type, "A", "{m:?}");
    assert_eq!(order(&mut c, "with-key").req(150), "0");

    // A second key through the CLI (rotation: both are active).
    let out = cli(&ex, &["create-api-key", "MM1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let k2: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (id2, secret2) = (
        k2["key_id"].as_str().unwrap().to_string(),
        k2["secret"].as_str().unwrap().to_string(),
    );
    assert_ne!(id2, id1);
    assert_eq!(listed_keys(&ex), vec![id1.to_string(), id2.clone()]);
    let out = cli(&ex, &["list-api-keys"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["api_keys"][1]["key_id"], json!(id2), "{v}");

    // Revoke the first through the CLI: its session is logged out, the key refused.
    let out = cli(&ex, &["revoke-api-key", id1]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["key_id"], &v["account"]),
        (&json!(id1), &json!(3)),
        "{v}"
    );
    let m = c.expect("5");
    assert!(m.req(58).contains("API key revoked"), "{m:?}");
    c.send("5", &[]);
    assert!(c.closed_within(Duration::from_secs(5)).0);
    let (_, m) = mm1_logon(&ex, id1, secret1);
    assert_eq!(m.msg_type, "5", "{m:?}");
    assert!(m.req(58).contains("unknown API key"), "{m:?}");
    assert_eq!(listed_keys(&ex), vec![id2.clone()]);
    // Revoking again, or a malformed id.
    let (code, body) = delete(&ex, &format!("/admin/v1/api-keys/{id1}"));
    assert_eq!(code, 409, "{body}");
    assert!(body["msg"].as_str().unwrap().contains("unknown_api_key"));
    let (code, body) = delete(&ex, "/admin/v1/api-keys/dev-mm1");
    assert_eq!(
        (code, body["param"].as_str()),
        (400, Some("key_id")),
        "{body}"
    );
    // The static key from the config is untouched.
    let (c2, m) = mm1_logon(&ex, "dev-mm1", "dev-only-mm1-secret-not-for-production");
    assert_eq!(m.msg_type, "A", "{m:?}");
    drop(c2);
    ex.shutdown().unwrap();

    // After a restart (snapshot at shutdown) the second key works, the first does not.
    let ex = start(dir.path());
    let (_, m) = mm1_logon(&ex, id1, secret1);
    assert_eq!(m.msg_type, "5", "{m:?}");
    assert!(m.req(58).contains("unknown API key"), "{m:?}");
    let (_c, m) = mm1_logon(&ex, &id2, &secret2);
    assert_eq!(m.msg_type, "A", "{m:?}");
    assert_eq!(listed_keys(&ex), vec![id2.clone()]);
    ex.shutdown().unwrap();

    // The journal holds both keys' history: an offline replay from sequence 1 has only
    // the second active (with no secret anywhere in the state).
    let (engine, _) = tachyon_pipeline::replay(
        config(dir.path()).engine_config(),
        &dir.path().join("journal"),
        false,
    )
    .unwrap();
    let keys: Vec<String> = engine.api_keys().iter().map(|k| k.key.text()).collect();
    assert_eq!(keys, vec![id2.clone()]);
}
