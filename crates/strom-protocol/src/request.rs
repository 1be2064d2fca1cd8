//! The request preamble: api key, api version and correlation id, which sit
//! at fixed positions in every request header version. Reading them first
//! lets the broker answer an unsupported version or an unknown key with
//! Kafka's error instead of failing to decode a header it does not know.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::types::with_decode_budget;
use kafka_protocol::protocol::Decodable;

use crate::ProtocolError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPreamble {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

impl RequestPreamble {
    pub fn parse(frame: &[u8]) -> Result<Self, ProtocolError> {
        if frame.len() < 8 {
            return Err(ProtocolError::TruncatedHeader(frame.len()));
        }
        Ok(RequestPreamble {
            api_key: i16::from_be_bytes([frame[0], frame[1]]),
            api_version: i16::from_be_bytes([frame[2], frame[3]]),
            correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
        })
    }

    /// Decodes the full request header, leaving `frame` at the body.
    pub fn decode_header(
        &self,
        api: ApiKey,
        frame: &mut Bytes,
    ) -> Result<RequestHeader, ProtocolError> {
        let header_version = api.request_header_version(self.api_version);
        let budget = decoded_budget(frame.len());
        with_decode_budget(budget, || RequestHeader::decode(frame, header_version)).map_err(|e| {
            ProtocolError::Malformed {
                api,
                version: self.api_version,
                reason: format!("request header: {e:#}"),
            }
        })
    }
}

/// Decoded memory a request may take per byte of its body: legitimate requests stay well
/// under it (a Metadata topic named by a short string is ~25x, but such requests are small
/// and fit [`MIN_DECODED_BYTES`]; Produce records stay slices of the frame).
pub const DECODED_BYTES_PER_WIRE_BYTE: usize = 8;
/// Every request may decode into at least this much.
pub const MIN_DECODED_BYTES: usize = 1 << 20;
/// No request decodes into more than this, whatever its size.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// The decoded-memory budget of a request body of `wire_bytes` bytes (see the vendored
/// codec's PATCHES.md): decoding a request never takes more than this beyond its frame.
pub fn decoded_budget(wire_bytes: usize) -> usize {
    wire_bytes
        .saturating_mul(DECODED_BYTES_PER_WIRE_BYTE)
        .clamp(MIN_DECODED_BYTES, MAX_DECODED_BYTES)
}

/// Decodes a request body of a known version, within [`decoded_budget`]: a body whose
/// arrays would decode into more memory than that is malformed.
pub fn decode_body<T: Decodable>(
    api: ApiKey,
    version: i16,
    body: &mut Bytes,
) -> Result<T, ProtocolError> {
    let budget = decoded_budget(body.len());
    with_decode_budget(budget, || T::decode(body, version)).map_err(|e| ProtocolError::Malformed {
        api,
        version,
        reason: format!("{e:#}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::MetadataRequest;

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        for n in 0..8 {
            assert!(matches!(
                RequestPreamble::parse(&[0u8; 8][..n]),
                Err(ProtocolError::TruncatedHeader(_))
            ));
        }
    }

    #[test]
    fn crafted_metadata_body_with_huge_array_length_is_refused_without_allocating() {
        // topics array length 0x7fffffff followed by nothing: the unpatched
        // decoder reserved space for two billion topics before reading one.
        let mut body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00]);
        let r: Result<MetadataRequest, _> = decode_body(ApiKey::Metadata, 1, &mut body);
        assert!(matches!(r, Err(ProtocolError::Malformed { .. })));
        // Same through a compact (flexible-version) array.
        let mut body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        let r: Result<MetadataRequest, _> = decode_body(ApiKey::Metadata, 12, &mut body);
        assert!(matches!(r, Err(ProtocolError::Malformed { .. })));
    }

    fn uvarint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A v12 Metadata body of `n` topics, each the smallest element the wire allows:
    /// topic_id (16 zero bytes), null name, no tagged fields.
    fn metadata_v12_with_empty_topics(n: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(n * 18 + 16);
        uvarint(&mut body, n as u64 + 1);
        body.resize(body.len() + n * 18, 0);
        body.extend_from_slice(&[1, 0, 0]); // allow_auto_topic_creation, authorized ops, tags
        body
    }

    #[test]
    fn a_request_whose_elements_decode_past_the_budget_is_malformed() {
        use std::mem::size_of;
        let element = size_of::<kafka_protocol::messages::metadata_request::MetadataRequestTopic>();
        // Few enough elements: decodes.
        let n = MIN_DECODED_BYTES / element / 2;
        let mut body = Bytes::from(metadata_v12_with_empty_topics(n));
        let r: MetadataRequest = decode_body(ApiKey::Metadata, 12, &mut body).unwrap();
        assert_eq!(r.topics.map(|t| t.len()), Some(n));
        // 2 million 18-byte elements (36 MB on the wire) would take element * 2M bytes.
        let n = 2_000_000;
        let wire = metadata_v12_with_empty_topics(n);
        assert!(n * element > decoded_budget(wire.len()));
        let mut body = Bytes::from(wire);
        let r: Result<MetadataRequest, _> = decode_body(ApiKey::Metadata, 12, &mut body);
        match r {
            Err(ProtocolError::Malformed { reason, .. }) => {
                assert!(reason.contains("budget"), "{reason}")
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn many_unknown_tagged_fields_count_against_the_budget() {
        // Metadata v12: no topics, then a million empty unknown tagged fields (2 bytes each).
        let n: u32 = 1_000_000;
        let mut wire = vec![1u8, 1, 0]; // topics: empty; allow auto create; authorized ops
        uvarint(&mut wire, n.into());
        for tag in 0..n {
            uvarint(&mut wire, u64::from(tag) + 100);
            wire.push(0);
        }
        assert!(n as usize * 64 > decoded_budget(wire.len()));
        let mut body = Bytes::from(wire);
        let r: Result<MetadataRequest, _> = decode_body(ApiKey::Metadata, 12, &mut body);
        assert!(matches!(r, Err(ProtocolError::Malformed { .. })), "{r:?}");
    }
}
