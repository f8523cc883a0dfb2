//! Cross-thread workloads, evloop side by side with tokio's current-thread
//! runtime.
//!
//! Run with `cargo bench -p evloop-benches --bench threads` (one group:
//! `cargo bench -p evloop-benches --bench threads -- xthread_rtt`). Results
//! are in `docs/BENCHMARKS.md`.
//!
//! Each group has an `evloop` function and two tokio ones, doing the same
//! work: `tokio` on a current-thread runtime built with `enable_all()` (what
//! `#[tokio::main(flavor = "current_thread")]` builds: its idle thread
//! sleeps in `epoll_wait` and is woken through an eventfd, as evloop's is),
//! and `tokio_noio` with `enable_time()` only, as in the `core` bench (no I/O
//! driver: its idle thread sleeps on a futex). Across threads the way the
//! loop sleeps and is woken is most of the cost, so both are measured.
//!
//! Everything that is not the work itself (building the loop or runtime,
//! spawning the producer / loop threads, starting the executor's workers)
//! happens outside the timed region (`iter_custom`).
//!
//! The latency workloads (`xthread_rtt`, `executor_seq`) are measured twice,
//! with their threads pinned: `_2cpu` (the loop / runtime thread on CPU 0,
//! the other side on CPU 1) and `_1cpu` (all on CPU 0); see
//! [`common::Placement`] for why. The throughput workloads
//! (`threadsafe_*`, `executor_concurrent`) run unpinned.
//!
//! After the criterion groups, the bench times single round trips of
//! `xthread_rtt` and `executor_seq` one by one and prints their p50 / p90 /
//! p99 (criterion reports means of batches), and how many threads each
//! executor ran for `executor_concurrent`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use evloop::EventLoop;

mod common;
use common::{
    on_evloop, on_tokio, round_trips, threadsafe_evloop, threadsafe_tokio, tokio_runtime,
    EvloopThread, Payload, Placement, TokioThread,
};

/// Jobs per iteration of `threadsafe_*`, split evenly between the producers.
const THREADSAFE_N: usize = 1_000_000;
/// Round trips per iteration of `xthread_rtt`.
const RTT_N: u64 = 1_000;
/// Round trips per iteration of `executor_seq`.
const EXEC_SEQ_N: u64 = 10_000;
/// Jobs in flight at once in `executor_concurrent`.
const EXEC_CONC_N: u64 = 1_000;
/// Round trips timed one by one for the percentiles.
const PERCENTILE_N: usize = 20_000;

// ---- harness helpers ---------------------------------------------------------

/// The tokio functions of a group: name and whether the I/O driver is on.
const TOKIO_FLAVOURS: [(&str, bool); 2] = [("tokio", true), ("tokio_noio", false)];

fn group<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    // Iterations take 10–500 ms: flat sampling keeps each group to its
    // measurement time (linear sampling would need 55 iterations).
    g.sampling_mode(SamplingMode::Flat);
    g
}

// ---- 1. threadsafe_1p / threadsafe_2p ---------------------------------------------

fn threadsafe_evloop_batch(producers: usize, payload: Payload, iters: u64) -> Duration {
    let lp = EventLoop::new();
    (0..iters)
        .map(|_| threadsafe_evloop(&lp, producers, THREADSAFE_N, payload))
        .sum()
}

fn threadsafe_tokio_batch(producers: usize, io: bool, payload: Payload, iters: u64) -> Duration {
    let rt = tokio_runtime(io, Placement::Free);
    (0..iters)
        .map(|_| threadsafe_tokio(&rt, producers, THREADSAFE_N, payload))
        .sum()
}

fn threadsafe(c: &mut Criterion) {
    for producers in [1, 2] {
        let mut g = group(c, &format!("threadsafe_{producers}p"), THREADSAFE_N as u64);
        g.bench_function("evloop", |b| {
            b.iter_custom(|iters| threadsafe_evloop_batch(producers, Payload::Word, iters))
        });
        for (name, io) in TOKIO_FLAVOURS {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| threadsafe_tokio_batch(producers, io, Payload::Word, iters))
            });
        }
        // Diagnostics (see `Payload`): not the compared pair.
        g.bench_function("evloop_nocapture", |b| {
            b.iter_custom(|iters| threadsafe_evloop_batch(producers, Payload::Nothing, iters))
        });
        g.bench_function("tokio_boxed", |b| {
            b.iter_custom(|iters| threadsafe_tokio_batch(producers, true, Payload::Boxed, iters))
        });
        g.finish();
    }
}

// ---- 2. xthread_rtt --------------------------------------------------------------

/// The placements of the latency workloads.
const PINNED: [Placement; 2] = [Placement::TwoCpus, Placement::OneCpu];

