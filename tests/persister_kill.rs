//! Kill the whole `tachyon` process (SIGKILL) in the middle of a persister batch, again
//! and again, against the real PostgreSQL; after a last, uninterrupted run the database
//! equals the one an uninterrupted writer makes from the same journal: every table, row
//! for row, nothing missing and nothing twice.
//!
//! The journal is prepared first (40,000 trade-heavy commands on the dev market); each
//! start of the binary recovers it and its persister (a journal follower) resumes from the
//! checkpoints stored in PostgreSQL (its three parts, written over parallel connections).
//! "Mid-batch" is checked, not assumed: a kill counts only if one of the persister's
//! backends had an open transaction that had already written rows (`backend_xid` set) and
//! PostgreSQL reports that transaction aborted after the kill; after every kill no part
//! holds a row past its own checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tachyon_engine::{
    AccountId, CancelOrder, ClOrdId, CommandKind, Engine, NewOrder, OrdType, OrderId, OrderRef,
    Price, Qty, SessionId, Side, StpMode, SymbolId, Tif,
};
use tachyon_persister::postgres::{Client, NoTls};
use tachyon_persister::{Persister, TickLot, Units};
use tachyon_pipeline::{OutEvent, Pipeline, PollResult};
use tachyon_testkit::SplitMix;

const BIN: &str = env!("CARGO_BIN_EXE_tachyon");
const COMMANDS: usize = 40_000;
const BATCH: u64 = 2_000;
const KILLS: usize = 5;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A throw-away schema, dropped with everything in it even if the test fails.
struct Schema(String);

impl Schema {
    fn new(tag: &str) -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let name = format!(
            "tachyon_kill_{tag}_{:012x}",
            SplitMix(nanos ^ ((std::process::id() as u64) << 20)).next_u64() >> 16
        );
        admin()
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        Schema(name)
    }

    fn url(&self) -> String {
        let sep = if database_url().contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}application_name={}&options=-c%20search_path%3D{}",
            database_url(),
            self.0,
            self.0
        )
    }

    fn client(&self) -> Client {
        Client::connect(&self.url(), NoTls).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&database_url(), NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
        }
    }
}

fn admin() -> Client {
    Client::connect(&database_url(), NoTls).expect("PostgreSQL at DATABASE_URL")
}

/// dev.toml with the journal in `dir`, OS-chosen ports and `BATCH` commands per batch.
fn config_file(dir: &Path) -> (PathBuf, tachyon_config::Config) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dev.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("journal_dir"))
        .unwrap();
    let journal = dir.join("journal");
    let text = text
        .replace(
            line,
            &format!("journal_dir = {:?}", journal.to_str().unwrap()),
        )
        .replace("listen = \"127.0.0.1:9878\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9880\"", "listen = \"127.0.0.1:0\"")
        .replace("batch_size = 10_000", &format!("batch_size = {BATCH}"));
    assert!(text.contains(&format!("batch_size = {BATCH}")));
    let path = dir.join("kill.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = tachyon_config::Config::load(&path).unwrap();
    (path, cfg)
}

/// The dev funding, then a trade-heavy flow on BTC-USDT and ETH-USDT: resting orders
/// around the mid, crossing IOC orders, some cancels.
fn commands(cfg: &tachyon_config::Config) -> Vec<tachyon_engine::Command> {
    let mut out = tachyon::genesis(cfg);
    let mut rng = SplitMix(0x5eed);
    let mut ts = out.last().map_or(1, |c| c.ts_ns);
    let mut orders = 0u64;
    while out.len() < COMMANDS {
        ts += 1_000;
        let account = AccountId(1 + rng.below(3) as u32);
        let symbol = SymbolId(rng.below(2) as u16);
        let (mid, min_lots) = if symbol.0 == 0 {
            (6_000_000, 10) // 60,000 USDT; 0.0001 BTC
        } else {
            (300_000, 20) // 3,000 USDT; 0.002 ETH
        };
        let kind = if rng.pct(8) && orders > 0 {
            CommandKind::Cancel(CancelOrder {
                account,
                symbol,
                target: OrderRef::Id(OrderId(1 + rng.below(orders))),
                cl_ord_id: ClOrdId::EMPTY,
            })
        } else {
            orders += 1;
            let buy = rng.pct(50);
            let aggressive = rng.pct(50);
            let off = rng.range(0, 20);
            let price = match (buy, aggressive) {
                (true, false) => mid - 1 - off,
                (false, false) => mid + 1 + off,
                (true, true) => mid + 30,
                (false, true) => mid - 30,
            };
            CommandKind::NewOrder(NewOrder {
                account,
                session: SessionId(0),
                cl_ord_id: ClOrdId::from_u64(orders),
                symbol,
                side: if buy { Side::Buy } else { Side::Sell },
                ord_type: OrdType::Limit,
                price: Price(price),
                qty: Qty(min_lots * rng.range(1, 10)),
                quote_budget: 0,
                tif: if aggressive { Tif::Ioc } else { Tif::Gtc },
                expire_ns: 0,
                post_only: false,
                stp: StpMode::CancelOldest,
            })
        };
        out.push(tachyon_engine::Command { ts_ns: ts, kind });
    }
    out
}

