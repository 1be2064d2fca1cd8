//! Helpers shared by this crate's unit tests.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

use crate::{FaultyFileSystem, Log, LogConfig};

pub const DIR: &str = "/data/orders-0";

pub fn dir() -> PathBuf {
    PathBuf::from(DIR)
}

/// A batch of `n` records with values `v<tag>-<i>` and timestamps `ts`, `ts + 1`, ...
pub fn batch(compression: Compression, n: usize, ts: i64, tag: u32) -> Bytes {
    let mut b = BatchBuilder::new(compression, TimestampType::CreateTime);
    for i in 0..n {
        let value = format!("v{tag}-{i}");
        b.append(
            ts + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(value.as_bytes()),
            &[],
        );
    }
    b.build(0)
}

/// A batch whose records carry the given timestamps.
pub fn batch_with_timestamps(compression: Compression, timestamps: &[i64]) -> Bytes {
    let mut b = BatchBuilder::new(compression, TimestampType::CreateTime);
    for (i, ts) in timestamps.iter().enumerate() {
        b.append(*ts, None, Some(format!("t{i}").as_bytes()), &[]);
    }
    b.build(0)
}

pub fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}

pub fn open(fs: &FaultyFileSystem, config: LogConfig, recover: bool) -> Log {
    Log::open(fs.shared(), dir(), config, recover, 0).unwrap()
}

/// Every (offset, value) in the log, read with small fetches from the start.
pub fn all_records(log: &Log) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let result = log.read(offset, 1, true, i64::MAX).unwrap();
        assert!(!result.records.is_empty(), "no progress at offset {offset}");
        for batch in RecordBatch::iter(result.records.clone()) {
            let batch = batch.unwrap();
            assert!(batch.is_valid_crc());
            for r in batch.records().unwrap() {
                if r.offset() >= offset {
                    out.push((
                        r.offset(),
                        String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
                    ));
                }
            }
        }
        offset = result.next_fetch_offset;
    }
    out
}

pub fn seg_path(base: i64, suffix: &str) -> PathBuf {
    Path::new(DIR).join(crate::segment_file_name(base, suffix))
}
