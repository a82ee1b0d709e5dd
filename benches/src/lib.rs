//! Benchmarks of the Tachyon engine core against peer Rust order books.
//!
//! # Workload (exchange-core's single-symbol benchmark shape)
//! [`workload::generate`] builds, with a seeded SplitMix64 RNG, a stream of operations on
//! one symbol: per op 9% GTC, 3% IOC, 6% cancel, 82% move (cancel-replace to a new
//! price), 1,000 accounts. Passive prices are drawn uniformly at `mid ± 1..=850` ticks
//! around a fixed mid (with `--drift`, around the book's current mid, which then wanders
//! by thousands of ticks over millions of ops); with ~1,000 resting orders that spreads
//! them over ~750 levels. One GTC in five is marketable (up to 2 ticks through the
//! opposite best); IOCs are sized to fully fill a few makers and part of the next, more
//! when the book is above its 1,000-order target, which keeps the book at its size. The generator applies
//! every op to a reference book ([`workload::RefBook`], a plain BTreeMap + VecDeque
//! price-time book), so cancels and moves always target a resting order, and it re-draws
//! any taker's account that would meet its own resting order, so self-trade prevention
//! never fires and every book sees the same matches. An untimed pre-fill of passive GTCs
//! builds the initial book; everything is generated before timing.
//!
//! # Books
//! - Tachyon: the whole engine with risk checks on — 1,000 funded accounts, balance
//!   locks, maker/taker fees, ledger events — fed pre-built `Command`s (move =
//!   `CommandKind::Replace` with the new price; cancels and replaces name the order by its
//!   client order id, or by `OrderId` with `--by-order-id`). The sink copies every event
//!   into a fixed 1,024-slot ring, as publishing to an outbound ring would; it never
//!   allocates.
//! - `lobster` 0.7 (matching only): IOC = limit order then a cancel if a remainder
//!   rested; move = cancel + new limit for the open quantity.
//! - `orderbook-rs` 0.15 (matching only): GTC/IOC limit orders, `cancel_order`,
//!   `update_order(UpdatePrice)`.
//! - The reference BTreeMap + VecDeque book itself, as a baseline.
//! - A no-op "book": the latency floor of the harness and the machine (timer reads,
//!   interrupts, hypervisor and scheduler stalls), which every other row includes.
//!
//! # Method
//! Throughput: the whole stream through a fresh, pre-filled book at saturation, one
//! thread. Latency: an open-loop replay at a fixed offered rate: command `i` is due at
//! `t0 + i/R`, the loop busy-waits until then (not at all if behind), and the latency is
//! completion − due time, so stalls are charged to every command queued behind them (no
//! coordinated omission). Service time (actual start → completion) is also recorded, as a
//! diagnostic only. Clock: `std::time::Instant` (vDSO `clock_gettime`). Histograms:
//! hdrhistogram, ns, 3 significant digits. The run prints involuntary context switches per
//! latency run, since on a shared 2-core VM other tenants dominate the tail.
#![deny(missing_docs)]

pub mod books;
pub mod fixload;
pub mod measure;
pub mod tachyon;
pub mod workload;
