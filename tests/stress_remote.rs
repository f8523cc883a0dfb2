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

/// Whether the kernel names wait channels (`/proc/.../wchan`): a thread
/// blocked on a channel shows a symbol there, not "0" (some kernels hide
/// them all).
fn wait_channels_are_shown() -> bool {
    let (tx, rx) = mpsc::channel::<String>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let sleeper = std::thread::spawn(move || {
        let tid = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let tid = tid.split_whitespace().next().unwrap_or("0").to_string();
        tx.send(tid).unwrap();
        done_rx.recv().unwrap_or(()); // blocks: a futex wait
    });
    let tid = rx.recv().unwrap();
    let mut shown = false;
    for _ in 0..1000 {
        if thread_state(&tid) == 'S' {
            let wchan = std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan"));
            shown = wchan.is_ok_and(|w| !w.is_empty() && w != "0");
            if shown {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done_tx.send(()).unwrap();
    sleeper.join().unwrap();
    shown
}

/// Whether the thread sleeps in `epoll_wait`: its wait channel is epoll's
/// where the kernel shows wait channels (`by_wchan`), else its state is
/// 'S'. Under ThreadSanitizer the loop thread also sleeps on the runtime's
/// own locks, between iterations, where a job needs no wake; and a thread
/// that was asleep when its state was read may be running ("0") when its
/// wait channel is: neither counts.
fn sleeps_in_epoll(tid: &str, by_wchan: bool) -> bool {
    if !by_wchan {
        return thread_state(tid) == 'S';
    }
    std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan"))
        .is_ok_and(|wchan| wchan.contains("epoll"))
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
    let by_wchan = wait_channels_are_shown();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let sender = std::thread::spawn(move || {
        for _ in 0..ROUNDS {
            // Wait until the loop thread sleeps in epoll_wait, so that the
            // job below must wake it.
            while !sleeps_in_epoll(&tid, by_wchan) {
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
