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

use bytes::Bytes;
use uuid::Uuid;

/// The longest string, in bytes, that a record can hold (Kafka's int16 limit,
/// applied by Kafka to compact strings too).
pub const MAX_STRING_LEN: usize = i16::MAX as usize;

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

// ---------------------------------------------------------------------------
// Reader / writer
// ---------------------------------------------------------------------------

/// Splits the int16 version prefix off a record.
fn split_version<'a>(buf: &'a [u8], record: &'static str) -> Result<(i16, &'a [u8]), RecordError> {
    match buf {
        [hi, lo, rest @ ..] => Ok((i16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(RecordError::MissingVersion { record }),
    }
}

/// A bounds-checked cursor over one record, in non-flexible or flexible mode.
struct Reader<'a> {
    buf: &'a [u8],
    record: &'static str,
    version: i16,
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], record: &'static str, version: i16, flexible: bool) -> Self {
        Reader {
            buf,
            record,
            version,
            flexible,
        }
    }

    /// A reader over a nested slice (a tagged field's bytes), same context.
    fn sub(&self, buf: &'a [u8]) -> Reader<'a> {
        Reader::new(buf, self.record, self.version, self.flexible)
    }

    fn truncated(&self, field: &'static str) -> RecordError {
        RecordError::Truncated {
            record: self.record,
            version: self.version,
            field,
        }
    }

    fn invalid_length(&self, field: &'static str, length: i64) -> RecordError {
        RecordError::InvalidLength {
            record: self.record,
            version: self.version,
            field,
            length,
        }
    }

    fn unexpected_null(&self, field: &'static str) -> RecordError {
        RecordError::UnexpectedNull {
            record: self.record,
            version: self.version,
            field,
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if n > self.buf.len() {
            return Err(self.truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let s = self.take(N, field)?;
        <[u8; N]>::try_from(s).map_err(|_| self.truncated(field))
    }

    fn i8(&mut self, field: &'static str) -> Result<i8, RecordError> {
        Ok(i8::from_be_bytes(self.fixed(field)?))
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.fixed(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.fixed(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.fixed(field)?))
    }

    fn uuid(&mut self, field: &'static str) -> Result<Uuid, RecordError> {
        Ok(Uuid::from_bytes(self.fixed(field)?))
    }

    fn uvarint(&mut self, field: &'static str) -> Result<u32, RecordError> {
        let mut value: u32 = 0;
        for i in 0..5u32 {
            let [b] = self.fixed::<1>(field)?;
            let part = u32::from(b & 0x7f);
            if i == 4 && part > 0x0f {
                break;
            }
            value |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::InvalidVarint {
            record: self.record,
            version: self.version,
            field,
        })
    }

    /// The length prefix of a string: `None` for null.
    fn string_len(&mut self, field: &'static str) -> Result<Option<usize>, RecordError> {
        let len = if self.flexible {
            match self.uvarint(field)? {
                0 => return Ok(None),
                n => u64::from(n - 1),
            }
        } else {
            match self.i16(field)? {
                -1 => return Ok(None),
                n if n < 0 => return Err(self.invalid_length(field, i64::from(n))),
                n => n as u64,
            }
        };
        if len > MAX_STRING_LEN as u64 {
            return Err(self.invalid_length(field, len as i64));
        }
        Ok(Some(len as usize))
    }

    /// The length prefix of bytes or of an array: `None` for null.
    fn long_len(&mut self, field: &'static str) -> Result<Option<usize>, RecordError> {
        if self.flexible {
            match self.uvarint(field)? {
                0 => Ok(None),
                n => Ok(Some((n - 1) as usize)),
            }
        } else {
            match self.i32(field)? {
                -1 => Ok(None),
                n if n < 0 => Err(self.invalid_length(field, i64::from(n))),
                n => Ok(Some(n as usize)),
            }
        }
    }

    fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let Some(len) = self.string_len(field)? else {
            return Ok(None);
        };
        let raw = self.take(len, field)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(RecordError::InvalidUtf8 {
                record: self.record,
                version: self.version,
                field,
            }),
        }
    }

    fn string(&mut self, field: &'static str) -> Result<String, RecordError> {
        match self.nullable_string(field)? {
            Some(s) => Ok(s),
            None => Err(self.unexpected_null(field)),
        }
    }

    fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordError> {
        match self.long_len(field)? {
            Some(len) => Ok(Bytes::copy_from_slice(self.take(len, field)?)),
            None => Err(self.unexpected_null(field)),
        }
    }

    /// The count of a non-nullable array whose elements take at least
    /// `min_elem` bytes each; a count the remaining bytes cannot hold is an
    /// error, so callers may allocate `count` elements up front.
    fn array_len(&mut self, field: &'static str, min_elem: usize) -> Result<usize, RecordError> {
        let Some(n) = self.long_len(field)? else {
            return Err(self.unexpected_null(field));
        };
        if n.saturating_mul(min_elem.max(1)) > self.buf.len() {
            return Err(self.invalid_length(field, n as i64));
        }
        Ok(n)
    }

    fn i32_array(&mut self, field: &'static str) -> Result<Vec<i32>, RecordError> {
        let n = self.array_len(field, 4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.i32(field)?);
        }
        Ok(out)
    }

    fn string_array(&mut self, field: &'static str) -> Result<Vec<String>, RecordError> {
        let min = if self.flexible { 1 } else { 2 };
        let n = self.array_len(field, min)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.string(field)?);
        }
        Ok(out)
    }

    fn struct_array<T>(
        &mut self,
        field: &'static str,
        min_elem: usize,
        mut read: impl FnMut(&mut Self) -> Result<T, RecordError>,
    ) -> Result<Vec<T>, RecordError> {
        let n = self.array_len(field, min_elem)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(read(self)?);
        }
        Ok(out)
    }

    /// Reads the tagged-field section (flexible versions only), handing each
    /// field's tag and bytes to `known`; unknown tags are for `known` to
    /// ignore. A no-op in non-flexible versions.
    fn tagged_fields(
        &mut self,
        field: &'static str,
        mut known: impl FnMut(&Self, u32, &'a [u8]) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint(field)?;
        // Each field takes at least two bytes, so a bogus count runs out of
        // input (and errors) after at most len/2 iterations.
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            let data = self.take(size, field)?;
            known(self, tag, data)?;
        }
        Ok(())
    }

    fn skip_tagged_fields(&mut self, field: &'static str) -> Result<(), RecordError> {
        self.tagged_fields(field, |_, _, _| Ok(()))
    }
}

/// Truncates `s` to at most `max` bytes at a character boundary.
fn clamp_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Builds one record, in non-flexible or flexible mode.
struct Writer {
    buf: Vec<u8>,
    flexible: bool,
}

impl Writer {
    fn new(version: i16, flexible: bool) -> Self {
        let mut w = Writer {
            buf: Vec::with_capacity(64),
            flexible,
        };
        w.i16(version);
        w
    }

    /// A writer for a nested part (a tagged field's bytes), no version prefix.
    fn nested(flexible: bool) -> Self {
        Writer {
            buf: Vec::new(),
            flexible,
        }
    }

    fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn uuid(&mut self, v: &Uuid) {
        self.buf.extend_from_slice(v.as_bytes());
    }

    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            None if self.flexible => self.uvarint(0),
            None => self.i16(-1),
            Some(s) => {
                let s = clamp_str(s, MAX_STRING_LEN);
                if self.flexible {
                    self.uvarint(s.len() as u32 + 1);
                } else {
                    self.i16(s.len() as i16);
                }
                self.buf.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn string(&mut self, s: &str) {
        self.nullable_string(Some(s));
    }

    /// Writes an array or bytes length and returns how many elements/bytes
    /// may follow (the length clamped to what the prefix can express).
    fn long_len(&mut self, n: usize) -> usize {
        if self.flexible {
            let n = n.min(u32::MAX as usize - 1);
            self.uvarint(n as u32 + 1);
            n
        } else {
            let n = n.min(i32::MAX as usize);
            self.i32(n as i32);
            n
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        let n = self.long_len(b.len());
        self.buf.extend_from_slice(b.get(..n).unwrap_or(b));
    }

    fn i32_array(&mut self, v: &[i32]) {
        let n = self.long_len(v.len());
        for x in v.iter().take(n) {
            self.i32(*x);
        }
    }

    fn string_array(&mut self, v: &[String]) {
        let n = self.long_len(v.len());
        for s in v.iter().take(n) {
            self.string(s);
        }
    }

    fn struct_array<T>(&mut self, v: &[T], mut write: impl FnMut(&mut Self, &T)) {
        let n = self.long_len(v.len());
        for x in v.iter().take(n) {
            write(self, x);
        }
    }

    /// Writes a tagged-field section (flexible versions only); `fields` must
    /// be in ascending tag order.
    fn tagged_fields(&mut self, fields: &[(u32, Vec<u8>)]) {
        if !self.flexible {
            return;
        }
        self.uvarint(fields.len() as u32);
        for (tag, data) in fields {
            self.uvarint(*tag);
            self.uvarint(data.len() as u32);
            self.buf.extend_from_slice(data);
        }
    }

    /// Writes an empty tagged-field section (flexible versions only).
    fn no_tagged_fields(&mut self) {
        self.tagged_fields(&[]);
    }

    fn finish(self) -> Vec<u8> {
        self.buf
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// Record type of `LegacyOffsetCommitKey` (read only).
pub const LEGACY_OFFSET_COMMIT_KEY: i16 = 0;
/// Record type of `OffsetCommitKey`.
pub const OFFSET_COMMIT_KEY: i16 = 1;
/// Record type of `GroupMetadataKey`.
pub const GROUP_METADATA_KEY: i16 = 2;
/// Record type of `ConsumerGroupMetadataKey`.
pub const CONSUMER_GROUP_METADATA_KEY: i16 = 3;
/// Record type of `ConsumerGroupPartitionMetadataKey`.
pub const CONSUMER_GROUP_PARTITION_METADATA_KEY: i16 = 4;
/// Record type of `ConsumerGroupMemberMetadataKey`.
pub const CONSUMER_GROUP_MEMBER_METADATA_KEY: i16 = 5;
/// Record type of `ConsumerGroupTargetAssignmentMetadataKey`.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY: i16 = 6;
/// Record type of `ConsumerGroupTargetAssignmentMemberKey`.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY: i16 = 7;
/// Record type of `ConsumerGroupCurrentMemberAssignmentKey`.
pub const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY: i16 = 8;

/// The key of a `__consumer_offsets` record: an int16 record type, then the
/// key's fields as int16-length strings and big-endian integers (see the
/// module documentation for the table of types).
///
/// ```text
/// OffsetCommit:        int16 1 | string group | string topic | int32 partition
/// GroupMetadata:       int16 2 | string group
/// ConsumerGroup* (3..=8): int16 type | string groupId [| string memberId for 5, 7, 8]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKey {
    /// Types 0 and 1: the committed offset of one partition for a group.
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Type 2: a classic group's metadata (value: [`GroupMetadataValue`]).
    GroupMetadata { group: String },
    /// Type 3: value [`ConsumerGroupMetadataValue`].
    ConsumerGroupMetadata { group: String },
    /// Type 4: value [`ConsumerGroupPartitionMetadataValue`].
    ConsumerGroupPartitionMetadata { group: String },
    /// Type 5: value [`ConsumerGroupMemberMetadataValue`].
    ConsumerGroupMemberMetadata { group: String, member_id: String },
    /// Type 6: value [`ConsumerGroupTargetAssignmentMetadataValue`].
    ConsumerGroupTargetAssignmentMetadata { group: String },
    /// Type 7: value [`ConsumerGroupTargetAssignmentMemberValue`].
    ConsumerGroupTargetAssignmentMember { group: String, member_id: String },
    /// Type 8: value [`ConsumerGroupCurrentMemberAssignmentValue`].
    ConsumerGroupCurrentMemberAssignment { group: String, member_id: String },
}

impl RecordKey {
    /// The record type this key is written with (offset commits: 1).
    pub fn record_type(&self) -> i16 {
        match self {
            RecordKey::OffsetCommit { .. } => OFFSET_COMMIT_KEY,
            RecordKey::GroupMetadata { .. } => GROUP_METADATA_KEY,
            RecordKey::ConsumerGroupMetadata { .. } => CONSUMER_GROUP_METADATA_KEY,
            RecordKey::ConsumerGroupPartitionMetadata { .. } => {
                CONSUMER_GROUP_PARTITION_METADATA_KEY
            }
            RecordKey::ConsumerGroupMemberMetadata { .. } => CONSUMER_GROUP_MEMBER_METADATA_KEY,
            RecordKey::ConsumerGroupTargetAssignmentMetadata { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY
            }
            RecordKey::ConsumerGroupCurrentMemberAssignment { .. } => {
                CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY
            }
        }
    }

    /// The group this record belongs to.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::OffsetCommit { group, .. }
            | RecordKey::GroupMetadata { group }
            | RecordKey::ConsumerGroupMetadata { group }
            | RecordKey::ConsumerGroupPartitionMetadata { group }
            | RecordKey::ConsumerGroupMemberMetadata { group, .. }
            | RecordKey::ConsumerGroupTargetAssignmentMetadata { group }
            | RecordKey::ConsumerGroupTargetAssignmentMember { group, .. }
            | RecordKey::ConsumerGroupCurrentMemberAssignment { group, .. } => group,
        }
    }

    /// Encodes the key (non-flexible; offset commits as type 1).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(self.record_type(), false);
        match self {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                w.string(group);
                w.string(topic);
                w.i32(*partition);
            }
            RecordKey::GroupMetadata { group }
            | RecordKey::ConsumerGroupMetadata { group }
            | RecordKey::ConsumerGroupPartitionMetadata { group }
            | RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => w.string(group),
            RecordKey::ConsumerGroupMemberMetadata { group, member_id }
            | RecordKey::ConsumerGroupTargetAssignmentMember { group, member_id }
            | RecordKey::ConsumerGroupCurrentMemberAssignment { group, member_id } => {
                w.string(group);
                w.string(member_id);
            }
        }
        w.finish()
    }

    /// Decodes a key. `Ok(None)` means a record type this module does not
    /// know (share groups, streams groups, future types): skip the record.
    pub fn decode(buf: &[u8]) -> Result<Option<RecordKey>, RecordError> {
        let (ty, rest) = split_version(buf, "record key")?;
        let record = match ty {
            LEGACY_OFFSET_COMMIT_KEY => "LegacyOffsetCommitKey",
            OFFSET_COMMIT_KEY => "OffsetCommitKey",
            GROUP_METADATA_KEY => "GroupMetadataKey",
            CONSUMER_GROUP_METADATA_KEY => "ConsumerGroupMetadataKey",
            CONSUMER_GROUP_PARTITION_METADATA_KEY => "ConsumerGroupPartitionMetadataKey",
            CONSUMER_GROUP_MEMBER_METADATA_KEY => "ConsumerGroupMemberMetadataKey",
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY => {
                "ConsumerGroupTargetAssignmentMetadataKey"
            }
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY => "ConsumerGroupTargetAssignmentMemberKey",
            CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY => {
                "ConsumerGroupCurrentMemberAssignmentKey"
            }
            _ => return Ok(None),
        };
        let mut r = Reader::new(rest, record, ty, false);
        let key = match ty {
            LEGACY_OFFSET_COMMIT_KEY | OFFSET_COMMIT_KEY => RecordKey::OffsetCommit {
                group: r.string("group")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
            },
            GROUP_METADATA_KEY => RecordKey::GroupMetadata {
                group: r.string("group")?,
            },
            CONSUMER_GROUP_METADATA_KEY => RecordKey::ConsumerGroupMetadata {
                group: r.string("groupId")?,
            },
            CONSUMER_GROUP_PARTITION_METADATA_KEY => RecordKey::ConsumerGroupPartitionMetadata {
                group: r.string("groupId")?,
            },
            CONSUMER_GROUP_MEMBER_METADATA_KEY => RecordKey::ConsumerGroupMemberMetadata {
                group: r.string("groupId")?,
                member_id: r.string("memberId")?,
            },
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY => {
                RecordKey::ConsumerGroupTargetAssignmentMetadata {
                    group: r.string("groupId")?,
                }
            }
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY => {
                RecordKey::ConsumerGroupTargetAssignmentMember {
                    group: r.string("groupId")?,
                    member_id: r.string("memberId")?,
                }
            }
            _ => RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: r.string("groupId")?,
                member_id: r.string("memberId")?,
            },
        };
        Ok(Some(key))
    }
}

