//! The Fetch response, encoded around its record bytes.
//!
//! A Fetch response is mostly the record batches read from the logs. The
//! generic encoder copies them into the response buffer; this one writes
//! every field as `kafka-protocol` does (the same bytes, checked by the
//! tests below for versions 4–18) except that a partition's `records` field
//! gets only its length prefix in the buffer: the batches themselves become
//! pieces of the [`ResponseFrame`] of their own, the very `Bytes` the log
//! read, and the socket write gathers them (`writev`). The encoded fields of
//! the whole response share one allocation.
//!
//! Sub-structures without records (aborted transactions, diverging epoch,
//! current leader, snapshot id, node endpoints) are encoded by
//! `kafka-protocol` itself. A response carrying unknown tagged fields at the
//! response, topic or partition level (Strom never sets any) is handed to
//! the generic encoder whole.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use crate::{encode_response, ProtocolError, ResponseFrame};

/// Encodes `[size][response header][FetchResponse]` at `version` with each
/// partition's record bytes as a piece of its own.
pub fn encode_fetch_response(
    version: i16,
    correlation_id: i32,
    body: &FetchResponse,
) -> Result<ResponseFrame, ProtocolError> {
    if has_unknown_tagged_fields(body) {
        return encode_response(ApiKey::Fetch, version, correlation_id, body);
    }
    let err = |reason: String| ProtocolError::Encode {
        api: ApiKey::Fetch,
        version,
        reason,
    };
    let mut out = Pieces::with_capacity(encoded_fields_estimate(body));
    out.buf.put_i32(0); // the size, set once known
    let header_version = ApiKey::Fetch.response_header_version(version);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out.buf, header_version)
        .map_err(|e| err(format!("{e:#}")))?;
    encode_body(&mut out, body, version).map_err(err)?;
    out.finish().map_err(err)
}

fn has_unknown_tagged_fields(body: &FetchResponse) -> bool {
    !body.unknown_tagged_fields.is_empty()
        || body.responses.iter().any(|t| {
            !t.unknown_tagged_fields.is_empty()
                || t.partitions
                    .iter()
                    .any(|p| !p.unknown_tagged_fields.is_empty())
        })
}

/// Bytes of the encoded fields (records excluded), rounded up: enough that
/// the buffer rarely grows.
fn encoded_fields_estimate(body: &FetchResponse) -> usize {
    let partitions: usize = body.responses.iter().map(|t| t.partitions.len()).sum();
    let aborted: usize = body
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.aborted_transactions.as_ref().map_or(0, Vec::len))
        .sum();
    let names: usize = body.responses.iter().map(|t| t.topic.len() + 32).sum();
    64 + names + partitions * 80 + aborted * 24
}

/// The encoded fields in one buffer, and where the record pieces go in it.
struct Pieces {
    buf: BytesMut,
    /// (position in `buf`, records inserted there), in order.
    records: Vec<(usize, Bytes)>,
    records_len: usize,
}

impl Pieces {
    fn with_capacity(capacity: usize) -> Pieces {
        Pieces {
            buf: BytesMut::with_capacity(capacity),
            records: Vec::new(),
            records_len: 0,
        }
    }

    fn records(&mut self, records: &Bytes) {
        if !records.is_empty() {
            self.records_len += records.len();
            self.records.push((self.buf.len(), records.clone()));
        }
    }

    fn finish(mut self) -> Result<ResponseFrame, String> {
        let size = self.buf.len() - 4 + self.records_len;
        let size = i32::try_from(size)
            .map_err(|_| format!("a response of {size} bytes does not fit a frame"))?;
        self.buf[..4].copy_from_slice(&size.to_be_bytes());
        let fields = self.buf.freeze();
        let mut pieces = Vec::with_capacity(2 * self.records.len() + 1);
        let mut at = 0;
        for (position, records) in self.records {
            pieces.push(fields.slice(at..position));
            pieces.push(records);
            at = position;
        }
        pieces.push(fields.slice(at..));
        Ok(ResponseFrame::from_pieces(pieces))
    }
}

