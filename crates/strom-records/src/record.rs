//! Records inside a batch, and the one parser both the validator and the decoder use.
//!
//! The parser returns byte ranges, not copies, so the produce-path validator walks a batch
//! without allocating, and the decoder hands out `Bytes` slices of the batch. Header keys
//! are kept as bytes and duplicates are kept in order: Kafka allows both, and a broker that
//! rewrites batches must not lose either.

use std::ops::Range;

use bytes::Bytes;

use crate::varint::{
    read_varint, read_varlong, varint_size, varlong_size, write_varint, write_varlong,
};
use crate::RecordsError;

/// One record header. Keys are UTF-8 by convention only, so they stay bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header key.
    pub key: Bytes,
    /// Header value; `None` is a null value (length -1).
    pub value: Option<Bytes>,
}

impl Header {
    /// A header from borrowed parts (copied).
    pub fn new(key: impl AsRef<[u8]>, value: Option<&[u8]>) -> Header {
        Header {
            key: Bytes::copy_from_slice(key.as_ref()),
            value: value.map(Bytes::copy_from_slice),
        }
    }

    /// The key as UTF-8, when it is.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// One decoded record, with its absolute offset and timestamp resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record attributes (unused by Kafka so far, kept for fidelity).
    pub attributes: i8,
    /// Delta from the batch's `baseTimestamp`.
    pub timestamp_delta: i64,
    /// Delta from the batch's `baseOffset`.
    pub offset_delta: i32,
    /// Key; `None` is a null key.
    pub key: Option<Bytes>,
    /// Value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers in wire order, duplicates kept.
    pub headers: Vec<Header>,
    offset: i64,
    timestamp: i64,
}

impl Record {
    /// Absolute offset: `baseOffset + offsetDelta`.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Absolute timestamp: `baseTimestamp + timestampDelta`, or the batch's `maxTimestamp`
    /// for LogAppendTime batches.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

/// Byte ranges of one record inside a records section.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Range<usize>>,
    pub value: Option<Range<usize>>,
    pub headers_count: i32,
    pub headers_start: usize,
    /// Position right after this record.
    pub end: usize,
}

fn invalid(index: i32, position: usize, reason: &'static str) -> RecordsError {
    RecordsError::InvalidRecord {
        index,
        position,
        reason,
    }
}

/// Reads a nullable length-prefixed field, returning its range.
fn read_nullable(
    data: &[u8],
    pos: &mut usize,
    end: usize,
    index: i32,
    what: &'static str,
) -> Result<Option<Range<usize>>, RecordsError> {
    let at = *pos;
    let len = read_varint(&data[..end], pos).ok_or_else(|| invalid(index, at, what))?;
    if len < 0 {
        if len != -1 {
            return Err(invalid(index, at, what));
        }
        return Ok(None);
    }
    let start = *pos;
    let stop = start
        .checked_add(len as usize)
        .filter(|stop| *stop <= end)
        .ok_or_else(|| invalid(index, at, what))?;
    *pos = stop;
    Ok(Some(start..stop))
}

