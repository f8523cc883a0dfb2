//! Task and callback workloads: `spawn_join`, `call_soon`, `ping_pong`.
//!
//! Each function builds a fresh runtime, does `n` operations and returns
//! the time they took, measured inside the runtime.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use evloop::sync::Event;
use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::runtime;

fn bump(counter: &Cell<usize>) {
    counter.set(counter.get() + 1);
}

// ---- spawn_join ------------------------------------------------------------

/// `n` trivial tasks spawned with `ensure_future`, then each awaited.
pub fn spawn_join_evloop(n: usize) -> Duration {
    runtime::evloop()
        .run_until_complete(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|_| evloop::ensure_future(async {})).collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
        .unwrap()
}

/// `n` trivial tasks spawned with `tokio::spawn` (they are `Send`), then
/// each `JoinHandle` awaited.
pub fn spawn_join_tokio(n: usize) -> Duration {
    runtime::tokio().block_on(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

// ---- call_soon -------------------------------------------------------------

/// `n` callbacks bumping an `Rc<Cell>` counter, queued with `call_soon`
/// from the loop's thread, then run with `run_once` until all ran.
pub fn call_soon_evloop(n: usize) -> Duration {
    let lp = runtime::evloop();
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

/// tokio has no callbacks: a detached `spawn_local` task per callback,
/// spawned from inside the `LocalSet` (the counter is an `Rc`), then the
/// `LocalSet` awaited (it completes when every task has).
pub fn call_soon_tokio(n: usize) -> Duration {
    let rt = runtime::tokio();
    let count = Rc::new(Cell::new(0));
    let local = LocalSet::new();
    let start = Instant::now();
    local.block_on(&rt, async {
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

// ---- ping_pong -------------------------------------------------------------

/// Two tasks waking each other `n` times through two `sync::Event`s
/// (`set` / `wait` / `clear`).
pub fn ping_pong_evloop(n: usize) -> Duration {
    runtime::evloop()
        .run_until_complete(async move {
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
}

/// Two tasks waking each other `n` times through two `Arc<Notify>`s
/// (`notify_one` / `notified`), spawned with `tokio::spawn`.
pub fn ping_pong_tokio(n: usize) -> Duration {
    runtime::tokio().block_on(async move {
        let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let start = Instant::now();
        let pinger = tokio::spawn({
            let (ping, pong) = (ping.clone(), pong.clone());
            async move {
                for _ in 0..n {
                    ping.notify_one();
                    pong.notified().await;
                }
            }
        });
        let ponger = tokio::spawn(async move {
            for _ in 0..n {
                ping.notified().await;
                pong.notify_one();
            }
        });
        pinger.await.unwrap();
        ponger.await.unwrap();
        start.elapsed()
    })
}
