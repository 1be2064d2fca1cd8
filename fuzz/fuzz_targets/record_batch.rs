//! Record batch v2 validation and decoding, as the produce path, log recovery, the cleaner
//! and the coordinator's loader use them, plain and with each codec.
//!
//! The first byte picks how the rest is used, so that most inputs reach past the CRC:
//! - 0: the bytes as they are (a batch, or several, or garbage);
//! - 1: the bytes as one batch, with `batchLength` and the CRC patched to match;
//! - 2: the bytes after a codec byte as an uncompressed records section, compressed with
//!   that codec and wrapped in a valid header (`recordsCount` from the next 4 bytes), so
//!   the record parser runs on decompressed data.
//!
//! Checks besides "no panic": a batch that passes the produce check also passes the
//! recovery check and decodes to exactly `recordsCount` records with consecutive offsets.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use strom_fuzz::{batch_with_section, fix_batch_framing};
use strom_records::{validate_batch, validate_stored_batch, Compression, RecordBatch};

/// `max.message.bytes`' default.
const MAX_MESSAGE_BYTES: usize = 1_048_588;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => check(rest.to_vec()),
        1 => check(fix_batch_framing(rest)),
        _ => {
            let Some((&codec, rest)) = rest.split_first() else {
                return;
            };
            let Ok(codec) = Compression::from_id(codec % 5) else {
                return;
            };
            let Some((count, section)) = rest.split_first_chunk::<4>() else {
                return;
            };
            if let Some(batch) = batch_with_section(codec, i32::from_be_bytes(*count), section) {
                check(batch);
            }
        }
    }
});

fn check(bytes: Vec<u8>) {
    let produce = validate_batch(&bytes, MAX_MESSAGE_BYTES);
    let stored = validate_stored_batch(&bytes);
    if let Ok(summary) = &produce {
        assert!(
            stored.is_ok(),
            "passes the produce check but not recovery's: {stored:?}"
        );
        if summary.compression == Compression::None {
            let batch = RecordBatch::new(Bytes::from(bytes.clone())).expect("validated batch");
            let records = batch
                .records()
                .expect("a validated uncompressed batch decodes");
            assert_eq!(records.len(), summary.records_count as usize);
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.offset(), batch.base_offset() + i as i64);
            }
        }
    }
    for batch in RecordBatch::iter(Bytes::from(bytes)) {
        let Ok(batch) = batch else {
            break;
        };
        let _ = batch.is_valid_crc();
        let _ = batch.header();
        let _ = batch.next_offset();
        // The compacted-topic check, with the default decompression bound.
        let _ = batch.first_record_without_key();
        // A transaction marker, as the log reads it at open and on the follower path.
        let _ = strom_records::EndTransactionMarker::of_batch(&batch);
        let recoverable = validate_stored_batch(batch.as_bytes()).is_ok();
        // Bounded far below the default, to keep the fuzzer fast.
        if let Ok(records) = batch.records_with_limit(1 << 20) {
            // A batch that passes recovery and decodes can be rebuilt with a subset of its
            // records (what the cleaner does), and the result passes recovery too.
            if !recoverable {
                continue;
            }
            let kept: Vec<_> = records.iter().step_by(2).cloned().collect();
            if let Ok(rebuilt) = batch.with_retained_records(&kept) {
                validate_stored_batch(&rebuilt).expect("a rebuilt batch passes recovery");
            }
        }
    }
}
