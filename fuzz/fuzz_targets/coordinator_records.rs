//! The `__consumer_offsets` record schemas: every key and value decoder on arbitrary
//! bytes, then the input as a sequence of records replayed into a coordinator shard (what
//! loading a partition does).
//!
//! Checks besides "no panic": whatever decodes re-encodes to bytes that decode to the
//! same value (encoders write one fixed version per schema, so the comparison is of
//! values, not bytes).
//!
//! Input: length-prefixed pieces (`strom_fuzz::split_pieces`), read as key, value, key,
//! value, ...; an empty value piece is a tombstone. The first piece is also fed to every
//! decoder on its own. Some records replay as transactional, followed by markers (see
//! the loop).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strom_coordinator::records::*;
use strom_coordinator::{GroupConfig, GroupShard};
use strom_fuzz::split_pieces;

fuzz_target!(|data: &[u8]| {
    let pieces = split_pieces(data);
    for piece in pieces.iter().take(2) {
        decode_everything(piece);
    }
    let mut shard = GroupShard::new(GroupConfig::default());
    let now_ms = 1_700_000_000_000;
    for (i, record) in pieces.chunks(2).enumerate() {
        let key = record[0];
        let value = record.get(1).copied().filter(|v| !v.is_empty());
        // Every third record is in a transactional batch of one of four producers, and
        // every fifth is followed by a marker of one of them (commit or abort), as a
        // partition with transactional offsets replays.
        let producer_id = (i % 4) as i64;
        let replayed = if i % 3 == 1 {
            shard.replay_transactional(producer_id, key, value, now_ms)
        } else {
            shard.replay(key, value, now_ms)
        };
        // A record that does not decode fails the load; the shard is discarded then, so
        // the rest of the input is not replayed either.
        if replayed.is_err() {
            return;
        }
        if i % 5 == 4 {
            shard.complete_transaction(producer_id, i % 2 == 0, now_ms);
        }
    }
    shard.load_complete(now_ms);
    let _ = shard.take_output();
});

fn decode_everything(buf: &[u8]) {
    if let Ok(Some(key)) = RecordKey::decode(buf) {
        let _ = key.record_type();
        let _ = key.group();
        assert_eq!(RecordKey::decode(&key.encode()), Ok(Some(key)));
    }
    macro_rules! value_round_trip {
        ($($schema:ty),* $(,)?) => {$(
            if let Ok(value) = <$schema>::decode(buf) {
                assert_eq!(
                    <$schema>::decode(&value.encode()).as_ref(),
                    Ok(&value),
                    "{} re-encoded", stringify!($schema)
                );
            }
        )*};
    }
    value_round_trip!(
        OffsetCommitValue,
        GroupMetadataValue,
        ConsumerGroupMetadataValue,
        ConsumerGroupPartitionMetadataValue,
        ConsumerGroupMemberMetadataValue,
        ConsumerGroupTargetAssignmentMetadataValue,
        ConsumerGroupTargetAssignmentMemberValue,
        ConsumerGroupCurrentMemberAssignmentValue,
    );
}
