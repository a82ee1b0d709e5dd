//! Migrations: applied once, recorded, and a newer database refused.

mod common;

use common::*;
use tachyon_persister::{
    latest_version, migrate, schema_version, Error, Persister, TickLot, Units, MIGRATIONS,
};

#[test]
fn fresh_schema_is_migrated_and_recorded() {
    let schema = TestSchema::new();
    let mut c = schema.client();
    assert_eq!(schema_version(&mut c).unwrap(), 0);
    assert_eq!(migrate(&mut c).unwrap(), 0);
    assert_eq!(schema_version(&mut c).unwrap(), latest_version());
    // Idempotent: a second run applies nothing.
    assert_eq!(migrate(&mut c).unwrap(), latest_version());
    let n: i64 = c
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, MIGRATIONS.len() as i64);
    // Every table of the issue exists in the test schema.
    for t in [
        "accounts",
        "api_keys",
        "balances",
        "orders",
        "trades",
        "ledger_entries",
        "persister_parts",
    ] {
        let ok: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
                &[&schema.name, &t],
            )
            .unwrap()
            .get(0);
        assert!(ok, "table {t} missing");
    }
    // Everything up to persister_checkpoint.last_seq is stored in every part.
    let cp: i64 = c
        .query_one("SELECT last_seq FROM persister_checkpoint", &[])
        .unwrap()
        .get(0);
    assert_eq!(cp, 0);
    // Every amount column is NUMERIC (no floating point).
    let floats: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 \
             AND data_type IN ('real', 'double precision', 'money')",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(floats, 0);
    // The ledger is append-only.
    let err = c.execute("DELETE FROM ledger_entries", &[]).unwrap_err();
    assert!(
        err.as_db_error().unwrap().message().contains("append-only"),
        "{err}"
    );
    assert!(c
        .execute("UPDATE ledger_entries SET entry_no = 0", &[])
        .is_err());
}

#[test]
fn newer_schema_is_refused_naming_both_versions() {
    let schema = TestSchema::new();
    let mut c = schema.client();
    migrate(&mut c).unwrap();
    let future = latest_version() + 1;
    c.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
        &[&future],
    )
    .unwrap();
    let err = migrate(&mut c).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { database, binary } if database == future && binary == latest_version())
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("version {future}"))
            && msg.contains(&format!("version {}", latest_version())),
        "{msg}"
    );
    // Opening a persister is refused the same way.
    let err = Persister::open(schema.client(), units())
        .err()
        .expect("refused");
    assert!(matches!(err, Error::SchemaTooNew { .. }), "{err}");
}

#[test]
fn gap_in_recorded_versions_is_refused() {
    let schema = TestSchema::new();
    let mut c = schema.client();
    migrate(&mut c).unwrap();
    c.execute("DELETE FROM schema_migrations", &[]).unwrap();
    c.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, 'x')",
        &[&(latest_version() + 2)],
    )
    .unwrap();
    assert!(matches!(migrate(&mut c), Err(Error::SchemaTooNew { .. })));
    if latest_version() >= 2 {
        c.execute("DELETE FROM schema_migrations", &[]).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (2, 'x')",
            &[],
        )
        .unwrap();
        assert!(matches!(migrate(&mut c), Err(Error::SchemaInconsistent(_))));
    }
}

#[test]
fn concurrent_migrators_apply_once() {
    let schema = TestSchema::new();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cfg = schema.config();
            std::thread::spawn(move || {
                migrate(&mut cfg.connect(tachyon_persister::postgres::NoTls).unwrap()).unwrap()
            })
        })
        .collect();
    let before: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(before.iter().filter(|&&v| v == 0).count(), 1, "{before:?}");
}

#[test]
fn every_migration_file_is_embedded_in_order() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let embedded: Vec<String> = MIGRATIONS
        .iter()
        .map(|m| format!("{:04}_{}.sql", m.version, m.name))
        .collect();
    assert_eq!(files, embedded);
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i32 + 1);
        assert_eq!(
            m.sql,
            std::fs::read_to_string(dir.join(&embedded[i])).unwrap()
        );
    }
}

#[test]
fn changed_units_are_refused() {
    let schema = TestSchema::new();
    drop(open(&schema));
    // BTC-USDT re-configured with 100 base units per lot: tick 0.1 / lot 0.000001.
    let mut cfg = engine_config();
    cfg.instruments[0].base_units_per_lot = 100;
    let t = TickLot {
        tick_size: "0.1".parse().unwrap(),
        lot_size: "0.000001".parse().unwrap(),
    };
    let other = Units::new(&cfg, &[t, tick_lots()[1]]).unwrap();
    let err = Persister::connect(&schema.config(), other)
        .err()
        .expect("refused");
    assert!(matches!(err, Error::Inconsistent(_)), "{err}");
    assert!(err.to_string().contains("BTC-USDT"), "{err}");
}

#[test]
fn units_must_reproduce_engine_factors() {
    let bad = TickLot {
        tick_size: "0.02".parse().unwrap(),
        lot_size: "0.00001".parse().unwrap(),
    };
    let err = Units::new(&engine_config(), &[bad, bad]).unwrap_err();
    assert!(
        err.to_string().contains("quote_units_per_tick_lot"),
        "{err}"
    );
    assert!(Units::new(&engine_config(), &tick_lots()[..1]).is_err());
    let u = units();
    let i = &u.instruments()[0];
    assert_eq!(i.price(123_457), "1234.57".parse().unwrap());
    assert_eq!(i.qty(3), "0.00003".parse().unwrap());
    assert_eq!(i.avg_price(10, 3), Some("0.0333333333".parse().unwrap()));
    assert_eq!(i.avg_price(0, 0), None);
}

#[test]
fn sql_errors_name_their_context() {
    let schema = TestSchema::new();
    let mut c = schema.client();
    migrate(&mut c).unwrap();
    // Sabotage: the trades table is gone; writing a trade must say what failed.
    c.batch_execute("DROP TABLE trades").unwrap();
    let mut p = open(&schema);
    let cmds = commands(7, 2_000);
    let (_, events) = run_engine(&cmds);
    let err = p.write_batch(&events).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("COPY into trades") && msg.contains("does not exist"),
        "{msg}"
    );
    assert_eq!(p.checkpoint(), 0);
}
