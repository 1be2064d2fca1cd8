//! The consumer embedded protocol: the `ConsumerProtocolSubscription` a
//! consumer puts in JoinGroup's protocol metadata, and the
//! `ConsumerProtocolAssignment` the leader hands out through SyncGroup
//! (apache/kafka `clients/src/main/resources/common/message/`).
//!
//! The broker carries these as opaque bytes; the coordinator decodes them
//! only to describe groups, to convert classic members of KIP-848 groups, and
//! to validate. Both are **non-flexible** at every version: big-endian
//! integers, int16-length strings, int32-length bytes (`-1` = null), int32
//! array counts.
//!
//! # Subscription (versions 0-3)
//!
//! ```text
//! int16          version
//! [string]       topics
//! nullable bytes userData
//! [TopicPartition] ownedPartitions   v1+   (older: empty)
//!     string  topic
//!     [int32] partitions
//! int32          generationId        v2+   (older: -1)
//! nullable string rackId             v3+   (older: null; KIP-881)
//! ```
//!
//! # Assignment (versions 0-3; versions 1-3 only track the subscription's)
//!
//! ```text
//! int16            version
//! [TopicPartition] assignedPartitions
//!     string  topic
//!     [int32] partitions
//! nullable bytes   userData
//! ```
//!
//! # Compatibility
//!
//! As in Kafka's `ConsumerProtocol`, a version above 3 is read as version 3:
//! newer clients may only append fields, so the known prefix is decoded and
//! trailing bytes are ignored (at every version). Negative versions are
//! errors. An empty Assignment byte string decodes as an empty assignment
//! (the coordinator sends one to members the leader assigned nothing); an
//! empty Subscription is an error.
//!
//! Decoding never panics: reads are bounded by the bytes remaining, array
//! counts are checked against the bytes remaining before allocating, and
//! negative lengths other than `-1` on nullable fields are errors.
//! Encoding cannot fail: strings longer than `i16::MAX` bytes (which Kafka
//! cannot represent either) are truncated at a character boundary.

use bytes::Bytes;

use crate::wire::Writer;

/// The highest Subscription/Assignment version this module knows.
pub const HIGHEST_VERSION: i16 = 3;

/// Why a Subscription or Assignment could not be decoded.
///
/// `message` is `ConsumerProtocolSubscription` or `ConsumerProtocolAssignment`,
/// `version` the version read from the buffer, `field` the Kafka field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The buffer is shorter than the 2-byte version.
    #[error("{message}: truncated at field version")]
    MissingVersion { message: &'static str },
    /// A negative version.
    #[error("{message}: unsupported version {version}")]
    UnsupportedVersion { message: &'static str, version: i16 },
    /// The buffer ended inside a field.
    #[error("{message} v{version}: truncated at field {field}")]
    Truncated {
        message: &'static str,
        version: i16,
        field: &'static str,
    },
    /// A negative length (other than null on a nullable field) or a count the
    /// remaining bytes cannot hold.
    #[error("{message} v{version}: invalid length {length} at field {field}")]
    InvalidLength {
        message: &'static str,
        version: i16,
        field: &'static str,
        length: i32,
    },
    /// A non-nullable field was encoded as null.
    #[error("{message} v{version}: field {field} is null but not nullable")]
    UnexpectedNull {
        message: &'static str,
        version: i16,
        field: &'static str,
    },
    /// A string is not valid UTF-8.
    #[error("{message} v{version}: field {field} is not valid UTF-8")]
    InvalidUtf8 {
        message: &'static str,
        version: i16,
        field: &'static str,
    },
}

/// A consumer's subscription, from JoinGroup protocol metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data (null when absent).
    pub user_data: Option<Bytes>,
    /// Partitions the member currently owns (v1+; cooperative rebalancing).
    pub owned_partitions: Vec<(String, Vec<i32>)>,
    /// The generation the owned partitions are from (v2+; -1 = unknown).
    pub generation_id: i32,
    /// The member's rack (v3+).
    pub rack_id: Option<String>,
}

