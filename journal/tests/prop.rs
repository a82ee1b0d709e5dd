//! Property: whatever the payloads, batches, segment size and reopen points, every
//! committed record reads back in order and the files follow the documented layout.

mod common;

use common::*;
use proptest::prelude::*;
use tachyon_journal::{inspect, FsyncPolicy, JournalOptions, JournalWriter, RECORD_HEADER_BYTES};

#[derive(Debug, Clone)]
struct Batch {
    payloads: Vec<Vec<u8>>,
    reopen_after: bool,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        prop::collection::vec(
            prop_oneof![
                8 => prop::collection::vec(any::<u8>(), 0..120),
                1 => prop::collection::vec(any::<u8>(), 0..3000),
            ],
            1..25,
        ),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(payloads, reopen_after)| Batch {
            payloads,
            reopen_after,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(
        first_seq in 1u64..1_000_000,
        segment_size_bytes in 1u64..4000,
        batches in prop::collection::vec(batch(), 1..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let o = JournalOptions {
            segment_size_bytes,
            write_buffer_bytes: RECORD_HEADER_BYTES + tachyon_journal::MAX_PAYLOAD_BYTES,
            fsync: FsyncPolicy::Os,
        };
        let (mut w, _) = JournalWriter::open(dir.path(), o).unwrap();
        let mut expected: Records = Vec::new();
        let mut seq = first_seq;
        for b in &batches {
            for p in &b.payloads {
                w.append(seq, p).unwrap();
                expected.push((seq, p.clone()));
                seq += 1;
            }
            w.commit().unwrap();
            if b.reopen_after {
                drop(w);
                let (w2, report) = JournalWriter::open(dir.path(), o).unwrap();
                prop_assert!(report.truncated.is_none());
                prop_assert_eq!(report.records, expected.len() as u64);
                prop_assert_eq!(w2.next_seq(), Some(seq));
                w = w2;
            }
        }
        drop(w);
        prop_assert_eq!(read_all(dir.path()).unwrap(), expected.clone());
        let mut next = first_seq;
        for seg in segments(dir.path()) {
            prop_assert_eq!(seg.file_name().unwrap().to_string_lossy(), seg_name(next));
            let recs = parse_segment(&seg);
            prop_assert!(!recs.is_empty());
            next = recs.last().unwrap().seq + 1;
        }
        prop_assert_eq!(next, seq);
        let report = inspect(dir.path()).unwrap();
        prop_assert!(report.is_clean());
        prop_assert_eq!(report.records(), expected.len() as u64);
    }
}
