//! Kafka's zig-zag varints (protobuf encoding): records use them for every length and delta.
//!
//! Readers work on a slice and a cursor and return `None` on truncation or an over-long
//! encoding, so callers can turn that into the error that fits their context.

/// Reads a zig-zag varint of at most 5 bytes.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let mut raw: u32 = 0;
    for i in 0..5 {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        raw |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i32) ^ -((raw & 1) as i32));
        }
    }
    None
}

/// Reads a zig-zag varlong of at most 10 bytes.
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// Appends `value` as a zig-zag varint.
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned(out, ((value << 1) ^ (value >> 31)) as u32 as u64);
}

/// Appends `value` as a zig-zag varlong.
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut raw: u64) {
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Encoded size of `value` as a zig-zag varint.
pub fn varint_size(value: i32) -> usize {
    unsigned_size(((value << 1) ^ (value >> 31)) as u32 as u64)
}

/// Encoded size of `value` as a zig-zag varlong.
pub fn varlong_size(value: i64) -> usize {
    unsigned_size(((value << 1) ^ (value >> 63)) as u64)
}

fn unsigned_size(raw: u64) -> usize {
    let bits = 64 - (raw | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_across_the_range() {
        for v in [0, 1, -1, 63, -64, 64, 300, -300, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out.len(), varint_size(v), "size of {v}");
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
        for v in [
            0,
            1,
            -1,
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
            -1_700_000_000_000,
        ] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_size(v), "size of {v}");
            let mut pos = 0;
            assert_eq!(read_varlong(&out, &mut pos), Some(v));
        }
    }

    #[test]
    fn known_encodings_match_kafka() {
        // Zig-zag: 0 -> 0x00, -1 -> 0x01, 1 -> 0x02, 150 -> 300 -> 0xac 0x02.
        let mut out = Vec::new();
        write_varint(&mut out, -1);
        write_varint(&mut out, 1);
        write_varint(&mut out, 150);
        assert_eq!(out, [0x01, 0x02, 0xac, 0x02]);
    }

    #[test]
    fn truncated_and_overlong_varints_are_rejected() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0x80], &mut pos), None);
        let mut pos = 0;
        assert_eq!(read_varint(&[0xff; 6], &mut pos), None);
        let mut pos = 0;
        assert_eq!(read_varlong(&[0xff; 11], &mut pos), None);
    }
}
