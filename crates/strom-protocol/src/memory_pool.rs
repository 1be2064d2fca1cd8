//! The broker-wide memory pool for request bytes (Kafka's `queued.max.request.bytes`).
//!
//! A connection charges its read buffer to the pool as the buffer grows for a request, so
//! the pool counts bytes that actually arrived (plus at most a doubling step), never a
//! declared size: a client that sends a 100 MiB size prefix and stalls holds nothing of it.
//! When the pool is exhausted a connection that needs more waits, without reading
//! (back-pressure); it is never failed. Memory goes back when the request has been handled
//! (the frame's [`MemoryReservation`] is dropped) or the connection closes.
//!
//! Charging as bytes arrive means half-read requests hold memory while they wait for more,
//! and could wait on each other forever. So one connection at a time may overdraw the pool:
//! a waiter that already holds part of a request takes the overdraft and finishes its
//! request, then gives it back. Memory for request bytes is therefore at most the pool plus
//! one request (`socket.request.max.bytes`), and some request always makes progress.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{info, warn};

/// Request memory shared by every connection of a broker.
#[derive(Debug)]
pub struct MemoryPool {
    capacity: usize,
    state: Mutex<PoolState>,
    /// Signalled whenever memory is returned.
    returned: Notify,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct PoolState {
    used: usize,
    /// The reservation allowed past `capacity`, until it is returned.
    overdraft: Option<u64>,
    /// Set while some connection waits, so the operator gets one line per episode.
    exhausted: bool,
}

/// Bytes of the pool held for one request until dropped.
#[derive(Debug)]
pub struct MemoryReservation {
    pool: Option<Arc<MemoryPool>>,
    id: u64,
    bytes: usize,
}

impl MemoryReservation {
    /// A reservation that holds nothing (requests read without a pool).
    pub fn none() -> Self {
        MemoryReservation {
            pool: None,
            id: 0,
            bytes: 0,
        }
    }

    /// How many bytes of the pool this holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes `more` bytes from the pool for this request, waiting while the pool cannot
    /// give them. Cancel-safe: a cancelled wait takes nothing.
    pub async fn grow(&mut self, more: usize) {
        let Some(pool) = self.pool.clone() else {
            return;
        };
        loop {
            let returned = pool.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if pool.try_take(self.id, self.bytes, more) {
                self.bytes += more;
                return;
            }
            returned.await;
        }
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give_back(self.id, self.bytes);
        }
    }
}

impl MemoryPool {
    /// A pool of `capacity` bytes (at least one).
    pub fn new(capacity: u64) -> Arc<Self> {
        Arc::new(MemoryPool {
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX).max(1),
            state: Mutex::new(PoolState::default()),
            returned: Notify::new(),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held by requests right now (may pass the capacity by one overdraft).
    pub fn used(&self) -> usize {
        self.state.lock().used
    }

    /// An empty reservation for the next request read from a connection.
    pub fn reservation(self: &Arc<Self>) -> MemoryReservation {
        MemoryReservation {
            pool: Some(self.clone()),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            bytes: 0,
        }
    }

    fn try_take(&self, id: u64, held: usize, more: usize) -> bool {
        let mut state = self.state.lock();
        let fits = state.used.saturating_add(more) <= self.capacity;
        let overdrawing = state.overdraft == Some(id);
        // Only a request already partly read may overdraw: it is the one that could
        // otherwise wait on the others forever.
        let may_overdraw = state.overdraft.is_none() && held > 0;
        if fits || overdrawing || may_overdraw {
            if !fits && may_overdraw {
                state.overdraft = Some(id);
            }
            state.used += more;
            return true;
        }
        if !state.exhausted {
            state.exhausted = true;
            warn!(
                queued_max_request_bytes = self.capacity,
                used = state.used,
                wanted = more,
                "request memory pool exhausted (queued.max.request.bytes): connections stop reading until requests in progress complete"
            );
        }
        false
    }

    fn give_back(&self, id: u64, bytes: usize) {
        {
            let mut state = self.state.lock();
            state.used = state.used.saturating_sub(bytes);
            if state.overdraft == Some(id) {
                state.overdraft = None;
            }
            if state.exhausted && state.used <= self.capacity / 2 {
                state.exhausted = false;
                info!("request memory pool has room again; connections read again");
            }
        }
        self.returned.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_new_request_waits_until_memory_is_returned() {
        let pool = MemoryPool::new(100);
        let mut first = pool.reservation();
        first.grow(60).await;
        first.grow(40).await;
        assert_eq!(pool.used(), 100);
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move {
                let mut r = pool.reservation();
                r.grow(50).await;
                r
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a request holding nothing may not overdraw"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiter gets its memory once the first request is done")
            .unwrap();
        assert_eq!(second.bytes(), 50);
        assert_eq!(pool.used(), 50);
        drop(second);
        assert_eq!(pool.used(), 0);
    }

    #[tokio::test]
    async fn half_read_requests_never_wait_on_each_other_forever() {
        // Two requests of 80 bytes each hold 50 of a 100-byte pool: without the overdraft
        // neither could finish. One overdraws, finishes, returns; then the other fits.
        let pool = MemoryPool::new(100);
        let mut a = pool.reservation();
        let mut b = pool.reservation();
        a.grow(50).await;
        b.grow(50).await;
        tokio::time::timeout(Duration::from_secs(5), a.grow(30))
            .await
            .expect("a partly read request may overdraw");
        assert_eq!(pool.used(), 130);
        let r = tokio::time::timeout(Duration::from_millis(50), b.grow(30)).await;
        assert!(r.is_err(), "only one request overdraws at a time");
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), b.grow(30))
            .await
            .expect("memory came back");
        assert_eq!(pool.used(), 80);
    }

    #[tokio::test]
    async fn a_cancelled_wait_takes_nothing() {
        let pool = MemoryPool::new(10);
        let mut held = pool.reservation();
        held.grow(10).await;
        let mut other = pool.reservation();
        let r = tokio::time::timeout(Duration::from_millis(20), other.grow(5)).await;
        assert!(r.is_err());
        assert_eq!(other.bytes(), 0);
        drop(held);
        assert_eq!(pool.used(), 0);
    }
}
