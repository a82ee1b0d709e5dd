//! Market data's saved state on disk, so the trade tape, klines and 24-hour ticker survive
//! a restart (the books come back from the recovered engine).
//!
//! `<journal_dir>/md/md-<seq, 20 digits>.state` holds
//! [`MarketData::encode_state`] at `seq`: the events of every command up to `seq` and none
//! after (the format carries its own version and CRC32C). The `tachyon-md` thread writes
//! one each time it has applied the events of a multiple of the engine's snapshot interval
//! (so a snapshot at or just below it usually exists) and one at clean shutdown; the
//! newest two are kept. Written as `<name>.tmp` and renamed, without fsync: the journal is
//! the source of truth, and a state lost or torn by a power failure fails its CRC and is
//! passed over for the older one or for a longer replay.
//!
//! At start-up [`MdRecovery`] decodes the states and, as the pipeline's
//! [`RecoveryTap`], resumes the newest one the snapshots and journal can bring up to date
//! and takes the events of the commands after it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tachyon_config::Config;
use tachyon_engine::Event;
use tachyon_market_data::MarketData;
use tachyon_pipeline::{OutEvent, RecoveryTap};

const PREFIX: &str = "md-";
const SUFFIX: &str = ".state";
const TMP_SUFFIX: &str = ".tmp";
/// States kept on disk.
const KEEP: usize = 2;

fn file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The saved states in `dir`, oldest first (a missing directory holds none).
fn list(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `bytes` as the state at `seq` (temp file, rename) and deletes all but the
/// newest [`KEEP`] states and any leftover temp file.
pub(crate) fn write(dir: &Path, seq: u64, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(seq));
    let tmp = dir.join(format!("{}{TMP_SUFFIX}", file_name(seq)));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    let states = list(dir)?;
    for (_, old) in states.iter().take(states.len().saturating_sub(KEEP)) {
        std::fs::remove_file(old)?;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(|n| n.strip_suffix(TMP_SUFFIX))
            .and_then(parse_file_name)
            .is_some();
        if stale {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(path)
}

/// Deletes the states saved after `seq`: after recovery ended at `seq` they are ahead of
/// the journal (its tail was lost with them under `fsync = "os"`) and would be wrong once
/// the journal grows past them. Returns what it deleted.
pub(crate) fn remove_after(dir: &Path, seq: u64) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for (s, path) in list(dir)? {
        if s > seq {
            std::fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Market data's saved states, decoded at start-up, as the pipeline's [`RecoveryTap`]:
/// pass it to `Pipeline::start_with_tap`, then to
/// [`OpsState::resume_market_data`](crate::OpsState::resume_market_data).
pub struct MdRecovery {
    blank: MarketData,
    /// Valid states, newest first.
    states: Vec<(u64, MarketData)>,
    resumed: Option<MarketData>,
    notes: Vec<String>,
}

impl MdRecovery {
    /// Reads and checks every state in `dir` (`<journal_dir>/md`) for the configuration's
    /// instruments and retention. Unreadable or corrupt states are skipped with a note;
    /// this never fails. An empty state (before the first command) is always a candidate.
    pub fn load(cfg: &Config, dir: &Path) -> MdRecovery {
        MdRecovery::load_into(MarketData::new(cfg), dir)
    }

    /// [`MdRecovery::load`] for the symbols and limits of `blank` (an empty market data).
    pub(crate) fn load_into(blank: MarketData, dir: &Path) -> MdRecovery {
        let mut notes = Vec::new();
        let files = list(dir).unwrap_or_else(|e| {
            notes.push(format!("cannot list {}: {e}", dir.display()));
            Vec::new()
        });
        let mut states = Vec::new();
        for (seq, path) in files.into_iter().rev() {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    notes.push(format!("skipped {}: {e}", path.display()));
                    continue;
                }
            };
            let mut md = blank.clone();
            match md.restore_state(&bytes) {
                Ok(at) if at == seq => states.push((seq, md)),
                Ok(at) => notes.push(format!(
                    "skipped {}: it holds the state at {at}, its name says {seq}",
                    path.display()
                )),
                Err(e) => notes.push(format!("skipped {}: {e}", path.display())),
            }
        }
        MdRecovery {
            blank,
            states,
            resumed: None,
            notes,
        }
    }

    /// States passed over (file and reason) and failures while bringing one up to
    /// date, for the log.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// True if a state was resumed and brought up to date (not yet handed over).
    pub fn is_resumed(&self) -> bool {
        self.resumed.is_some()
    }

    /// The sequences of the valid states found, newest first.
    pub fn found(&self) -> Vec<u64> {
        self.states.iter().map(|(s, _)| *s).collect()
    }

    /// The market data recovery resumed and brought up to date, if it did.
    pub(crate) fn take_resumed(&mut self) -> Option<MarketData> {
        self.resumed.take()
    }
}

impl RecoveryTap for MdRecovery {
    fn saved_states(&self) -> Vec<u64> {
        let mut v = self.found();
        v.push(0);
        v
    }

    fn resume(&mut self, seq: u64) {
        let md = match self.states.iter().position(|(s, _)| *s == seq) {
            Some(i) => self.states.swap_remove(i).1,
            None => {
                assert_eq!(seq, 0, "resume from a state that was not offered");
                self.blank.clone()
            }
        };
        self.states.clear();
        self.resumed = Some(md);
    }

    fn event(&mut self, cmd_seq: u64, ts_ns: u64, event: &Event) {
        let Some(md) = &mut self.resumed else {
            return;
        };
        // As on the live consumer thread: a panic (a bug) costs market data, never the
        // start-up.
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| md.apply(ts_ns, event)));
        if applied.is_err() {
            self.resumed = None;
            self.notes.push(format!(
                "applying an event of command {cmd_seq} to market data panicked; \
                 it starts empty"
            ));
        }
    }
}

