//! `evloop::channel` / `evloop::bounded`: values across threads, both ways
//! (plain threads → a loop task, a loop task → worker threads), closing
//! from either end, back-pressure, and the cost of a burst (one wake-up).
//!
//! Deterministic: counts and orders are asserted, never durations.

mod util;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use evloop::{EventLoop, Receiver, SendError, Sender, TryRecvError, TrySendError};
use util::{tick, watchdog_local};

/// Scales a count down under Miri (about 1,000 times slower).
const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        n / 200 + 5
    } else {
        n
    }
}

/// Counts its drops (thread-safe, unlike `util::Drops`).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountWakes>, Waker) {
    let count = Arc::new(CountWakes::default());
    (count.clone(), Waker::from(count))
}

#[test]
fn senders_and_receivers_cross_threads() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync_clone::<Sender<String>>();
    send::<Receiver<String>>();
    // Error wrappers print without `T: Debug`.
    struct Opaque;
    let e = TrySendError::Full(Opaque);
    assert_eq!(format!("{e:?}"), "Full(..)");
    assert_eq!(e.to_string(), "sending on a full channel");
    let e: Box<dyn std::error::Error> = Box::new(SendError(Opaque));
    assert_eq!(e.to_string(), "sending on a channel whose receiver is gone");
    assert_eq!(format!("{:?}", SendError(Opaque)), "SendError(..)");
    assert!(TryRecvError::Disconnected.is_disconnected());
}

#[test]
fn values_arrive_in_order_from_one_sender() {
    let (tx, mut rx) = evloop::channel();
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 1000);
    let got: Vec<i32> = (0..1000).map(|_| rx.try_recv().unwrap()).collect();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    assert!(rx.is_empty());
}

#[test]
fn recv_gives_none_after_the_last_sender_drops_and_the_queue_drains() {
    let (tx, mut rx) = evloop::channel();
    let tx2 = tx.clone();
    let out = evloop::run(async move {
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        tx2.send(3).unwrap();
        drop(tx2);
        let mut rest = Vec::new();
        while let Some(v) = rx.recv().await {
            rest.push(v);
        }
        // Still `None` when asked again.
        assert_eq!(rx.recv().await, None);
        rest
    })
    .unwrap();
    assert_eq!(out, vec![2, 3]);
}

#[test]
fn a_task_waiting_in_recv_is_woken_by_the_last_sender_drop() {
    let lp = EventLoop::new();
    let (tx, mut rx) = evloop::channel::<u32>();
    let task = lp.ensure_future(async move { rx.recv().await });
    tick(&lp);
    tick(&lp);
    assert!(!task.done(), "waiting for a value");
    std::thread::spawn(move || drop(tx)).join().unwrap();
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), None);
}

