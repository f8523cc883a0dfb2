//! Core workloads, evloop side by side with tokio's current-thread runtime.
//!
//! Run with `cargo bench -p evloop-benches --bench core` (one group:
//! `cargo bench -p evloop-benches --bench core -- ping_pong`). Each group has
//! an `evloop` and a `tokio` function doing the same, idiomatic work; results
//! are in `docs/BENCHMARKS.md`.
//!
//! Every function uses `iter_custom`: the loop or runtime is built once per
//! batch of iterations, outside the timed region, and the clock runs only
//! around the work itself. tokio runs `!Send` tasks in a `LocalSet`, on a
//! runtime built with `Builder::new_current_thread().enable_time()`.

use std::cell::Cell;
use std::future::{ready, Future};
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use evloop::sync::Event;
use evloop::EventLoop;
use evloop_benches::random_delays;
use tokio::sync::Notify;
use tokio::task::LocalSet;

/// Tasks spawned and joined by `spawn_join`.
const SPAWN_N: usize = 100_000;
/// Callbacks run by `call_soon`.
const CALL_SOON_N: usize = 1_000_000;
/// Round trips (two wakes each) in `ping_pong`.
const PING_PONG_N: usize = 100_000;
/// Timers in `timers_random_*` and `timer_cancel`.
const TIMERS_N: usize = 100_000;
/// Largest random timer deadline, in milliseconds.
const TIMERS_MAX_MS: u64 = 100;
/// `wait_for` / `timeout` calls in `timeout_ready`.
const TIMEOUT_N: usize = 100_000;
/// Seed of the timer deadlines; both runtimes get the same sequence.
const SEED: u64 = 0x5EED_0F71_13E5;

// ---- harness helpers ---------------------------------------------------------

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// Runs `work()` `iters` times inside one `run_until_complete` on a fresh
/// loop and sums the durations each run measured itself.
fn evloop_batch<W, F>(iters: u64, work: W) -> Duration
where
    W: Fn() -> F + 'static,
    F: Future<Output = Duration> + 'static,
{
    let lp = EventLoop::new();
    lp.run_until_complete(async move {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += work().await;
        }
        total
    })
    .expect("evloop run")
}

/// Runs `work()` `iters` times inside one `LocalSet::block_on` on a fresh
/// current-thread runtime and sums the durations each run measured itself.
fn tokio_batch<W, F>(iters: u64, work: W) -> Duration
where
    W: Fn() -> F,
    F: Future<Output = Duration>,
{
    let rt = tokio_runtime();
    let local = LocalSet::new();
    local.block_on(&rt, async move {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += work().await;
        }
        total
    })
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements as u64));
    g
}

fn bump(counter: &Cell<usize>) {
    counter.set(counter.get() + 1);
}

// ---- 1. spawn_join -------------------------------------------------------------

fn spawn_join(c: &mut Criterion) {
    let mut g = group(c, "spawn_join", SPAWN_N);
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            evloop_batch(iters, || async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..SPAWN_N)
                    .map(|_| evloop::ensure_future(async {}))
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_batch(iters, || async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..SPAWN_N)
                    .map(|_| tokio::task::spawn_local(async {}))
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

// ---- 2. call_soon --------------------------------------------------------------

fn call_soon(c: &mut Criterion) {
    let mut g = group(c, "call_soon", CALL_SOON_N);
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            let lp = EventLoop::new();
            let count = Rc::new(Cell::new(0));
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                count.set(0);
                let start = Instant::now();
                for _ in 0..CALL_SOON_N {
                    let count = count.clone();
                    drop(lp.call_soon(move || bump(&count)).unwrap());
                }
                while count.get() < CALL_SOON_N {
                    lp.run_once(Some(Duration::ZERO)).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    // tokio has no callbacks: the nearest analogue is a detached local task
    // per callback, spawned from inside the `LocalSet` (its fast path, as
    // `call_soon` from the loop thread is evloop's), then awaiting the
    // `LocalSet` runs them all.
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let rt = tokio_runtime();
            let count = Rc::new(Cell::new(0));
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                count.set(0);
                let local = LocalSet::new();
                let start = Instant::now();
                local.block_on(&rt, async {
                    for _ in 0..CALL_SOON_N {
                        let count = count.clone();
                        drop(tokio::task::spawn_local(async move { bump(&count) }));
                    }
                });
                rt.block_on(local);
                total += start.elapsed();
                assert_eq!(count.get(), CALL_SOON_N);
            }
            total
        })
    });
    g.finish();
}

// ---- 3. ping_pong --------------------------------------------------------------

