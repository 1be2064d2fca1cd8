//! Kafka's topic id: a 16-byte UUID that names a topic independently of its
//! name, so that a topic deleted and created again under the same name is a
//! different topic to every client and broker.
//!
//! Kafka prints topic ids as URL-safe base64 without padding (22 characters,
//! `Uuid.toString()`), and that is the form an operator sees in
//! `kafka-topics.sh --describe`; `Display` and `FromStr` use it too.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::TopicIdParseError;

/// A topic id (Kafka's `Uuid`).
///
/// Ordering is Kafka's `Uuid.compareTo`: unsigned most significant bits, then
/// least significant bits, which is byte order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicId([u8; 16]);

const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl TopicId {
    /// Kafka's `ZERO_UUID`: "no topic id" on the wire. It never names a topic.
    pub const ZERO: TopicId = TopicId([0; 16]);

    /// Kafka's `METADATA_TOPIC_ID` (`ONE_UUID`): reserved for the metadata
    /// log itself. It never names a user topic.
    pub const METADATA: TopicId = TopicId([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

    /// The id with these bytes, big-endian as on the wire (most significant
    /// bits first). Any value is accepted, including the reserved ones, so
    /// wire values can be represented; see [`TopicId::is_reserved`].
    pub const fn from_bytes(bytes: [u8; 16]) -> TopicId {
        TopicId(bytes)
    }

    /// The bytes as they go on the wire.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Kafka's `mostSignificantBits` / `leastSignificantBits` pair.
    pub fn from_u64_pair(most_significant: u64, least_significant: u64) -> TopicId {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&most_significant.to_be_bytes());
        bytes[8..].copy_from_slice(&least_significant.to_be_bytes());
        TopicId(bytes)
    }

    /// `true` for the all-zero id, which means "none" on the wire.
    pub fn is_zero(self) -> bool {
        self == TopicId::ZERO
    }

    /// `true` for ids that never name a user topic (`ZERO`, `METADATA`).
    pub fn is_reserved(self) -> bool {
        self == TopicId::ZERO || self == TopicId::METADATA
    }

    /// A fresh random (version 4, variant 2) id, as Kafka's
    /// `Uuid.randomUuid()`: never a reserved id and never one whose base64
    /// form starts with '-' (it would read as a command-line flag).
    ///
    /// `random_bytes` is the source of randomness, so callers choose it (the
    /// controller passes its seeded RNG; tests pass a fixed sequence).
    pub fn random(mut random_bytes: impl FnMut() -> [u8; 16]) -> TopicId {
        loop {
            let mut bytes = random_bytes();
            bytes[6] = (bytes[6] & 0x0f) | 0x40;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            let id = TopicId(bytes);
            // The first base64 character is the top six bits of byte 0;
            // index 62 is '-'.
            if !id.is_reserved() && bytes[0] >> 2 != 62 {
                return id;
            }
        }
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 22];
        let mut written = 0;
        for chunk in self.0.chunks(3) {
            let b0 = chunk[0];
            let b1 = chunk.get(1).copied().unwrap_or(0);
            let b2 = chunk.get(2).copied().unwrap_or(0);
            let sextets = [
                b0 >> 2,
                ((b0 & 0x03) << 4) | (b1 >> 4),
                ((b1 & 0x0f) << 2) | (b2 >> 6),
                b2 & 0x3f,
            ];
            // 3 bytes make 4 characters; the final single byte makes 2.
            let produced = chunk.len() + 1;
            for sextet in &sextets[..produced] {
                out[written] = BASE64_URL[usize::from(*sextet)];
                written += 1;
            }
        }
        // Every byte written above comes from BASE64_URL, which is ASCII.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

impl FromStr for TopicId {
    type Err = TopicIdParseError;

    /// Parses Kafka's base64 form (`Uuid.fromString`): URL-safe alphabet,
    /// 22 characters without padding (two trailing `=` are tolerated).
    fn from_str(text: &str) -> Result<TopicId, TopicIdParseError> {
        let invalid = || TopicIdParseError {
            input: text.chars().take(40).collect(),
        };
        let digits = text.strip_suffix("==").unwrap_or(text);
        if digits.len() != 22 {
            return Err(invalid());
        }
        let mut bits: u32 = 0;
        let mut bit_count = 0;
        let mut bytes = [0u8; 16];
        let mut filled = 0;
        for c in digits.bytes() {
            let value = BASE64_URL
                .iter()
                .position(|&a| a == c)
                .ok_or_else(invalid)?;
            bits = (bits << 6) | u32::try_from(value).map_err(|_| invalid())?;
            bit_count += 6;
            if bit_count >= 8 {
                bit_count -= 8;
                let byte = u8::try_from((bits >> bit_count) & 0xff).map_err(|_| invalid())?;
                *bytes.get_mut(filled).ok_or_else(invalid)? = byte;
                filled += 1;
            }
        }
        // 22 characters carry 132 bits: 16 bytes and 4 bits that must be zero
        // for the text to be canonical.
        if filled != 16 || bits & ((1 << bit_count) - 1) != 0 {
            return Err(invalid());
        }
        Ok(TopicId(bytes))
    }
}

impl Serialize for TopicId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TopicId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TopicId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_kafka_base64() {
        // Kafka: new Uuid(0L, 1L).toString() == "AAAAAAAAAAAAAAAAAAAAAQ"
        assert_eq!(TopicId::METADATA.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(TopicId::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = TopicId::from_bytes([0xff; 16]);
        assert_eq!(id.to_string(), "_____________________w");
    }

    #[test]
    fn parse_round_trips_display() {
        let id = TopicId::from_bytes([
            0xbd, 0x92, 0x98, 0x49, 0x3d, 0x29, 0x48, 0x0d, 0x87, 0x3b, 0x97, 0xfe, 0xa1, 0x8e,
            0x0e, 0xd9,
        ]);
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(text.parse::<TopicId>(), Ok(id));
        assert_eq!(format!("{text}==").parse::<TopicId>(), Ok(id));
    }

    #[test]
    fn parse_rejects_malformed_text() {
        assert!("".parse::<TopicId>().is_err());
        assert!("AAAA".parse::<TopicId>().is_err());
        assert!("AAAAAAAAAAAAAAAAAAAAA+".parse::<TopicId>().is_err());
        // The last character carries 4 bits that must be zero.
        assert!("AAAAAAAAAAAAAAAAAAAAAB".parse::<TopicId>().is_err());
        assert!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .parse::<TopicId>()
            .is_err());
    }

    #[test]
    fn random_ids_are_version_4_and_never_reserved() {
        let mut sources = vec![[0u8; 16], [0xf8; 16], [0x11; 16]].into_iter();
        // All-zero input still gets the version bits, so it is not ZERO; the
        // 0xf8 input would start with '-' and is skipped.
        let first = TopicId::random(|| sources.next().unwrap_or([0x22; 16]));
        assert!(!first.is_reserved());
        assert_eq!(first.to_bytes()[6] >> 4, 4);
        assert_eq!(first.to_bytes()[8] >> 6, 0b10);
        let second = TopicId::random(|| sources.next().unwrap_or([0x22; 16]));
        assert!(!second.to_string().starts_with('-'));
        assert_eq!(second.to_bytes()[0], 0x11);
    }

    #[test]
    fn u64_pair_is_big_endian() {
        assert_eq!(TopicId::from_u64_pair(0, 1), TopicId::METADATA);
        assert_eq!(TopicId::from_u64_pair(1, 0).to_bytes()[7], 1);
    }

    #[test]
    fn serde_uses_the_base64_text() {
        let id = TopicId::METADATA;
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, "\"AAAAAAAAAAAAAAAAAAAAAQ\"");
        let back: TopicId = serde_json::from_str(&json).unwrap_or(TopicId::ZERO);
        assert_eq!(back, id);
    }
}
