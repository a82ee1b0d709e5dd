//! The `tachyon` binary with the persister on (TACHYON_DATABASE_URL), against the real
//! PostgreSQL: the dev accounts' funding, journaled at start, lands in `balances` and
//! `ledger_entries` exactly, and a restart stores nothing twice.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tachyon_persister::postgres::{Client, NoTls};

const BIN: &str = env!("CARGO_BIN_EXE_tachyon");

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

struct Schema(String);
impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&database_url(), NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
        }
    }
}

#[test]
fn dev_exchange_persists_its_funding_exactly_once() {
    let name = format!(
        "tachyon_e2e_{}_{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let mut admin = Client::connect(&database_url(), NoTls).expect("PostgreSQL at DATABASE_URL");
    admin
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .unwrap();
    let schema = Schema(name);
    let sep = if database_url().contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{sep}options=-c%20search_path%3D{}",
        database_url(),
        schema.0
    );

    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("journal_dir"))
        .unwrap();
    let journal = tmp.path().join("journal");
    let cfg = tmp.path().join("dev.toml");
    std::fs::write(
        &cfg,
        text.replace(
            line,
            &format!("journal_dir = {:?}", journal.to_str().unwrap()),
        )
        // Tests run in parallel: let the OS pick the ports.
        .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\""),
    )
    .unwrap();

    let mut db = Client::connect(&url, NoTls).unwrap();
    let run = |db: &mut Client| {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .env("TACHYON_DATABASE_URL", &url)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for start-up to finish (signal handlers, pipeline, persister), collecting
        // the log on a thread.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.contains("FIX 4.4 acceptor listening") => break,
                _ => {}
            }
        }
        // Wait until the funding is stored (or give up and let the asserts speak).
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let n: i64 = db
                .query_one("SELECT count(*) FROM ledger_entries", &[])
                .map(|r| r.get(0))
                .unwrap_or(0);
            if n >= 9 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let status = child.wait().unwrap();
        let log = reader.join().unwrap();
        assert!(status.success(), "{log}");
        assert!(
            log.contains("following the journal into PostgreSQL"),
            "{log}"
        );
        assert!(
            !log.contains(&url),
            "the database URL's options/credentials are not logged raw"
        );
        log
    };
    run(&mut db);
    let check = |db: &mut Client| {
        // dev.toml: accounts 1, 2, 3 with 1,000,000 USDT, 100 BTC, 1,000 ETH each.
        let rows = db
            .query(
                "SELECT b.account_id, a.code, b.available::text, b.locked::text FROM balances b \
                 JOIN assets a ON a.asset_id = b.asset_id ORDER BY b.account_id, a.code",
                &[],
            )
            .unwrap();
        let got: Vec<(i64, String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let mut want = Vec::new();
        for acc in 1..=3i64 {
            for (code, amount) in [
                ("BTC", "100.0000000000"),
                ("ETH", "1000.00000000"),
                ("USDT", "1000000.00000000"),
            ] {
                want.push((acc, code.to_string(), amount.to_string(), "0".to_string()));
            }
        }
        let norm = |v: &[(i64, String, String, String)]| -> Vec<(i64, String, rust_decimal::Decimal, rust_decimal::Decimal)> {
            v.iter().map(|(a, c, x, y)| (*a, c.clone(), x.parse().unwrap(), y.parse().unwrap())).collect()
        };
        assert_eq!(norm(&got), norm(&want));
        let ledger: i64 = db
            .query_one("SELECT count(*) FROM ledger_entries", &[])
            .unwrap()
            .get(0);
        assert_eq!(ledger, 9, "one deposit entry per account and asset, once");
        let accounts: i64 = db
            .query_one("SELECT count(*) FROM accounts", &[])
            .unwrap()
            .get(0);
        assert_eq!(accounts, 4, "three dev accounts and the fee account");
    };
    check(&mut db);
    // Restart: recovery from the snapshot, the persister resumes from its checkpoint.
    run(&mut db);
    check(&mut db);
}
