//! The log loader on arbitrary segment, index and leftover files: they are written into
//! an in-memory file system (`FaultyFileSystem`) and the log is opened, with or without
//! recovery. Opening must never panic. A log that opens must hold together: its offsets
//! are ordered and an append lands at the old end offset and reads back. After recovery,
//! every offset from the start to the end also reads as whole, valid batches, and after a
//! clean close the log reopens with the same offsets (without recovery the files are
//! trusted, as in Kafka after a clean shutdown, so garbage may be served, but nothing
//! panics).
//!
//! Input: a flags byte (bit 0: recover; bit 1: small segments and index intervals), then
//! files as `[suffix u8][base offset u8][u16 big-endian length][bytes]` (see
//! `strom_fuzz::log_file_path`).
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use strom_fuzz::{log_file_path, LOG_DIR};
use strom_log::{FaultyFileSystem, Log, LogConfig};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

const NOW_MS: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let fs = FaultyFileSystem::new();
    let dir = PathBuf::from(LOG_DIR);
    fs.shared().create_dir_all(&dir).expect("in-memory mkdir");
    while let Some(([suffix, base, hi, lo], tail)) =
        rest.split_first_chunk::<4>().map(|(h, t)| (*h, t))
    {
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        fs.put_file(&log_file_path(suffix, base), bytes)
            .expect("in-memory write");
        rest = tail;
    }
    let recover = flags & 1 != 0;
    let config = if flags & 2 != 0 {
        LogConfig {
            segment_bytes: 4096,
            index_interval_bytes: 64,
            ..LogConfig::default()
        }
    } else {
        LogConfig::default()
    };
    let Ok(mut log) = Log::open(fs.shared(), dir.clone(), config.clone(), recover, NOW_MS) else {
        return;
    };
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    assert!(0 <= start && start <= end, "log start {start}, end {end}");
    assert_eq!(log.segment_base_offsets().len(), log.segment_count());
    read_all(&log, recover);
    let _ = log.offset_for_timestamp(i64::from(flags) * 1000);
    let _ = log.max_timestamp_offset();

    // An append lands at the end offset and reads back.
    let mut builder = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    builder.append(
        NOW_MS,
        Some(b"k".as_slice()),
        Some(b"appended".as_slice()),
        &[],
    );
    let Ok(info) = log.append(builder.build(0), NOW_MS) else {
        return;
    };
    assert_eq!(
        info.base_offset, end,
        "append after open lands at the old end offset"
    );
    assert_eq!(log.log_end_offset(), end + 1);
    let read = log
        .read(end, 1 << 20, true, i64::MAX)
        .expect("read what was appended");
    let batch = RecordBatch::iter(read.records)
        .next()
        .expect("one batch")
        .expect("the appended batch");
    let records = batch.records().expect("the appended batch decodes");
    assert_eq!(records.last().map(|r| r.offset()), Some(end));
    assert_eq!(
        records.last().and_then(|r| r.value.clone()).as_deref(),
        Some(b"appended".as_slice())
    );

    // After recovery, a clean close and a reopen keep the offsets. (Without recovery the
    // files were trusted as they came, damaged or not, so there is nothing to compare.)
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    if log.close().is_err() || !recover {
        return;
    }
    let log =
        Log::open(fs.shared(), dir, config, false, NOW_MS).expect("a cleanly closed log reopens");
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (start, end));
    read_all(&log, true);
});

/// Reads from the log start to the log end in small fetches; with `recovered`, every
/// fetch returns whole, valid batches and makes progress.
fn read_all(log: &Log, recovered: bool) {
    let mut offset = log.log_start_offset();
    for _ in 0..10_000 {
        if offset >= log.log_end_offset() {
            return;
        }
        let Ok(result) = log.read(offset, 1, true, i64::MAX) else {
            return;
        };
        if result.records.is_empty() || !recovered {
            return;
        }
        assert!(
            result.next_fetch_offset > offset,
            "a read at {offset} made no progress"
        );
        for batch in RecordBatch::iter(result.records) {
            let batch = batch.expect("reads return whole batches");
            assert!(
                batch.next_offset() > offset,
                "a batch below the fetch offset {offset}"
            );
        }
        offset = result.next_fetch_offset;
    }
}
