//! Unknown tagged fields survive a decode/encode round trip, whatever their tag.
//! Regression for a `cargo fuzz` finding (target `request`): a tag of 2^31 or more was
//! counted in the tagged-field count but not written, so the re-encoded message was
//! short and no longer decoded.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ConsumerGroupDescribeRequest;
use kafka_protocol::protocol::{Decodable, Encodable};

/// ConsumerGroupDescribe v0 body: no group ids, includeAuthorizedOperations false, then
/// one tagged field whose tag is the 5-byte varint `bd bd 85 bd 0d` (>= 2^31) with an
/// empty value.
const BODY: &[u8] = &[0x01, 0x00, 0x01, 0xbd, 0xbd, 0x85, 0xbd, 0x0d, 0x00];

#[test]
fn a_tagged_field_above_i32_max_is_written_back() {
    let mut body = Bytes::from_static(BODY);
    let request = ConsumerGroupDescribeRequest::decode(&mut body, 0).unwrap();
    assert!(body.is_empty());
    assert_eq!(request.unknown_tagged_fields.len(), 1);
    let (&tag, value) = request.unknown_tagged_fields.iter().next().unwrap();
    assert!(
        tag < 0,
        "the tag is above i32::MAX, kept as a negative key: {tag}"
    );
    assert!(value.is_empty());

    let mut out = BytesMut::new();
    request.encode(&mut out, 0).unwrap();
    assert_eq!(out.len(), request.compute_size(0).unwrap());
    assert_eq!(&out[..], BODY, "the same bytes come back");
    let again = ConsumerGroupDescribeRequest::decode(&mut out.freeze(), 0).unwrap();
    assert_eq!(again, request);
}

#[test]
fn tags_are_written_in_unsigned_order() {
    let request = ConsumerGroupDescribeRequest::default().with_unknown_tagged_fields(
        [
            (-5, Bytes::from_static(b"high")),
            (7, Bytes::from_static(b"low")),
        ]
        .into_iter()
        .collect(),
    );
    let mut out = BytesMut::new();
    request.encode(&mut out, 0).unwrap();
    // groupIds, includeAuthorizedOperations, 2 tagged fields, tag 7 first.
    assert_eq!(&out[..6], &[0x01, 0x00, 0x02, 0x07, 0x03, b'l']);
    let again = ConsumerGroupDescribeRequest::decode(&mut out.freeze(), 0).unwrap();
    assert_eq!(again, request);
}