/// The `tachyon-md` thread's saving of market data state.
pub(crate) struct Saver {
    dir: PathBuf,
    /// Save after each multiple of this many commands (the engine's snapshot interval).
    every: u64,
    /// Every command up to this one has all its events applied.
    applied_through: u64,
    /// The last event applied was not its command's last.
    mid_command: bool,
    /// Save once `applied_through` reaches this.
    next_at: u64,
    /// Encoded state waiting to be written (reused buffer).
    buf: Vec<u8>,
    pending: Option<u64>,
    encode_ns: u64,
    failed_before: bool,
}

impl Saver {
    /// Market data reflects every command up to `at_seq` (recovery's last sequence).
    pub(crate) fn new(dir: PathBuf, every: u64, at_seq: u64) -> Saver {
        Saver {
            dir,
            every,
            applied_through: at_seq,
            mid_command: false,
            next_at: next_multiple(at_seq, every),
            buf: Vec::new(),
            pending: None,
            encode_ns: 0,
            failed_before: false,
        }
    }

    /// Notes an event the thread applied (in ring order).
    #[inline]
    pub(crate) fn saw(&mut self, ev: &OutEvent) {
        // The first event of a command also completes every earlier command (those
        // without events never appear on the ring).
        let done = if ev.last { ev.cmd_seq } else { ev.cmd_seq - 1 };
        self.applied_through = self.applied_through.max(done);
        self.mid_command = !ev.last;
    }

    /// True if a save is due: an interval boundary was passed and market data stands
    /// between two commands.
    pub(crate) fn due(&self) -> bool {
        self.every > 0 && !self.mid_command && self.applied_through >= self.next_at
    }

    /// Encodes `md` as the state at `at_seq` (the caller holds the market data lock;
    /// writing happens in [`Saver::write_pending`], after the lock is released).
    pub(crate) fn encode(&mut self, md: &MarketData, at_seq: u64) {
        let t = Instant::now();
        self.buf.clear();
        md.encode_state(at_seq, &mut self.buf);
        self.encode_ns = t.elapsed().as_nanos() as u64;
        self.pending = Some(at_seq);
        self.next_at = next_multiple(at_seq, self.every);
    }

