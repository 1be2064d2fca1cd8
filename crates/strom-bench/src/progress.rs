//! One progress line to stderr every second, so a long run (or a stalled broker) is visible while
//! it happens rather than only in the final summary.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);

/// The reporting thread; stopped by `finish` or on drop.
pub struct Progress {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// `done` is sampled once per interval and returns the records completed so far.
    pub fn start(
        mode: &'static str,
        total: u64,
        done: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let start = Instant::now();
                let mut previous = (start, 0u64);
                // A message or a dropped sender both mean stop; only a timeout means "report".
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    let now = Instant::now();
                    let records = done();
                    let interval = now.duration_since(previous.0).as_secs_f64();
                    let rate =
                        records.saturating_sub(previous.1) as f64 / interval.max(f64::EPSILON);
                    eprintln!(
                        "{}",
                        progress_line(mode, records, total, rate, now.duration_since(start))
                    );
                    previous = (now, records);
                }
            });
        // Without the thread the run still works and still prints its summary.
        let thread = spawned
            .map_err(|e| eprintln!("strom-bench: no progress display: {e}"))
            .ok();
        Progress {
            stop: Some(stop),
            thread,
        }
    }

    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only prints; if it panicked there is nothing to recover.
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn progress_line(mode: &str, records: u64, total: u64, rate: f64, elapsed: Duration) -> String {
    let percent = if total == 0 {
        100.0
    } else {
        records as f64 * 100.0 / total as f64
    };
    format!(
        "{mode}: {records}/{total} records ({percent:.1}%), {rate:.0} records/s, elapsed {:.1}s",
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_records_so_far_rate_and_elapsed() {
        let line = progress_line(
            "produce",
            250_000,
            1_000_000,
            249_876.4,
            Duration::from_millis(3100),
        );
        assert_eq!(
            line,
            "produce: 250000/1000000 records (25.0%), 249876 records/s, elapsed 3.1s"
        );
    }

    #[test]
    fn finishing_stops_the_thread_without_waiting_for_the_next_tick() {
        let started = Instant::now();
        let progress = Progress::start("test", 10, || 0);
        progress.finish();
        assert!(
            started.elapsed() < INTERVAL,
            "finish waited {:?}",
            started.elapsed()
        );
    }
}