// ---------------------------------------------------------------------------
// OffsetCommitValue
// ---------------------------------------------------------------------------

/// `OffsetCommitValue` (versions 0-4, flexible from 4).
///
/// ```text
/// int16  version
/// int64  offset
/// int32  leaderEpoch        v3+    (older versions: -1)
/// string metadata
/// int64  commitTimestamp
/// int64  expireTimestamp    v1 only (other versions: -1)
/// tagged fields             v4+    (none known; skipped)
/// ```
///
/// [`encode`](Self::encode) writes version 3, or version 1 when
/// `expire_timestamp != -1` (version 1 has no leader epoch, so it is lost,
/// as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: i64,
}

impl OffsetCommitValue {
    const RECORD: &'static str = "OffsetCommitValue";

    /// Encodes as version 3 (version 1 if an expire timestamp is set).
    pub fn encode(&self) -> Vec<u8> {
        let version = if self.expire_timestamp != -1 { 1 } else { 3 };
        self.encode_version(version)
    }

    /// Encodes at `version` (clamped to 0..=4).
    fn encode_version(&self, version: i16) -> Vec<u8> {
        let version = version.clamp(0, 4);
        let mut w = Writer::new(version, version >= 4);
        w.i64(self.offset);
        if version >= 3 {
            w.i32(self.leader_epoch);
        }
        w.string(&self.metadata);
        w.i64(self.commit_timestamp);
        if version == 1 {
            w.i64(self.expire_timestamp);
        }
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes any version 0-4.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let (version, rest) = split_version(buf, Self::RECORD)?;
        if !(0..=4).contains(&version) {
            return Err(RecordError::UnsupportedVersion {
                record: Self::RECORD,
                version,
            });
        }
        let mut r = Reader::new(rest, Self::RECORD, version, version >= 4);
        let offset = r.i64("offset")?;
        let leader_epoch = if version >= 3 {
            r.i32("leaderEpoch")?
        } else {
            -1
        };
        let metadata = r.string("metadata")?;
        let commit_timestamp = r.i64("commitTimestamp")?;
        let expire_timestamp = if version == 1 {
            r.i64("expireTimestamp")?
        } else {
            -1
        };
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}

// ---------------------------------------------------------------------------
// GroupMetadataValue
// ---------------------------------------------------------------------------

/// `GroupMetadataValue` (versions 0-4, flexible from 4): a classic group.
///
/// ```text
/// int16            version
/// string           protocolType
/// int32            generation
/// nullable string  protocol
/// nullable string  leader
/// int64            currentStateTimestamp   v2+ (older versions: -1)
/// [MemberMetadata] members
/// tagged fields                            v4+ (none known; skipped)
/// ```
///
/// [`encode`](Self::encode) writes version 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member of a [`GroupMetadataValue`].
///
/// ```text
/// string          memberId
/// nullable string groupInstanceId   v3+ (older versions: null)
/// string          clientId
/// string          clientHost
/// int32           rebalanceTimeout  v1+ (v0: the session timeout)
/// int32           sessionTimeout
/// bytes           subscription      (the JoinGroup protocol metadata)
/// bytes           assignment        (the SyncGroup assignment)
/// tagged fields                     v4+ (none known; skipped)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl GroupMetadataValue {
    const RECORD: &'static str = "GroupMetadataValue";

    /// Encodes as version 3.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_version(3)
    }

    /// Encodes at `version` (clamped to 0..=4).
    fn encode_version(&self, version: i16) -> Vec<u8> {
        let version = version.clamp(0, 4);
        let mut w = Writer::new(version, version >= 4);
        w.string(&self.protocol_type);
        w.i32(self.generation);
        w.nullable_string(self.protocol.as_deref());
        w.nullable_string(self.leader.as_deref());
        if version >= 2 {
            w.i64(self.current_state_timestamp);
        }
        w.struct_array(&self.members, |w, m| {
            w.string(&m.member_id);
            if version >= 3 {
                w.nullable_string(m.group_instance_id.as_deref());
            }
            w.string(&m.client_id);
            w.string(&m.client_host);
            if version >= 1 {
                w.i32(m.rebalance_timeout);
            }
            w.i32(m.session_timeout);
            w.bytes(&m.subscription);
            w.bytes(&m.assignment);
            w.no_tagged_fields();
        });
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes any version 0-4.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let (version, rest) = split_version(buf, Self::RECORD)?;
        if !(0..=4).contains(&version) {
            return Err(RecordError::UnsupportedVersion {
                record: Self::RECORD,
                version,
            });
        }
        let mut r = Reader::new(rest, Self::RECORD, version, version >= 4);
        let protocol_type = r.string("protocolType")?;
        let generation = r.i32("generation")?;
        let protocol = r.nullable_string("protocol")?;
        let leader = r.nullable_string("leader")?;
        let current_state_timestamp = if version >= 2 {
            r.i64("currentStateTimestamp")?
        } else {
            -1
        };
        // A lower bound on a member's size: 3 empty strings, the session
        // timeout, 2 empty byte strings (and, flexible, a tag count).
        let min_member = if version >= 4 {
            3 + 4 + 2 + 1
        } else {
            6 + 4 + 8
        };
        let members = r.struct_array("members", min_member, |r| {
            let member_id = r.string("members.memberId")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string("members.groupInstanceId")?
            } else {
                None
            };
            let client_id = r.string("members.clientId")?;
            let client_host = r.string("members.clientHost")?;
            let rebalance_timeout = if version >= 1 {
                Some(r.i32("members.rebalanceTimeout")?)
            } else {
                None
            };
            let session_timeout = r.i32("members.sessionTimeout")?;
            let subscription = r.bytes("members.subscription")?;
            let assignment = r.bytes("members.assignment")?;
            r.skip_tagged_fields("members._tagged_fields")?;
            Ok(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout: rebalance_timeout.unwrap_or(session_timeout),
                session_timeout,
                subscription,
                assignment,
            })
        })?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

// ---------------------------------------------------------------------------
// KIP-848 consumer group values (all: version 0, flexible)
// ---------------------------------------------------------------------------

/// Checks the version of a KIP-848 value (only version 0 exists) and returns
/// a flexible reader over its fields.
fn kip848_reader<'a>(buf: &'a [u8], record: &'static str) -> Result<Reader<'a>, RecordError> {
    let (version, rest) = split_version(buf, record)?;
    if version != 0 {
        return Err(RecordError::UnsupportedVersion { record, version });
    }
    Ok(Reader::new(rest, record, version, true))
}

/// A topic id and partitions, the element of several KIP-848 values.
///
/// ```text
/// uuid    topicId
/// [int32] partitions
/// tagged fields
/// ```
///
/// Note: Kafka trunk (KIP-1251) adds a tagged `AssignmentEpochs` (tag 0) to
/// the `TopicPartitions` of `ConsumerGroupCurrentMemberAssignmentValue`; it
/// is skipped on decode and never written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
}

/// Smallest flexible `TopicPartitions`: uuid, empty array, no tags.
const MIN_TOPIC_PARTITIONS: usize = 16 + 1 + 1;