impl Default for Subscription {
    /// An empty subscription with Kafka's defaults (`generation_id` = -1).
    fn default() -> Self {
        Subscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

/// A member's assignment, from SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The assigned partitions, by topic.
    pub assigned_partitions: Vec<(String, Vec<i32>)>,
    /// Assignor-specific data (null when absent).
    pub user_data: Option<Bytes>,
}

const SUBSCRIPTION: &str = "ConsumerProtocolSubscription";
const ASSIGNMENT: &str = "ConsumerProtocolAssignment";

impl Subscription {
    /// Decodes any version (above 3: read as 3, trailing bytes ignored).
    pub fn decode(buf: &[u8]) -> Result<Subscription, ProtocolError> {
        let mut r = reader_with_version(buf, SUBSCRIPTION)?;
        let version = r.version().min(HIGHEST_VERSION);
        let topics = r.string_array("topics")?;
        let user_data = r.nullable_bytes("userData")?;
        let owned_partitions = if version >= 1 {
            read_topic_partitions(&mut r, "ownedPartitions")?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 {
            r.i32("generationId")?
        } else {
            -1
        };
        let rack_id = if version >= 3 {
            r.nullable_string("rackId")?
        } else {
            None
        };
        Ok(Subscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }

    /// Encodes at `version`, clamped to 0..=3 (Kafka clamps higher versions
    /// to its highest too). Fields the version lacks are dropped.
    pub fn encode(&self, version: i16) -> Vec<u8> {
        let version = version.clamp(0, HIGHEST_VERSION);
        let mut w = Writer::new(version, false);
        w.string_array(&self.topics);
        w.nullable_bytes(self.user_data.as_deref());
        if version >= 1 {
            write_topic_partitions(&mut w, &self.owned_partitions);
        }
        if version >= 2 {
            w.i32(self.generation_id);
        }
        if version >= 3 {
            w.nullable_string(self.rack_id.as_deref());
        }
        w.finish()
    }
}

impl Assignment {
    /// Decodes any version (above 3: read as 3, trailing bytes ignored). An
    /// empty buffer is an empty assignment.
    pub fn decode(buf: &[u8]) -> Result<Assignment, ProtocolError> {
        if buf.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = reader_with_version(buf, ASSIGNMENT)?;
        let assigned_partitions = read_topic_partitions(&mut r, "assignedPartitions")?;
        let user_data = r.nullable_bytes("userData")?;
        Ok(Assignment {
            assigned_partitions,
            user_data,
        })
    }

    /// Encodes at `version`, clamped to 0..=3 (all versions share a layout).
    pub fn encode(&self, version: i16) -> Vec<u8> {
        let version = version.clamp(0, HIGHEST_VERSION);
        let mut w = Writer::new(version, false);
        write_topic_partitions(&mut w, &self.assigned_partitions);
        w.nullable_bytes(self.user_data.as_deref());
        w.finish()
    }
}

/// The shared reader (non-flexible: every version of both messages), with
/// [`ProtocolError`]s.
type Reader<'a> = crate::wire::Reader<'a, ProtocolError>;

/// Reads the int16 version; negative versions are errors.
fn reader_with_version<'a>(
    buf: &'a [u8],
    message: &'static str,
) -> Result<Reader<'a>, ProtocolError> {
    let [hi, lo, rest @ ..] = buf else {
        return Err(ProtocolError::MissingVersion { message });
    };
    let version = i16::from_be_bytes([*hi, *lo]);
    if version < 0 {
        return Err(ProtocolError::UnsupportedVersion { message, version });
    }
    Ok(Reader::new(rest, message, version, false))
}

/// `[{string topic, [int32] partitions}]`.
fn read_topic_partitions(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<(String, Vec<i32>)>, ProtocolError> {
    r.struct_array(field, 2 + 4, |r| {
        Ok((r.string(field)?, r.i32_array(field)?))
    })
}

fn write_topic_partitions(w: &mut Writer, v: &[(String, Vec<i32>)]) {
    w.struct_array(v, |w, (topic, partitions)| {
        w.string(topic);
        w.i32_array(partitions);
    });
}

impl crate::wire::DecodeError for ProtocolError {
    fn truncated(message: &'static str, version: i16, field: &'static str) -> Self {
        ProtocolError::Truncated {
            message,
            version,
            field,
        }
    }

    fn invalid_length(
        message: &'static str,
        version: i16,
        field: &'static str,
        length: i64,
    ) -> Self {
        ProtocolError::InvalidLength {
            message,
            version,
            field,
            // Non-flexible lengths are int16 or int32 on the wire.
            length: i32::try_from(length).unwrap_or(i32::MAX),
        }
    }

    fn unexpected_null(message: &'static str, version: i16, field: &'static str) -> Self {
        ProtocolError::UnexpectedNull {
            message,
            version,
            field,
        }
    }

    fn invalid_utf8(message: &'static str, version: i16, field: &'static str) -> Self {
        ProtocolError::InvalidUtf8 {
            message,
            version,
            field,
        }
    }

    /// Never raised: these messages have no varints (they are never flexible).
    fn invalid_varint(message: &'static str, version: i16, field: &'static str) -> Self {
        ProtocolError::Truncated {
            message,
            version,
            field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_subscription() -> Subscription {
        Subscription {
            topics: vec!["orders".into(), "payments".into()],
            user_data: Some(Bytes::from_static(b"\x01\x02ud")),
            owned_partitions: vec![("orders".into(), vec![0, 3]), ("payments".into(), vec![])],
            generation_id: 17,
            rack_id: Some("rack-a".into()),
        }
    }

    /// What survives an encode at `version`.
    fn at_version(s: &Subscription, version: i16) -> Subscription {
        Subscription {
            topics: s.topics.clone(),
            user_data: s.user_data.clone(),
            owned_partitions: if version >= 1 {
                s.owned_partitions.clone()
            } else {
                vec![]
            },
            generation_id: if version >= 2 { s.generation_id } else { -1 },
            rack_id: if version >= 3 {
                s.rack_id.clone()
            } else {
                None
            },
        }
    }

    fn full_assignment() -> Assignment {
        Assignment {
            assigned_partitions: vec![("orders".into(), vec![1, 2]), ("x".into(), vec![0])],
            user_data: Some(Bytes::from_static(b"abc")),
        }
    }

    #[test]
    fn subscription_round_trips_at_each_version() {
        let s = full_subscription();
        for version in 0..=3 {
            let bytes = s.encode(version);
            assert_eq!(&bytes[..2], &version.to_be_bytes());
            assert_eq!(
                Subscription::decode(&bytes).unwrap(),
                at_version(&s, version),
                "v{version}"
            );
        }
        let empty = Subscription::default();
        for version in 0..=3 {
            assert_eq!(Subscription::decode(&empty.encode(version)).unwrap(), empty);
        }
        // Out-of-range versions are clamped.
        assert_eq!(&s.encode(9)[..2], &[0, 3]);
        assert_eq!(&s.encode(-4)[..2], &[0, 0]);
    }

    #[test]
    fn subscription_v0_golden() {
        let s = Subscription {
            topics: vec!["a".into(), "bc".into()],
            ..Default::default()
        };
        let golden = [
            0x00, 0x00, // version 0
            0x00, 0x00, 0x00, 0x02, // two topics
            0x00, 0x01, b'a', // "a"
            0x00, 0x02, b'b', b'c', // "bc"
            0xff, 0xff, 0xff, 0xff, // userData: null
        ];
        assert_eq!(s.encode(0), golden);
        assert_eq!(Subscription::decode(&golden).unwrap(), s);
    }

    #[test]
    fn subscription_v3_golden() {
        let s = Subscription {
            topics: vec!["t".into()],
            user_data: Some(Bytes::new()),
            owned_partitions: vec![("t".into(), vec![5])],
            generation_id: 2,
            rack_id: None,
        };
        let golden = [
            0x00, 0x03, // version
            0, 0, 0, 1, 0x00, 0x01, b't', // topics
            0, 0, 0, 0, // userData: empty
            0, 0, 0, 1, 0x00, 0x01, b't', 0, 0, 0, 1, 0, 0, 0, 5, // ownedPartitions
            0, 0, 0, 2, // generationId
            0xff, 0xff, // rackId: null
        ];
        assert_eq!(s.encode(3), golden);
        assert_eq!(Subscription::decode(&golden).unwrap(), s);
    }

    #[test]
    fn subscription_newer_version_with_trailing_bytes() {
        let s = full_subscription();
        let mut bytes = s.encode(3);
        bytes[1] = 4; // version 4
        bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x00]); // fields we do not know
        assert_eq!(Subscription::decode(&bytes).unwrap(), s);
        // Trailing bytes at a known version are ignored too.
        let mut v0 = s.encode(0);
        v0.push(0x42);
        assert_eq!(Subscription::decode(&v0).unwrap(), at_version(&s, 0));
        // i16::MAX is just a newer version.
        bytes[0] = 0x7f;
        bytes[1] = 0xff;
        assert_eq!(Subscription::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn subscription_errors() {
        assert_eq!(
            Subscription::decode(&[]).unwrap_err(),
            ProtocolError::MissingVersion {
                message: "ConsumerProtocolSubscription"
            }
        );
        assert!(matches!(
            Subscription::decode(&[0xff, 0xff, 0, 0, 0, 0]).unwrap_err(),
            ProtocolError::UnsupportedVersion { version: -1, .. }
        ));
        let err = Subscription::decode(&[0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::UnexpectedNull {
                    field: "topics",
                    ..
                }
            ),
            "{err}"
        );
        let err = Subscription::decode(&[0, 0, 0xff, 0xff, 0xff, 0xfe]).unwrap_err();
        assert!(
            matches!(err, ProtocolError::InvalidLength { length: -2, .. }),
            "{err}"
        );
        let err = Subscription::decode(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::InvalidLength {
                    field: "topics",
                    ..
                }
            ),
            "{err}"
        );
        let err = Subscription::decode(&[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe]).unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::InvalidLength {
                    field: "userData",
                    ..
                }
            ),
            "{err}"
        );
        let err = Subscription::decode(&[0, 0, 0, 0, 0, 1, 0, 1, 0xc0, 0xff, 0xff, 0xff, 0xff])
            .unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::InvalidUtf8 {
                    field: "topics",
                    ..
                }
            ),
            "{err}"
        );
        let err = Subscription::decode(&[0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConsumerProtocolSubscription v2: truncated at field generationId"
        );
    }

