//! Differential tests: the engine against the reference model in `tests/model/`, event for
//! event, on random command streams (proptest, shrinking to a minimal failing sequence)
//! and on a fixed-seed million-command stream; plus conservation of money after every
//! command, the engine's own invariant check, determinism of fingerprints, and the
//! hand-derived scenarios of `model/scenarios.rs`.
//!
//! Run: `cargo test -p tachyon-engine --test differential`
//! Knobs: `DIFF_COMMANDS=n` and `DIFF_SEED=s` for the long run, `DIFF_CASES=n` for the
//! proptests.

mod common;
mod model;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Instant;

use common::{
    large_config, prelude, small_config, Gen, Profile, SplitMix, DEEP_PROFILE, DEFAULT_PROFILE,
    TIGHT_PROFILE,
};
use model::{scenarios, Model};
use proptest::prelude::*;
use tachyon_engine::{
    AccountId, AdminTarget, AssetId, Command, CommandKind, Engine, EngineConfig, Event,
    EventHasher, LedgerReason, RejectReason, Side, SymbolId,
};

/// Engine + model side by side, with what is needed to check conservation and to report.
struct Harness {
    engine: Engine,
    model: Model,
    cfg: EngineConfig,
    /// Σ deposits − Σ withdrawals per asset, from the engine's ledger events.
    net: Vec<i128>,
    /// Recent commands (all of them in short runs), for failure reports.
    history: VecDeque<Command>,
    history_cap: usize,
    applied: usize,
    counts: Counts,
}

/// What a run exercised.
#[derive(Default, Debug)]
struct Counts {
    events: usize,
    accepted: usize,
    rejected: usize,
    trades: usize,
    canceled: usize,
    reduced: usize,
    replaced: usize,
    cancel_rejects: usize,
    /// Operator commands and their effects on other commands.
    ops: OpCounts,
}

/// What the operator commands exercised (see SEMANTICS.md "Operator commands").
#[derive(Default, Debug, Clone, Copy)]
struct OpCounts {
    symbol_status: usize,
    account_status: usize,
    /// Operator commands refused (unknown symbol/account, fee account).
    op_rejects: usize,
    new_halted: usize,
    replace_halted: usize,
    new_suspended: usize,
    replace_suspended: usize,
    withdraw_suspended: usize,
    /// Cancels, mass cancels and expiries of orders on a halted symbol.
    removed_on_halted: usize,
    /// Cancels and mass cancels of a suspended account's orders.
    canceled_by_suspended: usize,
    /// Fills of a suspended account's resting orders.
    suspended_maker_fills: usize,
    deposits_to_suspended: usize,
}

impl OpCounts {
    fn all_nonzero(&self) -> bool {
        let c = self;
        [
            c.symbol_status,
            c.account_status,
            c.op_rejects,
            c.new_halted,
            c.replace_halted,
            c.new_suspended,
            c.replace_suspended,
            c.withdraw_suspended,
            c.removed_on_halted,
            c.canceled_by_suspended,
            c.suspended_maker_fills,
            c.deposits_to_suspended,
        ]
        .iter()
        .all(|&n| n > 0)
    }
}

impl Harness {
    fn new(cfg: EngineConfig, history_cap: usize) -> Harness {
        let engine = Engine::new(cfg.clone()).expect("valid config");
        let model = Model::new(&cfg);
        let net = vec![0; cfg.assets.len()];
        Harness {
            engine,
            model,
            cfg,
            net,
            history: VecDeque::new(),
            history_cap,
            applied: 0,
            counts: Counts::default(),
        }
    }

