//! Size-prefixed frames: `[size: i32 BE][size bytes]`.
//!
//! The size is checked against `socket.request.max.bytes` before a single
//! byte of the body is buffered, so a hostile prefix cannot make the broker
//! allocate. Bodies are split off one reusable `BytesMut`, so record batches
//! inside a request stay slices of the bytes read from the socket all the way
//! to the log.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ProtocolError;

const READ_CHUNK: usize = 64 * 1024;

pub struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max_frame_bytes: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(reader: R, max_frame_bytes: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_frame_bytes,
        }
    }

    /// The next frame body, or `None` when the peer closed the connection
    /// cleanly between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, ProtocolError> {
        loop {
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if size < 0 {
                    return Err(ProtocolError::NegativeFrameSize(size));
                }
                let size = size as usize;
                if size > self.max_frame_bytes {
                    return Err(ProtocolError::FrameTooLarge {
                        size: size as i64,
                        max: self.max_frame_bytes,
                    });
                }
                if self.buf.len() >= 4 + size {
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(size).freeze()));
                }
                // Reserve exactly what this frame still needs (bounded above).
                self.buf.reserve(4 + size - self.buf.len());
            } else {
                self.buf.reserve(READ_CHUNK);
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            let n = self.reader.read_buf(&mut self.buf).await?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(ProtocolError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed inside a frame ({} bytes buffered)",
                        self.buf.len()
                    ),
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_split_and_size_is_checked_before_buffering() {
        let mut input = Vec::new();
        input.extend_from_slice(&3i32.to_be_bytes());
        input.extend_from_slice(b"abc");
        input.extend_from_slice(&0i32.to_be_bytes());
        input.extend_from_slice(&i32::MAX.to_be_bytes());
        let mut r = FrameReader::new(&input[..], 1024);
        assert_eq!(
            r.next_frame().await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        assert_eq!(r.next_frame().await.unwrap().unwrap().len(), 0);
        match r.next_frame().await {
            Err(ProtocolError::FrameTooLarge { size, max }) => {
                assert_eq!(size, i32::MAX as i64);
                assert_eq!(max, 1024);
            }
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn clean_close_between_frames_is_none_and_inside_a_frame_is_an_error() {
        let mut r = FrameReader::new(&b""[..], 1024);
        assert!(r.next_frame().await.unwrap().is_none());
        let partial = [0u8, 0, 0, 9, 1, 2];
        let mut r = FrameReader::new(&partial[..], 1024);
        assert!(matches!(r.next_frame().await, Err(ProtocolError::Io(_))));
        let negative = (-5i32).to_be_bytes();
        let mut r = FrameReader::new(&negative[..], 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(ProtocolError::NegativeFrameSize(-5))
        ));
    }
}
