//! `evloop::sync::{Lock, Semaphore, Condition, Barrier}`: first come first
//! served, cancellation at every point a wait can be dropped (no permit,
//! lock or notification lost, no waiter left behind), and asyncio's
//! semantics for each.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use evloop::sync::{Barrier, BrokenBarrier, Condition, Lock, Semaphore};

/// Polls `f` once with a waker that does nothing.
fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

/// Tasks that each take `lock` in turn, logging their name, started in
/// the order given while the lock is held.
#[test]
fn the_lock_goes_to_waiters_in_the_order_they_asked() {
    let log = util::Log::new();
    evloop::run({
        let log = log.clone();
        async move {
            let lock = Lock::new();
            let held = lock.lock().await;
            let tasks: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let (lock, log) = (lock.clone(), log.clone());
                    evloop::ensure_future(async move {
                        let _guard = lock.lock().await;
                        log.push(name);
                        evloop::yield_now().await;
                    })
                })
                .collect();
            evloop::yield_now().await;
            drop(held);
            assert!(lock.try_lock().is_none(), "handed to `a`, not free");
            for t in tasks {
                t.await.unwrap();
            }
            assert!(!lock.locked());
        }
    })
    .unwrap();
    assert_eq!(log.get(), ["a", "b", "c"]);
}

/// A lock waiter dropped while it waits, or after the lock was handed to
/// it and before it ran: either way the next waiter gets the lock and the
/// lock ends free.
#[test]
fn a_lock_waiter_dropped_at_any_point_never_leaves_the_lock_held() {
    for handed_first in [false, true] {
        let lock = Lock::new();
        let held = lock.try_lock().unwrap();
        let (mut a, mut b) = (lock.lock(), lock.lock());
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        if handed_first {
            drop(held);
            drop(a);
        } else {
            drop(a);
            drop(held);
        }
        let guard = match poll(&mut b) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("the lock was lost (handed first: {handed_first})"),
        };
        drop(guard);
        drop(b);
        assert!(!lock.locked());
        assert!(lock.try_lock().is_some());
    }
}

/// 100 tasks, 10 permits: never more than 10 inside, all finish, every
/// permit comes back.
#[test]
fn a_contended_semaphore_admits_at_most_its_permits() {
    let (most, done) = evloop::run(async {
        let sem = Semaphore::new(10);
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                evloop::ensure_future(async move {
                    let _permit = sem.acquire().await;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    evloop::yield_now().await;
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            t.await.unwrap();
            done += 1;
        }
        assert_eq!(sem.available_permits(), 10);
        (most.get(), done)
    })
    .unwrap();
    assert_eq!((most, done), (10, 100));
}

#[test]
fn semaphore_waiters_are_served_in_order_as_permits_are_added() {
    let sem = Semaphore::new(0);
    let mut waiters: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
    for w in waiters.iter_mut() {
        assert!(poll(w).is_pending());
    }
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 0, "both went to waiters");
    let polls: Vec<_> = waiters.iter_mut().map(poll).collect(); // holds the permits
    let ready: Vec<bool> = polls.iter().map(Poll::is_ready).collect();
    assert_eq!(ready, [true, true, false]);
}

/// An acquirer dropped after it was handed a permit, before it ran, hands
/// it on; timed-out acquires leave no waiter behind.
#[test]
fn semaphore_acquires_dropped_at_any_point_lose_no_permit() {
    let lp = util::virtual_loop();
    let sem = Semaphore::new(1);
    lp.run_until_complete({
        let sem = sem.clone();
        async move {
            let held = sem.acquire().await;
            for _ in 0..1_000 {
                let r = evloop::wait_for(Duration::from_millis(5), sem.acquire()).await;
                assert!(r.is_err(), "timed out");
            }
            let mut late = sem.acquire();
            assert!(poll(&mut late).is_pending());
            drop(held); // handed to `late` ...
            drop(late); // ... which never runs: back to the count
        }
    })
    .unwrap();
    assert_eq!(sem.available_permits(), 1);
    assert!(format!("{sem:?}").contains("waiters: 0"));
}

#[test]
fn a_forgotten_permit_stays_out() {
    let sem = Semaphore::new(2);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    let p = sem.try_acquire().unwrap();
    assert!(sem.locked());
    drop(p);
    assert_eq!(sem.available_permits(), 1);
}

/// `notify(1)` wakes the longest waiter; `notify_all` the rest; each
/// returns from `wait` holding the lock again.
#[test]
fn condition_notifies_waiters_in_the_order_they_waited() {
    let log = util::Log::new();
    evloop::run({
        let log = log.clone();
        async move {
            let cond = Condition::new();
            let tasks: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let (cond, log) = (cond.clone(), log.clone());
                    evloop::ensure_future(async move {
                        let guard = cond.lock().await;
                        let guard = cond.wait(guard).await;
                        assert!(cond.locked(), "wait returns with the lock");
                        log.push(name);
                        drop(guard);
                    })
                })
                .collect();
            evloop::yield_now().await;
            assert_eq!(cond.waiting(), 3);
            assert!(!cond.locked(), "waiters released the lock");
            assert_eq!(cond.notify(1), 1);
            evloop::yield_now().await;
            evloop::yield_now().await;
            log.push("then all");
            cond.notify_all();
            for t in tasks {
                t.await.unwrap();
            }
        }
    })
    .unwrap();
    assert_eq!(log.get(), ["a", "then all", "b", "c"]);
}