    /// Applies one command to both; compares events and checks conservation. `deep` also
    /// runs both invariant checks and compares balances and books.
    fn step(&mut self, cmd: &Command, deep: bool) -> Result<(), String> {
        if self.history.len() == self.history_cap {
            self.history.pop_front();
        }
        self.history.push_back(*cmd);
        let index = self.applied;
        self.applied += 1;

        // Operator flags before the command (only operator commands change them, after
        // their expiries, which these counts do not need to tell apart).
        let halted: Vec<bool> = (0..self.cfg.instruments.len() as u16)
            .map(|s| self.model.symbol_halted(SymbolId(s)))
            .collect();
        let suspended: Vec<bool> = (0..self.cfg.max_accounts)
            .map(|a| self.model.account_suspended(AccountId(a)))
            .collect();
        let is_halted = |s: SymbolId| halted.get(s.0 as usize).copied().unwrap_or(false);
        let is_suspended = |a: AccountId| suspended.get(a.0 as usize).copied().unwrap_or(false);

        let mut got: Vec<Event> = Vec::new();
        self.engine.apply(cmd, &mut got);
        let want = self.model.apply(cmd);
        if got != want {
            return Err(self.mismatch(index, cmd, &want, &got));
        }
        self.counts.events += got.len();
        let ops = &mut self.counts.ops;
        for ev in &got {
            match ev {
                Event::SymbolStatus { .. } => ops.symbol_status += 1,
                Event::AccountStatus { .. } => ops.account_status += 1,
                Event::AdminRejected {
                    target: AdminTarget::Symbol(_),
                    ..
                } => ops.op_rejects += 1,
                Event::AdminRejected { reason, .. } => match (reason, &cmd.kind) {
                    (RejectReason::AccountSuspended, _) => ops.withdraw_suspended += 1,
                    (_, CommandKind::SuspendAccount { .. } | CommandKind::ResumeAccount { .. }) => {
                        ops.op_rejects += 1
                    }
                    _ => {}
                },
                Event::OrderRejected { reason, .. } => match reason {
                    RejectReason::SymbolHalted => ops.new_halted += 1,
                    RejectReason::AccountSuspended => ops.new_suspended += 1,
                    _ => {}
                },
                Event::CancelRejected { reason, .. } => match reason {
                    RejectReason::SymbolHalted => ops.replace_halted += 1,
                    RejectReason::AccountSuspended => ops.replace_suspended += 1,
                    _ => {}
                },
                Event::OrderCanceled { state, reason, .. } => {
                    use tachyon_engine::CancelReason::*;
                    if matches!(reason, UserRequest | MassCancel | Expired)
                        && is_halted(state.symbol)
                    {
                        ops.removed_on_halted += 1;
                    }
                    if matches!(reason, UserRequest | MassCancel) && is_suspended(state.account) {
                        ops.canceled_by_suspended += 1;
                    }
                }
                Event::Trade(t) if is_suspended(t.maker.account) => ops.suspended_maker_fills += 1,
                Event::Ledger(l)
                    if l.reason == LedgerReason::Deposit && is_suspended(l.account) =>
                {
                    ops.deposits_to_suspended += 1
                }
                _ => {}
            }
        }
        for ev in &got {
            match ev {
                Event::OrderAccepted { .. } => self.counts.accepted += 1,
                Event::OrderRejected { .. } => self.counts.rejected += 1,
                Event::Trade(_) => self.counts.trades += 1,
                Event::OrderCanceled { .. } => self.counts.canceled += 1,
                Event::OrderReduced { .. } => self.counts.reduced += 1,
                Event::OrderReplaced { .. } => self.counts.replaced += 1,
                Event::CancelRejected { .. } => self.counts.cancel_rejects += 1,
                _ => {}
            }
            if let Event::Ledger(l) = ev {
                if matches!(l.reason, LedgerReason::Deposit | LedgerReason::Withdrawal) {
                    self.net[l.asset.0 as usize] += l.delta_available as i128;
                }
            }
        }
        self.check_conservation()
            .map_err(|e| self.context(index, cmd, &e))?;
        if deep {
            self.engine
                .check_invariants()
                .map_err(|e| self.context(index, cmd, &format!("engine.check_invariants: {e}")))?;
            self.model
                .check_invariants()
                .map_err(|e| self.context(index, cmd, &format!("model self-check: {e}")))?;
            self.compare_state()
                .map_err(|e| self.context(index, cmd, &e))?;
        }
        Ok(())
    }

