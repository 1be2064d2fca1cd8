//! Size-prefixed frames: `[size: i32 BE][size bytes]`.
//!
//! The size is checked against `socket.request.max.bytes` before a single
//! byte of the body is buffered, and the buffer grows only as bytes arrive
//! (doubling, capped at the frame's size), so a hostile prefix costs nothing
//! until the bytes behind it are actually sent. An idle connection holds a
//! buffer of [`IDLE_READ_BYTES`]. With a [`MemoryPool`] (Kafka's
//! `queued.max.request.bytes`) every growth of the buffer for a request is
//! charged to the pool first: when the pool is exhausted the connection stops
//! reading (back-pressure), it does not fail. Bodies are split off the
//! buffer, so record batches inside a request stay slices of the bytes read
//! from the socket all the way to the log.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::memory_pool::{MemoryPool, MemoryReservation};
use crate::ProtocolError;

/// Buffer of a connection between frames: enough for the size prefix and a
/// typical small request in one read.
pub const IDLE_READ_BYTES: usize = 1024;
/// Smallest growth step once a frame's size is known, so frames up to this
/// size take one allocation.
const GROWTH_BYTES: usize = 64 * 1024;

/// A request body and the pool memory it holds until dropped.
#[derive(Debug)]
pub struct Frame {
    pub body: Bytes,
    pub memory: MemoryReservation,
}