fn xthread_rtt(c: &mut Criterion) {
    for placement in PINNED {
        let mut g = group(c, &format!("xthread_rtt{}", placement.suffix()), RTT_N);
        g.bench_function("evloop", |b| {
            b.iter_custom(|iters| {
                let lp = EvloopThread::start(placement);
                round_trips(placement, iters * RTT_N, |x| lp.round_trip(x))
            })
        });
        for (name, io) in TOKIO_FLAVOURS {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let rt = TokioThread::start(io, placement);
                    round_trips(placement, iters * RTT_N, |x| rt.round_trip(x))
                })
            });
        }
        g.finish();
    }
}

// ---- 3. executor_seq / executor_concurrent -----------------------------------------

/// evloop: `run_in_executor(trivial)` awaited `n` times in a row.
async fn evloop_exec_seq(n: u64) -> Duration {
    let lp = EventLoop::current();
    let start = Instant::now();
    for i in 0..n {
        black_box(lp.run_in_executor(move || i + 1).await.unwrap());
    }
    start.elapsed()
}

/// tokio: `spawn_blocking(trivial)` awaited `n` times in a row.
async fn tokio_exec_seq(n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        black_box(tokio::task::spawn_blocking(move || i + 1).await.unwrap());
    }
    start.elapsed()
}

/// evloop: `n` jobs submitted at once, then all awaited.
async fn evloop_exec_concurrent(n: u64) -> Duration {
    let lp = EventLoop::current();
    let start = Instant::now();
    let jobs: Vec<_> = (0..n).map(|i| lp.run_in_executor(move || i + 1)).collect();
    for job in jobs {
        black_box(job.await.unwrap());
    }
    start.elapsed()
}

/// tokio: `n` `spawn_blocking`s at once, then all awaited.
async fn tokio_exec_concurrent(n: u64) -> Duration {
    let start = Instant::now();
    let jobs: Vec<_> = (0..n)
        .map(|i| tokio::task::spawn_blocking(move || i + 1))
        .collect();
    for job in jobs {
        black_box(job.await.unwrap());
    }
    start.elapsed()
}

/// One batch of `iters` iterations of an executor workload, on a fresh loop
/// whose pool was warmed by an untimed round of the same workload (the
/// first round starts the threads).
fn evloop_exec_batch(seq: bool, n: u64, placement: Placement, iters: u64) -> Duration {
    let run = move |n| async move {
        if seq {
            evloop_exec_seq(n).await
        } else {
            evloop_exec_concurrent(n).await
        }
    };
    on_evloop(
        placement,
        move || run(if seq { 1 } else { n }),
        move || async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += run(n).await;
            }
            total
        },
    )
}

/// `evloop_exec_batch` for tokio.
fn tokio_exec_batch(seq: bool, n: u64, io: bool, placement: Placement, iters: u64) -> Duration {
    let run = move |n| async move {
        if seq {
            tokio_exec_seq(n).await
        } else {
            tokio_exec_concurrent(n).await
        }
    };
    on_tokio(
        io,
        placement,
        run(if seq { 1 } else { n }),
        move || async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += run(n).await;
            }
            total
        },
    )
}

fn executor(c: &mut Criterion) {
    let cases = [
        ("executor_seq", EXEC_SEQ_N, true, Placement::TwoCpus),
        ("executor_seq", EXEC_SEQ_N, true, Placement::OneCpu),
        ("executor_concurrent", EXEC_CONC_N, false, Placement::Free),
    ];
    for (name, n, seq, placement) in cases {
        let mut g = group(c, &format!("{name}{}", placement.suffix()), n);
        g.bench_function("evloop", |b| {
            b.iter_custom(|iters| evloop_exec_batch(seq, n, placement, iters))
        });
        for (tname, io) in TOKIO_FLAVOURS {
            g.bench_function(tname, |b| {
                b.iter_custom(|iters| tokio_exec_batch(seq, n, io, placement, iters))
            });
        }
        g.finish();
    }
}

// ---- extras: percentiles and pool sizes ----------------------------------------------

/// Prints mean, p50 / p90 / p99 and max of `samples` (nanoseconds).
fn print_percentiles(name: &str, mut samples: Vec<u64>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<u64>() / samples.len() as u64;
    println!(
        "{name:<30} n={:<6} mean {:>6} ns  p50 {:>6} ns  p90 {:>6} ns  p99 {:>6} ns  max {:>8} ns",
        samples.len(),
        mean,
        at(0.50),
        at(0.90),
        at(0.99),
        samples[samples.len() - 1],
    );
}

/// Times `n` calls of `op` one by one, after `n / 10` untimed warm-up calls.
fn one_by_one(n: usize, op: impl Fn(u64)) -> Vec<u64> {
    for i in 0..n / 10 {
        op(i as u64);
    }
    (0..n as u64)
        .map(|i| {
            let start = Instant::now();
            op(i);
            start.elapsed().as_nanos() as u64
        })
        .collect()
}

