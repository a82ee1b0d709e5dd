//! inspect, prune, and snapshot files.

mod common;

use std::fs::{self, OpenOptions};

use common::*;
use tachyon_journal::{
    inspect, latest_snapshot, latest_snapshot_at_most, prune, prune_snapshots, write_snapshot,
    JournalError, JournalWriter,
};

#[test]
fn inspect_reports_segments_and_flags_bad_records_without_modifying_anything() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), opts(300), 1, 40, 2);
    let segs = segments(dir.path());

    let report = inspect(dir.path()).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.records(), 40);
    assert_eq!(report.segments.len(), segs.len());
    for (s, path) in report.segments.iter().zip(&segs) {
        let recs = parse_segment(path);
        assert_eq!(&s.file, path);
        assert_eq!(s.size_bytes, fs::metadata(path).unwrap().len());
        assert_eq!(s.records, recs.len() as u64);
        assert_eq!(
            (s.first_seq, s.last_seq),
            (Some(recs[0].seq), Some(recs.last().unwrap().seq))
        );
        assert_eq!((s.problems, &s.first_problem), (0, &None));
    }
    let table = report.to_string();
    assert!(table.contains("every record verifies"), "{table}");
    assert!(table.contains(&seg_name(1)), "{table}");

    // A bad CRC in the second segment's middle record, and a torn tail in the last one.
    let bad_recs = parse_segment(&segs[1]);
    let bad = bad_recs[bad_recs.len() / 2];
    flip_bit(&segs[1], bad.offset + 20, 2);
    let last = segs.last().unwrap();
    let last_len = fs::metadata(last).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(last_len - 3)
        .unwrap();
    let before = contents(dir.path());

    let report = inspect(dir.path()).unwrap();
    assert!(!report.is_clean());
    assert_eq!(contents(dir.path()), before, "inspect is read-only");
    let s = &report.segments[1];
    let p = s.first_problem.as_ref().unwrap();
    assert_eq!(p.offset, bad.offset);
    assert!(p.detail.contains("CRC mismatch"), "{}", p.detail);
    assert_eq!(
        s.records,
        bad_recs.len() as u64 - 1,
        "carries on past the bad record"
    );
    let t = report.segments.last().unwrap();
    let tail = *parse_segment_prefix(last).last().unwrap();
    let p = t.first_problem.as_ref().unwrap();
    assert_eq!(p.offset, tail);
    assert!(p.detail.contains("torn tail"), "{}", p.detail);
    assert_eq!(report.records(), 40 - 2);
    let table = report.to_string();
    assert!(
        table.contains(&format!("BAD at offset {}", bad.offset)),
        "{table}"
    );
    assert!(table.contains("2 segment(s) with problems"), "{table}");
    for s in &report.segments[2..report.segments.len() - 1] {
        assert_eq!(s.problems, 0);
    }
}

/// Offsets of the records of a segment whose last record may be torn.
fn parse_segment_prefix(path: &std::path::Path) -> Vec<u64> {
    let bytes = fs::read(path).unwrap();
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(at as u64);
        at += 16 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    out
}

#[test]
fn inspect_of_a_missing_directory_names_it() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let err = inspect(&missing).unwrap_err();
    assert!(
        err.to_string().contains(&*missing.to_string_lossy()),
        "{err}"
    );
}

#[test]
fn prune_deletes_only_fully_covered_segments_and_never_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_records(dir.path(), opts(300), 1, 60, 1);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);
    let ranges: Vec<(u64, u64)> = segs
        .iter()
        .map(|s| {
            let r = parse_segment(s);
            (r[0].seq, r.last().unwrap().seq)
        })
        .collect();

    // One short of covering segment 0: nothing goes.
    assert!(prune(dir.path(), ranges[0].1 - 1).unwrap().is_empty());
    // Exactly covering segment 0.
    assert_eq!(
        prune(dir.path(), ranges[0].1).unwrap(),
        vec![segs[0].clone()]
    );
    // Covering segment 1 and part of segment 2.
    assert_eq!(
        prune(dir.path(), ranges[2].0).unwrap(),
        vec![segs[1].clone()]
    );
    assert_eq!(segments(dir.path()), segs[2..].to_vec());
    // Everything covered: the last segment stays.
    prune(dir.path(), u64::MAX).unwrap();
    assert_eq!(segments(dir.path()), vec![segs.last().unwrap().clone()]);

    // The journal still opens and continues, and the kept records read back.
    let (mut w, report) = JournalWriter::open(dir.path(), opts(300)).unwrap();
    let last_first = ranges.last().unwrap().0;
    assert_eq!(
        (report.first_seq, report.last_seq),
        (Some(last_first), Some(60))
    );
    w.append(61, b"x").unwrap();
    w.commit().unwrap();
    let got = read_all(dir.path()).unwrap();
    assert_eq!(got[..got.len() - 1], written[last_first as usize - 1..]);
}

