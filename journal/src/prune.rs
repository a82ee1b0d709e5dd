//! Deleting segments a snapshot has made unnecessary.

use std::fs;
use std::path::{Path, PathBuf};

use crate::format::list_segments;
use crate::writer::sync_dir;
use crate::JournalError;

/// Deletes, oldest first, every segment whose records all have `seq <= covered_seq`, and
/// returns the deleted paths. The last segment is never deleted (it may be the one being
/// written), so the journal never loses its current position.
///
/// A segment's last sequence is taken as the next segment's first sequence minus one
/// (segment names; sequences are contiguous, which open verifies), so nothing is read.
/// Safe while a writer appends: a segment the writer creates meanwhile only makes the
/// listed ones older. The directory is fsynced once at the end.
pub fn prune(dir: &Path, covered_seq: u64) -> Result<Vec<PathBuf>, JournalError> {
    let segments = list_segments(dir)?;
    let mut deleted = Vec::new();
    for pair in segments.windows(2) {
        let (segment, next) = (&pair[0], &pair[1]);
        // Records of `segment` are first_seq ..= next.first_seq - 1.
        if next.first_seq.saturating_sub(1) > covered_seq {
            break;
        }
        fs::remove_file(&segment.path)
            .map_err(|e| JournalError::io("remove pruned segment", &segment.path, e))?;
        deleted.push(segment.path.clone());
    }
    if !deleted.is_empty() {
        sync_dir(dir)?;
    }
    Ok(deleted)
}