fn encode_body(out: &mut Pieces, body: &FetchResponse, version: i16) -> Result<(), String> {
    if !(4..=18).contains(&version) {
        return Err(format!("Fetch response version {version} is not supported"));
    }
    let flexible = version >= 12;
    let buf = &mut out.buf;
    buf.put_i32(body.throttle_time_ms);
    if version >= 7 {
        buf.put_i16(body.error_code);
        buf.put_i32(body.session_id);
    } else if body.session_id != 0 {
        return Err(unavailable("session_id"));
    }
    array_len(buf, flexible, Some(body.responses.len()))?;
    for topic in &body.responses {
        encode_topic(out, topic, version)?;
    }
    if flexible {
        let buf = &mut out.buf;
        let endpoints = version >= 16 && !body.node_endpoints.is_empty();
        unsigned_varint(buf, u32::from(endpoints));
        if endpoints {
            let mut size = compact_array_len_size(body.node_endpoints.len())?;
            for e in &body.node_endpoints {
                size += e.compute_size(version).map_err(|e| format!("{e:#}"))?;
            }
            unsigned_varint(buf, 0);
            unsigned_varint(buf, len_u32(size)?);
            array_len(buf, true, Some(body.node_endpoints.len()))?;
            for e in &body.node_endpoints {
                e.encode(buf, version).map_err(|e| format!("{e:#}"))?;
            }
        }
    }
    Ok(())
}

fn encode_topic(
    out: &mut Pieces,
    topic: &FetchableTopicResponse,
    version: i16,
) -> Result<(), String> {
    let flexible = version >= 12;
    let buf = &mut out.buf;
    if version <= 12 {
        string(buf, flexible, topic.topic.as_bytes())?;
    }
    if version >= 13 {
        buf.put_slice(topic.topic_id.as_bytes());
    }
    array_len(buf, flexible, Some(topic.partitions.len()))?;
    for partition in &topic.partitions {
        encode_partition(out, partition, version)?;
    }
    if flexible {
        unsigned_varint(&mut out.buf, 0);
    }
    Ok(())
}

fn encode_partition(out: &mut Pieces, p: &PartitionData, version: i16) -> Result<(), String> {
    let flexible = version >= 12;
    let buf = &mut out.buf;
    buf.put_i32(p.partition_index);
    buf.put_i16(p.error_code);
    buf.put_i64(p.high_watermark);
    buf.put_i64(p.last_stable_offset);
    if version >= 5 {
        buf.put_i64(p.log_start_offset);
    }
    let aborted = p.aborted_transactions.as_ref();
    array_len(buf, flexible, aborted.map(Vec::len))?;
    for a in aborted.into_iter().flatten() {
        a.encode(buf, version).map_err(|e| format!("{e:#}"))?;
    }
    if version >= 11 {
        buf.put_i32(p.preferred_read_replica.0);
    } else if p.preferred_read_replica.0 != -1 {
        return Err(unavailable("preferred_read_replica"));
    }
    // The records field: its length here, its bytes a piece of their own.
    let records_len = p.records.as_ref().map(Bytes::len);
    match (flexible, records_len) {
        (true, None) => unsigned_varint(buf, 0),
        (true, Some(n)) => unsigned_varint(buf, len_u32(n)?.checked_add(1).ok_or_else(too_long)?),
        (false, None) => buf.put_i32(-1),
        (false, Some(n)) => buf.put_i32(i32::try_from(n).map_err(|_| too_long())?),
    }
    if let Some(records) = &p.records {
        out.records(records);
    }
    if flexible {
        let buf = &mut out.buf;
        let diverging = p.diverging_epoch != Default::default();
        let leader = p.current_leader != Default::default();
        let snapshot = p.snapshot_id != Default::default();
        unsigned_varint(
            buf,
            u32::from(diverging) + u32::from(leader) + u32::from(snapshot),
        );
        if diverging {
            tagged(buf, 0, &p.diverging_epoch, version)?;
        }
        if leader {
            tagged(buf, 1, &p.current_leader, version)?;
        }
        if snapshot {
            tagged(buf, 2, &p.snapshot_id, version)?;
        }
    }
    Ok(())
}

fn tagged<T: Encodable>(
    buf: &mut BytesMut,
    tag: u32,
    value: &T,
    version: i16,
) -> Result<(), String> {
    let size = value.compute_size(version).map_err(|e| format!("{e:#}"))?;
    unsigned_varint(buf, tag);
    unsigned_varint(buf, len_u32(size)?);
    value.encode(buf, version).map_err(|e| format!("{e:#}"))
}

fn unavailable(field: &str) -> String {
    format!("{field} is set but not available in this version")
}

fn too_long() -> String {
    "a field is too long to encode".to_owned()
}

fn len_u32(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| too_long())
}

fn unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

