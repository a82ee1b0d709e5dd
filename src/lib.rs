#![deny(missing_docs)]
//! The Tachyon exchange as a library: [`Exchange::start`] wires config, pipeline, FIX
//! gateway and persister together (the binary, the end-to-end tests and the benchmarks
//! all start it this way). No business logic lives here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tachyon_config::Config;
use tachyon_engine::{AccountId, Command, CommandKind, Transfer};
use tachyon_fix_gateway::{Gateway, GatewayOptions, GatewayStats, StoreMode};
use tachyon_pipeline::{
    wall_clock_ns, CoreMode, FsyncPolicy, Pipeline, PipelineOptions, PipelineStats, PollResult,
    RecoveryInfo, TapOutcome,
};
use tracing::{info, warn};

/// How to start an [`Exchange`] beyond its configuration.
#[derive(Clone, Debug, Default)]
pub struct ExchangeOptions {
    /// Keep FIX session state in memory instead of `fix.store_dir` (tests, benchmarks).
    pub memory_sessions: bool,
}

/// A running exchange: pipeline (journal + matcher), FIX gateway and, if configured, the
/// PostgreSQL persister, each on its own thread(s).
pub struct Exchange {
    pipeline: Pipeline,
    gateway: Gateway,
    ops: tachyon_ops::OpsHandle,
    follower: Option<tachyon_persister::Follower>,
    stats: Arc<PipelineStats>,
    recovery: RecoveryInfo,
}

impl Exchange {
    /// Starts everything from `cfg` (sessions persisted under `fix.store_dir`).
    pub fn start(cfg: Config) -> Result<Exchange, String> {
        Exchange::start_with(cfg, ExchangeOptions::default())
    }

    /// Starts everything from `cfg` with `opts`.
    pub fn start_with(cfg: Config, opts: ExchangeOptions) -> Result<Exchange, String> {
        let popts = pipeline_options(&cfg);
        // Market data's saved state (tape, klines, ticker) is brought up to date by the
        // same journal replay that recovers the engine.
        let md_dir = popts.journal_dir.join("md");
        let mut md_recovery = tachyon_ops::MdRecovery::load(&cfg, &md_dir);
        let mut pipeline =
            Pipeline::start_with_tap(cfg.engine_config(), popts.clone(), &mut md_recovery)
                .map_err(|e| e.to_string())?;
        let rec = pipeline.recovery().clone();
        for note in &rec.notes {
            warn!(component = "journal", "{note}");
        }
        for note in md_recovery.notes() {
            warn!(component = "market-data", "{note}");
        }
        match &rec.tap {
            Some(TapOutcome::Resumed {
                from_seq,
                commands,
                events,
            }) if md_recovery.is_resumed() => info!(
                component = "market-data",
                state_seq = from_seq,
                replayed_commands = commands,
                replayed_events = events,
                "trade tape, klines and ticker restored"
            ),
            Some(TapOutcome::Unavailable { why }) => warn!(
                component = "market-data",
                dir = %md_dir.display(),
                "trade tape, klines and ticker cannot be rebuilt exactly ({why}); \
                 they start empty"
            ),
            // Resumed, but bringing it up to date failed (noted above).
            Some(TapOutcome::Resumed { .. }) | None => {}
        }
        info!(
            component = "journal",
            dir = %popts.journal_dir.display(),
            fsync = ?popts.fsync,
            thread = if popts.journal_on_matcher {
                "tachyon-matcher"
            } else {
                "tachyon-journal"
            },
            last_seq = rec.last_seq,
            "journal open"
        );
        info!(
            component = "matcher",
            thread = "tachyon-matcher",
            mode = ?popts.mode,
            core = ?popts.matcher_core,
            snapshot = ?rec.snapshot_seq,
            replayed = rec.replayed,
            state_hash = format!("{:016x}", rec.state_hash),
            "engine recovered"
        );
        let mut publisher = pipeline.publisher();
        if rec.last_seq == 0 {
            let cmds = genesis(&cfg);
            info!(
                component = "genesis",
                commands = cmds.len(),
                "empty journal: opening and funding configured accounts"
            );
            for c in cmds {
                publisher.publish(c);
            }
        }
        let follower = start_persister(&cfg, &popts, &pipeline)?;
        let stats = pipeline.stats();
        let mut pollers = pipeline.take_pollers();
        let released = pollers.pop().expect("gateway poller");
        let md_events = pollers.pop().expect("market data poller");
        let open_orders = pipeline.take_open_orders();
        let api_keys = pipeline.take_api_keys();
        let lag: Option<tachyon_ops::LagProbe> = follower.as_ref().map(|f| {
            let fs = f.stats();
            Box::new(move || Some(fs.lag_commands())) as tachyon_ops::LagProbe
        });
        let ops_state = tachyon_ops::OpsState::new(&cfg, stats.clone(), lag);
        // Restored exactly, the history keeps its sequence numbers and the recovered
        // books are the ones its depth updates describe; otherwise (history lost) the
        // reseeded books get a new seq.
        let caught_up = matches!(rec.tap, Some(TapOutcome::Resumed { .. }));
        if caught_up && ops_state.resume_market_data(&mut md_recovery) {
            ops_state.set_books_from_orders(&open_orders);
        } else {
            ops_state.seed_orders(&open_orders);
        }
        drop(md_recovery);
        ops_state.save_market_data(md_dir, cfg.engine.snapshot_interval_commands, rec.last_seq);
        ops_state.enable_admin(pipeline.publisher());
        ops_state.seed_api_keys(&api_keys);
        let md_thread = ops_state
            .spawn_consumer(md_events)
            .map_err(|e| format!("ops: spawn market-data thread: {e}"))?;
        let mut ops = tachyon_ops::spawn(cfg.ops.listen, ops_state)
            .map_err(|e| format!("ops HTTP on {}: {e}", cfg.ops.listen))?;
        ops.set_consumer(md_thread);
        info!(
            component = "ops",
            addr = %ops.local_addr(),
            threads = "tachyon-md, tachyon-ops",
            "HTTP/WebSocket market data, /health, /ready, /metrics"
        );
        let store = if opts.memory_sessions {
            StoreMode::Memory
        } else {
            StoreMode::Files(cfg.fix_store_dir())
        };
        let store_desc = format!("{store:?}");
        let gateway = Gateway::start(
            &cfg,
            GatewayOptions {
                store,
                open_orders,
                api_keys,
            },
            publisher,
            released,
            stats.clone(),
        )
        .map_err(|e| format!("FIX gateway on {}: {e}", cfg.fix.listen))?;
        info!(
            component = "gateway",
            addr = %gateway.local_addr(),
            thread = "tachyon-gateway",
            sessions = cfg.fix.sessions.len(),
            store = %store_desc,
            "FIX 4.4 acceptor listening"
        );
        Ok(Exchange {
            pipeline,
            gateway,
            ops,
            follower,
            stats,
            recovery: rec,
        })
    }

