//! [`LeaderEpochCache`]: where each leader epoch starts in a partition's log, persisted as
//! Kafka's `leader-epoch-checkpoint` in the partition directory.
//!
//! A leader stamps its epoch on every batch it appends (`partitionLeaderEpoch`); the cache
//! remembers the first offset of each epoch, so a replica can answer "where does epoch E
//! end in your log?" (OffsetForLeaderEpoch, KIP-101/279) without reading segments. A
//! follower that comes back after a failover asks the new leader for the end of its own
//! latest epoch and truncates there, so its log becomes a prefix of the leader's.
//!
//! # Format
//!
//! ```text
//! ASCII text, every line ended by '\n', numbers in decimal:
//!   0                        version
//!   <n>                      number of entries
//!   <epoch> <startOffset>    n lines, one space between the fields
//! ```
//! For example `0\n2\n0 0\n3 1200\n`: epoch 0 starts at offset 0, epoch 3 at 1200 (epochs
//! 1 and 2 wrote nothing here). Entries strictly increase in epoch and in start offset.
//!
//! # When it changes, and durability
//!
//! - A new entry when a leader starts an epoch ([`crate::Log::assign_epoch_start`]), when
//!   a leader appends in an epoch newer than the latest, and when a follower appends a
//!   batch of a newer epoch; the file is rewritten before the append returns.
//! - Truncation of the log removes the entries at or after the new log end offset
//!   (`truncate_from_end`); a larger log start offset removes the entries before it and
//!   moves the last of them to the new start (`truncate_from_start`, Kafka keeps one entry
//!   moved there). Kafka writes these two asynchronously; here the file is rewritten before
//!   the call returns, after the log itself is cut, so a crash in between leaves entries
//!   past the log end, which the next open removes.
//! - Every write replaces the file atomically (`.tmp`, fsync, rename, directory fsync).
//! - At open the file is read and truncated to [log start offset, log end offset). A
//!   missing file (a log written before epochs were kept) or a damaged one (a warning) is
//!   rebuilt from the batch headers' `partitionLeaderEpoch` (-1 skipped) and written.

use std::path::Path;

use crate::error::LogError;

/// Name of the leader epoch checkpoint file in each partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// The checkpoint format version Kafka writes and reads.
const VERSION: i32 = 0;