pub struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max_frame_bytes: usize,
    pool: Option<Arc<MemoryPool>>,
    /// Pool memory charged for the frame being read.
    reservation: MemoryReservation,
    waiting_for_memory: bool,
    last_activity: Instant,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader without a memory pool.
    pub fn new(reader: R, max_frame_bytes: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::new(),
            max_frame_bytes,
            pool: None,
            reservation: MemoryReservation::none(),
            waiting_for_memory: false,
            last_activity: Instant::now(),
        }
    }

    /// A reader whose frames reserve their size from `pool` before their body is read.
    pub fn with_pool(reader: R, max_frame_bytes: usize, pool: Arc<MemoryPool>) -> Self {
        FrameReader {
            reservation: pool.reservation(),
            pool: Some(pool),
            ..FrameReader::new(reader, max_frame_bytes)
        }
    }

    /// Changes the largest frame accepted from the next size prefix on (a
    /// SASL connection reads less before it has authenticated).
    pub fn set_max_frame_bytes(&mut self, max_frame_bytes: usize) {
        self.max_frame_bytes = max_frame_bytes;
    }

    /// When bytes last arrived (or pool memory was granted).
    pub fn last_activity(&self) -> Instant {
        self.last_activity
    }

    /// True while the reader waits for pool memory rather than for the peer.
    pub fn is_waiting_for_memory(&self) -> bool {
        self.waiting_for_memory
    }

    /// Bytes the read buffer holds allocated for this connection right now.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next frame, or `None` when the peer closed the connection cleanly
    /// between frames. Cancel-safe: everything read so far stays buffered.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        self.waiting_for_memory = false;
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
                    return Ok(Some(self.split_frame(size)));
                }
                self.grow_toward(4 + size).await;
            } else if self.buf.capacity() < 4 {
                // Room for the prefix (and a small request behind it).
                self.regrow(IDLE_READ_BYTES);
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
            self.last_activity = Instant::now();
        }
    }

    fn split_frame(&mut self, size: usize) -> Frame {
        self.buf.advance(4);
        let body = self.buf.split_to(size).freeze();
        // What is left shares the frame's allocation: a connection that goes
        // idle after a large request must not keep it alive.
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        } else if size >= GROWTH_BYTES {
            self.buf = BytesMut::from(&self.buf[..]);
        }
        let next = match &self.pool {
            Some(pool) => pool.reservation(),
            None => MemoryReservation::none(),
        };
        Frame {
            body,
            memory: std::mem::replace(&mut self.reservation, next),
        }
    }

    /// Makes room for the next read of a frame of `total` bytes (prefix
    /// included): the capacity doubles with what was received, from
    /// [`GROWTH_BYTES`], but never past the frame's size. The growth is
    /// charged to the pool first, waiting (not reading) while it is exhausted.
    async fn grow_toward(&mut self, total: usize) {
        if self.buf.capacity() > self.buf.len() {
            return;
        }
        let target = (self.buf.len() * 2).max(GROWTH_BYTES).min(total);
        let more = target.saturating_sub(self.reservation.bytes());
        if more > 0 && self.pool.is_some() {
            self.waiting_for_memory = true;
            self.reservation.grow(more).await;
            self.waiting_for_memory = false;
            self.last_activity = Instant::now();
        }
        self.regrow(target);
    }

    /// Moves the buffered bytes into a fresh buffer of `capacity` bytes, so the
    /// allocation is exactly what was asked for (`BytesMut::reserve` may double
    /// past the frame).
    fn regrow(&mut self, capacity: usize) {
        let mut fresh = BytesMut::with_capacity(capacity.max(self.buf.len()));
        fresh.extend_from_slice(&self.buf);
        self.buf = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn frames_are_split_and_size_is_checked_before_buffering() {
        let mut input = Vec::new();
        input.extend_from_slice(&3i32.to_be_bytes());
        input.extend_from_slice(b"abc");
        input.extend_from_slice(&0i32.to_be_bytes());
        input.extend_from_slice(&i32::MAX.to_be_bytes());
        let mut r = FrameReader::new(&input[..], 1024);
        assert_eq!(
            r.next_frame().await.unwrap().unwrap().body,
            Bytes::from_static(b"abc")
        );
        assert_eq!(r.next_frame().await.unwrap().unwrap().body.len(), 0);
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

    #[tokio::test]
    async fn the_buffer_grows_with_the_bytes_that_arrive_not_with_the_declared_size() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(server, 100 << 20);
        let size = 100usize << 20;
        client
            .write_all(&(size as i32).to_be_bytes())
            .await
            .unwrap();
        client.write_all(&[7u8; 10]).await.unwrap();
        let pending = tokio::time::timeout(Duration::from_millis(50), r.next_frame()).await;
        assert!(pending.is_err(), "the frame is not complete");
        assert!(
            r.buffer_capacity() <= GROWTH_BYTES,
            "a 100 MiB prefix with 10 bytes behind it holds {} bytes",
            r.buffer_capacity()
        );
        // 1 MiB more: the buffer follows, at most twice what arrived.
        client.write_all(&vec![7u8; 1 << 20]).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(50), r.next_frame()).await;
        let received = 4 + 10 + (1 << 20);
        assert!(r.buffer_capacity() >= received);
        assert!(
            r.buffer_capacity() <= 2 * received,
            "{} bytes for {received} received",
            r.buffer_capacity()
        );
    }

    #[tokio::test]
    async fn the_buffer_never_grows_past_the_frame_and_is_released_after_it() {
        let size = 200_000usize;
        let mut input = (size as i32).to_be_bytes().to_vec();
        input.extend(std::iter::repeat_n(1u8, size));
        input.extend_from_slice(&1i32.to_be_bytes());
        input.push(9);
        let mut r = FrameReader::new(&input[..], 1 << 20);
        let frame = r.next_frame().await.unwrap().unwrap();
        assert_eq!(frame.body.len(), size);
        assert!(frame.body.iter().all(|b| *b == 1));
        assert!(
            r.buffer_capacity() < GROWTH_BYTES,
            "after a large frame the connection keeps {} bytes",
            r.buffer_capacity()
        );
        let next = r.next_frame().await.unwrap().unwrap();
        assert_eq!(&next.body[..], &[9]);
        assert!(r.next_frame().await.unwrap().is_none());
        assert_eq!(
            r.buffer_capacity(),
            IDLE_READ_BYTES,
            "a connection waiting for its next request holds a small buffer"
        );
    }

    #[tokio::test]
    async fn a_frame_waits_for_pool_memory_without_reading_and_returns_it_when_dropped() {
        use tokio::io::AsyncWriteExt;
        let pool = MemoryPool::new(200 * 1024);
        let size = 150 * 1024;
        let mut input = (size as i32).to_be_bytes().to_vec();
        input.extend(std::iter::repeat_n(0u8, size));
        let mut first = FrameReader::with_pool(&input[..], 1 << 20, pool.clone());
        let held = first.next_frame().await.unwrap().unwrap();
        assert_eq!(held.body.len(), size);
        assert!(held.memory.bytes() >= size);
        assert_eq!(pool.used(), held.memory.bytes());

        // A stalled 100 MiB prefix takes nothing from the pool.
        let (mut stalled_client, stalled_server) = tokio::io::duplex(4096);
        let mut stalled = FrameReader::with_pool(stalled_server, 100 << 20, pool.clone());
        stalled_client
            .write_all(&(100i32 << 20).to_be_bytes())
            .await
            .unwrap();
        let r = tokio::time::timeout(Duration::from_millis(20), stalled.next_frame()).await;
        assert!(r.is_err());
        assert_eq!(pool.used(), held.memory.bytes());

        // A second 150 KiB request does not fit in what is left: it stops reading.
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut second = FrameReader::with_pool(server, 1 << 20, pool.clone());
        client.write_all(&input).await.unwrap();
        let r = tokio::time::timeout(Duration::from_millis(50), second.next_frame()).await;
        assert!(r.is_err(), "150 KiB do not fit in the 50 KiB left");
        assert!(second.is_waiting_for_memory());
        assert!(second.buffer_capacity() <= IDLE_READ_BYTES);
        drop(held);
        let frame = tokio::time::timeout(Duration::from_secs(5), second.next_frame())
            .await
            .expect("memory came back")
            .unwrap()
            .unwrap();
        assert_eq!(frame.body.len(), size);
        drop(frame);
        assert_eq!(pool.used(), 0);
    }
}