    /// The HTTP/WebSocket (ops) address.
    pub fn ops_addr(&self) -> std::net::SocketAddr {
        self.ops.local_addr()
    }

    /// A publisher into the inbound ring, for benchmarks and tools that inject commands
    /// next to the FIX gateway. Drop it before [`Exchange::shutdown`]: the pipeline drains
    /// only once every publisher is gone.
    pub fn publisher(&self) -> tachyon_pipeline::CommandPublisher {
        self.pipeline.publisher()
    }

    /// The FIX acceptor's address.
    pub fn fix_addr(&self) -> std::net::SocketAddr {
        self.gateway.local_addr()
    }

    /// Pipeline counters (durable/applied sequence, journal failure).
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    /// Gateway counters.
    pub fn gateway_stats(&self) -> Arc<GatewayStats> {
        self.gateway.stats()
    }

    /// What recovery found at start-up.
    pub fn recovery(&self) -> &RecoveryInfo {
        &self.recovery
    }

    /// The journal's first error, if it failed (the exchange must then stop).
    pub fn journal_error(&self) -> Option<String> {
        if !self.stats.journal_failed.load(Ordering::Acquire) {
            return None;
        }
        let e = self
            .stats
            .journal_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        Some(e.unwrap_or_else(|| "journal failed".into()))
    }

