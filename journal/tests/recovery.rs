//! Recovery: torn tails are truncated and reported; corruption anywhere else is a hard
//! error naming the file and offset, and changes nothing.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use tachyon_journal::{JournalError, JournalWriter};

const RECORDS: u64 = 20;

/// A clean journal of `RECORDS` records, one commit per record, one record per segment:
/// the last segment holds only the last record.
fn template_single() -> (tempfile::TempDir, Records) {
    let dir = tempfile::tempdir().unwrap();
    let written = write_records(dir.path(), opts(1), 1, RECORDS, 1);
    (dir, written)
}

/// A clean journal of `RECORDS` records, one commit per record, several records per
/// segment, and at least five in the last one.
fn template_multi() -> (tempfile::TempDir, Records) {
    let dir = tempfile::tempdir().unwrap();
    let mut written = write_records(dir.path(), opts(300), 1, RECORDS - 5, 1);
    written.extend(write_records(dir.path(), opts(1 << 20), RECORDS - 4, 5, 1));
    (dir, written)
}

fn templates() -> [(&'static str, (tempfile::TempDir, Records)); 2] {
    [
        ("one record per segment", template_single()),
        ("several per segment", template_multi()),
    ]
}

fn last_segment(dir: &Path) -> PathBuf {
    segments(dir).pop().unwrap()
}

/// Opens a journal whose last record `r` was damaged and checks it was cut off exactly,
/// that everything before it survives, and that appending resumes at its sequence.
fn assert_torn_tail_recovered(
    dir: &Path,
    written: &Records,
    r: Rec,
    dropped_bytes: u64,
    case: &str,
) {
    let seg = last_segment(dir);
    let before = &written[..written.len() - 1];
    assert_eq!(
        read_all(dir).unwrap(),
        before,
        "{case}: replay stops quietly at a torn tail"
    );
    let (mut w, report) =
        JournalWriter::open(dir, opts(300)).unwrap_or_else(|e| panic!("{case}: {e}"));
    let t = report
        .truncated
        .clone()
        .unwrap_or_else(|| panic!("{case}: nothing truncated"));
    assert_eq!(t.file, seg, "{case}");
    assert_eq!(t.offset, r.offset, "{case}");
    assert_eq!(t.dropped_bytes, dropped_bytes, "{case}");
    assert_eq!(t.file_removed, r.offset == 0, "{case}");
    assert!(
        report.to_string().contains(&*seg.to_string_lossy()),
        "{case}: {report}"
    );
    assert_eq!(report.last_seq, Some(r.seq - 1), "{case}");
    assert_eq!(w.next_seq(), Some(r.seq), "{case}");

    assert_eq!(read_all(dir).unwrap(), before, "{case}");
    w.append(r.seq, b"replacement").unwrap();
    w.commit().unwrap();
    drop(w);
    let mut after = before.to_vec();
    after.push((r.seq, b"replacement".to_vec()));
    assert_eq!(read_all(dir).unwrap(), after, "{case}");
    let (_, report) = JournalWriter::open(dir, opts(300)).unwrap();
    assert!(report.truncated.is_none(), "{case}: second open is clean");
}

/// Opens a damaged journal and checks it fails with `Corrupt` at `file`/`offset` and that
/// no file changed.
fn assert_corrupt_at(dir: &Path, file: &Path, offset: u64, detail_has: &str, case: &str) {
    let before = contents(dir);
    let err = JournalWriter::open(dir, opts(300)).map(|_| ()).unwrap_err();
    match &err {
        JournalError::Corrupt {
            file: f,
            offset: o,
            detail,
        } => {
            assert_eq!((f.as_path(), *o), (file, offset), "{case}: {err}");
            assert!(detail.contains(detail_has), "{case}: {err}");
        }
        other => panic!("{case}: expected Corrupt, got {other}"),
    }
    match read_all(dir) {
        Err(JournalError::Corrupt {
            file: f, offset: o, ..
        }) => {
            assert_eq!((f.as_path(), o), (file, offset), "{case}: replay")
        }
        other => panic!("{case}: replay should fail with Corrupt, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&*file.to_string_lossy()) && msg.contains(&format!("offset {offset}")),
        "{msg}"
    );
    let mut after = contents(dir);
    after.remove("journal.lock");
    let mut before = before;
    before.remove("journal.lock");
    assert_eq!(
        before, after,
        "{case}: a failed open must not modify anything"
    );
}

#[test]
fn truncation_at_every_byte_inside_the_last_record_is_a_torn_tail() {
    for (scenario, (tpl, written)) in templates() {
        let r = *parse_segment(&last_segment(tpl.path())).last().unwrap();
        for cut in r.offset + 1..r.offset + r.total_len {
            let d = copy_journal(tpl.path());
            let seg = last_segment(d.path());
            OpenOptions::new()
                .write(true)
                .open(&seg)
                .unwrap()
                .set_len(cut)
                .unwrap();
            let case = format!("{scenario}, cut at {cut}");
            assert_torn_tail_recovered(d.path(), &written, r, cut - r.offset, &case);
        }
    }
}

#[test]
fn every_bit_flip_inside_the_last_record_is_a_torn_tail() {
    for (scenario, (tpl, written)) in templates() {
        let r = *parse_segment(&last_segment(tpl.path())).last().unwrap();
        for byte in r.offset..r.offset + r.total_len {
            for bit in 0..8 {
                let d = copy_journal(tpl.path());
                flip_bit(&last_segment(d.path()), byte, bit);
                let case = format!("{scenario}, byte {byte} bit {bit}");
                assert_torn_tail_recovered(d.path(), &written, r, r.total_len, &case);
            }
        }
    }
}

#[test]
fn zero_filled_and_garbage_tails_are_truncated() {
    let (tpl, written) = template_multi();
    let seg_len = fs::metadata(last_segment(tpl.path())).unwrap().len();
    let r = *parse_segment(&last_segment(tpl.path())).last().unwrap();
    let garbage: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // Binary data full of small integers: many offsets look like a short record with a
    // huge sequence; the search must stay cheap and find nothing.
    let small_ints: Vec<u8> = (0..65_536u32)
        .flat_map(|i| (i % 300).to_le_bytes())
        .collect();
    for (case, tail) in [
        ("4 KiB of zeros", vec![0u8; 4096]),
        ("1000 garbage bytes", garbage),
        ("256 KiB of small integers", small_ints),
    ] {
        let d = copy_journal(tpl.path());
        let seg = last_segment(d.path());
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        let (w, report) = JournalWriter::open(d.path(), opts(300)).unwrap();
        let t = report.truncated.unwrap();
        assert_eq!(
            (t.file, t.offset, t.dropped_bytes),
            (seg.clone(), seg_len, tail.len() as u64),
            "{case}"
        );
        assert_eq!(fs::metadata(&seg).unwrap().len(), seg_len, "{case}");
        assert_eq!(read_all(d.path()).unwrap(), written, "{case}");
        assert_eq!(w.next_seq(), Some(RECORDS + 1), "{case}");
    }
    // A half-written last record followed by zeros (what a crash can leave behind).
    let d = copy_journal(tpl.path());
    let seg = last_segment(d.path());
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(r.offset + 10)
        .unwrap();
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&[0; 4096])
        .unwrap();
    assert_torn_tail_recovered(d.path(), &written, r, 10 + 4096, "torn record then zeros");
}

#[test]
fn an_empty_last_segment_is_removed() {
    let (tpl, written) = template_multi();
    let d = copy_journal(tpl.path());
    let empty = d.path().join(seg_name(RECORDS + 1));
    fs::write(&empty, b"").unwrap();
    let (mut w, report) = JournalWriter::open(d.path(), opts(300)).unwrap();
    assert!(report.truncated.is_none());
    assert!(!empty.exists());
    assert_eq!(w.next_seq(), Some(RECORDS + 1));
    w.append(RECORDS + 1, b"x").unwrap();
    w.commit().unwrap();
    assert!(empty.exists(), "recreated by the append");
    assert_eq!(read_all(d.path()).unwrap().len(), written.len() + 1);
}

#[test]
fn every_bit_flip_in_an_earlier_record_of_the_last_segment_is_corruption() {
    let (tpl, _) = template_multi();
    let recs = parse_segment(&last_segment(tpl.path()));
    assert!(recs.len() >= 3, "the last segment holds several records");
    for r in &recs[..recs.len() - 1] {
        for byte in r.offset..r.offset + r.total_len {
            for bit in 0..8 {
                let d = copy_journal(tpl.path());
                let seg = last_segment(d.path());
                flip_bit(&seg, byte, bit);
                let case = format!("record seq {} byte {byte} bit {bit}", r.seq);
                assert_corrupt_at(d.path(), &seg, r.offset, "not a torn tail", &case);
            }
        }
    }
}

#[test]
fn corruption_before_the_tail_by_field() {
    let (tpl, _) = template_multi();
    let recs = parse_segment(&last_segment(tpl.path()));
    let r = recs[1]; // valid records before and after it
                     // (case, byte offset within the record, bit, expected words in the detail)
    let cases: &[(&str, u64, u8, &str)] = &[
        ("len, low bit: shorter record", 0, 0, "CRC mismatch"),
        (
            "len, bit 15: record runs past the end of the file",
            1,
            7,
            "incomplete record",
        ),
        ("len, bit 20: over the maximum", 2, 4, "exceeds the maximum"),
        ("crc", 5, 3, "CRC mismatch"),
        ("seq, low bit", 8, 0, "CRC mismatch"),
        ("seq, high bit", 15, 7, "CRC mismatch"),
        ("payload, first byte", 16, 0, "CRC mismatch"),
        ("payload, last byte", r.total_len - 1, 7, "CRC mismatch"),
    ];
    for &(case, at, bit, detail) in cases {
        let d = copy_journal(tpl.path());
        let seg = last_segment(d.path());
        flip_bit(&seg, r.offset + at, bit);
        assert_corrupt_at(d.path(), &seg, r.offset, detail, case);
    }
}

#[test]
fn a_bad_record_in_a_segment_that_is_not_the_last_is_corruption() {
    for (scenario, (tpl, _)) in templates() {
        let first = segments(tpl.path())[0].clone();
        let recs = parse_segment(&first);
        let r = *recs.last().unwrap(); // no valid record after it in its own segment
        for (at, bit) in [
            (0, 0),
            (2, 4),
            (5, 3),
            (8, 0),
            (16, 1),
            (r.total_len - 1, 7),
        ] {
            let d = copy_journal(tpl.path());
            let seg = d.path().join(first.file_name().unwrap());
            flip_bit(&seg, r.offset + at, bit);
            let case = format!("{scenario}, byte {at} bit {bit}");
            assert_corrupt_at(d.path(), &seg, r.offset, "not the last", &case);
        }
        // Torn or zero-padded, but not last: still corruption.
        let d = copy_journal(tpl.path());
        let seg = d.path().join(first.file_name().unwrap());
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(r.offset + 5)
            .unwrap();
        assert_corrupt_at(
            d.path(),
            &seg,
            r.offset,
            "incomplete",
            "truncated non-last segment",
        );
        let d = copy_journal(tpl.path());
        let seg = d.path().join(first.file_name().unwrap());
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&[0; 64])
            .unwrap();
        assert_corrupt_at(
            d.path(),
            &seg,
            len,
            "not the last",
            "zeros after a non-last segment",
        );
    }
}

