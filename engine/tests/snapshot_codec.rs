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
    assert_eq!(kinds.len(), 14, "the stream must cover every command kind");
}

/// The operator commands' bytes are fixed (journals outlive binaries): kind tags 9–14.
#[test]
fn operator_commands_have_a_fixed_encoding() {
    let ts = 0x0102_0304_0506_0708u64;
    let cases = [
        (
            CommandKind::HaltSymbol {
                symbol: SymbolId(0x0a0b),
            },
            vec![9, 0x0b, 0x0a],
        ),
        (
            CommandKind::ResumeSymbol {
                symbol: SymbolId(0x0a0b),
            },
            vec![10, 0x0b, 0x0a],
        ),
        (
            CommandKind::SuspendAccount {
                account: AccountId(0x0a0b_0c0d),
            },
            vec![11, 0x0d, 0x0c, 0x0b, 0x0a],
        ),
        (
            CommandKind::ResumeAccount {
                account: AccountId(0x0a0b_0c0d),
            },
            vec![12, 0x0d, 0x0c, 0x0b, 0x0a],
        ),
        (
            CommandKind::CreateApiKey(ApiKey {
                key: ApiKeyId(0x0102_0304_0506_0708),
                account: AccountId(0x0a0b_0c0d),
                comp_id: CompId::new(b"MM1").unwrap(),
                nonce: [0xee; 16],
            }),
            [
                &[13, 8, 7, 6, 5, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a][..],
                b"MM1",
                &[0; COMP_ID_MAX_LEN - 3],
                &[0xee; 16],
            ]
            .concat(),
        ),
        (
            CommandKind::RevokeApiKey {
                key: ApiKeyId(0x0102_0304_0506_0708),
            },
            vec![14, 8, 7, 6, 5, 4, 3, 2, 1],
        ),
    ];
    let mut buf = [0u8; MAX_COMMAND_LEN];
    for (kind, fields) in cases {
        let cmd = Command { ts_ns: ts, kind };
        let n = encode_command(&cmd, &mut buf);
        let mut want = vec![fields[0]];
        want.extend_from_slice(&ts.to_le_bytes());
        want.extend_from_slice(&fields[1..]);
        assert_eq!(&buf[..n], &want[..], "{kind:?}");
        assert_eq!(decode_command(&want), Ok(cmd));
        assert!(
            decode_command(&want[..n - 1]).is_err(),
            "{kind:?} truncated"
        );
        assert!(
            decode_command(&[&want[..], &[0][..]].concat()).is_err(),
            "{kind:?} with a trailing byte"
        );
    }
    // Kinds beyond the last one (and 0) stay clean errors.
    for kind in [0u8, 15, 16, 200, 255] {
        let mut b = vec![kind];
        b.extend_from_slice(&ts.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        assert_eq!(
            decode_command(&b),
            Err(DecodeError("unknown command kind")),
            "kind {kind}"
        );
    }
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
    let (mut with_halt, mut with_suspension) = (0, 0);
    for round in 0..5 {
        for c in gen::stream(&mut rng, &mut ts, round * 40_000, 40_000) {
            live.apply(&c, &mut events);
            events.clear();
        }
        if round % 2 == 1 {
            // The stream halts symbols too, but rarely: make sure some snapshots hold one.
            let halt = CommandKind::HaltSymbol {
                symbol: SymbolId(round as u16 / 2 % 2),
            };
            live.apply(
                &Command {
                    ts_ns: ts,
                    kind: halt,
                },
                &mut events,
            );
            events.clear();
        }
        let mut bytes = Vec::new();
        live.snapshot(&mut bytes);
        let mut restored = Engine::restore(live.config().clone(), &bytes).expect("restore");
        assert_eq!(restored.state_hash(), live.state_hash());
        assert!(live.open_orders() > 50, "snapshot must hold orders");
        for s in 0..2 {
            let s = SymbolId(s);
            assert_eq!(restored.symbol_halted(s), live.symbol_halted(s));
            with_halt += live.symbol_halted(s) as u32;
        }
        for a in 0..=gen::ACCOUNTS {
            let a = AccountId(a);
            assert_eq!(restored.account_suspended(a), live.account_suspended(a));
            with_suspension += live.account_suspended(a) as u32;
        }
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
    assert!(
        with_halt > 0 && with_suspension > 0,
        "the snapshots must carry operator flags ({with_halt} halted, {with_suspension} suspended)"
    );
}

/// Byte offsets in a format-2 snapshot of `gen::config()` (2 instruments): the halted
/// flags follow the header (magic 8, version 4, fingerprint 8, now/ids 24); the first
/// account record (the fee account, 0) follows the account count.
const HALTED_FLAGS_AT: usize = 8 + 4 + 8 + 24;
const FEE_ACCOUNT_FLAG_AT: usize = HALTED_FLAGS_AT + 2 + 4 + 4;

#[test]
fn snapshot_carries_operator_flags_and_they_change_the_hash() {
    let (mut e, _) = gen::funded_engine();
    let plain = e.state_hash();
    let mut out = Vec::new();
    e.apply(
        &Command {
            ts_ns: 10,
            kind: CommandKind::HaltSymbol {
                symbol: SymbolId(1),
            },
        },
        &mut out,
    );
    let halted = e.state_hash();
    assert_ne!(halted, plain, "a halted symbol must change the state hash");
    e.apply(
        &Command {
            ts_ns: 11,
            kind: CommandKind::SuspendAccount {
                account: AccountId(3),
            },
        },
        &mut out,
    );
    assert_ne!(
        e.state_hash(),
        halted,
        "a suspension must change the state hash"
    );
    assert_eq!(
        out,
        vec![
            Event::SymbolStatus {
                symbol: SymbolId(1),
                halted: true
            },
            Event::AccountStatus {
                account: AccountId(3),
                suspended: true
            },
        ]
    );

    let mut bytes = Vec::new();
    e.snapshot(&mut bytes);
    assert_eq!(&bytes[8..12], &3u32.to_le_bytes(), "format version");
    assert_eq!(&bytes[HALTED_FLAGS_AT..HALTED_FLAGS_AT + 2], &[0, 1]);
    let mut r = Engine::restore(e.config().clone(), &bytes).expect("restore");
    assert_eq!(r.state_hash(), e.state_hash());
    assert!(!r.symbol_halted(SymbolId(0)) && r.symbol_halted(SymbolId(1)));
    assert!(r.account_suspended(AccountId(3)) && !r.account_suspended(AccountId(2)));
    // And the restored engine acts on them.
    let mut o = NewOrder {
        account: AccountId(2),
        session: SessionId(0),
        cl_ord_id: ClOrdId::EMPTY,
        symbol: SymbolId(1),
        side: Side::Buy,
        ord_type: OrdType::Limit,
        price: Price(5_000_000),
        qty: Qty(1),
        quote_budget: 0,
        tif: Tif::Gtc,
        expire_ns: 0,
        post_only: false,
        stp: StpMode::CancelNewest,
    };
    let mut got = Vec::new();
    r.apply(
        &Command {
            ts_ns: 12,
            kind: CommandKind::NewOrder(o),
        },
        &mut got,
    );
    assert_eq!(
        got,
        vec![Event::OrderRejected {
            order: o,
            reason: RejectReason::SymbolHalted
        }]
    );
    o.symbol = SymbolId(0);
    o.account = AccountId(3);
    got.clear();
    r.apply(
        &Command {
            ts_ns: 12,
            kind: CommandKind::NewOrder(o),
        },
        &mut got,
    );
    assert_eq!(
        got,
        vec![Event::OrderRejected {
            order: o,
            reason: RejectReason::AccountSuspended
        }]
    );

    // Flipping a flag byte: the recorded hash no longer matches.
    let mut bad = bytes.clone();
    bad[HALTED_FLAGS_AT] = 1;
    let err = Engine::restore(e.config().clone(), &bad)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("state hash mismatch"), "{err}");
    // A flag byte that is neither 0 nor 1.
    let mut bad = bytes.clone();
    bad[HALTED_FLAGS_AT + 1] = 2;
    let err = Engine::restore(e.config().clone(), &bad)
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("bad symbol halted flag 2"),
        "{err}"
    );
    // The fee account can never be suspended.
    let mut bad = bytes.clone();
    assert_eq!(bad[FEE_ACCOUNT_FLAG_AT - 4..FEE_ACCOUNT_FLAG_AT], [0; 4]);
    bad[FEE_ACCOUNT_FLAG_AT] = 1;
    let err = Engine::restore(e.config().clone(), &bad)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("fee account"), "{err}");
    // Unknown format versions are refused.
    for v in [0u32, 4, 99] {
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&v.to_le_bytes());
        let err = Engine::restore(e.config().clone(), &bad)
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("unsupported snapshot version"),
            "{v}: {err}"
        );
    }
}

