//! Stress of the remote queue: exactly-once, per-producer order, wakes of a
//! parked loop, and wakes racing with `close()`. Deterministic: no timing
//! assertion; a watchdog turns a hang into a failure.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use evloop::EventLoop;
use util::watchdog_local;

#[test]
fn four_producers_each_job_once_in_per_producer_order() {
    const PRODUCERS: usize = 4;
    const JOBS: usize = 250_000;
    let lp = EventLoop::new();
    let next: Arc<Vec<AtomicUsize>> =
        Arc::new((0..PRODUCERS).map(|_| AtomicUsize::new(0)).collect());
    let ran = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let handle = lp.handle();
            let (next, ran) = (next.clone(), ran.clone());
            std::thread::spawn(move || {
                for i in 0..JOBS {
                    let (next, ran) = (next.clone(), ran.clone());
                    handle
                        .call_soon_threadsafe(move || {
                            let expected = next[p].swap(i + 1, Ordering::Relaxed);
                            assert_eq!(expected, i, "producer {p}: out of order or repeated");
                            if ran.fetch_add(1, Ordering::Relaxed) + 1 == PRODUCERS * JOBS {
                                EventLoop::current().stop();
                            }
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    watchdog_local(|| lp.run_forever()).unwrap();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(ran.load(Ordering::Relaxed), PRODUCERS * JOBS);
    for n in next.iter() {
        assert_eq!(n.load(Ordering::Relaxed), JOBS);
    }
}

/// The state letter of a thread ('R' running, 'S' sleeping, ...).
fn thread_state(tid: &str) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.trim().chars().next())
        .unwrap_or('?')
}

/// Whether the thread sleeps in `epoll_wait`: its state is 'S' and, where
/// the kernel tells, its wait channel is epoll's. Under ThreadSanitizer the
/// loop thread also sleeps on the runtime's own locks, between iterations,
/// where a job needs no wake.
fn sleeps_in_epoll(tid: &str) -> bool {
    if thread_state(tid) != 'S' {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")) {
        Ok(wchan) if !wchan.is_empty() && wchan != "0" => wchan.contains("epoll"),
        _ => true, // the kernel does not say: the state must do
    }
}

#[test]
fn a_parked_loop_is_woken_by_another_thread_ten_thousand_times() {
    const ROUNDS: u64 = 10_000;
    let lp = EventLoop::new();
    let handle = lp.handle();
    let tid = std::fs::read_to_string("/proc/thread-self/stat")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let sender = std::thread::spawn(move || {
        for _ in 0..ROUNDS {
            // Wait until the loop thread sleeps in epoll_wait, so that the
            // job below must wake it.
            while !sleeps_in_epoll(&tid) {
                std::thread::yield_now();
            }
            let ack = ack_tx.clone();
            handle
                .call_soon_threadsafe(move || ack.send(()).unwrap())
                .unwrap();
            ack_rx.recv().unwrap_or(());
        }
    });
    let before = lp.stats();
    watchdog_local(|| {
        for _ in 0..ROUNDS {
            // Block until something happens: no timers, so only a wake can end it.
            lp.run_once(None).unwrap();
        }
    });
    sender.join().unwrap();
    let s = lp.stats();
    assert_eq!(
        s.parks - before.parks,
        ROUNDS,
        "every iteration went to sleep"
    );
    assert_eq!(
        s.remote_wakeups - before.remote_wakeups,
        ROUNDS,
        "every sleep was ended by the other thread's wake"
    );
}

#[test]
fn wakes_and_jobs_racing_with_close_are_run_or_dropped_never_lost() {
    for _ in 0..20 {
        let lp = EventLoop::new();
        let accepted = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0)); // ran, or dropped unrun
        let stop = Arc::new(AtomicBool::new(false));
        struct Token(Arc<AtomicUsize>);
        impl Drop for Token {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let handle = lp.handle();
                let (accepted, finished, stop) = (accepted.clone(), finished.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut refused = 0usize;
                    for _ in 0..5_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let token = Token(finished.clone());
                        match handle.call_soon_threadsafe(move || drop(token)) {
                            Ok(()) => drop(accepted.fetch_add(1, Ordering::SeqCst)),
                            Err(_) => refused += 1,
                        }
                        if refused > 0 {
                            break;
                        }
                    }
                    refused
                })
            })
            .collect();
        for _ in 0..5 {
            lp.run_once(Some(Duration::from_micros(50))).unwrap();
        }
        lp.close().unwrap();
        stop.store(true, Ordering::Relaxed);
        let refused: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
        // Every token was dropped exactly once: run, dropped by close(), or
        // dropped by its refused sender.
        assert_eq!(
            finished.load(Ordering::SeqCst),
            accepted.load(Ordering::SeqCst) + refused,
        );
    }
}
