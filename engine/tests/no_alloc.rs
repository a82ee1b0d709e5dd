//! The engine does not allocate per command after warm-up: a counting global allocator
//! over 1,000,000 mixed commands (new orders of every type, cancels, replaces, mass
//! cancels, deposits, withdrawals, time ticks) must see zero allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tachyon_engine::*;

mod gen;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn one_million_mixed_commands_allocate_nothing() {
    let (mut engine, _) = gen::funded_engine();
    let mut sink = EventHasher::default();
    let mut rng = gen::Rng(42);
    let mut ts = 1_000u64;
    // Warm-up: the same mix, so every structure reaches its working size.
    for i in 0..200_000u64 {
        ts += 1_000;
        engine.apply(&gen::command(&mut rng, ts, i), &mut sink);
    }
    let cmds: Vec<Command> = (0..1_000_000u64)
        .map(|i| {
            ts += 1_000;
            gen::command(&mut rng, ts, 200_000 + i)
        })
        .collect();
    let before = sink.count;
    COUNTING.store(true, Ordering::SeqCst);
    for c in &cmds {
        engine.apply(c, &mut sink);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let events = sink.count - before;
    eprintln!("{events} events, {} resting orders, {allocs} allocations", engine.open_orders());
    engine.check_invariants().unwrap();
    assert!(events > 3_000_000, "the flow must exercise the engine, saw {events} events");
    assert!(engine.open_orders() > 100, "books must hold orders, have {}", engine.open_orders());
    assert_eq!(allocs, 0, "engine allocated {allocs} times over 1,000,000 commands");
}