fn ping_pong(c: &mut Criterion) {
    let mut g = group(c, "ping_pong", PING_PONG_N);
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            evloop_batch(iters, || async {
                let (ping, pong) = (Event::new(), Event::new());
                let start = Instant::now();
                let pinger = evloop::ensure_future({
                    let (ping, pong) = (ping.clone(), pong.clone());
                    async move {
                        for _ in 0..PING_PONG_N {
                            ping.set();
                            pong.wait().await;
                            pong.clear();
                        }
                    }
                });
                let ponger = evloop::ensure_future(async move {
                    for _ in 0..PING_PONG_N {
                        ping.wait().await;
                        ping.clear();
                        pong.set();
                    }
                });
                pinger.await.unwrap();
                ponger.await.unwrap();
                start.elapsed()
            })
        })
    });
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_batch(iters, || async {
                let (ping, pong) = (Rc::new(Notify::new()), Rc::new(Notify::new()));
                let start = Instant::now();
                let pinger = tokio::task::spawn_local({
                    let (ping, pong) = (ping.clone(), pong.clone());
                    async move {
                        for _ in 0..PING_PONG_N {
                            ping.notify_one();
                            pong.notified().await;
                        }
                    }
                });
                let ponger = tokio::task::spawn_local(async move {
                    for _ in 0..PING_PONG_N {
                        ping.notified().await;
                        pong.notify_one();
                    }
                });
                pinger.await.unwrap();
                ponger.await.unwrap();
                start.elapsed()
            })
        })
    });
    g.finish();
}

// ---- 4. timers_random_cb / timers_random_sleep ------------------------------------

/// tokio's side of both timer groups: a local task per timer that sleeps,
/// then bumps the counter, spawned from inside the `LocalSet`; awaiting the
/// `LocalSet` waits for all of them.
fn tokio_timers(delays: &[Duration], iters: u64) -> Duration {
    let rt = tokio_runtime();
    let count = Rc::new(Cell::new(0));
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        count.set(0);
        let local = LocalSet::new();
        let start = Instant::now();
        local.block_on(&rt, async {
            for &d in delays {
                let count = count.clone();
                drop(tokio::task::spawn_local(async move {
                    tokio::time::sleep(d).await;
                    bump(&count);
                }));
            }
        });
        rt.block_on(local);
        total += start.elapsed();
        assert_eq!(count.get(), delays.len());
    }
    total
}

fn timers_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = group(c, name, TIMERS_N);
    // One iteration takes ~100 ms (the longest deadline): flat sampling keeps
    // ten samples within a couple of seconds.
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(2));
    g
}

fn timers_random(c: &mut Criterion) {
    let delays = random_delays(TIMERS_N, TIMERS_MAX_MS, SEED);

    let mut g = timers_group(c, "timers_random_cb");
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            let lp = EventLoop::new();
            let count = Rc::new(Cell::new(0));
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                count.set(0);
                let start = Instant::now();
                for &d in &delays {
                    let count = count.clone();
                    drop(lp.call_later(d, move || bump(&count)).unwrap());
                }
                while count.get() < TIMERS_N {
                    lp.run_once(None).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| tokio_timers(&delays, iters))
    });
    g.finish();

    let mut g = timers_group(c, "timers_random_sleep");
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            let lp = EventLoop::new();
            let count = Rc::new(Cell::new(0));
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                count.set(0);
                let start = Instant::now();
                for &d in &delays {
                    let count = count.clone();
                    drop(lp.ensure_future(async move {
                        evloop::sleep(d).await;
                        bump(&count);
                    }));
                }
                while count.get() < TIMERS_N {
                    lp.run_once(None).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| tokio_timers(&delays, iters))
    });
    g.finish();
}

// ---- 5. timeout_ready ------------------------------------------------------------

fn timeout_ready(c: &mut Criterion) {
    let limit = Duration::from_secs(1);
    let mut g = group(c, "timeout_ready", TIMEOUT_N);
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            evloop_batch(iters, move || async move {
                let start = Instant::now();
                for _ in 0..TIMEOUT_N {
                    let out = evloop::wait_for(limit, ready(1u32)).await;
                    black_box(out.unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_batch(iters, move || async move {
                let start = Instant::now();
                for _ in 0..TIMEOUT_N {
                    let out = tokio::time::timeout(limit, ready(1u32)).await;
                    black_box(out.unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

// ---- 6. timer_cancel -------------------------------------------------------------

fn timer_cancel(c: &mut Criterion) {
    let delays = Rc::new(random_delays(TIMERS_N, TIMERS_MAX_MS, SEED));
    let mut g = group(c, "timer_cancel", TIMERS_N);
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| {
            let delays = delays.clone();
            evloop_batch(iters, move || {
                let delays = delays.clone();
                async move {
                    let lp = EventLoop::current();
                    let start = Instant::now();
                    for &d in delays.iter() {
                        let timer = lp.call_later(d, || {}).unwrap();
                        black_box(timer.cancel());
                    }
                    start.elapsed()
                }
            })
        })
    });
    // A tokio `Sleep` registers its timer at the first poll: create, poll
    // once (no-op waker), drop.
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_batch(iters, || async {
                let mut cx = Context::from_waker(Waker::noop());
                let start = Instant::now();
                for &d in delays.iter() {
                    let sleep = pin!(tokio::time::sleep(d));
                    black_box(sleep.poll(&mut cx).is_pending());
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

// ---- main ------------------------------------------------------------------------

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = core;
    config = config();
    targets = spawn_join, call_soon, ping_pong, timers_random, timeout_ready, timer_cancel
}
criterion_main!(core);
