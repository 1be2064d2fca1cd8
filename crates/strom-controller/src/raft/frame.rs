//! The frame that wraps every record stored in the metadata directory (log
//! entries, the quorum state, snapshots), so a torn write or a flipped bit is
//! detected instead of decoded:
//!
//! ```text
//! offset  size  field
//! 0       4     length   u32 big-endian, bytes in payload (1 ..= MAX_FRAME_BYTES)
//! 4       4     crc      u32 big-endian, CRC-32C of the length bytes then the payload
//! 8       n     payload  JSON
//! ```

/// Bytes before the payload.
pub(crate) const FRAME_HEADER_BYTES: usize = 8;

/// The largest payload accepted (64 MiB): far above any metadata entry
/// (a request is bounded to 10,000 records), small enough that a garbage
/// length cannot make recovery allocate without bound.
pub(crate) const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Appends the frame for `payload` to `out`; `None` if the payload is too
/// large to frame.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if payload.is_empty() || payload.len() > MAX_FRAME_BYTES {
        return None;
    }
    let length = u32::try_from(payload.len()).ok()?.to_be_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&length), payload);
    out.extend_from_slice(&length);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(payload);
    Some(())
}

/// What is at some position of a buffer of frames.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameRead<'a> {
    /// A whole, intact frame; the next one starts at `next`.
    Frame { payload: &'a [u8], next: usize },
    /// The buffer ends exactly here.
    End,
    /// The rest of the buffer is an unfinished write: a frame cut short, a
    /// zero-filled tail, or a last frame whose checksum does not match. At
    /// the end of the newest file this is what a crash mid-append leaves.
    Incomplete(String),
    /// Damage that a crash mid-append cannot explain.
    Corrupt(String),
}

/// Reads the frame at `position` of `buffer`.
pub(crate) fn read(buffer: &[u8], position: usize) -> FrameRead<'_> {
    let Some(rest) = buffer.get(position..) else {
        return FrameRead::Corrupt(format!("position {position} is past the end"));
    };
    if rest.is_empty() {
        return FrameRead::End;
    }
    let (Some(length), Some(crc)) = (rest.get(0..4), rest.get(4..8)) else {
        return FrameRead::Incomplete(format!(
            "a frame header is cut short ({} bytes)",
            rest.len()
        ));
    };
    let length_value = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    let stored_crc = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if length_value == 0 {
        if rest.iter().all(|b| *b == 0) {
            return FrameRead::Incomplete("the file ends in zero bytes".into());
        }
        return FrameRead::Corrupt("a frame has length zero".into());
    }
    let Ok(length_usize) = usize::try_from(length_value) else {
        return FrameRead::Corrupt(format!(
            "frame length {length_value} does not fit in memory"
        ));
    };
    let end = FRAME_HEADER_BYTES.saturating_add(length_usize);
    let Some(payload) = rest.get(FRAME_HEADER_BYTES..end) else {
        return FrameRead::Incomplete(format!(
            "a frame of {length_value} bytes runs past the end of the file ({} bytes left)",
            rest.len() - FRAME_HEADER_BYTES
        ));
    };
    let next = position + end;
    if length_usize > MAX_FRAME_BYTES {
        return FrameRead::Corrupt(format!(
            "frame length {length_value} exceeds the limit of {MAX_FRAME_BYTES}"
        ));
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(length), payload);
    if crc != stored_crc {
        let reason =
            format!("frame checksum {stored_crc:#010x} does not match the content ({crc:#010x})");
        return if next == buffer.len() {
            FrameRead::Incomplete(reason)
        } else {
            FrameRead::Corrupt(reason)
        };
    }
    FrameRead::Frame { payload, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            assert_eq!(encode(payload, &mut out), Some(()));
        }
        out
    }

    #[test]
    fn frames_read_back_in_order() {
        let buffer = framed(&[b"one", b"second"]);
        let FrameRead::Frame { payload, next } = read(&buffer, 0) else {
            panic!("first frame should read");
        };
        assert_eq!(payload, b"one");
        assert_eq!(
            read(&buffer, next),
            FrameRead::Frame {
                payload: b"second",
                next: buffer.len()
            }
        );
        assert_eq!(read(&buffer, buffer.len()), FrameRead::End);
    }

    #[test]
    fn empty_and_oversized_payloads_are_refused() {
        let mut out = Vec::new();
        assert_eq!(encode(b"", &mut out), None);
        assert!(out.is_empty());
    }

    #[test]
    fn a_cut_short_tail_is_incomplete() {
        let buffer = framed(&[b"one", b"second"]);
        for cut in [buffer.len() - 1, 11 + 3, 11 + 8] {
            assert!(
                matches!(read(&buffer[..cut], 11), FrameRead::Incomplete(_)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn zero_filled_tail_is_incomplete() {
        let mut buffer = framed(&[b"one"]);
        buffer.extend_from_slice(&[0; 100]);
        assert!(matches!(read(&buffer, 11), FrameRead::Incomplete(_)));
    }

    #[test]
    fn a_bad_checksum_is_incomplete_at_the_end_and_corrupt_before_it() {
        let mut buffer = framed(&[b"one", b"second"]);
        let last = buffer.len() - 1;
        buffer[last] ^= 1;
        assert!(matches!(read(&buffer, 11), FrameRead::Incomplete(_)));
        buffer[last] ^= 1;
        buffer[9] ^= 1;
        assert!(matches!(read(&buffer, 0), FrameRead::Corrupt(_)));
    }
}
