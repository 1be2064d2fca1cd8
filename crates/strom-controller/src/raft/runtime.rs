//! openraft's async runtime for the metadata quorum: tokio, as openraft's
//! own `TokioRuntime`, except for where randomness comes from.
//!
//! openraft draws its election timeout (between `election_timeout_min` and
//! `_max`) from its runtime's thread-local random number generator, and
//! [`super::election`] draws the ones it campaigns by from the same. With
//! tokio's that is the operating system's
//! entropy, which no test can replay; here it is [`ElectionRng`]: the
//! operating system's too, unless a test seeded the current thread with
//! [`seed_election_rng`], and then a generator from that seed. The
//! simulation runs every node on one thread, so one seed fixes every
//! node's election timeouts.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use openraft::async_runtime::TokioOneShotSender;
use openraft::{AsyncRuntime, OptionalSend, TokioInstant};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

thread_local! {
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// From now on, election timeouts drawn on this thread come from `seed`
/// (`None`: from the operating system again).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn seed_election_rng(seed: Option<u64>) {
    SEEDED.with(|rng| *rng.borrow_mut() = seed.map(StdRng::seed_from_u64));
}

/// The generator openraft gets: the thread's seeded one if there is one.
#[derive(Clone, Copy, Debug, Default)]
pub struct ElectionRng;

impl ElectionRng {
    fn with<T>(draw: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        SEEDED.with(|seeded| match seeded.borrow_mut().as_mut() {
            Some(rng) => draw(rng),
            None => draw(&mut rand::thread_rng()),
        })
    }
}

impl RngCore for ElectionRng {
    fn next_u32(&mut self) -> u32 {
        ElectionRng::with(|rng| rng.next_u32())
    }

    fn next_u64(&mut self) -> u64 {
        ElectionRng::with(|rng| rng.next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        ElectionRng::with(|rng| rng.fill_bytes(dest))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        ElectionRng::with(|rng| rng.try_fill_bytes(dest))
    }
}

/// tokio, with [`ElectionRng`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetadataRuntime;

impl AsyncRuntime for MetadataRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = tokio::time::error::Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = tokio::time::Timeout<T>;
    type ThreadLocalRng = ElectionRng;
    type OneshotSender<T: OptionalSend> = TokioOneShotSender<T>;
    type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;
    type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::task::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        tokio::time::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        tokio::time::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        ElectionRng
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        (TokioOneShotSender(sender), receiver)
    }
}
