//! Property test of offset and time index lookups against a model: a log with small index
//! intervals and segments, batches of records with arbitrary (non-monotonic) timestamps,
//! then lookups before and after a restart and after a crash with recovery (both rebuild
//! or reload the indexes):
//! - a read at any offset from the log start returns first the batch holding it;
//! - `offset_for_timestamp(t)` is the first record at or after the log start whose
//!   timestamp is >= t (Kafka's ListOffsets by timestamp), `None` when there is none;
//! - `max_timestamp_offset` is the first record with the largest timestamp.

use std::path::PathBuf;

use proptest::prelude::*;
use strom_log::{CrashMode, FaultyFileSystem, Log, LogConfig, TimestampOffset};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

const T0: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_500,
        index_interval_bytes: 1,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/data/index-0")
}

/// Timestamps per batch (each batch: 1..4 records), offsets to DeleteRecords to.
fn batches() -> impl Strategy<Value = Vec<(Vec<i64>, u8)>> {
    proptest::collection::vec((proptest::collection::vec(0i64..500, 1..4), 0u8..5), 1..40)
}

struct Model {
    /// (offset, timestamp) of every record; index = offset.
    timestamps: Vec<i64>,
    /// Offset range of each batch.
    batches: Vec<(i64, i64)>,
}

fn check(log: &Log, model: &Model, probes: &[i64]) -> Result<(), TestCaseError> {
    let start = log.log_start_offset();
    prop_assert_eq!(log.log_end_offset(), model.timestamps.len() as i64);
    for offset in start..log.log_end_offset() {
        let result = log.read(offset, 1, true, i64::MAX).unwrap();
        let batch = RecordBatch::iter(result.records).next().unwrap().unwrap();
        let (first, last) = *model
            .batches
            .iter()
            .find(|(f, l)| *f <= offset && offset <= *l)
            .unwrap();
        prop_assert_eq!(
            (batch.base_offset(), batch.next_offset() - 1),
            (first, last),
            "read at {}",
            offset
        );
    }
    for &probe in probes {
        let target = T0 + probe;
        let expected = model
            .timestamps
            .iter()
            .enumerate()
            .skip(start as usize)
            .find(|(_, ts)| **ts >= target)
            .map(|(o, ts)| TimestampOffset {
                timestamp: *ts,
                offset: o as i64,
            });
        prop_assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "timestamp {}",
            target
        );
    }
    let max = model
        .timestamps
        .iter()
        .enumerate()
        .skip(start as usize)
        .fold(None::<TimestampOffset>, |best, (o, ts)| match best {
            Some(b) if b.timestamp >= *ts => Some(b),
            _ => Some(TimestampOffset {
                timestamp: *ts,
                offset: o as i64,
            }),
        });
    prop_assert_eq!(log.max_timestamp_offset().unwrap(), max);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn index_lookups_match_the_model(
        batches in batches(),
        probes in proptest::collection::vec(-10i64..520, 1..20),
        delete_to in 0u16..=1000,
    ) {
        let fs = FaultyFileSystem::new();
        let mut log = Log::open(fs.shared(), dir(), config(), false, T0).unwrap();
        let mut model = Model { timestamps: Vec::new(), batches: Vec::new() };
        for (timestamps, codec) in &batches {
            let mut b = BatchBuilder::new(Compression::from_id(*codec).unwrap(), TimestampType::CreateTime);
            for ts in timestamps {
                b.append(T0 + ts, None, Some(b"v".as_slice()), &[]);
            }
            let info = log.append(b.build(0), T0).unwrap();
            model.batches.push((info.base_offset, info.last_offset));
            model.timestamps.extend(timestamps.iter().map(|ts| T0 + ts));
        }
        check(&log, &model, &probes)?;

        // DeleteRecords inside the log: lookups never answer below the new start.
        let end = log.log_end_offset();
        let target = end * i64::from(delete_to) / 1000;
        log.increase_log_start_offset(target, end).unwrap();
        check(&log, &model, &probes)?;

        // A clean restart reloads the indexes (the log start falls back to its segment's
        // base offset: a log opened alone keeps no checkpoint).
        log.close().unwrap();
        let mut log = Log::open(fs.shared(), dir(), config(), false, T0).unwrap();
        check(&log, &model, &probes)?;

        // A crash that loses the unsynced index pages rebuilds them in recovery.
        log.flush().unwrap();
        drop(log);
        fs.crash(CrashMode::LoseUnsynced);
        let log = Log::open(fs.shared(), dir(), config(), true, T0).unwrap();
        check(&log, &model, &probes)?;
    }
}
