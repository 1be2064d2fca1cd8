//! The request preamble: api key, api version and correlation id, which sit
//! at fixed positions in every request header version. Reading them first
//! lets the broker answer an unsupported version or an unknown key with
//! Kafka's error instead of failing to decode a header it does not know.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
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
        RequestHeader::decode(frame, header_version).map_err(|e| ProtocolError::Malformed {
            api,
            version: self.api_version,
            reason: format!("request header: {e:#}"),
        })
    }
}

/// Decodes a request body of a known version.
pub fn decode_body<T: Decodable>(
    api: ApiKey,
    version: i16,
    body: &mut Bytes,
) -> Result<T, ProtocolError> {
    T::decode(body, version).map_err(|e| ProtocolError::Malformed {
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
}
