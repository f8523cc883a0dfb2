//! Timer workloads: `timers_random`, `timers_random_cb`, `timer_cancel`,
//! `timeout_ready`, `timer_lateness`.
//!
//! The random deadlines come from [`random_delays`](crate::random_delays)
//! (fixed seed): both runtimes get the same sequence.

use std::cell::Cell;
use std::future::{ready, Future};
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use crate::runtime::{self, TokioForm};

// ---- timers_random / timers_random_cb --------------------------------------

/// A task per delay, spawned with `ensure_future`, sleeping with
/// `evloop::sleep`; the main task awaits them all. Returns the time from
/// the first spawn until the last task was joined.
pub fn timers_sleep_evloop(delays: &[Duration]) -> Duration {
    let delays = delays.to_vec();
    runtime::evloop()
        .run_until_complete(async move {
            let start = Instant::now();
            let tasks: Vec<_> = delays
                .iter()
                .map(|&d| evloop::ensure_future(evloop::sleep(d)))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
        .unwrap()
}

/// A task per delay, spawned in `form`, sleeping with
/// `tokio::time::sleep`; the main future awaits them all. tokio's side of
/// both `timers_random` and `timers_random_cb` (it has no timer callbacks).
pub fn timers_sleep_tokio(delays: &[Duration], form: TokioForm) -> Duration {
    let delays = delays.to_vec();
    form.block_on(&runtime::tokio(), async move {
        let start = Instant::now();
        let tasks: Vec<_> = delays
            .iter()
            .map(|&d| form.spawn(tokio::time::sleep(d)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

/// A `call_later` callback per delay, each bumping an `Rc<Cell>` counter;
/// `run_once(None)` until all ran.
pub fn timers_cb_evloop(delays: &[Duration]) -> Duration {
    let lp = runtime::evloop();
    let count = Rc::new(Cell::new(0));
    let start = Instant::now();
    for &d in delays {
        let count = count.clone();
        drop(
            lp.call_later(d, move || count.set(count.get() + 1))
                .unwrap(),
        );
    }
    while count.get() < delays.len() {
        lp.run_once(None).unwrap();
    }
    start.elapsed()
}

// ---- timer_cancel ----------------------------------------------------------

/// Arms a `call_later` timer per delay and cancels it at once.
pub fn timer_cancel_evloop(delays: &[Duration]) -> Duration {
    let delays = delays.to_vec();
    runtime::evloop()
        .run_until_complete(async move {
            let lp = evloop::EventLoop::current();
            let start = Instant::now();
            for &d in &delays {
                let timer = lp.call_later(d, || {}).unwrap();
                black_box(timer.cancel());
            }
            start.elapsed()
        })
        .unwrap()
}

/// A tokio `Sleep` registers its timer at its first poll: create, poll once
/// (no-op waker), drop.
pub fn timer_cancel_tokio(delays: &[Duration]) -> Duration {
    let delays = delays.to_vec();
    runtime::tokio().block_on(async move {
        let mut cx = Context::from_waker(Waker::noop());
        let start = Instant::now();
        for &d in &delays {
            let sleep = pin!(tokio::time::sleep(d));
            black_box(sleep.poll(&mut cx).is_pending());
        }
        start.elapsed()
    })
}

// ---- timeout_ready ---------------------------------------------------------

/// The limit of `timeout_ready` (never reached).
const TIMEOUT_LIMIT: Duration = Duration::from_secs(1);

/// `n` times `evloop::wait_for(1 s, ready(1))`.
pub fn timeout_ready_evloop(n: usize) -> Duration {
    runtime::evloop()
        .run_until_complete(async move {
            let start = Instant::now();
            for _ in 0..n {
                let out = evloop::wait_for(TIMEOUT_LIMIT, ready(1u32)).await;
                black_box(out.unwrap());
            }
            start.elapsed()
        })
        .unwrap()
}

/// `n` times `tokio::time::timeout(1 s, ready(1))`.
pub fn timeout_ready_tokio(n: usize) -> Duration {
    runtime::tokio().block_on(async move {
        let start = Instant::now();
        for _ in 0..n {
            let out = tokio::time::timeout(TIMEOUT_LIMIT, ready(1u32)).await;
            black_box(out.unwrap());
        }
        start.elapsed()
    })
}

// ---- timer_lateness --------------------------------------------------------

/// A task per delay, started `batch` at a time (the main task yields to the
/// loop between batches), each sleeping until `now + delay` and returning
/// how late it woke: the time between the deadline and its own
/// `Instant::now()` after the sleep. All are in flight at once. evloop runs
/// in its high-resolution mode (`Builder::timer_resolution(10 µs)`: a
/// timerfd instead of epoll's millisecond timeout), as the issue asks.
pub fn timer_lateness_evloop(delays: &[Duration], batch: usize) -> Vec<Duration> {
    let delays = delays.to_vec();
    evloop::EventLoop::builder()
        .timer_resolution(Duration::from_micros(10))
        .build()
        .expect("an event loop")
        .run_until_complete(async move {
            let mut tasks = Vec::with_capacity(delays.len());
            for chunk in delays.chunks(batch.max(1)) {
                for &d in chunk {
                    tasks.push(evloop::ensure_future(async move {
                        let deadline = Instant::now() + d;
                        evloop::sleep_until(deadline).await;
                        Instant::now().saturating_duration_since(deadline)
                    }));
                }
                evloop::yield_now().await;
            }
            let mut late = Vec::with_capacity(tasks.len());
            for task in tasks {
                late.push(task.await.unwrap());
            }
            late
        })
        .unwrap()
}

/// [`timer_lateness_evloop`] on tokio: tasks spawned in `form`,
/// `tokio::time::sleep_until`, `tokio::task::yield_now`.
pub fn timer_lateness_tokio(delays: &[Duration], batch: usize, form: TokioForm) -> Vec<Duration> {
    let delays = delays.to_vec();
    form.block_on(&runtime::tokio(), async move {
        let mut tasks = Vec::with_capacity(delays.len());
        for chunk in delays.chunks(batch.max(1)) {
            for &d in chunk {
                tasks.push(form.spawn(async move {
                    let deadline = Instant::now() + d;
                    tokio::time::sleep_until(deadline.into()).await;
                    Instant::now().saturating_duration_since(deadline)
                }));
            }
            tokio::task::yield_now().await;
        }
        let mut late = Vec::with_capacity(tasks.len());
        for task in tasks {
            late.push(task.await.unwrap());
        }
        late
    })
}