    /// Per asset: Σ(available + locked) over all accounts (fee account included) equals
    /// Σ deposits − Σ withdrawals.
    fn check_conservation(&self) -> Result<(), String> {
        for (asset, &net) in self.net.iter().enumerate() {
            let mut total: i128 = 0;
            for a in 0..self.cfg.max_accounts {
                if let Some(b) = self.engine.balance(AccountId(a), AssetId(asset as u16)) {
                    if b.available < 0 || b.locked < 0 {
                        return Err(format!(
                            "negative balance: account {a} asset {asset}: {b:?}"
                        ));
                    }
                    total += b.available as i128 + b.locked as i128;
                }
            }
            if total != net {
                return Err(format!(
                    "conservation broken for asset {asset}: Σ balances {total} != deposits − withdrawals {net}"
                ));
            }
        }
        Ok(())
    }

    /// Balances, account existence and status, symbol status, books (order by order) and
    /// order counts.
    fn compare_state(&self) -> Result<(), String> {
        if self.engine.api_keys() != self.model.api_keys() {
            return Err(format!(
                "API keys: engine {:?}, model {:?}",
                self.engine.api_keys(),
                self.model.api_keys()
            ));
        }
        for s in 0..self.cfg.instruments.len() as u16 + 2 {
            let s = SymbolId(s);
            if self.engine.symbol_halted(s) != self.model.symbol_halted(s) {
                return Err(format!("symbol_halted({s:?}) differs"));
            }
        }
        for a in 0..self.cfg.max_accounts + 3 {
            let a = AccountId(a);
            if self.engine.account_exists(a) != self.model.account_exists(a) {
                return Err(format!("account_exists({a:?}) differs"));
            }
            if self.engine.account_suspended(a) != self.model.account_suspended(a) {
                return Err(format!("account_suspended({a:?}) differs"));
            }
            for asset in 0..self.cfg.assets.len() as u16 + 1 {
                let (e, m) = (
                    self.engine.balance(a, AssetId(asset)),
                    self.model.balance(a, AssetId(asset)),
                );
                if e != m {
                    return Err(format!(
                        "balance {a:?} asset {asset}: engine {e:?}, model {m:?}"
                    ));
                }
            }
        }
        for s in 0..self.cfg.instruments.len() as u16 {
            for side in [Side::Buy, Side::Sell] {
                let (e, m) = (
                    self.engine.book_orders(SymbolId(s), side),
                    self.model.book_orders(SymbolId(s), side),
                );
                if e != m {
                    return Err(format!(
                        "book {s} {side:?} differs\n  engine: {}\n  model:  {}",
                        lines(&e),
                        lines(&m)
                    ));
                }
                let (e, m) = (
                    self.engine.book_levels(SymbolId(s), side),
                    self.model.book_levels(SymbolId(s), side),
                );
                if e != m {
                    return Err(format!("levels {s} {side:?}: engine {e:?}, model {m:?}"));
                }
            }
        }
        if self.engine.open_orders() != self.model.open_orders() {
            return Err(format!(
                "open_orders: engine {}, model {}",
                self.engine.open_orders(),
                self.model.open_orders()
            ));
        }
        Ok(())
    }

    fn context(&self, index: usize, cmd: &Command, what: &str) -> String {
        let mut s = format!("{what}\n  after command #{index}: {cmd:?}\n");
        self.write_history(&mut s);
        s
    }

    fn mismatch(&self, index: usize, cmd: &Command, want: &[Event], got: &[Event]) -> String {
        let first = want
            .iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len()));
        let mut s = format!(
            "ENGINE ≠ MODEL at command #{index} (first difference at event {first})\n  command: {cmd:?}\n  model (expected per SEMANTICS.md), {} events:\n",
            want.len()
        );
        for (i, e) in want.iter().enumerate() {
            let mark = if got.get(i) == Some(e) { ' ' } else { '*' };
            let _ = writeln!(s, "   {mark}{i:3} {e:?}");
        }
        let _ = writeln!(s, "  engine, {} events:", got.len());
        for (i, e) in got.iter().enumerate() {
            let mark = if want.get(i) == Some(e) { ' ' } else { '*' };
            let _ = writeln!(s, "   {mark}{i:3} {e:?}");
        }
        self.write_history(&mut s);
        s
    }

    fn write_history(&self, s: &mut String) {
        let first = self.applied - self.history.len();
        let _ = writeln!(
            s,
            "  command history (#{first}..#{}; #0.. is the prelude):",
            self.applied - 1
        );
        for (i, c) in self.history.iter().enumerate() {
            let _ = writeln!(s, "    #{} {c:?}", first + i);
        }
    }
}

