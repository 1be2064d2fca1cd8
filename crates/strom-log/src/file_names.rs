//! Names of the files in a partition directory, as Kafka spells them.

use std::path::{Path, PathBuf};

/// Segment data file suffix.
pub const LOG_FILE_SUFFIX: &str = ".log";
/// Offset index suffix.
pub const INDEX_FILE_SUFFIX: &str = ".index";
/// Time index suffix.
pub const TIME_INDEX_FILE_SUFFIX: &str = ".timeindex";
/// A file scheduled for deletion.
pub const DELETED_FILE_SUFFIX: &str = ".deleted";
/// Output of an unfinished compaction.
pub const CLEANED_FILE_SUFFIX: &str = ".cleaned";
/// A finished compaction output waiting to replace its segments.
pub const SWAP_FILE_SUFFIX: &str = ".swap";
/// A temporary file of an atomic write.
pub const TMP_FILE_SUFFIX: &str = ".tmp";

/// What a segment-related file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FileKind {
    Log,
    Index,
    TimeIndex,
    /// A producer state snapshot (`producer_snapshot`).
    ProducerSnapshot,
    /// A transaction index (`txn_index`): read by the log after its segments load.
    KafkaOther,
}

/// Lifecycle suffix after the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leftover {
    None,
    Deleted,
    Cleaned,
    Swap,
}

/// `base_offset` zero-padded to 20 digits, plus `suffix`.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

pub(crate) fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(segment_file_name(base_offset, suffix))
}

/// Parses `00000000000000000042.log[.deleted|.cleaned|.swap]` and friends.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<(i64, FileKind, Leftover)> {
    let (rest, leftover) = if let Some(r) = name.strip_suffix(DELETED_FILE_SUFFIX) {
        (r, Leftover::Deleted)
    } else if let Some(r) = name.strip_suffix(CLEANED_FILE_SUFFIX) {
        (r, Leftover::Cleaned)
    } else if let Some(r) = name.strip_suffix(SWAP_FILE_SUFFIX) {
        (r, Leftover::Swap)
    } else {
        (name, Leftover::None)
    };
    let (digits, suffix) = rest.split_at(rest.find('.')?);
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base_offset: i64 = digits.parse().ok()?;
    let kind = match suffix {
        LOG_FILE_SUFFIX => FileKind::Log,
        INDEX_FILE_SUFFIX => FileKind::Index,
        TIME_INDEX_FILE_SUFFIX => FileKind::TimeIndex,
        crate::producer_snapshot::PRODUCER_SNAPSHOT_FILE_SUFFIX => FileKind::ProducerSnapshot,
        ".txnindex" => FileKind::KafkaOther,
        _ => return None,
    };
    Some((base_offset, kind, leftover))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_zero_padded_to_twenty_digits() {
        assert_eq!(segment_file_name(0, ".log"), "00000000000000000000.log");
        assert_eq!(
            segment_file_name(1234, ".index"),
            "00000000000000001234.index"
        );
        assert_eq!(
            parse_segment_file_name("00000000000000001234.timeindex"),
            Some((1234, FileKind::TimeIndex, Leftover::None))
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000007.log.swap"),
            Some((7, FileKind::Log, Leftover::Swap))
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000007.index.deleted"),
            Some((7, FileKind::Index, Leftover::Deleted))
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000042.snapshot"),
            Some((42, FileKind::ProducerSnapshot, Leftover::None))
        );
    }

    #[test]
    fn stray_names_do_not_parse() {
        for name in [
            "0000.log",
            "abc.log",
            "00000000000000000000.txt",
            "00000000000000000000",
            "-0000000000000000001.log",
            "x",
        ] {
            assert_eq!(parse_segment_file_name(name), None, "{name}");
        }
    }
}