    /// Clean shutdown: log sessions out and stop accepting, drain the rings, fsync,
    /// write a snapshot, let the persister catch up (bounded), stop.
    pub fn shutdown(self) -> Result<(), String> {
        let Exchange {
            pipeline,
            gateway,
            ops,
            follower,
            stats,
            ..
        } = self;
        let mut released = gateway.stop()?;
        // The pipeline drains once every publisher is gone: the admin API holds one.
        ops.state().disable_admin();
        info!(
            component = "pipeline",
            "shutdown: draining rings, writing final snapshot"
        );
        // Keep draining the outbound ring while the pipeline drains.
        let drain = std::thread::spawn(move || loop {
            if let PollResult::Shutdown = released.poll(|_| {}) {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        });
        pipeline.shutdown().map_err(|e| e.to_string())?;
        let _ = drain.join();
        // The market-data thread sees the pipeline's shutdown; then the server stops.
        ops.join();
        if let Some(f) = follower {
            let last = stats.durable_seq.load(Ordering::Acquire);
            if !f.wait_for(last, Duration::from_secs(10)) {
                warn!(
                    component = "persister",
                    lag = f.stats().lag_commands(),
                    "stopping before catching up; it resumes from its checkpoint on the next start"
                );
            }
            f.stop();
        }
        info!(
            component = "pipeline",
            applied_seq = stats.applied_seq.load(Ordering::Acquire),
            snapshot_seq = stats.snapshot_seq.load(Ordering::Acquire),
            "stopped cleanly"
        );
        Ok(())
    }
}

/// Pipeline options from the `[engine]` section.
pub fn pipeline_options(cfg: &Config) -> PipelineOptions {
    let e = &cfg.engine;
    PipelineOptions {
        inbound_ring_size: e.inbound_ring_size as usize,
        outbound_ring_size: e.outbound_ring_size as usize,
        mode: match e.core_mode {
            tachyon_config::CoreMode::Shared => CoreMode::Shared,
            tachyon_config::CoreMode::Dedicated => CoreMode::Dedicated,
        },
        matcher_core: e.matcher_core,
        journal_core: None,
        journal_dir: e.journal_dir.clone(),
        fsync: match e.fsync {
            tachyon_config::Fsync::Always => FsyncPolicy::Always,
            tachyon_config::Fsync::Os => FsyncPolicy::Os,
        },
        segment_size_bytes: e.segment_size_bytes,
        snapshot_interval: e.snapshot_interval_commands,
        prune_segments: e.prune_segments,
        // The FIX gateway and market data (ops).
        outbound_pollers: 2,
        tick_interval: Some(Duration::from_millis(100)),
        journal_on_matcher: e.journal_on_matcher,
    }
}

/// The commands that open and fund the configured accounts, journaled like any other.
pub fn genesis(cfg: &Config) -> Vec<Command> {
    let ts = wall_clock_ns();
    let fee = cfg.engine.fee_account;
    let mut cmds: Vec<Command> = cfg
        .accounts
        .iter()
        .filter(|a| a.id != fee)
        .map(|a| Command {
            ts_ns: ts,
            kind: CommandKind::CreateAccount {
                account: AccountId(a.id),
            },
        })
        .collect();
    for (i, (account, asset, amount)) in cfg.initial_deposits().into_iter().enumerate() {
        if amount > 0 {
            let t = Transfer {
                account,
                asset,
                amount,
                reference: i as u64 + 1,
            };
            cmds.push(Command {
                ts_ns: ts,
                kind: CommandKind::Deposit(t),
            });
        }
    }
    cmds
}

/// Starts the PostgreSQL persister (a journal follower) if `persister.enabled` or
/// `TACHYON_DATABASE_URL` is set (the variable also overrides `persister.database_url`).
fn start_persister(
    cfg: &Config,
    opts: &PipelineOptions,
    pipeline: &Pipeline,
) -> Result<Option<tachyon_persister::Follower>, String> {
    let env_url = std::env::var("TACHYON_DATABASE_URL").ok();
    if !cfg.persister.enabled && env_url.is_none() {
        info!(
            component = "persister",
            "disabled (persister.enabled = false; TACHYON_DATABASE_URL not set)"
        );
        return Ok(None);
    }
    let url = env_url
        .or_else(|| cfg.persister.database_url.clone())
        .ok_or(
            "persister.enabled = true but no persister.database_url (or TACHYON_DATABASE_URL)",
        )?;
    let pg: tachyon_persister::postgres::Config = url
        .parse()
        .map_err(|e| format!("persister database URL: {e}"))?;
    let sizes: Vec<tachyon_persister::TickLot> = cfg
        .instruments
        .iter()
        .map(|i| tachyon_persister::TickLot {
            tick_size: i.tick_size,
            lot_size: i.lot_size,
        })
        .collect();
    let units =
        tachyon_persister::Units::new(&cfg.engine_config(), &sizes).map_err(|e| e.to_string())?;
    let stats = pipeline.stats();
    let durable: std::sync::Arc<dyn Fn() -> u64 + Send + Sync> =
        std::sync::Arc::new(move || stats.durable_seq.load(Ordering::Acquire));
    let follower = tachyon_persister::Follower::spawn(
        cfg.engine_config(),
        units,
        pg,
        tachyon_persister::FollowerOptions {
            journal_dir: opts.journal_dir.clone(),
            batch_commands: cfg.persister.batch_size.max(1) as u64,
            idle_poll: Duration::from_millis(2),
            max_backoff: Duration::from_secs(2),
            // Persist in the gaps between bursts (more than 1,000 commands in 50 ms, i.e.
            // 20,000/s); never more than ~1M commands behind. Slower traffic is persisted
            // as it comes.
            yield_to_traffic: Some(Duration::from_millis(50)),
            burst_commands: 1_000,
            max_lag_commands: 1_000_000,
            priority: tachyon_persister::FollowerPriority::Nice10,
            connections: 3,
        },
        durable,
    )
    .map_err(|e| format!("spawn persister thread: {e}"))?;
    info!(component = "persister", thread = "tachyon-persist", host = ?pg_host(&url), "following the journal into PostgreSQL");
    Ok(Some(follower))
}

/// The URL without credentials, for the log.
fn pg_host(url: &str) -> String {
    url.rsplit('@').next().unwrap_or(url).to_string()
}
