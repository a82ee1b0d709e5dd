//! `fix-load`: an open-loop FIX 4.4 load generator and the peers it is compared with.
//!
//! - [`client`]: connects, logs on (ResetSeqNumFlag(141)=Y), and runs a sender thread that
//!   offers NewOrderSingle at a fixed rate and a receiver thread that records, per
//!   ClOrdID, the time from the order's *intended* send time to its first ExecutionReport
//!   (no coordinated omission: a late send is charged to the order). Encoding and
//!   decoding use `tachyon_fix_gateway`'s allocation-free codec.
//! - [`maxrate`]: the highest offered rate a server sustains (see its docs for the
//!   definition).
//! - [`pingpong`]: a plain TCP ping-pong on loopback with FIX-sized messages, the floor
//!   any FIX round trip pays.
//! - [`quickfix_peer`]: a QuickFIX C++ acceptor (quickfix-rs) that answers each D with an
//!   ExecutionReport, the reference the issue measures us against.

pub mod client;
pub mod maxrate;
pub mod pingpong;
pub mod quickfix_peer;

/// Cores available to this process (read once, before any thread pins itself).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Names of this process's threads, from `/proc/self/task/*/comm` (Linux); sorted and
/// counted, e.g. `fixload-recv, fixload-send, fix-load (main)`.
pub fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Ok(n) = std::fs::read_to_string(e.path().join("comm")) {
                names.push(n.trim().to_string());
            }
        }
    }
    names.sort();
    names
}

/// Threads whose affinity mask is narrower than the process's cores: pinned threads.
pub fn pinned_threads() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let allowed = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .map(|l| l["Cpus_allowed_list:".len()..].trim().to_string())
            .unwrap_or_default();
        let n = cpu_list_len(&allowed);
        if n > 0 && n < cores() {
            let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            out.push(format!("{} → cpu {allowed}", name.trim()));
        }
    }
    out
}

/// Number of CPUs in a list such as `0-1,3`.
fn cpu_list_len(list: &str) -> usize {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|r| match r.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                b.saturating_sub(a) + 1
            }
            None => 1,
        })
        .sum()
}

/// A process-wide summary of the threads, e.g. `5 threads: fix-load ×1, ...; none pinned`.
pub fn describe_threads() -> String {
    let names = thread_names();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for n in &names {
        match counted.iter_mut().find(|(m, _)| m == n) {
            Some((_, c)) => *c += 1,
            None => counted.push((n.clone(), 1)),
        }
    }
    let list: Vec<String> = counted
        .iter()
        .map(|(n, c)| {
            if *c > 1 {
                format!("{n} ×{c}")
            } else {
                n.clone()
            }
        })
        .collect();
    let pinned = pinned_threads();
    format!(
        "{} threads: {}; {}",
        names.len(),
        list.join(", "),
        if pinned.is_empty() {
            "none pinned".to_string()
        } else {
            format!("pinned: {}", pinned.join(", "))
        }
    )
}

/// Quantile of a histogram in µs with one decimal, for tables and the final line.
pub fn us(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 100.0).round() / 10.0
}
