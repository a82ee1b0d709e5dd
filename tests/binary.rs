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
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .env("TACHYON_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Genesis (accounts + deposits) is journaled on first start.
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