    /// The sequence a save now would be tagged with.
    pub(crate) fn applied_through(&self) -> u64 {
        self.applied_through
    }

    /// Writes the encoded state, if any. Failures are logged (the first one as a
    /// warning), never fatal: market data then restarts from an older state.
    pub(crate) fn write_pending(&mut self) {
        let Some(seq) = self.pending.take() else {
            return;
        };
        let t = Instant::now();
        match write(&self.dir, seq, &self.buf) {
            Ok(path) => {
                self.failed_before = false;
                tracing::debug!(
                    component = "market-data",
                    seq,
                    bytes = self.buf.len(),
                    encode_us = self.encode_ns / 1_000,
                    write_us = t.elapsed().as_micros() as u64,
                    file = %path.display(),
                    "state saved"
                );
            }
            Err(e) if !self.failed_before => {
                self.failed_before = true;
                tracing::warn!(
                    component = "market-data",
                    seq,
                    dir = %self.dir.display(),
                    "cannot save market data state: {e}; a restart resumes an older one"
                );
            }
            Err(e) => tracing::debug!(component = "market-data", seq, "save failed again: {e}"),
        }
    }
}

/// The first multiple of `every` after `seq` (never, for 0).
fn next_multiple(seq: u64, every: u64) -> u64 {
    seq.checked_div(every)
        .map_or(u64::MAX, |n| (n + 1).saturating_mul(every))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_sequence() {
        assert_eq!(file_name(42), "md-00000000000000000042.state");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
        for bad in ["md-42.state", "md-0000000000000000004x.state", "x.state"] {
            assert_eq!(parse_file_name(bad), None);
        }
    }

    #[test]
    fn write_keeps_the_newest_two_and_clears_temp_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("md");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}.tmp", file_name(7))), b"half").unwrap();
        for seq in [10, 20, 30] {
            write(&dir, seq, &[seq as u8]).unwrap();
        }
        let names: Vec<u64> = list(&dir).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, vec![20, 30]);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        assert_eq!(remove_after(&dir, 25).unwrap().len(), 1);
        let names: Vec<u64> = list(&dir).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, vec![20]);
    }

    #[test]
    fn saver_tags_states_at_command_boundaries() {
        let ev = |cmd_seq, last| OutEvent {
            cmd_seq,
            last,
            ..OutEvent::default()
        };
        let mut s = Saver::new(PathBuf::from("unused"), 10, 4);
        assert_eq!(s.next_at, 10);
        s.saw(&ev(9, true));
        assert!(!s.due());
        // Command 10 has no events; the first event of 12 completes 10 and 11, but 12 is
        // only half applied.
        s.saw(&ev(12, false));
        assert_eq!(s.applied_through(), 11);
        assert!(!s.due());
        s.saw(&ev(12, true));
        assert!(s.due());
        assert_eq!(s.applied_through(), 12);
        s.encode(&MarketData::with_symbols(vec![], limits()), 12);
        assert_eq!(s.next_at, 20);
        assert!(!s.due());
        assert_eq!(next_multiple(20, 10), 30);
        assert_eq!(next_multiple(5, 0), u64::MAX);
    }

    /// The largest state the dev configuration allows (three symbols; 1,000 trades and
    /// 1,000 klines of every interval each; every minute of the last day traded): its
    /// size, and how long encoding and writing it take (printed; run with --nocapture).
    #[test]
    fn full_retention_state_size_and_save_time() {
        use tachyon_engine::{Price, Qty, Side, SymbolId, Trade};
        let names: Vec<String> = ["BTC-USDT", "ETH-USDT", "ETH-BTC"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let blank = MarketData::with_symbols(
            names,
            tachyon_market_data::MdLimits {
                trade_tape_len: 1_000,
                kline_len: 1_000,
            },
        );
        let mut md = blank.clone();
        const MIN: u64 = 60_000_000_000;
        let now = 1_700_000_000 * 1_000_000_000u64;
        // One trade a day for 1,000 days, an hour for 1,000 hours, a minute for 5,000
        // minutes: every interval's klines full.
        let mut times: Vec<u64> = (0..1_000)
            .map(|d| now - (2_000 + d) * 1_440 * MIN)
            .collect();
        times.extend((0..1_000).map(|h| now - (6_000 + h * 60) * MIN));
        times.extend((0..5_000).map(|m| now - m * MIN));
        times.sort_unstable();
        let mut id = 0;
        for &ts in &times {
            for s in 0..3u16 {
                id += 1;
                let fill = tachyon_engine::Fill {
                    order_id: tachyon_engine::OrderId(1),
                    account: tachyon_engine::AccountId(1),
                    session: tachyon_engine::SessionId(0),
                    cl_ord_id: tachyon_engine::ClOrdId::EMPTY,
                    leaves: Qty(0),
                    cum_qty: Qty(0),
                    cum_cost: 0,
                    fee: 0,
                };
                md.apply(
                    ts,
                    &Event::Trade(Trade {
                        trade_id: id,
                        symbol: SymbolId(s),
                        price: Price(1_000 + (id % 97) as i64),
                        qty: Qty(1 + (id % 13) as i64),
                        taker_side: if id % 2 == 0 { Side::Buy } else { Side::Sell },
                        maker: fill,
                        taker: fill,
                    }),
                );
            }
        }
        for s in 0..3u16 {
            for i in tachyon_market_data::Interval::ALL {
                assert_eq!(md.klines(SymbolId(s), i, usize::MAX).unwrap().len(), 1_000);
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let mut saver = Saver::new(tmp.path().join("md"), 1, 0);
        let mut best = (u64::MAX, u64::MAX);
        for round in 1..=5 {
            saver.encode(&md, round);
            let encode_ns = saver.encode_ns;
            let t = Instant::now();
            saver.write_pending();
            let write_ns = t.elapsed().as_nanos() as u64;
            best = (best.0.min(encode_ns), best.1.min(write_ns));
        }
        let bytes = saver.buf.len();
        // Per symbol: 3 seqs, tape, 4 × klines, the day's minutes.
        let per_symbol = 24 + 4 + 1_000 * 41 + 4 * (4 + 1_000 * 112) + 8 + 2 + 1_440 * 114;
        assert_eq!(bytes, 28 + 2 + 3 * 2 + 8 + 8 + 7 + 3 * per_symbol + 4);
        eprintln!(
            "full-retention market data state: {bytes} bytes; best of 5: encode {} us, \
             write + rename + prune {} us",
            best.0 / 1_000,
            best.1 / 1_000
        );
        let mut loaded = MdRecovery::load_into(blank, &tmp.path().join("md"));
        assert_eq!(loaded.found(), vec![5, 4], "{:?}", loaded.notes());
        loaded.resume(5);
        let mut again = Vec::new();
        loaded.take_resumed().unwrap().encode_state(5, &mut again);
        assert!(again == saver.buf, "a saved state reads back as it was");
    }

    #[test]
    fn a_panic_while_catching_up_costs_market_data_not_the_start_up() {
        let blank = MarketData::with_symbols(vec!["BTC-USDT".into()], limits());
        let tmp = tempfile::tempdir().unwrap();
        let mut r = MdRecovery::load_into(blank, tmp.path());
        assert_eq!(r.saved_states(), vec![0]);
        r.resume(0);
        assert!(r.is_resumed());
        // A negative level quantity is a bug the book asserts against.
        let bad = Event::BookLevel {
            symbol: tachyon_engine::SymbolId(0),
            side: tachyon_engine::Side::Buy,
            price: tachyon_engine::Price(1),
            qty: tachyon_engine::Qty(-1),
            count: 1,
        };
        r.event(7, 0, &bad);
        assert!(!r.is_resumed());
        assert!(r.notes()[0].contains("command 7"), "{:?}", r.notes());
        r.event(8, 0, &bad); // ignored from then on
        assert_eq!(r.notes().len(), 1);
    }

    fn limits() -> tachyon_market_data::MdLimits {
        tachyon_market_data::MdLimits {
            trade_tape_len: 1,
            kline_len: 1,
        }
    }
}
