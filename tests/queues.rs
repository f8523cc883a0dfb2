//! `evloop::sync::{Queue, LifoQueue, PriorityQueue}`: order, first come
//! first served, cancellation at every point a wait can be dropped,
//! `task_done`/`join`, and Python 3.13's `shutdown`.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use evloop::sync::{GetError, LifoQueue, PriorityQueue, PutError, Queue};

/// Polls `f` once with a waker that does nothing.
fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

/// Counts its wakes; its strong count tells how many clones are held.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn items_come_out_in_order_and_waiting_getters_are_served_first_come() {
    let got = evloop::run(async {
        let q = Queue::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        let getters: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let (q, got) = (q.clone(), got.clone());
                evloop::ensure_future(async move {
                    let item = q.get().await.unwrap();
                    got.borrow_mut().push((name, item));
                })
            })
            .collect();
        evloop::yield_now().await; // all three wait, in order
        for n in 1..=3 {
            q.put_nowait(n).unwrap();
        }
        for g in getters {
            g.await.unwrap();
        }
        got.take()
    })
    .unwrap();
    assert_eq!(got, [("a", 1), ("b", 2), ("c", 3)]);
}

#[test]
fn waiting_putters_get_in_first_come_and_keep_their_order() {
    let out = evloop::run(async {
        let q = Queue::bounded(1);
        q.put_nowait(0).unwrap();
        let putters: Vec<_> = (1..=3)
            .map(|n| {
                let q = q.clone();
                evloop::ensure_future(async move { q.put(n).await.unwrap() })
            })
            .collect();
        evloop::yield_now().await;
        assert!(q.is_full());
        assert!(
            q.put_nowait(9).unwrap_err().is_full(),
            "no jumping the line"
        );
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(q.get().await.unwrap());
        }
        for p in putters {
            p.await.unwrap();
        }
        out
    })
    .unwrap();
    assert_eq!(out, [0, 1, 2, 3]);
}

#[test]
fn lifo_and_priority_orders() {
    let lifo = LifoQueue::new();
    let prio = PriorityQueue::new();
    for n in [3, 1, 2] {
        lifo.put_nowait(n).unwrap();
    }
    for item in [(2, 'x'), (1, 'y'), (2, 'a'), (1, 'b')] {
        // Equal priorities leave in the order they came, whatever the
        // second field says.
        prio.put_nowait(Keyed(item.0, item.1)).unwrap();
    }
    let lifo_out: Vec<_> = (0..3).map(|_| lifo.get_nowait().unwrap()).collect();
    let prio_out: Vec<_> = (0..4).map(|_| prio.get_nowait().unwrap().1).collect();
    assert_eq!(lifo_out, [2, 1, 3]);
    assert_eq!(prio_out, ['y', 'b', 'x', 'a']);
}

/// Ordered by the number only.
#[derive(Debug)]
struct Keyed(u32, char);

