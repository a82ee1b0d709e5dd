//! The `tachyon` binary: wires config, pipeline (and, as they land, gateway, persister and
//! market data) together. No business logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tachyon_config::Config;
use tachyon_engine::{AccountId, Command, CommandKind, Transfer};
use tachyon_pipeline::{
    wall_clock_ns, CoreMode, FsyncPolicy, Pipeline, PipelineOptions, PollResult,
};
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "tachyon",
    version,
    about = "Tachyon: a low-latency crypto spot exchange core"
)]
struct Cli {
    /// Configuration file (TOML), e.g. config/dev.toml.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the exchange (the default).
    Run,
    /// Validate a configuration file and print a summary.
    CheckConfig,
    /// Journal tools for operators.
    Journal {
        #[command(subcommand)]
        command: JournalCmd,
    },
}

#[derive(Subcommand)]
enum JournalCmd {
    /// List segments, record counts and sequence ranges; verify every CRC. Read-only.
    Inspect {
        /// Journal directory.
        dir: PathBuf,
    },
    /// Rebuild the state offline from snapshot + journal (or the whole journal) and print
    /// its state hash. Read-only. Needs --config for the instruments.
    Replay {
        /// Journal directory.
        dir: PathBuf,
        /// Ignore snapshots: replay every record from sequence 1.
        #[arg(long)]
        no_snapshot: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => load(cli.config.as_deref()).and_then(run),
        Cmd::CheckConfig => load(cli.config.as_deref()).map(|c| {
            println!(
                "ok: {} assets, {} instruments, {} accounts, {} FIX sessions",
                c.assets.len(),
                c.instruments.len(),
                c.accounts.len(),
                c.fix.sessions.len()
            );
        }),
        Cmd::Journal {
            command: JournalCmd::Inspect { dir },
        } => inspect(&dir),
        Cmd::Journal {
            command: JournalCmd::Replay { dir, no_snapshot },
        } => load(cli.config.as_deref()).and_then(|c| replay(&c, &dir, !no_snapshot)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("tachyon: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TACHYON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_thread_names(true)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("TACHYON_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load(path: Option<&Path>) -> Result<Config, String> {
    let path =
        path.ok_or("no configuration given: pass --config <file> (e.g. --config config/dev.toml)")?;
    Config::load(path).map_err(|e| e.to_string())
}

fn pipeline_options(cfg: &Config) -> PipelineOptions {
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
        outbound_pollers: 1,
        tick_interval: Some(Duration::from_millis(100)),
    }
}

/// The commands that open and fund the configured accounts, journaled like any other.
fn genesis(cfg: &Config) -> Vec<Command> {
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

fn run(cfg: Config) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let opts = pipeline_options(&cfg);
    let mut pipeline =
        Pipeline::start(cfg.engine_config(), opts.clone()).map_err(|e| e.to_string())?;
    let rec = pipeline.recovery().clone();
    for note in &rec.notes {
        warn!(component = "journal", "{note}");
    }
    info!(
        component = "journal",
        dir = %opts.journal_dir.display(),
        fsync = ?opts.fsync,
        thread = "tachyon-journal",
        last_seq = rec.last_seq,
        "journal open"
    );
    info!(
        component = "matcher",
        thread = "tachyon-matcher",
        mode = ?opts.mode,
        core = ?opts.matcher_core,
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
    drop(publisher);
    let follower = start_persister(&cfg, &opts, &pipeline)?;
    info!(
        component = "gateway",
        "FIX gateway not built yet (gateway issue); the pipeline runs without client entry"
    );
    let mut released = pipeline.take_pollers().pop().expect("one poller");
    let stats = pipeline.stats();
    let mut events = 0u64;
    while !stop.load(Ordering::Acquire) {
        match released.poll(|_| events += 1) {
            PollResult::Released(0) => std::thread::sleep(Duration::from_millis(1)),
            PollResult::Released(_) => {}
            PollResult::Shutdown => break,
        }
        if stats.journal_failed.load(Ordering::Acquire) {
            let e = stats
                .journal_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            error!(component = "journal", "{}; stopping", e.unwrap_or_default());
            return Err("journal failure".into());
        }
    }
    info!(
        component = "pipeline",
        "shutdown requested: draining rings, writing final snapshot"
    );
    // Keep draining the outbound ring on another thread while the pipeline drains.
    let drain = std::thread::spawn(move || loop {
        if let PollResult::Shutdown = released.poll(|_| {}) {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    });
    pipeline.shutdown().map_err(|e| e.to_string())?;
    let _ = drain.join();
    if let Some(f) = follower {
        // Let the persister store what the journal holds, within reason.
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
        events,
        "stopped cleanly"
    );
    Ok(())
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
            // Persist in the gaps between bursts; never more than ~1M commands behind.
            yield_to_traffic: Some(Duration::from_millis(5)),
            max_lag_commands: 1_000_000,
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

fn inspect(dir: &Path) -> Result<(), String> {
    let report = tachyon_journal::inspect(dir).map_err(|e| e.to_string())?;
    print!("{report}");
    if report.is_clean() {
        Ok(())
    } else {
        Err("journal has corrupt records (see above)".into())
    }
}

fn replay(cfg: &Config, dir: &Path, use_snapshot: bool) -> Result<(), String> {
    let t0 = std::time::Instant::now();
    let (_, r) = tachyon_pipeline::replay(cfg.engine_config(), dir, use_snapshot)
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    for n in &r.notes {
        println!("note: {n}");
    }
    println!(
        "replayed {} commands (from snapshot {:?}) up to sequence {} in {:.3} s ({:.0} commands/s)",
        r.replayed,
        r.snapshot_seq,
        r.last_seq,
        secs,
        r.replayed as f64 / secs.max(1e-9)
    );
    println!("state_hash={:016x}", r.state_hash);
    Ok(())
}
