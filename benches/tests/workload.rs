//! The bench's own checks: the generated flow has the intended shape, is deterministic,
//! and every book ends in the same state as the model on it.

use benches::books::{Baseline, Book, Lobster, OrderbookRs};
use benches::tachyon::{ByClOrdId, ByOrderId, Tachyon};
use benches::workload::{generate, Op, Params};

const OPS: usize = 20_000;

fn run<B: Book>(w: &benches::workload::Workload) -> String {
    let mut b = B::new(w);
    for (i, op) in w.ops.iter().enumerate() {
        b.apply(&B::convert(op, i as u64));
    }
    b.summary()
}

#[test]
fn mix_and_shape_follow_exchange_core() {
    let w = generate(&Params::exchange_core(200_000, 7));
    let s = &w.stats;
    let n = w.ops.len() as f64;
    for (count, pct) in [(s.gtc, 9.0), (s.ioc, 3.0), (s.cancel, 6.0), (s.moves, 82.0)] {
        let got = 100.0 * count as f64 / n;
        assert!((got - pct).abs() < 0.5, "mix {got:.2}% vs {pct}%: {s:?}");
    }
    assert!((900.0..1100.0).contains(&s.mean_orders), "{s:?}");
    assert!((650.0..850.0).contains(&s.mean_levels), "{s:?}");
    assert_eq!(s.stale_targets, 0);
    assert!(s.trades > 0);
}

#[test]
fn generation_is_deterministic() {
    let a = generate(&Params::exchange_core(OPS, 42));
    let b = generate(&Params::exchange_core(OPS, 42));
    assert_eq!(a.prefill, b.prefill);
    assert_eq!(a.ops, b.ops);
    let c = generate(&Params::exchange_core(OPS, 43));
    assert_ne!(a.ops, c.ops);
    assert!(a.ops.iter().any(|op| matches!(op, Op::Move { .. })));
}

#[test]
fn every_book_ends_where_the_model_does() {
    for drift in [false, true] {
        let w = generate(&Params {
            drift,
            ..Params::exchange_core(OPS, 9)
        });
        let s = &w.stats;
        let lots = format!(
            "bid_lots={} ask_lots={}",
            s.final_bid_lots, s.final_ask_lots
        );
        let trades = format!("trades={}", s.total_trades);
        let orders = format!("resting_orders={}", s.final_orders);
        let base = run::<Baseline>(&w);
        assert!(
            base.contains(&trades) && base.contains(&orders) && base.contains(&lots),
            "{base}"
        );
        for t in [run::<Tachyon<ByClOrdId>>(&w), run::<Tachyon<ByOrderId>>(&w)] {
            // The engine's sink is reset after the pre-fill, which trades nothing.
            assert!(t.contains(&format!("trades={} ", s.trades)), "{t} vs {s:?}");
            assert!(t.contains(&orders) && t.contains(&lots), "{t} vs {s:?}");
            assert!(t.contains("rejects=0 stp_cancels=0"), "{t}");
        }
        let l = run::<Lobster>(&w);
        assert!(l.contains(&trades) && l.contains(&lots), "{l} vs {s:?}");
        let o = run::<OrderbookRs>(&w);
        assert!(
            o.contains(&orders) && o.contains(&lots) && o.contains("errors=0"),
            "{o} vs {s:?}"
        );
    }
}
