//! Exactly-once: replays are skipped, a crash inside a batch leaves the database at the
//! previous batch boundary, and a restart fed the same events again ends equal to an
//! uninterrupted run.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tachyon_engine::Event;
use tachyon_persister::postgres::{Client, NoTls};
use tachyon_persister::{Error, Persister};
use tachyon_pipeline::OutEvent;

fn admin() -> Client {
    Client::connect(&database_url(), NoTls).unwrap()
}

/// Backend pid of the schema's persister connection once it waits on a lock.
fn wait_for_blocked_backend(schema: &TestSchema) -> i32 {
    let app = format!("persister-{}", schema.name);
    let mut c = admin();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = c
            .query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", &[&app])
            .unwrap();
        if let Some(r) = rows.first() {
            return r.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "persister never blocked on the balances lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn reference_dump(events: &[OutEvent]) -> std::collections::BTreeMap<&'static str, Vec<String>> {
    let schema = TestSchema::new();
    let mut p = open(&schema);
    for b in batches(events, 0xabc, 300) {
        p.write_batch(b).unwrap();
    }
    dump(&mut schema.client())
}

#[test]
fn replaying_everything_again_changes_nothing() {
    let (_, events) = run_engine(&commands(21, 5_000));
    let schema = TestSchema::new();
    let mut p = open(&schema);
    for b in batches(&events, 1, 200) {
        p.write_batch(b).unwrap();
    }
    let before = dump(&mut schema.client());
    drop(p);
    let mut p = open(&schema);
    assert_eq!(p.checkpoint(), events.last().unwrap().cmd_seq);
    for b in batches(&events, 2, 50) {
        let o = p.write_batch(b).unwrap();
        assert_eq!((o.written_events, o.skipped_events), (0, b.len()));
    }
    assert_eq!(dump(&mut schema.client()), before);
    assert_eq!(before, reference_dump(&events));
}

#[test]
fn crash_inside_a_batch_resumes_exactly_once() {
    let (_, events) = run_engine(&commands(11, 20_000));
    let reference = reference_dump(&events);
    let bs = batches(&events, 3, 300);
    let k = bs.len() / 2;
    let victim: Vec<OutEvent> = bs[k].to_vec();
    assert!(
        victim.iter().any(|e| matches!(e.event, Event::Trade(_))),
        "victim batch without trades"
    );

    let schema = TestSchema::new();
    let mut p = open(&schema);
    for b in &bs[..k] {
        p.write_batch(b).unwrap();
    }
    let boundary = p.checkpoint();
    // Block the batch at its balance upsert (after the orders, trades and ledger COPYs)...
    let mut locker = schema.client();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE balances IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let writer = std::thread::spawn(move || p.write_batch(&victim).map(|_| ()));
    let pid = wait_for_blocked_backend(&schema);
    // ... check it is really mid-batch (it holds locks on the append tables it wrote) ...
    let mut a = admin();
    let written: Vec<String> = a
        .query(
            "SELECT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE l.pid = $1 AND l.granted AND c.relname IN ('trades', 'ledger_entries', 'orders') ORDER BY 1",
            &[&pid],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(written, ["ledger_entries", "orders", "trades"]);
    // ... and kill its connection: the crash.
    let killed: bool = a
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(killed);
    let err = writer.join().unwrap().unwrap_err();
    assert!(matches!(err, Error::Sql { .. }), "{err}");
    lock.rollback().unwrap();
    drop(locker);

    // The database is exactly at the previous batch boundary.
    let mut c = schema.client();
    let cp: i64 = c
        .query_one("SELECT last_seq FROM persister_checkpoint", &[])
        .unwrap()
        .get(0);
    assert_eq!(cp as u64, boundary);
    for t in ["trades", "ledger_entries"] {
        let n: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {t} WHERE engine_seq > $1"),
                &[&cp],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{t} rows past the checkpoint");
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders WHERE updated_seq > $1", &[&cp])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // Restart from the checkpoint, fed the whole stream again (other batch sizes); halfway,
    // the connection dies between batches once more and the persister is reopened.
    let mut p = open(&schema);
    assert_eq!(p.checkpoint(), boundary);
    let again = batches(&events, 4, 700);
    let half = again.len() / 2;
    for b in &again[..half] {
        p.write_batch(b).unwrap();
    }
    let pid: i32 = c
        .query_one("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", &[&format!("persister-{}", schema.name)])
        .unwrap()
        .get(0);
    admin()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let err = p.write_batch(again[half]).unwrap_err();
    assert!(err.to_string().contains("PostgreSQL error while"), "{err}");
    drop(p);
    let mut p = open(&schema);
    for b in &again[half..] {
        p.write_batch(b).unwrap();
    }
    assert_eq!(dump(&mut c), reference);
}

/// Rows past each part's own checkpoint (part 0: orders, trades, balances; 1 and 2: the
/// ledger entries of odd and even sequences).
fn rows_past_parts(c: &mut Client, parts: [u64; 3]) -> Vec<i64> {
    let [p0, p1, p2] = parts.map(|p| p as i64);
    [
        ("SELECT count(*) FROM orders WHERE updated_seq > $1", p0),
        ("SELECT count(*) FROM trades WHERE engine_seq > $1", p0),
        ("SELECT count(*) FROM balances WHERE updated_seq > $1", p0),
        (
            "SELECT count(*) FROM ledger_entries WHERE engine_seq % 2 = 1 AND engine_seq > $1",
            p1,
        ),
        (
            "SELECT count(*) FROM ledger_entries WHERE engine_seq % 2 = 0 AND engine_seq > $1",
            p2,
        ),
    ]
    .iter()
    .map(|(sql, cp)| c.query_one(*sql, &[cp]).unwrap().get(0))
    .collect()
}

#[test]
fn parallel_parts_fail_independently_and_resume_exactly_once() {
    let (_, events) = run_engine(&commands(13, 20_000));
    let reference = reference_dump(&events);
    let bs = batches(&events, 6, 300);
    let k = bs.len() / 2;
    let victim: Vec<OutEvent> = bs[k].to_vec();
    let end = victim.last().unwrap().cmd_seq;
    let schema = TestSchema::new();
    let mut p = Persister::connect_parallel(&schema.config(), units(), 3).unwrap();
    assert_eq!(p.connections(), 3);
    for b in &bs[..k] {
        p.write_batch(b).unwrap();
    }
    let boundary = p.checkpoint();
    assert_eq!(p.part_checkpoints(), [boundary; 3]);

    // Part 0's connection blocks at its balance upsert; the ledger parts commit meanwhile.
    let mut locker = schema.client();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE balances IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let writer = std::thread::spawn(move || {
        let r = p.write_batch(&victim).map(|_| ());
        (p, r)
    });
    let pid = wait_for_blocked_backend(&schema);
    let mut c = schema.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM persister_parts WHERE part > 0 AND last_seq = $1",
                &[&(end as i64)],
            )
            .unwrap()
            .get(0);
        if n == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "ledger parts never committed");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Kill part 0's connection mid-batch.
    let killed: bool = admin()
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(killed);
    let (p, r) = writer.join().unwrap();
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Sql { .. }), "{err}");
    assert_eq!(p.part_checkpoints(), [boundary, end, end]);
    assert_eq!(p.checkpoint(), boundary);
    lock.rollback().unwrap();
    drop(locker);
    drop(p);

    // Each part is at a boundary of its own; the view shows what every table holds.
    let cp: i64 = c
        .query_one("SELECT last_seq FROM persister_checkpoint", &[])
        .unwrap()
        .get(0);
    assert_eq!(cp as u64, boundary);
    assert_eq!(rows_past_parts(&mut c, [boundary, end, end]), [0; 5]);
    let ledger_after: i64 = c
        .query_one(
            "SELECT count(*) FROM ledger_entries WHERE engine_seq > $1",
            &[&(boundary as i64)],
        )
        .unwrap()
        .get(0);
    assert!(ledger_after > 0, "the ledger parts of the batch are stored");

    // Restart (two connections this time: parts 0 and 2 share one) and feed everything
    // again in other batch sizes: each part skips what it holds.
    let mut p = Persister::connect_parallel(&schema.config(), units(), 2).unwrap();
    assert_eq!(p.part_checkpoints(), [boundary, end, end]);
    for b in batches(&events, 7, 500) {
        p.write_batch(b).unwrap();
    }
    assert_eq!(dump(&mut c), reference);
}

