//! The `tachyon` binary: command line, logging and signals around [`tachyon::Exchange`].
//! No business logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tachyon::Exchange;
use tachyon_config::Config;
use tracing::{error, info};

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

fn run(cfg: Config) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let exchange = Exchange::start(cfg)?;
    while !stop.load(Ordering::Acquire) {
        if let Some(e) = exchange.journal_error() {
            error!(component = "journal", "{e}; stopping");
            let _ = exchange.shutdown();
            return Err("journal failure".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    info!(component = "main", "signal received: shutting down");
    exchange.shutdown()
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
