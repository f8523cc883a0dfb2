//! The task invariants written beside `src/task/raw.rs`, one test each.
//! (Allocation counts live in `tests/task_alloc.rs`, a binary of its own.)

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};

use evloop::EventLoop;
use util::tick;

/// Records the thread its `Drop` ran on.
struct DropsOn(Rc<Cell<Option<ThreadId>>>);

impl Drop for DropsOn {
    fn drop(&mut self) {
        self.0.set(Some(thread::current().id()));
    }
}

fn grab_waker(slot: Rc<Cell<Option<Waker>>>) -> impl std::future::Future<Output = ()> {
    let mut polled = false;
    std::future::poll_fn(move |cx| {
        if polled {
            return Poll::Ready(());
        }
        polled = true;
        slot.set(Some(cx.waker().clone()));
        Poll::Pending
    })
}

/// A task on `lp` that keeps its waker and waits to be woken, after one
/// iteration has polled it: the task and the waker it gave out.
fn task_and_its_waker(lp: &EventLoop) -> (evloop::Task<()>, Waker) {
    let slot = Rc::new(Cell::new(None));
    let task = lp.ensure_future(grab_waker(slot.clone()));
    tick(lp);
    (task, slot.take().unwrap())
}

/// Invariant 2: a waker owns a reference, so the task outlives its handle
/// and its completion while wakers exist, and wakes stay harmless.
#[test]
fn wakers_keep_the_task_alive_after_completion() {
    let lp = EventLoop::new();
    let (t, w) = task_and_its_waker(&lp);
    let extra = w.clone();
    w.wake(); // consumes one reference, schedules the task
    lp.run_until_complete(t).unwrap().unwrap();
    extra.wake_by_ref(); // the task is complete: a no-op
    tick(&lp);
    drop(extra); // the last reference frees the task
}