#[test]
fn try_recv_says_empty_then_disconnected() {
    let (tx, mut rx) = evloop::channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send("a").unwrap();
    assert_eq!(rx.try_recv(), Ok("a"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send("b").unwrap();
    drop(tx);
    // Queued values come out before the disconnection shows.
    assert_eq!(rx.try_recv(), Ok("b"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn send_after_the_receiver_drops_gives_the_value_back() {
    let (tx, rx) = evloop::channel::<String>();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    match tx.send("kept".to_owned()) {
        Err(TrySendError::Closed(v)) => assert_eq!(v, "kept"),
        other => panic!("expected Closed, got {other:?}"),
    }
    let back = evloop::run(async move { tx.send_async("also".to_owned()).await }).unwrap();
    assert_eq!(back.unwrap_err().into_inner(), "also");
}

#[test]
fn dropping_the_receiver_drops_queued_values() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = evloop::channel();
    for _ in 0..10 {
        tx.send(Counted(drops.clone())).unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(rx);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        10,
        "dropped with the receiver"
    );
    // A later send hands its value back; dropping it here counts one more.
    assert!(tx.send(Counted(drops.clone())).unwrap_err().is_closed());
    assert_eq!(drops.load(Ordering::SeqCst), 11);
    drop(tx);
    assert_eq!(drops.load(Ordering::SeqCst), 11, "none left in the queue");
}

#[test]
fn a_loop_task_receives_from_plain_threads() {
    const PER: u32 = scaled(1000) as u32;
    watchdog_local(|| {
        let lp = EventLoop::new();
        let (tx, mut rx) = evloop::channel::<(usize, u32)>();
        let threads: Vec<_> = (0..3)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || (0..PER).for_each(|i| tx.send((p, i)).unwrap()))
            })
            .collect();
        drop(tx);
        let next = lp
            .run_until_complete(async move {
                let mut next = [0u32; 3];
                while let Some((p, i)) = rx.recv().await {
                    assert_eq!(i, next[p], "producer {p}'s values in order");
                    next[p] += 1;
                }
                next
            })
            .unwrap();
        assert_eq!(next, [PER; 3]);
        threads.into_iter().for_each(|t| t.join().unwrap());
    });
}

#[test]
fn a_worker_thread_receives_a_loop_tasks_sends() {
    const N: u32 = scaled(1000) as u32;
    watchdog_local(|| {
        let lp = EventLoop::new();
        let (tx, mut rx) = evloop::channel::<u32>();
        let worker = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = rx.recv_blocking() {
                got.push(v);
            }
            got
        });
        lp.run_until_complete(async move {
            for i in 0..N {
                tx.send(i).unwrap();
                if i % 100 == 0 {
                    // Let the worker catch up and block again.
                    evloop::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .unwrap();
        assert_eq!(worker.join().unwrap(), (0..N).collect::<Vec<_>>());
    });
}

#[test]
fn recv_blocking_on_a_loop_thread_panics_instead_of_deadlocking() {
    let (tx, mut rx) = evloop::channel::<u32>();
    let caught = evloop::run(async move {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.recv_blocking()))
    })
    .unwrap();
    drop(tx);
    let payload = caught.unwrap_err();
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("recv_blocking"), "{message}");
}

// ---- bounded ---------------------------------------------------------------

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn bounded_zero_panics() {
    let _ = evloop::bounded::<u8>(0);
}

#[test]
fn send_on_a_full_channel_gives_the_value_back() {
    let (tx, mut rx) = evloop::bounded(3);
    assert_eq!(tx.capacity(), Some(3));
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    match tx.send(3) {
        Err(TrySendError::Full(v)) => assert_eq!(v, 3),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(rx.try_recv(), Ok(0));
    tx.send(3).unwrap();
    assert!(tx.send(4).unwrap_err().is_full());
    let got: Vec<i32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(got, vec![1, 2, 3]);
}

#[test]
fn bounded_never_holds_more_than_its_capacity() {
    const CAP: usize = 4;
    const N: usize = scaled(20_000);
    watchdog_local(|| {
        let lp = EventLoop::new();
        let (tx, mut rx) = evloop::bounded::<usize>(CAP);
        // Values the producer has started to send (counted before each
        // `send_blocking`, so at most one ahead of those accepted).
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                s.fetch_add(1, Ordering::SeqCst);
                tx.send_blocking(i).unwrap();
            }
        });
        lp.run_until_complete(async move {
            let mut received = 0;
            while let Some(v) = rx.recv().await {
                assert_eq!(v, received);
                received += 1;
                assert!(rx.len() <= CAP);
                // Accepted ≤ received + CAP, started ≤ accepted + 1.
                let started = started.load(Ordering::SeqCst);
                assert!(
                    started <= received + CAP + 1,
                    "{started} started, {received} received"
                );
                if received % 64 == 0 {
                    evloop::yield_now().await; // let the producer fill up
                }
            }
            assert_eq!(received, N);
        })
        .unwrap();
        producer.join().unwrap();
    });
}