/// A format-1 snapshot (written by the engine before operator flags existed, with the
/// commands that led to it) still restores: same state and hash as replaying those
/// commands today, nothing halted or suspended, and the same future. The fixtures were
/// made by `Engine::snapshot` at commit 5e6921c from `gen::funded_engine()` plus 600
/// `gen::stream` commands (seed 2024); the commands are journal-encoded, each prefixed by
/// its length (u8).
#[test]
fn format_1_snapshots_still_restore() {
    let snap = include_bytes!("fixtures/v1_snapshot.bin");
    let mut enc = &include_bytes!("fixtures/v1_commands.bin")[..];
    assert_eq!(&snap[8..12], &1u32.to_le_bytes(), "fixture is format 1");
    let mut replayed = Engine::new(gen::config()).unwrap();
    let mut sink = EventHasher::default();
    let mut last_ts = 0;
    while let Some((&n, rest)) = enc.split_first() {
        let c = decode_command(&rest[..n as usize]).expect("fixture command");
        replayed.apply(&c, &mut sink);
        last_ts = c.ts_ns;
        enc = &rest[n as usize..];
    }
    assert!(replayed.open_orders() > 50, "the fixture must hold orders");
    let mut restored = Engine::restore(gen::config(), snap).expect("format 1 restores");
    assert_eq!(restored.state_hash(), replayed.state_hash());
    for s in 0..2 {
        assert!(!restored.symbol_halted(SymbolId(s)));
        assert_eq!(
            restored.book_orders(SymbolId(s), Side::Buy),
            replayed.book_orders(SymbolId(s), Side::Buy)
        );
        assert_eq!(
            restored.book_orders(SymbolId(s), Side::Sell),
            replayed.book_orders(SymbolId(s), Side::Sell)
        );
    }
    for a in 0..=gen::ACCOUNTS {
        assert!(!restored.account_suspended(AccountId(a)));
    }
    // Same future, operator commands included.
    let mut rng = gen::Rng(77);
    let mut ts = last_ts;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for c in gen::stream(&mut rng, &mut ts, 10_000, 20_000) {
        restored.apply(&c, &mut a);
        replayed.apply(&c, &mut b);
        assert_eq!(a, b);
        a.clear();
        b.clear();
    }
    assert_eq!(restored.state_hash(), replayed.state_hash());
    // Written again, it is the current format (3) and restores.
    let mut bytes = Vec::new();
    restored.snapshot(&mut bytes);
    assert_eq!(&bytes[8..12], &3u32.to_le_bytes());
    let again = Engine::restore(gen::config(), &bytes).unwrap();
    assert_eq!(again.state_hash(), restored.state_hash());
}