#[test]
fn sequence_gaps_and_duplicates_are_corruption() {
    // A missing segment in the middle.
    let (tpl, _) = template_multi();
    let segs = segments(tpl.path());
    assert!(segs.len() >= 3);
    let d = copy_journal(tpl.path());
    fs::remove_file(d.path().join(segs[1].file_name().unwrap())).unwrap();
    let after_gap = d.path().join(segs[2].file_name().unwrap());
    assert_corrupt_at(d.path(), &after_gap, 0, "gap or overlap", "missing segment");

    // A segment whose name disagrees with its records.
    let d = copy_journal(tpl.path());
    let last = last_segment(d.path());
    let first_seq = parse_segment(&last)[0].seq;
    let renamed = d.path().join(seg_name(first_seq + 1));
    fs::rename(&last, &renamed).unwrap();
    assert_corrupt_at(d.path(), &renamed, 0, "gap or overlap", "renamed segment");

    // A record with a valid CRC but a repeated, skipped or wrong sequence, in the middle
    // and at the tail (a valid record is never a torn tail).
    let recs = parse_segment(&last_segment(tpl.path()));
    let n = recs.len();
    for (case, idx, new_seq) in [
        ("duplicate in the middle", 1, recs[0].seq),
        ("skip in the middle", 1, recs[1].seq + 1),
        (
            "wrong sequence in the last record",
            n - 1,
            recs[n - 1].seq + 5,
        ),
        ("wrong first record of the segment", 0, recs[0].seq + 1),
    ] {
        let d = copy_journal(tpl.path());
        let seg = last_segment(d.path());
        let r = recs[idx];
        let mut bytes = fs::read(&seg).unwrap();
        let range = r.offset as usize..(r.offset + r.total_len) as usize;
        let rewritten = encode(new_seq, &bytes[range.start + 16..range.end]);
        bytes[range].copy_from_slice(&rewritten);
        fs::write(&seg, bytes).unwrap();
        assert_corrupt_at(d.path(), &seg, r.offset, "gap or duplicate", case);
    }

    // An empty segment that is not the last.
    let (tpl, _) = template_single();
    let d = copy_journal(tpl.path());
    let middle = d.path().join(segments(tpl.path())[5].file_name().unwrap());
    OpenOptions::new()
        .write(true)
        .open(&middle)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_corrupt_at(
        d.path(),
        &middle,
        0,
        "empty segment",
        "empty middle segment",
    );
}