fn read_topic_partitions(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<TopicPartitions>, RecordError> {
    r.struct_array(field, MIN_TOPIC_PARTITIONS, |r| {
        let topic_id = r.uuid(field)?;
        let partitions = r.i32_array(field)?;
        r.skip_tagged_fields(field)?;
        Ok(TopicPartitions {
            topic_id,
            partitions,
        })
    })
}

fn write_topic_partitions(w: &mut Writer, v: &[TopicPartitions]) {
    w.struct_array(v, |w, tp| {
        w.uuid(&tp.topic_id);
        w.i32_array(&tp.partitions);
        w.no_tagged_fields();
    });
}

/// `ConsumerGroupMetadataValue` (type 3; version 0, flexible).
///
/// ```text
/// int16  version (0)
/// int32  epoch
/// tagged fields:
///   tag 0: int64 metadataHash     (KIP-1101, Kafka 4.1; default 0, written when != 0)
///   tag 1: int64 creationTimeMs   (KIP-1282, Kafka trunk; default -1, written when != -1)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadataValue {
    /// The group epoch.
    pub epoch: i32,
    /// Hash of the metadata of all subscribed topics (0 = not computed).
    pub metadata_hash: i64,
    /// When the group was created, in ms since the epoch (-1 = unknown).
    pub creation_time_ms: i64,
}

impl Default for ConsumerGroupMetadataValue {
    fn default() -> Self {
        ConsumerGroupMetadataValue {
            epoch: 0,
            metadata_hash: 0,
            creation_time_ms: -1,
        }
    }
}

impl ConsumerGroupMetadataValue {
    const RECORD: &'static str = "ConsumerGroupMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.i32(self.epoch);
        let mut tags = Vec::new();
        if self.metadata_hash != 0 {
            tags.push((0, self.metadata_hash.to_be_bytes().to_vec()));
        }
        if self.creation_time_ms != -1 {
            tags.push((1, self.creation_time_ms.to_be_bytes().to_vec()));
        }
        w.tagged_fields(&tags);
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let mut value = ConsumerGroupMetadataValue {
            epoch: r.i32("epoch")?,
            ..Default::default()
        };
        r.tagged_fields("_tagged_fields", |r, tag, data| {
            match tag {
                0 => value.metadata_hash = r.sub(data).i64("metadataHash")?,
                1 => value.creation_time_ms = r.sub(data).i64("creationTimeMs")?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(value)
    }
}

/// One topic of a [`ConsumerGroupPartitionMetadataValue`].
///
/// ```text
/// uuid                topicId
/// string              topicName
/// int32               numPartitions
/// [PartitionMetadata] partitionMetadata   (deprecated by Kafka after 4.0; kept)
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic_id: Uuid,
    pub topic_name: String,
    pub num_partitions: i32,
    pub partition_metadata: Vec<PartitionMetadata>,
}

/// Racks of one partition, in a [`TopicMetadata`].
///
/// ```text
/// int32    partition
/// [string] racks
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub racks: Vec<String>,
}

/// `ConsumerGroupPartitionMetadataValue` (type 4; version 0, flexible): the
/// metadata of the topics the group subscribes to, as last seen. Kafka 4.1
/// (KIP-1101) stops writing it in favour of
/// [`ConsumerGroupMetadataValue::metadata_hash`] but still reads it.
///
/// ```text
/// int16           version (0)
/// [TopicMetadata] topics
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupPartitionMetadataValue {
    pub topics: Vec<TopicMetadata>,
}

impl ConsumerGroupPartitionMetadataValue {
    const RECORD: &'static str = "ConsumerGroupPartitionMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.struct_array(&self.topics, |w, t| {
            w.uuid(&t.topic_id);
            w.string(&t.topic_name);
            w.i32(t.num_partitions);
            w.struct_array(&t.partition_metadata, |w, p| {
                w.i32(p.partition);
                w.string_array(&p.racks);
                w.no_tagged_fields();
            });
            w.no_tagged_fields();
        });
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        // Smallest topic: uuid, empty name, int32, empty array, no tags.
        let topics = r.struct_array("topics", 16 + 1 + 4 + 1 + 1, |r| {
            let topic_id = r.uuid("topics.topicId")?;
            let topic_name = r.string("topics.topicName")?;
            let num_partitions = r.i32("topics.numPartitions")?;
            let partition_metadata =
                r.struct_array("topics.partitionMetadata", 4 + 1 + 1, |r| {
                    let partition = r.i32("topics.partitionMetadata.partition")?;
                    let racks = r.string_array("topics.partitionMetadata.racks")?;
                    r.skip_tagged_fields("topics.partitionMetadata._tagged_fields")?;
                    Ok(PartitionMetadata { partition, racks })
                })?;
            r.skip_tagged_fields("topics._tagged_fields")?;
            Ok(TopicMetadata {
                topic_id,
                topic_name,
                num_partitions,
                partition_metadata,
            })
        })?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupPartitionMetadataValue { topics })
    }
}

/// The classic-protocol part of a KIP-848 member that joined with the
/// classic protocol (JoinGroup/SyncGroup) into a consumer group.
///
/// ```text
/// int32             sessionTimeoutMs
/// [ClassicProtocol] supportedProtocols
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    pub supported_protocols: Vec<ClassicProtocol>,
}

/// One protocol a classic member supports.
///
/// ```text
/// string name
/// bytes  metadata
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicProtocol {
    pub name: String,
    pub metadata: Bytes,
}

/// `ConsumerGroupMemberMetadataValue` (type 5; version 0, flexible).
///
/// ```text
/// int16           version (0)
/// nullable string instanceId
/// nullable string rackId
/// string          clientId
/// string          clientHost
/// [string]        subscribedTopicNames
/// nullable string subscribedTopicRegex
/// int32           rebalanceTimeoutMs      (default -1)
/// nullable string serverAssignor
/// tagged fields:
///   tag 0: nullable ClassicMemberMetadata (written when Some, as varint 1 + struct)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    pub classic_member_metadata: Option<ClassicMemberMetadata>,
}

impl Default for ConsumerGroupMemberMetadataValue {
    fn default() -> Self {
        ConsumerGroupMemberMetadataValue {
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            rebalance_timeout_ms: -1,
            server_assignor: None,
            classic_member_metadata: None,
        }
    }
}

impl ConsumerGroupMemberMetadataValue {
    const RECORD: &'static str = "ConsumerGroupMemberMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.nullable_string(self.instance_id.as_deref());
        w.nullable_string(self.rack_id.as_deref());
        w.string(&self.client_id);
        w.string(&self.client_host);
        w.string_array(&self.subscribed_topic_names);
        w.nullable_string(self.subscribed_topic_regex.as_deref());
        w.i32(self.rebalance_timeout_ms);
        w.nullable_string(self.server_assignor.as_deref());
        let mut tags = Vec::new();
        if let Some(classic) = &self.classic_member_metadata {
            let mut t = Writer::nested(true);
            t.uvarint(1); // non-null marker of a tagged nullable struct
            t.i32(classic.session_timeout_ms);
            t.struct_array(&classic.supported_protocols, |w, p| {
                w.string(&p.name);
                w.bytes(&p.metadata);
                w.no_tagged_fields();
            });
            t.no_tagged_fields();
            tags.push((0, t.finish()));
        }
        w.tagged_fields(&tags);
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let mut value = ConsumerGroupMemberMetadataValue {
            instance_id: r.nullable_string("instanceId")?,
            rack_id: r.nullable_string("rackId")?,
            client_id: r.string("clientId")?,
            client_host: r.string("clientHost")?,
            subscribed_topic_names: r.string_array("subscribedTopicNames")?,
            subscribed_topic_regex: r.nullable_string("subscribedTopicRegex")?,
            rebalance_timeout_ms: r.i32("rebalanceTimeoutMs")?,
            server_assignor: r.nullable_string("serverAssignor")?,
            classic_member_metadata: None,
        };
        r.tagged_fields("_tagged_fields", |r, tag, data| {
            if tag == 0 {
                value.classic_member_metadata = read_classic_member_metadata(&mut r.sub(data))?;
            }
            Ok(())
        })?;
        Ok(value)
    }
}

