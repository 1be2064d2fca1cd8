//! Property test of the log against a simple model: random sequences of appends (each
//! codec), rolls, flushes, DeleteRecords, size retention, clean restarts and crashes with
//! every `CrashMode`, checked after every step:
//! - offsets are contiguous: the end offset is what the model expects, and every append
//!   starts where the previous one ended;
//! - reads from the log start return exactly what was appended there, in order;
//! - the log start only moves forward, except across a restart of a log opened alone
//!   (no checkpoint: it falls back to its first segment's base offset, documented on
//!   `Log::open`), and then what reappears is what was appended there;
//! - after a crash, the log is a prefix of what was appended, and holds at least
//!   everything that was fsynced (explicit flushes).

use std::path::PathBuf;

use proptest::prelude::*;
use strom_log::{CrashMode, FaultyFileSystem, Log, LogConfig};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

const NOW_MS: i64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        codec: u8,
        size: usize,
    },
    Roll,
    Flush,
    /// DeleteRecords up to this fraction (per mille) of the way from log start to end.
    DeleteRecords(u16),
    /// Size retention with `retention.bytes` of this many bytes.
    Retention(u16),
    Restart,
    Crash(CrashKind),
}

#[derive(Debug, Clone, Copy)]
enum CrashKind {
    LoseUnsynced,
    KeepPrefix(u16),
    TearLastWrite(u16),
    ZeroUnsynced,
}

impl CrashKind {
    fn mode(self) -> CrashMode {
        match self {
            CrashKind::LoseUnsynced => CrashMode::LoseUnsynced,
            CrashKind::KeepPrefix(n) => CrashMode::KeepUnsyncedPrefix(u64::from(n)),
            CrashKind::TearLastWrite(n) => CrashMode::TearLastWrite {
                keep_bytes: u64::from(n),
            },
            CrashKind::ZeroUnsynced => CrashMode::ZeroUnsynced,
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..5, 0u8..5, 0usize..400)
            .prop_map(|(records, codec, size)| Op::Append { records, codec, size }),
        1 => Just(Op::Roll),
        2 => Just(Op::Flush),
        1 => (0u16..=1000).prop_map(Op::DeleteRecords),
        1 => (0u16..6000).prop_map(Op::Retention),
        1 => Just(Op::Restart),
        1 => prop_oneof![
            Just(CrashKind::LoseUnsynced),
            (0u16..2000).prop_map(CrashKind::KeepPrefix),
            (0u16..500).prop_map(CrashKind::TearLastWrite),
            Just(CrashKind::ZeroUnsynced),
        ]
        .prop_map(Op::Crash),
    ]
}

fn codec(id: u8) -> Compression {
    Compression::from_id(id).unwrap()
}

