//! The engine does not allocate per command after warm-up: a counting global allocator
//! over 1,000,000 mixed commands (new orders of every type, cancels, replaces, mass
//! cancels, deposits, withdrawals, time ticks, operator halts/suspensions and resumes)
//! must see zero allocations.

use std::sync::atomic::Ordering;

use tachyon_engine::*;

mod gen;

tachyon_testkit::counting_allocator!();

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
    let operator = cmds
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                CommandKind::HaltSymbol { .. }
                    | CommandKind::ResumeSymbol { .. }
                    | CommandKind::SuspendAccount { .. }
                    | CommandKind::ResumeAccount { .. }
            )
        })
        .count();
    assert!(operator > 1_000, "only {operator} operator commands");
    let before = sink.count;
    COUNTING.store(true, Ordering::SeqCst);
    for c in &cmds {
        engine.apply(c, &mut sink);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let events = sink.count - before;
    eprintln!(
        "{events} events, {} resting orders, {allocs} allocations",
        engine.open_orders()
    );
    engine.check_invariants().unwrap();
    assert!(
        events > 3_000_000,
        "the flow must exercise the engine, saw {events} events"
    );
    assert!(
        engine.open_orders() > 100,
        "books must hold orders, have {}",
        engine.open_orders()
    );
    assert_eq!(
        allocs, 0,
        "engine allocated {allocs} times over 1,000,000 commands"
    );
}