    #[test]
    fn assignment_round_trips_at_each_version() {
        let a = full_assignment();
        for version in 0..=3 {
            let bytes = a.encode(version);
            assert_eq!(&bytes[..2], &version.to_be_bytes());
            assert_eq!(Assignment::decode(&bytes).unwrap(), a, "v{version}");
        }
        let empty = Assignment::default();
        assert_eq!(empty.encode(0), [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Assignment::decode(&empty.encode(1)).unwrap(), empty);
    }

    #[test]
    fn assignment_golden_and_empty() {
        let a = Assignment {
            assigned_partitions: vec![("t".into(), vec![0, 1])],
            user_data: None,
        };
        let golden = [
            0x00, 0x01, // version 1
            0, 0, 0, 1, 0x00, 0x01, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // partitions
            0xff, 0xff, 0xff, 0xff, // userData: null
        ];
        assert_eq!(a.encode(1), golden);
        assert_eq!(Assignment::decode(&golden).unwrap(), a);
        assert_eq!(Assignment::decode(&[]).unwrap(), Assignment::default());
        assert!(Assignment::decode(&[0]).is_err());
        // A newer version with appended fields.
        let mut newer = golden.to_vec();
        newer[1] = 7;
        newer.extend_from_slice(&[1, 2, 3]);
        assert_eq!(Assignment::decode(&newer).unwrap(), a);
    }

    #[test]
    fn truncations_are_errors_and_never_panic() {
        let s = full_subscription();
        for version in 0..=3 {
            let bytes = s.encode(version);
            for n in 0..bytes.len() {
                assert!(
                    Subscription::decode(&bytes[..n]).is_err(),
                    "v{version} at {n}"
                );
            }
        }
        let a = full_assignment();
        for version in 0..=3 {
            let bytes = a.encode(version);
            // 0 bytes is the (valid) empty assignment.
            for n in 1..bytes.len() {
                assert!(
                    Assignment::decode(&bytes[..n]).is_err(),
                    "v{version} at {n}"
                );
            }
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds = [full_subscription().encode(3), full_assignment().encode(0)];
        for _ in 0..20_000 {
            let len = (next() % 48) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if b.len() >= 2 {
                b[0] = 0;
                b[1] = (next() % 5) as u8;
            }
            let _ = Subscription::decode(&b);
            let _ = Assignment::decode(&b);
        }
        for seed in &seeds {
            for _ in 0..5_000 {
                let mut b = seed.clone();
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
                let _ = Subscription::decode(&b);
                let _ = Assignment::decode(&b);
            }
        }
    }
}