#[test]
fn send_blocking_waits_for_room_then_proceeds() {
    const N: u32 = scaled(2000) as u32;
    watchdog_local(|| {
        let (tx, mut rx) = evloop::bounded::<u32>(1);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                // Never `Full`: a plain thread waits instead.
                tx.send_blocking(i).unwrap();
            }
        });
        let got: Vec<u32> = std::iter::from_fn(|| rx.recv_blocking()).collect();
        assert_eq!(got, (0..N).collect::<Vec<_>>());
        producer.join().unwrap();
    });
}

#[test]
fn send_async_on_a_loop_waits_for_room() {
    let lp = EventLoop::new();
    let (tx, mut rx) = evloop::bounded::<u32>(1);
    let sent = Arc::new(AtomicUsize::new(0));
    let s = sent.clone();
    let sender = lp.ensure_future(async move {
        for i in 0..3 {
            tx.send_async(i).await.unwrap();
            s.fetch_add(1, Ordering::SeqCst);
        }
    });
    for _ in 0..5 {
        tick(&lp);
    }
    assert_eq!(sent.load(Ordering::SeqCst), 1, "the second waits for room");
    assert_eq!(rx.try_recv(), Ok(0));
    for _ in 0..5 {
        tick(&lp);
    }
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    lp.run_until_complete(sender).unwrap().unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn dropping_a_waiting_send_future_leaves_nothing_registered_and_loses_nothing_accepted() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = evloop::bounded(1);
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);

    // Accepted at once: the future completes, the value is queued.
    let mut first = tx.send_async(Counted(drops.clone()));
    assert!(matches!(
        Pin::new(&mut first).poll(&mut cx),
        Poll::Ready(Ok(()))
    ));
    drop(first);
    // Not accepted: the future waits, holding its value.
    let mut second = tx.send_async(Counted(drops.clone()));
    assert!(Pin::new(&mut second).poll(&mut cx).is_pending());
    drop(second);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the unaccepted value went with its future"
    );

    // The accepted one is still there, and making room wakes nobody.
    let value = rx.try_recv().expect("the accepted value");
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        0,
        "a dropped future was still registered"
    );
    drop(value);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    // A waiting future that is woken, then dropped, takes no room with it.
    tx.send(Counted(drops.clone())).unwrap();
    let mut third = tx.send_async(Counted(drops.clone()));
    assert!(Pin::new(&mut third).poll(&mut cx).is_pending());
    drop(rx.try_recv().unwrap());
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "room made: the waiter is woken"
    );
    drop(third);
    tx.send(Counted(drops.clone()))
        .expect("the room is free for the next sender");
}

