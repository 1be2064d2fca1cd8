//! The record schemas of `__consumer_offsets`, byte for byte as Kafka writes
//! them (apache/kafka `group-coordinator/src/main/resources/common/message/`).
//!
//! Every record of the topic has a non-null key and a value; a null value is
//! a tombstone, which the caller handles (it never reaches this module).
//!
//! # Primitive encodings
//!
//! All integers are big-endian two's complement.
//!
//! | type              | non-flexible versions                  | flexible versions (KIP-482)                     |
//! |-------------------|----------------------------------------|-------------------------------------------------|
//! | `string`          | int16 length, then UTF-8 bytes         | unsigned varint `length + 1`, then UTF-8 bytes  |
//! | `nullable string` | as `string`; length `-1` = null        | as `string`; varint `0` = null                  |
//! | `bytes`           | int32 length, then the bytes           | unsigned varint `length + 1`, then the bytes    |
//! | `[T]` (array)     | int32 count, then the elements         | unsigned varint `count + 1`, then the elements  |
//! | `uuid`            | 16 bytes (most significant first)      | same                                            |
//! | tagged fields     | absent                                 | see below                                       |
//!
//! In flexible versions every struct (the top-level value and each array
//! element of struct type) ends with a *tagged-field section*: an unsigned
//! varint count, then per field an unsigned varint tag, an unsigned varint
//! size, and `size` bytes. Decoding skips tags it does not know, so records
//! written by a newer broker that only added tagged fields still load.
//! A nullable struct in a tagged field (e.g. `ClassicMemberMetadata`) is
//! written, inside its `size` bytes, as an unsigned varint `1` followed by the
//! struct (a `0` there means null), exactly as Kafka's generator does.
//!
//! Unsigned varints are little-endian base-128 (7 bits a byte, high bit set
//! on every byte but the last), at most 5 bytes, and must fit in 32 bits.
//!
//! # Keys
//!
//! A key is an int16 *key version*, which is really the record type, then
//! the key's fields, always non-flexible (int16-length strings):
//!
//! | type | schema                                        | fields                              |
//! |------|-----------------------------------------------|-------------------------------------|
//! | 0, 1 | `LegacyOffsetCommitKey`, `OffsetCommitKey`    | group, topic: string; partition: int32 |
//! | 2    | `GroupMetadataKey`                            | group: string                       |
//! | 3    | `ConsumerGroupMetadataKey`                    | groupId: string                     |
//! | 4    | `ConsumerGroupPartitionMetadataKey`           | groupId: string                     |
//! | 5    | `ConsumerGroupMemberMetadataKey`              | groupId, memberId: string           |
//! | 6    | `ConsumerGroupTargetAssignmentMetadataKey`    | groupId: string                     |
//! | 7    | `ConsumerGroupTargetAssignmentMemberKey`      | groupId, memberId: string           |
//! | 8    | `ConsumerGroupCurrentMemberAssignmentKey`     | groupId, memberId: string           |
//!
//! Offset commits are written with type 1. Any other type (share groups,
//! streams groups, regular expressions, future records) decodes as
//! `Ok(None)`: replay skips it, as Kafka skips record types it does not know.
//!
//! # Values
//!
//! A value is an int16 version followed by the fields of that version; the
//! layout of each is documented on its type. Versions a schema does not
//! define are an error ([`RecordError::UnsupportedVersion`]), as in Kafka.
//! Bytes after the last field are ignored, as Kafka's readers ignore them.
//!
//! # Robustness
//!
//! Decoding never panics: every read is bounded by the bytes remaining, array
//! counts are checked against the bytes remaining before anything is
//! allocated, negative lengths other than `-1` (null, where the field is
//! nullable) are errors, and strings must be valid UTF-8 of at most
//! [`MAX_STRING_LEN`] bytes (Kafka's limit for every string, even compact
//! ones).
//!
//! Encoding cannot fail. A string longer than [`MAX_STRING_LEN`] bytes cannot
//! be represented in these schemas; the encoders truncate it (at a character
//! boundary) rather than write a corrupt length, so callers must reject such
//! strings before building records, as Kafka rejects them on the wire.
//!
//! # Layout
//!
//! One file per record family: `key` (every key type), `offset_commit`,
//! `group_metadata` (classic groups) and `consumer_group` (KIP-848 groups). The reader
//! and writer are the crate's `wire` module, shared with the consumer protocol.