/// Parses the record starting at `pos`, checking that every length fits inside it.
pub(crate) fn parse_record(data: &[u8], pos: usize, index: i32) -> Result<RawRecord, RecordsError> {
    let mut p = pos;
    let length =
        read_varint(data, &mut p).ok_or_else(|| invalid(index, pos, "unreadable record length"))?;
    let end = usize::try_from(length)
        .ok()
        .and_then(|len| p.checked_add(len))
        .filter(|end| *end <= data.len())
        .ok_or_else(|| invalid(index, pos, "record length runs past the end of the batch"))?;
    let body = &data[..end];
    let attributes = *body
        .get(p)
        .ok_or_else(|| invalid(index, p, "record ends before its attributes"))?
        as i8;
    p += 1;
    let timestamp_delta = read_varlong(body, &mut p)
        .ok_or_else(|| invalid(index, p, "unreadable timestamp delta"))?;
    let offset_delta =
        read_varint(body, &mut p).ok_or_else(|| invalid(index, p, "unreadable offset delta"))?;
    let key = read_nullable(
        data,
        &mut p,
        end,
        index,
        "key length does not fit the record",
    )?;
    let value = read_nullable(
        data,
        &mut p,
        end,
        index,
        "value length does not fit the record",
    )?;
    let at = p;
    let headers_count =
        read_varint(body, &mut p).ok_or_else(|| invalid(index, at, "unreadable header count"))?;
    if headers_count < 0 {
        return Err(invalid(index, at, "negative header count"));
    }
    let headers_start = p;
    for _ in 0..headers_count {
        let at = p;
        let key = read_nullable(
            data,
            &mut p,
            end,
            index,
            "header key length does not fit the record",
        )?;
        if key.is_none() {
            return Err(invalid(index, at, "null header key"));
        }
        read_nullable(
            data,
            &mut p,
            end,
            index,
            "header value length does not fit the record",
        )?;
    }
    if p != end {
        return Err(invalid(
            index,
            p,
            "record length disagrees with its contents",
        ));
    }
    Ok(RawRecord {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers_count,
        headers_start,
        end,
    })
}

/// Decodes `count` records from a records section; trailing bytes are an error.
pub(crate) fn decode_records(
    data: Bytes,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
) -> Result<Vec<Record>, RecordsError> {
    let count = usize::try_from(count).map_err(|_| invalid(0, 0, "negative record count"))?;
    // A record is at least 7 bytes; never trust the declared count for the allocation.
    let mut records = Vec::with_capacity(count.min(data.len() / 7 + 1));
    let mut pos = 0;
    for index in 0..count {
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        let raw = parse_record(&data, pos, index)?;
        let mut headers = Vec::with_capacity(raw.headers_count as usize);
        let mut hp = raw.headers_start;
        for _ in 0..raw.headers_count {
            // Already checked by parse_record; errors here are unreachable but not fatal.
            let key = read_nullable(&data, &mut hp, raw.end, index, "header key")?.unwrap_or(0..0);
            let value = read_nullable(&data, &mut hp, raw.end, index, "header value")?;
            headers.push(Header {
                key: data.slice(key),
                value: value.map(|r| data.slice(r)),
            });
        }
        records.push(Record {
            attributes: raw.attributes,
            timestamp_delta: raw.timestamp_delta,
            offset_delta: raw.offset_delta,
            key: raw.key.map(|r| data.slice(r)),
            value: raw.value.map(|r| data.slice(r)),
            headers,
            offset: base_offset.wrapping_add(i64::from(raw.offset_delta)),
            timestamp: log_append_time
                .unwrap_or_else(|| base_timestamp.wrapping_add(raw.timestamp_delta)),
        });
        pos = raw.end;
    }
    if pos != data.len() {
        return Err(invalid(
            i32::try_from(count).unwrap_or(i32::MAX),
            pos,
            "bytes left after the declared number of records",
        ));
    }
    Ok(records)
}

/// Appends one encoded record to `out`.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let field_size = |f: Option<&[u8]>| match f {
        Some(b) => varint_size(b.len() as i32) + b.len(),
        None => varint_size(-1),
    };
    let mut size = 1
        + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + field_size(key)
        + field_size(value);
    size += varint_size(headers.len() as i32);
    for h in headers {
        size += field_size(Some(&h.key)) + field_size(h.value.as_deref());
    }
    let write_field = |out: &mut Vec<u8>, f: Option<&[u8]>| match f {
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
        None => write_varint(out, -1),
    };
    out.reserve(size + 5);
    write_varint(out, size as i32);
    out.push(0);
    write_varlong(out, timestamp_delta);
    write_varint(out, offset_delta);
    write_field(out, key);
    write_field(out, value);
    write_varint(out, headers.len() as i32);
    for h in headers {
        write_field(out, Some(&h.key));
        write_field(out, h.value.as_deref());
    }
}
