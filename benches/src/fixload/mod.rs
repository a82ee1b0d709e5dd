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

/// Per-thread scheduler counters at one moment: `(tid, name, on-CPU ns, runqueue-wait
/// ns, involuntary context switches)` from `/proc/self/task/*/{schedstat,status}`.
pub fn sched_snapshot() -> Vec<(u32, String, u64, u64, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let st = std::fs::read_to_string(e.path().join("schedstat")).unwrap_or_default();
        let mut it = st.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
        let (run, wait) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let invol = status
            .lines()
            .find(|l| l.starts_with("nonvoluntary_ctxt_switches:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.push((tid, name.trim().to_string(), run, wait, invol));
    }
    out
}

/// Where the threads spent a run of `elapsed`: per thread, % of one core on CPU, % of
/// the time runnable but waiting for a core, and involuntary context switches. Threads
/// that barely ran are left out.
pub fn sched_report(
    before: &[(u32, String, u64, u64, u64)],
    after: &[(u32, String, u64, u64, u64)],
    elapsed: std::time::Duration,
) -> String {
    let ns = elapsed.as_nanos().max(1) as f64;
    let mut parts = Vec::new();
    for (tid, name, run, wait, invol) in after {
        let (r0, w0, i0) = before
            .iter()
            .find(|b| b.0 == *tid)
            .map_or((0, 0, 0), |b| (b.2, b.3, b.4));
        let (cpu, waited) = (
            (run - r0) as f64 / ns * 100.0,
            (wait - w0) as f64 / ns * 100.0,
        );
        if cpu < 0.5 && waited < 0.5 {
            continue;
        }
        parts.push(format!(
            "{name} cpu {cpu:.0}% waiting {waited:.0}% preempted {}",
            invol - i0
        ));
    }
    parts.join("; ")
}

/// Quantile of a histogram in µs with one decimal, for tables and the final line.
pub fn us(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 100.0).round() / 10.0
}
