//! The `tachyon` binary as an operator meets it: start-up errors name what is wrong and
//! exit non-zero; SIGTERM drains, snapshots and exits 0; restart recovers; the journal
//! tools work on what it wrote.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tachyon");

fn dev_config_with(dir: &Path, journal_dir: &str) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("journal_dir"))
        .expect("journal_dir key");
    let text = text
        .replace(line, &format!("journal_dir = {journal_dir:?}"))
        // Tests run in parallel: let the OS pick the ports.
        .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"");
    let path = dir.join("test.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn wait_for(path: &Path, what: impl Fn(&Path) -> bool) {
    let t = Instant::now();
    while !what(path) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `cmd` (the binary), waits until it has journaled its genesis (accounts and
/// deposits, written on first start), sends SIGTERM and returns its exit status and stderr.
fn start_then_sigterm(mut cmd: Command, journal: &Path) -> (std::process::ExitStatus, String) {
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    wait_for(&journal.join("00000000000000000001.seg"), |p| {
        p.exists() && p.metadata().unwrap().len() > 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn bad_config_exits_non_zero_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = dev_config_with(tmp.path(), "j");
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "tick_size = \"0.01\"",
        "tick_size = \"0.0x\"",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("test.toml") && err.contains("instruments[0].tick_size"),
        "{err}"
    );

    let out = Command::new(BIN).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

/// `[log] format = "json"` gives one JSON object per line (with the event's fields);
/// a `log.level` that is not a valid filter stops start-up naming the file and the key.
#[test]
fn log_section_selects_json_lines_and_a_bad_filter_names_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let cfg = dev_config_with(tmp.path(), journal.to_str().unwrap());
    let base = std::fs::read_to_string(&cfg).unwrap();
    // dev.toml's [log] section: text at info.
    let json = base.replacen("format = \"text\"", "format = \"json\"", 1);
    assert_ne!(json, base, "dev.toml has log.format = \"text\"");
    std::fs::write(&cfg, json).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&cfg)
        .env_remove("TACHYON_LOG")
        .env_remove("TACHYON_LOG_FORMAT");
    let (status, log) = start_then_sigterm(cmd, &journal);
    assert!(status.success(), "{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    assert!(
        lines
            .iter()
            .all(|v| v["level"].is_string() && v["fields"].is_object()),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|v| v["fields"]["component"] == "gateway" && v["fields"]["addr"].is_string()),
        "events keep their fields: {log}"
    );

    let bad = base.replacen("level = \"info\"", "level = \"info,tachyon=verbose\"", 1);
    assert_ne!(bad, base, "dev.toml has log.level = \"info\"");
    std::fs::write(&cfg, bad).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .env_remove("TACHYON_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("test.toml") && err.contains("log.level"),
        "{err}"
    );
}

#[test]
fn unwritable_journal_dir_exits_non_zero_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file where the journal directory should be: cannot be created or written,
    // even by root.
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let cfg = dev_config_with(tmp.path(), blocker.join("journal").to_str().unwrap());
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("blocker/journal"), "{err}");
}

#[test]
fn sigterm_drains_snapshots_and_restart_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let cfg = dev_config_with(tmp.path(), journal.to_str().unwrap());
    let run = || {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&cfg).env("TACHYON_LOG", "info");
        start_then_sigterm(cmd, &journal)
    };
    let (status, log) = run();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(
        log.contains("opening and funding configured accounts"),
        "{log}"
    );
    assert!(log.contains("stopped cleanly"), "{log}");
    for component in ["journal open", "engine recovered"] {
        assert!(
            log.contains(component),
            "one line per component: missing {component}\n{log}"
        );
    }
    let snaps: Vec<_> = std::fs::read_dir(journal.join("snapshots"))
        .unwrap()
        .collect();
    assert!(!snaps.is_empty(), "shutdown writes a snapshot");

    let (status, log) = run();
    assert!(status.success(), "{log}");
    assert!(
        !log.contains("opening and funding"),
        "genesis must not repeat on restart\n{log}"
    );
    assert!(
        log.contains("snapshot=Some("),
        "restart recovers from the snapshot\n{log}"
    );

    // Operator tools on what it wrote.
    let out = Command::new(BIN)
        .args(["journal", "inspect"])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("every record verifies"));
    let hashes: Vec<String> = [&["--no-snapshot"][..], &[][..]]
        .iter()
        .map(|extra| {
            let out = Command::new(BIN)
                .arg("--config")
                .arg(&cfg)
                .args(["journal", "replay"])
                .arg(&journal)
                .args(*extra)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = String::from_utf8_lossy(&out.stdout).to_string();
            s.lines()
                .find(|l| l.starts_with("state_hash="))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        hashes[0], hashes[1],
        "full replay and snapshot+tail replay agree"
    );
}
