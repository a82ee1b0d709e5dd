//! Read-only health report of a journal directory, for operators.

use std::fmt;
use std::fs::File;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::chunk::ChunkReader;
use crate::format::{list_segments, RECORD_HEADER_BYTES};
use crate::scan::{find_next_valid, walk, WalkEnd};
use crate::JournalError;

/// What [`inspect`] found in a journal directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectReport {
    /// The journal directory.
    pub dir: PathBuf,
    /// One entry per segment file, in sequence order.
    pub segments: Vec<SegmentReport>,
}

/// One segment file's contents as found by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// The segment file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Records whose CRC verifies (including any found after a bad region).
    pub records: u64,
    /// First verified sequence.
    pub first_seq: Option<u64>,
    /// Last verified sequence.
    pub last_seq: Option<u64>,
    /// Problems found: bad regions, sequence breaks, an empty non-last segment.
    pub problems: u32,
    /// The first problem, with the byte offset of the bad record.
    pub first_problem: Option<Problem>,
}

/// Something wrong in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset of the record concerned.
    pub offset: u64,
    /// What is wrong.
    pub detail: String,
}

impl InspectReport {
    /// Every record of every segment verifies and sequences are contiguous.
    pub fn is_clean(&self) -> bool {
        self.segments.iter().all(|s| s.problems == 0)
    }

    /// Verified records over all segments.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
}

/// Reads and verifies every record of every segment in `dir` without changing anything.
/// Unlike [`JournalWriter::open`](crate::JournalWriter::open) it does not stop at the
/// first problem: past a bad record it searches for the next valid one and carries on,
/// and it reports the first problem of each segment with its byte offset.
pub fn inspect(dir: &Path) -> Result<InspectReport, JournalError> {
    if !dir.is_dir() {
        return Err(JournalError::io(
            "inspect journal directory",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let segments = list_segments(dir)?;
    let mut reader = ChunkReader::new();
    let mut reports = Vec::with_capacity(segments.len());
    let mut prev_last: Option<u64> = None;
    for (i, segment) in segments.iter().enumerate() {
        let path = &segment.path;
        let is_last = i + 1 == segments.len();
        let file = File::open(path).map_err(|e| JournalError::io("open segment", path, e))?;
        let size_bytes = file
            .metadata()
            .map_err(|e| JournalError::io("stat segment", path, e))?
            .len();
        reader.reset(file);
        let mut report = SegmentReport {
            file: path.clone(),
            size_bytes,
            records: 0,
            first_seq: None,
            last_seq: None,
            problems: 0,
            first_problem: None,
        };
        if let Some(prev) = prev_last {
            if segment.first_seq != prev.wrapping_add(1) {
                let detail = format!(
                    "segment starts at sequence {} but the previous segment ends at {prev}",
                    segment.first_seq
                );
                note(&mut report, 0, detail);
            }
        }
        let mut offset = 0u64;
        let mut expected = segment.first_seq;
        // Bounded: each pass either ends the segment or resumes strictly further on.
        loop {
            let end = walk::<JournalError, _>(&mut reader, path, offset, expected, |_, seq, _| {
                report.records += 1;
                report.first_seq.get_or_insert(seq);
                report.last_seq = Some(seq);
                Ok(ControlFlow::Continue(()))
            })?;
            match end {
                WalkEnd::Clean => break,
                WalkEnd::Stopped => unreachable!("the inspect callback never stops"),
                WalkEnd::BadSeq {
                    offset: at,
                    expected: want,
                    found,
                    len,
                } => {
                    let detail = format!(
                        "record has sequence {found} where {want} was expected (gap or duplicate)"
                    );
                    note(&mut report, at, detail);
                    // Count it and go on from the sequence actually found.
                    report.records += 1;
                    report.first_seq.get_or_insert(found);
                    report.last_seq = Some(found);
                    offset = at + (RECORD_HEADER_BYTES + len) as u64;
                    expected = found.wrapping_add(1);
                }
                WalkEnd::BadFrame { offset: at, frame } => {
                    let min_seq = report
                        .last_seq
                        .map_or(segment.first_seq, |s| s.wrapping_add(1));
                    match find_next_valid(&mut reader, path, at, min_seq)? {
                        Some((next_offset, next_seq)) => {
                            let detail = format!(
                                "{}; skipped {} byte(s) to a valid record (sequence {next_seq}) \
                                 at offset {next_offset}",
                                frame.describe(),
                                next_offset - at
                            );
                            note(&mut report, at, detail);
                            offset = next_offset;
                            expected = next_seq;
                        }
                        None => {
                            let what = if is_last {
                                "torn tail: opening the journal would truncate"
                            } else {
                                "no valid record follows in this non-last segment:"
                            };
                            let detail = format!(
                                "{}; {what} {} byte(s)",
                                frame.describe(),
                                size_bytes.saturating_sub(at)
                            );
                            note(&mut report, at, detail);
                            break;
                        }
                    }
                }
            }
        }
        if report.records == 0 && !is_last {
            note(
                &mut report,
                0,
                "empty segment before the last segment".to_string(),
            );
        }
        prev_last = report.last_seq.or(prev_last);
        reports.push(report);
    }
    Ok(InspectReport {
        dir: dir.to_path_buf(),
        segments: reports,
    })
}

fn note(report: &mut SegmentReport, offset: u64, detail: String) {
    report.problems += 1;
    report
        .first_problem
        .get_or_insert(Problem { offset, detail });
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.segments.iter().find_map(|s| s.first_seq);
        let last = self.segments.iter().rev().find_map(|s| s.last_seq);
        write!(
            f,
            "journal {}: {} segment(s), {} record(s)",
            self.dir.display(),
            self.segments.len(),
            self.records()
        )?;
        if let (Some(first), Some(last)) = (first, last) {
            write!(f, ", sequences {first}..={last}")?;
        }
        let bad = self.segments.iter().filter(|s| s.problems > 0).count();
        if bad == 0 {
            writeln!(f, ", every record verifies")?;
        } else {
            writeln!(f, ", {bad} segment(s) with problems")?;
        }
        writeln!(
            f,
            "{:<24} {:>12} {:>10} {:>12} {:>12}  status",
            "file", "bytes", "records", "first_seq", "last_seq"
        )?;
        let dash = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        for s in &self.segments {
            let name = s
                .file
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            write!(
                f,
                "{:<24} {:>12} {:>10} {:>12} {:>12}  ",
                name,
                s.size_bytes,
                s.records,
                dash(s.first_seq),
                dash(s.last_seq)
            )?;
            match &s.first_problem {
                None => writeln!(f, "ok")?,
                Some(p) => {
                    write!(f, "BAD at offset {}: {}", p.offset, p.detail)?;
                    if s.problems > 1 {
                        write!(f, " (+{} more problem(s))", s.problems - 1)?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}
