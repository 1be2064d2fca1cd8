//! Crash consistency of the log through `FaultyFileSystem` (model: redb's
//! tests/crash_consistency.rs): run a workload, crash at many points in many ways, reopen
//! with recovery, and check that
//! - every batch flushed before the crash is there, with its offsets and contents;
//! - what is there is a prefix of what was appended, in whole batches (no partial batch);
//! - appends continue at the right offset, and survive a second crash once flushed.

use std::path::PathBuf;

use bytes::Bytes;
use strom_log::{
    AppendError, BrokerIdentity, CrashMode, FaultyFileSystem, Log, LogConfig, LogManager,
    TopicPartition,
};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone)]
struct Appended {
    base_offset: i64,
    values: Vec<Vec<u8>>,
    size: u64,
}

struct Workload {
    fs: FaultyFileSystem,
    log: Log,
    appended: Vec<Appended>,
    /// Batches known durable (flushed or rolled past).
    durable: usize,
    /// A batch whose append failed with a storage error: it may or may not survive, as
    /// with any storage system (the producer retries and idempotence deduplicates).
    in_doubt: Option<Appended>,
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 3_000,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/kafka/crash-0")
}

fn random_batch(rng: &mut Rng, tag: usize) -> (Bytes, Vec<Vec<u8>>) {
    let codecs = [
        Compression::None,
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
        Compression::Gzip,
    ];
    let codec = codecs[rng.below(codecs.len() as u64) as usize];
    let mut builder = BatchBuilder::new(codec, TimestampType::CreateTime);
    let mut values = Vec::new();
    for i in 0..1 + rng.below(5) {
        let len = rng.below(300) as usize;
        let value: Vec<u8> = format!("{tag}/{i}/")
            .bytes()
            .chain((0..len).map(|j| (j % 251) as u8))
            .collect();
        builder.append(1_000 + tag as i64, Some(b"key"), Some(&value), &[]);
        values.push(value);
    }
    (builder.build(0), values)
}

impl Workload {
    fn new() -> Workload {
        let fs = FaultyFileSystem::new();
        let log = Log::open(fs.shared(), dir(), config(), true, 0).unwrap();
        Workload {
            fs,
            log,
            appended: Vec::new(),
            durable: 0,
            in_doubt: None,
        }
    }

    /// One step: append a batch, sometimes flush. Returns false if the append failed.
    fn step(&mut self, rng: &mut Rng) -> bool {
        let (bytes, values) = random_batch(rng, self.appended.len());
        let size = bytes.len() as u64;
        match self.log.append(bytes, 0) {
            Ok(info) => {
                assert_eq!(info.base_offset, self.next_offset());
                self.appended.push(Appended {
                    base_offset: info.base_offset,
                    values,
                    size,
                });
            }
            Err(AppendError::Storage(_)) => {
                self.in_doubt = Some(Appended {
                    base_offset: self.next_offset(),
                    values,
                    size,
                });
                return false;
            }
            Err(e) => panic!("unexpected append error: {e}"),
        }
        // Rolls make everything before the new segment durable.
        self.durable = self.durable.max(
            self.appended
                .iter()
                .take_while(|a| a.base_offset < self.log.flushed_offset())
                .count(),
        );
        if rng.below(4) == 0 && self.log.flush().is_ok() {
            self.durable = self.appended.len();
        }
        true
    }

    fn next_offset(&self) -> i64 {
        self.appended
            .last()
            .map_or(0, |a| a.base_offset + a.values.len() as i64)
    }

    /// Crashes, reopens with recovery, checks the invariants; the log continues from
    /// what survived.
    fn crash_and_check(&mut self, mode: CrashMode, context: &str) {
        let placeholder = Log::open(
            self.fs.shared(),
            PathBuf::from("/placeholder"),
            config(),
            true,
            0,
        )
        .unwrap();
        drop(std::mem::replace(&mut self.log, placeholder));
        self.fs.crash(mode);
        self.fs.set_write_budget(None);
        self.log = Log::open(self.fs.shared(), dir(), config(), true, 0)
            .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
        self.appended.extend(self.in_doubt.take());
        let survivors = check_prefix(&self.log, &self.appended, context);
        assert!(
            survivors >= self.durable,
            "{context}: {survivors} batches survived but {} were flushed",
            self.durable
        );
        self.appended.truncate(survivors);
        self.durable = survivors;
        assert_eq!(
            self.log.log_end_offset(),
            self.next_offset(),
            "{context}: log end offset"
        );
        assert_eq!(
            self.log.size_bytes(),
            self.appended.iter().map(|a| a.size).sum::<u64>(),
            "{context}: no partial batch on disk"
        );
    }
}