/// A waiter notified and dropped before it took the lock back passes the
/// notification on: the next waiter wakes.
#[test]
fn a_notified_condition_waiter_dropped_before_it_ran_passes_it_on() {
    let cond = Condition::new();
    let g = poll_ready(&mut cond.lock());
    let mut a = cond.wait(g);
    assert!(poll(&mut a).is_pending());
    let g = poll_ready(&mut cond.lock());
    let mut b = cond.wait(g);
    assert!(poll(&mut b).is_pending());
    cond.notify(1);
    drop(a);
    assert!(poll(&mut b).is_ready(), "the notification reached `b`");
    assert_eq!(cond.waiting(), 0);
}

fn poll_ready<F: Future + Unpin>(f: &mut F) -> F::Output {
    match poll(f) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("not ready"),
    }
}

#[test]
fn wait_for_checks_the_predicate_first_and_after_each_notification() {
    let checks = evloop::run(async {
        let cond = Condition::new();
        let (value, checks) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let waiter = evloop::ensure_future({
            let (cond, value, checks) = (cond.clone(), value.clone(), checks.clone());
            async move {
                let guard = cond.lock().await;
                let _guard = cond
                    .wait_for(guard, || {
                        checks.set(checks.get() + 1);
                        value.get() >= 2
                    })
                    .await;
            }
        });
        for _ in 0..2 {
            evloop::yield_now().await;
            let _guard = cond.lock().await;
            value.set(value.get() + 1);
            cond.notify_all();
        }
        waiter.await.unwrap();
        checks.get()
    })
    .unwrap();
    assert_eq!(checks, 3, "once before waiting, once per notification");
}

/// Three tasks over two rounds: each round hands out the indices 0, 1, 2
/// once, and exactly one leader.
#[test]
fn a_barrier_lets_each_round_go_together_with_one_leader() {
    let rounds = evloop::run(async {
        let barrier = Barrier::new(3);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                evloop::ensure_future(async move {
                    let mut seen = Vec::new();
                    for _ in 0..2 {
                        let r = barrier.wait().await.unwrap();
                        seen.push((r.index(), r.is_leader()));
                    }
                    seen
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    })
    .unwrap();
    for round in 0..2 {
        let mut indices: Vec<usize> = rounds.iter().map(|s| s[round].0).collect();
        indices.sort();
        assert_eq!(indices, [0, 1, 2]);
        let leaders = rounds.iter().filter(|s| s[round].1).count();
        assert_eq!(leaders, 1);
    }
}

#[test]
fn abort_breaks_the_barrier_until_reset() {
    let barrier = Barrier::new(3);
    let mut a = barrier.wait();
    assert!(poll(&mut a).is_pending());
    assert_eq!(barrier.n_waiting(), 1);
    barrier.abort();
    assert!(barrier.broken());
    assert_eq!(poll(&mut a), Poll::Ready(Err(BrokenBarrier)));
    assert_eq!(poll(&mut barrier.wait()), Poll::Ready(Err(BrokenBarrier)));
    drop(a);
    barrier.reset();
    assert!(!barrier.broken());
    let mut waits: Vec<_> = (0..3).map(|_| barrier.wait()).collect();
    let done: Vec<bool> = waits.iter_mut().map(|w| poll(w).is_ready()).collect();
    assert_eq!(done, [false, false, true], "the third arrival lets them go");
    assert!(waits[..2].iter_mut().all(|w| poll(w).is_ready()));
}

#[test]
fn reset_sends_the_waiting_tasks_away_with_an_error() {
    let barrier = Barrier::new(3);
    let (mut a, mut b) = (barrier.wait(), barrier.wait());
    assert!(poll(&mut a).is_pending());
    assert!(poll(&mut b).is_pending());
    barrier.reset();
    // A newcomer waits for the reset to finish ...
    let mut c = barrier.wait();
    assert!(poll(&mut c).is_pending());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(poll(&mut a), Poll::Ready(Err(BrokenBarrier)));
    assert_eq!(poll(&mut b), Poll::Ready(Err(BrokenBarrier)));
    // ... then joins a new round.
    assert!(poll(&mut c).is_pending());
    assert_eq!(barrier.n_waiting(), 1);
}

/// A task dropped while it waits at the barrier leaves the count: the
/// round still needs `parties` live tasks.
#[test]
fn a_barrier_waiter_dropped_while_filling_leaves_the_count() {
    let barrier = Barrier::new(2);
    let mut a = barrier.wait();
    assert!(poll(&mut a).is_pending());
    drop(a);
    assert_eq!(barrier.n_waiting(), 0);
    let mut b = barrier.wait();
    assert!(
        poll(&mut b).is_pending(),
        "alone: a dropped task does not count"
    );
    let mut c = barrier.wait();
    assert!(poll(&mut c).is_ready());
    assert!(poll(&mut b).is_ready());
}
