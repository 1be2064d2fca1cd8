use std::io::IoSlice;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::ProtocolError;

/// Most pieces handed to one `writev`: Linux's `IOV_MAX` is 1024; a Fetch
/// of many partitions is written in several calls.
const MAX_IOVECS: usize = 256;

/// An encoded response, size prefix included, ready for the socket: the
/// concatenation of its pieces. Most responses are one piece; a Fetch
/// response is its encoded fields interleaved with the record bytes read
/// from the log, which are shared, never copied into the response.
#[derive(Debug, Default, Clone)]
pub struct ResponseFrame {
    pieces: Vec<Bytes>,
    len: usize,
}

impl ResponseFrame {
    /// A frame of the given pieces, in order; empty pieces are dropped.
    pub fn from_pieces(pieces: impl IntoIterator<Item = Bytes>) -> ResponseFrame {
        let pieces: Vec<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        let len = pieces.iter().map(Bytes::len).sum();
        ResponseFrame { pieces, len }
    }

    /// Bytes on the wire, size prefix included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces, in wire order.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The frame as one buffer (a copy unless it is one piece): for tests
    /// and for callers that need contiguous bytes.
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut buf = BytesMut::with_capacity(self.len);
                for piece in many {
                    buf.extend_from_slice(piece);
                }
                buf.freeze()
            }
        }
    }

    /// Writes the whole frame with vectored writes (one `writev` for most
    /// frames), so record bytes go from the log's buffers to the socket.
    pub async fn write_to<W: AsyncWrite + Unpin>(&self, writer: &mut W) -> std::io::Result<()> {
        let mut index = 0;
        // Bytes already written of `pieces[index]`.
        let mut skip = 0;
        while index < self.pieces.len() {
            let end = (index + MAX_IOVECS).min(self.pieces.len());
            let slices: Vec<IoSlice<'_>> = self.pieces[index..end]
                .iter()
                .enumerate()
                .map(|(i, p)| IoSlice::new(if i == 0 { &p[skip..] } else { p }))
                .collect();
            let mut written = writer.write_vectored(&slices).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            written += skip;
            while index < self.pieces.len() && written >= self.pieces[index].len() {
                written -= self.pieces[index].len();
                index += 1;
            }
            skip = written;
        }
        writer.flush().await
    }
}

impl From<BytesMut> for ResponseFrame {
    fn from(buf: BytesMut) -> ResponseFrame {
        ResponseFrame::from_pieces([buf.freeze()])
    }
}

impl From<Bytes> for ResponseFrame {
    fn from(buf: Bytes) -> ResponseFrame {
        ResponseFrame::from_pieces([buf])
    }
}

/// Encodes `[size][response header][body]` for `api` at `version`.
pub fn encode_response<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<ResponseFrame, ProtocolError> {
    let header_version = api.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let err = |e: anyhow::Error| ProtocolError::Encode {
        api,
        version,
        reason: format!("{e:#}"),
    };
    let size = header.compute_size(header_version).map_err(err)?
        + body.compute_size(version).map_err(err)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(err)?;
    body.encode(&mut buf, version).map_err(err)?;
    Ok(buf.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A writer that takes at most `step` bytes per call, so every piece
    /// boundary is crossed mid-write. It refuses more than `max_calls`
    /// calls, so a writer loop that makes no progress fails the test
    /// instead of hanging it.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        calls: usize,
        max_calls: usize,
    }

    impl Trickle {
        fn new(step: usize, max_calls: usize) -> Trickle {
            Trickle {
                out: Vec::new(),
                step,
                calls: 0,
                max_calls,
            }
        }

        fn count_call(&mut self) {
            self.calls += 1;
            assert!(
                self.calls <= self.max_calls,
                "{} write calls: the writer makes no progress",
                self.calls
            );
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.count_call();
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            self.count_call();
            let mut left = self.step;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.out.extend_from_slice(&b[..take]);
                left -= take;
                n += take;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_frame_of_many_pieces_is_written_whole_and_in_order_by_partial_writes() {
        // More pieces than one writev takes, of uneven sizes, some empty.
        let pieces: Vec<Bytes> = (0..700u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; (i % 7) as usize]))
            .collect();
        let expected: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        let frame = ResponseFrame::from_pieces(pieces);
        assert_eq!(frame.len(), expected.len());
        assert_eq!(frame.to_bytes(), expected);
        for step in [1, 3, 5, 64, 100_000] {
            // One call per `step` bytes at most, plus one per piece when a
            // call ends at a piece boundary.
            let mut w = Trickle::new(step, expected.len() / step + frame.pieces().len() + 2);
            frame.write_to(&mut w).await.unwrap();
            assert_eq!(w.out, expected, "written {step} bytes at a time");
        }
    }

    #[tokio::test]
    async fn a_writer_that_takes_nothing_is_an_error_not_a_loop() {
        let frame = ResponseFrame::from(Bytes::from_static(b"abc"));
        let mut w = Trickle::new(0, 10);
        let e = frame.write_to(&mut w).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WriteZero);
    }
}
