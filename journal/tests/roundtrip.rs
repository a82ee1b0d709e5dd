//! Writing, reopening and reading back; the writer's contract.

mod common;

use std::fs;

use common::*;
use tachyon_journal::{
    for_each_record, FsyncPolicy, JournalError, JournalOptions, JournalWriter, MAX_PAYLOAD_BYTES,
    RECORD_HEADER_BYTES,
};

#[test]
fn round_trip_across_rotations_and_reopen_continues() {
    let dir = tempfile::tempdir().unwrap();
    let segment_size_bytes = 256;
    // Batches of 1..=5 records, so segments overshoot the size by at most one batch.
    let (mut w, report) = JournalWriter::open(dir.path(), opts(segment_size_bytes)).unwrap();
    assert_eq!(
        (report.records, report.last_seq, report.truncated.clone()),
        (0, None, None)
    );
    assert_eq!(w.next_seq(), None);
    let mut expected = Vec::new();
    let mut seq = 1;
    let mut max_batch_bytes = 0;
    for batch in 0..120u64 {
        let mut batch_bytes = 0;
        for _ in 0..1 + batch % 5 {
            let p = payload(seq);
            batch_bytes += (RECORD_HEADER_BYTES + p.len()) as u64;
            w.append(seq, &p).unwrap();
            assert_eq!(w.last_seq(), Some(seq));
            expected.push((seq, p));
            seq += 1;
        }
        max_batch_bytes = max_batch_bytes.max(batch_bytes);
        w.commit().unwrap();
        assert_eq!(w.last_durable_seq(), Some(seq - 1));
    }
    drop(w);

    let segs = segments(dir.path());
    assert!(segs.len() > 5, "{} segments", segs.len());
    let mut next_first = 1;
    for (i, seg) in segs.iter().enumerate() {
        let recs = parse_segment(seg); // also checks the documented byte layout
        assert_eq!(
            seg.file_name().unwrap().to_string_lossy(),
            seg_name(next_first)
        );
        assert_eq!(recs[0].seq, next_first);
        let size = fs::metadata(seg).unwrap().len();
        if i + 1 < segs.len() {
            assert!(size >= segment_size_bytes && size < segment_size_bytes + max_batch_bytes);
        }
        next_first = recs.last().unwrap().seq + 1;
    }

    let (mut w, report) = JournalWriter::open(dir.path(), opts(segment_size_bytes)).unwrap();
    assert_eq!(report.records, seq - 1);
    assert_eq!(
        (report.first_seq, report.last_seq),
        (Some(1), Some(seq - 1))
    );
    assert_eq!(report.segments, segs.len());
    assert!(report.truncated.is_none());
    assert_eq!(read_all(dir.path()).unwrap(), expected);
    assert_eq!(w.next_seq(), Some(seq));
    assert_eq!(w.last_durable_seq(), Some(seq - 1));
    for _ in 0..50 {
        let p = payload(seq);
        w.append(seq, &p).unwrap();
        expected.push((seq, p));
        seq += 1;
    }
    w.commit().unwrap();
    drop(w);
    assert_eq!(read_all(dir.path()).unwrap(), expected);
    let (w, _) = JournalWriter::open(dir.path(), opts(segment_size_bytes)).unwrap();
    assert_eq!(w.next_seq(), Some(seq));
}

#[test]
fn first_append_defines_the_first_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_records(dir.path(), opts(1 << 20), 1000, 3, 3);
    assert_eq!(segments(dir.path()), vec![dir.path().join(seg_name(1000))]);
    let (w, report) = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(
        (report.first_seq, report.last_seq),
        (Some(1000), Some(1002))
    );
    assert_eq!(w.next_seq(), Some(1003));
    assert_eq!(read_all(dir.path()).unwrap(), written);
}

#[test]
fn os_policy_round_trips_too() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_records(dir.path(), opts_os(300), 1, 200, 7);
    assert_eq!(read_all(dir.path()).unwrap(), written);
    assert!(segments(dir.path()).len() > 3);
}

#[test]
fn a_batch_larger_than_the_buffer_is_written_early_and_committed_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = JournalOptions {
        write_buffer_bytes: RECORD_HEADER_BYTES + MAX_PAYLOAD_BYTES,
        ..opts(u64::MAX)
    };
    let (mut w, _) = JournalWriter::open(dir.path(), o).unwrap();
    let mut expected = Vec::new();
    for seq in 1..=3000u64 {
        let p = vec![seq as u8; 100];
        w.append(seq, &p).unwrap();
        expected.push((seq, p));
    }
    let seg = dir.path().join(seg_name(1));
    assert!(
        fs::metadata(&seg).unwrap().len() > 0,
        "full buffer was written before commit"
    );
    assert_eq!(w.last_durable_seq(), None, "not durable before commit");
    w.commit().unwrap();
    assert_eq!(w.last_durable_seq(), Some(3000));
    assert_eq!(fs::metadata(&seg).unwrap().len(), 3000 * 116);
    drop(w);
    assert_eq!(read_all(dir.path()).unwrap(), expected);
}

