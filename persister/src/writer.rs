//! The batch writer: one transaction per batch, binary COPY for appends, staging tables and
//! set-based upserts for current state, and the checkpoint in the same transaction.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement, Transaction};
use rust_decimal::Decimal;
use tachyon_engine::OrdType;
use tachyon_pipeline::OutEvent;

use crate::batch::{self, Batch, KeyChange, Take};
use crate::error::{Error, SqlContext};
use crate::migrate;
use crate::units::Units;

/// What one [`Persister::write_batch`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events at or below the checkpoint, skipped (already stored).
    pub skipped_events: usize,
    /// Events written.
    pub written_events: usize,
    /// Trade rows inserted.
    pub trades: usize,
    /// Ledger rows inserted.
    pub ledger_entries: usize,
    /// Order rows inserted (accepted and rejected orders).
    pub orders_inserted: usize,
    /// Existing order rows updated.
    pub orders_updated: usize,
    /// The checkpoint after the call.
    pub checkpoint: u64,
}

/// Where [`Persister::write_batch`] spent its time, summed since the persister was opened
/// (client wall clock). A COPY's figure covers encoding the rows and the server's work on
/// them up to its `finish`; `commit` is the checkpoint update and the COMMIT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    /// Batches written.
    pub batches: u64,
    /// Folding the events into rows.
    pub fold: Duration,
    /// Account inserts.
    pub accounts: Duration,
    /// COPY of new orders.
    pub orders: Duration,
    /// COPY of order changes into the staging table and the `UPDATE`.
    pub order_updates: Duration,
    /// COPY of trades.
    pub trades: Duration,
    /// COPY of ledger entries.
    pub ledger: Duration,
    /// COPY of balances into the staging table and the upsert.
    pub balances: Duration,
    /// Checkpoint update and COMMIT.
    pub commit: Duration,
}

/// Writes engine events to PostgreSQL, exactly once.
///
/// Opening migrates the schema, records the assets and instruments (refusing ones that
/// changed), and reads the checkpoints. The rows are stored in three parts (see
/// [`PARTS`]), each with its own checkpoint in `persister_parts` moved in the same
/// transaction as its rows. With one connection ([`connect`](Persister::connect)) a batch
/// is one transaction moving all three; with more
/// ([`connect_parallel`](Persister::connect_parallel)) the parts are spread over the
/// connections and written in parallel, one transaction per connection. Either way, after
/// a crash anywhere each part is at a batch boundary of its own, and feeding the same
/// events again skips, part by part, what is already stored.
pub struct Persister {
    lanes: Vec<Lane>,
    units: Units,
    checkpoints: [u64; 3],
    batches: u64,
}

/// What each part of the rows holds, by part number (`persister_parts.part`). Which rows
/// belong to a part depends only on the command, never on the batching.
pub const PARTS: [&str; 3] = [
    "accounts, orders, trades, balances",
    "ledger_entries of odd engine_seq",
    "ledger_entries of even engine_seq",
];

/// One connection and the parts it writes.
struct Lane {
    client: Client,
    parts: Vec<usize>,
    batch: Batch,
    times: PhaseTimes,
    insert_account: Statement,
    insert_api_key: Statement,
    revoke_api_key: Statement,
    apply_order_updates: Statement,
    upsert_balances: Statement,
    move_part: Statement,
}

/// What one lane stored in one batch.
#[derive(Default)]
struct LaneOutcome {
    moved: Vec<usize>,
    trades: usize,
    ledger_entries: usize,
    orders_inserted: usize,
    orders_updated: usize,
}

const COPY_ORDERS: &str = "COPY orders (created_seq, order_id, account_id, session_id, cl_ord_id, symbol_id, side, \
     ord_type, tif, post_only, stp, price, qty, quote_budget, expire_at, status, leaves_qty, filled_qty, filled_quote, \
     avg_price, reject_reason, cancel_reason, created_at, updated_seq, updated_at) FROM STDIN BINARY";