fn unsigned_varint_size(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

fn compact_array_len_size(len: usize) -> Result<usize, String> {
    Ok(unsigned_varint_size(
        len_u32(len)?.checked_add(1).ok_or_else(too_long)?,
    ))
}

/// An array's length: `None` is a null array.
fn array_len(buf: &mut BytesMut, flexible: bool, len: Option<usize>) -> Result<(), String> {
    match (flexible, len) {
        (true, None) => unsigned_varint(buf, 0),
        (true, Some(n)) => unsigned_varint(buf, len_u32(n)?.checked_add(1).ok_or_else(too_long)?),
        (false, None) => buf.put_i32(-1),
        (false, Some(n)) => buf.put_i32(i32::try_from(n).map_err(|_| too_long())?),
    }
    Ok(())
}

fn string(buf: &mut BytesMut, flexible: bool, s: &[u8]) -> Result<(), String> {
    if flexible {
        unsigned_varint(buf, len_u32(s.len())?.checked_add(1).ok_or_else(too_long)?);
    } else {
        buf.put_i16(i16::try_from(s.len()).map_err(|_| too_long())?);
    }
    buf.put_slice(s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, LeaderIdAndEpoch, NodeEndpoint, SnapshotId,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn records(n: usize, fill: u8) -> Bytes {
        Bytes::from(vec![fill; n])
    }

    fn partition(index: i32, records: Option<Bytes>) -> PartitionData {
        let mut p = PartitionData::default();
        p.partition_index = index;
        p.high_watermark = 1000 + i64::from(index);
        p.last_stable_offset = 900 + i64::from(index);
        p.log_start_offset = i64::from(index);
        p.records = records;
        p
    }

    /// Several topics and partitions: records empty, absent (null), small
    /// and large (a length needing a multi-byte varint), an error, aborted
    /// transactions (none, empty, several), a diverging epoch, a current
    /// leader and a snapshot id; the fields later versions drop left at
    /// their defaults where a version cannot carry them.
    fn response(version: i16) -> FetchResponse {
        let flexible = version >= 12;
        let mut resp = FetchResponse::default();
        resp.throttle_time_ms = 7;
        if version >= 7 {
            resp.error_code = 0;
            resp.session_id = 0;
        }
        let mut t1 = FetchableTopicResponse::default();
        t1.topic = TopicName(StrBytes::from_static_str("orders"));
        t1.topic_id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        t1.partitions.push(partition(0, Some(records(100, 1))));
        t1.partitions.push(partition(1, Some(Bytes::new())));
        let mut aborted = partition(2, Some(records(20_000, 2)));
        aborted.aborted_transactions = Some(vec![
            AbortedTransaction::default()
                .with_producer_id(ProducerId(42))
                .with_first_offset(17),
            AbortedTransaction::default()
                .with_producer_id(ProducerId(43))
                .with_first_offset(19),
        ]);
        t1.partitions.push(aborted);
        let mut empty_aborted = partition(3, None);
        empty_aborted.aborted_transactions = Some(Vec::new());
        t1.partitions.push(empty_aborted);
        let mut failed = partition(4, Some(Bytes::new()));
        failed.error_code = 6;
        failed.high_watermark = -1;
        t1.partitions.push(failed);
        let mut t2 = FetchableTopicResponse::default();
        t2.topic = TopicName(StrBytes::from_static_str("payments-ü"));
        t2.topic_id = uuid::Uuid::from_u128(99);
        if flexible {
            let mut diverged = partition(0, Some(Bytes::new()));
            diverged.diverging_epoch = EpochEndOffset::default()
                .with_epoch(3)
                .with_end_offset(12_345);
            t2.partitions.push(diverged);
            let mut led = partition(1, Some(Bytes::new()));
            led.error_code = 6;
            led.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(2))
                .with_leader_epoch(9);
            t2.partitions.push(led);
            let mut snap = partition(2, Some(records(3, 3)));
            snap.snapshot_id = SnapshotId::default().with_end_offset(5).with_epoch(1);
            t2.partitions.push(snap);
        }
        if version >= 11 {
            let mut preferred = partition(5, Some(records(1, 5)));
            preferred.preferred_read_replica = BrokerId(3);
            t2.partitions.push(preferred);
        }
        t2.partitions.push(partition(6, Some(records(300, 6))));
        resp.responses = vec![t1, t2, FetchableTopicResponse::default()];
        if version >= 16 {
            resp.node_endpoints.push(
                NodeEndpoint::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("broker-2"))
                    .with_port(9092)
                    .with_rack(Some(StrBytes::from_static_str("rack-a"))),
            );
        }
        resp
    }

    fn both(version: i16, resp: &FetchResponse) -> (Bytes, Bytes) {
        let generic = encode_response(ApiKey::Fetch, version, 0x0102_0304, resp)
            .unwrap()
            .to_bytes();
        let pieces = encode_fetch_response(version, 0x0102_0304, resp).unwrap();
        assert_eq!(pieces.len(), pieces.to_bytes().len());
        (generic, pieces.to_bytes())
    }

    #[test]
    fn the_fetch_encoding_is_byte_identical_to_kafka_protocols_in_every_version() {
        for version in 4..=18 {
            let resp = response(version);
            let (generic, pieces) = both(version, &resp);
            assert!(
                generic == pieces,
                "Fetch v{version} differs from kafka-protocol's encoding"
            );
            // A client decodes it, records included, and nothing is left over.
            let mut body = pieces.slice(4..);
            let header_version = ApiKey::Fetch.response_header_version(version);
            let header = <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(
                &mut body,
                header_version,
            )
            .unwrap();
            assert_eq!(header.correlation_id, 0x0102_0304);
            let decoded =
                <FetchResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, version)
                    .unwrap();
            assert!(
                body.is_empty(),
                "Fetch v{version}: {} bytes left",
                body.len()
            );
            let records = |r: &FetchResponse| -> Vec<Option<Bytes>> {
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.records.clone()))
                    .collect()
            };
            assert!(
                records(&decoded) == records(&resp),
                "Fetch v{version} records"
            );
        }
    }

    #[test]
    fn every_record_length_encodes_as_kafka_protocol_does() {
        // Lengths around the varint steps (1, 2, 3 bytes) in both forms.
        for n in [0, 1, 126, 127, 128, 16_382, 16_383, 16_384, 70_000] {
            for version in [11, 12, 17] {
                let mut resp = FetchResponse::default();
                let mut t = FetchableTopicResponse::default();
                t.topic = TopicName(StrBytes::from_static_str("t"));
                t.partitions.push(partition(0, Some(records(n, 9))));
                resp.responses.push(t);
                let (generic, pieces) = both(version, &resp);
                assert!(generic == pieces, "{n} record bytes, Fetch v{version}");
            }
        }
    }

    #[test]
    fn record_bytes_are_shared_with_the_log_read_not_copied() {
        let resp = response(17);
        let frame = encode_fetch_response(17, 1, &resp).unwrap();
        let large = resp.responses[0].partitions[2].records.clone().unwrap();
        assert!(
            frame
                .pieces()
                .iter()
                .any(|p| p.as_ptr() == large.as_ptr() && p.len() == large.len()),
            "the 20,000 record bytes are a piece of the frame, not a copy"
        );
        // Fields, then records, alternating: one piece per non-empty records
        // field plus the fields around them.
        let non_empty = resp
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.records.as_ref().is_some_and(|r| !r.is_empty()))
            .count();
        assert_eq!(frame.pieces().len(), 2 * non_empty + 1);
    }

    #[test]
    fn an_empty_response_and_a_session_error_encode_as_before() {
        for version in 4..=18 {
            let mut resp = FetchResponse::default();
            let (generic, pieces) = both(version, &resp);
            assert_eq!(generic, pieces, "empty Fetch v{version}");
            resp.error_code = 70; // FETCH_SESSION_ID_NOT_FOUND
            let (generic, pieces) = both(version, &resp);
            assert_eq!(generic, pieces, "session error Fetch v{version}");
        }
    }

    #[test]
    fn a_field_the_version_cannot_carry_is_an_error_as_with_kafka_protocol() {
        let mut resp = response(6);
        resp.session_id = 5;
        assert!(encode_response(ApiKey::Fetch, 6, 1, &resp).is_err());
        assert!(encode_fetch_response(6, 1, &resp).is_err());
        let mut resp = response(10);
        resp.responses[0].partitions[0].preferred_read_replica = BrokerId(1);
        assert!(encode_response(ApiKey::Fetch, 10, 1, &resp).is_err());
        assert!(encode_fetch_response(10, 1, &resp).is_err());
        assert!(encode_fetch_response(3, 1, &FetchResponse::default()).is_err());
        assert!(encode_fetch_response(19, 1, &FetchResponse::default()).is_err());
    }

    #[test]
    fn unknown_tagged_fields_fall_back_to_the_generic_encoder() {
        let mut resp = response(17);
        resp.responses[1].partitions[0]
            .unknown_tagged_fields
            .insert(9, Bytes::from_static(b"xy"));
        let (generic, pieces) = both(17, &resp);
        assert_eq!(generic, pieces);
    }
}