fn read_classic_member_metadata(
    r: &mut Reader<'_>,
) -> Result<Option<ClassicMemberMetadata>, RecordError> {
    if r.uvarint("classicMemberMetadata")? == 0 {
        return Ok(None);
    }
    let session_timeout_ms = r.i32("classicMemberMetadata.sessionTimeoutMs")?;
    let supported_protocols =
        r.struct_array("classicMemberMetadata.supportedProtocols", 1 + 1 + 1, |r| {
            let name = r.string("classicMemberMetadata.supportedProtocols.name")?;
            let metadata = r.bytes("classicMemberMetadata.supportedProtocols.metadata")?;
            r.skip_tagged_fields("classicMemberMetadata.supportedProtocols._tagged_fields")?;
            Ok(ClassicProtocol { name, metadata })
        })?;
    r.skip_tagged_fields("classicMemberMetadata._tagged_fields")?;
    Ok(Some(ClassicMemberMetadata {
        session_timeout_ms,
        supported_protocols,
    }))
}

/// `ConsumerGroupTargetAssignmentMetadataValue` (type 6; version 0, flexible).
///
/// ```text
/// int16 version (0)
/// int32 assignmentEpoch
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupTargetAssignmentMetadataValue {
    pub assignment_epoch: i32,
}

impl ConsumerGroupTargetAssignmentMetadataValue {
    const RECORD: &'static str = "ConsumerGroupTargetAssignmentMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.i32(self.assignment_epoch);
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let assignment_epoch = r.i32("assignmentEpoch")?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupTargetAssignmentMetadataValue { assignment_epoch })
    }
}

/// `ConsumerGroupTargetAssignmentMemberValue` (type 7; version 0, flexible).
///
/// ```text
/// int16             version (0)
/// [TopicPartitions] topicPartitions
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupTargetAssignmentMemberValue {
    pub topic_partitions: Vec<TopicPartitions>,
}

impl ConsumerGroupTargetAssignmentMemberValue {
    const RECORD: &'static str = "ConsumerGroupTargetAssignmentMemberValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        write_topic_partitions(&mut w, &self.topic_partitions);
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let topic_partitions = read_topic_partitions(&mut r, "topicPartitions")?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupTargetAssignmentMemberValue { topic_partitions })
    }
}

/// `ConsumerGroupCurrentMemberAssignmentValue` (type 8; version 0, flexible).
///
/// ```text
/// int16             version (0)
/// int32             memberEpoch
/// int32             previousMemberEpoch
/// int8              state          (Kafka's MemberState: 0 stable, 1 unrevoked
///                                   partitions, 2 unreleased partitions, 127 unknown)
/// [TopicPartitions] assignedPartitions
/// [TopicPartitions] partitionsPendingRevocation
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupCurrentMemberAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub partitions_pending_revocation: Vec<TopicPartitions>,
}