const ORDERS_TYPES: &[Type] = &[
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT4,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::TEXT,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::TIMESTAMPTZ,
];

const STAGING: &str = "
    CREATE TEMP TABLE IF NOT EXISTS tachyon_order_updates (
        order_id BIGINT NOT NULL, cl_ord_id TEXT NOT NULL, price NUMERIC, qty NUMERIC,
        leaves_qty NUMERIC NOT NULL, filled_qty NUMERIC NOT NULL, filled_quote NUMERIC NOT NULL,
        avg_price NUMERIC, status TEXT NOT NULL, cancel_reason TEXT,
        updated_seq BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS tachyon_balance_updates (
        account_id BIGINT NOT NULL, asset_id INTEGER NOT NULL, available NUMERIC NOT NULL,
        locked NUMERIC NOT NULL, updated_seq BIGINT NOT NULL
    ) ON COMMIT DELETE ROWS;";

const COPY_ORDER_UPDATES: &str =
    "COPY tachyon_order_updates (order_id, cl_ord_id, price, qty, leaves_qty, filled_qty, \
     filled_quote, avg_price, status, cancel_reason, updated_seq, updated_at) FROM STDIN BINARY";
const ORDER_UPDATES_TYPES: &[Type] = &[
    Type::INT8,
    Type::TEXT,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TIMESTAMPTZ,
];
const APPLY_ORDER_UPDATES: &str = "UPDATE orders o SET cl_ord_id = u.cl_ord_id, price = COALESCE(u.price, o.price), \
     qty = COALESCE(u.qty, o.qty), leaves_qty = u.leaves_qty, filled_qty = u.filled_qty, filled_quote = u.filled_quote, \
     avg_price = u.avg_price, status = u.status, cancel_reason = COALESCE(u.cancel_reason, o.cancel_reason), \
     updated_seq = u.updated_seq, updated_at = u.updated_at \
     FROM tachyon_order_updates u WHERE o.order_id = u.order_id";

const COPY_TRADES: &str = "COPY trades (trade_id, symbol_id, price, qty, aggressor_side, maker_order_id, \
     maker_account_id, taker_order_id, taker_account_id, maker_fee, taker_fee, engine_seq, executed_at) FROM STDIN BINARY";
const TRADES_TYPES: &[Type] = &[
    Type::INT8,
    Type::INT4,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::INT8,
    Type::TIMESTAMPTZ,
];

const COPY_LEDGER: &str =
    "COPY ledger_entries (engine_seq, entry_no, account_id, asset_id, delta_available, \
     delta_locked, available_after, locked_after, reason, reference, created_at) FROM STDIN BINARY";
const LEDGER_TYPES: &[Type] = &[
    Type::INT8,
    Type::INT4,
    Type::INT8,
    Type::INT4,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::TEXT,
    Type::NUMERIC,
    Type::TIMESTAMPTZ,
];

const COPY_BALANCES: &str =
    "COPY tachyon_balance_updates (account_id, asset_id, available, locked, updated_seq) FROM STDIN BINARY";
const BALANCES_TYPES: &[Type] = &[
    Type::INT8,
    Type::INT4,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::INT8,
];
const UPSERT_BALANCES: &str = "INSERT INTO balances (account_id, asset_id, available, locked, updated_seq) \
     SELECT account_id, asset_id, available, locked, updated_seq FROM tachyon_balance_updates \
     ON CONFLICT (account_id, asset_id) DO UPDATE SET available = EXCLUDED.available, locked = EXCLUDED.locked, \
     updated_seq = EXCLUDED.updated_seq";

fn ts(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

fn id(v: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::Inconsistent(format!("{what} {v} does not fit in BIGINT")))
}

impl Persister {
    /// Connects with `config` (set `search_path` through `options`, e.g.
    /// `-c search_path=exchange`, to use a schema other than `public`) and opens with one
    /// connection: every batch is a single transaction.
    pub fn connect(config: &postgres::Config, units: Units) -> Result<Persister, Error> {
        Persister::connect_parallel(config, units, 1)
    }

    /// Like [`connect`](Persister::connect) with `connections` connections (1 to 3): the
    /// three parts are dealt round-robin over them (part `p` to connection `p %
    /// connections`) and each batch is written by all of them at once, one transaction
    /// (with its parts' checkpoints) per connection, on scoped threads.
    pub fn connect_parallel(
        config: &postgres::Config,
        units: Units,
        connections: usize,
    ) -> Result<Persister, Error> {
        let n = connections.clamp(1, PARTS.len());
        let connect = || {
            config
                .connect(postgres::NoTls)
                .ctx("connecting to PostgreSQL")
        };
        let mut p = Persister::open(connect()?, units)?;
        if n > 1 {
            let mut clients = vec![p.lanes.pop().expect("one lane").client];
            for _ in 1..n {
                clients.push(connect()?);
            }
            for (i, client) in clients.into_iter().enumerate() {
                let parts = (0..PARTS.len()).filter(|q| q % n == i).collect();
                p.lanes.push(Lane::prepare(client, parts)?);
            }
        }
        Ok(p)
    }

    /// Opens on an established connection (one connection, see
    /// [`connect`](Persister::connect)): migrates, records the reference data, reads the
    /// checkpoints and prepares the statements.
    pub fn open(mut client: Client, units: Units) -> Result<Persister, Error> {
        migrate::migrate(&mut client)?;
        sync_reference_data(&mut client, &units)?;
        let rows = client
            .query(
                "SELECT part, last_seq FROM persister_parts ORDER BY part",
                &[],
            )
            .ctx("reading persister_parts")?;
        let parts: Vec<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if parts.iter().map(|p| p.0).ne(0..PARTS.len() as i32) {
            return Err(Error::Inconsistent(format!(
                "persister_parts holds parts {:?}, expected 0, 1 and 2",
                parts.iter().map(|p| p.0).collect::<Vec<_>>()
            )));
        }
        let checkpoints = [parts[0].1 as u64, parts[1].1 as u64, parts[2].1 as u64];
        Ok(Persister {
            lanes: vec![Lane::prepare(client, (0..PARTS.len()).collect())?],
            units,
            checkpoints,
            batches: 0,
        })
    }

    /// The last engine sequence stored in every part: events of commands up to it are in
    /// the database (the `persister_checkpoint` view).
    pub fn checkpoint(&self) -> u64 {
        self.checkpoints.into_iter().min().unwrap_or(0)
    }

    /// Each part's checkpoint (index = part, see [`PARTS`]).
    pub fn part_checkpoints(&self) -> [u64; 3] {
        self.checkpoints
    }

    /// Number of connections writing.
    pub fn connections(&self) -> usize {
        self.lanes.len()
    }

    /// Where the time went so far, summed over the connections (which work in parallel:
    /// with more than one, the sum exceeds the wall time).
    pub fn phase_times(&self) -> PhaseTimes {
        let mut t = PhaseTimes {
            batches: self.batches,
            ..Default::default()
        };
        for l in &self.lanes {
            let x = &l.times;
            t.fold += x.fold;
            t.accounts += x.accounts;
            t.orders += x.orders;
            t.order_updates += x.order_updates;
            t.trades += x.trades;
            t.ledger += x.ledger;
            t.balances += x.balances;
            t.commit += x.commit;
        }
        t
    }

    /// The unit description in use.
    pub fn units(&self) -> &Units {
        &self.units
    }

    /// Gives the (first) connection back.
    pub fn into_client(mut self) -> Client {
        self.lanes.swap_remove(0).client
    }

    /// Writes the events of whole commands together with the new checkpoints (the batch's
    /// last `cmd_seq`): one transaction per connection, each moving its parts'
    /// checkpoints. The batch must end at an event with `last == true`, and its command
    /// sequences must increase. Rows of commands at or below their part's checkpoint are
    /// skipped, so replaying from any earlier point is harmless.
    ///
    /// On error the parts whose transaction failed are unchanged (nothing of the batch
    /// stored, checkpoint as before); with several connections the others may have
    /// committed. The caller retries (after reconnecting if a connection died) with the
    /// same events.
    pub fn write_batch(&mut self, events: &[OutEvent]) -> Result<BatchOutcome, Error> {
        validate(events)?;
        let min = self.checkpoint();
        let start = events.partition_point(|e| e.cmd_seq <= min);
        let todo = &events[start..];
        let mut out = BatchOutcome {
            skipped_events: start,
            checkpoint: min,
            ..Default::default()
        };
        let Some(last) = todo.last() else {
            return Ok(out);
        };
        let new_checkpoint = last.cmd_seq;
        let (units, checkpoints) = (&self.units, self.checkpoints);
        let results: Vec<Result<LaneOutcome, Error>> = if self.lanes.len() == 1 {
            vec![self.lanes[0].write(units, todo, checkpoints, new_checkpoint)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .lanes
                    .iter_mut()
                    .map(|lane| {
                        s.spawn(move || lane.write(units, todo, checkpoints, new_checkpoint))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("persister lane panicked"))
                    .collect()
            })
        };
        let mut first_error = None;
        for r in results {
            match r {
                Ok(o) => {
                    for p in o.moved {
                        self.checkpoints[p] = new_checkpoint;
                    }
                    out.trades += o.trades;
                    out.ledger_entries += o.ledger_entries;
                    out.orders_inserted += o.orders_inserted;
                    out.orders_updated += o.orders_updated;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.batches += 1;
        out.written_events = todo.len();
        out.checkpoint = self.checkpoint();
        Ok(out)
    }
}

impl Lane {
    /// Session settings, staging tables and statements of a connection writing `parts`.
    fn prepare(mut client: Client, parts: Vec<usize>) -> Result<Lane, Error> {
        client
            .batch_execute(STAGING)
            .ctx("creating the temporary staging tables")?;
        // Asynchronous commit for the batches: COMMIT returns before its WAL is flushed
        // (the WAL writer flushes within ~3 x wal_writer_delay). Safe here because the
        // journal, not the database, is the durable record: a server crash can only lose
        // a suffix of whole committed transactions, each carrying its parts' checkpoints,
        // so the database comes back at earlier batch boundaries with matching checkpoints
        // and the follower re-derives the lost batches from the journal. Nothing else is
        // told "stored" except `FollowerStats::checkpoint`, which may step back after such
        // a crash.
        client
            .batch_execute("SET synchronous_commit = off")
            .ctx("setting synchronous_commit")?;
        let prep = |c: &mut Client, sql: &str, what: &str| {
            c.prepare(sql).with_ctx(|| format!("preparing {what}"))
        };
        let insert_account = prep(
            &mut client,
            "INSERT INTO accounts (account_id, created_seq, created_at) VALUES ($1, $2, $3)",
            "the account insert",
        )?;
        let insert_api_key = prep(
            &mut client,
            "INSERT INTO api_keys (key_id, account_id, comp_id, created_at, created_seq) VALUES ($1, $2, $3, $4, $5)",
            "the API key insert",
        )?;
        let revoke_api_key = prep(
            &mut client,
            "UPDATE api_keys SET revoked_at = $2, revoked_seq = $3 WHERE key_id = $1 AND revoked_at IS NULL",
            "the API key revocation",
        )?;
        let apply_order_updates = prep(&mut client, APPLY_ORDER_UPDATES, "the order update")?;
        let upsert_balances = prep(&mut client, UPSERT_BALANCES, "the balance upsert")?;
        let move_part = prep(
            &mut client,
            "UPDATE persister_parts SET last_seq = $1, updated_at = now() WHERE part = $2 AND last_seq = $3",
            "the checkpoint update",
        )?;
        Ok(Lane {
            client,
            parts,
            batch: Batch::default(),
            times: PhaseTimes::default(),
            insert_account,
            insert_api_key,
            revoke_api_key,
            apply_order_updates,
            upsert_balances,
            move_part,
        })
    }

    /// Writes this lane's rows of `events` (past each part's checkpoint) and moves those
    /// parts' checkpoints to `new_checkpoint`, in one transaction.
    fn write(
        &mut self,
        units: &Units,
        events: &[OutEvent],
        checkpoints: [u64; 3],
        new_checkpoint: u64,
    ) -> Result<LaneOutcome, Error> {
        let mut take = Take::default();
        let mut moved = Vec::new();
        for &p in &self.parts {
            if new_checkpoint > checkpoints[p] {
                take.0[p] = Some(checkpoints[p]);
                moved.push(p);
            }
        }
        if moved.is_empty() {
            return Ok(LaneOutcome::default());
        }
        let t = Instant::now();
        self.batch.clear();
        self.batch.add(events, take);
        self.times.fold += t.elapsed();
        let result = self.write_rows(units, &moved, checkpoints, new_checkpoint);
        let out = LaneOutcome {
            moved,
            trades: self.batch.trades.len(),
            ledger_entries: self.batch.ledger.len(),
            orders_inserted: self.batch.new_orders.len(),
            orders_updated: self.batch.updates.len(),
        };
        self.batch.clear();
        result.map(|()| out)
    }
    fn write_rows(
        &mut self,
        units: &Units,
        moved: &[usize],
        checkpoints: [u64; 3],
        new_checkpoint: u64,
    ) -> Result<(), Error> {
        let b = &self.batch;
        let times = &mut self.times;
        let mut lap = Instant::now();
        let mut clock = |slot: &mut Duration| {
            let now = Instant::now();
            *slot += now - lap;
            lap = now;
        };
        let mut tx = self
            .client
            .transaction()
            .ctx("starting the batch transaction")?;
        for &(account, seq, t) in &b.accounts {
            tx.execute(
                &self.insert_account,
                &[&(account as i64), &id(seq, "sequence")?, &ts(t)],
            )
            .with_ctx(|| format!("inserting account {account} (seq {seq})"))?;
        }
        for &(seq, t, change) in &b.api_keys {
            match change {
                KeyChange::Created(k) => {
                    tx.execute(
                        &self.insert_api_key,
                        &[
                            &k.key.text(),
                            &(k.account.0 as i64),
                            &k.comp_id.as_str(),
                            &ts(t),
                            &id(seq, "sequence")?,
                        ],
                    )
                    .with_ctx(|| format!("inserting API key {} (seq {seq})", k.key.text()))?;
                }
                KeyChange::Revoked(key) => {
                    let n = tx
                        .execute(
                            &self.revoke_api_key,
                            &[&key.text(), &ts(t), &id(seq, "sequence")?],
                        )
                        .with_ctx(|| format!("revoking API key {} (seq {seq})", key.text()))?;
                    if n != 1 {
                        return Err(Error::Inconsistent(format!(
                            "API key {} revoked at seq {seq} but no active row found",
                            key.text()
                        )));
                    }
                }
            }
        }
        clock(&mut times.accounts);
        if !b.new_orders.is_empty() {
            copy_new_orders(&mut tx, b, units)?;
        }
        clock(&mut times.orders);
        if !b.updates.is_empty() {
            copy_order_updates(&mut tx, b, units)?;
            // Temp tables have no statistics: without them the planner guesses a large
            // staging table and hash-joins against a sequential scan of all orders.
            tx.batch_execute("ANALYZE tachyon_order_updates")
                .ctx("analyzing tachyon_order_updates")?;
            let n = tx
                .execute(&self.apply_order_updates, &[])
                .ctx("updating orders from tachyon_order_updates")?;
            if n != b.updates.len() as u64 {
                return Err(Error::Inconsistent(format!(
                    "{} order updates but only {n} orders found (orders created before the checkpoint missing?)",
                    b.updates.len()
                )));
            }
        }
        clock(&mut times.order_updates);
        if !b.trades.is_empty() {
            copy_trades(&mut tx, b, units)?;
        }
        clock(&mut times.trades);
        if !b.ledger.is_empty() {
            copy_ledger(&mut tx, b, units)?;
        }
        clock(&mut times.ledger);
        if !b.balances.is_empty() {
            copy_balances(&mut tx, b, units)?;
            tx.execute(&self.upsert_balances, &[])
                .ctx("upserting balances from tachyon_balance_updates")?;
        }
        clock(&mut times.balances);
        for &p in moved {
            let n = tx
                .execute(
                    &self.move_part,
                    &[
                        &id(new_checkpoint, "sequence")?,
                        &(p as i32),
                        &id(checkpoints[p], "sequence")?,
                    ],
                )
                .with_ctx(|| format!("moving the checkpoint of part {p}"))?;
            if n != 1 {
                return Err(Error::Inconsistent(format!(
                    "the checkpoint of part {p} is no longer {} (another persister writing to the same schema?)",
                    checkpoints[p]
                )));
            }
        }
        tx.commit()
            .with_ctx(|| format!("committing the batch up to seq {new_checkpoint}"))?;
        clock(&mut times.commit);
        times.batches += 1;
        Ok(())
    }
}

fn validate(events: &[OutEvent]) -> Result<(), Error> {
    if let Some(l) = events.last() {
        if !l.last {
            return Err(Error::Batch(format!(
                "does not end at a command boundary (seq {} not last)",
                l.cmd_seq
            )));
        }
    }
    let (mut prev_seq, mut prev_last) = (0u64, true);
    for (i, e) in events.iter().enumerate() {
        if prev_last {
            if e.cmd_seq <= prev_seq {
                return Err(Error::Batch(format!(
                    "event {i}: command sequence {} does not increase (previous {prev_seq})",
                    e.cmd_seq
                )));
            }
        } else if e.cmd_seq != prev_seq {
            return Err(Error::Batch(format!(
                "event {i}: command {prev_seq} ends without a last event (next seq {})",
                e.cmd_seq
            )));
        }
        prev_seq = e.cmd_seq;
        prev_last = e.last;
    }
    Ok(())
}

fn copy_err(table: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |source| Error::Sql {
        context: format!("binary COPY into {table}"),
        source,
    }
}

/// One row's values, handed to `BinaryCopyInWriter::write`.
type Put<'a> = dyn FnMut(&[&(dyn ToSql + Sync)]) -> Result<(), Error> + 'a;

/// Binary COPY of `rows` into `(table, COPY statement, column types)`: `row` turns one
/// element into values and hands them to `put`.
fn copy_rows<T>(
    tx: &mut Transaction<'_>,
    (table, sql, types): (&str, &str, &[Type]),
    rows: &[T],
    mut row: impl FnMut(&T, &mut Put<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let e = copy_err(table);
    let sink = tx.copy_in(sql).map_err(&e)?;
    let mut w = BinaryCopyInWriter::new(sink, types);
    {
        let mut put = |values: &[&(dyn ToSql + Sync)]| w.write(values).map_err(&e);
        for r in rows {
            row(r, &mut put)?;
        }
    }
    w.finish().map_err(&e)?;
    Ok(())
}

fn copy_new_orders(tx: &mut Transaction<'_>, b: &Batch, units: &Units) -> Result<(), Error> {
    copy_rows(
        tx,
        ("orders", COPY_ORDERS, ORDERS_TYPES),
        &b.new_orders,
        |r, put| {
            let o = &r.order;
            let ins = units.instrument(o.symbol).ok();
            let price_ticks = r.st.price.unwrap_or(o.price.0);
            let qty_lots = r.st.qty.unwrap_or(o.qty.0);
            let has_price = o.ord_type == OrdType::Limit || price_ticks != 0;
            let price = ins.filter(|_| has_price).map(|i| i.price(price_ticks));
            let qty = ins.map(|i| i.qty(qty_lots));
            let budget = ins
                .filter(|_| o.quote_budget != 0)
                .map(|i| i.quote_amount(o.quote_budget));
            let zero = Decimal::ZERO;
            let (leaves, filled, quote) = match ins {
                Some(i) => (
                    i.qty(r.st.leaves),
                    i.qty(r.st.cum_qty),
                    i.notional(r.st.cum_cost),
                ),
                None => (zero, zero, zero),
            };
            let avg = ins.and_then(|i| i.avg_price(r.st.cum_cost, r.st.cum_qty));
            let expire = (o.expire_ns != 0).then(|| ts(o.expire_ns));
            let order_id = r.order_id.map(|v| id(v, "order id")).transpose()?;
            let values: [&(dyn ToSql + Sync); 25] = [
                &id(r.created_seq, "sequence")?,
                &order_id,
                &(o.account.0 as i64),
                &(o.session.0 as i32),
                &batch::cl_ord_id_str(&r.st.cl_ord_id),
                &(o.symbol.0 as i32),
                &batch::side_str(o.side),
                &batch::ord_type_str(o.ord_type),
                &batch::tif_str(o.tif),
                &o.post_only,
                &batch::stp_str(o.stp),
                &price,
                &qty,
                &budget,
                &expire,
                &r.st.status.as_str(),
                &leaves,
                &filled,
                &quote,
                &avg,
                &r.reject.map(batch::reject_str),
                &r.st.cancel.map(batch::cancel_str),
                &ts(r.created_ns),
                &id(r.st.updated_seq, "sequence")?,
                &ts(r.st.updated_ns),
            ];
            put(&values)
        },
    )
}

fn copy_order_updates(tx: &mut Transaction<'_>, b: &Batch, units: &Units) -> Result<(), Error> {
    copy_rows(
        tx,
        (
            "tachyon_order_updates",
            COPY_ORDER_UPDATES,
            ORDER_UPDATES_TYPES,
        ),
        &b.updates,
        |u, put| {
            let i = units.instrument(u.symbol)?;
            let s = &u.st;
            let values: [&(dyn ToSql + Sync); 12] = [
                &id(u.order_id, "order id")?,
                &batch::cl_ord_id_str(&s.cl_ord_id),
                &s.price.map(|p| i.price(p)),
                &s.qty.map(|q| i.qty(q)),
                &i.qty(s.leaves),
                &i.qty(s.cum_qty),
                &i.notional(s.cum_cost),
                &i.avg_price(s.cum_cost, s.cum_qty),
                &s.status.as_str(),
                &s.cancel.map(batch::cancel_str),
                &id(s.updated_seq, "sequence")?,
                &ts(s.updated_ns),
            ];
            put(&values)
        },
    )
}

fn copy_trades(tx: &mut Transaction<'_>, b: &Batch, units: &Units) -> Result<(), Error> {
    copy_rows(
        tx,
        ("trades", COPY_TRADES, TRADES_TYPES),
        &b.trades,
        |&(seq, t_ns, t), put| {
            let i = units.instrument(t.symbol)?;
            let values: [&(dyn ToSql + Sync); 13] = [
                &id(t.trade_id, "trade id")?,
                &(t.symbol.0 as i32),
                &i.price(t.price.0),
                &i.qty(t.qty.0),
                &batch::side_str(t.taker_side),
                &id(t.maker.order_id.0, "order id")?,
                &(t.maker.account.0 as i64),
                &id(t.taker.order_id.0, "order id")?,
                &(t.taker.account.0 as i64),
                &i.quote_amount(t.maker.fee),
                &i.quote_amount(t.taker.fee),
                &id(seq, "sequence")?,
                &ts(t_ns),
            ];
            put(&values)
        },
    )
}

fn copy_ledger(tx: &mut Transaction<'_>, b: &Batch, units: &Units) -> Result<(), Error> {
    copy_rows(
        tx,
        ("ledger_entries", COPY_LEDGER, LEDGER_TYPES),
        &b.ledger,
        |&(seq, entry_no, t_ns, l), put| {
            let d = units.asset_decimals(l.asset)?;
            let values: [&(dyn ToSql + Sync); 11] = [
                &id(seq, "sequence")?,
                &entry_no,
                &(l.account.0 as i64),
                &(l.asset.0 as i32),
                &Decimal::new(l.delta_available, d),
                &Decimal::new(l.delta_locked, d),
                &Decimal::new(l.available_after, d),
                &Decimal::new(l.locked_after, d),
                &batch::ledger_reason_str(l.reason),
                &Decimal::from(l.reference),
                &ts(t_ns),
            ];
            put(&values)
        },
    )
}

fn copy_balances(tx: &mut Transaction<'_>, b: &Batch, units: &Units) -> Result<(), Error> {
    copy_rows(
        tx,
        ("tachyon_balance_updates", COPY_BALANCES, BALANCES_TYPES),
        &b.balances,
        |&(account, asset, avail, locked, seq), put| {
            let d = units.asset_decimals(tachyon_engine::AssetId(asset))?;
            let values: [&(dyn ToSql + Sync); 5] = [
                &(account as i64),
                &(asset as i32),
                &Decimal::new(avail, d),
                &Decimal::new(locked, d),
                &id(seq, "sequence")?,
            ];
            put(&values)
        },
    )
}

/// Records assets, instruments and the fee account; refuses definitions that changed
/// since they were first recorded (amounts already stored would be misread).
fn sync_reference_data(client: &mut Client, units: &Units) -> Result<(), Error> {
    let mut tx = client
        .transaction()
        .ctx("starting the reference-data transaction")?;
    for (i, a) in units.assets().iter().enumerate() {
        tx.execute(
            "INSERT INTO assets (asset_id, code, decimals) VALUES ($1, $2, $3) ON CONFLICT (asset_id) DO NOTHING",
            &[&(i as i32), &a.code, &(a.decimals as i16)],
        )
        .with_ctx(|| format!("recording asset {}", a.code))?;
        let row = tx
            .query_one(
                "SELECT code, decimals FROM assets WHERE asset_id = $1",
                &[&(i as i32)],
            )
            .with_ctx(|| format!("reading asset {}", a.code))?;
        let (code, decimals): (String, i16) = (row.get(0), row.get(1));
        if code != a.code || decimals != a.decimals as i16 {
            return Err(Error::Inconsistent(format!(
                "asset id {i} is stored as {code} with {decimals} decimals but configured as {} with {} decimals",
                a.code, a.decimals
            )));
        }
    }
    for (i, s) in units.instruments().iter().enumerate() {
        tx.execute(
            "INSERT INTO instruments (symbol_id, symbol, base_asset_id, quote_asset_id, tick_size, lot_size) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (symbol_id) DO NOTHING",
            &[&(i as i32), &s.symbol, &(s.base.0 as i32), &(s.quote.0 as i32), &s.tick_size, &s.lot_size],
        )
        .with_ctx(|| format!("recording instrument {}", s.symbol))?;
        let row = tx
            .query_one(
                "SELECT symbol, base_asset_id, quote_asset_id, tick_size, lot_size FROM instruments WHERE symbol_id = $1",
                &[&(i as i32)],
            )
            .with_ctx(|| format!("reading instrument {}", s.symbol))?;
        let stored: (String, i32, i32, Decimal, Decimal) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if stored
            != (
                s.symbol.clone(),
                s.base.0 as i32,
                s.quote.0 as i32,
                s.tick_size,
                s.lot_size,
            )
        {
            return Err(Error::Inconsistent(format!(
                "instrument id {i} is stored as {stored:?} but configured as ({}, {}, {}, {}, {})",
                s.symbol, s.base.0, s.quote.0, s.tick_size, s.lot_size
            )));
        }
    }
    tx.execute(
        "INSERT INTO accounts (account_id, created_seq, created_at) VALUES ($1, 0, NULL) ON CONFLICT DO NOTHING",
        &[&(units.fee_account().0 as i64)],
    )
    .ctx("recording the fee account")?;
    tx.commit().ctx("committing the reference data")
}
