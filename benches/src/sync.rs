//! Loop-local synchronisation workloads: `queue_ping_pong` and
//! `semaphore_contended`, with the [`Setting`]s the compare tool asks for.
//!
//! Each function builds a fresh runtime, prepares it, does `n` operations
//! and returns the time they took, measured inside the runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use evloop::sync::{Queue, Semaphore};

use crate::runtime::{self, Setting, TokioForm};

/// Tasks of `semaphore_contended`.
pub const SEMAPHORE_TASKS: usize = 100;
/// Permits of `semaphore_contended`.
pub const SEMAPHORE_PERMITS: usize = 10;

// ---- queue_ping_pong -------------------------------------------------------

/// Two tasks passing a number back and forth `n` times, through one
/// unbounded `Queue` each way (`put_nowait`, `get().await`).
pub fn queue_ping_pong_evloop(n: usize, setting: Setting) -> Duration {
    runtime::measure_evloop(setting, |lp| {
        lp.run_until_complete(async move {
            let (there, back) = (Queue::new(), Queue::new());
            let start = Instant::now();
            let ponger = evloop::ensure_future({
                let (there, back) = (there.clone(), back.clone());
                async move {
                    for _ in 0..n {
                        let v: usize = there.get().await.unwrap();
                        back.put_nowait(v + 1).unwrap();
                    }
                }
            });
            let pinger = evloop::ensure_future(async move {
                let mut v = 0;
                for _ in 0..n {
                    there.put_nowait(v).unwrap();
                    v = back.get().await.unwrap();
                }
                v
            });
            assert_eq!(pinger.await.unwrap(), n);
            ponger.await.unwrap();
            start.elapsed()
        })
        .unwrap()
    })
}

/// The same through two `tokio::sync::mpsc::unbounded_channel`s (`send`
/// without waiting, as `put_nowait`; `recv().await`), spawned in `form`.
pub fn queue_ping_pong_tokio(n: usize, setting: Setting, form: TokioForm) -> Duration {
    runtime::measure_tokio(setting, |rt| {
        form.block_on(rt, async move {
            let (there_tx, mut there_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
            let (back_tx, mut back_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
            let start = Instant::now();
            let ponger = form.spawn(async move {
                for _ in 0..n {
                    let v = there_rx.recv().await.unwrap();
                    back_tx.send(v + 1).unwrap();
                }
            });
            let pinger = form.spawn(async move {
                let mut v = 0;
                for _ in 0..n {
                    there_tx.send(v).unwrap();
                    v = back_rx.recv().await.unwrap();
                }
                v
            });
            assert_eq!(pinger.await.unwrap(), n);
            ponger.await.unwrap();
            start.elapsed()
        })
    })
}

// ---- semaphore_contended ---------------------------------------------------

/// [`SEMAPHORE_TASKS`] tasks sharing [`SEMAPHORE_PERMITS`] permits, `n`
/// acquisitions in all: each task acquires, yields once holding the
/// permit (so the others queue up), and releases.
pub fn semaphore_contended_evloop(n: usize, setting: Setting) -> Duration {
    runtime::measure_evloop(setting, |lp| {
        lp.run_until_complete(async move {
            let sem = Semaphore::new(SEMAPHORE_PERMITS);
            let start = Instant::now();
            let tasks: Vec<_> = (0..SEMAPHORE_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    evloop::ensure_future(async move {
                        for _ in 0..n / SEMAPHORE_TASKS {
                            let _permit = sem.acquire().await;
                            evloop::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed()
        })
        .unwrap()
    })
}

/// The same with an `Arc<tokio::sync::Semaphore>` and
/// `tokio::task::yield_now`, spawned in `form`.
pub fn semaphore_contended_tokio(n: usize, setting: Setting, form: TokioForm) -> Duration {
    runtime::measure_tokio(setting, |rt| {
        form.block_on(rt, async move {
            let sem = Arc::new(tokio::sync::Semaphore::new(SEMAPHORE_PERMITS));
            let start = Instant::now();
            let tasks: Vec<_> = (0..SEMAPHORE_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    form.spawn(async move {
                        for _ in 0..n / SEMAPHORE_TASKS {
                            let _permit = sem.acquire().await.unwrap();
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed()
        })
    })
}
