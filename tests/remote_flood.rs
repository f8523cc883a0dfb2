//! A flood from other threads: one iteration takes at most 1,024 remote
//! jobs, so timers and I/O get their turn; producers that want
//! back-pressure bound the queue (`Builder::threadsafe_capacity`).
//! Deterministic: counts and orders, never durations.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evloop::{CallError, EventLoop};

/// The per-iteration bound (`docs/internals.md`, "Phase 4").
const DRAIN_LIMIT: u64 = 1024;

/// 10,000 jobs queued while the loop was not running, and a timer already
/// due: the first iteration runs 1,024 jobs, then the timer.
#[test]
fn one_iteration_takes_at_most_the_drain_limit_and_the_timer_runs_between() {
    let lp = EventLoop::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let handle = lp.handle();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..10_000 {
                let ran = ran.clone();
                handle
                    .call_soon_threadsafe(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                    .unwrap();
            }
        });
    });
    let seen_by_timer = Rc::new(Cell::new(None));
    let (r, t) = (ran.clone(), seen_by_timer.clone());
    lp.call_later(Duration::ZERO, move || {
        t.set(Some(r.load(Ordering::Relaxed)))
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(2)); // the timer is due
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let stats = lp.stats();
    assert_eq!(stats.remote_jobs, DRAIN_LIMIT);
    assert_eq!(stats.remote_drains_cut, 1);
    assert_eq!(seen_by_timer.get(), Some(DRAIN_LIMIT as usize));
    util::watchdog_local(|| {
        while ran.load(Ordering::Relaxed) < 10_000 {
            lp.run_once(Some(Duration::ZERO)).unwrap();
        }
    });
    assert_eq!(lp.stats().remote_jobs, 10_000);
}

/// Four threads flood a running loop: no iteration takes more than the
/// limit, and every job still runs exactly once.
#[test]
fn four_flooding_threads_never_push_an_iteration_past_the_limit() {
    const PRODUCERS: usize = 4;
    const JOBS: usize = 50_000;
    let lp = EventLoop::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let (handle, ran) = (lp.handle(), ran.clone());
            std::thread::spawn(move || {
                for _ in 0..JOBS {
                    let ran = ran.clone();
                    handle
                        .call_soon_threadsafe(move || {
                            ran.fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    util::watchdog_local(|| {
        let mut before = lp.stats().remote_jobs;
        while ran.load(Ordering::Relaxed) < PRODUCERS * JOBS {
            lp.run_once(Some(Duration::from_millis(10))).unwrap();
            let now = lp.stats().remote_jobs;
            assert!(
                now - before <= DRAIN_LIMIT,
                "{} jobs in one iteration",
                now - before
            );
            before = now;
        }
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(ran.load(Ordering::Relaxed), PRODUCERS * JOBS);
}

#[test]
fn try_call_gives_the_job_back_when_the_queue_is_full() {
    let lp = EventLoop::builder().threadsafe_capacity(2).build().unwrap();
    let handle = lp.handle();
    let ran = Arc::new(AtomicUsize::new(0));
    let job = |n: usize| {
        let ran = ran.clone();
        move || {
            ran.fetch_add(n, Ordering::Relaxed);
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(handle.try_call_soon_threadsafe(job(1)).is_ok());
            // A plain call always queues, and counts.
            handle.call_soon_threadsafe(job(10)).unwrap();
            let back = handle.try_call_soon_threadsafe(job(100)).unwrap_err();
            assert!(back.is_full() && !back.is_closed());
            assert_eq!(back.to_string(), "the loop's threadsafe queue is full");
            // The job came back whole: it can be sent again later.
            back.into_inner().unwrap()
        })
        .join()
        .map(|again| {
            util::tick(&lp); // the loop takes the first two: room again
            assert!(handle.try_call_soon_threadsafe(again).is_ok());
        })
        .unwrap();
    });
    util::tick(&lp);
    assert_eq!(ran.load(Ordering::Relaxed), 111);
}

#[test]
fn blocking_producers_never_hold_more_than_the_capacity_queued() {
    const CAPACITY: usize = 8;
    const JOBS: usize = 10_000;
    let lp = EventLoop::builder()
        .threadsafe_capacity(CAPACITY)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (handle, next) = (lp.handle(), next.clone());
        std::thread::spawn(move || {
            for i in 0..JOBS {
                let next = next.clone();
                handle
                    .call_soon_threadsafe_blocking(move || {
                        assert_eq!(next.swap(i + 1, Ordering::Relaxed), i, "out of order");
                        if i + 1 == JOBS {
                            EventLoop::current().stop();
                        }
                    })
                    .unwrap();
            }
        })
    };
    util::watchdog_local(|| lp.run_forever()).unwrap();
    producer.join().unwrap();
    assert_eq!(next.load(Ordering::Relaxed), JOBS);
    let stats = lp.stats();
    assert!(
        stats.remote_high_water <= CAPACITY as u64,
        "{} jobs were queued at once",
        stats.remote_high_water
    );
}

#[test]
fn a_blocking_call_on_the_loop_thread_with_a_full_queue_returns_full() {
    let lp = EventLoop::builder().threadsafe_capacity(1).build().unwrap();
    let handle = lp.handle();
    handle.call_soon_threadsafe_blocking(|| {}).unwrap();
    let err = handle.call_soon_threadsafe_blocking(|| {}).unwrap_err();
    assert!(err.is_full(), "it would wait for itself: {err}");
}

#[test]
fn close_releases_a_blocked_producer_with_closed() {
    let lp = EventLoop::builder().threadsafe_capacity(1).build().unwrap();
    let handle = lp.handle();
    handle.call_soon_threadsafe(|| {}).unwrap(); // full
    let started = Arc::new(AtomicBool::new(false));
    let producer = {
        let (handle, started) = (handle.clone(), started.clone());
        std::thread::spawn(move || {
            started.store(true, Ordering::Release);
            handle.call_soon_threadsafe_blocking(|| {})
        })
    };
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20)); // likely blocked by now
    lp.close().unwrap();
    let result = util::watchdog(30, move || producer.join().unwrap());
    assert!(matches!(result, Err(CallError::Closed)));
    assert!(handle
        .try_call_soon_threadsafe(|| {})
        .unwrap_err()
        .is_closed());
}