fn rtt_percentiles(n: usize) {
    for placement in PINNED {
        let group = format!("xthread_rtt{}", placement.suffix());
        let lp = EvloopThread::start(placement);
        let samples = common::on_new_thread(|| {
            placement.pin_other();
            one_by_one(n, |x| {
                black_box(lp.round_trip(x));
            })
        });
        print_percentiles(&format!("{group}/evloop"), samples);
        drop(lp);
        for (name, io) in TOKIO_FLAVOURS {
            let rt = TokioThread::start(io, placement);
            let samples = common::on_new_thread(|| {
                placement.pin_other();
                one_by_one(n, |x| {
                    black_box(rt.round_trip(x));
                })
            });
            print_percentiles(&format!("{group}/{name}"), samples);
        }
    }
}

/// Round trips of `run_in_executor` / `spawn_blocking`, timed one by one on
/// the loop thread (the first `n / 10` are dropped as warm-up).
async fn evloop_exec_samples(n: usize) -> Vec<u64> {
    let lp = EventLoop::current();
    let mut samples = Vec::with_capacity(n + n / 10);
    for i in 0..(n + n / 10) as u64 {
        let start = Instant::now();
        black_box(lp.run_in_executor(move || i + 1).await.unwrap());
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples.split_off(n / 10)
}

async fn tokio_exec_samples(n: usize) -> Vec<u64> {
    let mut samples = Vec::with_capacity(n + n / 10);
    for i in 0..(n + n / 10) as u64 {
        let start = Instant::now();
        black_box(tokio::task::spawn_blocking(move || i + 1).await.unwrap());
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples.split_off(n / 10)
}

fn executor_percentiles(n: usize) {
    for placement in PINNED {
        let group = format!("executor_seq{}", placement.suffix());
        let samples = on_evloop(
            placement,
            || evloop_exec_seq(1),
            move || evloop_exec_samples(n),
        );
        print_percentiles(&format!("{group}/evloop"), samples);
        for (name, io) in TOKIO_FLAVOURS {
            let samples = on_tokio(io, placement, tokio_exec_seq(1), move || {
                tokio_exec_samples(n)
            });
            print_percentiles(&format!("{group}/{name}"), samples);
        }
    }
}

/// Threads of this process whose name starts with `prefix` (from /proc).
fn threads_named(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// How many worker threads each executor has after a warm-up round and a
/// round of `executor_concurrent` (tokio keeps idle blocking threads 10 s).
fn executor_pool_sizes() {
    let round = || async {
        evloop_exec_concurrent(EXEC_CONC_N).await;
        evloop_exec_concurrent(EXEC_CONC_N).await;
        threads_named("evloop-executor")
    };
    let threads = on_evloop(Placement::Free, || async {}, round);
    println!(
        "executor_concurrent/evloop      {threads} executor threads (default pool: min(32, cores + 4) = {})",
        evloop::ThreadPool::default_size()
    );
    for (name, io) in TOKIO_FLAVOURS {
        let threads = on_tokio(io, Placement::Free, async {}, || async {
            tokio_exec_concurrent(EXEC_CONC_N).await;
            tokio_exec_concurrent(EXEC_CONC_N).await;
            // tokio's default thread name, cut to 15 bytes by the kernel.
            threads_named("tokio-rt-worker")
        });
        println!(
            "executor_concurrent/{name:<11} {threads} blocking-pool threads (tokio's default cap: 512)"
        );
    }
}

/// The filter criterion was given (its first positional argument), if any,
/// and whether it was asked only to list or test.
fn cli() -> (Option<String>, bool, bool) {
    const TAKES_VALUE: &[&str] = &[
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--output-format",
        "--color",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--format",
    ];
    let (mut filter, mut list, mut test) = (None, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--test" => test = true,
            a if TAKES_VALUE.contains(&a) => {
                args.next();
            }
            a if a.starts_with('-') => {}
            a => filter = filter.or(Some(a.to_owned())),
        }
    }
    (filter, list, test)
}

// ---- main ------------------------------------------------------------------------

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

fn main() {
    let mut c = config().configure_from_args();
    threadsafe(&mut c);
    xthread_rtt(&mut c);
    executor(&mut c);
    c.final_summary();

    let (filter, list, test) = cli();
    if list {
        return;
    }
    let wanted = |name: &str| {
        filter
            .as_deref()
            .is_none_or(|f| name.contains(f) || f.contains(name))
    };
    let n = if test { 100 } else { PERCENTILE_N };
    if wanted("xthread_rtt") || wanted("executor_seq") || wanted("executor_concurrent") {
        println!("\nsingle operations, timed one by one:");
    }
    if wanted("xthread_rtt") {
        rtt_percentiles(n);
    }
    if wanted("executor_seq") {
        executor_percentiles(n / 2);
    }
    if wanted("executor_concurrent") {
        executor_pool_sizes();
    }
}
