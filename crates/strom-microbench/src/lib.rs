//! Criterion benchmarks of the storage hot paths: batch validation, log append, index
//! lookup on read. Run with `cargo bench -p strom-microbench`; the crate is outside the
//! workspace's default members so ordinary builds and tests skip it.
//!
//! This library holds the fixtures the benches share.

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, TimestampType};

/// A producer-like batch: `records` records with 100-byte values and short keys.
pub fn batch(compression: Compression, records: usize, value_bytes: usize) -> Bytes {
    // No producer id: every append is a new batch (an idempotent producer's repeated batch
    // would be answered as a duplicate and measure nothing).
    let mut builder = BatchBuilder::new(compression, TimestampType::CreateTime);
    let value: Vec<u8> = (0..value_bytes).map(|i| b'a' + (i % 26) as u8).collect();
    for i in 0..records {
        builder.append(
            1_700_000_000_000 + i as i64,
            Some(format!("key-{i}").as_bytes()),
            Some(&value),
            &[],
        );
    }
    builder.build(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_batches_are_valid() {
        let b = batch(Compression::None, 100, 100);
        let summary = strom_records::validate_batch(&b, 1 << 20).unwrap();
        assert_eq!(summary.records_count, 100);
        assert!(b.len() > 100 * 100);
    }
}
