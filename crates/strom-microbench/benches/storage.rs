//! Storage hot paths: what a produce request and a fetch cost in the log.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strom_log::{Log, LogConfig, StdFileSystem};
use strom_microbench::batch;
use strom_records::{
    validate_batch, validate_batch_with, Compression, TimestampRule, TimestampType,
};

/// The clock the appends run at: the records of [`batch`] are stamped from here on, and
/// the log refuses timestamps more than `message.timestamp.after.max.ms` ahead of it.
const NOW_MS: i64 = 1_700_000_000_000;

/// Appends per log before it is deleted and recreated, to bound disk use (~120 MB).
const APPENDS_PER_LOG: u64 = 10_000;

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_batch");
    for codec in [Compression::None, Compression::Lz4] {
        let b = batch(codec, 100, 100);
        group.throughput(Throughput::Bytes(b.len() as u64));
        group.bench_function(format!("{codec}_100x100B"), |bench| {
            bench.iter(|| validate_batch(black_box(&b), 1 << 20).unwrap())
        });
        // With the produce path's timestamp check (message.timestamp.*.max.ms).
        let rule = TimestampRule {
            timestamp_type: TimestampType::CreateTime,
            now_ms: NOW_MS,
            before_max_ms: i64::MAX,
            after_max_ms: 3_600_000,
        };
        group.bench_function(format!("{codec}_100x100B_timestamps"), |bench| {
            bench.iter(|| validate_batch_with(black_box(&b), 1 << 20, Some(&rule)).unwrap())
        });
    }
    group.finish();
}

fn append(c: &mut Criterion) {
    let b = batch(Compression::None, 100, 100);
    let mut group = c.benchmark_group("log_append");
    group.throughput(Throughput::Bytes(b.len() as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("uncompressed_100x100B", |bench| {
        bench.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let tmp = tempfile::tempdir().unwrap();
                let mut log = Log::open(
                    StdFileSystem::shared(),
                    tmp.path().join("bench-0"),
                    LogConfig::default(),
                    false,
                    0,
                )
                .unwrap();
                let n = (iters - done).min(APPENDS_PER_LOG);
                let start = Instant::now();
                for _ in 0..n {
                    black_box(log.append(b.clone(), NOW_MS).unwrap());
                }
                elapsed += start.elapsed();
                done += n;
            }
            elapsed
        })
    });
    group.finish();
}

fn index_lookup(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 8 * 1024 * 1024,
        ..LogConfig::default()
    };
    let mut log = Log::open(
        StdFileSystem::shared(),
        tmp.path().join("bench-0"),
        config,
        false,
        0,
    )
    .unwrap();
    let b = batch(Compression::None, 10, 100);
    for _ in 0..20_000 {
        log.append(b.clone(), NOW_MS).unwrap();
    }
    let end = log.log_end_offset();
    let mut group = c.benchmark_group("log_read");
    let mut seed = 0x9e37_79b9_u64;
    group.bench_function("random_offset_one_batch", |bench| {
        bench.iter_batched(
            || {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) as i64 % end
            },
            |offset| log.read(offset, 1, true, i64::MAX).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("tail_1MiB", |bench| {
        bench.iter(|| {
            log.read(black_box(end - 1_000), 1 << 20, true, i64::MAX)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, validation, append, index_lookup);
criterion_main!(benches);