impl PartialEq for Keyed {
    fn eq(&self, other: &Keyed) -> bool {
        self.0 == other.0
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Keyed) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Keyed {
    fn cmp(&self, other: &Keyed) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

#[test]
fn get_nowait_cannot_take_an_item_promised_to_a_waiting_getter() {
    let q = Queue::new();
    let mut waiting = q.get();
    assert!(poll(&mut waiting).is_pending());
    q.put_nowait("promised").unwrap();
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    assert_eq!(q.len(), 1, "still in the queue until the getter runs");
    assert_eq!(poll(&mut waiting), Poll::Ready(Ok("promised")));
}

/// Three getters wait; one of them is dropped, either while it waits or
/// after an item was promised to it (before it ran). In every case the
/// other two and a final `get_nowait` receive the three items exactly
/// once, in order, and nothing stays in line.
#[test]
fn a_getter_dropped_at_any_point_loses_no_item() {
    for victim in 0..3 {
        for served_first in [false, true] {
            let q = Queue::new();
            let mut getters: Vec<Option<_>> = (0..3).map(|_| Some(q.get())).collect();
            for g in getters.iter_mut() {
                assert!(poll(g.as_mut().unwrap()).is_pending());
            }
            if !served_first {
                getters[victim] = None;
            }
            for n in 0..3 {
                q.put_nowait(n).unwrap();
            }
            getters[victim] = None;
            let mut got: Vec<i32> = getters
                .iter_mut()
                .flatten()
                .map(|g| match poll(g) {
                    Poll::Ready(item) => item.unwrap(),
                    Poll::Pending => panic!("a promise was lost (victim {victim})"),
                })
                .collect();
            got.push(q.get_nowait().unwrap());
            got.sort();
            assert_eq!(
                got,
                [0, 1, 2],
                "victim {victim}, served first: {served_first}"
            );
            drop(getters);
            assert!(q.is_empty());
            assert!(format!("{q:?}").contains("getters: 0"));
        }
    }
}

/// The item promised to a getter that is dropped before it runs goes to
/// the next getter in line at once, not only when another item comes.
#[test]
fn a_dropped_getters_promise_passes_to_the_next_in_line_at_once() {
    let q = Queue::new();
    let (mut a, mut b, mut c) = (q.get(), q.get(), q.get());
    for g in [&mut a, &mut b, &mut c] {
        assert!(poll(g).is_pending());
    }
    q.put_nowait("only").unwrap(); // promised to `a`
    drop(a);
    assert_eq!(poll(&mut b), Poll::Ready(Ok("only")));
    assert!(poll(&mut c).is_pending());
}

/// A putter dropped while it waits takes its item away; one dropped after
/// it was let in (before it ran) has its item in the queue.
#[test]
fn a_putter_dropped_at_any_point_puts_its_item_or_takes_it_away_whole() {
    let q = Queue::bounded(1);
    q.put_nowait(0).unwrap();
    let (mut a, mut b) = (q.put(1), q.put(2));
    assert!(poll(&mut a).is_pending());
    assert!(poll(&mut b).is_pending());
    drop(b); // still waiting: the put of 2 never happens
    assert_eq!(q.get_nowait(), Ok(0)); // room: 1 moves in
    drop(a); // let in, never ran: 1 stays
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    assert!(format!("{q:?}").contains("putters: 0"));
}

#[test]
fn a_dropped_wait_keeps_no_clone_of_its_waker() {
    let counter = Arc::new(Counting(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let q: Queue<u8> = Queue::new();
    let full = Queue::bounded(1);
    full.put_nowait(0u8).unwrap();
    for _ in 0..100 {
        let mut get = q.get();
        let mut put = full.put(1);
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut get).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut put).poll(&mut cx).is_pending());
    }
    assert_eq!(Arc::strong_count(&counter), 2, "the test's own two");
    assert_eq!(counter.0.load(Ordering::Relaxed), 0);
}

/// `wait_for` around a `get` that times out, many times: nothing piles up
/// in the queue's line, and the next item goes to a getter that waits.
#[test]
fn timed_out_gets_leave_the_line_empty() {
    let lp = util::virtual_loop();
    let q: Queue<u32> = Queue::new();
    let out = lp
        .run_until_complete({
            let q = q.clone();
            async move {
                for _ in 0..1_000 {
                    let r = evloop::wait_for(Duration::from_millis(5), q.get()).await;
                    assert!(r.is_err(), "timed out");
                }
                assert!(format!("{q:?}").contains("getters: 0"));
                let getter = evloop::ensure_future({
                    let q = q.clone();
                    async move { q.get().await }
                });
                evloop::yield_now().await;
                q.put_nowait(7).unwrap();
                getter.await.unwrap()
            }
        })
        .unwrap();
    assert_eq!(out, Ok(7));
}

#[test]
fn join_waits_for_every_item_to_be_marked_done() {
    let log = util::Log::new();
    evloop::run({
        let log = log.clone();
        async move {
            let q = Queue::new();
            for n in 0..3 {
                q.put_nowait(n).unwrap();
            }
            let worker = evloop::ensure_future({
                let (q, log) = (q.clone(), log.clone());
                async move {
                    while let Ok(n) = q.get_nowait() {
                        evloop::yield_now().await;
                        log.push(format!("done {n}"));
                        q.task_done().unwrap();
                    }
                }
            });
            q.join().await;
            log.push("joined");
            worker.await.unwrap();
            assert!(q.task_done().is_err(), "more task_done() than items");
        }
    })
    .unwrap();
    assert_eq!(log.get(), ["done 0", "done 1", "done 2", "joined"]);
}

#[test]
fn join_with_nothing_unfinished_returns_at_once() {
    let q: Queue<()> = Queue::new();
    assert_eq!(poll(&mut q.join()), Poll::Ready(()));
}

#[test]
fn shutdown_lets_gets_drain_then_fail_and_fails_puts_with_their_item() {
    let q = Queue::bounded(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let mut waiting_put = q.put(3);
    assert!(poll(&mut waiting_put).is_pending());
    q.shutdown(false);
    assert!(q.is_shut_down());
    match poll(&mut waiting_put) {
        Poll::Ready(Err(PutError::ShutDown(3))) => {}
        other => panic!("the waiting put must fail with its item: {other:?}"),
    }
    assert!(q.put_nowait(4).unwrap_err().is_shut_down());
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(poll(&mut q.get()), Poll::Ready(Ok(2)));
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    assert_eq!(poll(&mut q.get()), Poll::Ready(Err(GetError::ShutDown)));
}

#[test]
fn shutdown_wakes_waiting_getters_with_the_error() {
    let out = evloop::run(async {
        let q: Queue<u8> = Queue::new();
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                evloop::ensure_future(async move { q.get().await })
            })
            .collect();
        evloop::yield_now().await;
        q.shutdown(false);
        let mut out = Vec::new();
        for g in getters {
            out.push(g.await.unwrap());
        }
        out
    })
    .unwrap();
    assert_eq!(out, [Err(GetError::ShutDown); 3]);
}

