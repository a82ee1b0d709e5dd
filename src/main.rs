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
    /// Admin API client: operator actions on a running exchange (journaled commands).
    Admin {
        /// Base URL of the ops endpoint; default: http://<ops.listen> from --config.
        #[arg(long)]
        url: Option<String>,
        /// Admin token; default: $TACHYON_ADMIN_TOKEN, else ops.admin_token from --config.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        action: AdminCmd,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Open an account (balances zero).
    CreateAccount {
        /// Account id.
        account: u32,
    },
    /// Credit an account.
    Deposit {
        /// Account id.
        account: u32,
        /// Asset code, e.g. USDT.
        asset: String,
        /// Decimal amount, e.g. 100.5 (exact; no more decimals than the asset has).
        amount: String,
        /// External reference (e.g. a transfer id).
        #[arg(long, default_value_t = 0)]
        reference: u64,
    },
    /// Debit an account's available balance.
    Withdraw {
        /// Account id.
        account: u32,
        /// Asset code.
        asset: String,
        /// Decimal amount.
        amount: String,
        /// External reference.
        #[arg(long, default_value_t = 0)]
        reference: u64,
    },
    /// Stop new orders and replaces on a symbol (cancels still work).
    Halt {
        /// Symbol, e.g. BTC-USDT.
        symbol: String,
    },
    /// Resume trading on a halted symbol.
    Resume {
        /// Symbol.
        symbol: String,
    },
    /// Suspend an account: it can only cancel.
    Suspend {
        /// Account id.
        account: u32,
    },
    /// Lift an account's suspension.
    Unsuspend {
        /// Account id.
        account: u32,
    },
    /// Cancel every open order of an account.
    CancelAll {
        /// Account id.
        account: u32,
    },
    /// Issue an API key for a FIX session (hmac-sha256); prints its id and secret, once.
    CreateApiKey {
        /// The session's SenderCompID.
        comp_id: String,
        /// Account the key belongs to (default: the session's account).
        #[arg(long)]
        account: Option<u32>,
    },
    /// List the active API keys (ids, accounts, CompIDs; never secrets).
    ListApiKeys,
    /// Revoke an API key; sessions logged on with it are logged out.
    RevokeApiKey {
        /// Key id, tk_ + 16 hex digits.
        key_id: String,
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
    // The configuration is read first so that its [log] section applies from the first
    // line; a command that needs it reports a bad file below.
    let cfg = cli.config.as_deref().map(|p| load(Some(p)));
    let log = cfg
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .map(|c| (&c.log, cli.config.as_deref().unwrap_or(Path::new(""))));
    if let Err(msg) = init_logging(log) {
        eprintln!("tachyon: {msg}");
        return ExitCode::FAILURE;
    }
    let config = || cfg.clone().unwrap_or_else(|| load(None));
    let result = match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => config().and_then(run),
        Cmd::CheckConfig => config().map(|c| {
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
        Cmd::Admin { url, token, action } => admin(cli.config.as_deref(), url, token, action),
        Cmd::Journal {
            command: JournalCmd::Replay { dir, no_snapshot },
        } => config().and_then(|c| replay(&c, &dir, !no_snapshot)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("tachyon: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Logging to stderr: `[log]` from the configuration (when one was given and is valid),
/// overridden by `TACHYON_LOG` (filter) and `TACHYON_LOG_FORMAT` (`text`/`json`).
fn init_logging(cfg: Option<(&tachyon_config::LogSection, &Path)>) -> Result<(), String> {
    use tachyon_config::LogFormat;
    let filter = match std::env::var("TACHYON_LOG") {
        Ok(v) => tracing_subscriber::EnvFilter::try_new(&v)
            .map_err(|e| format!("TACHYON_LOG={v:?}: invalid filter: {e}"))?,
        Err(_) => match cfg {
            Some((log, path)) => {
                tracing_subscriber::EnvFilter::try_new(&log.level).map_err(|e| {
                    format!(
                        "{}: log.level: invalid filter {:?}: {e}",
                        path.display(),
                        log.level
                    )
                })?
            }
            None => tracing_subscriber::EnvFilter::new("info"),
        },
    };
    let json = match std::env::var("TACHYON_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        Ok(other) => {
            return Err(format!(
                "TACHYON_LOG_FORMAT={other:?}: must be text or json"
            ))
        }
        Err(_) => cfg.is_some_and(|(log, _)| log.format == LogFormat::Json),
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_thread_names(true)
        .with_ansi(!json && std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
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

/// Calls the admin API and prints its JSON answer; a non-2xx answer is an error (exit 1)
/// with the server's message.
fn admin(
    config: Option<&Path>,
    url: Option<String>,
    token: Option<String>,
    action: AdminCmd,
) -> Result<(), String> {
    let cfg = match config {
        Some(p) => Some(Config::load(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let url = url
        .or_else(|| cfg.as_ref().map(|c| format!("http://{}", c.ops.listen)))
        .ok_or("no --url and no --config to find ops.listen in")?;
    let token = token
        .or_else(|| std::env::var("TACHYON_ADMIN_TOKEN").ok())
        .or_else(|| {
            cfg.as_ref()
                .and_then(|c| c.ops.admin_token.as_ref().map(|t| t.expose().to_string()))
        })
        .ok_or("no admin token: pass --token, set TACHYON_ADMIN_TOKEN or use --config")?;
    let (path, body) = match action {
        AdminCmd::CreateAccount { account } => (
            "/admin/v1/accounts".to_string(),
            serde_json::json!({ "account": account }),
        ),
        AdminCmd::Deposit {
            account,
            asset,
            amount,
            reference,
        } => (
            "/admin/v1/deposits".into(),
            serde_json::json!({ "account": account, "asset": asset, "amount": amount, "reference": reference }),
        ),
        AdminCmd::Withdraw {
            account,
            asset,
            amount,
            reference,
        } => (
            "/admin/v1/withdrawals".into(),
            serde_json::json!({ "account": account, "asset": asset, "amount": amount, "reference": reference }),
        ),
        AdminCmd::Halt { symbol } => (
            format!("/admin/v1/symbols/{symbol}/halt"),
            serde_json::json!({}),
        ),
        AdminCmd::Resume { symbol } => (
            format!("/admin/v1/symbols/{symbol}/resume"),
            serde_json::json!({}),
        ),
        AdminCmd::Suspend { account } => (
            format!("/admin/v1/accounts/{account}/suspend"),
            serde_json::json!({}),
        ),
        AdminCmd::Unsuspend { account } => (
            format!("/admin/v1/accounts/{account}/resume"),
            serde_json::json!({}),
        ),
        AdminCmd::CancelAll { account } => (
            format!("/admin/v1/accounts/{account}/cancel-all"),
            serde_json::json!({}),
        ),
        AdminCmd::CreateApiKey { comp_id, account } => {
            let mut body = serde_json::json!({ "comp_id": comp_id });
            if let Some(a) = account {
                body["account"] = a.into();
            }
            ("/admin/v1/api-keys".into(), body)
        }
        AdminCmd::ListApiKeys => ("/admin/v1/api-keys".into(), serde_json::Value::Null),
        AdminCmd::RevokeApiKey { key_id } => (
            format!("/admin/v1/api-keys/{key_id}"),
            serde_json::Value::Null,
        ),
    };
    let full = format!("{}{path}", url.trim_end_matches('/'));
    let auth = format!("Bearer {token}");
    // A body means POST; without one, the key list is a GET and a key's path a DELETE.
    let resp = if !body.is_null() {
        ureq::post(&full)
            .set("Authorization", &auth)
            .send_json(body)
    } else if path == "/admin/v1/api-keys" {
        ureq::get(&full).set("Authorization", &auth).call()
    } else {
        ureq::delete(&full).set("Authorization", &auth).call()
    };
    match resp {
        Ok(r) => {
            println!("{}", r.into_string().map_err(|e| e.to_string())?);
            Ok(())
        }
        Err(ureq::Error::Status(code, r)) => Err(format!(
            "HTTP {code}: {}",
            r.into_string().unwrap_or_default()
        )),
        Err(e) => Err(format!("{url}: {e}")),
    }
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
