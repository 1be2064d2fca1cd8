//! The broker-wide memory pool for request bytes (Kafka's `queued.max.request.bytes`).
//!
//! Kafka allocates each request's buffer from a pool once the size prefix is read, and a
//! connection whose request does not fit is muted until memory returns. Strom does the same
//! accounting: a connection reserves its request's declared size (at most the whole pool)
//! before reading the body, all at once, so no connection holds part of the pool while
//! waiting for more (two half-read requests can never wait on each other). The buffer itself
//! still grows only as bytes arrive, so the pool is an upper bound on what request buffers
//! hold, not memory taken up front. The reservation is returned when the request has been
//! handled (the frame's [`MemoryReservation`] is dropped).
//!
//! Waiting is fair (first come, first served), so a large request is not starved by a stream
//! of small ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tracing::{info, warn};

/// Request memory shared by every connection of a broker.
#[derive(Debug)]
pub struct MemoryPool {
    capacity: usize,
    permits: Arc<Semaphore>,
    /// Set while some connection waits, so the operator gets one line per episode.
    exhausted: AtomicBool,
}

/// Bytes of the pool held by one request until dropped.
#[derive(Debug)]
pub struct MemoryReservation {
    _permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl MemoryReservation {
    /// A reservation that holds nothing (tests, requests read without a pool).
    pub fn none() -> Self {
        MemoryReservation {
            _permit: None,
            bytes: 0,
        }
    }

    /// How many bytes of the pool this holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl MemoryPool {
    /// A pool of `capacity` bytes (at least one).
    pub fn new(capacity: u64) -> Arc<Self> {
        let capacity = usize::try_from(capacity)
            .unwrap_or(usize::MAX)
            .clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(MemoryPool {
            capacity,
            permits: Arc::new(Semaphore::new(capacity)),
            exhausted: AtomicBool::new(false),
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// What a request of `size` bytes reserves: its size, or the whole pool for a request
    /// larger than the pool (it is then read alone, as Kafka's non-strict pool does).
    fn grant_for(&self, size: usize) -> u32 {
        let grant = size.clamp(1, self.capacity);
        u32::try_from(grant).unwrap_or(u32::MAX)
    }

    /// Reserves memory for a request of `size` bytes, waiting (without reading more from
    /// the connection) while the pool is exhausted. Cancel-safe: dropping the future gives
    /// up the place in the queue and holds nothing.
    pub async fn reserve(self: &Arc<Self>, size: usize) -> MemoryReservation {
        let grant = self.grant_for(size);
        let permit = match self.permits.clone().try_acquire_many_owned(grant) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) | Err(TryAcquireError::NoPermits) => {
                if !self.exhausted.swap(true, Ordering::Relaxed) {
                    warn!(
                        queued_max_request_bytes = self.capacity,
                        available = self.available(),
                        wanted = grant,
                        "request memory pool exhausted (queued.max.request.bytes): connections stop reading until requests in progress complete"
                    );
                }
                match self.permits.clone().acquire_many_owned(grant).await {
                    Ok(permit) => {
                        if self.available() >= self.capacity / 2
                            && self.exhausted.swap(false, Ordering::Relaxed)
                        {
                            info!("request memory pool has room again; connections read again");
                        }
                        permit
                    }
                    // The semaphore is never closed; hold nothing rather than fail.
                    Err(_) => return MemoryReservation::none(),
                }
            }
        };
        MemoryReservation {
            _permit: Some(permit),
            bytes: grant as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_waits_until_enough_memory_is_returned() {
        let pool = MemoryPool::new(100);
        let first = pool.reserve(60).await;
        assert_eq!(first.bytes(), 60);
        assert_eq!(pool.available(), 40);
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.reserve(50).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "50 bytes do not fit in the 40 left");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiter gets its memory once the first request is done")
            .unwrap();
        assert_eq!(second.bytes(), 50);
        assert_eq!(pool.available(), 50);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_pool_takes_the_whole_pool() {
        let pool = MemoryPool::new(100);
        let big = pool.reserve(1_000).await;
        assert_eq!(big.bytes(), 100);
        assert_eq!(pool.available(), 0);
        drop(big);
        assert_eq!(pool.available(), 100);
    }

    #[tokio::test]
    async fn a_cancelled_wait_holds_nothing() {
        let pool = MemoryPool::new(10);
        let held = pool.reserve(10).await;
        let r = tokio::time::timeout(Duration::from_millis(20), pool.reserve(5)).await;
        assert!(r.is_err());
        drop(held);
        assert_eq!(pool.available(), 10);
    }
}