mod consumer_group;
mod group_metadata;
mod key;
mod offset_commit;

pub use consumer_group::*;
pub use group_metadata::*;
pub use key::*;
pub use offset_commit::*;

pub use crate::wire::MAX_STRING_LEN;

/// The reader of these schemas, whose errors are [`RecordError`]s.
pub(crate) type Reader<'a> = crate::wire::Reader<'a, RecordError>;
pub(crate) use crate::wire::Writer;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a record key or value could not be decoded.
///
/// `record` is the Kafka schema name (e.g. `OffsetCommitValue`), `version` the
/// record version (for keys, the record type), `field` the Kafka field name,
/// with the enclosing array for nested fields (e.g. `members.clientId`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The buffer is shorter than the 2-byte version/type prefix.
    #[error("{record}: truncated at field version")]
    MissingVersion { record: &'static str },
    /// The schema does not define this version.
    #[error("{record}: unsupported version {version}")]
    UnsupportedVersion { record: &'static str, version: i16 },
    /// The buffer ended inside a field.
    #[error("{record} v{version}: truncated at field {field}")]
    Truncated {
        record: &'static str,
        version: i16,
        field: &'static str,
    },
    /// A length or count is negative (other than null), longer than the bytes
    /// remaining, or longer than the type allows.
    #[error("{record} v{version}: invalid length {length} at field {field}")]
    InvalidLength {
        record: &'static str,
        version: i16,
        field: &'static str,
        length: i64,
    },
    /// A non-nullable field was encoded as null.
    #[error("{record} v{version}: field {field} is null but not nullable")]
    UnexpectedNull {
        record: &'static str,
        version: i16,
        field: &'static str,
    },
    /// A string is not valid UTF-8.
    #[error("{record} v{version}: field {field} is not valid UTF-8")]
    InvalidUtf8 {
        record: &'static str,
        version: i16,
        field: &'static str,
    },
    /// An unsigned varint is longer than 5 bytes or does not fit in 32 bits.
    #[error("{record} v{version}: malformed unsigned varint at field {field}")]
    InvalidVarint {
        record: &'static str,
        version: i16,
        field: &'static str,
    },
}

impl crate::wire::DecodeError for RecordError {
    fn truncated(record: &'static str, version: i16, field: &'static str) -> Self {
        RecordError::Truncated {
            record,
            version,
            field,
        }
    }

    fn invalid_length(
        record: &'static str,
        version: i16,
        field: &'static str,
        length: i64,
    ) -> Self {
        RecordError::InvalidLength {
            record,
            version,
            field,
            length,
        }
    }

    fn unexpected_null(record: &'static str, version: i16, field: &'static str) -> Self {
        RecordError::UnexpectedNull {
            record,
            version,
            field,
        }
    }

    fn invalid_utf8(record: &'static str, version: i16, field: &'static str) -> Self {
        RecordError::InvalidUtf8 {
            record,
            version,
            field,
        }
    }

    fn invalid_varint(record: &'static str, version: i16, field: &'static str) -> Self {
        RecordError::InvalidVarint {
            record,
            version,
            field,
        }
    }
}

/// Splits the int16 version prefix off a record.
/// Reads the version of a value record, refuses one above `max_version`, and
/// returns a reader over its fields (flexible, with tagged fields, from
/// `flexible_from`).
pub(crate) fn versioned_reader<'a>(
    buf: &'a [u8],
    record: &'static str,
    max_version: i16,
    flexible_from: i16,
) -> Result<Reader<'a>, RecordError> {
    let (version, rest) = split_version(buf, record)?;
    if !(0..=max_version).contains(&version) {
        return Err(RecordError::UnsupportedVersion { record, version });
    }
    Ok(Reader::new(rest, record, version, version >= flexible_from))
}

pub(crate) fn split_version<'a>(
    buf: &'a [u8],
    record: &'static str,
) -> Result<(i16, &'a [u8]), RecordError> {
    match buf {
        [hi, lo, rest @ ..] => Ok((i16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(RecordError::MissingVersion { record }),
    }
}

#[cfg(test)]
mod tests;