/// Kafka's `UNDEFINED_EPOCH` / `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One epoch and its first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The epochs of one log, oldest first; strictly increasing in both fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// A cache of `entries`, which must be strictly increasing in both fields.
    #[cfg(test)]
    pub fn from_entries(entries: Vec<EpochEntry>) -> LeaderEpochCache {
        debug_assert!(is_monotonic(&entries), "{entries:?}");
        LeaderEpochCache { entries }
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, if `epoch` is newer than the latest
    /// (Kafka's `assign`, for the calls a log makes: only newer epochs). Entries at or
    /// after `start_offset` go first, so the entries stay strictly increasing (Kafka's
    /// `maybeTruncateNonMonotonicEntries`). Returns whether anything changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if self.latest_epoch().is_some_and(|latest| latest >= epoch) {
            return false;
        }
        let removed = self.truncate_from_end(start_offset);
        if removed {
            tracing::warn!(
                epoch,
                start_offset,
                "a new leader epoch entry removed entries starting at or after its offset"
            );
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Removes the entries whose start offset is at or after `end_offset` (Kafka's
    /// `truncateFromEnd`). Returns whether anything changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let keep = self
            .entries
            .partition_point(|e| e.start_offset < end_offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// Removes the entries that start at or before `start_offset` and puts the last of
    /// them back starting at `start_offset` (Kafka's `truncateFromStart`: the epoch of the
    /// records at the new log start is still known). Returns whether anything changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let removed = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        if removed == 0 {
            return false;
        }
        let last = self.entries[removed - 1];
        let changed = removed > 1 || last.start_offset != start_offset;
        self.entries.drain(..removed - 1);
        self.entries[0].start_offset = start_offset;
        changed
    }

    /// Forgets every entry.
    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`: the largest epoch at or below
    /// `requested` and the offset where it ends (the start of the next epoch, or
    /// `log_end_offset` for the latest epoch).
    ///
    /// - `requested` is -1 (undefined), or newer than every entry, or the cache is empty:
    ///   (-1, -1);
    /// - `requested` is the latest epoch: (latest, `log_end_offset`);
    /// - `requested` is older than every entry: (`requested`, the first entry's start);
    /// - otherwise: (the floor entry's epoch, the start of the first entry above
    ///   `requested`).
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested);
        let Some(higher_entry) = self.entries.get(higher) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            None => (requested, higher_entry.start_offset),
            Some(floor) => (floor.epoch, higher_entry.start_offset),
        }
    }

    /// The file's bytes.
    pub fn encode(&self) -> String {
        let mut out = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        out
    }

    /// Parses the file strictly: Kafka's format, non-negative fields, strictly increasing
    /// entries. The error names the byte and the reason.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<LeaderEpochCache, LogError> {
        let bad =
            |position: usize, reason: String| LogError::corrupt(path, position as u64, reason);
        let mut entries: Vec<EpochEntry> = Vec::new();
        for (at, line) in crate::offset_checkpoint::checkpoint_entries(bytes, VERSION, true, &bad)?
        {
            // Kafka splits on any run of whitespace.
            let fields: Vec<&str> = line.split_whitespace().collect();
            let entry = match fields[..] {
                [epoch, offset] => epoch
                    .parse::<i32>()
                    .ok()
                    .filter(|e| *e >= 0)
                    .zip(offset.parse::<i64>().ok().filter(|o| *o >= 0))
                    .map(|(epoch, start_offset)| EpochEntry {
                        epoch,
                        start_offset,
                    }),
                _ => None,
            };
            let Some(entry) = entry else {
                return Err(bad(
                    at,
                    format!("malformed entry {line:?}, expected \"<epoch> <startOffset>\""),
                ));
            };
            if let Some(prev) = entries.last() {
                if entry.epoch <= prev.epoch || entry.start_offset <= prev.start_offset {
                    return Err(bad(
                        at,
                        format!(
                            "entry {line:?} does not follow epoch {} at offset {}",
                            prev.epoch, prev.start_offset
                        ),
                    ));
                }
            }
            entries.push(entry);
        }
        Ok(LeaderEpochCache { entries })
    }
}

#[cfg(test)]
fn is_monotonic(entries: &[EpochEntry]) -> bool {
    entries
        .windows(2)
        .all(|w| w[1].epoch > w[0].epoch && w[1].start_offset > w[0].start_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache::from_entries(
            entries
                .iter()
                .map(|&(epoch, start_offset)| EpochEntry {
                    epoch,
                    start_offset,
                })
                .collect(),
        )
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(i32, i64)> {
        cache
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn end_offset_for_the_latest_epoch_is_the_log_end_offset() {
        let c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert_eq!(c.end_offset_for(5, 27), (5, 27));
    }

    #[test]
    fn end_offset_for_an_epoch_newer_than_any_is_undefined() {
        let c = cache(&[(1, 0), (3, 10)]);
        assert_eq!(c.end_offset_for(4, 27), (-1, -1));
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 27), (-1, -1));
    }

    #[test]
    fn end_offset_for_an_undefined_epoch_is_undefined() {
        let c = cache(&[(1, 0), (3, 10)]);
        assert_eq!(c.end_offset_for(-1, 27), (-1, -1));
    }

    #[test]
    fn end_offset_for_an_older_epoch_is_the_start_of_the_next_one() {
        let c = cache(&[(1, 0), (3, 10), (5, 20)]);
        // An epoch in the cache: its own epoch, ending where the next starts.
        assert_eq!(c.end_offset_for(1, 27), (1, 10));
        assert_eq!(c.end_offset_for(3, 27), (3, 20));
        // An epoch between two entries: the floor entry's epoch.
        assert_eq!(c.end_offset_for(2, 27), (1, 10));
        assert_eq!(c.end_offset_for(4, 27), (3, 20));
    }

    #[test]
    fn end_offset_for_an_epoch_older_than_every_entry_is_the_first_start() {
        let c = cache(&[(3, 10), (5, 20)]);
        assert_eq!(c.end_offset_for(1, 27), (1, 10));
        assert_eq!(c.end_offset_for(0, 27), (0, 10));
    }

    #[test]
    fn assign_adds_only_newer_epochs_and_keeps_offsets_increasing() {
        let mut c = LeaderEpochCache::default();
        assert!(c.assign(2, 0));
        assert!(!c.assign(2, 5), "same epoch again");
        assert!(!c.assign(1, 7), "older epoch");
        assert!(!c.assign(-1, 7), "undefined epoch");
        assert!(c.assign(4, 10));
        assert_eq!(pairs(&c), [(2, 0), (4, 10)]);
        // A newer epoch starting at or below an existing start replaces those entries.
        assert!(c.assign(6, 10));
        assert_eq!(pairs(&c), [(2, 0), (6, 10)]);
        assert!(c.assign(7, 3));
        assert_eq!(pairs(&c), [(2, 0), (7, 3)]);
    }

    #[test]
    fn truncate_from_end_drops_entries_at_or_after_the_offset() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(!c.truncate_from_end(21));
        assert!(c.truncate_from_end(20));
        assert_eq!(pairs(&c), [(1, 0), (3, 10)]);
        assert!(c.truncate_from_end(0));
        assert!(pairs(&c).is_empty());
    }

    #[test]
    fn truncate_from_start_keeps_one_entry_moved_to_the_new_start() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(!c.truncate_from_start(-1));
        assert!(!c.truncate_from_start(0), "already starts there");
        assert!(c.truncate_from_start(15));
        assert_eq!(pairs(&c), [(3, 15), (5, 20)]);
        assert!(c.truncate_from_start(20));
        assert_eq!(pairs(&c), [(5, 20)]);
        assert!(c.truncate_from_start(30));
        assert_eq!(pairs(&c), [(5, 30)]);
    }

    #[test]
    fn the_file_is_kafkas_text_and_reads_back() {
        let c = cache(&[(0, 0), (3, 1200)]);
        assert_eq!(c.encode(), "0\n2\n0 0\n3 1200\n");
        assert_eq!(
            LeaderEpochCache::parse(c.encode().as_bytes(), Path::new("f")).unwrap(),
            c
        );
        assert_eq!(LeaderEpochCache::default().encode(), "0\n0\n");
        assert_eq!(
            LeaderEpochCache::parse(b"0\n0\n", Path::new("f")).unwrap(),
            LeaderEpochCache::default()
        );
        // Kafka splits fields on any whitespace.
        assert_eq!(
            pairs(&LeaderEpochCache::parse(b"0\n1\n4  17\n", Path::new("f")).unwrap()),
            [(4, 17)]
        );
    }

    #[test]
    fn damaged_files_are_errors_naming_the_file_never_a_panic() {
        for text in [
            "",
            "0",
            "1\n0\n",
            "0\nx\n",
            "0\n2\n0 0\n",
            "0\n1\n0\n",
            "0\n1\n0 0 0\n",
            "0\n1\n-1 0\n",
            "0\n1\n0 -5\n",
            "0\n1\n0 5",
            "0\n1\n0 5\n1 6\n",
            "0\n2\n1 5\n1 6\n",
            "0\n2\n1 5\n2 5\n",
            "0\n2\n2 5\n1 6\n",
            "0\n1\n0 99999999999999999999\n",
            "0\n1\n99999999999 0\n",
        ] {
            match LeaderEpochCache::parse(
                text.as_bytes(),
                Path::new("/d/t-0/leader-epoch-checkpoint"),
            ) {
                Err(LogError::Corrupt { path, .. }) => {
                    assert_eq!(
                        path,
                        Path::new("/d/t-0/leader-epoch-checkpoint"),
                        "{text:?}"
                    )
                }
                other => panic!("{text:?} parsed as {other:?}"),
            }
        }
        assert!(LeaderEpochCache::parse(&[0xff, b'\n'], Path::new("f")).is_err());
    }
}