/// Reads the whole log; asserts it is a prefix of `appended`; returns its length in batches.
fn check_prefix(log: &Log, appended: &[Appended], context: &str) -> usize {
    let mut offset = log.log_start_offset();
    let mut count = 0;
    while offset < log.log_end_offset() {
        let result = log
            .read(offset, 1_000, true, i64::MAX)
            .unwrap_or_else(|e| panic!("{context}: read at {offset}: {e}"));
        assert!(
            !result.records.is_empty(),
            "{context}: empty read at {offset}"
        );
        for batch in RecordBatch::iter(result.records) {
            let batch = batch.unwrap_or_else(|e| panic!("{context}: partial batch visible: {e}"));
            assert!(
                batch.is_valid_crc(),
                "{context}: batch at {} fails its CRC",
                batch.base_offset()
            );
            let expected = appended
                .get(count)
                .unwrap_or_else(|| panic!("{context}: batch {count} was never appended"));
            assert_eq!(
                batch.base_offset(),
                expected.base_offset,
                "{context}: offset of batch {count}"
            );
            let values: Vec<Vec<u8>> = batch
                .records()
                .unwrap()
                .into_iter()
                .map(|r| r.value.unwrap().to_vec())
                .collect();
            assert_eq!(
                values, expected.values,
                "{context}: contents of batch {count}"
            );
            count += 1;
        }
        offset = result.next_fetch_offset;
    }
    count
}

const MODES: [CrashMode; 8] = [
    CrashMode::LoseUnsynced,
    CrashMode::KeepUnsyncedPrefix(1),
    CrashMode::KeepUnsyncedPrefix(61),
    CrashMode::KeepUnsyncedPrefix(333),
    CrashMode::TearLastWrite { keep_bytes: 0 },
    CrashMode::TearLastWrite { keep_bytes: 30 },
    CrashMode::TearLastWrite { keep_bytes: 100 },
    CrashMode::ZeroUnsynced,
];

#[test]
fn crashes_between_appends_keep_every_flushed_batch() {
    for steps in 0..40u64 {
        for (m, mode) in MODES.iter().enumerate() {
            let context = format!("steps {steps}, mode {mode:?}");
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (steps * 31 + m as u64 + 1));
            let mut w = Workload::new();
            for _ in 0..steps {
                assert!(w.step(&mut rng));
            }
            w.crash_and_check(*mode, &context);
            // Appends continue at the right offset, and flushed ones survive another crash.
            for _ in 0..3 {
                assert!(w.step(&mut rng));
            }
            w.log.flush().unwrap();
            w.durable = w.appended.len();
            w.crash_and_check(CrashMode::LoseUnsynced, &format!("{context}, second crash"));
            assert_eq!(w.appended.len(), w.durable);
        }
    }
}

#[test]
fn crashes_in_the_middle_of_a_write_keep_every_flushed_batch() {
    // Running out of space at byte N stops the workload inside some write (a batch, an
    // index entry, a roll); the crash then happens right there.
    for budget in (0..12_000u64).step_by(97) {
        for mode in [
            CrashMode::LoseUnsynced,
            CrashMode::KeepUnsyncedPrefix(7),
            CrashMode::TearLastWrite { keep_bytes: 13 },
        ] {
            let context = format!("budget {budget}, mode {mode:?}");
            let mut rng = Rng(0x1234_5678 ^ budget);
            let mut w = Workload::new();
            w.fs.set_write_budget(Some(budget));
            for _ in 0..200 {
                if !w.step(&mut rng) {
                    break;
                }
            }
            w.crash_and_check(mode, &context);
            assert!(w.step(&mut rng), "{context}: append after recovery");
        }
    }
}

#[test]
fn the_log_manager_recovers_after_a_crash_and_trusts_a_clean_shutdown() {
    let fs = FaultyFileSystem::new();
    let identity = BrokerIdentity {
        node_id: 0,
        cluster_id: "c".into(),
    };
    let dirs = vec![PathBuf::from("/kafka")];
    let tp = TopicPartition::new("orders", 0);
    let loaded = LogManager::open(fs.shared(), dirs.clone(), &identity, &|_| config(), 0).unwrap();
    let mut log = loaded.manager.create_log(&tp, config(), 0).unwrap();
    let mut rng = Rng(7);
    let mut appended = Vec::new();
    for tag in 0..30 {
        let (bytes, values) = random_batch(&mut rng, tag);
        let size = bytes.len() as u64;
        let info = log.append(bytes, 0).unwrap();
        appended.push(Appended {
            base_offset: info.base_offset,
            values,
            size,
        });
    }
    log.flush().unwrap();
    let (bytes, _) = random_batch(&mut rng, 99);
    log.append(bytes, 0).unwrap();
    drop(log);
    drop(loaded);
    fs.crash(CrashMode::KeepUnsyncedPrefix(40));

    let loaded = LogManager::open(fs.shared(), dirs.clone(), &identity, &|_| config(), 0).unwrap();
    let log = &loaded.logs[&tp];
    assert_eq!(check_prefix(log, &appended, "after crash"), 30);
    assert_eq!(
        log.log_end_offset(),
        appended
            .last()
            .map(|a| a.base_offset + a.values.len() as i64)
            .unwrap()
    );

    let LoadedLogs { manager, logs, .. } = loaded;
    manager.shutdown(logs.into_values()).unwrap();
    fs.crash(CrashMode::LoseUnsynced);
    let loaded = LogManager::open(fs.shared(), dirs, &identity, &|_| config(), 0).unwrap();
    assert_eq!(
        check_prefix(&loaded.logs[&tp], &appended, "after clean shutdown"),
        30
    );
}

use strom_log::LoadedLogs;