/// Invariant 3: a wake during the task's own poll queues it again, for the
/// next iteration (not the current one).
#[test]
fn a_wake_during_poll_requeues_for_the_next_iteration() {
    let lp = EventLoop::new();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let _t = lp.ensure_future(std::future::poll_fn(move |cx| {
        p.set(p.get() + 1);
        cx.waker().wake_by_ref();
        if p.get() == 3 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    tick(&lp);
    assert_eq!(polls.get(), 1);
    tick(&lp);
    assert_eq!(polls.get(), 2);
    tick(&lp);
    assert_eq!(polls.get(), 3);
    tick(&lp);
    assert_eq!(polls.get(), 3, "complete: the last self-wake is discarded");
}

/// Invariant 4: the future is dropped on the loop thread even when the last
/// reference (a waker) is dropped on another thread.
#[test]
fn the_future_is_dropped_on_the_loop_thread() {
    let lp = EventLoop::new();
    let slot = Rc::new(Cell::new(None));
    let dropped_on = Rc::new(Cell::new(None));
    let guard = DropsOn(dropped_on.clone());
    let s = slot.clone();
    let t = lp.ensure_future(async move {
        let _guard = guard;
        grab_waker(s).await;
    });
    tick(&lp);
    let w = slot.take().unwrap();
    t.cancel();
    tick(&lp);
    drop(t);
    assert_eq!(dropped_on.get(), Some(thread::current().id()));
    thread::spawn(move || drop(w)).join().unwrap();
}

/// Invariant 2 across threads: a waker dropped on another thread after
/// the loop's last use of the task frees it, and the free happens after
/// that use. Nothing but the reference count orders the two threads here
/// (a `Relaxed` flag only makes the drop come last; no lock, no join), so
/// under ThreadSanitizer this is the check that `decrement` synchronises.
#[test]
fn the_last_waker_dropped_on_another_thread_frees_the_task() {
    let lp = EventLoop::new();
    let (t, w) = task_and_its_waker(&lp);
    w.wake_by_ref();
    let loop_done = Arc::new(AtomicBool::new(false));
    let done = loop_done.clone();
    let other = thread::spawn(move || {
        while !done.load(Ordering::Relaxed) {
            thread::yield_now();
        }
        drop(w);
    });
    // The task finishes and its handle goes: the loop's last writes to it.
    lp.run_until_complete(t).unwrap().unwrap();
    loop_done.store(true, Ordering::Relaxed);
    other.join().unwrap();
}

/// Invariant 4, for outputs: a `!Send` output nobody takes is dropped on
/// the loop thread, when the task finishes (detached) or when the handle is.
#[test]
fn outputs_are_dropped_on_the_loop_thread() {
    let lp = EventLoop::new();
    let first = Rc::new(Cell::new(None));
    let second = Rc::new(Cell::new(None));
    let (f, s) = (first.clone(), second.clone());
    drop(lp.ensure_future(async move { DropsOn(f) }));
    let kept = lp.ensure_future(async move { DropsOn(s) });
    tick(&lp);
    assert_eq!(
        first.get(),
        Some(thread::current().id()),
        "detached: at completion"
    );
    assert_eq!(second.get(), None, "held by the handle until it is dropped");
    drop(kept);
    assert_eq!(second.get(), Some(thread::current().id()));
}

/// Invariant 5: a completed task is never polled again, whatever wakes it.
#[test]
fn a_completed_task_is_never_polled_again() {
    let lp = EventLoop::new();
    let slot: Rc<Cell<Option<Waker>>> = Rc::default();
    let s = slot.clone();
    let mut done = false;
    let t = lp.ensure_future(std::future::poll_fn(move |cx| {
        assert!(!done, "polled after completion");
        done = true;
        s.set(Some(cx.waker().clone()));
        Poll::Ready(())
    }));
    tick(&lp);
    let w = slot.take().unwrap();
    for _ in 0..3 {
        w.wake_by_ref();
        tick(&lp);
    }
    thread::spawn(move || w.wake()).join().unwrap();
    lp.run_once(Some(std::time::Duration::ZERO)).unwrap();
    assert!(t.done());
}

/// Invariant 1 (identity): a task's wakers all point at the same task.
#[test]
fn clones_of_a_waker_wake_the_same_task_once() {
    let lp = EventLoop::new();
    let polls = Rc::new(Cell::new(0));
    let slot: Rc<Cell<Option<Waker>>> = Rc::default();
    let (p, s) = (polls.clone(), slot.clone());
    let _t = lp.ensure_future(std::future::poll_fn(move |cx| {
        p.set(p.get() + 1);
        s.set(Some(cx.waker().clone()));
        Poll::<()>::Pending
    }));
    tick(&lp);
    let w = slot.take().unwrap();
    let clones: Vec<Waker> = (0..10).map(|_| w.clone()).collect();
    assert!(clones.iter().all(|c| c.will_wake(&w)));
    clones.into_iter().for_each(Waker::wake);
    tick(&lp);
    assert_eq!(polls.get(), 2);
}

/// A waker of another executor that panics when woken.
struct PanicOnWake;

impl std::task::Wake for PanicOnWake {
    fn wake(self: std::sync::Arc<Self>) {
        panic!("foreign waker");
    }
}

/// Invariant 2 under panics: a task that is queued again in its final poll
/// keeps its reference even if waking its (foreign) awaiter panics.
#[test]
fn a_panicking_foreign_joiner_does_not_free_a_queued_task() {
    use std::future::Future;
    let lp = EventLoop::new();
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &evloop::Exception<'_>| {
        // Panics only (a slow-item report may come with a debug backtrace).
        if e.source().is_panic() {
            s.set(s.get() + 1);
        }
    }));
    let gate = Rc::new(Cell::new(false));
    let slot: Rc<Cell<Option<Waker>>> = Rc::default();
    let (g, sl) = (gate.clone(), slot.clone());
    let mut t = lp.ensure_future(std::future::poll_fn(move |cx| {
        if !g.get() {
            sl.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        cx.waker().wake_by_ref(); // queued again during the final poll
        Poll::Ready(())
    }));
    tick(&lp);
    let foreign = Waker::from(std::sync::Arc::new(PanicOnWake));
    let mut cx = std::task::Context::from_waker(&foreign);
    assert!(std::pin::Pin::new(&mut t).poll(&mut cx).is_pending());
    gate.set(true);
    slot.take().unwrap().wake();
    tick(&lp); // the task finishes; its joiner's wake panics, reported
    tick(&lp); // the stale entry releases its reference
    assert_eq!(seen.get(), 1);
    assert!(t.done());
    drop(t);
}

/// A task allocated where a finished awaiter lived is still woken when the
/// task it awaits finishes (the waiter record is matched by key, not only
/// by address).
#[test]
fn a_new_awaiter_at_a_reused_address_is_woken() {
    let lp = EventLoop::new();
    let gate = evloop::sync::Event::new();
    let g = gate.clone();
    let shared: Rc<std::cell::RefCell<Option<evloop::Task<()>>>> = Rc::new(
        std::cell::RefCell::new(Some(lp.ensure_future(async move { g.wait().await }))),
    );
    fn awaiter(
        shared: Rc<std::cell::RefCell<Option<evloop::Task<()>>>>,
        once: bool,
    ) -> impl std::future::Future<Output = ()> {
        std::future::poll_fn(move |cx| {
            let mut h = shared.borrow_mut();
            let p = std::pin::Pin::new(h.as_mut().unwrap()).poll_ref(cx);
            if once || p {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
    trait PollRef {
        fn poll_ref(self, cx: &mut std::task::Context<'_>) -> bool;
    }
    impl PollRef for std::pin::Pin<&mut evloop::Task<()>> {
        fn poll_ref(self, cx: &mut std::task::Context<'_>) -> bool {
            std::future::Future::poll(self, cx).is_ready()
        }
    }
    // W polls the handle once and finishes; a filler takes W's registry slot;
    // X (same type as W, so likely W's address) awaits the handle.
    drop(lp.ensure_future(awaiter(shared.clone(), true)));
    tick(&lp);
    // Large, so it takes W's registry key but not W's allocation.
    let _filler = lp.ensure_future(async {
        let big = [0u8; 4096];
        std::future::pending::<()>().await;
        std::hint::black_box(&big);
    });
    let x = lp.ensure_future(awaiter(shared.clone(), false));
    tick(&lp);
    tick(&lp);
    gate.set();
    for _ in 0..5 {
        tick(&lp);
    }
    assert!(
        x.done(),
        "the awaiter was woken when the awaited task finished"
    );
}

/// Dropping the owning `EventLoop` while it runs (through a reference from
/// `current()`) still closes it when the last reference goes, so task
/// futures are dropped on the loop thread.
#[test]
fn dropping_the_owner_while_running_still_closes_on_the_loop_thread() {
    let lp = EventLoop::new();
    let current = lp
        .run_until_complete(async { EventLoop::current() })
        .unwrap();
    let owner = Rc::new(std::cell::RefCell::new(Some(lp)));
    let dropped_on = Rc::new(Cell::new(None));
    let guard = DropsOn(dropped_on.clone());
    let slot: Rc<Cell<Option<Waker>>> = Rc::default();
    let s = slot.clone();
    drop(current.ensure_future(async move {
        let _guard = guard;
        grab_waker(s).await;
        std::future::pending::<()>().await
    }));
    tick(&current);
    let waker = slot.take().unwrap();
    let o = owner.clone();
    current
        .call_soon(move || drop(o.borrow_mut().take()))
        .unwrap();
    tick(&current);
    drop(current); // the last reference: closes here
    assert_eq!(dropped_on.get(), Some(thread::current().id()));
    thread::spawn(move || drop(waker)).join().unwrap();
}

/// A loop-local list keeps a task of the running loop by its loop-thread
/// count, not a cloned waker (`task::stored_waker`). The entry may outlive
/// the task's future: here the wait is moved out of its task, the task
/// ends, and the event is set afterwards. The entry keeps the task's
/// memory alive (no use after free, which Miri would see), the wake finds
/// the task complete and does nothing, and dropping the wait frees it (no
/// leak, which Miri would see too).
#[test]
fn a_kept_task_waker_outliving_its_future_wakes_nothing_and_frees_it() {
    use evloop::sync::Event;
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;

    type Parked = Rc<RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>>>;
    let lp = EventLoop::new();
    let ev = Event::new();
    let parked: Parked = Rc::default();
    let task = lp.ensure_future({
        let (ev, parked) = (ev.clone(), parked.clone());
        async move {
            let mut wait: Pin<Box<dyn Future<Output = ()>>> = Box::pin(ev.wait());
            // Registered under this task's waker, then handed out.
            std::future::poll_fn(|cx| {
                assert!(wait.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            *parked.borrow_mut() = Some(wait);
        }
    });
    lp.run_until_complete(task).unwrap().unwrap();
    ev.set(); // wakes the complete task: nothing happens
    tick(&lp);
    let mut wait = parked.borrow_mut().take().unwrap();
    let noop = &mut std::task::Context::from_waker(Waker::noop());
    assert_eq!(
        wait.as_mut().poll(noop),
        Poll::Ready(()),
        "the set was seen"
    );
    drop(wait);
    drop(lp);
}

/// Set from the host between `run_once` calls (no loop running on the
/// thread), an event still wakes the task it keeps: through the loop's
/// remote queue, picked up by the next iteration.
#[test]
fn a_kept_task_waker_woken_while_the_loop_is_not_running_is_not_lost() {
    use evloop::sync::Event;
    let lp = EventLoop::new();
    let ev = Event::new();
    let done = Rc::new(Cell::new(false));
    let _task = lp.ensure_future({
        let (ev, done) = (ev.clone(), done.clone());
        async move {
            ev.wait().await;
            done.set(true);
        }
    });
    tick(&lp);
    assert!(!done.get());
    ev.set();
    for _ in 0..3 {
        tick(&lp);
    }
    assert!(done.get());
}

/// A task waker of one loop used to wait on a primitive while another
/// loop runs (or none does) is kept as a cloned waker and still wakes its
/// own task.
#[test]
fn a_task_waker_of_another_loop_is_kept_as_a_clone() {
    use evloop::sync::Event;
    let a = EventLoop::new();
    let (t, waker_of_a) = task_and_its_waker(&a);
    let ev = Event::new();
    let b = EventLoop::new();
    let waited = b
        .run_until_complete({
            let ev = ev.clone();
            let waker_of_a = waker_of_a.clone();
            async move {
                let mut wait = std::pin::pin!(ev.wait());
                let cx = &mut std::task::Context::from_waker(&waker_of_a);
                std::future::Future::poll(wait.as_mut(), cx).is_pending() && {
                    ev.set(); // wakes `a`'s task through its remote queue
                    true
                }
            }
        })
        .unwrap();
    assert!(waited);
    drop(waker_of_a);
    a.run_until_complete(t).unwrap().unwrap(); // grab_waker's second poll
}