#[test]
fn snapshots_newest_valid_wins() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    assert!(
        latest_snapshot(&snaps).unwrap().snapshot.is_none(),
        "missing dir: none"
    );
    let p10 = write_snapshot(&snaps, 10, b"state at 10").unwrap();
    let p20 = write_snapshot(&snaps, 20, b"state at 20").unwrap();
    let p30 = write_snapshot(&snaps, 30, &vec![3u8; 100_000]).unwrap();
    assert_eq!(
        p10.file_name().unwrap(),
        "snapshot-00000000000000000010.snap"
    );
    let latest = latest_snapshot(&snaps).unwrap();
    let s = latest.snapshot.unwrap();
    assert_eq!((s.seq, s.payload.len(), &s.file), (30, 100_000, &p30));
    assert!(latest.skipped.is_empty());

    // A leftover temp file (crash mid-write) is ignored.
    fs::write(
        snaps.join("snapshot-00000000000000000040.snap.tmp"),
        b"half",
    )
    .unwrap();
    assert_eq!(latest_snapshot(&snaps).unwrap().snapshot.unwrap().seq, 30);

    // Each kind of damage to the newest makes the previous one win, with a warning
    // naming the file.
    let pristine = fs::read(&p30).unwrap();
    type Damage = fn(&mut Vec<u8>);
    let damage: &[(&str, Damage)] = &[
        ("payload bit", |b| b[1000] ^= 4),
        ("magic", |b| b[0] ^= 1),
        ("version", |b| b[8] = 2),
        ("payload crc field", |b| b[12] ^= 1),
        ("seq field", |b| b[16] ^= 1),
        ("length field", |b| b[24] ^= 1),
        ("header crc field", |b| b[33] ^= 1),
        ("partial write", |b| b.truncate(50_000)),
        ("shorter than the header", |b| b.truncate(20)),
        ("empty", |b| b.clear()),
    ];
    for (case, f) in damage {
        let mut bytes = pristine.clone();
        f(&mut bytes);
        fs::write(&p30, &bytes).unwrap();
        let latest = latest_snapshot(&snaps).unwrap();
        let s = latest.snapshot.unwrap();
        assert_eq!(
            (s.seq, s.payload.as_slice()),
            (20, &b"state at 20"[..]),
            "{case}"
        );
        assert_eq!(latest.skipped.len(), 1, "{case}");
        assert!(
            matches!(&latest.skipped[0], JournalError::Corrupt { file, .. } if file == &p30),
            "{case}"
        );
    }
    // The file name must match the header.
    fs::write(&p30, &pristine).unwrap();
    fs::rename(&p30, snaps.join("snapshot-00000000000000000031.snap")).unwrap();
    let latest = latest_snapshot(&snaps).unwrap();
    assert_eq!(
        (latest.snapshot.unwrap().seq, latest.skipped.len()),
        (20, 1)
    );
    fs::remove_file(snaps.join("snapshot-00000000000000000031.snap")).unwrap();

    // All corrupt: none, with every one listed.
    for p in [&p10, &p20] {
        flip_bit(p, 40, 0);
    }
    let latest = latest_snapshot(&snaps).unwrap();
    assert!(latest.snapshot.is_none());
    assert_eq!(latest.skipped.len(), 2);

    // Rewriting at the same sequence replaces atomically; an empty payload is fine.
    write_snapshot(&snaps, 20, b"").unwrap();
    let s = latest_snapshot(&snaps).unwrap().snapshot.unwrap();
    assert_eq!((s.seq, s.payload.len()), (20, 0));
}

#[test]
fn snapshot_at_most_a_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    assert!(latest_snapshot_at_most(&snaps, 100)
        .unwrap()
        .snapshot
        .is_none());
    for seq in [10, 20, 30] {
        write_snapshot(&snaps, seq, format!("state at {seq}").as_bytes()).unwrap();
    }
    let at = |max: u64| {
        let l = latest_snapshot_at_most(&snaps, max).unwrap();
        (l.snapshot.map(|s| (s.seq, s.payload)), l.skipped.len())
    };
    assert_eq!(at(9), (None, 0));
    assert_eq!(at(10), (Some((10, b"state at 10".to_vec())), 0));
    assert_eq!(at(29), (Some((20, b"state at 20".to_vec())), 0));
    assert_eq!(at(u64::MAX), (Some((30, b"state at 30".to_vec())), 0));
    // A corrupt one at or below the bound is passed over and reported; above it, not read.
    let p20 = snaps.join("snapshot-00000000000000000020.snap");
    flip_bit(&p20, 40, 0);
    assert_eq!(at(25), (Some((10, b"state at 10".to_vec())), 1));
    assert_eq!(at(30).0.unwrap().0, 30);
    assert_eq!(at(30).1, 0);
}

#[test]
fn prune_snapshots_keeps_the_newest_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=5u64)
        .map(|i| write_snapshot(dir.path(), i * 10, &[i as u8; 64]).unwrap())
        .collect();
    let tmp = dir.path().join("snapshot-00000000000000000060.snap.tmp");
    fs::write(&tmp, b"leftover").unwrap();
    flip_bit(&paths[4], 40, 0); // newest (50) is corrupt

    assert!(matches!(
        prune_snapshots(dir.path(), 0),
        Err(JournalError::InvalidArgument { .. })
    ));
    let mut deleted = prune_snapshots(dir.path(), 2).unwrap();
    deleted.sort();
    // Keeps 40 and 30 (the two newest valid) and the corrupt 50; deletes 10, 20 and the tmp.
    assert_eq!(
        deleted,
        vec![paths[0].clone(), paths[1].clone(), tmp.clone()]
    );
    for p in &paths[2..] {
        assert!(p.exists());
    }
    assert_eq!(
        latest_snapshot(dir.path()).unwrap().snapshot.unwrap().seq,
        40
    );
    // Fewer valid snapshots than asked to keep: nothing is deleted.
    assert!(prune_snapshots(dir.path(), 3).unwrap().is_empty());
}