impl ConsumerGroupCurrentMemberAssignmentValue {
    const RECORD: &'static str = "ConsumerGroupCurrentMemberAssignmentValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.i32(self.member_epoch);
        w.i32(self.previous_member_epoch);
        w.i8(self.state);
        write_topic_partitions(&mut w, &self.assigned_partitions);
        write_topic_partitions(&mut w, &self.partitions_pending_revocation);
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let member_epoch = r.i32("memberEpoch")?;
        let previous_member_epoch = r.i32("previousMemberEpoch")?;
        let state = r.i8("state")?;
        let assigned_partitions = read_topic_partitions(&mut r, "assignedPartitions")?;
        let partitions_pending_revocation =
            read_topic_partitions(&mut r, "partitionsPendingRevocation")?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch,
            previous_member_epoch,
            state,
            assigned_partitions,
            partitions_pending_revocation,
        })
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn offset_value() -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 100,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: -1,
        }
    }

    fn member(id: &str, instance: Option<&str>) -> MemberMetadata {
        MemberMetadata {
            member_id: id.into(),
            group_instance_id: instance.map(Into::into),
            client_id: "client".into(),
            client_host: "/10.0.0.1".into(),
            rebalance_timeout: 300_000,
            session_timeout: 45_000,
            subscription: Bytes::from_static(b"\x00\x01sub"),
            assignment: Bytes::from_static(b"asg"),
        }
    }

    fn group_value() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 1_700_000_000_000,
            members: vec![member("m1", Some("i1")), member("m2", None)],
        }
    }

    fn all_keys() -> Vec<RecordKey> {
        vec![
            RecordKey::OffsetCommit {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
            },
            RecordKey::GroupMetadata { group: "g".into() },
            RecordKey::ConsumerGroupMetadata { group: "g".into() },
            RecordKey::ConsumerGroupPartitionMetadata { group: "g".into() },
            RecordKey::ConsumerGroupMemberMetadata {
                group: "g".into(),
                member_id: "m".into(),
            },
            RecordKey::ConsumerGroupTargetAssignmentMetadata { group: "g".into() },
            RecordKey::ConsumerGroupTargetAssignmentMember {
                group: "g".into(),
                member_id: "m".into(),
            },
            RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: "grp".into(),
                member_id: "mem".into(),
            },
        ]
    }

    fn cg_metadata() -> ConsumerGroupMetadataValue {
        ConsumerGroupMetadataValue {
            epoch: 42,
            metadata_hash: 0x0102_0304_0506_0708,
            creation_time_ms: 1_700_000_000_000,
        }
    }

    fn cg_partition_metadata() -> ConsumerGroupPartitionMetadataValue {
        ConsumerGroupPartitionMetadataValue {
            topics: vec![
                TopicMetadata {
                    topic_id: uuid(1),
                    topic_name: "orders".into(),
                    num_partitions: 3,
                    partition_metadata: vec![
                        PartitionMetadata {
                            partition: 0,
                            racks: vec!["r1".into(), "r2".into()],
                        },
                        PartitionMetadata {
                            partition: 1,
                            racks: vec![],
                        },
                    ],
                },
                TopicMetadata {
                    topic_id: uuid(2),
                    topic_name: "x".into(),
                    num_partitions: 1,
                    partition_metadata: vec![],
                },
            ],
        }
    }

    fn cg_member() -> ConsumerGroupMemberMetadataValue {
        ConsumerGroupMemberMetadataValue {
            instance_id: Some("inst".into()),
            rack_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            subscribed_topic_names: vec!["a".into(), "b".into()],
            subscribed_topic_regex: Some("a.*".into()),
            rebalance_timeout_ms: 60_000,
            server_assignor: Some("uniform".into()),
            classic_member_metadata: Some(ClassicMemberMetadata {
                session_timeout_ms: 45_000,
                supported_protocols: vec![ClassicProtocol {
                    name: "range".into(),
                    metadata: Bytes::from_static(b"\x00\x00meta"),
                }],
            }),
        }
    }

    fn tps() -> Vec<TopicPartitions> {
        vec![
            TopicPartitions {
                topic_id: uuid(7),
                partitions: vec![0, 2, 4],
            },
            TopicPartitions {
                topic_id: uuid(8),
                partitions: vec![],
            },
        ]
    }

    fn cg_current() -> ConsumerGroupCurrentMemberAssignmentValue {
        ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: 10,
            previous_member_epoch: 9,
            state: 1,
            assigned_partitions: tps(),
            partitions_pending_revocation: vec![TopicPartitions {
                topic_id: uuid(9),
                partitions: vec![1],
            }],
        }
    }

    /// Decodes with one value type, reporting only success.
    type DecodesOk = fn(&[u8]) -> bool;

    /// Every encoded value, with its decoder.
    fn all_encoded() -> Vec<(Vec<u8>, DecodesOk)> {
        vec![
            (offset_value().encode(), |b| {
                OffsetCommitValue::decode(b).is_ok()
            }),
            (
                OffsetCommitValue {
                    expire_timestamp: 5000,
                    ..offset_value()
                }
                .encode(),
                |b| OffsetCommitValue::decode(b).is_ok(),
            ),
            (offset_value().encode_version(4), |b| {
                OffsetCommitValue::decode(b).is_ok()
            }),
            (group_value().encode(), |b| {
                GroupMetadataValue::decode(b).is_ok()
            }),
            (group_value().encode_version(0), |b| {
                GroupMetadataValue::decode(b).is_ok()
            }),
            (group_value().encode_version(4), |b| {
                GroupMetadataValue::decode(b).is_ok()
            }),
            (cg_metadata().encode(), |b| {
                ConsumerGroupMetadataValue::decode(b).is_ok()
            }),
            (cg_partition_metadata().encode(), |b| {
                ConsumerGroupPartitionMetadataValue::decode(b).is_ok()
            }),
            (cg_member().encode(), |b| {
                ConsumerGroupMemberMetadataValue::decode(b).is_ok()
            }),
            (
                ConsumerGroupTargetAssignmentMetadataValue {
                    assignment_epoch: 3,
                }
                .encode(),
                |b| ConsumerGroupTargetAssignmentMetadataValue::decode(b).is_ok(),
            ),
            (
                ConsumerGroupTargetAssignmentMemberValue {
                    topic_partitions: tps(),
                }
                .encode(),
                |b| ConsumerGroupTargetAssignmentMemberValue::decode(b).is_ok(),
            ),
            (cg_current().encode(), |b| {
                ConsumerGroupCurrentMemberAssignmentValue::decode(b).is_ok()
            }),
        ]
    }

    // -- keys ---------------------------------------------------------------

    #[test]
    fn key_round_trips() {
        for key in all_keys() {
            let bytes = key.encode();
            assert_eq!(
                RecordKey::decode(&bytes).unwrap(),
                Some(key.clone()),
                "{key:?}"
            );
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), key.record_type());
        }
    }

    #[test]
    fn key_group() {
        for key in all_keys() {
            assert!(key.group() == "g" || key.group() == "grp");
        }
    }

    #[test]
    fn offset_commit_key_golden() {
        let key = RecordKey::OffsetCommit {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let golden = [
            0x00, 0x01, // type 1
            0x00, 0x01, b'g', // group
            0x00, 0x01, b't', // topic
            0x00, 0x00, 0x00, 0x03, // partition
        ];
        assert_eq!(key.encode(), golden);
        assert_eq!(RecordKey::decode(&golden).unwrap(), Some(key.clone()));
        // Type 0 (legacy) decodes to the same key.
        let mut legacy = golden;
        legacy[1] = 0;
        assert_eq!(RecordKey::decode(&legacy).unwrap(), Some(key));
    }

    #[test]
    fn group_metadata_key_golden() {
        let key = RecordKey::GroupMetadata { group: "ab".into() };
        assert_eq!(key.encode(), [0x00, 0x02, 0x00, 0x02, b'a', b'b']);
    }

    #[test]
    fn member_key_golden() {
        let key = RecordKey::ConsumerGroupCurrentMemberAssignment {
            group: "g".into(),
            member_id: "m".into(),
        };
        assert_eq!(
            key.encode(),
            [0x00, 0x08, 0x00, 0x01, b'g', 0x00, 0x01, b'm']
        );
    }

    #[test]
    fn unknown_key_type_is_skipped() {
        for ty in [9i16, 10, 15, 16, 100, i16::MAX, -1, i16::MIN] {
            let mut buf = ty.to_be_bytes().to_vec();
            buf.extend_from_slice(&[0x00, 0x01, b'g']);
            assert_eq!(RecordKey::decode(&buf).unwrap(), None, "type {ty}");
            // Even with nothing after the type.
            assert_eq!(RecordKey::decode(&ty.to_be_bytes()).unwrap(), None);
        }
    }

    #[test]
    fn key_errors() {
        assert_eq!(
            RecordKey::decode(&[0x00]).unwrap_err(),
            RecordError::MissingVersion {
                record: "record key"
            }
        );
        // Null group.
        let err = RecordKey::decode(&[0x00, 0x02, 0xff, 0xff]).unwrap_err();
        assert!(
            matches!(err, RecordError::UnexpectedNull { field: "group", .. }),
            "{err}"
        );
        // Negative length other than -1.
        let err = RecordKey::decode(&[0x00, 0x02, 0xff, 0xfe]).unwrap_err();
        assert!(
            matches!(err, RecordError::InvalidLength { length: -2, .. }),
            "{err}"
        );
        // Length past the end.
        let err = RecordKey::decode(&[0x00, 0x02, 0x00, 0x05, b'a']).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GroupMetadataKey v2: truncated at field group"
        );
        // Bad UTF-8.
        let err = RecordKey::decode(&[0x00, 0x02, 0x00, 0x01, 0xff]).unwrap_err();
        assert!(matches!(err, RecordError::InvalidUtf8 { .. }), "{err}");
    }

    // -- OffsetCommitValue ----------------------------------------------------

    #[test]
    fn offset_commit_value_golden_v3() {
        let golden = [
            0x00, 0x03, // version 3
            0, 0, 0, 0, 0, 0, 0, 100, // offset
            0, 0, 0, 5, // leaderEpoch
            0x00, 0x01, b'm', // metadata
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // commitTimestamp 1000
        ];
        assert_eq!(offset_value().encode(), golden);
        assert_eq!(OffsetCommitValue::decode(&golden).unwrap(), offset_value());
    }

    #[test]
    fn offset_commit_value_round_trips() {
        let v = offset_value();
        assert_eq!(OffsetCommitValue::decode(&v.encode()).unwrap(), v);
        // With an expire timestamp: version 1, which has no leader epoch.
        let v1 = OffsetCommitValue {
            expire_timestamp: 9000,
            ..offset_value()
        };
        let bytes = v1.encode();
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(
            OffsetCommitValue::decode(&bytes).unwrap(),
            OffsetCommitValue {
                leader_epoch: -1,
                ..v1
            }
        );
        // Flexible version 4.
        assert_eq!(OffsetCommitValue::decode(&v.encode_version(4)).unwrap(), v);
        // Empty metadata.
        let empty = OffsetCommitValue {
            metadata: String::new(),
            ..offset_value()
        };
        assert_eq!(OffsetCommitValue::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn offset_commit_value_old_versions() {
        // v0: offset, metadata, commitTimestamp.
        let v0 = [
            0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 7, 0x00, 0x02, b'h', b'i', 0, 0, 0, 0, 0, 0, 0, 9,
        ];
        assert_eq!(
            OffsetCommitValue::decode(&v0).unwrap(),
            OffsetCommitValue {
                offset: 7,
                leader_epoch: -1,
                metadata: "hi".into(),
                commit_timestamp: 9,
                expire_timestamp: -1,
            }
        );
        // v1: + expireTimestamp.
        let mut v1 = v0.to_vec();
        v1[1] = 1;
        v1.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 11]);
        assert_eq!(
            OffsetCommitValue::decode(&v1).unwrap(),
            OffsetCommitValue {
                offset: 7,
                leader_epoch: -1,
                metadata: "hi".into(),
                commit_timestamp: 9,
                expire_timestamp: 11,
            }
        );
        // v2: same layout as v0.
        let mut v2 = v0;
        v2[1] = 2;
        assert_eq!(OffsetCommitValue::decode(&v2).unwrap().offset, 7);
    }

    #[test]
    fn offset_commit_value_v4_with_unknown_tagged_field() {
        let bytes = [
            0x00, 0x04, // version 4
            0, 0, 0, 0, 0, 0, 0, 100, // offset
            0, 0, 0, 5, // leaderEpoch
            0x02, b'm', // compact metadata
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // commitTimestamp
            0x02, // two tagged fields
            0x05, 0x03, 0xaa, 0xbb, 0xcc, // tag 5, 3 bytes
            0x81, 0x01, 0x00, // tag 129, empty
        ];
        assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), offset_value());
        assert_eq!(offset_value().encode_version(4), {
            let mut b = bytes[..bytes.len() - 9].to_vec();
            b.push(0);
            b
        });
    }

    #[test]
    fn offset_commit_value_errors() {
        let err = OffsetCommitValue::decode(&[0x00, 0x05, 0, 0]).unwrap_err();
        assert_eq!(err.to_string(), "OffsetCommitValue: unsupported version 5");
        let err = OffsetCommitValue::decode(&[0xff, 0xff]).unwrap_err();
        assert!(matches!(
            err,
            RecordError::UnsupportedVersion { version: -1, .. }
        ));
        let golden = offset_value().encode();
        let err = OffsetCommitValue::decode(&golden[..16]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OffsetCommitValue v3: truncated at field metadata"
        );
        // A varint that does not end.
        let mut v4 = offset_value().encode_version(4);
        v4.truncate(14);
        v4.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let err = OffsetCommitValue::decode(&v4).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::InvalidVarint {
                    field: "metadata",
                    ..
                }
            ),
            "{err}"
        );
    }

    // -- GroupMetadataValue ---------------------------------------------------

    #[test]
    fn group_metadata_value_golden_v3() {
        let v = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some("range".into()),
            leader: None,
            current_state_timestamp: 2,
            members: vec![MemberMetadata {
                member_id: "m".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "h".into(),
                rebalance_timeout: 3,
                session_timeout: 4,
                subscription: Bytes::from_static(&[0xab]),
                assignment: Bytes::new(),
            }],
        };
        let mut golden = vec![0x00, 0x03]; // version
        golden.extend_from_slice(&[0x00, 0x08]);
        golden.extend_from_slice(b"consumer"); // protocolType
        golden.extend_from_slice(&[0, 0, 0, 1]); // generation
        golden.extend_from_slice(&[0x00, 0x05]);
        golden.extend_from_slice(b"range"); // protocol
        golden.extend_from_slice(&[0xff, 0xff]); // leader: null
        golden.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]); // currentStateTimestamp
        golden.extend_from_slice(&[0, 0, 0, 1]); // one member
        golden.extend_from_slice(&[0x00, 0x01, b'm']); // memberId
        golden.extend_from_slice(&[0xff, 0xff]); // groupInstanceId: null
        golden.extend_from_slice(&[0x00, 0x01, b'c']); // clientId
        golden.extend_from_slice(&[0x00, 0x01, b'h']); // clientHost
        golden.extend_from_slice(&[0, 0, 0, 3]); // rebalanceTimeout
        golden.extend_from_slice(&[0, 0, 0, 4]); // sessionTimeout
        golden.extend_from_slice(&[0, 0, 0, 1, 0xab]); // subscription
        golden.extend_from_slice(&[0, 0, 0, 0]); // assignment: empty
        assert_eq!(v.encode(), golden);
        assert_eq!(GroupMetadataValue::decode(&golden).unwrap(), v);
    }

    #[test]
    fn group_metadata_value_round_trips() {
        let v = group_value();
        assert_eq!(GroupMetadataValue::decode(&v.encode()).unwrap(), v);
        assert_eq!(GroupMetadataValue::decode(&v.encode_version(4)).unwrap(), v);
        let empty = GroupMetadataValue {
            protocol_type: String::new(),
            generation: 0,
            protocol: None,
            leader: None,
            current_state_timestamp: -1,
            members: vec![],
        };
        assert_eq!(GroupMetadataValue::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn group_metadata_value_old_versions() {
        let v = group_value();
        // v0: no currentStateTimestamp, no groupInstanceId, no rebalanceTimeout
        // (defaults to the session timeout).
        let d0 = GroupMetadataValue::decode(&v.encode_version(0)).unwrap();
        assert_eq!(d0.current_state_timestamp, -1);
        assert!(d0.members.iter().all(|m| m.group_instance_id.is_none()));
        assert!(d0
            .members
            .iter()
            .all(|m| m.rebalance_timeout == m.session_timeout));
        assert_eq!(d0.members[0].subscription, v.members[0].subscription);
        // v1: rebalanceTimeout, still no timestamp.
        let d1 = GroupMetadataValue::decode(&v.encode_version(1)).unwrap();
        assert_eq!(d1.current_state_timestamp, -1);
        assert_eq!(d1.members[0].rebalance_timeout, 300_000);
        assert!(d1.members[0].group_instance_id.is_none());
        // v2: timestamp, still no groupInstanceId.
        let d2 = GroupMetadataValue::decode(&v.encode_version(2)).unwrap();
        assert_eq!(d2.current_state_timestamp, v.current_state_timestamp);
        assert!(d2.members[0].group_instance_id.is_none());
        assert_eq!(d2.members[1], v.members[1]);

        // A v0 record built by hand.
        let mut b = vec![0x00, 0x00];
        b.extend_from_slice(&[0x00, 0x01, b'p', 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]);
        b.extend_from_slice(&[0, 0, 0, 1]);
        b.extend_from_slice(&[0x00, 0x01, b'm', 0x00, 0x01, b'c', 0x00, 0x01, b'h']);
        b.extend_from_slice(&[0, 0, 0, 9]); // sessionTimeout
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let d = GroupMetadataValue::decode(&b).unwrap();
        assert_eq!(d.protocol_type, "p");
        assert_eq!(d.generation, 2);
        assert_eq!(d.members[0].rebalance_timeout, 9);
        assert_eq!(d.members[0].session_timeout, 9);
    }

    #[test]
    fn group_metadata_value_huge_member_count_is_rejected() {
        let mut b = GroupMetadataValue {
            members: vec![],
            ..group_value()
        }
        .encode();
        let n = b.len();
        b[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        let err = GroupMetadataValue::decode(&b).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::InvalidLength {
                    field: "members",
                    ..
                }
            ),
            "{err}"
        );
        b[n - 4..].copy_from_slice(&(-1i32).to_be_bytes());
        let err = GroupMetadataValue::decode(&b).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::UnexpectedNull {
                    field: "members",
                    ..
                }
            ),
            "{err}"
        );
    }

    // -- KIP-848 values -------------------------------------------------------

    #[test]
    fn consumer_group_metadata_value() {
        let v = cg_metadata();
        assert_eq!(ConsumerGroupMetadataValue::decode(&v.encode()).unwrap(), v);
        let plain = ConsumerGroupMetadataValue {
            epoch: 5,
            ..Default::default()
        };
        // No tagged fields written at their defaults.
        assert_eq!(plain.encode(), [0, 0, 0, 0, 0, 5, 0]);
        assert_eq!(
            ConsumerGroupMetadataValue::decode(&plain.encode()).unwrap(),
            plain
        );
        // metadataHash as tag 0.
        let hashed = ConsumerGroupMetadataValue {
            epoch: 5,
            metadata_hash: 1,
            ..Default::default()
        };
        assert_eq!(
            hashed.encode(),
            [0, 0, 0, 0, 0, 5, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        // A known tag with too few bytes is an error, not a panic.
        let err =
            ConsumerGroupMetadataValue::decode(&[0, 0, 0, 0, 0, 5, 1, 0, 2, 0, 1]).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::Truncated {
                    field: "metadataHash",
                    ..
                }
            ),
            "{err}"
        );
        // Version 1 does not exist.
        let err = ConsumerGroupMetadataValue::decode(&[0, 1, 0, 0, 0, 5, 0]).unwrap_err();
        assert!(matches!(
            err,
            RecordError::UnsupportedVersion { version: 1, .. }
        ));
    }

    #[test]
    fn consumer_group_partition_metadata_value() {
        let v = cg_partition_metadata();
        assert_eq!(
            ConsumerGroupPartitionMetadataValue::decode(&v.encode()).unwrap(),
            v
        );
        let empty = ConsumerGroupPartitionMetadataValue::default();
        assert_eq!(empty.encode(), [0, 0, 1, 0]);
        assert_eq!(
            ConsumerGroupPartitionMetadataValue::decode(&empty.encode()).unwrap(),
            empty
        );
    }

    #[test]
    fn consumer_group_member_metadata_value() {
        let v = cg_member();
        assert_eq!(
            ConsumerGroupMemberMetadataValue::decode(&v.encode()).unwrap(),
            v
        );
        let plain = ConsumerGroupMemberMetadataValue {
            classic_member_metadata: None,
            ..cg_member()
        };
        assert_eq!(
            ConsumerGroupMemberMetadataValue::decode(&plain.encode()).unwrap(),
            plain
        );
        let d = ConsumerGroupMemberMetadataValue::default();
        assert_eq!(
            ConsumerGroupMemberMetadataValue::decode(&d.encode()).unwrap(),
            d
        );
    }

    #[test]
    fn consumer_group_member_metadata_value_golden() {
        let v = ConsumerGroupMemberMetadataValue {
            instance_id: None,
            rack_id: Some("r".into()),
            client_id: "c".into(),
            client_host: "h".into(),
            subscribed_topic_names: vec!["t".into()],
            subscribed_topic_regex: None,
            rebalance_timeout_ms: 1,
            server_assignor: None,
            classic_member_metadata: Some(ClassicMemberMetadata {
                session_timeout_ms: 2,
                supported_protocols: vec![ClassicProtocol {
                    name: "p".into(),
                    metadata: Bytes::from_static(&[0xee]),
                }],
            }),
        };
        let golden = [
            0x00, 0x00, // version
            0x00, // instanceId: null
            0x02, b'r', // rackId
            0x02, b'c', // clientId
            0x02, b'h', // clientHost
            0x02, 0x02, b't', // subscribedTopicNames
            0x00, // subscribedTopicRegex: null
            0, 0, 0, 1,    // rebalanceTimeoutMs
            0x00, // serverAssignor: null
            0x01, // one tagged field
            0x00, 0x0c, // tag 0, 12 bytes
            0x01, // non-null
            0, 0, 0, 2,    // sessionTimeoutMs
            0x02, // one protocol
            0x02, b'p', 0x02, 0xee, 0x00, // name, metadata, no tags
            0x00, // ClassicMemberMetadata: no tags
        ];
        assert_eq!(v.encode(), golden);
        assert_eq!(
            ConsumerGroupMemberMetadataValue::decode(&golden).unwrap(),
            v
        );
        // A null marker in the tagged field reads as None.
        let null_classic = [&golden[..18], &[0x01, 0x00, 0x01, 0x00]].concat();
        assert_eq!(
            ConsumerGroupMemberMetadataValue::decode(&null_classic)
                .unwrap()
                .classic_member_metadata,
            None
        );
    }

    #[test]
    fn consumer_group_target_assignment_values() {
        let m = ConsumerGroupTargetAssignmentMetadataValue {
            assignment_epoch: 12,
        };
        assert_eq!(m.encode(), [0, 0, 0, 0, 0, 12, 0]);
        assert_eq!(
            ConsumerGroupTargetAssignmentMetadataValue::decode(&m.encode()).unwrap(),
            m
        );
        let v = ConsumerGroupTargetAssignmentMemberValue {
            topic_partitions: tps(),
        };
        assert_eq!(
            ConsumerGroupTargetAssignmentMemberValue::decode(&v.encode()).unwrap(),
            v
        );
        let golden = ConsumerGroupTargetAssignmentMemberValue {
            topic_partitions: vec![TopicPartitions {
                topic_id: uuid(0xaa),
                partitions: vec![1],
            }],
        }
        .encode();
        let mut expected = vec![0, 0, 0x02];
        expected.extend_from_slice(&[0xaa; 16]);
        expected.extend_from_slice(&[0x02, 0, 0, 0, 1, 0x00, 0x00]);
        assert_eq!(golden, expected);
    }

    #[test]
    fn consumer_group_current_member_assignment_value() {
        let v = cg_current();
        assert_eq!(
            ConsumerGroupCurrentMemberAssignmentValue::decode(&v.encode()).unwrap(),
            v
        );
        let d = ConsumerGroupCurrentMemberAssignmentValue::default();
        assert_eq!(
            ConsumerGroupCurrentMemberAssignmentValue::decode(&d.encode()).unwrap(),
            d
        );
    }

    #[test]
    fn kip1251_assignment_epochs_tag_is_skipped() {
        // A TopicPartitions carrying the trunk-only tagged AssignmentEpochs.
        let mut b = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x02];
        b.extend_from_slice(&[0x11; 16]);
        b.extend_from_slice(&[0x02, 0, 0, 0, 3]); // partitions [3]
        b.extend_from_slice(&[0x01, 0x00, 0x05, 0x02, 0, 0, 0, 1]); // tag 0: [1]
        b.extend_from_slice(&[0x01, 0x00]); // pending revocation: none; no tags
        let v = ConsumerGroupCurrentMemberAssignmentValue::decode(&b).unwrap();
        assert_eq!(
            v.assigned_partitions,
            vec![TopicPartitions {
                topic_id: uuid(0x11),
                partitions: vec![3],
            }]
        );
    }

    // -- robustness -----------------------------------------------------------

    #[test]
    fn every_truncation_is_an_error() {
        for key in all_keys() {
            let bytes = key.encode();
            for n in 0..bytes.len() {
                assert!(RecordKey::decode(&bytes[..n]).is_err(), "{key:?} at {n}");
            }
        }
        for (i, (bytes, ok)) in all_encoded().into_iter().enumerate() {
            assert!(ok(&bytes), "value {i} decodes whole");
            for n in 0..bytes.len() {
                assert!(!ok(&bytes[..n]), "value {i} truncated at {n} decoded");
            }
        }
    }

    /// A small deterministic PRNG (xorshift) so the fuzz tests need no deps.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn decode_everything(b: &[u8]) {
        let _ = RecordKey::decode(b);
        let _ = OffsetCommitValue::decode(b);
        let _ = GroupMetadataValue::decode(b);
        let _ = ConsumerGroupMetadataValue::decode(b);
        let _ = ConsumerGroupPartitionMetadataValue::decode(b);
        let _ = ConsumerGroupMemberMetadataValue::decode(b);
        let _ = ConsumerGroupTargetAssignmentMetadataValue::decode(b);
        let _ = ConsumerGroupTargetAssignmentMemberValue::decode(b);
        let _ = ConsumerGroupCurrentMemberAssignmentValue::decode(b);
    }

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = (rng.next_u64() % 64) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            // Keep the version/type small sometimes so field decoding runs.
            if b.len() >= 2 && rng.next_u64() % 2 == 0 {
                b[0] = 0;
                b[1] = (rng.next_u64() % 10) as u8;
            }
            decode_everything(&b);
        }
        let seeds: Vec<Vec<u8>> = all_encoded()
            .into_iter()
            .map(|(b, _)| b)
            .chain(all_keys().iter().map(RecordKey::encode))
            .collect();
        for seed in &seeds {
            for _ in 0..2_000 {
                let mut b = seed.clone();
                for _ in 0..=(rng.next_u64() % 3) {
                    let i = (rng.next_u64() as usize) % b.len();
                    b[i] = rng.next_u64() as u8;
                }
                decode_everything(&b);
            }
        }
    }

    #[test]
    fn oversized_strings_are_truncated_on_encode() {
        let long = "é".repeat(20_000); // 40_000 bytes
        let key = RecordKey::GroupMetadata { group: long };
        let decoded = RecordKey::decode(&key.encode()).unwrap().unwrap();
        assert_eq!(decoded.group().len(), MAX_STRING_LEN - 1); // char boundary
                                                               // And a compact string over the limit is rejected on decode.
        let mut b = vec![0, 0];
        b.extend_from_slice(&[0x81, 0x80, 0x02]); // varint 32769 => length 32768
        b.extend(std::iter::repeat_n(b'a', 32_768));
        let err = ConsumerGroupMemberMetadataValue::decode(&b).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::InvalidLength {
                    field: "instanceId",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn varints() {
        let mut w = Writer::nested(true);
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            w.uvarint(v);
        }
        let bytes = w.finish();
        let mut r = Reader::new(&bytes, "test", 0, true);
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            assert_eq!(r.uvarint("v").unwrap(), v);
        }
        // 2^32 does not fit.
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10], "test", 0, true);
        assert!(matches!(
            r.uvarint("v"),
            Err(RecordError::InvalidVarint { .. })
        ));
        let mut r = Reader::new(&[0x80, 0x80], "test", 0, true);
        assert!(matches!(r.uvarint("v"), Err(RecordError::Truncated { .. })));
    }
}