#[test]
fn malformed_batches_are_refused_without_writing() {
    let (_, events) = run_engine(&commands(5, 300));
    let schema = TestSchema::new();
    let mut p = open(&schema);
    // Ends inside a command.
    let cut = events.iter().position(|e| !e.last).unwrap();
    assert!(matches!(
        p.write_batch(&events[..=cut]),
        Err(Error::Batch(_))
    ));
    // Sequences going backwards.
    let mut swapped: Vec<OutEvent> = events[..20].to_vec();
    let last_cmd_start = swapped
        .iter()
        .rposition(|e| e.cmd_seq != swapped[19].cmd_seq)
        .unwrap()
        + 1;
    let tail: Vec<OutEvent> = swapped.drain(last_cmd_start..).collect();
    if swapped.last().is_some_and(|e| e.last) && tail.last().is_some_and(|e| e.last) {
        let mut bad = tail.clone();
        bad.extend_from_slice(&swapped);
        assert!(matches!(p.write_batch(&bad), Err(Error::Batch(_))));
    }
    // A command interrupted by another.
    let mut mixed = events.clone();
    let i = mixed.iter().position(|e| !e.last).unwrap();
    mixed[i].cmd_seq += 1;
    let err = p.write_batch(&mixed).unwrap_err();
    assert!(matches!(err, Error::Batch(_)), "{err}");
    assert_eq!(p.checkpoint(), 0);
    let n: i64 = schema
        .client()
        .query_one("SELECT count(*) FROM ledger_entries", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // The empty batch is fine.
    assert_eq!(p.write_batch(&[]).unwrap().checkpoint, 0);
}

#[test]
fn a_second_writer_on_the_same_schema_cannot_double_write() {
    let (_, events) = run_engine(&commands(9, 3_000));
    let bs = batches(&events, 5, 200);
    let schema = TestSchema::new();
    let mut p1 = open(&schema);
    let mut p2 = open(&schema); // stale: still believes the checkpoint is 0
    for b in &bs {
        p1.write_batch(b).unwrap();
    }
    let before = dump(&mut schema.client());
    for b in &bs {
        assert!(p2.write_batch(b).is_err(), "stale writer wrote a batch");
    }
    // A write that changes nothing but the checkpoint is refused by the checkpoint guard.
    let mut p3 = open(&schema);
    let last = events.last().unwrap().cmd_seq;
    let no_rows = [OutEvent {
        cmd_seq: last + 1,
        ts_ns: 0,
        event: Event::BookLevel {
            symbol: tachyon_engine::SymbolId(0),
            side: tachyon_engine::Side::Buy,
            price: tachyon_engine::Price(1),
            qty: tachyon_engine::Qty(0),
            count: 0,
        },
        last: true,
        origin: 0,
    }];
    p1.write_batch(&no_rows).unwrap();
    let err = p3.write_batch(&no_rows).unwrap_err();
    assert!(
        matches!(err, Error::Inconsistent(_)) && err.to_string().contains("another persister"),
        "{err}"
    );
    let mut after = dump(&mut schema.client());
    assert_eq!(
        after.remove("persister_checkpoint").unwrap(),
        [(last + 1).to_string()]
    );
    assert_eq!(
        after.remove("persister_parts").unwrap(),
        (0..3)
            .map(|p| format!("{p} {}", last + 1))
            .collect::<Vec<_>>()
    );
    let mut before = before;
    before.remove("persister_checkpoint");
    before.remove("persister_parts");
    assert_eq!(after, before);
}