fn lines<T: std::fmt::Debug>(v: &[T]) -> String {
    v.iter().map(|x| format!("\n    {x:?}")).collect()
}

/// Prelude, then one generated command per seed; full checks after every command.
fn run_seeds(cfg: &EngineConfig, profile: Profile, seeds: &[u64]) -> Result<(), String> {
    run_seeds_counting(cfg, profile, seeds).map(|_| ())
}

/// [`run_seeds`], returning what the stream exercised.
fn run_seeds_counting(
    cfg: &EngineConfig,
    profile: Profile,
    seeds: &[u64],
) -> Result<Counts, String> {
    let mut h = Harness::new(cfg.clone(), usize::MAX);
    for c in prelude() {
        h.step(&c, false)?;
    }
    let mut gen = Gen::new(profile);
    for &seed in seeds {
        // Seed 0 is "no command": proptest shrinks values toward 0 first, so commands that
        // do not matter for a failure vanish from the repro even at the minimum length.
        if seed == 0 {
            continue;
        }
        let c = gen.command(seed, &h.model);
        h.step(&c, true)?;
    }
    Ok(h.counts)
}

/// Case count: `default`, or `DIFF_CASES` for a longer hunt.
fn cases(default: u32) -> u32 {
    std::env::var("DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]

    /// Random mixed streams of 50–300 commands, small capacities.
    #[test]
    fn differential_random_streams(seeds in prop::collection::vec(any::<u64>(), 50..300)) {
        let r = run_seeds(&small_config(), DEFAULT_PROFILE, &seeds);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]

    /// Tight books (prices within ±2 ticks, more time ticks): crossing, STP and expiry
    /// much more often.
    #[test]
    fn differential_random_streams_tight(seeds in prop::collection::vec(any::<u64>(), 50..300)) {
        let r = run_seeds(&small_config(), TIGHT_PROFILE, &seeds);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// The model alone on random streams: its self-check and conservation hold. Guards the
/// model's own consistency independently of the engine.
#[test]
fn model_random_streams_keep_invariants() {
    let cfg = small_config();
    let mut master = SplitMix(0xA11CE);
    for case in 0..200 {
        let mut m = Model::new(&cfg);
        let mut net = vec![0i128; cfg.assets.len()];
        let mut gen = Gen::new(if case % 2 == 0 {
            DEFAULT_PROFILE
        } else {
            TIGHT_PROFILE
        });
        let cmds: Vec<Command> = prelude();
        for i in 0..cmds.len() + 300 {
            let c = if i < cmds.len() {
                cmds[i]
            } else {
                gen.command(master.next_u64(), &m)
            };
            for ev in m.apply(&c) {
                if let Event::Ledger(l) = ev {
                    if matches!(l.reason, LedgerReason::Deposit | LedgerReason::Withdrawal) {
                        net[l.asset.0 as usize] += l.delta_available as i128;
                    }
                }
            }
            m.check_invariants()
                .unwrap_or_else(|e| panic!("case {case} cmd {i} {c:?}: {e}"));
            for (asset, &n) in net.iter().enumerate() {
                let total: i128 = (0..cfg.max_accounts)
                    .filter_map(|a| m.balance(AccountId(a), AssetId(asset as u16)))
                    .map(|b| b.available as i128 + b.locked as i128)
                    .sum();
                assert_eq!(total, n, "case {case} cmd {i}: conservation, asset {asset}");
            }
        }
    }
}

/// One million commands from a fixed seed, engine vs model, with conservation after every
/// command and deep checks every 10,000.
#[test]
fn differential_fixed_seed_1m() {
    let n: usize = std::env::var("DIFF_COMMANDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let start = Instant::now();
    let mut h = Harness::new(large_config(), 64);
    for c in prelude() {
        h.step(&c, false).unwrap_or_else(|e| panic!("{e}"));
    }
    let profiles = [DEFAULT_PROFILE, TIGHT_PROFILE, DEEP_PROFILE];
    let mut gen = Gen::new(profiles[0]);
    let seed = std::env::var("DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7AC4_1011_5EED);
    let mut master = SplitMix(seed);
    for i in 0..n {
        // Change the stream's shape every 50,000 commands.
        gen.profile = profiles[(i / 50_000) % profiles.len()];
        let c = gen.command(master.next_u64(), &h.model);
        h.step(&c, i % 10_000 == 9_999)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    h.compare_state()
        .unwrap_or_else(|e| panic!("final state: {e}"));
    h.engine
        .check_invariants()
        .unwrap_or_else(|e| panic!("final invariants: {e}"));
    let c = &h.counts;
    eprintln!(
        "differential_fixed_seed_1m: {n} commands, {} events ({} accepted, {} rejected, {} trades, \
         {} cancels, {} reduced, {} replaced, {} cancel/replace rejects) in {:.1?}\n  operator: {:?}",
        c.events, c.accepted, c.rejected, c.trades, c.canceled, c.reduced, c.replaced, c.cancel_rejects,
        start.elapsed(), c.ops
    );
    assert!(
        c.trades > n / 20 && c.accepted > n / 5,
        "the stream stopped exercising the engine"
    );
    if n >= 100_000 {
        assert!(
            c.ops.all_nonzero(),
            "the stream misses an operator-command path: {:?}",
            c.ops
        );
    }
}

/// The short streams the proptests draw (same generator, same configuration) reach every
/// operator-command path: 300 fixed-seed streams of 300 commands, engine vs model.
#[test]
fn short_streams_exercise_operator_commands() {
    let mut master = SplitMix(0x0915_2024);
    let mut total = OpCounts::default();
    let mut streams_with_status = 0;
    for case in 0..300 {
        let profile = if case % 2 == 0 {
            DEFAULT_PROFILE
        } else {
            TIGHT_PROFILE
        };
        let seeds: Vec<u64> = (0..300).map(|_| master.next_u64()).collect();
        let c = run_seeds_counting(&small_config(), profile, &seeds)
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        let o = c.ops;
        if o.symbol_status + o.account_status > 0 {
            streams_with_status += 1;
        }
        for (t, x) in [
            (&mut total.symbol_status, o.symbol_status),
            (&mut total.account_status, o.account_status),
            (&mut total.op_rejects, o.op_rejects),
            (&mut total.new_halted, o.new_halted),
            (&mut total.replace_halted, o.replace_halted),
            (&mut total.new_suspended, o.new_suspended),
            (&mut total.replace_suspended, o.replace_suspended),
            (&mut total.withdraw_suspended, o.withdraw_suspended),
            (&mut total.removed_on_halted, o.removed_on_halted),
            (&mut total.canceled_by_suspended, o.canceled_by_suspended),
            (&mut total.suspended_maker_fills, o.suspended_maker_fills),
            (&mut total.deposits_to_suspended, o.deposits_to_suspended),
        ] {
            *t += x;
        }
    }
    eprintln!("300 short streams: {streams_with_status} with a status change; {total:?}");
    assert!(total.all_nonzero(), "a path is never reached: {total:?}");
    assert!(
        streams_with_status >= 300 / 2,
        "only {streams_with_status} of 300 streams have an operator command"
    );
}

/// Generates a stream with the model following along (the generator aims at live orders).
fn stream(seed: u64, n: usize) -> Vec<Command> {
    let cfg = large_config();
    let mut m = Model::new(&cfg);
    let mut v = prelude();
    for c in &v {
        m.apply(c);
    }
    let mut gen = Gen::new(DEFAULT_PROFILE);
    let mut r = SplitMix(seed);
    for _ in 0..n {
        let c = gen.command(r.next_u64(), &m);
        m.apply(&c);
        v.push(c);
    }
    v
}

fn fingerprint(cmds: &[Command]) -> (u64, u64, u64) {
    let mut e = Engine::new(large_config()).expect("valid config");
    let mut h = EventHasher::default();
    for c in cmds {
        e.apply(c, &mut h);
    }
    (h.finish(), h.count, e.state_hash())
}

/// Same stream → same event fingerprint, event count and state hash; a different stream →
/// a different state hash.
#[test]
fn determinism_same_stream_same_hashes() {
    let a = stream(1, 20_000);
    let b = stream(2, 20_000);
    let (fa1, fa2) = (fingerprint(&a), fingerprint(&a));
    assert_eq!(
        fa1, fa2,
        "same stream, different (events hash, count, state hash)"
    );
    let fb = fingerprint(&b);
    assert_ne!(fa1.2, fb.2, "different streams, same state hash");
    assert_ne!(fa1.0, fb.0, "different streams, same event fingerprint");
    // A prefix differs from the whole.
    let fp = fingerprint(&a[..a.len() - 1]);
    assert_ne!(fp.0, fa1.0);
}

/// The hand-derived scenarios (see `model/scenarios.rs`) against the engine. Every
/// scenario runs; all failures are reported together.
#[test]
fn engine_matches_hand_derived_scenarios() {
    let mut failures = Vec::new();
    for sc in scenarios::all() {
        let mut e = Engine::new(scenarios::config()).expect("valid config");
        for (i, (c, want)) in sc.steps.iter().enumerate() {
            let mut got = Vec::new();
            e.apply(c, &mut got);
            if &got != want {
                failures.push(format!(
                    "scenario {:?} step {i}: {c:?}\n  expected:{}\n  engine:{}",
                    sc.name,
                    lines(want),
                    lines(&got)
                ));
                break;
            }
            if let Err(err) = e.check_invariants() {
                failures.push(format!(
                    "scenario {:?} step {i}: check_invariants: {err}",
                    sc.name
                ));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Coverage of the generator, measured on the model: how often each event, reject reason,
/// cancel reason and STP path occurs. `cargo test ... -- --ignored --nocapture stream_statistics`
#[test]
#[ignore]
fn stream_statistics() {
    use std::collections::BTreeMap;
    for (name, cfg, profile, n) in [
        ("small/default", small_config(), DEFAULT_PROFILE, 300_000),
        ("small/tight", small_config(), TIGHT_PROFILE, 300_000),
        ("large/default", large_config(), DEFAULT_PROFILE, 300_000),
        ("large/deep", large_config(), DEEP_PROFILE, 300_000),
        ("small/deep", small_config(), DEEP_PROFILE, 300_000),
    ] {
        let mut m = Model::new(&cfg);
        for c in prelude() {
            m.apply(&c);
        }
        let mut gen = Gen::new(profile);
        let mut r = SplitMix(42);
        let mut hist: BTreeMap<String, usize> = BTreeMap::new();
        let mut max_open = 0;
        let mut sum_open = 0;
        for _ in 0..n {
            let c = gen.command(r.next_u64(), &m);
            for ev in m.apply(&c) {
                let key = match ev {
                    Event::OrderRejected { reason, .. } => format!("OrderRejected/{reason:?}"),
                    Event::CancelRejected {
                        reason, is_replace, ..
                    } => {
                        format!(
                            "CancelRejected/{}/{reason:?}",
                            if is_replace { "replace" } else { "cancel" }
                        )
                    }
                    Event::OrderCanceled { reason, .. } => format!("OrderCanceled/{reason:?}"),
                    Event::OrderReplaced { kept_priority, .. } => {
                        format!("OrderReplaced/kept={kept_priority}")
                    }
                    Event::AdminRejected { reason, .. } => format!("AdminRejected/{reason:?}"),
                    Event::Ledger(l) => format!("Ledger/{:?}", l.reason),
                    Event::MassCancelReport {
                        reject, canceled, ..
                    } => {
                        format!("MassCancelReport/{reject:?}/{}", canceled.min(3))
                    }
                    other => format!("{other:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap()
                        .to_string(),
                };
                *hist.entry(key).or_default() += 1;
            }
            max_open = max_open.max(m.open_orders());
            sum_open += m.open_orders();
        }
        eprintln!(
            "== {name}: {n} commands, open orders max {max_open} avg {}",
            sum_open / n
        );
        for (k, v) in hist {
            eprintln!("  {v:8}  {k}");
        }
    }
}