/// Journals `cmds` through a pipeline configured like the binary's, then stops it.
fn prepare_journal(cfg: &tachyon_config::Config, cmds: &[tachyon_engine::Command]) {
    let mut opts = tachyon::pipeline_options(cfg);
    opts.tick_interval = None;
    opts.outbound_pollers = 1; // this thread is the only reader
    let mut p = Pipeline::start(cfg.engine_config(), opts).unwrap();
    let mut reader = p.take_pollers().pop().unwrap();
    let mut publisher = p.publisher();
    let last = cmds.len() as u64;
    let (mut sent, mut done) = (0, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done {
        while sent < cmds.len() && publisher.try_publish(cmds[sent]).is_ok() {
            sent += 1;
        }
        if reader.poll(|ev| done |= ev.last && ev.cmd_seq == last) == PollResult::Released(0) {
            std::thread::yield_now();
        }
        assert!(Instant::now() < deadline, "pipeline stalled");
    }
    drop(publisher);
    let stats = p.stats();
    let drain = std::thread::spawn(move || while reader.poll(|_| {}) != PollResult::Shutdown {});
    p.shutdown().unwrap();
    drain.join().unwrap();
    assert_eq!(stats.durable_seq.load(Ordering::Acquire), last);
}

fn start(config: &Path, url: &str, log: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("TACHYON_DATABASE_URL", url)
        .env("TACHYON_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn checkpoint(c: &mut Client) -> i64 {
    c.query_one("SELECT last_seq FROM persister_checkpoint", &[])
        .map(|r| r.get(0))
        .unwrap_or(0)
}

/// The persister's backends (one per connection) inside a batch that has written rows:
/// (pid, xid).
fn writing_backends(a: &mut Client, app: &str) -> Vec<(i32, i64)> {
    a.query(
        "SELECT pid, backend_xid::text::bigint FROM pg_stat_activity \
         WHERE application_name = $1 AND backend_xid IS NOT NULL AND state <> 'idle'",
        &[&app],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Each part's checkpoint (persister_parts).
fn parts(c: &mut Client) -> Vec<i64> {
    c.query("SELECT last_seq FROM persister_parts ORDER BY part", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `committed`, `aborted` or `in progress` for a 32-bit xid of the current epoch.
fn xact_status(a: &mut Client, xid: i64) -> String {
    a.query_one(
        "SELECT pg_xact_status((((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32) << 32) \
         + $1)::text::xid8)",
        &[&xid],
    )
    .unwrap()
    .get(0)
}

/// Every table's full contents as text, in key order (wall-clock columns left out).
fn dump(c: &mut Client) -> BTreeMap<&'static str, Vec<String>> {
    let tables: [(&str, &str); 11] = [
        (
            "schema_migrations",
            "SELECT version::text || ' ' || name FROM schema_migrations ORDER BY version",
        ),
        ("assets", "SELECT t::text FROM assets t ORDER BY asset_id"),
        (
            "instruments",
            "SELECT t::text FROM instruments t ORDER BY symbol_id",
        ),
        (
            "accounts",
            "SELECT t::text FROM accounts t ORDER BY account_id",
        ),
        ("api_keys", "SELECT t::text FROM api_keys t ORDER BY key_id"),
        (
            "balances",
            "SELECT t::text FROM balances t ORDER BY account_id, asset_id",
        ),
        (
            "orders",
            "SELECT t::text FROM orders t ORDER BY created_seq",
        ),
        ("trades", "SELECT t::text FROM trades t ORDER BY trade_id"),
        (
            "ledger_entries",
            "SELECT t::text FROM ledger_entries t ORDER BY engine_seq, entry_no",
        ),
        (
            "persister_checkpoint",
            "SELECT last_seq::text FROM persister_checkpoint",
        ),
        (
            "persister_parts",
            "SELECT part || ' ' || last_seq FROM persister_parts ORDER BY part",
        ),
    ];
    tables
        .iter()
        .map(|(name, sql)| {
            let rows = c.query(*sql, &[]).expect(sql);
            (*name, rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
        .collect()
}

/// The uninterrupted writer: every command of the final journal through an engine and one
/// `Persister`, in batches of another size than the binary's.
fn reference(cfg: &tachyon_config::Config, journal: &Path, schema: &Schema) {
    let mut engine = Engine::new(cfg.engine_config()).unwrap();
    let (mut events, mut evs) = (Vec::<OutEvent>::new(), Vec::new());
    tachyon_journal::for_each_record::<tachyon_journal::JournalError, _>(
        journal,
        1..,
        |seq, payload| {
            let cmd = tachyon_engine::decode_command(payload).expect("journal record");
            evs.clear();
            engine.apply(&cmd, &mut evs);
            let n = evs.len();
            events.extend(evs.iter().enumerate().map(|(j, e)| OutEvent {
                cmd_seq: seq,
                ts_ns: cmd.ts_ns,
                event: *e,
                last: j + 1 == n,
                origin: 0,
            }));
            Ok(())
        },
    )
    .unwrap();
    let sizes: Vec<TickLot> = cfg
        .instruments
        .iter()
        .map(|i| TickLot {
            tick_size: i.tick_size,
            lot_size: i.lot_size,
        })
        .collect();
    let units = Units::new(&cfg.engine_config(), &sizes).unwrap();
    let pg: tachyon_persister::postgres::Config = schema.url().parse().unwrap();
    let mut p = Persister::connect(&pg, units).unwrap();
    let mut start = 0;
    let mut cmds = 0;
    for (i, e) in events.iter().enumerate() {
        if e.last {
            cmds += 1;
            if cmds == 3_333 {
                p.write_batch(&events[start..=i]).unwrap();
                (start, cmds) = (i + 1, 0);
            }
        }
    }
    p.write_batch(&events[start..]).unwrap();
    assert_eq!(
        p.checkpoint(),
        COMMANDS as u64,
        "the last command with events"
    );
}

#[test]
fn sigkill_mid_batch_repeatedly_then_the_database_equals_an_uninterrupted_run() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (config, cfg) = config_file(tmp.path());
    let cmds = commands(&cfg);
    prepare_journal(&cfg, &cmds);
    let journal = tmp.path().join("journal");

    let schema = Schema::new("run");
    let url = schema.url();
    let mut db = schema.client();
    let mut a = admin();
    let log = tmp.path().join("tachyon.log");
    let mut kills = Vec::new(); // (checkpoint before, checkpoint after)
    let mut starts = 0;
    while kills.len() < KILLS {
        assert!(
            starts < 4 * KILLS,
            "only {} of {KILLS} kills landed inside a batch in {starts} starts: {kills:?}",
            kills.len()
        );
        starts += 1;
        let before = checkpoint(&mut db);
        let mut child = start(&config, &url, &log);
        // Let it store at least one batch in this life, then catch it inside the next one.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut target = None;
        let mut stored = false;
        while Instant::now() < deadline {
            stored = stored || checkpoint(&mut db) > before;
            if stored {
                let b = writing_backends(&mut a, &schema.0);
                if !b.is_empty() {
                    target = Some(b);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "tachyon exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let inside = target.unwrap_or_else(|| {
            panic!(
                "persister never inside a batch (checkpoint {} → {}): {}",
                before,
                checkpoint(&mut db),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        // The orphaned backends notice the dead client and roll back.
        let mut aborted = 0;
        for (pid, xid) in inside {
            let t = Instant::now();
            let status = loop {
                let s = xact_status(&mut a, xid);
                if s != "in progress" {
                    break s;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "backend {pid} lives on"
                );
                std::thread::sleep(Duration::from_millis(5));
            };
            aborted += (status == "aborted") as usize;
        }
        let after = checkpoint(&mut db);
        // Whatever happened, every part is at a batch boundary of its own: nothing past
        // its checkpoint (part 0: orders, trades, balances; 1 and 2: odd and even ledger).
        let p = parts(&mut db);
        for (sql, cp) in [
            ("SELECT count(*) FROM trades WHERE engine_seq > $1", p[0]),
            ("SELECT count(*) FROM orders WHERE updated_seq > $1", p[0]),
            ("SELECT count(*) FROM balances WHERE updated_seq > $1", p[0]),
            (
                "SELECT count(*) FROM ledger_entries WHERE engine_seq % 2 = 1 AND engine_seq > $1",
                p[1],
            ),
            (
                "SELECT count(*) FROM ledger_entries WHERE engine_seq % 2 = 0 AND engine_seq > $1",
                p[2],
            ),
        ] {
            let n: i64 = db.query_one(sql, &[&cp]).unwrap().get(0);
            assert_eq!(n, 0, "{sql}: rows past the part's checkpoint {cp}");
        }
        if aborted > 0 {
            kills.push((before, after));
        }
        assert!(
            after < COMMANDS as i64,
            "the persister finished before {KILLS} kills: make the journal longer"
        );
    }

    // The last life runs to the end of the journal, then stops cleanly.
    let mut child = start(&config, &url, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&mut db) < COMMANDS as i64 {
        assert!(Instant::now() < deadline, "the persister did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sigterm = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sigterm.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The same journal (with the time ticks the runs added) written without interruption.
    let reference_schema = Schema::new("ref");
    reference(&cfg, &journal, &reference_schema);
    let got = dump(&mut db);
    let want = dump(&mut reference_schema.client());
    for (table, rows) in &want {
        let g = &got[table];
        assert!(
            g == rows,
            "{table}: {} rows after the kills, {} in the uninterrupted run; first difference: {:?}",
            g.len(),
            rows.len(),
            g.iter().zip(rows).find(|(x, y)| x != y)
        );
    }
    let trades = want["trades"].len();
    assert!(trades > 10_000, "a trade-heavy journal ({trades} trades)");
    eprintln!(
        "{} kills inside a batch in {starts} starts (checkpoint before → after: {kills:?}); \
         {trades} trades, {} ledger entries; {:.1} s",
        kills.len(),
        want["ledger_entries"].len(),
        t0.elapsed().as_secs_f64()
    );
}
