//! Journal payload codec and engine snapshots: exact round trips over realistic streams.

use tachyon_engine::*;

mod gen;

#[test]
fn every_command_round_trips_through_the_codec() {
    let mut rng = gen::Rng(7);
    let mut ts = 1;
    let (_, genesis) = gen::funded_engine();
    let mut cmds = genesis;
    cmds.extend(gen::stream(&mut rng, &mut ts, 1, 50_000));
    cmds.push(Command {
        ts_ns: 5,
        kind: CommandKind::TimeTick,
    });
    let mut buf = [0u8; MAX_COMMAND_LEN];
    let mut kinds = std::collections::BTreeSet::new();
    for c in &cmds {
        let n = encode_command(c, &mut buf);
        assert!(n <= MAX_COMMAND_LEN);
        assert_eq!(decode_command(&buf[..n]).as_ref(), Ok(c));
        // Every strict prefix is refused, never misread.
        for cut in [0, 1, n / 2, n - 1] {
            assert!(
                decode_command(&buf[..cut]).is_err(),
                "prefix {cut} of {c:?} decoded"
            );
        }
        kinds.insert(buf[0]);
    }
    assert_eq!(kinds.len(), 8, "the stream must cover every command kind");
}

#[test]
fn corrupted_enum_bytes_are_refused() {
    let cmd = Command {
        ts_ns: 9,
        kind: CommandKind::NewOrder(NewOrder {
            account: AccountId(1),
            session: SessionId(2),
            cl_ord_id: ClOrdId::new(b"abc-1").unwrap(),
            symbol: SymbolId(0),
            side: Side::Sell,
            ord_type: OrdType::Limit,
            price: Price(100),
            qty: Qty(3),
            quote_budget: 0,
            tif: Tif::Gtc,
            expire_ns: 0,
            post_only: false,
            stp: StpMode::CancelOldest,
        }),
    };
    let mut buf = [0u8; MAX_COMMAND_LEN];
    let n = encode_command(&cmd, &mut buf);
    // (offset, bad value, what): kind, side, order type, tif, post-only, stp, client id.
    let side_at = 1 + 8 + 4 + 2 + 36 + 2;
    let cases: &[(usize, u8, &str)] = &[
        (0, 99, "kind"),
        (side_at, 2, "side"),
        (side_at + 1, 7, "order type"),
        (side_at + 2 + 24, 4, "tif"),
        (side_at + 2 + 24 + 1 + 8, 2, "post-only"),
        (side_at + 2 + 24 + 1 + 8 + 1, 4, "stp"),
        (1 + 8 + 4 + 2 + 1, 0x01, "control byte in client id"),
        (
            1 + 8 + 4 + 2 + 10,
            b'x',
            "bytes after the client id's padding",
        ),
    ];
    for &(at, v, what) in cases {
        let mut b = buf;
        b[at] = v;
        assert!(
            decode_command(&b[..n]).is_err(),
            "{what} corruption decoded"
        );
    }
    assert!(
        decode_command(&[&buf[..n], &[0u8][..]].concat()).is_err(),
        "trailing byte accepted"
    );
}

#[test]
fn snapshot_restores_the_exact_state_and_behaviour() {
    let (mut live, _) = gen::funded_engine();
    let mut rng = gen::Rng(99);
    let mut ts = 1_000;
    let mut events = Vec::new();
    for round in 0..5 {
        for c in gen::stream(&mut rng, &mut ts, round * 40_000, 40_000) {
            live.apply(&c, &mut events);
            events.clear();
        }
        let mut bytes = Vec::new();
        live.snapshot(&mut bytes);
        let mut restored = Engine::restore(live.config().clone(), &bytes).expect("restore");
        assert_eq!(restored.state_hash(), live.state_hash());
        assert!(live.open_orders() > 50, "snapshot must hold orders");
        // Same future: identical events and hashes for the next commands.
        let mut probe = gen::Rng(round + 1000);
        let mut probe_ts = ts;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut fork = Engine::restore(live.config().clone(), &bytes).unwrap();
        for c in gen::stream(&mut probe, &mut probe_ts, round * 40_000 + 40_000, 5_000) {
            fork.apply(&c, &mut a);
            restored.apply(&c, &mut b);
            assert_eq!(a, b);
            a.clear();
            b.clear();
        }
        assert_eq!(fork.state_hash(), restored.state_hash());
    }
}

#[test]
fn snapshot_refuses_corruption_and_other_configs() {
    let (mut live, _) = gen::funded_engine();
    let mut rng = gen::Rng(5);
    let mut ts = 1_000;
    let mut sink = EventHasher::default();
    for c in gen::stream(&mut rng, &mut ts, 0, 20_000) {
        live.apply(&c, &mut sink);
    }
    let mut bytes = Vec::new();
    live.snapshot(&mut bytes);
    let mut other = live.config().clone();
    other.instruments[0].taker_fee_bps += 1;
    let e = Engine::restore(other, &bytes)
        .err()
        .expect("config change must be refused");
    assert!(
        e.to_string().contains("different engine configuration"),
        "{e}"
    );
    assert!(Engine::restore(live.config().clone(), &bytes[..bytes.len() - 1]).is_err());
    // A changed balance byte breaks invariants or the recorded hash.
    let mut bad = bytes.clone();
    bad[8 + 4 + 8 + 24 + 4 + 4 + 3] ^= 0x40;
    assert!(Engine::restore(live.config().clone(), &bad).is_err());
}
