//! Architecture invariants from ARCHITECTURE.md, enforced over `cargo metadata`.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Crates that do I/O, networking, async or databases: none may reach the engine.
const FORBIDDEN_IN_ENGINE: &[&str] = &[
    "mio",
    "tokio",
    "async-std",
    "smol",
    "futures",
    "futures-util",
    "futures-core",
    "postgres",
    "tokio-postgres",
    "postgres-types",
    "quickfix",
    "quickfix-ffi",
    "hyper",
    "axum",
    "reqwest",
    "disruptor",
    "crossbeam",
    "crossbeam-channel",
    "core_affinity",
    "libc",
    "socket2",
    "tracing",
    "log",
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this host's dependencies (so no other platform's crates need downloading).
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("host triple");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata JSON")
}

/// Names of every crate a workspace package depends on at build or run time (not dev).
fn runtime_closure(meta: &Value, package: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = names
        .iter()
        .find(|(id, name)| **name == package && nodes.contains_key(*id))
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("package {package} not in the workspace"));
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    let mut out = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let non_dev = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            if non_dev {
                let dep_id = dep["pkg"].as_str().unwrap();
                out.insert(names[dep_id].to_string());
                stack.push(dep_id);
            }
        }
    }
    out
}

#[test]
fn engine_depends_on_no_io_crate() {
    let meta = metadata();
    let deps = runtime_closure(&meta, "tachyon-engine");
    let bad: Vec<&String> = deps
        .iter()
        .filter(|d| FORBIDDEN_IN_ENGINE.contains(&d.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "Architecture Invariant broken: engine depends on {bad:?} (all deps: {deps:?})"
    );
    // The closure is computed for real: the engine's own hashing crates appear in it.
    assert!(deps.contains("hashbrown"), "closure looks wrong: {deps:?}");
}

#[test]
fn engine_does_not_depend_on_other_workspace_crates() {
    let meta = metadata();
    let deps = runtime_closure(&meta, "tachyon-engine");
    for c in [
        "tachyon-config",
        "tachyon-fix-gateway",
        "tachyon-persister",
        "tachyon",
    ] {
        assert!(!deps.contains(c), "engine must not depend on {c}");
    }
}

#[test]
fn market_data_depends_only_on_engine_and_config() {
    // Its whole closure is not checked: cargo unifies features workspace-wide, so
    // rust_decimal (via config) carries the persister's PostgreSQL feature in the
    // resolved graph. The rule that matters is that market-data itself brings in nothing
    // but the pure engine and config crates.
    let meta = metadata();
    let id = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tachyon-market-data")
        .map(|p| p["id"].as_str().unwrap().to_string())
        .expect("market-data in the workspace");
    let node = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id.as_str())
        .unwrap();
    let direct: BTreeSet<String> = node["deps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"))
        })
        .map(|d| d["name"].as_str().unwrap().replace('_', "-"))
        .collect();
    let want: BTreeSet<String> = ["tachyon-engine", "tachyon-config"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        direct, want,
        "Architecture Invariant broken: market-data must depend only on the engine and config"
    );
}