#[test]
fn payload_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
    let max = vec![7u8; MAX_PAYLOAD_BYTES];
    w.append(1, &max).unwrap();
    w.append(2, &[]).unwrap();
    let err = w.append(3, &vec![0u8; MAX_PAYLOAD_BYTES + 1]).unwrap_err();
    assert!(
        matches!(err, JournalError::PayloadTooLarge { len_bytes } if len_bytes == MAX_PAYLOAD_BYTES + 1)
    );
    w.append(3, b"still usable").unwrap();
    w.commit().unwrap();
    drop(w);
    let got = read_all(dir.path()).unwrap();
    assert_eq!(
        got,
        vec![(1, max), (2, vec![]), (3, b"still usable".to_vec())]
    );
}

#[test]
fn uncommitted_records_are_lost_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
    w.append(1, b"a").unwrap();
    w.commit().unwrap();
    w.append(2, b"b").unwrap();
    drop(w);
    assert_eq!(read_all(dir.path()).unwrap(), vec![(1, b"a".to_vec())]);
    let (w, _) = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(w.next_seq(), Some(2));
}

#[test]
#[should_panic(expected = "journal append out of sequence")]
fn append_out_of_sequence_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
    w.append(5, b"a").unwrap();
    w.append(7, b"b").unwrap();
}

#[test]
fn a_second_writer_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
    let err = JournalWriter::open(dir.path(), opts(1 << 20)).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("journal.lock"), "{err}");
    drop(w);
    JournalWriter::open(dir.path(), opts(1 << 20)).unwrap();
}

#[test]
fn open_creates_the_directory_or_names_it() {
    let root = tempfile::tempdir().unwrap();
    let nested = root.path().join("a/b/journal");
    JournalWriter::open(&nested, opts(1 << 20)).unwrap();
    assert!(nested.is_dir());

    let file = root.path().join("plain-file");
    fs::write(&file, b"x").unwrap();
    let bad = file.join("journal");
    let err = JournalWriter::open(&bad, opts(1 << 20)).unwrap_err();
    assert!(matches!(err, JournalError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&*bad.to_string_lossy()), "{err}");
}

#[test]
fn invalid_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for o in [
        JournalOptions {
            segment_size_bytes: 0,
            ..JournalOptions::default()
        },
        JournalOptions {
            write_buffer_bytes: 1000,
            ..JournalOptions::default()
        },
        JournalOptions {
            write_buffer_bytes: 2 << 30,
            ..JournalOptions::default()
        },
    ] {
        let err = JournalWriter::open(dir.path(), o).unwrap_err();
        assert!(matches!(err, JournalError::InvalidArgument { .. }), "{err}");
    }
    assert_eq!(JournalOptions::default().fsync, FsyncPolicy::Always);
}

#[test]
fn read_ranges_and_missing_records() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_records(dir.path(), opts(200), 1, 100, 3);
    let collect = |range: std::ops::RangeInclusive<u64>| {
        let mut seqs = Vec::new();
        let n = for_each_record::<JournalError, _>(dir.path(), range, |seq, p| {
            assert_eq!(p, payload(seq));
            seqs.push(seq);
            Ok(())
        })
        .unwrap();
        assert_eq!(n as usize, seqs.len());
        seqs
    };
    assert_eq!(collect(10..=20), (10..=20).collect::<Vec<_>>());
    assert_eq!(collect(100..=200), vec![100]);
    assert_eq!(collect(101..=200), Vec::<u64>::new());
    let mut from_57 = Vec::new();
    for_each_record::<JournalError, _>(dir.path(), 57.., |seq, _| {
        from_57.push(seq);
        Ok(())
    })
    .unwrap();
    assert_eq!(from_57, (57..=100).collect::<Vec<_>>());

    // The callback's own error stops the replay and comes back as is.
    #[derive(Debug)]
    enum AppError {
        Stop(u64),
        #[allow(dead_code)] // only Debug-printed
        Journal(JournalError),
    }
    impl From<JournalError> for AppError {
        fn from(e: JournalError) -> Self {
            AppError::Journal(e)
        }
    }
    let mut seen = 0;
    let r = for_each_record::<AppError, _>(dir.path(), .., |seq, _| {
        seen += 1;
        if seq == 3 {
            return Err(AppError::Stop(seq));
        }
        Ok(())
    });
    assert!(matches!(r, Err(AppError::Stop(3))));
    assert_eq!(seen, 3);

    // After pruning, asking for what is gone is an error, not a silent skip.
    let deleted = tachyon_journal::prune(dir.path(), 50).unwrap();
    assert!(!deleted.is_empty());
    let first = segments(dir.path())[0].clone();
    let first_seq = parse_segment(&first)[0].seq;
    assert!(first_seq > 1 && first_seq <= 51);
    let err = for_each_record::<JournalError, _>(dir.path(), 1.., |_, _| Ok(())).unwrap_err();
    assert!(
        matches!(err, JournalError::MissingRecords { from_seq: 1, first_seq: f, .. } if f == first_seq),
        "{err}"
    );
    assert_eq!(
        read_all(dir.path()).unwrap(),
        written[first_seq as usize - 1..].to_vec()
    );
}