#[test]
fn send_blocking_on_a_loop_thread_returns_full_instead_of_deadlocking() {
    let (tx, mut rx) = evloop::bounded::<u32>(1);
    let (tx, outcome) = evloop::run(async move {
        tx.send_blocking(1).unwrap(); // room: no need to block
        let outcome = tx.send_blocking(2);
        (tx, outcome)
    })
    .unwrap();
    match outcome {
        Err(TrySendError::Full(v)) => assert_eq!(v, 2),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(rx.try_recv(), Ok(1));
    tx.send_blocking(2).unwrap(); // off the loop, with room: fine
}

#[test]
fn dropping_the_receiver_releases_blocked_senders_with_an_error() {
    watchdog_local(|| {
        let lp = EventLoop::new();
        let (tx, rx) = evloop::bounded::<u32>(1);
        tx.send(0).unwrap(); // full
        let ready = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (1..=2)
            .map(|i| {
                let (tx, ready) = (tx.clone(), ready.clone());
                std::thread::spawn(move || {
                    ready.wait();
                    tx.send_blocking(i)
                })
            })
            .collect();
        let tx2 = tx.clone();
        let task = lp.ensure_future(async move { tx2.send_async(3).await });
        tick(&lp);
        tick(&lp);
        assert!(!task.done(), "waiting for room");
        ready.wait();
        drop(rx);
        let mut back: Vec<u32> = threads
            .into_iter()
            .map(|t| match t.join().unwrap() {
                Err(TrySendError::Closed(v)) => v,
                other => panic!("expected Closed, got {other:?}"),
            })
            .collect();
        back.sort_unstable();
        assert_eq!(back, vec![1, 2]);
        let outcome = lp.run_until_complete(task).unwrap().unwrap();
        assert_eq!(outcome.unwrap_err().into_inner(), 3);
        assert!(tx.is_closed());
    });
}

// ---- throughput and the wake-up cost ---------------------------------------

#[test]
fn a_burst_of_sends_to_a_parked_task_costs_one_wake_and_a_poll_per_budget() {
    const BURST: usize = 1000;
    let lp = EventLoop::new();
    let (tx, mut rx) = evloop::channel::<usize>();
    let task = lp.ensure_future(async move {
        let mut got = 0;
        while let Some(v) = rx.recv().await {
            assert_eq!(v, got);
            got += 1;
            if got == BURST {
                break;
            }
        }
        got
    });
    tick(&lp);
    tick(&lp);
    assert!(!task.done(), "parked in recv");
    let before = lp.stats();
    std::thread::spawn(move || (0..BURST).for_each(|i| tx.send(i).unwrap()))
        .join()
        .unwrap();
    while !task.done() {
        tick(&lp);
    }
    let after = lp.stats();
    assert_eq!(
        after.remote_jobs - before.remote_jobs,
        1,
        "one cross-thread wake"
    );
    // A poll receives at most one budget (128) before the task yields,
    // which is a wake on the loop's own thread, not a cross-thread one.
    assert_eq!(
        after.tasks_polled - before.tasks_polled,
        BURST.div_ceil(128) as u64,
        "one poll per budget"
    );
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), BURST);
}

#[test]
#[cfg_attr(miri, ignore = "producers spin-wait for the task: too slow under Miri")]
fn stress_four_producers_into_one_task_each_value_once_in_order() {
    const PRODUCERS: usize = 4;
    const EACH: u64 = scaled(250_000) as u64;
    /// Values between two checkpoints of a producer.
    const LEG: u64 = EACH / 5;
    watchdog_local(|| {
        let lp = EventLoop::new();
        let (tx, mut rx) = evloop::channel::<(usize, u64)>();
        let received = Arc::new(AtomicUsize::new(0));
        let checkpoint = Arc::new(Barrier::new(PRODUCERS));
        let threads: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                let (received, checkpoint) = (received.clone(), checkpoint.clone());
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        tx.send((p, i)).unwrap();
                        if i % LEG == LEG - 1 {
                            // Every producer stops until the task has
                            // taken everything sent, then pauses: the task
                            // finds the queue empty and parks (likely, not
                            // asserted: the assertions below hold whether
                            // or not it did).
                            checkpoint.wait();
                            let sent = PRODUCERS * (i as usize + 1);
                            while received.load(Ordering::Relaxed) < sent {
                                std::thread::yield_now();
                            }
                            std::thread::sleep(Duration::from_micros(200));
                        } else if i % 4096 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let r = received.clone();
        let next = lp
            .run_until_complete(async move {
                let mut next = [0u64; PRODUCERS];
                while let Some((p, i)) = rx.recv().await {
                    assert_eq!(i, next[p], "producer {p}: once each, in order");
                    next[p] += 1;
                    r.fetch_add(1, Ordering::Relaxed);
                }
                next
            })
            .unwrap();
        assert_eq!(next, [EACH; PRODUCERS]);
        assert_eq!(received.load(Ordering::SeqCst), PRODUCERS * EACH as usize);
        threads.into_iter().for_each(|t| t.join().unwrap());
        let stats = lp.stats();
        eprintln!(
            "stress: {} loop parks, {} task polls, {} remote jobs",
            stats.parks, stats.tasks_polled, stats.remote_jobs
        );
    });
}