fn config(retention_bytes: Option<u64>) -> LogConfig {
    LogConfig {
        segment_bytes: 2_000,
        index_interval_bytes: 100,
        retention_bytes,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/data/model-0")
}

/// The model: every value ever appended, by offset (index = offset).
struct Model {
    values: Vec<Vec<u8>>,
    log_start: i64,
    /// Offsets below this were fsynced by an explicit flush.
    durable: i64,
}

fn value(offset: usize, size: usize) -> Vec<u8> {
    let mut v = format!("{offset}:").into_bytes();
    v.extend((0..size).map(|i| (i * 31 + offset) as u8));
    v
}

/// Every (offset, value) from the log start to the end, in one-batch reads.
fn read_all(log: &Log) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let result = log.read(offset, 1, true, i64::MAX).unwrap();
        assert!(
            !result.records.is_empty(),
            "no progress reading at {offset}"
        );
        for batch in RecordBatch::iter(result.records) {
            let batch = batch.unwrap();
            assert!(batch.is_valid_crc());
            for r in batch.records().unwrap() {
                if r.offset() >= offset {
                    out.push((r.offset(), r.value.unwrap().to_vec()));
                }
            }
        }
        assert!(result.next_fetch_offset > offset);
        offset = result.next_fetch_offset;
    }
    out
}

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.log_end_offset(), model.values.len() as i64);
    prop_assert_eq!(log.log_start_offset(), model.log_start);
    let expected: Vec<(i64, Vec<u8>)> = model
        .values
        .iter()
        .enumerate()
        .skip(model.log_start as usize)
        .map(|(o, v)| (o as i64, v.clone()))
        .collect();
    let got = read_all(log);
    prop_assert_eq!(got.len(), expected.len(), "records from the log start");
    prop_assert!(got == expected, "the log reads back what was appended");
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fs = FaultyFileSystem::new();
    let mut retention_bytes = None;
    let mut log = Log::open(fs.shared(), dir(), config(retention_bytes), false, NOW_MS).unwrap();
    let mut model = Model {
        values: Vec::new(),
        log_start: 0,
        durable: 0,
    };
    for (step, op) in ops.into_iter().enumerate() {
        let now = NOW_MS + step as i64;
        match op {
            Op::Append {
                records,
                codec: c,
                size,
            } => {
                let first = model.values.len();
                let mut builder = BatchBuilder::new(codec(c), TimestampType::CreateTime);
                let values: Vec<Vec<u8>> = (0..records).map(|i| value(first + i, size)).collect();
                for v in &values {
                    builder.append(now, None, Some(v.as_slice()), &[]);
                }
                let info = log.append(builder.build(0), now).unwrap();
                prop_assert_eq!(info.base_offset, first as i64, "appends are contiguous");
                prop_assert_eq!(info.last_offset, (first + records - 1) as i64);
                model.values.extend(values);
            }
            Op::Roll => log.roll(now).unwrap(),
            Op::Flush => {
                log.flush().unwrap();
                model.durable = model.values.len() as i64;
            }
            Op::DeleteRecords(per_mille) => {
                let (start, end) = (log.log_start_offset(), log.log_end_offset());
                let target = start + (end - start) * i64::from(per_mille) / 1000;
                let new_start = log.increase_log_start_offset(target, end).unwrap();
                prop_assert_eq!(new_start, target.max(start));
                model.log_start = new_start;
            }
            Op::Retention(bytes) => {
                retention_bytes = Some(u64::from(bytes));
                log.update_config(config(retention_bytes));
                let before = log.log_start_offset();
                log.delete_old_segments(log.log_end_offset(), now).unwrap();
                let after = log.log_start_offset();
                prop_assert!(after >= before, "retention moves the log start forward");
                prop_assert!(after <= log.log_end_offset());
                model.log_start = after;
            }
            Op::Restart => {
                log.close().unwrap();
                log = Log::open(fs.shared(), dir(), config(retention_bytes), false, now).unwrap();
                reopened(&log, &mut model)?;
            }
            Op::Crash(kind) => {
                drop(log);
                fs.crash(kind.mode());
                log = Log::open(fs.shared(), dir(), config(retention_bytes), true, now).unwrap();
                let end = log.log_end_offset();
                prop_assert!(
                    end >= model.durable,
                    "{:?} lost fsynced data: end {} < durable {}",
                    kind,
                    end,
                    model.durable
                );
                prop_assert!(end <= model.values.len() as i64, "records from nowhere");
                // What survived must be a prefix of what was appended: read_all in
                // `check` compares every surviving record with the model.
                model.values.truncate(end as usize);
                model.durable = end;
                reopened(&log, &mut model)?;
            }
        }
        check(&log, &model)?;
    }
    Ok(())
}

/// After a restart the log start may fall back to the first segment's base offset (a log
/// opened alone keeps no checkpoint), never forward.
fn reopened(log: &Log, model: &mut Model) -> Result<(), TestCaseError> {
    let start = log.log_start_offset();
    prop_assert!(
        start <= model.log_start,
        "log start {} after a restart, {} before",
        start,
        model.log_start
    );
    model.log_start = start;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_log_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

/// Keeps the test honest: a log that lost an fsynced record would be caught.
#[test]
fn the_model_check_catches_a_missing_record() {
    let fs = FaultyFileSystem::new();
    let mut log = Log::open(fs.shared(), dir(), config(None), false, NOW_MS).unwrap();
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    b.append(NOW_MS, None, Some(b"a".as_slice()), &[]);
    log.append(b.build(0), NOW_MS).unwrap();
    let model = Model {
        values: vec![b"a".to_vec(), b"b".to_vec()],
        log_start: 0,
        durable: 2,
    };
    assert!(check(&log, &model).is_err());
}
