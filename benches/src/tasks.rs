//! Task and callback workloads: `spawn_join`, `call_soon`, `ping_pong`,
//! each in the [`Setting`]s the compare tool asks for (fresh, warm, with a
//! timer pending).
//!
//! Each function builds a fresh runtime, prepares it, does `n` operations
//! and returns the time they took, measured inside the runtime.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evloop::sync::Event;
use evloop::EventLoop;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::runtime::{self, Setting, TokioForm};

fn bump(counter: &Cell<usize>) {
    counter.set(counter.get() + 1);
}

// ---- spawn_join ------------------------------------------------------------

/// `n` trivial tasks spawned with `ensure_future`, then each awaited.
pub fn spawn_join_evloop(n: usize, setting: Setting) -> Duration {
    runtime::measure_evloop(setting, |lp| {
        lp.run_until_complete(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|_| evloop::ensure_future(async {})).collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
        .unwrap()
    })
}

/// `n` trivial tasks spawned in `form`, then each `JoinHandle` awaited.
pub fn spawn_join_tokio(n: usize, setting: Setting, form: TokioForm) -> Duration {
    runtime::measure_tokio(setting, |rt| {
        form.block_on(rt, async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|_| form.spawn(async {})).collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
    })
}

// ---- call_soon -------------------------------------------------------------

/// `n` callbacks bumping an `Rc<Cell>` counter, queued with `call_soon`
/// from the loop's thread, then run with `run_once` until all ran.
pub fn call_soon_evloop(n: usize, setting: Setting) -> Duration {
    runtime::measure_evloop(setting, |lp| call_soon_on(lp, n))
}

fn call_soon_on(lp: &EventLoop, n: usize) -> Duration {
    let count = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..n {
        let count = count.clone();
        drop(lp.call_soon(move || bump(&count)).unwrap());
    }
    while count.get() < n {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    start.elapsed()
}

/// tokio has no callbacks: a detached task per callback. In the `LocalSet`
/// form each bumps an `Rc<Cell>` counter and the `LocalSet` is awaited (it
/// completes when every task has); in the `tokio::spawn` form each bumps
/// an atomic counter and the last one wakes the main future through a
/// `Notify`.
pub fn call_soon_tokio(n: usize, setting: Setting, form: TokioForm) -> Duration {
    runtime::measure_tokio(setting, |rt| match form {
        TokioForm::Local => call_soon_tokio_local(rt, n),
        TokioForm::Spawn => call_soon_tokio_spawn(rt, n),
    })
}

fn call_soon_tokio_local(rt: &Runtime, n: usize) -> Duration {
    let count = Rc::new(Cell::new(0));
    let local = LocalSet::new();
    let start = Instant::now();
    local.block_on(rt, async {
        for _ in 0..n {
            let count = count.clone();
            drop(tokio::task::spawn_local(async move { bump(&count) }));
        }
    });
    rt.block_on(local);
    let elapsed = start.elapsed();
    assert_eq!(count.get(), n);
    elapsed
}

fn call_soon_tokio_spawn(rt: &Runtime, n: usize) -> Duration {
    let shared = Arc::new((AtomicUsize::new(0), Notify::new()));
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            let shared = shared.clone();
            drop(tokio::spawn(async move {
                if shared.0.fetch_add(1, Ordering::Relaxed) + 1 == n {
                    shared.1.notify_one();
                }
            }));
        }
        shared.1.notified().await;
    });
    let elapsed = start.elapsed();
    assert_eq!(shared.0.load(Ordering::Relaxed), n);
    elapsed
}

// ---- ping_pong -------------------------------------------------------------

/// Two tasks waking each other `n` times through two `sync::Event`s
/// (`set` / `wait` / `clear`).
pub fn ping_pong_evloop(n: usize, setting: Setting) -> Duration {
    runtime::measure_evloop(setting, |lp| {
        lp.run_until_complete(async move {
            let (ping, pong) = (Event::new(), Event::new());
            let start = Instant::now();
            let pinger = evloop::ensure_future({
                let (ping, pong) = (ping.clone(), pong.clone());
                async move {
                    for _ in 0..n {
                        ping.set();
                        pong.wait().await;
                        pong.clear();
                    }
                }
            });
            let ponger = evloop::ensure_future(async move {
                for _ in 0..n {
                    ping.wait().await;
                    ping.clear();
                    pong.set();
                }
            });
            pinger.await.unwrap();
            ponger.await.unwrap();
            start.elapsed()
        })
        .unwrap()
    })
}

/// Two tasks waking each other `n` times through two `Arc<Notify>`s
/// (`notify_one` / `notified`: tokio's lightest wake-up), spawned in
/// `form`.
pub fn ping_pong_tokio(n: usize, setting: Setting, form: TokioForm) -> Duration {
    runtime::measure_tokio(setting, |rt| {
        form.block_on(rt, async move {
            let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            let start = Instant::now();
            let pinger = form.spawn({
                let (ping, pong) = (ping.clone(), pong.clone());
                async move {
                    for _ in 0..n {
                        ping.notify_one();
                        pong.notified().await;
                    }
                }
            });
            let ponger = form.spawn(async move {
                for _ in 0..n {
                    ping.notified().await;
                    pong.notify_one();
                }
            });
            pinger.await.unwrap();
            ponger.await.unwrap();
            start.elapsed()
        })
    })
}