/// Counts drops of its values.
struct Dropped(Rc<Cell<usize>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn an_immediate_shutdown_drops_the_items_and_ends_join() {
    let drops = Rc::new(Cell::new(0));
    let q = Queue::new();
    for _ in 0..3 {
        q.put_nowait(Dropped(drops.clone())).unwrap();
    }
    let mut join = q.join();
    assert!(poll(&mut join).is_pending());
    q.shutdown(true);
    assert_eq!(drops.get(), 3);
    assert_eq!(poll(&mut join), Poll::Ready(()));
    assert!(matches!(q.get_nowait(), Err(GetError::ShutDown)));
}

/// A getter already promised an item when an immediate shutdown drops the
/// items fails cleanly instead of waiting for an item that is gone.
#[test]
fn a_promised_getter_fails_cleanly_after_an_immediate_shutdown() {
    let q = Queue::new();
    let mut get = q.get();
    assert!(poll(&mut get).is_pending());
    q.put_nowait(1).unwrap();
    q.shutdown(true);
    assert_eq!(poll(&mut get), Poll::Ready(Err(GetError::ShutDown)));
}

/// A waker whose `wake` uses the queue: wakers are woken after the queue's
/// state is released, so this does not panic with a borrow error.
#[test]
fn a_waker_may_use_the_queue_it_is_woken_from() {
    thread_local! {
        // `Queue` is `!Send`: the waker reaches it through this thread.
        static QUEUE: Queue<u8> = Queue::new();
    }
    struct Peek(AtomicUsize);
    impl Wake for Peek {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(QUEUE.with(|q| q.len()), Ordering::Relaxed);
        }
    }
    let peek = Arc::new(Peek(AtomicUsize::new(0)));
    let waker = Waker::from(peek.clone());
    let q = QUEUE.with(Queue::clone);
    let mut get = q.get();
    assert!(Pin::new(&mut get)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    q.put_nowait(5).unwrap();
    assert_eq!(peek.0.load(Ordering::Relaxed), 1, "woken, and saw the item");
    assert_eq!(poll(&mut get), Poll::Ready(Ok(5)));
}

/// A FIFO put hands its item straight to a waiting getter; until that
/// getter runs the item is still the queue's: `len` counts it and a
/// bounded queue is full with it. Taking it makes room for a waiting
/// putter.
#[test]
fn an_item_in_a_getters_hand_counts_toward_len_and_the_limit() {
    let q = Queue::bounded(1);
    let mut get = q.get();
    assert!(poll(&mut get).is_pending());
    q.put_nowait(1).unwrap();
    assert_eq!((q.len(), q.is_full()), (1, true));
    assert!(matches!(q.put_nowait(2), Err(PutError::Full(2))));
    let mut put = q.put(2);
    assert!(poll(&mut put).is_pending(), "no room while 1 is in hand");
    assert_eq!(poll(&mut get), Poll::Ready(Ok(1)));
    assert_eq!(poll(&mut put), Poll::Ready(Ok(())), "let in as 1 was taken");
    assert_eq!(q.get_nowait(), Ok(2));
}

/// A FIFO getter handed an item and dropped before it ran, with nobody
/// else in line, gives the item back as the queue's next one, ahead of
/// items put after it.
#[test]
fn a_handed_item_whose_getter_is_gone_is_the_next_item_again() {
    let q = Queue::new();
    let mut get = q.get();
    assert!(poll(&mut get).is_pending());
    q.put_nowait("first").unwrap(); // handed to `get`
    q.put_nowait("second").unwrap(); // stored
    drop(get);
    assert_eq!(q.len(), 2);
    assert_eq!(q.get_nowait(), Ok("first"));
    assert_eq!(q.get_nowait(), Ok("second"));
}

/// An immediate shutdown drops the items handed to getters that have not
/// run, counts them done (so `join` ends), and those getters fail; on a
/// LIFO queue, a getter holding a claim fails or is dropped cleanly too.
#[test]
fn an_immediate_shutdown_takes_back_items_handed_to_getters() {
    let drops = Rc::new(Cell::new(0));
    let q = Queue::new();
    let (mut a, mut b) = (q.get(), q.get());
    assert!(poll(&mut a).is_pending());
    assert!(poll(&mut b).is_pending());
    q.put_nowait(Dropped(drops.clone())).unwrap();
    q.put_nowait(Dropped(drops.clone())).unwrap();
    let mut join = q.join();
    assert!(poll(&mut join).is_pending());
    q.shutdown(true);
    assert_eq!(drops.get(), 2, "both handed items dropped at the shutdown");
    assert_eq!(q.len(), 0);
    assert_eq!(poll(&mut join), Poll::Ready(()));
    assert!(matches!(poll(&mut a), Poll::Ready(Err(GetError::ShutDown))));
    drop(b); // served, never polled again: nothing left to pass on

    let lifo = LifoQueue::new();
    let (mut c, mut d) = (lifo.get(), lifo.get());
    assert!(poll(&mut c).is_pending());
    assert!(poll(&mut d).is_pending());
    lifo.put_nowait(1).unwrap();
    lifo.put_nowait(2).unwrap(); // claims for both
    lifo.shutdown(true);
    assert_eq!(poll(&mut c), Poll::Ready(Err(GetError::ShutDown)));
    drop(d); // its claim is on an item that is gone
    assert!(matches!(lifo.get_nowait(), Err(GetError::ShutDown)));
}

/// LIFO getters are served a claim, not an item: a served getter takes
/// whichever item is newest when it runs, as asyncio's `LifoQueue` does.
#[test]
fn a_served_lifo_getter_takes_the_newest_item_when_it_runs() {
    let q = LifoQueue::new();
    let mut get = q.get();
    assert!(poll(&mut get).is_pending());
    q.put_nowait(1).unwrap(); // serves `get` a claim
    q.put_nowait(2).unwrap();
    assert_eq!(poll(&mut get), Poll::Ready(Ok(2)));
    assert_eq!(q.get_nowait(), Ok(1));
}
