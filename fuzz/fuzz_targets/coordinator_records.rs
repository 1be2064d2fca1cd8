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
//! decoder on its own.
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
    for record in pieces.chunks(2) {
        let key = record[0];
        let value = record.get(1).copied().filter(|v| !v.is_empty());
        // A record that does not decode fails the load; the shard is discarded then, so
        // the rest of the input is not replayed either.
        if shard.replay(key, value, now_ms).is_err() {
            return;
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
