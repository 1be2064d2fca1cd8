//! Every topic configuration key Strom accepts, with the broker configurations that supply its
//! default (Kafka's `ServerTopicConfigSynonyms`, in the same order of precedence).
//!
//! A topic's value is its own override if it has one, else the first synonym that has a value
//! (set in server.properties, else its default), converted to the topic's unit: `log.roll.hours`
//! becomes milliseconds for `segment.ms`. Types and ranges are Kafka 4.x's `LogConfig`.

use crate::broker_defs::{CLEANUP_POLICIES, COMPRESSION_TYPES, TIMESTAMP_TYPES};
use crate::def::{ConfigDef, ConfigType::*, Conversion, Synonym, Validity::*};

const LONG_MAX: &str = "9223372036854775807";

const fn same(name: &'static str) -> Synonym {
    Synonym {
        name,
        conversion: Conversion::Identity,
    }
}

const fn minutes(name: &'static str) -> Synonym {
    Synonym {
        name,
        conversion: Conversion::MinutesToMillis,
    }
}

const fn hours(name: &'static str) -> Synonym {
    Synonym {
        name,
        conversion: Conversion::HoursToMillis,
    }
}

/// Every topic configuration key, alphabetically, as Kafka documents them.
#[rustfmt::skip]
pub static TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef::new("cleanup.policy", List, Some("delete"), ListOf(CLEANUP_POLICIES), "", true,
        "What happens to old segments: delete, compact, or both.")
        .with_synonyms(&[same("log.cleanup.policy")]),
    ConfigDef::new("compression.type", String, Some("producer"), OneOf(COMPRESSION_TYPES), "", true,
        "Compression of stored batches; producer keeps what the producer sent.")
        .with_synonyms(&[same("compression.type")]),
    ConfigDef::new("delete.retention.ms", Long, Some("86400000"), AtLeast(0), "ms", true,
        "How long tombstones stay in a compacted topic.")
        .with_synonyms(&[same("log.cleaner.delete.retention.ms")]),
    ConfigDef::new("file.delete.delay.ms", Long, Some("60000"), AtLeast(0), "ms", false,
        "Wait this long before removing a deleted segment's files.")
        .with_synonyms(&[same("log.segment.delete.delay.ms")]),
    ConfigDef::new("flush.messages", Long, Some(LONG_MAX), AtLeast(1), "messages", true,
        "fsync the partition after this many messages; the default never forces a flush.")
        .with_synonyms(&[same("log.flush.interval.messages")]),
    ConfigDef::new("flush.ms", Long, Some(LONG_MAX), AtLeast(0), "ms", true,
        "fsync the partition when its oldest unflushed message is this old; the default never forces a flush.")
        .with_synonyms(&[same("log.flush.interval.ms"), same("log.flush.scheduler.interval.ms")]),
    ConfigDef::new("follower.replication.throttled.replicas", List, Some(""), ThrottledReplicas, "", true,
        "Replicas whose replication the follower throttles to follower.replication.throttled.rate while they are out of the ISR, as partition:broker,... or * for all (set by partition reassignments)."),
    ConfigDef::new("index.interval.bytes", Int, Some("4096"), AtLeast(0), "bytes", true,
        "Bytes of log between two offset index entries.")
        .with_synonyms(&[same("log.index.interval.bytes")]),
    ConfigDef::new("leader.replication.throttled.replicas", List, Some(""), ThrottledReplicas, "", true,
        "Replicas whose replication the leader throttles to leader.replication.throttled.rate while they are out of the ISR, as partition:broker,... or * for all (set by partition reassignments)."),
    ConfigDef::new("max.compaction.lag.ms", Long, Some(LONG_MAX), AtLeast(1), "ms", true,
        "Oldest a message may get before it must be eligible for compaction.")
        .with_synonyms(&[same("log.cleaner.max.compaction.lag.ms")]),
    ConfigDef::new("max.message.bytes", Int, Some("1048588"), AtLeast(0), "bytes", true,
        "Largest record batch the topic accepts.")
        .with_synonyms(&[same("message.max.bytes")]),
    ConfigDef::new("message.timestamp.after.max.ms", Long, Some("3600000"), AtLeast(0), "ms", true,
        "With CreateTime, a record whose timestamp is further than this in the future fails its produce with INVALID_TIMESTAMP (compressed batches: their first and largest timestamps are checked).")
        .with_synonyms(&[same("log.message.timestamp.after.max.ms")]),
    ConfigDef::new("message.timestamp.before.max.ms", Long, Some(LONG_MAX), AtLeast(0), "ms", true,
        "With CreateTime, a record whose timestamp is further than this in the past fails its produce with INVALID_TIMESTAMP (compressed batches: their first and largest timestamps are checked).")
        .with_synonyms(&[same("log.message.timestamp.before.max.ms")]),
    ConfigDef::new("message.timestamp.type", String, Some("CreateTime"), OneOf(TIMESTAMP_TYPES), "", true,
        "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).")
        .with_synonyms(&[same("log.message.timestamp.type")]),
    ConfigDef::new("min.cleanable.dirty.ratio", Double, Some("0.5"), Between(0.0, 1.0), "", true,
        "Dirty ratio above which the topic is compacted.")
        .with_synonyms(&[same("log.cleaner.min.cleanable.ratio")]),
    ConfigDef::new("min.compaction.lag.ms", Long, Some("0"), AtLeast(0), "ms", true,
        "Youngest a message may be and still be compacted.")
        .with_synonyms(&[same("log.cleaner.min.compaction.lag.ms")]),
    ConfigDef::new("min.insync.replicas", Int, Some("1"), AtLeast(1), "replicas", true,
        "Replicas that must have a write before acks=all succeeds.")
        .with_synonyms(&[same("min.insync.replicas")]),
    ConfigDef::new("preallocate", Boolean, Some("false"), Any, "", false,
        "Preallocate segment files at their full size.")
        .with_synonyms(&[same("log.preallocate")]),
    ConfigDef::new("retention.bytes", Long, Some("-1"), Any, "bytes", true,
        "Delete old segments while a partition is larger than this; -1 means no size limit.")
        .with_synonyms(&[same("log.retention.bytes")]),
    ConfigDef::new("retention.ms", Long, Some("604800000"), AtLeast(-1), "ms", true,
        "Delete segments older than this; -1 keeps them forever.")
        .with_synonyms(&[same("log.retention.ms"), minutes("log.retention.minutes"), hours("log.retention.hours")]),
    ConfigDef::new("segment.bytes", Int, Some("1073741824"), AtLeast(1_048_576), "bytes", true,
        "Largest size of one log segment file.")
        .with_synonyms(&[same("log.segment.bytes")]),
    ConfigDef::new("segment.index.bytes", Int, Some("10485760"), AtLeast(4), "bytes", true,
        "Largest size of an offset or time index file.")
        .with_synonyms(&[same("log.index.size.max.bytes")]),
    ConfigDef::new("segment.jitter.ms", Long, Some("0"), AtLeast(0), "ms", true,
        "Most random jitter subtracted from segment.ms, so segments of many partitions do not roll at once.")
        .with_synonyms(&[same("log.roll.jitter.ms"), hours("log.roll.jitter.hours")]),
    ConfigDef::new("segment.ms", Long, Some("604800000"), AtLeast(1), "ms", true,
        "Roll a new segment after this long even if it is not full.")
        .with_synonyms(&[same("log.roll.ms"), hours("log.roll.hours")]),
    ConfigDef::new("unclean.leader.election.enable", Boolean, Some("false"), Any, "", true,
        "Allow a replica outside the ISR to become leader when no ISR member is alive, losing the records it lacks; setting it to true elects such leaders at once.")
        .with_synonyms(&[same("unclean.leader.election.enable")]),
];