#[test]
fn api_keys_are_kept_snapshotted_and_hashed_but_never_a_secret() {
    let (mut e, _) = gen::funded_engine();
    let plain = e.state_hash();
    let key = |id: u64, account: u32, comp: &[u8]| ApiKey {
        key: ApiKeyId(id),
        account: AccountId(account),
        comp_id: CompId::new(comp).unwrap(),
        nonce: [id as u8; 16],
    };
    let mut out = Vec::new();
    let mut ts = 10;
    let mut run = |e: &mut Engine, kind: CommandKind, out: &mut Vec<Event>| {
        ts += 1;
        e.apply(&Command { ts_ns: ts, kind }, out);
    };
    run(
        &mut e,
        CommandKind::CreateApiKey(key(7, 2, b"MM1")),
        &mut out,
    );
    run(
        &mut e,
        CommandKind::CreateApiKey(key(9, 3, b"MM2")),
        &mut out,
    );
    run(
        &mut e,
        CommandKind::CreateApiKey(key(7, 3, b"MM2")),
        &mut out,
    );
    run(
        &mut e,
        CommandKind::CreateApiKey(key(8, 0, b"FEES")),
        &mut out,
    );
    run(
        &mut e,
        CommandKind::CreateApiKey(key(8, 999, b"X")),
        &mut out,
    );
    run(
        &mut e,
        CommandKind::CreateApiKey(key(0, 2, b"MM1")),
        &mut out,
    );
    run(
        &mut e,
        CommandKind::RevokeApiKey { key: ApiKeyId(5) },
        &mut out,
    );
    let rejected = |id, reason| Event::AdminRejected {
        target: AdminTarget::ApiKey(ApiKeyId(id)),
        reason,
    };
    assert_eq!(
        out,
        vec![
            Event::ApiKeyCreated(key(7, 2, b"MM1")),
            Event::ApiKeyCreated(key(9, 3, b"MM2")),
            rejected(7, RejectReason::ApiKeyExists),
            rejected(8, RejectReason::InvalidAccount),
            rejected(8, RejectReason::UnknownAccount),
            rejected(0, RejectReason::InvalidApiKey),
            rejected(5, RejectReason::UnknownApiKey),
        ]
    );
    assert_eq!(e.api_keys(), &[key(7, 2, b"MM1"), key(9, 3, b"MM2")]);
    let with_keys = e.state_hash();
    assert_ne!(with_keys, plain, "API keys must change the state hash");

    let mut bytes = Vec::new();
    e.snapshot(&mut bytes);
    let r = Engine::restore(e.config().clone(), &bytes).expect("restore");
    assert_eq!(r.api_keys(), e.api_keys());
    assert_eq!(r.state_hash(), with_keys);

    out.clear();
    run(
        &mut e,
        CommandKind::RevokeApiKey { key: ApiKeyId(7) },
        &mut out,
    );
    assert_eq!(
        out,
        vec![Event::ApiKeyRevoked {
            key: ApiKeyId(7),
            account: AccountId(2)
        }]
    );
    assert_eq!(e.api_keys(), &[key(9, 3, b"MM2")]);
    // A revoked id may be registered again (a new nonce gives a new secret).
    out.clear();
    run(
        &mut e,
        CommandKind::CreateApiKey(key(7, 2, b"MM1")),
        &mut out,
    );
    assert_eq!(out, vec![Event::ApiKeyCreated(key(7, 2, b"MM1"))]);
    assert_eq!(e.api_keys(), &[key(9, 3, b"MM2"), key(7, 2, b"MM1")]);

    // A snapshot whose key names a missing account is refused, not half-restored.
    let mut bad = Vec::new();
    e.snapshot(&mut bad);
    let acct_at = bad.len() - 8 - (16 + COMP_ID_MAX_LEN + 4);
    bad[acct_at..acct_at + 4].copy_from_slice(&999u32.to_le_bytes());
    let msg = match Engine::restore(e.config().clone(), &bad) {
        Ok(_) => panic!("a key of a missing account restored"),
        Err(err) => err.0,
    };
    assert!(msg.contains("API key"), "{msg}");
}

#[test]
fn api_key_ids_have_one_text_form() {
    let id = ApiKeyId(0x00ab_cdef_0123_4567);
    assert_eq!(id.text(), "tk_00abcdef01234567");
    assert_eq!(ApiKeyId::parse(id.text().as_bytes()), Some(id));
    for bad in [
        &b"tk_00ABCDEF01234567"[..],
        b"tk_00abcdef0123456",
        b"tk_00abcdef012345678",
        b"xk_00abcdef01234567",
        b"tk_00abcdef0123456g",
        b"",
    ] {
        assert_eq!(
            ApiKeyId::parse(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(CompId::new(b"").is_none());
    assert!(CompId::new(b"A B").is_none());
    assert!(CompId::new(&[b'A'; COMP_ID_MAX_LEN + 1]).is_none());
    assert_eq!(CompId::new(b"MM1").unwrap().as_str(), "MM1");
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
    // A changed balance byte breaks invariants or the recorded hash (the fee account's
    // available balance: after its suspended flag).
    let mut bad = bytes.clone();
    bad[FEE_ACCOUNT_FLAG_AT + 1 + 3] ^= 0x40;
    assert!(Engine::restore(live.config().clone(), &bad).is_err());
}
